// vmx/event_injection.cpp - building, re-injecting and combining guest events. Both builds.
#include "vmx/event_injection.hpp"
#include "lib/panic.hpp"

namespace hv {
namespace {

namespace v = exception_vector;

constexpr bool is_software_event(Interruption_type type) {
  return type == Interruption_type::software_interrupt || type == Interruption_type::software_exception ||
         type == Interruption_type::privileged_software_exception;
}

constexpr bool valid_instruction_length(u32 length) { return length >= 1 && length <= 15; }

Vmx_event double_fault() { return {Interruption_info::make(v::DF, Interruption_type::hardware_exception, true), 0, 0}; }

} // namespace

bool exception_has_error_code(u8 vector) {
  switch (vector) {
  case v::DF: case v::TS: case v::NP: case v::SS: case v::GP: case v::PF: case v::AC: case v::CP: return true;
  }
  return false;
}

Vmx_event hardware_exception(u8 vector) {
  HV_ASSERT(vector < 32 && vector != v::NMI && !exception_has_error_code(vector));
  return {Interruption_info::make(vector, Interruption_type::hardware_exception, false), 0, 0};
}

Vmx_event hardware_exception(u8 vector, u32 error_code) {
  HV_ASSERT(vector < 32 && exception_has_error_code(vector));
  return {Interruption_info::make(vector, Interruption_type::hardware_exception, true), error_code, 0};
}

Vmx_event nmi_event() { return {Interruption_info::make(v::NMI, Interruption_type::nmi, false), 0, 0}; }

Vmx_event external_interrupt(u8 vector) {
  return {Interruption_info::make(vector, Interruption_type::external_interrupt, false), 0, 0};
}

Vmx_event software_interrupt(u8 vector, u32 instruction_length) {
  HV_ASSERT(valid_instruction_length(instruction_length));
  return {Interruption_info::make(vector, Interruption_type::software_interrupt, false), 0, instruction_length};
}

Vmx_event software_exception(u8 vector, u32 instruction_length) {
  HV_ASSERT((vector == v::BP || vector == v::OF) && valid_instruction_length(instruction_length));
  return {Interruption_info::make(vector, Interruption_type::software_exception, false), 0, instruction_length};
}

Vmx_event privileged_software_exception(u32 instruction_length) {
  HV_ASSERT(valid_instruction_length(instruction_length));
  return {Interruption_info::make(v::DB, Interruption_type::privileged_software_exception, false), 0,
          instruction_length};
}

const char* entry_event_problem(const Vmx_event& e, bool guest_protected_mode) {
  const Interruption_info i = e.info;
  if (!i.valid()) return nullptr;  // nothing is injected
  if (i.raw & Interruption_info::RESERVED_ON_ENTRY) return "reserved bits 30:12 of the interruption information are set";
  const u32 type = static_cast<u32>(i.type());
  if (type == 1) return "interruption type 1 is reserved";
  if (i.type() == Interruption_type::other_event) return "interruption type 'other event' (pending MTF) is not used by hv";
  if (i.type() == Interruption_type::nmi && i.vector() != v::NMI) return "an NMI must have vector 2";
  if (i.type() == Interruption_type::hardware_exception && i.vector() > 31) return "a hardware exception needs a vector below 32";
  const bool error_code_expected =
      guest_protected_mode && i.type() == Interruption_type::hardware_exception && exception_has_error_code(i.vector());
  if (i.error_code_valid() && !error_code_expected) {
    return guest_protected_mode ? "an error code is delivered for an event that has none"
                                : "no error code may be delivered to a guest in real mode";
  }
  if (!i.error_code_valid() && error_code_expected) return "this exception needs its error code delivered";
  if (i.error_code_valid() && (e.error_code >> 16) != 0) return "bits 31:16 of the error code must be 0";
  if (is_software_event(i.type()) && !valid_instruction_length(e.instruction_length)) {
    return "a software interrupt or exception needs an instruction length of 1..15";
  }
  return nullptr;
}

std::optional<Vmx_event> interrupted_event(u32 idt_vectoring_info, u32 idt_vectoring_error_code,
                                           u32 exit_instruction_length) {
  const Interruption_info vectoring{idt_vectoring_info};
  if (!vectoring.valid()) return std::nullopt;
  // Bit 12 is undefined here and the other bits of 30:12 are reserved on VM entry.
  Vmx_event e;
  e.info.raw = idt_vectoring_info & ~Interruption_info::RESERVED_ON_ENTRY;
  if (vectoring.error_code_valid()) e.error_code = idt_vectoring_error_code;
  // For a software event, VM_EXIT_INSTRUCTION_LEN holds the length of the INT instruction.
  if (is_software_event(vectoring.type())) e.instruction_length = exit_instruction_length;
  return e;
}

Exception_class exception_class(u8 vector) {
  switch (vector) {
  case v::DE: case v::TS: case v::NP: case v::SS: case v::GP: case v::CP: return Exception_class::contributory;
  case v::PF: case v::VE: return Exception_class::page_fault;
  case v::DF: return Exception_class::double_fault;
  }
  return Exception_class::benign;
}

Exception_class event_class(const Vmx_event& e) {
  if (e.info.type() != Interruption_type::hardware_exception) return Exception_class::benign;
  return exception_class(e.info.vector());
}

Event_plan plan_event_delivery(const std::optional<Vmx_event>& interrupted, const std::optional<Vmx_event>& raised) {
  Event_plan plan;
  if (!interrupted && !raised) return plan;
  plan.action = Event_plan::Action::inject;
  if (!raised) {
    plan.event = *interrupted;
    return plan;
  }
  HV_ASSERT(raised->info.valid() && raised->info.type() == Interruption_type::hardware_exception);
  plan.event = *raised;
  if (!interrupted) return plan;

  switch (interrupted->info.type()) {
  case Interruption_type::external_interrupt:
  case Interruption_type::nmi:
  case Interruption_type::other_event:
    plan.deferred = *interrupted;
    return plan;
  case Interruption_type::software_interrupt:
  case Interruption_type::software_exception:
  case Interruption_type::privileged_software_exception:
    return plan;
  case Interruption_type::hardware_exception:
    break;
  }
  const Exception_class first = event_class(*interrupted);
  const Exception_class second = event_class(*raised);
  if (first == Exception_class::double_fault && second != Exception_class::benign) {
    plan.action = Event_plan::Action::triple_fault;
    plan.event = {};
    return plan;
  }
  const bool double_fault_needed =
      (first == Exception_class::contributory && second == Exception_class::contributory) ||
      (first == Exception_class::page_fault &&
       (second == Exception_class::contributory || second == Exception_class::page_fault));
  if (double_fault_needed) plan.event = double_fault();
  return plan;
}

const char* interruption_type_name(Interruption_type type) {
  switch (type) {
  case Interruption_type::external_interrupt: return "external interrupt";
  case Interruption_type::nmi: return "NMI";
  case Interruption_type::hardware_exception: return "hardware exception";
  case Interruption_type::software_interrupt: return "software interrupt";
  case Interruption_type::privileged_software_exception: return "privileged software exception";
  case Interruption_type::software_exception: return "software exception";
  case Interruption_type::other_event: return "other event";
  }
  return "reserved";
}

const char* exception_vector_name(u8 vector) {
  static constexpr const char* names[32] = {
      "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "reserved", "#TS",
      "#NP", "#SS", "#GP", "#PF", "reserved", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
  if (vector >= 32) return "interrupt";
  return names[vector] != nullptr ? names[vector] : "reserved";
}

} // namespace hv
