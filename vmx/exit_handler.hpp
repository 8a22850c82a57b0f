// vmx/exit_handler.hpp - the exit dispatcher and its handlers. Both builds.
// The native loop calls dispatch_exit() after every VM exit. It counts the exit, keeps an event
// that the exit interrupted for re-injection, and calls the handler for the basic exit reason;
// the handler returns what to do next. A reason without a handler stops the VM (never the host).
#pragma once
#include "vmx/vcpu.hpp"
#include "vmx/vmcs.hpp"

namespace hv {

enum class Exit_action : u8 {
  resume,       // re-enter the guest at the same RIP (the handler changed state as needed)
  advance_rip,  // the instruction was emulated: skip it, then re-enter
  stop,         // the vCPU stops; vcpu.stop says why
};

struct Exit_context {
  Vcpu& vcpu;
  Vmcs_access& vmcs;
  u32 reason;          // basic exit reason
  u64 qualification;   // EXIT_QUALIFICATION
};

using Exit_handler = Exit_action (*)(Exit_context&);

[[nodiscard]] Exit_action dispatch_exit(Vcpu& vcpu, Vmcs_access& vmcs);
// Writes a pending event (if any) into the VM-entry interruption fields. Before each entry.
void inject_pending_event(Vcpu& vcpu, Vmcs_access& vmcs);
// Stops the vCPU with `kind` and logs why, with the guest's registers.
Exit_action stop_vcpu(Exit_context& ctx, Vcpu_stop_kind kind, u64 value, u64 address = 0);
// Raises a hardware exception in the guest, merged with an event the exit interrupted by the
// SDM's double-fault rules (plan_event_delivery): #DF, or a triple fault that stops the vCPU.
Exit_action raise_exception(Exit_context& ctx, const Vmx_event& exception);
// Logs the guest's registers and the last exit (subsystem "vm").
void log_vcpu_state(const Vcpu& vcpu, Vmcs_access& vmcs);
// Logs one line of exit counts, largest first ("exits: 1234 total: IO_INSTRUCTION 900, ...").
void log_exit_stats(const Vcpu& vcpu);

// XCR0 rules of XSETBV (vmx/exit_xsetbv.cpp).
[[nodiscard]] bool xcr0_valid(u64 value, u64 supported);

// Handlers (one small unit each; see vmx/exit_*.cpp).
Exit_action handle_cpuid(Exit_context& ctx);
Exit_action handle_hlt(Exit_context& ctx);
Exit_action handle_interrupt_window(Exit_context& ctx);
Exit_action handle_io(Exit_context& ctx);
Exit_action handle_vmcall(Exit_context& ctx);
Exit_action handle_ept_violation(Exit_context& ctx);
Exit_action handle_ept_misconfiguration(Exit_context& ctx);
// The access at `gpa` (in an emulated-MMIO slot) by the instruction at the guest's RIP, emulated
// on the VM's Mmio_bus; RIP advanced. Stops the vCPU (unsupported, bytes logged) if it cannot.
Exit_action emulate_mmio_access(Exit_context& ctx, u64 gpa);
Exit_action handle_cr_access(Exit_context& ctx);
Exit_action handle_rdmsr(Exit_context& ctx);
Exit_action handle_wrmsr(Exit_context& ctx);
Exit_action handle_xsetbv(Exit_context& ctx);
Exit_action handle_cache_flush(Exit_context& ctx);         // INVD, WBINVD
Exit_action handle_external_interrupt(Exit_context& ctx);
Exit_action handle_triple_fault(Exit_context& ctx);
Exit_action handle_init_signal(Exit_context& ctx);
Exit_action handle_sipi(Exit_context& ctx);
Exit_action handle_vmx_instruction(Exit_context& ctx);     // VMX hidden from guests: #UD
Exit_action handle_entry_failure(Exit_context& ctx);
Exit_action handle_preemption_timer(Exit_context& ctx);
Exit_action handle_exception_or_nmi(Exit_context& ctx);    // shadow paging's #PF
Exit_action handle_invlpg(Exit_context& ctx);              // shadow paging

} // namespace hv
