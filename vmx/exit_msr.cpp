// vmx/exit_msr.cpp - RDMSR / WRMSR (exit reasons 31, 32) through the allow-list
// (vmx/guest_msr.hpp), or to the emulated local APIC (IA32_APIC_BASE, IA32_TSC_DEADLINE, x2APIC
// 0x800-0x8FF) when the VM has one. Both builds. MSRs the VMCS holds (EFER, PAT, FS/GS base, SYSENTER_*)
// are read from and written to the VMCS; the others the guest can write (STAR, LSTAR, ...) are
// loaded into the hardware by the native loop before the next entry (msr_hardware_dirty).
#include "arch/x86/msr.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "devices/local_apic.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/guest_paging.hpp"
#include "vmx/guest_msr.hpp"

namespace hv {
namespace {

u32 vmcs_field_of(u32 m) {
  switch (m) {
  case msr::IA32_EFER: return vmcs::GUEST_IA32_EFER;
  case msr::IA32_PAT: return vmcs::GUEST_IA32_PAT;
  case msr::IA32_FS_BASE: return vmcs::GUEST_FS_BASE;
  case msr::IA32_GS_BASE: return vmcs::GUEST_GS_BASE;
  case msr::IA32_SYSENTER_CS: return vmcs::GUEST_SYSENTER_CS;
  case msr::IA32_SYSENTER_ESP: return vmcs::GUEST_SYSENTER_ESP;
  case msr::IA32_SYSENTER_EIP: return vmcs::GUEST_SYSENTER_EIP;
  }
  return 0;
}

Exit_action inject_gp(Exit_context& ctx) {
  return raise_exception(ctx, hardware_exception(exception_vector::GP, 0));
}

u64 guest_tsc(const Vcpu& v) { return v.read_tsc ? v.read_tsc() : 0; }

bool is_apic_msr(u32 m) { return m == msr::IA32_APIC_BASE || m == msr::IA32_TSC_DEADLINE || (m >= 0x800 && m <= 0x8FF); }

// The emulated local APIC's MSRs (devices/local_apic.hpp): false = #GP.
bool apic_rdmsr(Vcpu& v, u32 m, u64& value) {
  Local_apic& a = *v.apic;
  if (m == msr::IA32_APIC_BASE) { value = a.apic_base(); return true; }
  if (m == msr::IA32_TSC_DEADLINE) { value = a.tsc_deadline(); return true; }
  return a.msr_read(m, value, guest_tsc(v));
}
bool apic_wrmsr(Vcpu& v, u32 m, u64 value) {
  Local_apic& a = *v.apic;
  if (m == msr::IA32_APIC_BASE) return a.set_apic_base(value);
  if (m == msr::IA32_TSC_DEADLINE) { a.set_tsc_deadline(value, guest_tsc(v)); return true; }
  Apic_write_effect effect;
  if (!a.msr_write(m, value, guest_tsc(v), effect)) return false;
  if (effect.ipi) ++v.apic_ipis_dropped;  // one vCPU per VM: nothing to send to (SMP: #15)
  return true;
}

} // namespace

Exit_action handle_rdmsr(Exit_context& ctx) {
  Guest_registers& r = ctx.vcpu.regs;
  const u32 m = static_cast<u32>(r.rcx);
  if (ctx.vcpu.apic && is_apic_msr(m)) {
    u64 value = 0;
    if (!apic_rdmsr(ctx.vcpu, m, value)) return inject_gp(ctx);
    r.rax = value & 0xFFFFFFFF;
    r.rdx = value >> 32;
    return Exit_action::advance_rip;
  }
  if (!ctx.vcpu.msrs) return inject_gp(ctx);
  if (Guest_msrs::lives_in_vmcs(m)) ctx.vcpu.msrs->refresh(m, ctx.vmcs.read(vmcs_field_of(m)));
  const Msr_access_result result = ctx.vcpu.msrs->read(m);
  if (result.injects_gp()) return inject_gp(ctx);
  r.rax = result.value & 0xFFFFFFFF;
  r.rdx = result.value >> 32;
  return Exit_action::advance_rip;
}

Exit_action handle_wrmsr(Exit_context& ctx) {
  Guest_registers& r = ctx.vcpu.regs;
  const u32 m = static_cast<u32>(r.rcx);
  const u64 value = (r.rdx << 32) | (r.rax & 0xFFFFFFFF);
  if (ctx.vcpu.apic && is_apic_msr(m)) return apic_wrmsr(ctx.vcpu, m, value) ? Exit_action::advance_rip : inject_gp(ctx);
  if (!ctx.vcpu.msrs) return inject_gp(ctx);
  if (Guest_msrs::lives_in_vmcs(m)) ctx.vcpu.msrs->refresh(m, ctx.vmcs.read(vmcs_field_of(m)));
  const Guest_msr_context context{ctx.vmcs.read(vmcs::CR0_READ_SHADOW)};
  const Msr_access_result result = ctx.vcpu.msrs->write(m, value, context);
  if (result.injects_gp()) return inject_gp(ctx);
  if (Guest_msrs::lives_in_vmcs(m)) ctx.vmcs.write(vmcs_field_of(m), ctx.vcpu.msrs->value(m));
  else ctx.vcpu.msr_hardware_dirty = true;
  if (m == msr::IA32_EFER && ctx.vcpu.paging) ctx.vcpu.paging->paging_controls_changed(ctx);  // NXE
  return Exit_action::advance_rip;
}

} // namespace hv
