// arch/x86/host_selectors.hpp - the selectors of the hypervisor's own GDT, the same layout on every
// CPU (lib/per_cpu.cpp fills it: null, code64, data, TSS in two slots). Pure values: both builds.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

inline constexpr u16 host_code_selector = 0x08;
inline constexpr u16 host_data_selector = 0x10;
inline constexpr u16 host_tss_selector = 0x18;

} // namespace hv
