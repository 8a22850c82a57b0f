// tests/unit/scheduler_ops_test.cpp - the scheduler's operations one by one (states, pending
// requests, kicks, limits), random operation sequences against the invariants, concurrent use from
// several threads, and the fairness measure.
#include "core/scheduler.hpp"
#include "core/scheduler_fairness.hpp"
#include <gtest/gtest.h>
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace hv {
namespace {

constexpr u64 quantum = 10'000;

std::unique_ptr<Scheduler> make(u32 cpus, bool balance = true) {
  auto s = std::make_unique<Scheduler>();
  EXPECT_TRUE(s->init({.cpu_count = cpus, .quantum_ticks = quantum, .balance = balance}));
  return s;
}

Task_id started(Scheduler& s, std::string_view name, u64 affinity = ~u64{0}, u32 weight = 1024) {
  auto id = s.add_task({.name = name, .affinity = affinity, .weight = weight});
  EXPECT_TRUE(id.has_value());
  EXPECT_TRUE(s.resume(*id));
  return *id;
}

Task_state state(const Scheduler& s, Task_id id) { return s.task_info(id)->state; }

TEST(SchedulerOps, AddValidatesAndFillsUpWithoutHeap) {
  auto s = make(2);
  EXPECT_FALSE(s->add_task({.name = "w0", .weight = 0}));
  EXPECT_FALSE(s->add_task({.name = "heavy", .weight = sched_max_weight + 1}));
  EXPECT_FALSE(s->add_task({.name = "nowhere", .affinity = 0b100}));  // CPU 2 is not configured
  auto first = s->add_task({.name = "a-name-longer-than-the-capacity-allows"});
  ASSERT_TRUE(first);
  EXPECT_EQ(s->task_info(*first)->name_view(), "a-name-longer-than-the-");
  EXPECT_EQ(state(*s, *first), Task_state::paused);  // created, not started
  for (u32 i = 1; i < sched_max_tasks; ++i) ASSERT_TRUE(s->add_task({.name = "t"}));
  EXPECT_FALSE(s->add_task({.name = "one-too-many"}));
  // A stopped task's slot can be reused; a live one cannot be removed.
  EXPECT_FALSE(s->remove_task(*first));
  (void)s->stop(*first);
  EXPECT_TRUE(s->remove_task(*first));
  EXPECT_FALSE(s->task_info(*first));
  EXPECT_TRUE(s->add_task({.name = "again"}));
  EXPECT_EQ(s->check_invariants(), nullptr);
  Scheduler bad;
  EXPECT_FALSE(bad.init({.cpu_count = 0}));
  EXPECT_FALSE(bad.init({.cpu_count = sched_max_cpus + 1}));
  EXPECT_FALSE(bad.init({.cpu_count = 1, .quantum_ticks = 0}));
}

TEST(SchedulerOps, LeastVruntimeRunsNextAndIdleWhenEmpty) {
  auto s = make(1);
  EXPECT_TRUE(s->pick_next(0).idle());
  (void)s->end_slice(0, 500, Slice_end::expired);
  EXPECT_EQ(s->cpu_stats(0).idle_ticks, 500u);
  int marker = 0;
  auto a = s->add_task({.name = "a", .context = &marker});
  ASSERT_TRUE(s->resume(*a));
  const Task_id b = started(*s, "b");
  Decision d = s->pick_next(0);
  EXPECT_EQ(d.task, *a);  // equal vruntime: the older entry first
  EXPECT_EQ(d.context, &marker);
  EXPECT_EQ(d.slice_ticks, quantum);
  EXPECT_EQ(s->current(0), *a);
  (void)s->end_slice(0, quantum, Slice_end::expired);
  EXPECT_EQ(s->pick_next(0).task, b);
  (void)s->end_slice(0, quantum / 2, Slice_end::expired);
  EXPECT_EQ(s->pick_next(0).task, b);  // b is still behind a
  (void)s->end_slice(0, quantum, Slice_end::expired);
  const Cpu_stats c = s->cpu_stats(0);
  EXPECT_EQ(c.decisions, 4u);
  EXPECT_EQ(c.context_switches, 2u);  // idle -> a -> b (idle -> idle and b -> b are none)
  EXPECT_EQ(s->task_info(b)->stats.slices, 2u);
  EXPECT_EQ(s->task_info(b)->stats.switches, 1u);
  EXPECT_EQ(s->task_info(b)->stats.cpu_ticks, 3 * quantum / 2);
}

TEST(SchedulerOps, YieldGoesBehindTheNextTask) {
  auto s = make(1);
  const Task_id a = started(*s, "a");
  const Task_id b = started(*s, "b");
  ASSERT_EQ(s->pick_next(0).task, a);
  (void)s->end_slice(0, 10, Slice_end::yielded);  // a has far less vruntime than b... after 10
  EXPECT_EQ(s->pick_next(0).task, b);
  (void)s->end_slice(0, quantum, Slice_end::expired);
  EXPECT_EQ(s->pick_next(0).task, a);
}

TEST(SchedulerOps, AWakeDuringTheSliceIsNotLost) {
  auto s = make(1);
  const Task_id a = started(*s, "a");
  ASSERT_EQ(s->pick_next(0).task, a);
  EXPECT_FALSE(s->wake(a).needed());  // the guest got an interrupt while running
  (void)s->end_slice(0, 100, Slice_end::blocked);  // ... and then executed HLT
  EXPECT_EQ(state(*s, a), Task_state::runnable);
  ASSERT_EQ(s->pick_next(0).task, a);
  (void)s->end_slice(0, 100, Slice_end::blocked);
  EXPECT_EQ(state(*s, a), Task_state::blocked);
  EXPECT_TRUE(s->pick_next(0).idle());
  const Kick k = s->wake(a);  // from another CPU, while CPU 0 idles
  EXPECT_EQ(k.cpu, 0u);
  EXPECT_EQ(state(*s, a), Task_state::runnable);
  EXPECT_EQ(s->task_info(a)->stats.wakeups, 1u);
}

TEST(SchedulerOps, WakeOfAFarBehindTaskPreemptsTheRunningOne) {
  auto s = make(1);
  const Task_id hog = started(*s, "hog");
  const Task_id io = started(*s, "io");
  ASSERT_EQ(s->pick_next(0).task, hog);
  (void)s->end_slice(0, quantum, Slice_end::expired);
  ASSERT_EQ(s->pick_next(0).task, io);
  (void)s->end_slice(0, 10, Slice_end::blocked);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(s->pick_next(0).task, hog);
    (void)s->end_slice(0, quantum, Slice_end::expired);
  }
  ASSERT_EQ(s->pick_next(0).task, hog);
  EXPECT_EQ(s->wake(io).cpu, 0u) << "io is far behind the hog: CPU 0 should reschedule now";
}

TEST(SchedulerOps, PauseResumeAndStopOfEveryState) {
  auto s = make(1);
  const Task_id a = started(*s, "a");
  const Task_id b = started(*s, "b");
  // Runnable -> paused -> runnable.
  EXPECT_FALSE(s->pause(b).needed());
  EXPECT_EQ(state(*s, b), Task_state::paused);
  EXPECT_EQ(s->queue_length(0), 1u);
  // Running -> pause pending (kick) -> paused at slice end.
  ASSERT_EQ(s->pick_next(0).task, a);
  EXPECT_EQ(s->pause(a).cpu, 0u);
  EXPECT_EQ(state(*s, a), Task_state::running);
  (void)s->end_slice(0, 5, Slice_end::expired);
  EXPECT_EQ(state(*s, a), Task_state::paused);
  EXPECT_TRUE(s->pick_next(0).idle());  // both paused
  (void)s->end_slice(0, 5, Slice_end::expired);
  EXPECT_TRUE(s->resume(b));
  EXPECT_FALSE(s->resume(b));  // not paused any more
  // Blocked and paused: resume without a wake leaves it blocked; with a wake, runnable.
  ASSERT_EQ(s->pick_next(0).task, b);
  (void)s->end_slice(0, 5, Slice_end::blocked);
  (void)s->pause(b);
  EXPECT_TRUE(s->resume(b));
  EXPECT_EQ(state(*s, b), Task_state::blocked);
  (void)s->pause(b);
  (void)s->wake(b);
  EXPECT_EQ(state(*s, b), Task_state::paused);  // a paused task never runs, woken or not
  EXPECT_TRUE(s->resume(b));
  EXPECT_EQ(state(*s, b), Task_state::runnable);
  // Paused and resumed within one slice: it keeps running.
  ASSERT_EQ(s->pick_next(0).task, b);
  (void)s->pause(b);
  EXPECT_TRUE(s->resume(b));
  (void)s->end_slice(0, 5, Slice_end::expired);
  EXPECT_EQ(state(*s, b), Task_state::runnable);
  // Stop: queued at once; running at slice end; reported by the task itself.
  (void)s->stop(b);
  EXPECT_EQ(state(*s, b), Task_state::stopped);
  EXPECT_FALSE(s->resume(b));
  EXPECT_FALSE(s->wake(b).needed());
  EXPECT_EQ(state(*s, b), Task_state::stopped);
  ASSERT_TRUE(s->resume(a));
  ASSERT_EQ(s->pick_next(0).task, a);
  EXPECT_EQ(s->stop(a).cpu, 0u);
  (void)s->end_slice(0, 5, Slice_end::blocked);
  EXPECT_EQ(state(*s, a), Task_state::stopped);
  const Task_id c = started(*s, "c");
  ASSERT_EQ(s->pick_next(0).task, c);
  (void)s->end_slice(0, 5, Slice_end::stopped);
  EXPECT_EQ(state(*s, c), Task_state::stopped);
  EXPECT_EQ(s->check_invariants(), nullptr);
}

TEST(SchedulerOps, AWakeGoesToAnIdleCpuItMayUse) {
  auto s = make(3);
  const Task_id busy = started(*s, "busy", 0b001);
  const Task_id io = started(*s, "io", 0b101);
  ASSERT_EQ(s->pick_next(0).task, busy);
  ASSERT_TRUE(s->pick_next(1).idle());
  ASSERT_EQ(s->pick_next(2).task, io);  // placed on idle CPU 2 when it started, not behind `busy`
  (void)s->end_slice(2, 100, Slice_end::blocked);
  ASSERT_TRUE(s->pick_next(2).idle());
  const Kick k = s->wake(io);
  EXPECT_EQ(k.cpu, 2u);  // not CPU 1 (outside its mask), not the busy CPU 0
  EXPECT_EQ(s->task_info(io)->cpu, 2u);
}

TEST(SchedulerOps, MisuseByTheNativeSideIsABug) {
  auto s = make(1);
  (void)s->pick_next(0);
  EXPECT_DEATH((void)s->pick_next(0), "assertion failed");  // no end_slice in between
  auto t = make(1);
  EXPECT_DEATH((void)t->end_slice(0, 1, Slice_end::expired), "assertion failed");
  EXPECT_DEATH((void)t->wake(7), "assertion failed");  // no such task
  EXPECT_DEATH((void)t->pick_next(1), "assertion failed");  // CPU not configured
}

// Random operations from a model of the native side; after each one every invariant holds.
TEST(SchedulerOps, RandomOperationSequencesKeepEveryInvariant) {
  for (u32 seed = 1; seed <= 6; ++seed) {
    constexpr u32 cpus = 4;
    auto s = make(cpus, seed % 2 == 0);
    std::mt19937 rng(seed);
    auto pick = [&](u32 n) { return static_cast<u32>(rng() % n); };
    std::vector<Task_id> live;
    std::vector<bool> busy(cpus, false);
    for (int step = 0; step < 20'000; ++step) {
      const u32 op = pick(100);
      if (op < 5 && live.size() < sched_max_tasks) {
        auto id = s->add_task({.name = "r", .affinity = (rng() % 15) + 1, .weight = 1 + pick(4096)});
        ASSERT_TRUE(id);
        live.push_back(*id);
        if (pick(2)) (void)s->resume(*id);
      } else if (op < 40) {
        const u32 c = pick(cpus);
        if (busy[c]) {
          (void)s->end_slice(c, pick(2 * quantum), static_cast<Slice_end>(pick(4)));
        } else {
          const Decision d = s->pick_next(c);
          if (!d.idle()) {
            ASSERT_TRUE(s->task_info(d.task)->affinity >> c & 1) << "affinity violated";
            for (u32 o = 0; o < cpus; ++o) ASSERT_TRUE(o == c || s->current(o) != d.task) << "on two CPUs";
          }
        }
        busy[c] = !busy[c];
      } else if (!live.empty()) {
        const usize i = pick(static_cast<u32>(live.size()));
        const Task_id id = live[i];
        switch (op % 7) {
        case 0: (void)s->wake(id); break;
        case 1: (void)s->pause(id); break;
        case 2: (void)s->resume(id); break;
        case 3: if (pick(10) == 0) (void)s->stop(id); break;
        case 4: (void)s->set_affinity(id, (rng() % 15) + 1); break;
        case 5: (void)s->set_weight(id, 1 + pick(8192)); break;
        case 6:
          if (s->remove_task(id)) live.erase(live.begin() + static_cast<long>(i));
          break;
        }
      }
      const char* broken = s->check_invariants();
      ASSERT_EQ(broken, nullptr) << "seed " << seed << " step " << step << ": " << broken;
    }
  }
}

// Two threads play CPUs, a third wakes, pauses, resumes and re-pins tasks from outside: the
// lock keeps every operation whole and no task is ever handed to two CPUs.
TEST(SchedulerOps, ConcurrentUseFromSeveralCpusKeepsInvariants) {
  constexpr u32 cpus = 2;
  constexpr u32 n = 6;
  auto s = make(cpus);
  std::vector<Task_id> ids;
  for (u32 i = 0; i < n; ++i) ids.push_back(started(*s, "c"));
  std::array<std::atomic<int>, sched_max_tasks> owner{};
  for (auto& o : owner) o = -1;
  std::atomic<bool> failed{false}, done{false};
  auto cpu_loop = [&](u32 c) {
    std::mt19937 rng(100 + c);
    for (int i = 0; i < 20'000; ++i) {
      const Decision d = s->pick_next(c);
      if (!d.idle()) {
        int expected = -1;
        if (!owner[d.task].compare_exchange_strong(expected, static_cast<int>(c))) failed = true;
      }
      const Slice_end how = rng() % 3 == 0 ? Slice_end::blocked : Slice_end::expired;
      if (!d.idle()) owner[d.task] = -1;  // the context is saved before end_slice publishes it
      (void)s->end_slice(c, 1 + rng() % quantum, how);
    }
  };
  std::thread t0(cpu_loop, 0), t1(cpu_loop, 1);
  std::thread outside([&] {
    std::mt19937 rng(7);
    while (!done) {
      const Task_id id = ids[rng() % n];
      switch (rng() % 5) {
      case 0: case 1: (void)s->wake(id); break;
      case 2: (void)s->pause(id); break;
      case 3: (void)s->resume(id); break;
      case 4: (void)s->set_affinity(id, 1 + rng() % 3); break;
      }
    }
  });
  t0.join();
  t1.join();
  done = true;
  outside.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(s->check_invariants(), nullptr);
  u64 ran = 0;
  for (Task_id id : ids) ran += s->task_info(id)->stats.slices;
  EXPECT_GT(ran, 0u);
}

TEST(SchedulerFairness, SharesAgainstWeightedFairShares) {
  std::array<Fair_share, 2> out{};
  const std::array<u64, 2> exact{100, 200};
  const std::array<u32, 2> w12{1, 2};
  Fairness_report r = measure_fairness(exact, w12, out);
  EXPECT_EQ(r.total_ticks, 300u);
  EXPECT_EQ(r.max_deviation_ppm, 0u);
  EXPECT_EQ(out[0].share_ppm, 333'333u);
  EXPECT_EQ(out[0].fair_ppm, 333'333u);
  // Equal time for 1:2 weights: the light task got 150% of its share, the heavy one 75%.
  const std::array<u64, 2> equal{100, 100};
  r = measure_fairness(equal, w12, out);
  EXPECT_EQ(out[0].deviation_ppm, 500'000);
  EXPECT_NEAR(out[1].deviation_ppm, -250'000, 1);
  EXPECT_EQ(r.max_deviation_ppm, 500'000u);
  EXPECT_EQ(r.worst, 0u);
  // Nothing ran: nothing to judge.
  const std::array<u64, 2> none{0, 0};
  EXPECT_EQ(measure_fairness(none, w12).max_deviation_ppm, 0u);
  // Huge tick counts (years of TSC) do not overflow.
  const std::array<u64, 3> huge{u64{1} << 61, u64{1} << 61, u64{1} << 62};
  const std::array<u32, 3> w112{1024, 1024, 2048};
  EXPECT_LE(measure_fairness(huge, w112).max_deviation_ppm, 1u);
  // A zero weight leaves the task out.
  const std::array<u64, 3> with_zero{50, 50, 999};
  const std::array<u32, 3> w110{1, 1, 0};
  r = measure_fairness(with_zero, w110);
  EXPECT_EQ(r.total_ticks, 100u);
  EXPECT_EQ(r.max_deviation_ppm, 0u);
}

} // namespace
} // namespace hv
