// lib/spinlock.hpp - a test-and-test-and-set spin lock for short critical sections shared by
// CPUs (the console line, allocator free lists). Both builds. Not reentrant; never held across
// a VM entry.
#pragma once
#include <atomic>

namespace hv {

class Spinlock {
public:
  void lock() {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

private:
  std::atomic<bool> locked_{false};
};

class Spinlock_guard {
public:
  explicit Spinlock_guard(Spinlock& lock) : lock_(lock) { lock_.lock(); }
  ~Spinlock_guard() { lock_.unlock(); }
  Spinlock_guard(const Spinlock_guard&) = delete;
  Spinlock_guard& operator=(const Spinlock_guard&) = delete;

private:
  Spinlock& lock_;
};

} // namespace hv
