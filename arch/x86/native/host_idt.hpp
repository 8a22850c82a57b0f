// arch/x86/native/host_idt.hpp - the hypervisor's own IDT: vectors 0..31 report the fault (with
// registers, CR2 and the faulting RIP) and stop the machine; #DF, NMI and #MC run on the IST1
// stack so a blown stack still gets reported. Vectors 32..255 go to hv_host_interrupt
// (host_interrupts.hpp), which acknowledges and counts them. Freestanding build only.
#pragma once
#include "arch/x86/types.hpp"

namespace hv::x86 {

// What exception_entry.S leaves on the stack (lowest address first).
struct Exception_frame {
  u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
  u64 vector;
  u64 error_code;
  u64 rip, cs, rflags, rsp, ss;  // pushed by the CPU
};
static_assert(sizeof(Exception_frame) == 22 * 8);

// Builds the shared IDT (once) and loads it on this CPU.
void load_host_idt();

} // namespace hv::x86
