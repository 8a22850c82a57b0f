// arch/x86/cpu_access.hpp - the hardware as a parameter: the few CPU operations that logic in
// vmx/ and core/ needs to ask the processor about itself. Both builds.
//   freestanding: Native_cpu (arch/x86/native/) executes CPUID / RDMSR / WRMSR;
//   hosted:       Fake_cpu (arch/x86/fake/) answers from tables a test filled in.
// Contract: rdmsr/wrmsr of an MSR the CPU lacks raises #GP on hardware; callers check the
// CPUID bit that enumerates an MSR before touching it. Fake_cpu records such reads as errors.
#pragma once
#include "arch/x86/cpuid.hpp"
#include "arch/x86/types.hpp"

namespace hv {

class Cpu_access {
public:
  virtual Cpuid_result cpuid(u32 leaf, u32 subleaf = 0) = 0;
  virtual u64 rdmsr(u32 msr) = 0;
  virtual void wrmsr(u32 msr, u64 value) = 0;

protected:
  ~Cpu_access() = default;
};

} // namespace hv
