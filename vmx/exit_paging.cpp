// vmx/exit_paging.cpp - the exits of shadow paging that are not control-register accesses:
// exceptions (exit reason 0: #PF, and #DB while a table write is single-stepped) and INVLPG (14).
// Both builds.
// Each goes to the vCPU's Guest_paging (vmx/guest_paging.hpp).
#include "arch/x86/vmcs_fields.hpp"
#include "arch/x86/vmx_interruption.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/guest_paging.hpp"

namespace hv {

Exit_action handle_exception_or_nmi(Exit_context& ctx) {
  const u32 info = static_cast<u32>(ctx.vmcs.read(vmcs::VM_EXIT_INTR_INFO));
  const u32 vector = info & 0xFF;
  const u32 type = (info >> 8) & 7;
  constexpr u32 type_hardware_exception = 3;
  if (!(info & (1u << 31)) || type != type_hardware_exception || !ctx.vcpu.paging ||
      (vector != exception_vector::PF && vector != exception_vector::DB))
    return stop_vcpu(ctx, Vcpu_stop_kind::unhandled_exit, ctx.reason, info);
  if (vector == exception_vector::DB) return ctx.vcpu.paging->debug_trap(ctx);
  const u32 error_code = static_cast<u32>(ctx.vmcs.read(vmcs::VM_EXIT_INTR_ERROR_CODE));
  const Exit_action a = ctx.vcpu.paging->page_fault(ctx, ctx.qualification, error_code);
  // The fault happened in an IRET that unblocked NMIs: blocking by NMI must be restored before the
  // instruction runs again (SDM Vol. 3C 28.2.3), as for an EPT violation.
  if (a == Exit_action::resume && (info & (1u << 12)) && !ctx.vcpu.pending_event)
    ctx.vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, ctx.vmcs.read(vmcs::GUEST_INTERRUPTIBILITY_INFO) | (1u << 3));
  return a;
}

Exit_action handle_invlpg(Exit_context& ctx) {
  if (!ctx.vcpu.paging) return stop_vcpu(ctx, Vcpu_stop_kind::unhandled_exit, ctx.reason);
  return ctx.vcpu.paging->invlpg(ctx, ctx.qualification);
}

} // namespace hv
