// vmx/exit_cpuid.cpp - CPUID (exit reason 10), answered from the VM's cached model
// (vmx/guest_cpuid.hpp): never by running CPUID on the host during an exit. Both builds.
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/guest_cpuid.hpp"

namespace hv {

Exit_action handle_cpuid(Exit_context& ctx) {
  Guest_registers& r = ctx.vcpu.regs;
  Cpuid_result out{};
  if (ctx.vcpu.cpuid) {
    const Guest_cpuid_vcpu state{ctx.vcpu.index, ctx.vmcs.read(vmcs::CR4_READ_SHADOW), ctx.vcpu.xcr0};
    out = ctx.vcpu.cpuid->answer(static_cast<u32>(r.rax), static_cast<u32>(r.rcx), state);
  }
  // CPUID writes the low 32 bits and clears the high halves of RAX, RBX, RCX, RDX.
  r.rax = out.eax;
  r.rbx = out.ebx;
  r.rcx = out.ecx;
  r.rdx = out.edx;
  return Exit_action::advance_rip;
}

} // namespace hv
