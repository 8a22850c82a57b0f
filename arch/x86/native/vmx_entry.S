/* arch/x86/native/vmx_entry.S - entering a guest, and the VM-exit path. Freestanding build only.
 *
 *   int hv_vmx_run(Guest_registers* regs, u64 launched);
 *
 * Saves the host's callee-saved registers and `regs` on the stack, points HOST_RSP at that
 * frame, loads the guest's general registers from *regs and executes VMRESUME (launched != 0)
 * or VMLAUNCH. The VMCS's HOST_RIP must be hv_vmx_exit.
 *
 * On a VM exit the CPU arrives at hv_vmx_exit with RSP = HOST_RSP. The stub stores the guest's
 * registers into *regs and calls the C++ exit path on that same stack:
 *
 *   extern "C" int hv_exit_fast(Guest_registers* regs);   (vmx/native/vcpu_run.cpp)
 *
 * Non-zero: handled, the guest goes on: the stub reloads the registers and VMRESUMEs right
 * here, without returning to hv_vmx_run's caller (the hot path: no host registers to restore,
 * HOST_RSP already right). Zero: the slice is over (the vCPU stopped, blocked, was preempted):
 * hv_vmx_run returns 0 to its caller.
 *
 * If VM entry fails (VMLAUNCH/VMRESUME fall through), hv_vmx_run returns 1 (VMfailInvalid,
 * CF=1) or 2 (VMfailValid, ZF=1; see VM_INSTRUCTION_ERROR); 3 if the VMWRITE of HOST_RSP itself
 * failed. The stack is 16-byte aligned at the call (7 pushes after the return address).
 * Register offsets: vmx/guest_registers.hpp. */
    .text
    .code64
    .set HOST_RSP, 0x6C14
    .set R_RAX, 0
    .set R_RBX, 8
    .set R_RCX, 16
    .set R_RDX, 24
    .set R_RSI, 32
    .set R_RDI, 40
    .set R_RBP, 48
    .set R_R8, 56
    .set R_R9, 64
    .set R_R10, 72
    .set R_R11, 80
    .set R_R12, 88
    .set R_R13, 96
    .set R_R14, 104
    .set R_R15, 112

/* Loads the guest's registers from *%rdi (rdi last). Flags are preserved. */
.macro LOAD_GUEST
    movq R_RAX(%rdi), %rax
    movq R_RBX(%rdi), %rbx
    movq R_RCX(%rdi), %rcx
    movq R_RDX(%rdi), %rdx
    movq R_RSI(%rdi), %rsi
    movq R_RBP(%rdi), %rbp
    movq R_R8(%rdi), %r8
    movq R_R9(%rdi), %r9
    movq R_R10(%rdi), %r10
    movq R_R11(%rdi), %r11
    movq R_R12(%rdi), %r12
    movq R_R13(%rdi), %r13
    movq R_R14(%rdi), %r14
    movq R_R15(%rdi), %r15
    movq R_RDI(%rdi), %rdi
.endm

    .globl hv_vmx_run
    .type hv_vmx_run, @function
hv_vmx_run:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rdi                      /* regs, found at [HOST_RSP] on exit */
    movl $HOST_RSP, %eax
    vmwrite %rsp, %rax
    jbe .Lhost_rsp_failed           /* CF or ZF set */
    testq %rsi, %rsi                /* flags survive the MOVs below */
    LOAD_GUEST
    jnz .Lresume
    vmlaunch
    jmp .Lentry_failed
.Lresume:
    vmresume
.Lentry_failed:
    movl $1, %eax                   /* CF=1: VMfailInvalid */
    movl $2, %ecx                   /* ZF=1: VMfailValid */
    cmovzl %ecx, %eax
    jmp .Lreturn
.Lhost_rsp_failed:
    movl $3, %eax
.Lreturn:
    popq %rdi
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size hv_vmx_run, . - hv_vmx_run

    .globl hv_vmx_exit
    .type hv_vmx_exit, @function
hv_vmx_exit:
    pushq %rdi                      /* the guest's rdi; regs is now at 8(%rsp) */
    movq 8(%rsp), %rdi
    movq %rax, R_RAX(%rdi)
    movq %rbx, R_RBX(%rdi)
    movq %rcx, R_RCX(%rdi)
    movq %rdx, R_RDX(%rdi)
    movq %rsi, R_RSI(%rdi)
    movq %rbp, R_RBP(%rdi)
    movq %r8, R_R8(%rdi)
    movq %r9, R_R9(%rdi)
    movq %r10, R_R10(%rdi)
    movq %r11, R_R11(%rdi)
    movq %r12, R_R12(%rdi)
    movq %r13, R_R13(%rdi)
    movq %r14, R_R14(%rdi)
    movq %r15, R_R15(%rdi)
    popq R_RDI(%rdi)                /* back at HOST_RSP: 16-byte aligned */
    call hv_exit_fast
    testl %eax, %eax
    jz .Lleave
    movq (%rsp), %rdi
    LOAD_GUEST
    vmresume
    jmp .Lentry_failed              /* the flags of the failed VMRESUME decide 1 or 2 */
.Lleave:
    xorl %eax, %eax
    jmp .Lreturn
    .size hv_vmx_exit, . - hv_vmx_exit

    .section .note.GNU-stack,"",@progbits
