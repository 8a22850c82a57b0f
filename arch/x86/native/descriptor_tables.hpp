// arch/x86/native/descriptor_tables.hpp - loading and reading GDTR/IDTR/TR and the segment
// registers. Freestanding build only.
#pragma once
#include "arch/x86/segment_descriptor.hpp"

namespace hv::x86 {

inline void lgdt(const Descriptor_table_register& r) { asm volatile("lgdt %0" ::"m"(r) : "memory"); }
inline void lidt(const Descriptor_table_register& r) { asm volatile("lidt %0" ::"m"(r) : "memory"); }
inline void ltr(u16 selector) { asm volatile("ltr %0" ::"r"(selector) : "memory"); }
inline Descriptor_table_register sgdt() { Descriptor_table_register r; asm volatile("sgdt %0" : "=m"(r)); return r; }
inline Descriptor_table_register sidt() { Descriptor_table_register r; asm volatile("sidt %0" : "=m"(r)); return r; }
inline u16 read_cs() { u16 v; asm volatile("mov %%cs, %0" : "=r"(v)); return v; }
inline u16 read_ss() { u16 v; asm volatile("mov %%ss, %0" : "=r"(v)); return v; }
inline u16 read_ds() { u16 v; asm volatile("mov %%ds, %0" : "=r"(v)); return v; }
inline u16 read_es() { u16 v; asm volatile("mov %%es, %0" : "=r"(v)); return v; }
inline u16 read_fs() { u16 v; asm volatile("mov %%fs, %0" : "=r"(v)); return v; }
inline u16 read_gs() { u16 v; asm volatile("mov %%gs, %0" : "=r"(v)); return v; }
inline u16 read_tr() { u16 v; asm volatile("str %0" : "=r"(v)); return v; }

// Loads CS with `code` (by a far return) and SS/DS/ES/FS/GS with `data`.
inline void reload_segments(u16 code, u16 data) {
  asm volatile(
      "pushq %q0\n"
      "leaq 1f(%%rip), %%rax\n"
      "pushq %%rax\n"
      "lretq\n"
      "1:\n"
      "mov %w1, %%ss\n mov %w1, %%ds\n mov %w1, %%es\n mov %w1, %%fs\n mov %w1, %%gs\n"
      :
      : "r"(static_cast<u64>(code)), "r"(data)
      : "rax", "memory");
}

} // namespace hv::x86
