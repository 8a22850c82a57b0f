// arch/x86/native/host_idt.cpp - see host_idt.hpp. The handler the exception stubs call,
// hv_host_exception, is the panic path and lives in lib/native/host_exception.cpp. Freestanding only.
#include "arch/x86/native/host_idt.hpp"
#include "arch/x86/host_vectors.hpp"
#include "arch/x86/native/descriptor_tables.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/host_selectors.hpp"

extern "C" const hv::u64 hv_exception_stub_table[32];
extern "C" char hv_interrupt_stubs[];  // interrupt_entry.S: 16 bytes per vector from 32

namespace hv::x86 {
namespace {
alignas(16) constinit Idt_gate g_idt[256]{};
constinit bool g_idt_built = false;
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
