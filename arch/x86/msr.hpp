// arch/x86/msr.hpp - model-specific register numbers and bit names, as spelled in the Intel SDM
// (Vol. 4, and Vol. 3D appendix A for the VMX capability MSRs). Both builds.
#pragma once
#include "arch/x86/types.hpp"

namespace hv::msr {

inline constexpr u32 IA32_FEATURE_CONTROL = 0x3A;
inline constexpr u32 IA32_SYSENTER_CS = 0x174;
inline constexpr u32 IA32_SYSENTER_ESP = 0x175;
inline constexpr u32 IA32_SYSENTER_EIP = 0x176;
inline constexpr u32 IA32_MTRRCAP = 0xFE;
inline constexpr u32 IA32_PAT = 0x277;
inline constexpr u32 IA32_MTRR_DEF_TYPE = 0x2FF;
inline constexpr u32 IA32_VMX_BASIC = 0x480;
inline constexpr u32 IA32_VMX_PINBASED_CTLS = 0x481;
inline constexpr u32 IA32_VMX_PROCBASED_CTLS = 0x482;
inline constexpr u32 IA32_VMX_EXIT_CTLS = 0x483;
inline constexpr u32 IA32_VMX_ENTRY_CTLS = 0x484;
inline constexpr u32 IA32_VMX_MISC = 0x485;
inline constexpr u32 IA32_VMX_CR0_FIXED0 = 0x486;
inline constexpr u32 IA32_VMX_CR0_FIXED1 = 0x487;
inline constexpr u32 IA32_VMX_CR4_FIXED0 = 0x488;
inline constexpr u32 IA32_VMX_CR4_FIXED1 = 0x489;
inline constexpr u32 IA32_VMX_VMCS_ENUM = 0x48A;
inline constexpr u32 IA32_VMX_PROCBASED_CTLS2 = 0x48B;
inline constexpr u32 IA32_VMX_EPT_VPID_CAP = 0x48C;
inline constexpr u32 IA32_VMX_TRUE_PINBASED_CTLS = 0x48D;
inline constexpr u32 IA32_VMX_TRUE_PROCBASED_CTLS = 0x48E;
inline constexpr u32 IA32_VMX_TRUE_EXIT_CTLS = 0x48F;
inline constexpr u32 IA32_VMX_TRUE_ENTRY_CTLS = 0x490;
inline constexpr u32 IA32_VMX_VMFUNC = 0x491;
inline constexpr u32 IA32_EFER = 0xC0000080;
inline constexpr u32 IA32_STAR = 0xC0000081;
inline constexpr u32 IA32_LSTAR = 0xC0000082;
inline constexpr u32 IA32_CSTAR = 0xC0000083;
inline constexpr u32 IA32_FMASK = 0xC0000084;
inline constexpr u32 IA32_FS_BASE = 0xC0000100;
inline constexpr u32 IA32_GS_BASE = 0xC0000101;
inline constexpr u32 IA32_KERNEL_GS_BASE = 0xC0000102;
inline constexpr u32 IA32_TSC_AUX = 0xC0000103;

// IA32_FEATURE_CONTROL bits (SDM Vol. 3C 23.7 "Enabling and entering VMX operation").
inline constexpr u64 FEATURE_CONTROL_LOCK = 1ull << 0;
inline constexpr u64 FEATURE_CONTROL_VMXON_INSIDE_SMX = 1ull << 1;
inline constexpr u64 FEATURE_CONTROL_VMXON_OUTSIDE_SMX = 1ull << 2;

} // namespace hv::msr
