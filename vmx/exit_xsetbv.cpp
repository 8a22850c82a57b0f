// vmx/exit_xsetbv.cpp - XSETBV (exit reason 55): the guest's XCR0, validated as the CPU would
// (SDM Vol. 2D XSETBV): only XCR0 (ECX = 0), x87 always set, AVX needs SSE, the MPX pair and the
// AVX-512 triple set together, nothing the host CPU lacks, CPL 0. A bad value gets #GP(0). The
// native loop loads vcpu.xcr0 around VM entries. Both builds.
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_handler.hpp"

namespace hv {

[[nodiscard]] bool xcr0_valid(u64 value, u64 supported) {
  constexpr u64 X87 = 1, SSE = 2, AVX = 4, BNDREGS = 8, BNDCSR = 16, AVX512 = 0xE0;
  if (!(value & X87)) return false;
  if (value & ~supported) return false;
  if ((value & AVX) && !(value & SSE)) return false;
  if (((value & BNDREGS) != 0) != ((value & BNDCSR) != 0)) return false;
  if ((value & AVX512) && ((value & AVX512) != AVX512 || !(value & AVX))) return false;
  return true;
}

Exit_action handle_xsetbv(Exit_context& ctx) {
  const Guest_registers& r = ctx.vcpu.regs;
  const u64 value = (r.rdx << 32) | (r.rax & 0xFFFFFFFF);
  const u32 cpl = static_cast<u32>((ctx.vmcs.read(vmcs::GUEST_SS_AR_BYTES) >> 5) & 3);
  if (static_cast<u32>(r.rcx) != 0 || cpl != 0 || !xcr0_valid(value, ctx.vcpu.xcr0_supported)) {
    return raise_exception(ctx, hardware_exception(exception_vector::GP, 0));
  }
  ctx.vcpu.xcr0 = value;
  return Exit_action::advance_rip;
}

} // namespace hv
