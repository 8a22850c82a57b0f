// tests/guests/runtime/guest.hpp - what a test guest can do: print to its UART (0x3F8), report
// checks, call the hypervisor (VMCALL, KVM's register convention), read the TSC, and exit
// through the debug-exit port (0xF4). Runs in the guest (VMX non-root), freestanding.
// Checks are reported as one line each: "ok NAME" or "not ok NAME: detail"; the hypervisor
// counts them and prints the closing "N passed, N failed".
#pragma once
#include "lib/format.hpp"
#include "core/guest_boot_info.hpp"

namespace guest {
using namespace hv;

void uart_write(std::string_view text);
template <typename... A>
void print(std::string_view fmt, const A&... args) {
  Fixed_text<200> line;
  format_to(line, fmt, args...);
  uart_write(line.view());
  uart_write("\n");
}
// One check: prints "ok NAME" or "not ok NAME: detail" and returns `passed`.
template <typename... A>
bool check(bool passed, std::string_view name, std::string_view detail_fmt = "", const A&... args) {
  Fixed_text<200> line;
  format_to(line, "{} {}", passed ? "ok" : "not ok", name);
  if (!passed && !detail_fmt.empty()) {
    line.write(": ");
    format_to(line, detail_fmt, args...);
  }
  uart_write(line.view());
  uart_write("\n");
  return passed;
}

[[noreturn]] void exit(u32 status);

struct Hypercall_result { i64 value; };
i64 hypercall(u64 nr, u64 a0 = 0, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0);

inline u64 rdtsc() {
  u32 lo, hi;
  asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
  return (static_cast<u64>(hi) << 32) | lo;
}
inline void cpuid(u32 leaf, u32 sub, u32& a, u32& b, u32& c, u32& d) {
  asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(sub));
}
// Paging control for guests that build their own page tables (pagingtest, pagingbench).
inline u64 read_cr2() { u64 v; asm volatile("mov %%cr2, %0" : "=r"(v)); return v; }
inline u64 read_cr3() { u64 v; asm volatile("mov %%cr3, %0" : "=r"(v)); return v; }
inline void write_cr3(u64 v) { asm volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
inline void invlpg(u64 va) { asm volatile("invlpg (%0)" ::"r"(va) : "memory"); }
inline u8 inb(u16 port) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
inline void outb(u16 port, u8 v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

} // namespace guest

// Each guest defines this; its return value is the exit status.
extern "C" hv::u32 guest_main(const hv::Boot_info* info);

// Test guests use the short integer names at file scope.
using hv::i64;
using hv::u16;
using hv::u32;
using hv::u64;
using hv::u8;
