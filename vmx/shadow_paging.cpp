// vmx/shadow_paging.cpp - see shadow_paging.hpp. Both builds.
#include "vmx/shadow_paging.hpp"
#include "arch/x86/msr.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "arch/x86/vmx_controls.hpp"
#include "lib/log.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/vmcs_setup.hpp"

namespace hv {

namespace {
constexpr u64 rflags_ac = 1ull << 18;
constexpr u64 rflags_tf = 1ull << 8;
// The CR4 bits that change how the guest's tables are read or what their rights mean.
constexpr u64 cr4_paging_bits = cr4_bit::PSE | cr4_bit::PAE | cr4_bit::PGE | cr4_bit::PCIDE | cr4_bit::SMEP |
                                cr4_bit::SMAP | cr4_bit::PKE | cr4_bit::LA57;
} // namespace

void Shadow_paging::adjust_controls(Vcpu_controls& c) const {
  c.controls.proc_based2 &= ~(proc_based_ctl2::ENABLE_EPT | proc_based_ctl2::ENABLE_INVPCID);
  c.controls.proc_based |= proc_based_ctl::CR3_LOAD_EXITING | proc_based_ctl::CR3_STORE_EXITING |
                           proc_based_ctl::INVLPG_EXITING;
  c.eptp = 0;
  c.exception_bitmap |= 1u << exception_vector::PF;
  c.cr0_fixed.must_be_one |= cr0_bit::WP;
  c.cr4_trap |= cr4_paging_bits;
  const bool vpid = c.controls.proc_based2 & proc_based_ctl2::ENABLE_VPID;
  c.vpid = vpid ? config_.mmu.first_vpid : 0;
}

Guest_paging_mode Shadow_paging::mode_from(u64 cr0, u64 cr4, u64 efer) const {
  Guest_paging_mode m;
  m.wp = cr0 & cr0_bit::WP;
  m.nxe = efer & msr::EFER_NXE;
  m.smep = cr4 & cr4_bit::SMEP;
  m.smap = cr4 & cr4_bit::SMAP;
  m.page_1g = config_.page_1g;
  m.max_phys_addr_bits = config_.max_phys_addr_bits;
  return m;
}

void Shadow_paging::load_root(Vmcs_access& vmcs, const Shadow_root& root) {
  vmcs.write(vmcs::GUEST_CR3, root.table.value());
  if (root.vpid) {
    vmcs.write(vmcs::VIRTUAL_PROCESSOR_ID, root.vpid);
    if (root.needs_flush && tlb_) tlb_->flush_vpid(root.vpid);
  }
}

bool Shadow_paging::start(Vcpu&, Vmcs_access& vmcs, const Guest_start_state& start, Tlb_control& tlb) {
  tlb_ = &tlb;
  mmu_.destroy();  // a reset or restart: nothing of the earlier run's shadows stays
  if (!mmu_.init()) return false;
  mmu_.set_mode(mode_from(start.cr0, start.cr4, start.efer));
  // Every VPID this VM's roots may use: an earlier run's (or VM's) translations must not leak.
  if (config_.mmu.vpid)
    for (u32 s = 0; s < config_.mmu.max_roots; ++s) tlb.flush_vpid(static_cast<u16>(config_.mmu.first_vpid + s));
  const std::optional<Shadow_root> root = mmu_.load_cr3(start.cr3);
  if (!root) return false;
  load_root(vmcs, *root);
  return true;
}

void Shadow_paging::flush_requested(Tlb_control& tlb) {
  u16 vpids[shadow_max_roots];
  const u32 n = mmu_.root_vpids(vpids, shadow_max_roots);
  for (u32 i = 0; i < n; ++i) tlb.flush_vpid(vpids[i]);
}

Exit_action Shadow_paging::page_fault(Exit_context& ctx, u64 gva, u32 error_code) {
  Guest_access access;
  access.write = error_code & pf_error::W;
  access.fetch = error_code & pf_error::I;
  access.user = error_code & pf_error::U;
  access.ac = ctx.vmcs.read(vmcs::GUEST_RFLAGS) & rflags_ac;
  const Shadow_fault f = mmu_.page_fault(Gva(gva), access);
  switch (f.kind) {
  case Shadow_fault_kind::fixed:
    return Exit_action::resume;
  case Shadow_fault_kind::guest_fault:
    ctx.vcpu.pending_cr2 = gva;
    ctx.vcpu.cr2_pending = true;
    return raise_exception(ctx, hardware_exception(exception_vector::PF, f.error_code));
  case Shadow_fault_kind::general_protection:
    return raise_exception(ctx, hardware_exception(exception_vector::GP, 0));
  case Shadow_fault_kind::out_of_memory:
    ctx.vcpu.yield = Vcpu_yield::out_of_memory;  // nothing changed: the access faults again later
    return Exit_action::resume;
  case Shadow_fault_kind::outside_ram:
    log_error("vmx", "{}: shadow paging: the guest's address {:#x} leads to GPA {:#x}, outside its RAM",
              ctx.vcpu.vm_name, gva, f.gpa.value());
    return stop_vcpu(ctx, Vcpu_stop_kind::ept_outside_slot, error_code, f.gpa.value());
  case Shadow_fault_kind::mmio:
    return emulate_mmio_access(ctx, f.gpa.value());
  case Shadow_fault_kind::single_step: {
    // One instruction with the page writable, then the single-step trap (#DB) exits: RFLAGS.TF
    // with #DB in the exception bitmap (the monitor trap flag would be cleaner, but not every CPU
    // has it: Bochs's Skylake model does not).
    const u64 rflags = ctx.vmcs.read(vmcs::GUEST_RFLAGS);
    step_guest_tf_ = rflags & rflags_tf;
    ctx.vmcs.write(vmcs::GUEST_RFLAGS, rflags | rflags_tf);
    ctx.vmcs.write(vmcs::EXCEPTION_BITMAP, ctx.vmcs.read(vmcs::EXCEPTION_BITMAP) | (1u << exception_vector::DB));
    return Exit_action::resume;
  }
  case Shadow_fault_kind::no_progress:
    log_error("vmx", "{}: shadow paging: the page fault at {:#x} cannot be resolved (its tables keep being recycled)",
              ctx.vcpu.vm_name, gva);
    return stop_vcpu(ctx, Vcpu_stop_kind::unsupported, error_code, gva);
  }
  return Exit_action::resume;
}

Exit_action Shadow_paging::mov_to_cr3(Exit_context& ctx, u64 value) {
  // Bits 63:MAXPHYADDR must be zero (PCIDE is never set: PCID is hidden): #GP(0) otherwise.
  if (value >> config_.max_phys_addr_bits) return raise_exception(ctx, hardware_exception(exception_vector::GP, 0));
  const std::optional<Shadow_root> root = mmu_.load_cr3(value);
  if (!root) {
    ctx.vcpu.yield = Vcpu_yield::out_of_memory;  // the MOV runs again when frames return
    return Exit_action::resume;
  }
  load_root(ctx.vmcs, *root);
  return Exit_action::advance_rip;
}

u64 Shadow_paging::guest_cr3(Exit_context&) { return mmu_.guest_cr3(); }

Exit_action Shadow_paging::invlpg(Exit_context& ctx, u64 gva) {
  // The shadow entries agree with the guest's tables at all times (tracked tables), so only the
  // CPU's TLB may hold a stale translation: flushed for the address in every root (global pages
  // are in all of them).
  (void)ctx;
  if (tlb_) {
    u16 vpids[shadow_max_roots];
    const u32 n = mmu_.root_vpids(vpids, shadow_max_roots);
    for (u32 i = 0; i < n; ++i) tlb_->flush_address(vpids[i], gva);
  }
  return Exit_action::advance_rip;
}

Exit_action Shadow_paging::debug_trap(Exit_context& ctx) {
  if (!mmu_.single_stepping()) {  // the guest's own #DB: delivered as the CPU would have
    return raise_exception(ctx, hardware_exception(exception_vector::DB));
  }
  const u64 rflags = ctx.vmcs.read(vmcs::GUEST_RFLAGS);
  if (!step_guest_tf_) ctx.vmcs.write(vmcs::GUEST_RFLAGS, rflags & ~rflags_tf);
  ctx.vmcs.write(vmcs::EXCEPTION_BITMAP, ctx.vmcs.read(vmcs::EXCEPTION_BITMAP) & ~(1u << exception_vector::DB));
  mmu_.end_single_step();
  // A guest that was single-stepping itself gets its trap too.
  if (step_guest_tf_) return raise_exception(ctx, hardware_exception(exception_vector::DB));
  return Exit_action::resume;
}

void Shadow_paging::paging_controls_changed(Exit_context& ctx) {
  mmu_.set_mode(mode_from(ctx.vmcs.read(vmcs::CR0_READ_SHADOW), ctx.vmcs.read(vmcs::CR4_READ_SHADOW),
                          ctx.vmcs.read(vmcs::GUEST_IA32_EFER)));
}

} // namespace hv
