// arch/x86/native/local_apic.hpp - the bits of the local APIC hv uses: the ICR (INIT, STARTUP
// and fixed IPIs, SDM Vol. 3A 11.6, 9.4.4), EOI, the spurious-vector register, the LVT entries and
// the TSC-deadline timer (11.5.4.1), in xAPIC (MMIO) or x2APIC (MSR 0x800 + offset/16) mode.
// Freestanding build only. Runs while the firmware's identity map (or hv's) covers the APIC page.
#pragma once
#include "arch/x86/msr.hpp"
#include "arch/x86/native/instructions.hpp"

namespace hv::x86 {

inline constexpr u32 XAPIC_ICR_LOW = 0x300;
inline constexpr u32 XAPIC_ICR_HIGH = 0x310;
inline constexpr u32 XAPIC_ID = 0x20;
inline constexpr u32 ICR_DELIVERY_INIT = 5u << 8;
inline constexpr u32 ICR_DELIVERY_STARTUP = 6u << 8;
inline constexpr u32 ICR_LEVEL_ASSERT = 1u << 14;
inline constexpr u32 ICR_DELIVERY_PENDING = 1u << 12;
// Register offsets in the xAPIC page (SDM Vol. 3A Table 11-1).
inline constexpr u32 APIC_TPR = 0x80;
inline constexpr u32 APIC_EOI = 0xB0;
inline constexpr u32 APIC_SVR = 0xF0;
inline constexpr u32 APIC_ESR = 0x280;
inline constexpr u32 APIC_LVT_TIMER = 0x320;
inline constexpr u32 APIC_LVT_LINT0 = 0x350;
inline constexpr u32 APIC_LVT_ERROR = 0x370;
inline constexpr u32 SVR_APIC_ENABLE = 1u << 8;
inline constexpr u32 LVT_MASKED = 1u << 16;
inline constexpr u32 LVT_TIMER_TSC_DEADLINE = 2u << 17;

class Local_apic {
public:
  Local_apic() {
    const u64 base = rdmsr(msr::IA32_APIC_BASE);
    x2apic_ = base & msr::APIC_BASE_EXTD;
    mmio_ = reinterpret_cast<volatile u32*>(base & ~0xFFFull & ((1ull << 52) - 1));
  }
  [[nodiscard]] bool x2apic() const { return x2apic_; }
  [[nodiscard]] u32 id() const {
    return x2apic_ ? static_cast<u32>(rdmsr(msr::IA32_X2APIC_APICID)) : (mmio_[XAPIC_ID / 4] >> 24);
  }
  // A 32-bit register by its xAPIC offset (not the ICR: see send_ipi).
  [[nodiscard]] u32 read(u32 offset) const {
    return x2apic_ ? static_cast<u32>(rdmsr(msr::X2APIC_MSR_BASE + (offset >> 4))) : mmio_[offset / 4];
  }
  void write(u32 offset, u32 value) {
    if (x2apic_) wrmsr(msr::X2APIC_MSR_BASE + (offset >> 4), value);
    else mmio_[offset / 4] = value;
  }
  // Signals the end of the interrupt being serviced.
  void eoi() { write(APIC_EOI, 0); }
  // Sends an IPI and waits (bounded) until the xAPIC has delivered it. False on timeout.
  bool send_ipi(u32 apic_id, u32 command) {
    if (x2apic_) {
      wrmsr(msr::IA32_X2APIC_ICR, (static_cast<u64>(apic_id) << 32) | command);
      return true;  // x2APIC ICR writes are delivered without a pending bit to poll
    }
    mmio_[XAPIC_ICR_HIGH / 4] = apic_id << 24;
    mmio_[XAPIC_ICR_LOW / 4] = command;
    for (u32 spin = 0; spin < 1'000'000; ++spin) {
      if (!(mmio_[XAPIC_ICR_LOW / 4] & ICR_DELIVERY_PENDING)) return true;
      __builtin_ia32_pause();
    }
    return false;
  }

  // A fixed interrupt with `vector` to one CPU (physical destination).
  bool send_fixed_ipi(u32 apic_id, u8 vector) { return send_ipi(apic_id, ICR_LEVEL_ASSERT | vector); }

private:
  bool x2apic_ = false;
  volatile u32* mmio_ = nullptr;
};

} // namespace hv::x86
