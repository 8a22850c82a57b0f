// core/run_queue.hpp - one CPU's queue of runnable tasks, ordered by virtual runtime. Both builds.
// Fixed capacity, no heap, no lock of its own: the Scheduler's lock covers every queue.
// Entries are kept sorted by (vruntime, seq) DESCENDING, so the next task to run (least vruntime,
// oldest among equals) is the last entry: pick and pop are O(1), insert and remove shift at most
// `capacity` small entries.
#pragma once
#include "arch/x86/types.hpp"
#include "lib/panic.hpp"
#include <array>

namespace hv {

inline constexpr u32 sched_max_tasks = 64;

struct Run_queue_entry {
  u64 vruntime = 0;  // the task's virtual runtime when it was queued
  u64 seq = 0;       // enqueue order: ties in vruntime go to the oldest entry
  u8 task = 0;       // index into the scheduler's task table
};

class Run_queue {
public:
  [[nodiscard]] u32 size() const { return count_; }
  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] const Run_queue_entry& operator[](u32 i) const { return entries_[i]; }

  // The entry that runs next; the queue must not be empty.
  [[nodiscard]] const Run_queue_entry& front() const {
    HV_ASSERT(count_ != 0);
    return entries_[count_ - 1];
  }

  // The queue holds at most sched_max_tasks entries and a task is on at most one queue, so
  // a full queue here is a scheduler bug, not a resource shortage.
  void insert(const Run_queue_entry& e) {
    HV_ASSERT(count_ < sched_max_tasks);
    u32 i = count_;
    // Shift entries that should run before `e` (smaller keys) one slot right.
    while (i > 0 && runs_before(entries_[i - 1], e)) {
      entries_[i] = entries_[i - 1];
      --i;
    }
    entries_[i] = e;
    ++count_;
  }

  Run_queue_entry pop_front() {
    HV_ASSERT(count_ != 0);
    return entries_[--count_];
  }

  // Removes `task`; false if it is not queued here.
  bool remove(u8 task) {
    for (u32 i = 0; i < count_; ++i) {
      if (entries_[i].task != task) continue;
      for (u32 j = i + 1; j < count_; ++j) entries_[j - 1] = entries_[j];
      --count_;
      return true;
    }
    return false;
  }

  [[nodiscard]] bool contains(u8 task) const {
    for (u32 i = 0; i < count_; ++i)
      if (entries_[i].task == task) return true;
    return false;
  }

  // Does `a` run before `b`?
  [[nodiscard]] static bool runs_before(const Run_queue_entry& a, const Run_queue_entry& b) {
    return a.vruntime != b.vruntime ? a.vruntime < b.vruntime : a.seq < b.seq;
  }

  [[nodiscard]] bool is_sorted() const {
    for (u32 i = 1; i < count_; ++i)
      if (runs_before(entries_[i - 1], entries_[i])) return false;
    return true;
  }

private:
  std::array<Run_queue_entry, sched_max_tasks> entries_{};
  u32 count_ = 0;
};

} // namespace hv
