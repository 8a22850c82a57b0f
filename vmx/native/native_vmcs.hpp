// vmx/native/native_vmcs.hpp - Vmcs_access on the CPU's current VMCS (VMREAD/VMWRITE).
// Freestanding build only. A failing VMREAD/VMWRITE is a hypervisor bug: panic naming the
// field and the VM-instruction error.
#pragma once
#include "arch/x86/native/vmx_instructions.hpp"
#include "vmx/vmcs.hpp"

namespace hv {

class Native_vmcs final : public Vmcs_access {
public:
  u64 read(u32 field) override;
  void write(u32 field, u64 value) override;
};

} // namespace hv
