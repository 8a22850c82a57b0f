// vmx/native/vcpu_run.cpp - see vcpu_run.hpp. Freestanding build only.
#include "vmx/native/vcpu_run.hpp"
#include "arch/x86/msr.hpp"
#include "arch/x86/native/descriptor_tables.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/native/local_apic.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "core/panic.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/guest_msr.hpp"
#include "vmx/native/native_vmcs.hpp"
#include "vmx/vm_instruction_error.hpp"
#include <cstring>

extern "C" int hv_vmx_enter(hv::Guest_registers* regs, hv::u64 launched);
extern "C" char hv_vmx_exit[];

namespace hv {

namespace x86 {
// The failure path of vmread_checked/vmwrite_checked (arch/x86/native/vmx_instructions.hpp).
void vmx_access_failed(bool write, u64 field, u64 value) {
  u64 error = 0;
  (void)vmread(vmcs::VM_INSTRUCTION_ERROR, error);
  panic("vmx", "{} of field {:#x} (value {:#x}) failed: VM-instruction error {} ({})", write ? "VMWRITE" : "VMREAD",
        field, value, error, vm_instruction_error_message(static_cast<u32>(error)));
}
} // namespace x86

namespace {
constinit Native_vmcs g_vmcs{};

Host_state current_host_state(Per_cpu& cpu) {
  Host_state h;
  h.cr0 = x86::read_cr0();
  h.cr3 = x86::read_cr3();
  h.cr4 = x86::read_cr4();
  h.cs = x86::read_cs();
  h.ss = x86::read_ss();
  h.ds = x86::read_ds();
  h.es = x86::read_es();
  h.fs = x86::read_fs();
  h.gs = x86::read_gs();
  h.tr = x86::read_tr();
  h.fs_base = x86::rdmsr(msr::IA32_FS_BASE);
  h.gs_base = x86::rdmsr(msr::IA32_GS_BASE);
  h.tr_base = reinterpret_cast<u64>(&cpu.tss);
  h.gdtr_base = reinterpret_cast<u64>(cpu.gdt);
  h.idtr_base = x86::sidt().base;
  h.efer = x86::rdmsr(msr::IA32_EFER);
  h.pat = x86::rdmsr(msr::IA32_PAT);
  h.rip = reinterpret_cast<u64>(hv_vmx_exit);
  return h;
}

// MSRs the guest may write that the VMCS does not switch: the host never uses them, so the
// guest's values simply stay in the hardware while it runs on this CPU.
void load_guest_hardware_msrs(Vcpu& vcpu) {
  if (!vcpu.msrs) return;
  for (u32 m : {msr::IA32_STAR, msr::IA32_LSTAR, msr::IA32_CSTAR, msr::IA32_FMASK, msr::IA32_KERNEL_GS_BASE})
    x86::wrmsr(m, vcpu.msrs->value(m));
  vcpu.msr_hardware_dirty = false;
}

void end_of_interrupt() {
  x86::Local_apic apic;
  apic.eoi();
}
} // namespace

bool vcpu_load_new(Vcpu& vcpu, void* region, u32 revision, const Vcpu_controls& controls,
                   const Guest_start_state& start, Per_cpu& cpu) {
  std::memset(region, 0, 4096);
  std::memcpy(region, &revision, sizeof revision);
  const u64 pa = reinterpret_cast<u64>(region);  // identity-mapped
  if (x86::vmclear(pa) != x86::Vmx_result::ok || x86::vmptrld(pa) != x86::Vmx_result::ok) {
    log_error("vmx", "{}: VMCLEAR/VMPTRLD of the VMCS at {:#x} failed", vcpu.vm_name, pa);
    return false;
  }
  write_controls(g_vmcs, controls);
  write_host_state(g_vmcs, current_host_state(cpu));
  write_guest_state_64(g_vmcs, start, controls);
  if (controls.controls.pin_based & pin_based_ctl::ACTIVATE_VMX_PREEMPTION_TIMER)
    g_vmcs.write(vmcs::VMX_PREEMPTION_TIMER_VALUE, vcpu.preemption_timer_value);
  vcpu.cr0_fixed = controls.cr0_fixed;
  vcpu.cr4_fixed = controls.cr4_fixed;
  vcpu.launched = false;
  vcpu.msr_hardware_dirty = true;
  return true;
}

u64 vcpu_run_until_stop(Vcpu& vcpu) {
  u64 entries = 0;
  while (vcpu.stop.kind == Vcpu_stop_kind::none) {
    if (vcpu.pending_event) inject_pending_event(vcpu, g_vmcs);
    if (vcpu.msr_hardware_dirty) load_guest_hardware_msrs(vcpu);
    ++entries;
    const int rc = hv_vmx_enter(&vcpu.regs, vcpu.launched ? 1 : 0);
    if (rc != 0) {
      u64 error = 0;
      if (rc == 2) (void)x86::vmread(vmcs::VM_INSTRUCTION_ERROR, error);
      log_error("vmx", "{}: {} failed: {} (VM-instruction error {}: {})", vcpu.vm_name,
                vcpu.launched ? "VMRESUME" : "VMLAUNCH", rc == 1 ? "VMfailInvalid" : rc == 2 ? "VMfailValid" : "HOST_RSP write",
                error, rc == 2 ? vm_instruction_error_message(static_cast<u32>(error)) : "no current VMCS");
      vcpu.stop = Vcpu_stop{Vcpu_stop_kind::entry_failure, error, 0};
      break;
    }
    vcpu.launched = true;
    const Exit_action action = dispatch_exit(vcpu, g_vmcs);
    if (vcpu.last_exit_reason == exit_reason::EXTERNAL_INTERRUPT) end_of_interrupt();
    if (action == Exit_action::stop) break;
  }
  return entries;
}

void vcpu_unload(void* region) { (void)x86::vmclear(reinterpret_cast<u64>(region)); }

} // namespace hv
