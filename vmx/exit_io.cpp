// vmx/exit_io.cpp - IN/OUT (exit reason 30): the access goes to the VM's I/O bus. Both builds.
// String I/O (INS/OUTS) is not emulated yet: the VM stops with a clear reason.
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/exit_qualification.hpp"

namespace hv {
namespace {

// The exit qualification of an I/O instruction (SDM Vol. 3C table 28-5): bits 2:0 the size
// minus one, bit 3 the direction (1 = IN), bit 4 string, bits 31:16 the port.
constexpr u64 io_size_and_string = 0x17;  // bits 2:0 and 4: zero for a one-byte IN/OUT
constexpr u64 io_direction_in = 1u << 3;

// A VM stopped by its access (the debug-exit port, ACPI power-off or reset): RIP is moved past
// the OUT first, so a dump or a restart sees the instruction after it.
Exit_action stop_after(Exit_context& ctx, const Io_effect& effect) {
  ctx.vmcs.write(vmcs::GUEST_RIP, ctx.vmcs.read(vmcs::GUEST_RIP) + ctx.vmcs.read(vmcs::VM_EXIT_INSTRUCTION_LEN));
  const Vcpu_stop_kind kind = effect.kind == Io_effect::Kind::power_off ? Vcpu_stop_kind::powered_off
                              : effect.kind == Io_effect::Kind::reset   ? Vcpu_stop_kind::reset
                                                                        : Vcpu_stop_kind::exit_status;
  return stop_vcpu(ctx, kind, effect.status);
}

// Every I/O exit but a one-byte IN/OUT: the qualification decoded in full.
[[gnu::noinline]] Exit_action handle_io_general(Exit_context& ctx) {
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
  if (effect.kind != Io_effect::Kind::none) return stop_after(ctx, effect);
  return Exit_action::advance_rip;
}

} // namespace

Exit_action handle_io(Exit_context& ctx) {
  // The frequent case, a one-byte IN AL / OUT AL (a UART driver's polling and output), read
  // straight off the qualification; the rest goes through the full decoder.
  const u64 q = ctx.qualification;
  Io_bus* bus = ctx.vcpu.io;
  if ((q & io_size_and_string) != 0 || bus == nullptr) return handle_io_general(ctx);
  const u16 port = static_cast<u16>(q >> 16);
  Guest_registers& r = ctx.vcpu.regs;
  Io_effect effect;
  if (q & io_direction_in) {
    u32 value = 0;
    effect = bus->read(port, 1, value);
    r.rax = (r.rax & ~u64{0xFF}) | value;  // IN AL keeps the rest of RAX
  } else {
    effect = bus->write(port, 1, static_cast<u32>(r.rax) & 0xFF);
  }
  if (effect.kind != Io_effect::Kind::none) return stop_after(ctx, effect);
  return Exit_action::advance_rip;
}

} // namespace hv
