// vmx/vmcs.hpp - reading and writing the current VMCS, as a parameter. Both builds.
//   freestanding: Native_vmcs (vmx/native/) executes VMREAD/VMWRITE on the CPU's current VMCS;
//   hosted:       Fake_vmcs (arch/x86/fake/) keeps fields in a map, so VMCS set-up and exit
//                 handlers are tested without VMX.
// Contract: a VMWRITE failure is a hypervisor bug (a field this CPU lacks, a read-only field):
// the native implementation panics with the field and the VM-instruction error.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

class Vmcs_access {
public:
  [[nodiscard]] virtual u64 read(u32 field) = 0;
  virtual void write(u32 field, u64 value) = 0;

protected:
  ~Vmcs_access() = default;
};

} // namespace hv
