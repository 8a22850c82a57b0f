// vmx/vmcs_setup.cpp - see vmcs_setup.hpp. Both builds.
#include "vmx/vmcs_setup.hpp"
#include "arch/x86/vmcs_fields.hpp"

namespace hv {

Vmx_controls_request hv_vmx_controls_request() {
  Vmx_controls_request r;
  // External interrupts exit (acknowledged on exit) so the host stays in charge of its devices;
  // the preemption timer bounds a guest's slice where the CPU has it.
  r.pin_based.required = pin_based_ctl::EXTERNAL_INTERRUPT_EXITING;
  r.pin_based.optional = pin_based_ctl::ACTIVATE_VMX_PREEMPTION_TIMER;
  // Every port access and HLT exit; MSR accesses exit (no MSR bitmap): the allow-list decides.
  r.proc_based.required = proc_based_ctl::HLT_EXITING | proc_based_ctl::UNCONDITIONAL_IO_EXITING |
                          proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS;
  // EPT where the CPU has it; without it every VM runs with shadow paging (vmx/shadow_paging.hpp).
  r.proc_based2.optional = proc_based_ctl2::ENABLE_EPT | proc_based_ctl2::ENABLE_VPID | proc_based_ctl2::ENABLE_RDTSCP |
                           proc_based_ctl2::ENABLE_INVPCID | proc_based_ctl2::ENABLE_XSAVES_XRSTORS;
  r.vm_exit.required = vm_exit_ctl::HOST_ADDRESS_SPACE_SIZE | vm_exit_ctl::ACKNOWLEDGE_INTERRUPT_ON_EXIT |
                       vm_exit_ctl::SAVE_IA32_EFER | vm_exit_ctl::LOAD_IA32_EFER;
  r.vm_exit.optional = vm_exit_ctl::SAVE_IA32_PAT | vm_exit_ctl::LOAD_IA32_PAT |
                       vm_exit_ctl::SAVE_VMX_PREEMPTION_TIMER_VALUE;
  r.vm_entry.required = vm_entry_ctl::IA32E_MODE_GUEST | vm_entry_ctl::LOAD_IA32_EFER;
  r.vm_entry.optional = vm_entry_ctl::LOAD_IA32_PAT;
  return r;
}

void write_host_state(Vmcs_access& v, const Host_state& h) {
  using namespace vmcs;
  v.write(HOST_CR0, h.cr0);
  v.write(HOST_CR3, h.cr3);
  v.write(HOST_CR4, h.cr4);
  // Host selectors need RPL = 0 and TI = 0 (SDM 27.2.3); the index (bits 15:3) stays.
  constexpr u16 rpl_ti = 7;
  v.write(HOST_CS_SELECTOR, h.cs & ~rpl_ti);
  v.write(HOST_SS_SELECTOR, h.ss & ~rpl_ti);
  v.write(HOST_DS_SELECTOR, h.ds & ~rpl_ti);
  v.write(HOST_ES_SELECTOR, h.es & ~rpl_ti);
  v.write(HOST_FS_SELECTOR, h.fs & ~rpl_ti);
  v.write(HOST_GS_SELECTOR, h.gs & ~rpl_ti);
  v.write(HOST_TR_SELECTOR, h.tr & ~rpl_ti);
  v.write(HOST_FS_BASE, h.fs_base);
  v.write(HOST_GS_BASE, h.gs_base);
  v.write(HOST_TR_BASE, h.tr_base);
  v.write(HOST_GDTR_BASE, h.gdtr_base);
  v.write(HOST_IDTR_BASE, h.idtr_base);
  v.write(HOST_IA32_SYSENTER_CS, 0);
  v.write(HOST_IA32_SYSENTER_ESP, 0);
  v.write(HOST_IA32_SYSENTER_EIP, 0);
  v.write(HOST_IA32_EFER, h.efer);
  v.write(HOST_IA32_PAT, h.pat);
  v.write(HOST_RIP, h.rip);
}

void write_controls(Vmcs_access& v, const Vcpu_controls& c) {
  using namespace vmcs;
  v.write(PIN_BASED_VM_EXEC_CONTROL, c.controls.pin_based);
  v.write(CPU_BASED_VM_EXEC_CONTROL, c.controls.proc_based);
  v.write(SECONDARY_VM_EXEC_CONTROL, c.controls.proc_based2);
  v.write(VM_EXIT_CONTROLS, c.controls.vm_exit);
  v.write(VM_ENTRY_CONTROLS, c.controls.vm_entry);
  v.write(EXCEPTION_BITMAP, c.exception_bitmap);
  v.write(PAGE_FAULT_ERROR_CODE_MASK, 0);
  v.write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
  v.write(CR3_TARGET_COUNT, 0);
  v.write(VM_EXIT_MSR_STORE_COUNT, 0);
  v.write(VM_EXIT_MSR_LOAD_COUNT, 0);
  v.write(VM_ENTRY_MSR_LOAD_COUNT, 0);
  v.write(VM_ENTRY_INTR_INFO_FIELD, 0);
  // Only where EPT is on: a CPU without EPT has no such field.
  if (c.controls.proc_based2 & proc_based_ctl2::ENABLE_EPT) v.write(EPT_POINTER, c.eptp);
  if (c.controls.proc_based2 & proc_based_ctl2::ENABLE_VPID) v.write(VIRTUAL_PROCESSOR_ID, c.vpid);
  // The guest owns every CR0/CR4 bit except those VMX fixes: touching those traps (CR_ACCESS).
  v.write(CR0_GUEST_HOST_MASK, c.cr0_fixed.fixed());
  v.write(CR4_GUEST_HOST_MASK, c.cr4_fixed.fixed() | c.cr4_trap);
  v.write(VMCS_LINK_POINTER, ~0ull);
}

void write_guest_state_64(Vmcs_access& v, const Guest_start_state& g, const Vcpu_controls& c) {
  using namespace vmcs;
  v.write(GUEST_CR0, apply_fixed(g.cr0, c.cr0_fixed));
  v.write(CR0_READ_SHADOW, g.cr0);
  v.write(GUEST_CR3, g.cr3);
  v.write(GUEST_CR4, apply_fixed(g.cr4, c.cr4_fixed));
  v.write(CR4_READ_SHADOW, g.cr4);
  v.write(GUEST_DR7, 0x400);
  v.write(GUEST_RSP, g.rsp);
  v.write(GUEST_RIP, g.rip);
  v.write(GUEST_RFLAGS, g.rflags | 0x2);
  v.write(GUEST_IA32_EFER, g.efer);
  v.write(GUEST_IA32_PAT, g.pat);
  v.write(GUEST_IA32_DEBUGCTL, 0);
  v.write(GUEST_SYSENTER_CS, 0);
  v.write(GUEST_SYSENTER_ESP, 0);
  v.write(GUEST_SYSENTER_EIP, 0);

  const u32 data_fields[][4] = {
      {GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES},
      {GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES},
      {GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES},
      {GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES},
      {GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES},
  };
  for (const auto& f : data_fields) {
    v.write(f[0], g.data_selector);
    v.write(f[1], 0);
    v.write(f[2], 0xFFFFFFFF);
    v.write(f[3], ar_data);
  }
  v.write(GUEST_CS_SELECTOR, g.code_selector);
  v.write(GUEST_CS_BASE, 0);
  v.write(GUEST_CS_LIMIT, 0xFFFFFFFF);
  v.write(GUEST_CS_AR_BYTES, ar_code64);
  v.write(GUEST_TR_SELECTOR, g.tr_selector);
  v.write(GUEST_TR_BASE, 0);
  v.write(GUEST_TR_LIMIT, 0x67);
  v.write(GUEST_TR_AR_BYTES, ar_tss64_busy);
  v.write(GUEST_LDTR_SELECTOR, 0);
  v.write(GUEST_LDTR_BASE, 0);
  v.write(GUEST_LDTR_LIMIT, 0);
  v.write(GUEST_LDTR_AR_BYTES, ar_unusable);
  v.write(GUEST_GDTR_BASE, g.gdtr_base);
  v.write(GUEST_GDTR_LIMIT, g.gdtr_limit);
  v.write(GUEST_IDTR_BASE, 0);
  v.write(GUEST_IDTR_LIMIT, 0);
  v.write(GUEST_ACTIVITY_STATE, 0);
  v.write(GUEST_INTERRUPTIBILITY_INFO, 0);
  v.write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
}

} // namespace hv
