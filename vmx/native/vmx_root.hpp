// vmx/native/vmx_root.hpp - entering VMX root operation on the calling CPU (SDM Vol. 3C 24.7):
// IA32_FEATURE_CONTROL (lock + VMXON outside SMX when the firmware left it unlocked), the fixed
// CR0/CR4 bits, the VMXON region, VMXON. Freestanding build only.
#pragma once
#include "lib/per_cpu.hpp"
#include "vmx/vmx_capabilities.hpp"

namespace hv {

// True on success (cpu.state becomes vmx_root); false with the reason logged.
[[nodiscard]] bool vmx_enter_root(Per_cpu& cpu, const Vmx_capability_msrs& caps);

} // namespace hv
