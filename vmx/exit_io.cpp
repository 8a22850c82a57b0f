// vmx/exit_io.cpp - IN/OUT (exit reason 30): the access goes to the VM's I/O bus. Both builds.
// String I/O (INS/OUTS) is not emulated yet: the VM stops with a clear reason.
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/exit_qualification.hpp"

namespace hv {

Exit_action handle_io(Exit_context& ctx) {
  const std::optional<Io_access> io = decode_io_access(ctx.qualification);
  if (!io || io->string || !ctx.vcpu.io) return stop_vcpu(ctx, Vcpu_stop_kind::unsupported, ctx.qualification);
  Guest_registers& r = ctx.vcpu.regs;
  Io_effect effect;
  if (io->in) {
    u32 value = 0;
    effect = ctx.vcpu.io->read(io->port, io->size, value);
    // IN to AL/AX keeps the rest of RAX; IN to EAX zero-extends (a 32-bit write).
    if (io->size == 4) r.rax = value;
    else r.rax = (r.rax & ~static_cast<u64>(io_size_mask(io->size))) | value;
  } else {
    effect = ctx.vcpu.io->write(io->port, io->size, static_cast<u32>(r.rax) & io_size_mask(io->size));
  }
  if (effect.kind == Io_effect::Kind::stop_vm) {
    ctx.vmcs.write(vmcs::GUEST_RIP, ctx.vmcs.read(vmcs::GUEST_RIP) + ctx.vmcs.read(vmcs::VM_EXIT_INSTRUCTION_LEN));
    return stop_vcpu(ctx, Vcpu_stop_kind::exit_status, effect.status);
  }
  return Exit_action::advance_rip;
}

} // namespace hv
