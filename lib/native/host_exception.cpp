// lib/native/host_exception.cpp - what an exception in the hypervisor itself does: report the
// vector, error code, the interrupted state and CR2, then panic (the machine stops). Called by
// the stubs of arch/x86/native/exception_entry.S through the IDT that host_idt.cpp builds.
// Freestanding only.
#include "arch/x86/exception_vectors.hpp"
#include "arch/x86/native/host_idt.hpp"
#include "arch/x86/native/instructions.hpp"
#include "lib/panic.hpp"

extern "C" [[noreturn]] void hv_host_exception(hv::x86::Exception_frame* f) {
  using namespace hv;
  log_error("cpu", "host exception {} (vector {}) error code {:#x} at rip {:#x} cs {:#x} rflags {:#x} rsp {:#x} cr2 {:#x}",
            x86::exception_name(f->vector), f->vector, f->error_code, f->rip, f->cs, f->rflags, f->rsp, x86::read_cr2());
  log_error("cpu", "rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}", f->rax, f->rbx, f->rcx, f->rdx);
  log_error("cpu", "rsi={:016x} rdi={:016x} rbp={:016x} r8 ={:016x}", f->rsi, f->rdi, f->rbp, f->r8);
  log_error("cpu", "r9 ={:016x} r10={:016x} r11={:016x} r12={:016x}", f->r9, f->r10, f->r11, f->r12);
  log_error("cpu", "r13={:016x} r14={:016x} r15={:016x}", f->r13, f->r14, f->r15);
  panic("cpu", "unexpected {} in the hypervisor at {:#x}", x86::exception_name(f->vector), f->rip);
}
