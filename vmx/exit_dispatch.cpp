// vmx/exit_dispatch.cpp - the exit dispatcher (a direct path for the frequent instruction exits,
// the table for the rest), re-injection of interrupted events, stopping a vCPU with a register
// dump, and exit statistics. Both builds.
#include "arch/x86/vmcs_fields.hpp"
#include "arch/x86/vmx_interruption.hpp"
#include "lib/log.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/exit_reason_names.hpp"
#include <array>

namespace hv {
namespace {

constexpr std::array<Exit_handler, exit_reason::COUNT> make_table() {
  std::array<Exit_handler, exit_reason::COUNT> t{};
  using namespace exit_reason;
  t[EXCEPTION_OR_NMI] = handle_exception_or_nmi;
  t[EXTERNAL_INTERRUPT] = handle_external_interrupt;
  t[INVLPG] = handle_invlpg;
  t[TRIPLE_FAULT] = handle_triple_fault;
  t[INIT_SIGNAL] = handle_init_signal;
  t[SIPI] = handle_sipi;
  t[CPUID] = handle_cpuid;
  t[HLT] = handle_hlt;
  t[INTERRUPT_WINDOW] = handle_interrupt_window;
  t[INVD] = handle_cache_flush;
  t[WBINVD_OR_WBNOINVD] = handle_cache_flush;
  t[VMCALL] = handle_vmcall;
  for (u32 r : {VMCLEAR, VMLAUNCH, VMPTRLD, VMPTRST, VMREAD, VMRESUME, VMWRITE, VMXOFF, VMXON, INVEPT, INVVPID, VMFUNC, GETSEC})
    t[r] = handle_vmx_instruction;
  t[CR_ACCESS] = handle_cr_access;
  t[IO_INSTRUCTION] = handle_io;
  t[RDMSR] = handle_rdmsr;
  t[WRMSR] = handle_wrmsr;
  t[ENTRY_FAILURE_INVALID_GUEST_STATE] = handle_entry_failure;
  t[ENTRY_FAILURE_MSR_LOADING] = handle_entry_failure;
  t[ENTRY_FAILURE_MACHINE_CHECK] = handle_entry_failure;
  t[EPT_VIOLATION] = handle_ept_violation;
  t[EPT_MISCONFIGURATION] = handle_ept_misconfiguration;
  t[XSETBV] = handle_xsetbv;
  t[VMX_PREEMPTION_TIMER_EXPIRED] = handle_preemption_timer;
  return t;
}
constexpr std::array<Exit_handler, exit_reason::COUNT> exit_table = make_table();

// Exits caused by executing an instruction: no event was being delivered (SDM Vol. 3C 28.2.4),
// so IDT-vectoring information is not valid and need not be read.
constexpr u64 reason_bit(u32 r) { return u64{1} << r; }
constexpr u64 instruction_exits =
    reason_bit(exit_reason::CPUID) | reason_bit(exit_reason::HLT) | reason_bit(exit_reason::INVD) |
    reason_bit(exit_reason::VMCALL) | reason_bit(exit_reason::IO_INSTRUCTION) | reason_bit(exit_reason::RDMSR) |
    reason_bit(exit_reason::WRMSR) | reason_bit(exit_reason::XSETBV) | reason_bit(exit_reason::CR_ACCESS) |
    reason_bit(exit_reason::WBINVD_OR_WBNOINVD) | reason_bit(exit_reason::VMXON) | reason_bit(exit_reason::VMCLEAR);
// Exits whose exit qualification is defined (SDM Vol. 3C 28.2.1); for the rest it is not read.
constexpr u64 qualified_exits =
    reason_bit(exit_reason::EXCEPTION_OR_NMI) | reason_bit(exit_reason::INIT_SIGNAL) | reason_bit(exit_reason::SIPI) |
    reason_bit(exit_reason::TASK_SWITCH) | reason_bit(exit_reason::INVLPG) | reason_bit(exit_reason::CR_ACCESS) |
    reason_bit(exit_reason::MOV_DR) | reason_bit(exit_reason::IO_INSTRUCTION) |
    reason_bit(exit_reason::ENTRY_FAILURE_INVALID_GUEST_STATE) | reason_bit(exit_reason::ENTRY_FAILURE_MSR_LOADING) |
    reason_bit(exit_reason::APIC_ACCESS) | reason_bit(exit_reason::GDTR_IDTR_ACCESS) |
    reason_bit(exit_reason::LDTR_TR_ACCESS) | reason_bit(exit_reason::EPT_VIOLATION) |
    reason_bit(exit_reason::EPT_MISCONFIGURATION) | reason_bit(exit_reason::INVEPT) | reason_bit(exit_reason::INVVPID) |
    reason_bit(exit_reason::VMCLEAR) | reason_bit(exit_reason::VMPTRLD) | reason_bit(exit_reason::VMPTRST) |
    reason_bit(exit_reason::VMREAD) | reason_bit(exit_reason::VMWRITE) | reason_bit(exit_reason::VMXON);
static_assert(exit_reason::COUNT <= 128 && exit_reason::EPT_MISCONFIGURATION < 64 && exit_reason::XSETBV < 64);

// Inline on every path: four of the five VMCS accesses of a CPUID exit are here.
[[gnu::always_inline]] inline void advance_rip(Vmcs_access& vmcs) {
  // The length is read, not assumed: prefixes make even CPUID or VMCALL longer than usual.
  vmcs.write(vmcs::GUEST_RIP, vmcs.read(vmcs::GUEST_RIP) + vmcs.read(vmcs::VM_EXIT_INSTRUCTION_LEN));
  // An emulated instruction ends blocking by STI / MOV SS, as executing it would have. Whether
  // such blocking is in force (the exiting instruction followed STI, MOV SS or POP SS) shows
  // nowhere else in the exit information, so the field is read each time and written only when
  // a bit must go (guest interruptibility state, SDM Vol. 3C 25.4.2).
  const u64 interruptibility = vmcs.read(vmcs::GUEST_INTERRUPTIBILITY_INFO);
  if (interruptibility & 3) vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, interruptibility & ~3ull);
}

// Every exit but the frequent ones of dispatch_exit: the statistics by reason, an event the exit
// interrupted, the exit qualification where one is defined, then the handler from the table.
// Out of line, so that the frequent exits do not pay for its stack frame.
[[gnu::noinline]] Exit_action dispatch_general(Vcpu& vcpu, Vmcs_access& vmcs, u64 reason_field) {
  const u32 reason = static_cast<u32>(reason_field & 0xFFFF);
  if (reason < exit_reason::COUNT) ++vcpu.stats.count[reason];
  else ++vcpu.stats.other;

  const u64 bit = reason < 64 ? reason_bit(reason) : 0;
  // An event being delivered when the exit happened must be delivered again (SDM 28.2.4).
  const u32 idt_info = (bit & instruction_exits) ? 0 : static_cast<u32>(vmcs.read(vmcs::IDT_VECTORING_INFO_FIELD));
  if (idt_info & (1u << 31)) {
    vcpu.pending_event = interrupted_event(idt_info, static_cast<u32>(vmcs.read(vmcs::IDT_VECTORING_ERROR_CODE)),
                                           static_cast<u32>(vmcs.read(vmcs::VM_EXIT_INSTRUCTION_LEN)));
  }

  const bool qualified = (bit & qualified_exits) || reason >= 64 || (reason_field & (1u << 31));
  Exit_context ctx{vcpu, vmcs, reason, qualified ? vmcs.read(vmcs::EXIT_QUALIFICATION) : 0};
  if (reason_field & (1u << 31)) return handle_entry_failure(ctx);
  const Exit_handler handler = reason < exit_reason::COUNT ? exit_table[reason] : nullptr;
  if (!handler) return stop_vcpu(ctx, Vcpu_stop_kind::unhandled_exit, reason);
  const Exit_action action = handler(ctx);
  if (action == Exit_action::advance_rip) advance_rip(vmcs);
  return action;
}

// A frequent exit caused by an instruction (so no event was being delivered, SDM 28.2.4): the
// handler is called directly, not through the table.
inline Exit_action emulate(Exit_handler handler, Vcpu& vcpu, Vmcs_access& vmcs, u32 reason, u64 qualification) {
  ++vcpu.stats.count[reason];
  Exit_context ctx{vcpu, vmcs, reason, qualification};
  const Exit_action action = handler(ctx);
  if (action == Exit_action::advance_rip) advance_rip(vmcs);
  return action;
}

} // namespace

const char* vcpu_stop_kind_name(Vcpu_stop_kind kind) {
  switch (kind) {
  case Vcpu_stop_kind::none: return "running";
  case Vcpu_stop_kind::exit_status: return "exit";
  case Vcpu_stop_kind::halted: return "halted";
  case Vcpu_stop_kind::triple_fault: return "triple-fault";
  case Vcpu_stop_kind::ept_outside_slot: return "ept-outside-slot";
  case Vcpu_stop_kind::out_of_memory: return "out-of-memory";
  case Vcpu_stop_kind::unhandled_exit: return "unhandled-exit";
  case Vcpu_stop_kind::entry_failure: return "entry-failure";
  case Vcpu_stop_kind::init_signal: return "init-signal";
  case Vcpu_stop_kind::unsupported: return "unsupported";
  case Vcpu_stop_kind::requested: return "requested";
  case Vcpu_stop_kind::not_started: return "not-started";
  case Vcpu_stop_kind::powered_off: return "powered-off";
  case Vcpu_stop_kind::reset: return "reset";
  }
  return "?";
}

Exit_action dispatch_exit(Vcpu& vcpu, Vmcs_access& vmcs) {
  const u64 reason_field = vmcs.read(vmcs::VM_EXIT_REASON);
  vcpu.last_exit_reason = static_cast<u32>(reason_field & 0xFFFF);
  ++vcpu.stats.total;
  // Frequent instruction exits (a guest's CPUID, hypercalls and port I/O, the three measured in
  // docs/performance.md) go straight to their handlers: no IDT-vectoring read, no table. The
  // switch is on all 32 bits: a reason with a flag bit set (a failed entry, a pending MTF exit,
  // ...) is none of these cases and takes the general path.
  switch (static_cast<u32>(reason_field)) {
  case exit_reason::CPUID: return emulate(handle_cpuid, vcpu, vmcs, exit_reason::CPUID, 0);
  case exit_reason::VMCALL: return emulate(handle_vmcall, vcpu, vmcs, exit_reason::VMCALL, 0);
  case exit_reason::IO_INSTRUCTION:
    return emulate(handle_io, vcpu, vmcs, exit_reason::IO_INSTRUCTION, vmcs.read(vmcs::EXIT_QUALIFICATION));
  default: return dispatch_general(vcpu, vmcs, reason_field);
  }
}

void inject_pending_event(Vcpu& vcpu, Vmcs_access& vmcs) {
  if (!vcpu.pending_event) return;
  const Vmx_event& e = *vcpu.pending_event;
  vmcs.write(vmcs::VM_ENTRY_INTR_INFO_FIELD, e.info.raw);
  if (e.info.error_code_valid()) vmcs.write(vmcs::VM_ENTRY_EXCEPTION_ERROR_CODE, e.error_code);
  vmcs.write(vmcs::VM_ENTRY_INSTRUCTION_LEN, e.instruction_length);
  vcpu.pending_event.reset();
  vcpu.halted = false;  // an event wakes a halted vCPU
}

Exit_action raise_exception(Exit_context& ctx, const Vmx_event& exception) {
  const Event_plan plan = plan_event_delivery(ctx.vcpu.pending_event, exception);
  if (plan.action == Event_plan::Action::triple_fault) return stop_vcpu(ctx, Vcpu_stop_kind::triple_fault, exception.info.vector());
  ctx.vcpu.pending_event = plan.event;
  if (plan.deferred) ctx.vcpu.deferred_event = plan.deferred;
  return Exit_action::resume;
}

Exit_action stop_vcpu(Exit_context& ctx, Vcpu_stop_kind kind, u64 value, u64 address) {
  ctx.vcpu.stop = Vcpu_stop{kind, value, address};
  // A stop the guest or the host asked for is not an error: no register dump.
  if (kind != Vcpu_stop_kind::exit_status && kind != Vcpu_stop_kind::requested &&
      kind != Vcpu_stop_kind::powered_off && kind != Vcpu_stop_kind::reset) {
    log_error("vm", "{}: stopped: {} (exit {} {}, qualification {:#x}, value {:#x}, address {:#x})", ctx.vcpu.vm_name,
              vcpu_stop_kind_name(kind), ctx.reason, exit_reason_name(ctx.reason), ctx.qualification, value, address);
    log_vcpu_state(ctx.vcpu, ctx.vmcs);
  }
  return Exit_action::stop;
}

void log_vcpu_state(const Vcpu& vcpu, Vmcs_access& v) {
  const Guest_registers& r = vcpu.regs;
  const char* n = vcpu.vm_name;
  log_error("vm", "{}: rip={:016x} rsp={:016x} rflags={:016x} cs={:#x} ss={:#x}", n, v.read(vmcs::GUEST_RIP),
            v.read(vmcs::GUEST_RSP), v.read(vmcs::GUEST_RFLAGS), v.read(vmcs::GUEST_CS_SELECTOR),
            v.read(vmcs::GUEST_SS_SELECTOR));
  log_error("vm", "{}: cr0={:016x} cr3={:016x} cr4={:016x} efer={:016x}", n, v.read(vmcs::CR0_READ_SHADOW),
            v.read(vmcs::GUEST_CR3), v.read(vmcs::CR4_READ_SHADOW), v.read(vmcs::GUEST_IA32_EFER));
  log_error("vm", "{}: rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}", n, r.rax, r.rbx, r.rcx, r.rdx);
  log_error("vm", "{}: rsi={:016x} rdi={:016x} rbp={:016x} r8 ={:016x}", n, r.rsi, r.rdi, r.rbp, r.r8);
  log_error("vm", "{}: r9 ={:016x} r10={:016x} r11={:016x} r12={:016x}", n, r.r9, r.r10, r.r11, r.r12);
  log_error("vm", "{}: r13={:016x} r14={:016x} r15={:016x} gpa={:#x} gla={:#x}", n, r.r13, r.r14, r.r15,
            v.read(vmcs::GUEST_PHYSICAL_ADDRESS), v.read(vmcs::GUEST_LINEAR_ADDRESS));
}

void log_exit_stats(const Vcpu& vcpu) {
  // The five most frequent reasons, then the rest summed: one line, stable format.
  Fixed_text<log_line_capacity> line;
  format_to(line, "{}: exits {}:", vcpu.vm_name, vcpu.stats.total);
  bool taken[exit_reason::COUNT] = {};
  u64 shown = 0;
  for (int k = 0; k < 6; ++k) {
    u32 best = exit_reason::COUNT;
    for (u32 r = 0; r < exit_reason::COUNT; ++r) {
      if (!taken[r] && vcpu.stats.count[r] && (best == exit_reason::COUNT || vcpu.stats.count[r] > vcpu.stats.count[best])) best = r;
    }
    if (best == exit_reason::COUNT) break;
    taken[best] = true;
    shown += vcpu.stats.count[best];
    format_to(line, " {} {}", exit_reason_name(best), vcpu.stats.count[best]);
  }
  if (vcpu.stats.total > shown) format_to(line, " other {}", vcpu.stats.total - shown);
  log_info("vm", "{}", line.view());
}

} // namespace hv
