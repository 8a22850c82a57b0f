// vmx/exit_ept.cpp - EPT violations (exit reason 48) and misconfigurations (49). Both builds.
// A violation in guest RAM is demand population (mm/guest_memory.hpp); outside every slot the
// VM stops with the address; without a host frame the vCPU leaves the CPU (Vcpu_yield::
// out_of_memory) and the faulting access is retried once frames return (overcommit); in an MMIO
// slot the instruction is emulated (vmx/exit_mmio.cpp). A misconfiguration means hv wrote a bad EPT
// entry: a hypervisor bug, so panic with the guest's state.
#include "arch/x86/vmcs_fields.hpp"
#include "lib/panic.hpp"
#include "mm/guest_memory.hpp"
#include "vmx/exit_handler.hpp"
#include "mm/ept_violation.hpp"

namespace hv {

Exit_action handle_ept_violation(Exit_context& ctx) {
  const u64 gpa = ctx.vmcs.read(vmcs::GUEST_PHYSICAL_ADDRESS);
  const Ept_exit_qualification v = decode_ept_exit_qualification(ctx.qualification);
  if (!ctx.vcpu.memory) return stop_vcpu(ctx, Vcpu_stop_kind::ept_outside_slot, 0, gpa);
  const Violation_result r = ctx.vcpu.memory->handle_ept_violation(Gpa(gpa), Ept_access{v.read, v.write, v.fetch});
  switch (r.action) {
  case Violation_action::resume:
    // The faulting instruction runs again. If the fault happened during an IRET that unblocked
    // NMIs, blocking by NMI must be restored first (SDM Vol. 3C 28.2.3).
    if (v.nmi_unblocking_due_to_iret && !ctx.vcpu.pending_event) {
      ctx.vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, ctx.vmcs.read(vmcs::GUEST_INTERRUPTIBILITY_INFO) | (1u << 3));
    }
    return Exit_action::resume;
  case Violation_action::out_of_memory:
    // Nothing was changed: the same access faults again when the VM runs next.
    ctx.vcpu.yield = Vcpu_yield::out_of_memory;
    return Exit_action::resume;
  case Violation_action::emulate_mmio:
    return emulate_mmio_access(ctx, gpa);
  case Violation_action::guest_error:
    break;
  }
  return stop_vcpu(ctx, Vcpu_stop_kind::ept_outside_slot, ctx.qualification, gpa);
}

Exit_action handle_ept_misconfiguration(Exit_context& ctx) {
  const u64 gpa = ctx.vmcs.read(vmcs::GUEST_PHYSICAL_ADDRESS);
  log_vcpu_state(ctx.vcpu, ctx.vmcs);
  panic("vmx", "{}: EPT misconfiguration at GPA {:#x}: hv wrote an invalid EPT entry", ctx.vcpu.vm_name, gpa);
}

} // namespace hv
