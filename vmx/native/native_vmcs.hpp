// vmx/native/native_vmcs.hpp - the CPU's current VMCS: in the freestanding build Vmcs_access
// already is VMREAD/VMWRITE on it (vmx/vmcs.hpp). Freestanding build only.
#pragma once
#include "vmx/vmcs.hpp"

namespace hv {

using Native_vmcs = Vmcs_access;

} // namespace hv
