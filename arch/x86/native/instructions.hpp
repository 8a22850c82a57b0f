// arch/x86/native/instructions.hpp - the x86 instructions hv executes directly, one inline
// function each. Freestanding build only (the hosted build never executes these).
#pragma once
#include "arch/x86/cpuid.hpp"
#include "arch/x86/types.hpp"

namespace hv::x86 {

inline Cpuid_result cpuid(u32 leaf, u32 subleaf = 0) {
  Cpuid_result r;
  asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
  return r;
}
inline u64 rdmsr(u32 msr) {
  u32 lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return (static_cast<u64>(hi) << 32) | lo;
}
inline void wrmsr(u32 msr, u64 value) {
  asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<u32>(value)), "d"(static_cast<u32>(value >> 32)) : "memory");
}
inline u8 in8(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
inline u16 in16(u16 port) { u16 v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
inline u32 in32(u16 port) { u32 v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
inline void out8(u16 port, u8 v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
inline void out16(u16 port, u16 v) { asm volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
inline void out32(u16 port, u32 v) { asm volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
inline u64 read_cr0() { u64 v; asm volatile("mov %%cr0, %0" : "=r"(v)); return v; }
inline u64 read_cr2() { u64 v; asm volatile("mov %%cr2, %0" : "=r"(v)); return v; }
inline void write_cr2(u64 v) { asm volatile("mov %0, %%cr2" : : "r"(v) : "memory"); }
inline u64 read_cr3() { u64 v; asm volatile("mov %%cr3, %0" : "=r"(v)); return v; }
inline u64 read_cr4() { u64 v; asm volatile("mov %%cr4, %0" : "=r"(v)); return v; }
inline u64 read_rflags() { u64 v; asm volatile("pushfq; popq %0" : "=r"(v)); return v; }
inline u64 rdtsc() { u32 lo, hi; asm volatile("rdtsc" : "=a"(lo), "=d"(hi)); return (static_cast<u64>(hi) << 32) | lo; }
inline void cli() { asm volatile("cli" ::: "memory"); }
inline void hlt() { asm volatile("hlt" ::: "memory"); }
inline void pause() { __builtin_ia32_pause(); }
inline u64 read_rsp() { u64 v; asm volatile("mov %%rsp, %0" : "=r"(v)); return v; }
// x87/SSE state to and from a 512-byte, 16-byte aligned area (needs CR4.OSFXSR for the XMM part).
inline void fxsave64(void* area) { asm volatile("fxsave64 %0" : "=m"(*static_cast<u8(*)[512]>(area)) :: "memory"); }
inline void fxrstor64(const void* area) { asm volatile("fxrstor64 %0" ::"m"(*static_cast<const u8(*)[512]>(area)) : "memory"); }
[[noreturn]] inline void halt_forever() {
  for (;;) asm volatile("cli; hlt" ::: "memory");
}

} // namespace hv::x86
