// arch/x86/native/local_apic.hpp - the bits of the local APIC that starting CPUs needs: the
// ICR in xAPIC (MMIO) or x2APIC (MSR) mode, INIT and STARTUP IPIs (SDM Vol. 3A 11.6, 9.4.4).
// Freestanding build only. Runs while the firmware's identity map (or hv's) covers the APIC page.
#pragma once
#include "arch/x86/native/instructions.hpp"

namespace hv::x86 {

inline constexpr u32 IA32_APIC_BASE = 0x1B;
inline constexpr u64 APIC_BASE_BSP = 1ull << 8;
inline constexpr u64 APIC_BASE_X2APIC_ENABLE = 1ull << 10;
inline constexpr u64 APIC_BASE_GLOBAL_ENABLE = 1ull << 11;
inline constexpr u32 X2APIC_ICR = 0x830;
inline constexpr u32 XAPIC_ICR_LOW = 0x300;
inline constexpr u32 XAPIC_ICR_HIGH = 0x310;
inline constexpr u32 XAPIC_ID = 0x20;
inline constexpr u32 ICR_DELIVERY_INIT = 5u << 8;
inline constexpr u32 ICR_DELIVERY_STARTUP = 6u << 8;
inline constexpr u32 ICR_LEVEL_ASSERT = 1u << 14;
inline constexpr u32 ICR_DELIVERY_PENDING = 1u << 12;

class Local_apic {
public:
  Local_apic() {
    const u64 base = rdmsr(IA32_APIC_BASE);
    x2apic_ = base & APIC_BASE_X2APIC_ENABLE;
    mmio_ = reinterpret_cast<volatile u32*>(base & ~0xFFFull & ((1ull << 52) - 1));
  }
  [[nodiscard]] bool x2apic() const { return x2apic_; }
  [[nodiscard]] u32 id() const {
    return x2apic_ ? static_cast<u32>(rdmsr(0x802)) : (mmio_[XAPIC_ID / 4] >> 24);
  }
  // Signals the end of the interrupt being serviced (EOI register; x2APIC MSR 0x80B).
  void eoi() {
    if (x2apic_) wrmsr(0x80B, 0);
    else mmio_[0xB0 / 4] = 0;
  }
  // Sends an IPI and waits (bounded) until the xAPIC has delivered it. False on timeout.
  bool send_ipi(u32 apic_id, u32 command) {
    if (x2apic_) {
      wrmsr(X2APIC_ICR, (static_cast<u64>(apic_id) << 32) | command);
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

private:
  bool x2apic_ = false;
  volatile u32* mmio_ = nullptr;
};

} // namespace hv::x86
