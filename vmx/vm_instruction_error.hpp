// vmx/vm_instruction_error.hpp - how a VMX instruction failed: VMfailInvalid / VMfailValid from
// RFLAGS (SDM Vol. 3C 31.2 "Conventions") and the VM-instruction error numbers of VMfailValid
// (SDM Vol. 3C 31.4, table "VM-Instruction Error Numbers"). Both builds.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

enum class Vmx_instruction_status : u8 {
  succeed,       // CF = 0, ZF = 0
  fail_invalid,  // CF = 1: there is no current VMCS to hold an error number
  fail_valid,    // ZF = 1: the error number is in the VMCS field VM_INSTRUCTION_ERROR
};

// Decodes RFLAGS as a VMX instruction left it (CF is bit 0, ZF bit 6). CF wins if both are set,
// which real hardware never does.
[[nodiscard]] constexpr Vmx_instruction_status vmx_instruction_status(u64 rflags) {
  if (rflags & (1ull << 0)) return Vmx_instruction_status::fail_invalid;
  if (rflags & (1ull << 6)) return Vmx_instruction_status::fail_valid;
  return Vmx_instruction_status::succeed;
}

[[nodiscard]] const char* vmx_instruction_status_name(Vmx_instruction_status status);

// VM-instruction error numbers, named after table 31-1.
namespace vm_instruction_error {
inline constexpr u32 VMCALL_IN_VMX_ROOT = 1;
inline constexpr u32 VMCLEAR_INVALID_ADDRESS = 2;
inline constexpr u32 VMCLEAR_VMXON_POINTER = 3;
inline constexpr u32 VMLAUNCH_NON_CLEAR_VMCS = 4;
inline constexpr u32 VMRESUME_NON_LAUNCHED_VMCS = 5;
inline constexpr u32 VMRESUME_AFTER_VMXOFF = 6;
inline constexpr u32 ENTRY_INVALID_CONTROL_FIELDS = 7;
inline constexpr u32 ENTRY_INVALID_HOST_STATE_FIELDS = 8;
inline constexpr u32 VMPTRLD_INVALID_ADDRESS = 9;
inline constexpr u32 VMPTRLD_VMXON_POINTER = 10;
inline constexpr u32 VMPTRLD_INCORRECT_REVISION = 11;
inline constexpr u32 VMREAD_VMWRITE_UNSUPPORTED_COMPONENT = 12;
inline constexpr u32 VMWRITE_READ_ONLY_COMPONENT = 13;
inline constexpr u32 VMXON_IN_VMX_ROOT = 15;
inline constexpr u32 ENTRY_INVALID_EXECUTIVE_VMCS_POINTER = 16;
inline constexpr u32 ENTRY_NON_LAUNCHED_EXECUTIVE_VMCS = 17;
inline constexpr u32 ENTRY_EXECUTIVE_VMCS_NOT_VMXON_POINTER = 18;
inline constexpr u32 VMCALL_NON_CLEAR_VMCS = 19;
inline constexpr u32 VMCALL_INVALID_EXIT_CONTROLS = 20;
inline constexpr u32 VMCALL_INCORRECT_MSEG_REVISION = 22;
inline constexpr u32 VMXOFF_UNDER_DUAL_MONITOR = 23;
inline constexpr u32 VMCALL_INVALID_SMM_MONITOR_FEATURES = 24;
inline constexpr u32 ENTRY_INVALID_EXECUTIVE_CONTROLS = 25;
inline constexpr u32 ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26;
inline constexpr u32 INVALID_INVEPT_INVVPID_OPERAND = 28;
} // namespace vm_instruction_error

// The SDM's description of error `number`, e.g. "VMLAUNCH with non-clear VMCS";
// "unknown VM-instruction error" for numbers the table does not define (0, 14, 21, 27, > 28).
[[nodiscard]] const char* vm_instruction_error_message(u32 number);

} // namespace hv
