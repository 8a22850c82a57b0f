// arch/x86/cpuid.hpp - CPUID leaves and the bits hv reads, named as in the Intel SDM Vol. 2A.
// Both builds.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

struct Cpuid_result {
  u32 eax = 0;
  u32 ebx = 0;
  u32 ecx = 0;
  u32 edx = 0;
  constexpr bool operator==(const Cpuid_result&) const = default;
};

namespace cpuid {
inline constexpr u32 LEAF_VENDOR = 0x0;
inline constexpr u32 LEAF_FEATURES = 0x1;
inline constexpr u32 LEAF_EXTENDED_MAX = 0x80000000;
inline constexpr u32 LEAF_BRAND_0 = 0x80000002;
inline constexpr u32 LEAF_ADDRESS_SIZES = 0x80000008;
inline constexpr u32 LEAF_HYPERVISOR_BASE = 0x40000000;

// CPUID.1:ECX
inline constexpr u32 ECX_VMX = 1u << 5;
inline constexpr u32 ECX_SMX = 1u << 6;
inline constexpr u32 ECX_XSAVE = 1u << 26;
inline constexpr u32 ECX_HYPERVISOR = 1u << 31;
} // namespace cpuid

} // namespace hv
