// vmx/exit_cr.cpp - control-register accesses (exit reason 28). Both builds.
// The guest owns CR0/CR4 except the bits VMX fixes (the guest/host masks); a MOV to CR0/CR4
// that touches one of those exits here. hv checks the new value as the CPU would (#GP for
// reserved bits, PG without PE, leaving long mode, setting VMXE) and keeps the guest's view in
// the read shadow while the real register carries the fixed bits.
#include "arch/x86/msr.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/exit_qualification.hpp"
#include "vmx/guest_cpuid.hpp"
#include "vmx/guest_paging.hpp"

namespace hv {
namespace {

constexpr u64 cr4_known_bits = cr4_bit::VME | cr4_bit::PVI | cr4_bit::TSD | cr4_bit::DE | cr4_bit::PSE | cr4_bit::PAE |
                               cr4_bit::MCE | cr4_bit::PGE | cr4_bit::PCE | cr4_bit::OSFXSR | cr4_bit::OSXMMEXCPT |
                               cr4_bit::UMIP | cr4_bit::FSGSBASE | cr4_bit::PCIDE | cr4_bit::OSXSAVE |
                               cr4_bit::SMEP | cr4_bit::SMAP;

Exit_action inject_gp(Exit_context& ctx) {
  return raise_exception(ctx, hardware_exception(exception_vector::GP, 0));
}

bool long_mode_active(Exit_context& ctx) { return ctx.vmcs.read(vmcs::GUEST_IA32_EFER) & msr::EFER_LMA; }

Exit_action write_cr0(Exit_context& ctx, u64 value) {
  if (value >> 32) return inject_gp(ctx);
  if ((value & cr0_bit::PG) && !(value & cr0_bit::PE)) return inject_gp(ctx);
  if ((value & cr0_bit::NW) && !(value & cr0_bit::CD)) return inject_gp(ctx);
  if (long_mode_active(ctx) && !(value & cr0_bit::PG)) return inject_gp(ctx);  // no way back to legacy modes yet
  ctx.vmcs.write(vmcs::CR0_READ_SHADOW, value);
  ctx.vmcs.write(vmcs::GUEST_CR0, apply_fixed(value, ctx.vcpu.cr0_fixed));
  if (ctx.vcpu.paging) ctx.vcpu.paging->paging_controls_changed(ctx);  // WP
  return Exit_action::advance_rip;
}

Exit_action write_cr4(Exit_context& ctx, u64 value) {
  if (value & ~cr4_known_bits) return inject_gp(ctx);  // includes VMXE: VMX is hidden
  // A bit this CPU cannot set in VMX operation (IA32_VMX_CR4_FIXED1) is reserved for it: #GP,
  // as on the bare CPU, rather than a shadow claiming a feature the real CR4 lacks.
  if (value & ~ctx.vcpu.cr4_fixed.may_be_one) return inject_gp(ctx);
  if (long_mode_active(ctx) && !(value & cr4_bit::PAE)) return inject_gp(ctx);
  // PCIDE where the guest's CPUID does not offer PCID (shadow paging hides it): #GP, as the CPU.
  if ((value & cr4_bit::PCIDE) && ctx.vcpu.cpuid && !ctx.vcpu.cpuid->config().pcid) return inject_gp(ctx);
  ctx.vmcs.write(vmcs::CR4_READ_SHADOW, value);
  ctx.vmcs.write(vmcs::GUEST_CR4, apply_fixed(value, ctx.vcpu.cr4_fixed));
  if (ctx.vcpu.paging) ctx.vcpu.paging->paging_controls_changed(ctx);  // SMEP, SMAP, PGE, ...
  return Exit_action::advance_rip;
}

} // namespace

Exit_action handle_cr_access(Exit_context& ctx) {
  const Cr_access a = decode_cr_access(ctx.qualification);
  switch (a.type) {
  case Cr_access_type::mov_to_cr: {
    // RSP is not saved by the exit stub: it lives in the VMCS.
    const u64* gpr = guest_gpr(ctx.vcpu.regs, a.gpr);
    const u64 value = gpr ? *gpr : ctx.vmcs.read(vmcs::GUEST_RSP);
    if (a.cr == 0) return write_cr0(ctx, value);
    if (a.cr == 4) return write_cr4(ctx, value);
    if (a.cr == 3 && ctx.vcpu.paging) return ctx.vcpu.paging->mov_to_cr3(ctx, value);  // shadow paging only
    break;
  }
  case Cr_access_type::clts:
    return write_cr0(ctx, ctx.vmcs.read(vmcs::CR0_READ_SHADOW) & ~cr0_bit::TS);
  case Cr_access_type::lmsw: {
    // LMSW loads CR0[3:0] but can never clear PE.
    const u64 old = ctx.vmcs.read(vmcs::CR0_READ_SHADOW);
    const u64 value = (old & ~0xEull) | (a.lmsw_source_data & 0xF) | (old & cr0_bit::PE);
    return write_cr0(ctx, value);
  }
  case Cr_access_type::mov_from_cr:
    // Only CR3 under shadow paging (CR3-store exiting): the guest reads its own value, not the root.
    if (a.cr == 3 && ctx.vcpu.paging) {
      const u64 value = ctx.vcpu.paging->guest_cr3(ctx);
      if (u64* gpr = guest_gpr(ctx.vcpu.regs, a.gpr)) *gpr = value;
      else ctx.vmcs.write(vmcs::GUEST_RSP, value);
      return Exit_action::advance_rip;
    }
    break;
  }
  return stop_vcpu(ctx, Vcpu_stop_kind::unsupported, ctx.qualification);
}

} // namespace hv
