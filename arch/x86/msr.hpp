// arch/x86/msr.hpp - model-specific register numbers and bit names, as spelled in the Intel SDM
// (Vol. 4, and Vol. 3D appendix A for the VMX capability MSRs). Both builds. Every MSR number hv
// uses lives here, in number order; a bit is named <MSR without IA32_>_<field>.
#pragma once
#include "arch/x86/types.hpp"

namespace hv::msr {

inline constexpr u32 IA32_APIC_BASE = 0x1B;
inline constexpr u32 IA32_FEATURE_CONTROL = 0x3A;
inline constexpr u32 IA32_SPEC_CTRL = 0x48;
inline constexpr u32 IA32_PRED_CMD = 0x49;
inline constexpr u32 IA32_BIOS_SIGN_ID = 0x8B;
inline constexpr u32 IA32_MTRRCAP = 0xFE;
inline constexpr u32 IA32_ARCH_CAPABILITIES = 0x10A;
inline constexpr u32 IA32_SYSENTER_CS = 0x174;
inline constexpr u32 IA32_SYSENTER_ESP = 0x175;
inline constexpr u32 IA32_SYSENTER_EIP = 0x176;
inline constexpr u32 IA32_MISC_ENABLE = 0x1A0;
inline constexpr u32 IA32_MTRR_PHYSBASE0 = 0x200;  // IA32_MTRR_PHYSBASEn = 0x200 + 2n
inline constexpr u32 IA32_MTRR_PHYSMASK0 = 0x201;  // IA32_MTRR_PHYSMASKn = 0x201 + 2n
inline constexpr u32 IA32_MTRR_FIX64K_00000 = 0x250;
inline constexpr u32 IA32_MTRR_FIX16K_80000 = 0x258;
inline constexpr u32 IA32_MTRR_FIX16K_A0000 = 0x259;
inline constexpr u32 IA32_MTRR_FIX4K_C0000 = 0x268;
inline constexpr u32 IA32_MTRR_FIX4K_C8000 = 0x269;
inline constexpr u32 IA32_MTRR_FIX4K_D0000 = 0x26A;
inline constexpr u32 IA32_MTRR_FIX4K_D8000 = 0x26B;
inline constexpr u32 IA32_MTRR_FIX4K_E0000 = 0x26C;
inline constexpr u32 IA32_MTRR_FIX4K_E8000 = 0x26D;
inline constexpr u32 IA32_MTRR_FIX4K_F0000 = 0x26E;
inline constexpr u32 IA32_MTRR_FIX4K_F8000 = 0x26F;
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
inline constexpr u32 IA32_TSC_DEADLINE = 0x6E0;
// The x2APIC registers, 0x800-0x8FF: the xAPIC register at MMIO offset o is MSR 0x800 + (o >> 4)
// (SDM Vol. 3A 11.12.1.2).
inline constexpr u32 X2APIC_MSR_BASE = 0x800;
inline constexpr u32 IA32_X2APIC_APICID = 0x802;
inline constexpr u32 IA32_X2APIC_ICR = 0x830;
inline constexpr u32 IA32_EFER = 0xC0000080;
inline constexpr u32 IA32_STAR = 0xC0000081;
inline constexpr u32 IA32_LSTAR = 0xC0000082;
inline constexpr u32 IA32_CSTAR = 0xC0000083;
inline constexpr u32 IA32_FMASK = 0xC0000084;
inline constexpr u32 IA32_FS_BASE = 0xC0000100;
inline constexpr u32 IA32_GS_BASE = 0xC0000101;
inline constexpr u32 IA32_KERNEL_GS_BASE = 0xC0000102;
inline constexpr u32 IA32_TSC_AUX = 0xC0000103;

// IA32_APIC_BASE bits (SDM Vol. 3A 11.4.4, Figure 11-5); bits MAXPHYADDR-1:12 are the base.
inline constexpr u64 APIC_BASE_BSP = 1ull << 8;
inline constexpr u64 APIC_BASE_EXTD = 1ull << 10;  // x2APIC mode enable
inline constexpr u64 APIC_BASE_EN = 1ull << 11;    // APIC global enable

// IA32_FEATURE_CONTROL bits (SDM Vol. 3C 23.7 "Enabling and entering VMX operation").
inline constexpr u64 FEATURE_CONTROL_LOCK = 1ull << 0;
inline constexpr u64 FEATURE_CONTROL_VMXON_INSIDE_SMX = 1ull << 1;
inline constexpr u64 FEATURE_CONTROL_VMXON_OUTSIDE_SMX = 1ull << 2;

// IA32_MTRRCAP, IA32_MTRR_DEF_TYPE and IA32_MTRR_PHYSMASKn bits (SDM Vol. 3A 12.11.2).
inline constexpr u64 MTRRCAP_VCNT_MASK = 0xFF;
inline constexpr u64 MTRRCAP_FIX = 1ull << 8;
inline constexpr u64 MTRRCAP_WC = 1ull << 10;
inline constexpr u64 MTRRCAP_SMRR = 1ull << 11;
inline constexpr u64 MTRR_DEF_TYPE_TYPE_MASK = 0xFF;
inline constexpr u64 MTRR_DEF_TYPE_FE = 1ull << 10;
inline constexpr u64 MTRR_DEF_TYPE_E = 1ull << 11;
inline constexpr u64 MTRR_PHYSMASK_VALID = 1ull << 11;

// IA32_MISC_ENABLE bits (SDM Vol. 4 table 2-2).
inline constexpr u64 MISC_ENABLE_FAST_STRINGS = 1ull << 0;
inline constexpr u64 MISC_ENABLE_BTS_UNAVAILABLE = 1ull << 11;
inline constexpr u64 MISC_ENABLE_PEBS_UNAVAILABLE = 1ull << 12;

// IA32_EFER bits (SDM Vol. 3A 2.2.1).
inline constexpr u64 EFER_SCE = 1ull << 0;
inline constexpr u64 EFER_LME = 1ull << 8;
inline constexpr u64 EFER_LMA = 1ull << 10;
inline constexpr u64 EFER_NXE = 1ull << 11;

} // namespace hv::msr
