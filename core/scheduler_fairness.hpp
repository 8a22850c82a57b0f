// core/scheduler_fairness.hpp - how fair was the scheduler: each task's share of the CPU time
// given out over an interval, against its fair share (proportional to its weight). Both builds
// (the monitor's `info sched` and the tests use it). Integer arithmetic only.
//
// The fair share is weight / sum of weights of the time all listed tasks received together. It
// describes tasks that wanted the CPU the whole interval (CPU-bound); a task that slept did not
// ask for its share and shows a negative deviation that is no unfairness.
#pragma once
#include "arch/x86/types.hpp"
#include <span>

namespace hv {

struct Fair_share {
  u64 share_ppm = 0;      // parts per million of the total the task received
  u64 fair_ppm = 0;       // what its weight entitles it to
  i64 deviation_ppm = 0;  // (share - fair) / fair, in parts per million of its fair share
};

struct Fairness_report {
  u64 total_ticks = 0;
  u64 max_deviation_ppm = 0;  // the largest |deviation_ppm| over the tasks
  u32 worst = 0;              // index of the task with that deviation
};

// cpu_ticks[i] is task i's CPU time over the interval (a difference of Task_stats::cpu_ticks),
// weights[i] its weight (> 0; a zero weight's task is left out). `out`, if not empty, receives one
// entry per task (as many as fit). The spans must have equal lengths.
[[nodiscard]] Fairness_report measure_fairness(std::span<const u64> cpu_ticks, std::span<const u32> weights,
                                               std::span<Fair_share> out = {});

} // namespace hv
