// vmx/exit_simple.cpp - the exits whose handling is a line or two: HLT, INVD/WBINVD, external
// interrupts, triple fault, INIT, SIPI, VMX instructions, failed VM entries. Both builds.
#include "arch/x86/host_vectors.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "arch/x86/vmx_controls.hpp"
#include "arch/x86/vmx_interruption.hpp"
#include "lib/log.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/exit_reason_names.hpp"

namespace hv {

Exit_action handle_hlt(Exit_context& ctx) {
  // With interrupts off and no NMI source, nothing can ever wake the vCPU: the guest is done.
  if (!(ctx.vmcs.read(vmcs::GUEST_RFLAGS) & (1u << 9))) {
    ctx.vmcs.write(vmcs::GUEST_RIP, ctx.vmcs.read(vmcs::GUEST_RIP) + ctx.vmcs.read(vmcs::VM_EXIT_INSTRUCTION_LEN));
    return stop_vcpu(ctx, Vcpu_stop_kind::halted, 0);
  }
  ctx.vcpu.halted = true;  // the scheduler runs it again when it has an event
  if (ctx.vcpu.apic) {
    // Its interrupts come from its own APIC (timer, self IPIs): it enters again in the HLT
    // activity state, the slice capped at the timer's expiry (vmx/apic_delivery.hpp), and the
    // injection of the APIC's vector wakes it.
    ctx.vmcs.write(vmcs::GUEST_ACTIVITY_STATE, 1);
    ctx.vcpu.yield = Vcpu_yield::none;
    return Exit_action::advance_rip;
  }
  ctx.vcpu.yield = Vcpu_yield::blocked;
  return Exit_action::advance_rip;
}

Exit_action handle_interrupt_window(Exit_context& ctx) {
  // The guest can take an interrupt now: the next entry injects it (apic_before_entry), which
  // also turns the window exiting off again.
  ctx.vmcs.write(vmcs::CPU_BASED_VM_EXEC_CONTROL,
                 ctx.vmcs.read(vmcs::CPU_BASED_VM_EXEC_CONTROL) & ~u64{proc_based_ctl::INTERRUPT_WINDOW_EXITING});
  return Exit_action::resume;
}

Exit_action handle_cache_flush(Exit_context&) {
  // The guest's memory is ordinary write-back RAM that the host keeps coherent: nothing to do.
  return Exit_action::advance_rip;
}

Exit_action handle_external_interrupt(Exit_context& ctx) {
  // Acknowledged on exit (the native exit path sends the EOI). Another CPU's kick means this
  // CPU's run queue changed (a VM paused, stopped or woken): the slice ends now so the loop looks
  // at it. Anything else (the idle timer firing late) has nothing for the guest: resume it.
  const Interruption_info info{static_cast<u32>(ctx.vmcs.read(vmcs::VM_EXIT_INTR_INFO))};
  if (info.valid() && info.vector() == x86::host_vector_kick) ctx.vcpu.yield = Vcpu_yield::expired;
  return Exit_action::resume;
}

Exit_action handle_triple_fault(Exit_context& ctx) {
  return stop_vcpu(ctx, Vcpu_stop_kind::triple_fault, 0);
}

Exit_action handle_init_signal(Exit_context& ctx) {
  // A single-vCPU VM has no one to send it a SIPI: INIT is a reset request, so the VM stops.
  return stop_vcpu(ctx, Vcpu_stop_kind::init_signal, 0);
}

Exit_action handle_sipi(Exit_context& ctx) {
  return stop_vcpu(ctx, Vcpu_stop_kind::unsupported, ctx.qualification & 0xFF);
}

Exit_action handle_vmx_instruction(Exit_context& ctx) {
  // VMX is hidden from guests (CPUID.1:ECX.VMX = 0): its instructions are invalid opcodes.
  return raise_exception(ctx, hardware_exception(exception_vector::UD));
}

Exit_action handle_preemption_timer(Exit_context& ctx) {
  // The guest's slice is over: the scheduler decides who runs next (and re-arms the timer).
  ++ctx.vcpu.slices;
  ctx.vcpu.yield = Vcpu_yield::expired;
  return Exit_action::resume;
}

Exit_action handle_entry_failure(Exit_context& ctx) {
  log_error("vm", "{}: VM entry failed: {} ({})", ctx.vcpu.vm_name, exit_reason_name(ctx.reason),
            entry_failure_qualification_name(ctx.qualification));
  return stop_vcpu(ctx, Vcpu_stop_kind::entry_failure, ctx.reason);
}

} // namespace hv
