// devices/local_apic_page.hpp - the xAPIC page of an emulated local APIC on a VM's Mmio_bus:
// accesses at 0xFEE00000 + offset reach Local_apic::mmio_read / mmio_write with the guest's TSC.
// Both builds. IPIs an ICR write asks for are counted, not sent (one vCPU per VM until #15).
#pragma once
#include "devices/local_apic.hpp"
#include "devices/mmio_bus.hpp"

namespace hv {

class Local_apic_page final : public Mmio_device {
public:
  Local_apic_page(Local_apic& apic, u64 (*read_tsc)()) : apic_(apic), read_tsc_(read_tsc) {}
  u64 mmio_read(u64 offset, u8 size) override {
    return size <= 4 ? apic_.mmio_read(static_cast<u32>(offset), size, now()) : 0;  // 8-byte reads: 0 (SDM: undefined)
  }
  void mmio_write(u64 offset, u8 size, u64 value) override {
    if (size > 4) return;
    const Apic_write_effect e = apic_.mmio_write(static_cast<u32>(offset), size, static_cast<u32>(value), now());
    if (e.ipi) ++ipis_dropped;
  }
  u64 ipis_dropped = 0;

private:
  [[nodiscard]] u64 now() const { return read_tsc_ ? read_tsc_() : 0; }
  Local_apic& apic_;
  u64 (*read_tsc_)();
};

} // namespace hv
