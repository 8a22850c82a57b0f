// vmx/exit_cpuid.cpp - CPUID (exit reason 10), answered from the VM's precomputed table
// (vmx/guest_cpuid.hpp): never by running CPUID on the host during an exit. Both builds.
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/guest_cpuid.hpp"

namespace hv {
namespace {

// CPUID writes the low 32 bits and clears the high halves of RAX, RBX, RCX, RDX.
void set_result(Guest_registers& r, const Cpuid_result& out) {
  r.rax = out.eax;
  r.rbx = out.ebx;
  r.rcx = out.ecx;
  r.rdx = out.edx;
}

// An answer that depends on the subleaf or on the vCPU (its APIC ID, CR4.OSXSAVE as the guest
// sees it through the read shadow, XCR0): only then is CR4 read. Out of line, so that the
// frequent fixed answers need no stack frame.
[[gnu::noinline]] Exit_action answer_for_vcpu(Exit_context& ctx, const Guest_cpuid& model) {
  Guest_registers& r = ctx.vcpu.regs;
  const Guest_cpuid_vcpu state{ctx.vcpu.index, ctx.vmcs.read(vmcs::CR4_READ_SHADOW), ctx.vcpu.xcr0};
  set_result(r, model.answer(static_cast<u32>(r.rax), static_cast<u32>(r.rcx), state));
  return Exit_action::advance_rip;
}

constexpr Cpuid_result no_model{};  // a vCPU without a CPUID model reads zeros

} // namespace

Exit_action handle_cpuid(Exit_context& ctx) {
  Guest_registers& r = ctx.vcpu.regs;
  const Guest_cpuid* model = ctx.vcpu.cpuid;
  const Cpuid_result* fixed = model ? model->fixed_answer(static_cast<u32>(r.rax)) : &no_model;
  if (!fixed) return answer_for_vcpu(ctx, *model);
  set_result(r, *fixed);
  return Exit_action::advance_rip;
}

} // namespace hv
