/* tests/guests/runtime/start.S - a test guest's entry (docs/guest-boot.md): 64-bit mode, paging
 * on, RSP set, RSI = guest-physical address of the boot-info block. Clears .bss, calls
 * guest_main(boot_info) and reports its result through the debug-exit port. */
    .section .text.start, "ax"
    .code64
    .globl _start
_start:
    movq %rsi, %r12
    leaq __bss_start(%rip), %rdi
    leaq __guest_image_end(%rip), %rcx
    subq %rdi, %rcx
    xorl %eax, %eax
    rep stosb
    movq %r12, %rdi
    andq $-16, %rsp
    call guest_main
    movl %eax, %edi
    call guest_exit
1:  hlt
    jmp 1b
    .section .note.GNU-stack,"",@progbits
