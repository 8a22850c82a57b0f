// core/cpu_work.hpp - handing a function to a CPU that waits in VMX root (a one-slot mailbox
// per CPU). Both builds. The scheduler replaces this as the way CPUs get work; until then a
// CPU runs one piece of work at a time, in the order it is posted.
#pragma once
#include "lib/per_cpu.hpp"

namespace hv {

using Cpu_work_fn = void (*)(Per_cpu&, void*);

// Posts work to `cpu`; false if the CPU still has unstarted work.
[[nodiscard]] bool cpu_post_work(Per_cpu& cpu, Cpu_work_fn fn, void* arg);
// Runs posted work, if any; returns whether it ran something. Called by the waiting CPU.
bool cpu_run_posted_work(Per_cpu& cpu);
// The waiting loop of a CPU with nothing else to do: never returns.
[[noreturn]] void cpu_wait_for_work(Per_cpu& cpu);

} // namespace hv
