/* arch/x86/native/interrupt_entry.S - host IDT entry stubs for vectors 32..255 (interrupts that
 * reach the hypervisor in VMX root, which only happens while a CPU waits in HLT with interrupts
 * enabled: guests' interrupts exit to the hypervisor with "acknowledge interrupt on exit").
 * Every stub is 16 bytes, at hv_interrupt_stubs + 16 * (vector - 32); it pushes its vector and
 * jumps to the common part, which saves the caller-saved registers (hv uses no FPU/SSE:
 * -mgeneral-regs-only), calls hv_host_interrupt(vector) on a 16-byte aligned stack and IRETQs.
 * Freestanding build only. */
    .text
    .code64

    .globl hv_interrupt_stubs
    .balign 16
hv_interrupt_stubs:
    .set vector, 32
    .rept 224
    .balign 16
    pushq $vector
    jmp hv_interrupt_common
    .set vector, vector + 1
    .endr

hv_interrupt_common:
    pushq %rbx
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    movq 80(%rsp), %rdi      /* the vector the stub pushed */
    movq %rsp, %rbx
    andq $-16, %rsp
    cld
    call hv_host_interrupt@PLT
    movq %rbx, %rsp
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    popq %rbx
    addq $8, %rsp            /* the vector */
    iretq

    .section .note.GNU-stack,"",@progbits
