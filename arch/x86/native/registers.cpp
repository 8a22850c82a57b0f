// arch/x86/native/registers.cpp - the register dump that panic prints. Freestanding only.
// The general registers are those at the point of capture (inside the panic path), which is
// what a reader needs to find the stack and the control state.
#include "arch/x86/native/native_cpu.hpp"
#include "core/log.hpp"

namespace hv {

void log_native_registers() {
  u64 g[16];
  asm volatile(
      "mov %%rax, 0(%0)\n mov %%rbx, 8(%0)\n mov %%rcx, 16(%0)\n mov %%rdx, 24(%0)\n"
      "mov %%rsi, 32(%0)\n mov %%rdi, 40(%0)\n mov %%rbp, 48(%0)\n mov %%rsp, 56(%0)\n"
      "mov %%r8, 64(%0)\n mov %%r9, 72(%0)\n mov %%r10, 80(%0)\n mov %%r11, 88(%0)\n"
      "mov %%r12, 96(%0)\n mov %%r13, 104(%0)\n mov %%r14, 112(%0)\n mov %%r15, 120(%0)\n"
      :
      : "r"(g)
      : "memory");
  log_error("regs", "rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}", g[0], g[1], g[2], g[3]);
  log_error("regs", "rsi={:016x} rdi={:016x} rbp={:016x} rsp={:016x}", g[4], g[5], g[6], g[7]);
  log_error("regs", "r8 ={:016x} r9 ={:016x} r10={:016x} r11={:016x}", g[8], g[9], g[10], g[11]);
  log_error("regs", "r12={:016x} r13={:016x} r14={:016x} r15={:016x}", g[12], g[13], g[14], g[15]);
  log_error("regs", "cr0={:016x} cr2={:016x} cr3={:016x} cr4={:016x} rflags={:016x}", x86::read_cr0(),
            x86::read_cr2(), x86::read_cr3(), x86::read_cr4(), x86::read_rflags());
  log_error("regs", "return address {}", __builtin_return_address(0));
}

} // namespace hv
