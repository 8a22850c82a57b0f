// arch/x86/vmx_controls.hpp - the bits of the five 32-bit VMX control fields, as masks named
// after the SDM's control names (SDM Vol. 3C 25.6.1, 25.6.2, 25.7.1, 25.8.1: tables
// "Definitions of Pin-Based / Primary Processor-Based / Secondary Processor-Based VM-Execution
// Controls", "Definitions of Primary VM-Exit Controls", "Definitions of VM-Entry Controls").
// Both builds. Which of them a CPU allows: vmx/vmcs_controls.hpp.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

namespace pin_based_ctl {  // PIN_BASED_VM_EXEC_CONTROL
inline constexpr u32 EXTERNAL_INTERRUPT_EXITING = 1u << 0;
inline constexpr u32 NMI_EXITING = 1u << 3;
inline constexpr u32 VIRTUAL_NMIS = 1u << 5;
inline constexpr u32 ACTIVATE_VMX_PREEMPTION_TIMER = 1u << 6;
inline constexpr u32 PROCESS_POSTED_INTERRUPTS = 1u << 7;
// Reserved bits that the first VMX processors required to be 1 (SDM Vol. 3D A.3.1).
inline constexpr u32 DEFAULT1 = 0x00000016;
} // namespace pin_based_ctl

namespace proc_based_ctl {  // CPU_BASED_VM_EXEC_CONTROL (primary processor-based)
inline constexpr u32 INTERRUPT_WINDOW_EXITING = 1u << 2;
inline constexpr u32 USE_TSC_OFFSETTING = 1u << 3;
inline constexpr u32 HLT_EXITING = 1u << 7;
inline constexpr u32 INVLPG_EXITING = 1u << 9;
inline constexpr u32 MWAIT_EXITING = 1u << 10;
inline constexpr u32 RDPMC_EXITING = 1u << 11;
inline constexpr u32 RDTSC_EXITING = 1u << 12;
inline constexpr u32 CR3_LOAD_EXITING = 1u << 15;
inline constexpr u32 CR3_STORE_EXITING = 1u << 16;
inline constexpr u32 ACTIVATE_TERTIARY_CONTROLS = 1u << 17;
inline constexpr u32 CR8_LOAD_EXITING = 1u << 19;
inline constexpr u32 CR8_STORE_EXITING = 1u << 20;
inline constexpr u32 USE_TPR_SHADOW = 1u << 21;
inline constexpr u32 NMI_WINDOW_EXITING = 1u << 22;
inline constexpr u32 MOV_DR_EXITING = 1u << 23;
inline constexpr u32 UNCONDITIONAL_IO_EXITING = 1u << 24;
inline constexpr u32 USE_IO_BITMAPS = 1u << 25;
inline constexpr u32 MONITOR_TRAP_FLAG = 1u << 27;
inline constexpr u32 USE_MSR_BITMAPS = 1u << 28;
inline constexpr u32 MONITOR_EXITING = 1u << 29;
inline constexpr u32 PAUSE_EXITING = 1u << 30;
inline constexpr u32 ACTIVATE_SECONDARY_CONTROLS = 1u << 31;
// The default1 class (SDM Vol. 3D A.3.2): bits 1, 4-6, 8, 13-16 and 26.
inline constexpr u32 DEFAULT1 = 0x0401E172;
} // namespace proc_based_ctl

namespace proc_based_ctl2 {  // SECONDARY_VM_EXEC_CONTROL
inline constexpr u32 VIRTUALIZE_APIC_ACCESSES = 1u << 0;
inline constexpr u32 ENABLE_EPT = 1u << 1;
inline constexpr u32 DESCRIPTOR_TABLE_EXITING = 1u << 2;
inline constexpr u32 ENABLE_RDTSCP = 1u << 3;
inline constexpr u32 VIRTUALIZE_X2APIC_MODE = 1u << 4;
inline constexpr u32 ENABLE_VPID = 1u << 5;
inline constexpr u32 WBINVD_EXITING = 1u << 6;
inline constexpr u32 UNRESTRICTED_GUEST = 1u << 7;
inline constexpr u32 APIC_REGISTER_VIRTUALIZATION = 1u << 8;
inline constexpr u32 VIRTUAL_INTERRUPT_DELIVERY = 1u << 9;
inline constexpr u32 PAUSE_LOOP_EXITING = 1u << 10;
inline constexpr u32 RDRAND_EXITING = 1u << 11;
inline constexpr u32 ENABLE_INVPCID = 1u << 12;
inline constexpr u32 ENABLE_VM_FUNCTIONS = 1u << 13;
inline constexpr u32 VMCS_SHADOWING = 1u << 14;
inline constexpr u32 ENABLE_ENCLS_EXITING = 1u << 15;
inline constexpr u32 RDSEED_EXITING = 1u << 16;
inline constexpr u32 ENABLE_PML = 1u << 17;
inline constexpr u32 EPT_VIOLATION_VE = 1u << 18;
inline constexpr u32 CONCEAL_VMX_FROM_PT = 1u << 19;
inline constexpr u32 ENABLE_XSAVES_XRSTORS = 1u << 20;
inline constexpr u32 PASID_TRANSLATION = 1u << 21;
inline constexpr u32 MODE_BASED_EXECUTE_CONTROL_FOR_EPT = 1u << 22;
inline constexpr u32 SUB_PAGE_WRITE_PERMISSIONS_FOR_EPT = 1u << 23;
inline constexpr u32 INTEL_PT_USES_GUEST_PHYSICAL_ADDRESSES = 1u << 24;
inline constexpr u32 USE_TSC_SCALING = 1u << 25;
inline constexpr u32 ENABLE_USER_WAIT_AND_PAUSE = 1u << 26;
inline constexpr u32 ENABLE_PCONFIG = 1u << 27;
inline constexpr u32 ENABLE_ENCLV_EXITING = 1u << 28;
inline constexpr u32 VMM_BUS_LOCK_DETECTION = 1u << 30;
inline constexpr u32 INSTRUCTION_TIMEOUT = 1u << 31;
inline constexpr u32 DEFAULT1 = 0;  // the secondary controls have no default1 class
} // namespace proc_based_ctl2

namespace vm_exit_ctl {  // VM_EXIT_CONTROLS (primary VM-exit controls)
inline constexpr u32 SAVE_DEBUG_CONTROLS = 1u << 2;
inline constexpr u32 HOST_ADDRESS_SPACE_SIZE = 1u << 9;
inline constexpr u32 LOAD_IA32_PERF_GLOBAL_CTRL = 1u << 12;
inline constexpr u32 ACKNOWLEDGE_INTERRUPT_ON_EXIT = 1u << 15;
inline constexpr u32 SAVE_IA32_PAT = 1u << 18;
inline constexpr u32 LOAD_IA32_PAT = 1u << 19;
inline constexpr u32 SAVE_IA32_EFER = 1u << 20;
inline constexpr u32 LOAD_IA32_EFER = 1u << 21;
inline constexpr u32 SAVE_VMX_PREEMPTION_TIMER_VALUE = 1u << 22;
inline constexpr u32 CLEAR_IA32_BNDCFGS = 1u << 23;
inline constexpr u32 CONCEAL_VMX_FROM_PT = 1u << 24;
inline constexpr u32 CLEAR_IA32_RTIT_CTL = 1u << 25;
inline constexpr u32 CLEAR_IA32_LBR_CTL = 1u << 26;
inline constexpr u32 CLEAR_UINV = 1u << 27;
inline constexpr u32 LOAD_CET_STATE = 1u << 28;
inline constexpr u32 LOAD_PKRS = 1u << 29;
inline constexpr u32 SAVE_IA32_PERF_GLOBAL_CTL = 1u << 30;
inline constexpr u32 ACTIVATE_SECONDARY_CONTROLS = 1u << 31;
// The default1 class (SDM Vol. 3D A.4): bits 0-8, 10, 11, 13, 14, 16 and 17.
inline constexpr u32 DEFAULT1 = 0x00036DFF;
} // namespace vm_exit_ctl

namespace vm_entry_ctl {  // VM_ENTRY_CONTROLS
inline constexpr u32 LOAD_DEBUG_CONTROLS = 1u << 2;
inline constexpr u32 IA32E_MODE_GUEST = 1u << 9;
inline constexpr u32 ENTRY_TO_SMM = 1u << 10;
inline constexpr u32 DEACTIVATE_DUAL_MONITOR_TREATMENT = 1u << 11;
inline constexpr u32 LOAD_IA32_PERF_GLOBAL_CTRL = 1u << 13;
inline constexpr u32 LOAD_IA32_PAT = 1u << 14;
inline constexpr u32 LOAD_IA32_EFER = 1u << 15;
inline constexpr u32 LOAD_IA32_BNDCFGS = 1u << 16;
inline constexpr u32 CONCEAL_VMX_FROM_PT = 1u << 17;
inline constexpr u32 LOAD_IA32_RTIT_CTL = 1u << 18;
inline constexpr u32 LOAD_UINV = 1u << 19;
inline constexpr u32 LOAD_CET_STATE = 1u << 20;
inline constexpr u32 LOAD_GUEST_IA32_LBR_CTL = 1u << 21;
inline constexpr u32 LOAD_PKRS = 1u << 22;
// The default1 class (SDM Vol. 3D A.5): bits 0-8 and 12.
inline constexpr u32 DEFAULT1 = 0x000011FF;
} // namespace vm_entry_ctl

// Every named control lies outside its field's default1 class, except the CR3 exiting
// controls and "save/load debug controls", which the TRUE_* MSRs may allow to be 0.
static_assert((proc_based_ctl::DEFAULT1 & ~(proc_based_ctl::CR3_LOAD_EXITING | proc_based_ctl::CR3_STORE_EXITING)) ==
              0x04006172);
static_assert((vm_exit_ctl::DEFAULT1 & vm_exit_ctl::SAVE_DEBUG_CONTROLS) != 0);
static_assert((vm_entry_ctl::DEFAULT1 & vm_entry_ctl::LOAD_DEBUG_CONTROLS) != 0);

} // namespace hv
