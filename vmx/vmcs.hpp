// vmx/vmcs.hpp - reading and writing the current VMCS. Both builds, two shapes:
//   freestanding: Vmcs_access is the CPU's current VMCS itself: read()/write() are inline
//                 VMREAD/VMWRITE (the exit path makes several per exit, so no virtual call);
//   hosted:       Vmcs_access is an interface, and Fake_vmcs (arch/x86/fake/) keeps fields in a
//                 map, so VMCS set-up and exit handlers are tested without VMX.
// Contract: a failing VMREAD/VMWRITE is a hypervisor bug (a field this CPU lacks, a read-only
// field): the freestanding build panics naming the field and the VM-instruction error.
#pragma once
#include "arch/x86/types.hpp"
#if HV_FREESTANDING
#include "arch/x86/native/vmx_instructions.hpp"
#endif

namespace hv {

#if HV_FREESTANDING
class Vmcs_access {
public:
  [[nodiscard]] u64 read(u32 field) { return x86::vmread_checked(field); }
  void write(u32 field, u64 value) { x86::vmwrite_checked(field, value); }
};
#else
class Vmcs_access {
public:
  [[nodiscard]] virtual u64 read(u32 field) = 0;
  virtual void write(u32 field, u64 value) = 0;

protected:
  ~Vmcs_access() = default;
};
#endif

} // namespace hv
