// vmx/exit_vmcall.cpp - VMCALL: the hypercall ABI (devices/hypercall.hpp). Both builds.
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_handler.hpp"

namespace hv {

Exit_action handle_vmcall(Exit_context& ctx) {
  Guest_registers& r = ctx.vcpu.regs;
  // The caller's CPL is SS.DPL (SDM Vol. 3A 5.5); from ring 3 the call is refused, as on KVM.
  const u32 cpl = static_cast<u32>((ctx.vmcs.read(vmcs::GUEST_SS_AR_BYTES) >> 5) & 3);
  const Hypercall_args args{r.rax, r.rbx, r.rcx, r.rdx, r.rsi, cpl};
  r.rax = static_cast<u64>(dispatch_hypercall(args, ctx.vcpu.hypercalls, ctx.vcpu.hypercall_env));
  return Exit_action::advance_rip;
}

} // namespace hv
