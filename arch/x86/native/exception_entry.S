/* arch/x86/native/exception_entry.S - host IDT entry stubs for vectors 0..31 (faults in the
 * hypervisor itself, VMX root). Each stub makes the stack uniform (a zero where the CPU pushes
 * no error code), pushes its vector, saves the general registers and calls
 * hv_host_exception(Exception_frame*), which reports and stops the machine (never returns).
 * Freestanding build only. Frame layout: see arch/x86/native/host_idt.hpp. */
    .text
    .code64

.macro STUB vector, has_error
    .globl hv_exception_stub_\vector
hv_exception_stub_\vector:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vector
    jmp hv_exception_common
.endm

STUB 0,0
STUB 1,0
STUB 2,0
STUB 3,0
STUB 4,0
STUB 5,0
STUB 6,0
STUB 7,0
STUB 8,1
STUB 9,0
STUB 10,1
STUB 11,1
STUB 12,1
STUB 13,1
STUB 14,1
STUB 15,0
STUB 16,0
STUB 17,1
STUB 18,0
STUB 19,0
STUB 20,0
STUB 21,1
STUB 22,0
STUB 23,0
STUB 24,0
STUB 25,0
STUB 26,0
STUB 27,0
STUB 28,0
STUB 29,1
STUB 30,1
STUB 31,0

hv_exception_common:
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    movq %rsp, %rdi
    andq $-16, %rsp
    call hv_host_exception@PLT
1:  cli
    hlt
    jmp 1b

    /* Absolute addresses are relocated at load time, so the table lives in writable data. */
    .section .data.rel.ro,"aw"
    .globl hv_exception_stub_table
    .balign 8
hv_exception_stub_table:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad hv_exception_stub_\v
    .endr

    .section .note.GNU-stack,"",@progbits
