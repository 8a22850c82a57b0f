// vmx/apic_delivery.cpp - see apic_delivery.hpp. Both builds.
#include "vmx/apic_delivery.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "arch/x86/vmx_controls.hpp"
#include "devices/local_apic.hpp"

namespace hv {

void apic_before_entry(Vcpu& vcpu, Vmcs_access& vmcs, u64 now_tsc) {
  Local_apic* apic = vcpu.apic;
  if (!apic) return;
  apic->update(now_tsc);
  const u64 controls = vmcs.read(vmcs::CPU_BASED_VM_EXEC_CONTROL);
  const u64 window = proc_based_ctl::INTERRUPT_WINDOW_EXITING;
  const int vector = apic->pending_vector();
  if (vector < 0) {
    if (controls & window) vmcs.write(vmcs::CPU_BASED_VM_EXEC_CONTROL, controls & ~window);
    return;
  }
  // Interruptible (SDM Vol. 3C 26.3.1.5 / 24.4.2): IF = 1, no blocking by STI or MOV SS, and no
  // event already in the entry fields (an exception hv injects goes first).
  const bool event_queued = vmcs.read(vmcs::VM_ENTRY_INTR_INFO_FIELD) & (1u << 31);
  const bool interruptible = (vmcs.read(vmcs::GUEST_RFLAGS) & (1u << 9)) &&
                             !(vmcs.read(vmcs::GUEST_INTERRUPTIBILITY_INFO) & 3) && !event_queued;
  if (!interruptible) {
    if (!(controls & window)) vmcs.write(vmcs::CPU_BASED_VM_EXEC_CONTROL, controls | window);
    return;
  }
  vmcs.write(vmcs::VM_ENTRY_INTR_INFO_FIELD, static_cast<u32>(vector) | (1u << 31));  // type 0: external interrupt
  apic->acknowledge(static_cast<u8>(vector));
  if (vmcs.read(vmcs::GUEST_ACTIVITY_STATE) == activity_hlt) vmcs.write(vmcs::GUEST_ACTIVITY_STATE, activity_active);
  vcpu.halted = false;
  ++vcpu.apic_interrupts;
  // Another vector may be waiting behind this one: exit when the guest can take it.
  if (apic->pending_vector() >= 0) vmcs.write(vmcs::CPU_BASED_VM_EXEC_CONTROL, controls | window);
  else if (controls & window) vmcs.write(vmcs::CPU_BASED_VM_EXEC_CONTROL, controls & ~window);
}

u64 apic_slice_ticks(const Vcpu& vcpu, u64 slice_ticks, u64 now_tsc) {
  if (!vcpu.apic) return slice_ticks;
  const u64 due = vcpu.apic->next_timer_deadline();
  if (due == ~0ull) return slice_ticks;
  const u64 wait = due > now_tsc ? due - now_tsc : 0;
  return wait < slice_ticks ? wait : slice_ticks;
}

} // namespace hv
