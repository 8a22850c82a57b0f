// vmx/vm_instruction_error.cpp - messages for VMX instruction failures (SDM Vol. 3C 31.4).
// Both builds.
#include "vmx/vm_instruction_error.hpp"

namespace hv {

const char* vmx_instruction_status_name(Vmx_instruction_status status) {
  switch (status) {
  case Vmx_instruction_status::succeed: return "VMsucceed";
  case Vmx_instruction_status::fail_invalid: return "VMfailInvalid";
  case Vmx_instruction_status::fail_valid: return "VMfailValid";
  }
  return "?";
}

const char* vm_instruction_error_message(u32 number) {
  namespace e = vm_instruction_error;
  switch (number) {
  case e::VMCALL_IN_VMX_ROOT: return "VMCALL executed in VMX root operation";
  case e::VMCLEAR_INVALID_ADDRESS: return "VMCLEAR with invalid physical address";
  case e::VMCLEAR_VMXON_POINTER: return "VMCLEAR with VMXON pointer";
  case e::VMLAUNCH_NON_CLEAR_VMCS: return "VMLAUNCH with non-clear VMCS";
  case e::VMRESUME_NON_LAUNCHED_VMCS: return "VMRESUME with non-launched VMCS";
  case e::VMRESUME_AFTER_VMXOFF: return "VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)";
  case e::ENTRY_INVALID_CONTROL_FIELDS: return "VM entry with invalid control field(s)";
  case e::ENTRY_INVALID_HOST_STATE_FIELDS: return "VM entry with invalid host-state field(s)";
  case e::VMPTRLD_INVALID_ADDRESS: return "VMPTRLD with invalid physical address";
  case e::VMPTRLD_VMXON_POINTER: return "VMPTRLD with VMXON pointer";
  case e::VMPTRLD_INCORRECT_REVISION: return "VMPTRLD with incorrect VMCS revision identifier";
  case e::VMREAD_VMWRITE_UNSUPPORTED_COMPONENT: return "VMREAD/VMWRITE from/to unsupported VMCS component";
  case e::VMWRITE_READ_ONLY_COMPONENT: return "VMWRITE to read-only VMCS component";
  case e::VMXON_IN_VMX_ROOT: return "VMXON executed in VMX root operation";
  case e::ENTRY_INVALID_EXECUTIVE_VMCS_POINTER: return "VM entry with invalid executive-VMCS pointer";
  case e::ENTRY_NON_LAUNCHED_EXECUTIVE_VMCS: return "VM entry with non-launched executive VMCS";
  case e::ENTRY_EXECUTIVE_VMCS_NOT_VMXON_POINTER:
    return "VM entry with executive-VMCS pointer not VMXON pointer";
  case e::VMCALL_NON_CLEAR_VMCS: return "VMCALL with non-clear VMCS";
  case e::VMCALL_INVALID_EXIT_CONTROLS: return "VMCALL with invalid VM-exit control fields";
  case e::VMCALL_INCORRECT_MSEG_REVISION: return "VMCALL with incorrect MSEG revision identifier";
  case e::VMXOFF_UNDER_DUAL_MONITOR: return "VMXOFF under dual-monitor treatment of SMIs and SMM";
  case e::VMCALL_INVALID_SMM_MONITOR_FEATURES: return "VMCALL with invalid SMM-monitor features";
  case e::ENTRY_INVALID_EXECUTIVE_CONTROLS:
    return "VM entry with invalid VM-execution control fields in executive VMCS";
  case e::ENTRY_EVENTS_BLOCKED_BY_MOV_SS: return "VM entry with events blocked by MOV SS";
  case e::INVALID_INVEPT_INVVPID_OPERAND: return "invalid operand to INVEPT/INVVPID";
  }
  return "unknown VM-instruction error";
}

} // namespace hv
