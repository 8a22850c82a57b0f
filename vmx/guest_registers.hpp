// vmx/guest_registers.hpp - a vCPU's general registers while the hypervisor handles an exit.
// RSP, RIP and RFLAGS live in the VMCS; everything else is saved here by the exit stub
// (arch/x86/native/vmx_entry.S, which depends on these offsets). Both builds.
#pragma once
#include "arch/x86/types.hpp"
#include <cstddef>

namespace hv {

struct Guest_registers {
  u64 rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0;
  u64 r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
};
// The exit stub's offsets: keep in step with vmx_entry.S.
static_assert(offsetof(Guest_registers, rax) == 0);
static_assert(offsetof(Guest_registers, rdi) == 40);
static_assert(offsetof(Guest_registers, r15) == 112);
static_assert(sizeof(Guest_registers) == 120);

} // namespace hv
