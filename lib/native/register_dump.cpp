// lib/native/register_dump.cpp - the register dump that panic prints. Freestanding only.
// The general registers are those at the point of capture (inside the panic path), which is
// what a reader needs to find the stack and the control state.
#include "lib/native/register_dump.hpp"
#include "arch/x86/native/native_cpu.hpp"
#include "lib/log.hpp"

namespace hv {

void log_native_registers() {
  x86::Register_snapshot s;
  x86::capture_registers(s);
  const u64* g = s.gpr;
  log_error("regs", "rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}", g[0], g[1], g[2], g[3]);
  log_error("regs", "rsi={:016x} rdi={:016x} rbp={:016x} rsp={:016x}", g[4], g[5], g[6], g[7]);
  log_error("regs", "r8 ={:016x} r9 ={:016x} r10={:016x} r11={:016x}", g[8], g[9], g[10], g[11]);
  log_error("regs", "r12={:016x} r13={:016x} r14={:016x} r15={:016x}", g[12], g[13], g[14], g[15]);
  log_error("regs", "cr0={:016x} cr2={:016x} cr3={:016x} cr4={:016x} rflags={:016x}", s.cr0, s.cr2, s.cr3, s.cr4,
            s.rflags);
  log_error("regs", "return address {}", __builtin_return_address(0));
}

} // namespace hv
