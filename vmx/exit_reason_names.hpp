// vmx/exit_reason_names.hpp - readable names of VM-exit reasons, for log lines, the register
// dump of a stopped VM and the per-VM exit statistics. Both builds.
#pragma once
#include "arch/x86/vmx_exit_reason.hpp"

namespace hv {

// The SDM's name of a basic exit reason (table C-1), e.g. "EPT violation", "control-register
// access". Numbers the SDM does not define (35, 38, 42, 71, >= exit_reason::COUNT) give "unknown".
[[nodiscard]] const char* exit_reason_name(u32 basic_reason);
// Whether the SDM defines this basic exit reason.
[[nodiscard]] bool exit_reason_is_defined(u32 basic_reason);

// What the exit qualification of a VM-entry failure says (basic reason
// ENTRY_FAILURE_INVALID_GUEST_STATE), e.g. "invalid VMCS link pointer".
[[nodiscard]] const char* entry_failure_qualification_name(u64 qualification);

} // namespace hv
