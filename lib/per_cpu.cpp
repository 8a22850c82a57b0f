// lib/per_cpu.cpp - the CPU set and the host GDT/TSS contents. Both builds.
#include "lib/per_cpu.hpp"

namespace hv {
namespace {
constinit Cpu_set g_cpu_set{};
} // namespace

Cpu_set& cpu_set() { return g_cpu_set; }

void build_host_gdt(Per_cpu& cpu) {
  cpu.tss = x86::Tss64{};
  cpu.tss.ist[0] = cpu.ist_top();
  cpu.tss.rsp[0] = cpu.stack_top();
  cpu.tss.io_map_base = sizeof(x86::Tss64);  // no I/O permission bitmap
  cpu.gdt[0] = 0;
  cpu.gdt[1] = x86::gdt_code64;
  cpu.gdt[2] = x86::gdt_data;
  const x86::Tss_descriptor tss = x86::make_tss_descriptor(reinterpret_cast<u64>(&cpu.tss), sizeof(x86::Tss64) - 1);
  cpu.gdt[3] = tss.low;
  cpu.gdt[4] = tss.high;
  cpu.gdt[5] = 0;
}

} // namespace hv
