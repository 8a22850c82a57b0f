// core/native/hv_thread.cpp - see hv_thread.hpp. Freestanding build only.
#include "core/native/hv_thread.hpp"
#include "arch/x86/native/instructions.hpp"

extern "C" void hv_context_switch(hv::u64* save_rsp, hv::u64 next_rsp);
extern "C" char hv_thread_start[];

namespace hv {

void thread_prepare(Hv_thread& t, const char* name, Hv_thread::Entry entry, void* arg) {
  t.name = name;
  t.entry = entry;
  t.arg = arg;
  // As if hv_context_switch had been called from hv_thread_start (arch/x86/native/context_switch.S):
  // [top-8] padding, [top-16] return address, then rbp, rbx, r12 (thread), r13 (entry), r14, r15.
  u64* top = reinterpret_cast<u64*>(t.stack + hv_thread_stack_bytes);
  u64* sp = top;
  *--sp = 0;
  *--sp = reinterpret_cast<u64>(hv_thread_start);
  *--sp = 0;                               // rbp
  *--sp = 0;                               // rbx
  *--sp = reinterpret_cast<u64>(&t);       // r12: the entry's argument
  *--sp = reinterpret_cast<u64>(entry);    // r13: the entry
  *--sp = 0;                               // r14
  *--sp = 0;                               // r15
  t.rsp = reinterpret_cast<u64>(sp);
}

Slice_end thread_run(Hv_thread& t, u64 slice_ticks) {
  t.slice_end_tsc = x86::rdtsc() + slice_ticks;
  t.how = Slice_end::yielded;
  hv_context_switch(&t.loop_rsp, t.rsp);
  return t.how;
}

void thread_leave(Hv_thread& t, Slice_end how) {
  t.how = how;
  hv_context_switch(&t.rsp, t.loop_rsp);
}

bool thread_slice_over(const Hv_thread& t) { return x86::rdtsc() >= t.slice_end_tsc; }

} // namespace hv
