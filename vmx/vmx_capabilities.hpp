// vmx/vmx_capabilities.hpp - what this CPU's VMX can do, read from CPUID and the VMX capability
// MSRs (SDM Vol. 3D, appendix A) and decoded into named features. Both builds.
// Reading is separate from decoding: read_vmx_capability_msrs() touches the hardware (only the
// MSRs whose existence CPUID and the other MSRs enumerate), decode_vmx_features() is pure and is
// what the unit tests feed with real CPUs' values.
#pragma once
#include "arch/x86/cpu_identity.hpp"
#include "arch/x86/vmx_controls.hpp"
#include <bit>

namespace hv {

// The raw values, as read. `has_*` says whether the MSR exists on this CPU.
struct Vmx_capability_msrs {
  u64 feature_control = 0;
  u64 basic = 0;
  u64 pinbased_ctls = 0;
  u64 procbased_ctls = 0;
  u64 exit_ctls = 0;
  u64 entry_ctls = 0;
  u64 misc = 0;
  u64 cr0_fixed0 = 0;
  u64 cr0_fixed1 = 0;
  u64 cr4_fixed0 = 0;
  u64 cr4_fixed1 = 0;
  u64 vmcs_enum = 0;
  u64 procbased_ctls2 = 0;
  u64 ept_vpid_cap = 0;
  u64 true_pinbased_ctls = 0;
  u64 true_procbased_ctls = 0;
  u64 true_exit_ctls = 0;
  u64 true_entry_ctls = 0;
  u64 vmfunc = 0;
  bool has_feature_control = false;
  bool has_vmx_msrs = false;       // IA32_VMX_BASIC .. IA32_VMX_VMCS_ENUM
  bool has_procbased_ctls2 = false;
  bool has_ept_vpid_cap = false;
  bool has_true_ctls = false;
  bool has_vmfunc = false;
};

// Bit numbers of the controls this file asks about, derived from the SDM-named masks in
// arch/x86/vmx_controls.hpp (one source of truth; vmx_control_allowed1 takes a bit number).
namespace vmx_ctl {
inline constexpr unsigned PIN_ACTIVATE_VMX_PREEMPTION_TIMER = std::countr_zero(pin_based_ctl::ACTIVATE_VMX_PREEMPTION_TIMER);
inline constexpr unsigned PROC_ACTIVATE_SECONDARY_CONTROLS = std::countr_zero(proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS);
inline constexpr unsigned PROC2_ENABLE_EPT = std::countr_zero(proc_based_ctl2::ENABLE_EPT);
inline constexpr unsigned PROC2_ENABLE_VPID = std::countr_zero(proc_based_ctl2::ENABLE_VPID);
inline constexpr unsigned PROC2_UNRESTRICTED_GUEST = std::countr_zero(proc_based_ctl2::UNRESTRICTED_GUEST);
inline constexpr unsigned PROC2_ENABLE_VM_FUNCTIONS = std::countr_zero(proc_based_ctl2::ENABLE_VM_FUNCTIONS);
inline constexpr unsigned PROC2_ENABLE_PML = std::countr_zero(proc_based_ctl2::ENABLE_PML);
static_assert(PROC2_ENABLE_EPT == 1 && PIN_ACTIVATE_VMX_PREEMPTION_TIMER == 6 && PROC_ACTIVATE_SECONDARY_CONTROLS == 31);
} // namespace vmx_ctl

enum class Vmx_status : u8 {
  usable,             // VMX with EPT: the hypervisor runs as designed
  usable_no_ept,      // VMX without EPT: guests would need shadow paging
  not_intel,          // another vendor's CPU (AMD-V is not supported)
  no_vmx,             // CPUID.1:ECX.VMX = 0
  locked_off,         // IA32_FEATURE_CONTROL locked with VMXON outside SMX disabled
  unsupported_vmcs,   // VMCS needs 32-bit physical addresses or an unknown memory type
};

struct Vmx_features {
  Vmx_status status = Vmx_status::no_vmx;
  bool vmx = false;
  bool feature_control_locked = false;
  bool vmxon_outside_smx = false;  // as the MSR says now; irrelevant while unlocked
  u32 vmcs_revision = 0;
  u32 vmcs_region_size = 0;
  u8 vmcs_memory_type = 0;         // 6 = write-back
  bool vmcs_32bit_addresses = false;
  bool ins_outs_info = false;
  bool true_controls = false;
  bool secondary_controls = false;
  bool ept = false;
  bool ept_4level = false;
  bool ept_5level = false;
  bool ept_wb = false;
  bool ept_uc = false;
  bool ept_2m = false;
  bool ept_1g = false;
  bool ept_accessed_dirty = false;
  bool ept_execute_only = false;
  bool invept = false;
  bool invept_single_context = false;
  bool invept_all_context = false;
  bool vpid = false;
  bool invvpid = false;
  bool invvpid_individual_address = false;
  bool invvpid_single_context = false;
  bool invvpid_all_context = false;
  bool invvpid_single_context_retaining_globals = false;
  bool unrestricted_guest = false;
  bool preemption_timer = false;
  u8 preemption_timer_rate = 0;     // the timer ticks when TSC bit `rate` changes
  bool activity_hlt = false;
  bool activity_shutdown = false;
  bool activity_wait_for_sipi = false;
  bool pml = false;
  bool vm_functions = false;
};

// May control `bit` of a 32-bit VMX control be 1? (allowed-1 settings: the MSR's high half)
[[nodiscard]] constexpr bool vmx_control_allowed1(u64 ctl_msr, unsigned bit) {
  return (ctl_msr >> 32) & (1ull << bit);
}
// Must control `bit` be 1? (allowed-0 settings: the MSR's low half)
[[nodiscard]] constexpr bool vmx_control_required1(u64 ctl_msr, unsigned bit) {
  return ctl_msr & (1ull << bit);
}

[[nodiscard]] Vmx_capability_msrs read_vmx_capability_msrs(Cpu_access& cpu, const Cpu_identity& id);
[[nodiscard]] Vmx_features decode_vmx_features(const Cpu_identity& id, const Vmx_capability_msrs& msrs);
[[nodiscard]] const char* vmx_status_name(Vmx_status status);
// One sentence that says what is missing and what the user can do (empty for `usable`).
[[nodiscard]] const char* vmx_status_advice(Vmx_status status);

// Logs the feature report (subsystems "cpu" and "vmx"), one topic a line.
void log_vmx_report(const Cpu_identity& id, const Vmx_capability_msrs& msrs, const Vmx_features& f);

} // namespace hv
