// core/native/hv_thread.hpp - hypervisor threads: functions with their own stacks that run in VMX
// root between guest slices (the monitor now, the same-page merger next). Freestanding build only.
//
// A thread is a coroutine of its CPU's scheduler loop (core/native/cpu_loop.cpp): the loop
// switches to it with thread_run() when the scheduler picks its task, and the thread switches
// back with thread_leave() when it waits (Slice_end::blocked), yields, or has used its slice.
// Threads are cooperative: a thread must call thread_leave() within its slice (thread_slice_over()
// tells it when). Host interrupts stay off in VMX root, so nothing preempts it.
#pragma once
#include "core/scheduler.hpp"

namespace hv {

inline constexpr usize hv_thread_stack_bytes = 16 * 1024;

struct Hv_thread {
  using Entry = void (*)(Hv_thread& self);

  const char* name = "thread";
  Entry entry = nullptr;      // never returns
  void* arg = nullptr;        // for the entry's use
  Task_id task = 0;           // its scheduler task
  u32 cpu = 0;                // the CPU it is pinned to
  u64 rsp = 0;                // saved stack pointer while switched out
  u64 loop_rsp = 0;           // the CPU loop's stack pointer while the thread runs
  u64 slice_end_tsc = 0;      // when the current slice is used up
  Slice_end how = Slice_end::yielded;  // how it last left the CPU
  alignas(16) u8 stack[hv_thread_stack_bytes];
};

// Prepares the stack so that the first thread_run() enters `entry(thread)`.
void thread_prepare(Hv_thread& thread, const char* name, Hv_thread::Entry entry, void* arg);
// From the CPU loop: runs the thread until it leaves; returns how it left.
Slice_end thread_run(Hv_thread& thread, u64 slice_ticks);
// From the thread: gives the CPU back to the loop; returns when the thread runs next.
void thread_leave(Hv_thread& self, Slice_end how);
// From the thread: has its slice run out?
[[nodiscard]] bool thread_slice_over(const Hv_thread& self);

} // namespace hv
