/* arch/x86/native/context_switch.S - switching between hypervisor threads (VMX root).
 * Freestanding build only.
 *
 *   void hv_context_switch(u64* save_rsp, u64 next_rsp);
 *
 * Pushes the callee-saved registers, stores RSP in *save_rsp, loads next_rsp and pops the
 * other side's callee-saved registers: returns into whoever saved next_rsp. Everything else is
 * caller-saved in the System V ABI, so this is the whole state of a thread (hv uses no FPU).
 *
 * A new thread's stack is prepared (core/native/hv_thread.cpp) as if it had called
 * hv_context_switch: six register slots (r15, r14, r13 = entry function, r12 = argument, rbx,
 * rbp) under the return address hv_thread_start, which calls entry(argument). */
    .text
    .code64
    .globl hv_context_switch
    .type hv_context_switch, @function
hv_context_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size hv_context_switch, . - hv_context_switch

    .globl hv_thread_start
    .type hv_thread_start, @function
hv_thread_start:
    andq $-16, %rsp
    movq %r12, %rdi
    call *%r13
    ud2                             /* an entry function never returns (hv_thread.hpp) */
    .size hv_thread_start, . - hv_thread_start

    .section .note.GNU-stack,"",@progbits
