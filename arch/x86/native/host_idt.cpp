// arch/x86/native/host_idt.cpp - see host_idt.hpp. Freestanding build only.
#include "arch/x86/native/host_idt.hpp"
#include "arch/x86/host_vectors.hpp"
#include "arch/x86/native/descriptor_tables.hpp"
#include "arch/x86/native/instructions.hpp"
#include "core/panic.hpp"
#include "core/per_cpu.hpp"

extern "C" const hv::u64 hv_exception_stub_table[32];
extern "C" char hv_interrupt_stubs[];  // interrupt_entry.S: 16 bytes per vector from 32

namespace hv::x86 {
namespace {
alignas(16) constinit Idt_gate g_idt[256]{};
constinit bool g_idt_built = false;

const char* exception_name(u64 vector) {
  static constexpr const char* names[32] = {
      "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
      "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
      "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
      "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check", "#MC machine check",
      "#XM SIMD error", "#VE virtualization exception", "#CP control protection", "reserved 22",
      "reserved 23", "reserved 24", "reserved 25", "reserved 26", "reserved 27", "#HV", "#VC", "#SX", "reserved 31"};
  return vector < 32 ? names[vector] : "interrupt";
}
} // namespace

void load_host_idt() {
  if (!g_idt_built) {
    for (u32 v = 0; v < 32; ++v) {
      const u8 ist = (v == 2 || v == 8 || v == 18) ? 1 : 0;
      g_idt[v] = make_interrupt_gate(hv_exception_stub_table[v], host_code_selector, ist);
    }
    for (u32 v = host_vector_first_external; v < 256; ++v)
      g_idt[v] = make_interrupt_gate(reinterpret_cast<u64>(hv_interrupt_stubs) + 16 * (v - host_vector_first_external),
                                     host_code_selector, 0);
    g_idt_built = true;
  }
  lidt(Descriptor_table_register{sizeof(g_idt) - 1, reinterpret_cast<u64>(g_idt)});
}

} // namespace hv::x86

extern "C" [[noreturn]] void hv_host_exception(hv::x86::Exception_frame* f) {
  using namespace hv;
  log_error("cpu", "host exception {} (vector {}) error code {:#x} at rip {:#x} cs {:#x} rflags {:#x} rsp {:#x} cr2 {:#x}",
            x86::exception_name(f->vector), f->vector, f->error_code, f->rip, f->cs, f->rflags, f->rsp, x86::read_cr2());
  log_error("cpu", "rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}", f->rax, f->rbx, f->rcx, f->rdx);
  log_error("cpu", "rsi={:016x} rdi={:016x} rbp={:016x} r8 ={:016x}", f->rsi, f->rdi, f->rbp, f->r8);
  log_error("cpu", "r9 ={:016x} r10={:016x} r11={:016x} r12={:016x}", f->r9, f->r10, f->r11, f->r12);
  log_error("cpu", "r13={:016x} r14={:016x} r15={:016x}", f->r13, f->r14, f->r15);
  panic("cpu", "unexpected {} in the hypervisor at {:#x}", x86::exception_name(f->vector), f->rip);
}
