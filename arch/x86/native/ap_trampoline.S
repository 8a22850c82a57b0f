/* arch/x86/native/ap_trampoline.S - where an application processor starts after INIT-SIPI-SIPI.
 * Freestanding build only. The bytes between hv_ap_trampoline_start and _end are copied by the
 * BSP to a page below 1 MiB (the SIPI vector page) and the data block at the end is patched:
 *   gdtr.base  = page + (tramp_gdt - start)      far_ptr.offset = page + (tramp_long - start)
 *   cr3 (below 4 GiB), stack top, entry (C++ function), argument (its Per_cpu*)
 * The AP goes from real mode straight to long mode: PAE on, CR3 loaded, EFER.LME|NXE set, then
 * CR0.PE and CR0.PG together, and a far jump to a 64-bit code segment. It then calls
 * entry(argument) on its own stack; entry never returns. */
    .section .data.rel.ro,"aw"       /* copied, never executed in place */
    .code16
    .globl hv_ap_trampoline_start
    .globl hv_ap_trampoline_end
    .globl hv_ap_tramp_gdtr
    .globl hv_ap_tramp_gdt
    .globl hv_ap_tramp_far_ptr
    .globl hv_ap_tramp_long
    .globl hv_ap_tramp_cr3
    .globl hv_ap_tramp_stack
    .globl hv_ap_tramp_entry
    .globl hv_ap_tramp_arg
    .globl hv_ap_tramp_alive
    .balign 4096
hv_ap_trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lock incl (hv_ap_tramp_alive - hv_ap_trampoline_start)   /* "I woke up", for diagnosis */
    lgdtl (hv_ap_tramp_gdtr - hv_ap_trampoline_start)
    movl %cr4, %eax
    orl $0x20, %eax                                     /* CR4.PAE */
    movl %eax, %cr4
    movl (hv_ap_tramp_cr3 - hv_ap_trampoline_start), %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx                              /* IA32_EFER */
    rdmsr
    orl $0x900, %eax                                    /* LME (bit 8) | NXE (bit 11) */
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax                               /* PG | PE */
    movl %eax, %cr0
    ljmpl *(hv_ap_tramp_far_ptr - hv_ap_trampoline_start)

    .code64
hv_ap_tramp_long:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movq hv_ap_tramp_stack(%rip), %rsp
    movq hv_ap_tramp_arg(%rip), %rdi
    movq hv_ap_tramp_entry(%rip), %rax
    /* The next AP may reuse this page as soon as it sees the stack taken: the BSP waits for
     * the AP's state to change (set by entry) before reusing the page. */
    call *%rax
1:  cli
    hlt
    jmp 1b

    .balign 16
hv_ap_tramp_gdt:
    .quad 0                       /* null */
    .quad 0x00AF9B000000FFFF      /* 0x08: 64-bit code */
    .quad 0x00CF93000000FFFF      /* 0x10: data */
hv_ap_tramp_gdtr:
    .word 3 * 8 - 1
    .long 0                       /* patched: linear address of hv_ap_tramp_gdt */
    .balign 8
hv_ap_tramp_far_ptr:
    .long 0                       /* patched: linear address of hv_ap_tramp_long */
    .word 0x08
    .balign 8
hv_ap_tramp_cr3:
    .quad 0
hv_ap_tramp_stack:
    .quad 0
hv_ap_tramp_entry:
    .quad 0
hv_ap_tramp_arg:
    .quad 0
hv_ap_tramp_alive:
    .long 0
hv_ap_trampoline_end:

    .section .note.GNU-stack,"",@progbits
