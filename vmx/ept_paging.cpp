// vmx/ept_paging.cpp - see ept_paging.hpp. Both builds.
#include "vmx/ept_paging.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "arch/x86/vmx_controls.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/vmcs_setup.hpp"

namespace hv {

const char* paging_kind_name(Paging_kind kind) { return kind == Paging_kind::ept ? "ept" : "shadow"; }

void Ept_paging::adjust_controls(Vcpu_controls& c) const {
  c.eptp = memory_.eptp();
  if (c.controls.proc_based2 & proc_based_ctl2::ENABLE_VPID) c.vpid = vpid_;
}

bool Ept_paging::start(Vcpu& vcpu, Vmcs_access&, const Guest_start_state&, Tlb_control& tlb) {
  // The VPID may have been used before (an earlier VM, this one before a reset): its
  // translations must not leak into the fresh guest.
  (void)vcpu;
  if (vpid_) tlb.flush_vpid(vpid_);
  return true;
}

// EPT does not enable these exits; a CPU that delivers them anyway stops the vCPU, not the host.
Exit_action Ept_paging::page_fault(Exit_context& ctx, u64, u32) {
  return stop_vcpu(ctx, Vcpu_stop_kind::unhandled_exit, ctx.reason);
}
Exit_action Ept_paging::mov_to_cr3(Exit_context& ctx, u64) {
  return stop_vcpu(ctx, Vcpu_stop_kind::unhandled_exit, ctx.reason);
}
u64 Ept_paging::guest_cr3(Exit_context& ctx) { return ctx.vmcs.read(vmcs::GUEST_CR3); }
Exit_action Ept_paging::invlpg(Exit_context& ctx, u64) {
  return stop_vcpu(ctx, Vcpu_stop_kind::unhandled_exit, ctx.reason);
}
Exit_action Ept_paging::debug_trap(Exit_context& ctx) {
  return stop_vcpu(ctx, Vcpu_stop_kind::unhandled_exit, ctx.reason);
}

} // namespace hv
