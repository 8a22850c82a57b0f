// vmx/exit_mmio.cpp - emulating an access to an emulated-MMIO slot (EPT violation, or under
// shadow paging the #PF on such a page): the instruction at the guest's RIP is read through the
// guest's own page tables, decoded (vmx/mmio_instruction.hpp), performed on the device the VM's
// Mmio_bus names, and RIP moves past it. Both builds. An instruction hv cannot emulate stops the
// VM with its bytes in the log (never the host).
#include "arch/x86/vmcs_fields.hpp"
#include "lib/log.hpp"
#include "mm/guest_memory.hpp"
#include "mm/guest_page_walk.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/exit_qualification.hpp"
#include "vmx/guest_paging.hpp"
#include "vmx/mmio_instruction.hpp"

namespace hv {

namespace {

// The guest's tables, read-only: the CPU already walked them (and set A) to fetch the
// instruction, so this walk only translates.
class Fetch_tables final : public Guest_table_memory {
public:
  explicit Fetch_tables(Guest_memory& m) : m_(m) {}
  std::optional<u64> read_entry(Gpa gpa) override {
    u64 e = 0;
    if (m_.copy_from_guest(gpa, std::span<u8>(reinterpret_cast<u8*>(&e), sizeof e)).status != Guest_copy_status::ok)
      return std::nullopt;
    return e;
  }
  bool set_bits(Gpa, u64, u64) override { return true; }

private:
  Guest_memory& m_;
};

// Up to 15 bytes at the guest's RIP (through its page tables when paging is on; a page boundary
// is translated again). Returns how many bytes were read.
usize fetch_instruction(Exit_context& ctx, u8 (&bytes)[x86_max_instruction_length]) {
  Vmcs_access& v = ctx.vmcs;
  const u64 rip = v.read(vmcs::GUEST_RIP) + v.read(vmcs::GUEST_CS_BASE);
  const u64 cr0 = v.read(vmcs::GUEST_CR0);
  const bool paging = cr0 & (1ull << 31);
  const u64 cr3 = ctx.vcpu.paging ? ctx.vcpu.paging->guest_cr3(ctx) : v.read(vmcs::GUEST_CR3);
  Fetch_tables tables(*ctx.vcpu.memory);
  Guest_paging_mode mode;  // rights do not matter here: only the translation
  usize done = 0;
  while (done < x86_max_instruction_length) {
    const u64 la = rip + done;
    u64 gpa = la;
    if (paging) {
      const Walk_result w = walk_guest_page_tables(tables, cr3, Gva(la), Guest_access{}, mode);
      if (w.status != Walk_status::ok) break;
      gpa = w.gpa.value();
    }
    const u64 in_page = page_size_4k - (la & (page_size_4k - 1));
    const usize n = static_cast<usize>(in_page < x86_max_instruction_length - done ? in_page : x86_max_instruction_length - done);
    if (ctx.vcpu.memory->copy_from_guest(Gpa(gpa), std::span<u8>(bytes + done, n)).status != Guest_copy_status::ok) break;
    done += n;
  }
  return done;
}

u64 read_gpr(Exit_context& ctx, u8 reg) {
  if (reg == 4) return ctx.vmcs.read(vmcs::GUEST_RSP);
  return *guest_gpr(ctx.vcpu.regs, static_cast<Gpr>(reg));
}
void write_gpr(Exit_context& ctx, u8 reg, u64 value) {
  if (reg == 4) { ctx.vmcs.write(vmcs::GUEST_RSP, value); return; }
  *guest_gpr(ctx.vcpu.regs, static_cast<Gpr>(reg)) = value;
}

} // namespace

Exit_action emulate_mmio_access(Exit_context& ctx, u64 gpa) {
  Vcpu& vcpu = ctx.vcpu;
  u8 bytes[x86_max_instruction_length] = {};
  const usize n = vcpu.memory ? fetch_instruction(ctx, bytes) : 0;
  const bool long_mode = (ctx.vmcs.read(vmcs::GUEST_CS_AR_BYTES) & (1u << 13)) != 0;
  Mmio_instruction insn;
  const Mmio_decode_error e = decode_mmio_instruction(std::span<const u8>(bytes, n), long_mode, insn);
  u64 offset = 0;
  Mmio_device* device = e == Mmio_decode_error::none && vcpu.mmio ? vcpu.mmio->find(gpa, insn.size, offset) : nullptr;
  if (!device) {
    log_error("vmx", "{}: MMIO at {:#x}: {}; instruction bytes {:02x} {:02x} {:02x} {:02x} {:02x} {:02x} {:02x} {:02x}",
              vcpu.vm_name, gpa, e != Mmio_decode_error::none ? mmio_decode_error_message(e) : "no device for this access size",
              bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]);
    return stop_vcpu(ctx, Vcpu_stop_kind::unsupported, ctx.qualification, gpa);
  }
  ++vcpu.mmio_accesses;
  if (insn.kind == Mmio_kind::load) {
    const u64 data = device->mmio_read(offset, insn.size);
    write_gpr(ctx, insn.reg, mmio_load_result(insn, read_gpr(ctx, insn.reg), data));
  } else {
    const u64 value = insn.kind == Mmio_kind::store_immediate ? insn.immediate : mmio_store_value(insn, read_gpr(ctx, insn.reg));
    device->mmio_write(offset, insn.size, value);
  }
  // Past the instruction, ending STI / MOV SS blocking as executing it would have (as advance_rip).
  ctx.vmcs.write(vmcs::GUEST_RIP, ctx.vmcs.read(vmcs::GUEST_RIP) + insn.length);
  const u64 interruptibility = ctx.vmcs.read(vmcs::GUEST_INTERRUPTIBILITY_INFO);
  if (interruptibility & 3) ctx.vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, interruptibility & ~3ull);
  return Exit_action::resume;
}

} // namespace hv
