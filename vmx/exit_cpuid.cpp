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
    const u32 leaf = static_cast<u32>(r.rax);
    // Only leaves 1 (OSXSAVE) and 0xD (XSAVE sizes) depend on CR4: read it just for them.
    const u64 cr4 = (leaf == 1 || leaf == 0xD) ? ctx.vmcs.read(vmcs::CR4_READ_SHADOW) : 0;
    const Guest_cpuid_vcpu state{ctx.vcpu.index, cr4, ctx.vcpu.xcr0};
    out = ctx.vcpu.cpuid->answer(leaf, static_cast<u32>(r.rcx), state);
  }
  // CPUID writes the low 32 bits and clears the high halves of RAX, RBX, RCX, RDX.
  r.rax = out.eax;
  r.rbx = out.ebx;
  r.rcx = out.ecx;
  r.rdx = out.edx;
  return Exit_action::advance_rip;
}

} // namespace hv
