// core/cpu_work.cpp - see cpu_work.hpp. Both builds.
#include "core/cpu_work.hpp"

namespace hv {

bool cpu_post_work(Per_cpu& cpu, Cpu_work_fn fn, void* arg) {
  Cpu_work_fn expected = nullptr;
  // The argument is published before the function: the CPU reads fn first, then arg.
  if (cpu.work.load(std::memory_order_acquire) != nullptr) return false;
  cpu.work_arg.store(arg, std::memory_order_relaxed);
  return cpu.work.compare_exchange_strong(expected, fn, std::memory_order_release);
}

bool cpu_run_posted_work(Per_cpu& cpu) {
  Cpu_work_fn fn = cpu.work.load(std::memory_order_acquire);
  if (!fn) return false;
  void* arg = cpu.work_arg.load(std::memory_order_relaxed);
  cpu.work.store(nullptr, std::memory_order_release);
  fn(cpu, arg);
  return true;
}

void cpu_wait_for_work(Per_cpu& cpu) {
  for (;;) {
    if (!cpu_run_posted_work(cpu)) __builtin_ia32_pause();
  }
}

} // namespace hv
