// arch/x86/native/native_cpu.hpp - the real CPU and ports behind Cpu_access / Port_io.
// Freestanding build only.
#pragma once
#include "arch/x86/cpu_access.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/port_io.hpp"

namespace hv {

class Native_cpu final : public Cpu_access {
public:
  Cpuid_result cpuid(u32 leaf, u32 subleaf) override { return x86::cpuid(leaf, subleaf); }
  u64 rdmsr(u32 msr) override { return x86::rdmsr(msr); }
  void wrmsr(u32 msr, u64 value) override { x86::wrmsr(msr, value); }
};

class Native_port_io final : public Port_io {
public:
  u8 in8(u16 port) override { return x86::in8(port); }
  void out8(u16 port, u8 value) override { x86::out8(port, value); }
  u16 in16(u16 port) override { return x86::in16(port); }
  void out16(u16 port, u16 value) override { x86::out16(port, value); }
  u32 in32(u16 port) override { return x86::in32(port); }
  void out32(u16 port, u32 value) override { x86::out32(port, value); }
};

namespace x86 {

// The calling CPU's general registers (at the point of capture) and control registers: what
// panic's register dump prints (lib/native/register_dump.cpp).
struct Register_snapshot {
  u64 gpr[16];  // rax rbx rcx rdx rsi rdi rbp rsp r8..r15
  u64 cr0, cr2, cr3, cr4, rflags;
};

[[gnu::always_inline]] inline void capture_registers(Register_snapshot& s) {
  asm volatile(
      "mov %%rax, 0(%0)\n mov %%rbx, 8(%0)\n mov %%rcx, 16(%0)\n mov %%rdx, 24(%0)\n"
      "mov %%rsi, 32(%0)\n mov %%rdi, 40(%0)\n mov %%rbp, 48(%0)\n mov %%rsp, 56(%0)\n"
      "mov %%r8, 64(%0)\n mov %%r9, 72(%0)\n mov %%r10, 80(%0)\n mov %%r11, 88(%0)\n"
      "mov %%r12, 96(%0)\n mov %%r13, 104(%0)\n mov %%r14, 112(%0)\n mov %%r15, 120(%0)\n"
      :
      : "r"(s.gpr)
      : "memory");
  s.cr0 = read_cr0();
  s.cr2 = read_cr2();
  s.cr3 = read_cr3();
  s.cr4 = read_cr4();
  s.rflags = read_rflags();
}

} // namespace x86

} // namespace hv
