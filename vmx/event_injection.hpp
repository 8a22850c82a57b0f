// vmx/event_injection.hpp - events the hypervisor delivers to a guest on VM entry (SDM Vol. 3C
// 27.6 "Event Injection"), re-injection of an event an exit interrupted (SDM Vol. 3C 28.2.4
// "Information for VM Exits During Event Delivery"), and what happens when an exception meets
// an event still being delivered (SDM Vol. 3A 6.15, table 6-5 "Conditions for Generating a
// Double Fault"). Both builds; pure. Writing the result into the VMCS is the caller's:
//   event.info.raw           -> VM_ENTRY_INTR_INFO_FIELD
//   event.error_code         -> VM_ENTRY_EXCEPTION_ERROR_CODE   (if info.error_code_valid())
//   event.instruction_length -> VM_ENTRY_INSTRUCTION_LEN        (software interrupts/exceptions)
#pragma once
#include "arch/x86/vmx_interruption.hpp"
#include <optional>

namespace hv {

struct Vmx_event {
  Interruption_info info;
  u32 error_code = 0;
  u32 instruction_length = 0;
  constexpr bool operator==(const Vmx_event&) const = default;
};

// Whether a hardware exception pushes an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP.
[[nodiscard]] bool exception_has_error_code(u8 vector);

// Builders. Misuse is a hypervisor bug and panics: an error code for a vector that has none (or
// none for one that has), a vector above 31 or NMI's vector 2 as an exception, an instruction
// length outside 1..15.
[[nodiscard]] Vmx_event hardware_exception(u8 vector);
[[nodiscard]] Vmx_event hardware_exception(u8 vector, u32 error_code);
[[nodiscard]] Vmx_event nmi_event();
[[nodiscard]] Vmx_event external_interrupt(u8 vector);
// INT n; the length of the INT instruction, as RIP is advanced past it on delivery.
[[nodiscard]] Vmx_event software_interrupt(u8 vector, u32 instruction_length);
// INT3 (#BP) or INTO (#OF).
[[nodiscard]] Vmx_event software_exception(u8 vector, u32 instruction_length);
// INT1 / ICEBP (#DB).
[[nodiscard]] Vmx_event privileged_software_exception(u32 instruction_length);

// Why VM entry would reject `event` (SDM Vol. 3C 27.2.1.3, event-injection checks), or nullptr.
// `guest_protected_mode` is the guest's CR0.PE: in real mode (unrestricted guest) no error code
// may be delivered. Other events (type 7) are refused: hv never injects pending MTF exits.
[[nodiscard]] const char* entry_event_problem(const Vmx_event& event, bool guest_protected_mode);

// The event whose delivery the exit interrupted, from IDT_VECTORING_INFO_FIELD,
// IDT_VECTORING_ERROR_CODE and VM_EXIT_INSTRUCTION_LEN; nullopt if none (valid bit clear).
// It must be delivered again on the next VM entry unless something replaces it (see below).
[[nodiscard]] std::optional<Vmx_event> interrupted_event(u32 idt_vectoring_info, u32 idt_vectoring_error_code,
                                                         u32 exit_instruction_length);

// Table 6-4 classes. NMI, INT n and external interrupts count as benign.
enum class Exception_class : u8 { benign, contributory, page_fault, double_fault };
[[nodiscard]] Exception_class exception_class(u8 vector);
[[nodiscard]] Exception_class event_class(const Vmx_event& event);

struct Event_plan {
  enum class Action : u8 {
    none,          // nothing to deliver
    inject,        // deliver `event` on the next VM entry
    triple_fault,  // the guest shuts down: an exception hit the delivery of #DF
  };
  Action action = Action::none;
  Vmx_event event;
  // An interrupted external interrupt or NMI the guest is still owed: deliver it on a later entry
  // (after `event`), so the exception does not lose it.
  std::optional<Vmx_event> deferred;
};

// What the next VM entry delivers, given the event an exit interrupted (interrupted_event) and an
// exception the exit's handler raises (a hardware exception; panics otherwise). The rules:
//   - only one of them: that one;
//   - the interrupted event was INT n, INT3/INTO or INT1: the raised exception (the instruction
//     runs again once the exception is handled, and raises its event again);
//   - it was an external interrupt or an NMI: the raised exception, the interrupted one deferred;
//   - it was a hardware exception: table 6-5 - contributory then contributory, or page fault then
//     contributory or page fault, gives #DF(0); anything but a benign exception after #DF is a
//     triple fault; otherwise the raised exception replaces the interrupted one (a fault recurs
//     when the instruction runs again).
[[nodiscard]] Event_plan plan_event_delivery(const std::optional<Vmx_event>& interrupted,
                                             const std::optional<Vmx_event>& raised);

[[nodiscard]] const char* interruption_type_name(Interruption_type type);
// "#GP", "#PF", ...; "NMI" for 2; "reserved" for the reserved vectors below 32; "interrupt" above.
[[nodiscard]] const char* exception_vector_name(u8 vector);

} // namespace hv
