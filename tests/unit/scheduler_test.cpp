// tests/unit/scheduler_test.cpp - the scheduler's policy under simulated time: fairness, weights,
// sleepers, pause, affinity, balancing, idle. The API edge cases, random operation sequences and
// concurrency are in scheduler_ops_test.cpp.
#include "core/scheduler.hpp"
#include "core/scheduler_fairness.hpp"
#include "unit/support/scheduler_sim.hpp"
#include <gtest/gtest.h>
#include <memory>

namespace hv {
namespace {

constexpr u64 quantum = 10'000;  // ticks; 10 ms at 1 MHz, scaled down

std::unique_ptr<Scheduler> make(u32 cpus, bool balance = true) {
  auto s = std::make_unique<Scheduler>();
  EXPECT_TRUE(s->init({.cpu_count = cpus, .quantum_ticks = quantum, .balance = balance}));
  return s;
}

// Max relative deviation (ppm) of `ids`' CPU time since `before` from their weighted fair share.
u64 deviation(sim::Simulator& sim, const std::vector<Task_id>& ids, const std::vector<u32>& weights,
              const std::vector<u64>& before = {}) {
  std::vector<u64> ticks;
  for (usize i = 0; i < ids.size(); ++i) ticks.push_back(sim.cpu_ticks(ids[i]) - (before.empty() ? 0 : before[i]));
  return measure_fairness(ticks, weights).max_deviation_ppm;
}

TEST(Scheduler, EqualCpuBoundTasksGetEqualSharesOnOneCpu) {
  for (u32 n : {2u, 3u, 5u, 8u}) {
    auto s = make(1);
    sim::Simulator sim(*s, 1);
    std::vector<Task_id> ids;
    for (u32 i = 0; i < n; ++i) ids.push_back(sim.add("t" + std::to_string(i)));
    sim.start();
    sim.run_until(200 * quantum);
    EXPECT_LT(deviation(sim, ids, std::vector<u32>(n, sched_nominal_weight)), 20'000u) << n << " tasks";
    EXPECT_EQ(s->cpu_stats(0).idle_ticks, 0u);
    EXPECT_TRUE(sim.violations().empty()) << sim.violations().front();
  }
}

TEST(Scheduler, WeightsOneToTwoGiveOneToTwo) {
  auto s = make(1);
  sim::Simulator sim(*s, 1);
  const Task_id light = sim.add("light", {}, 1024);
  const Task_id heavy = sim.add("heavy", {}, 2048);
  sim.start();
  sim.run_until(300 * quantum);
  EXPECT_LT(deviation(sim, {light, heavy}, {1024, 2048}), 20'000u);
  const double ratio = double(sim.cpu_ticks(heavy)) / double(sim.cpu_ticks(light));
  EXPECT_NEAR(ratio, 2.0, 0.05);

  // Three weights at once, 1:2:5.
  auto s3 = make(1);
  sim::Simulator sim3(*s3, 1);
  std::vector<Task_id> ids{sim3.add("a", {}, 500), sim3.add("b", {}, 1000), sim3.add("c", {}, 2500)};
  sim3.start();
  sim3.run_until(400 * quantum);
  EXPECT_LT(deviation(sim3, ids, {500, 1000, 2500}), 30'000u);
}

TEST(Scheduler, ASleeperIsServedPromptlyAndGetsWhatItAsksFor) {
  auto s = make(1);
  sim::Simulator sim(*s, 1);
  const Task_id a = sim.add("hog-a");
  const Task_id b = sim.add("hog-b");
  // An interactive task: 1/10 quantum of work, then 2 quanta asleep (it asks for ~4.8%).
  const sim::Behaviour io{quantum / 10, 2 * quantum};
  const Task_id io_task = sim.add("io", io);
  sim.start();
  sim.run_until(1000 * quantum);
  // Served within a quarter quantum of each wakeup (it preempts the hog), not after a full
  // round of the others' slices.
  EXPECT_LE(sim.max_wake_latency(io_task), quantum / 4);
  // It completed (nearly) every burst the time allowed: it lost nothing by sleeping.
  const u64 period = io.burst + io.sleep;
  EXPECT_GE(sim.completed_bursts(io_task), 1000 * quantum / period * 98 / 100);
  // The hogs split the rest evenly.
  EXPECT_LT(deviation(sim, {a, b}, {1024, 1024}), 20'000u);
  EXPECT_TRUE(sim.violations().empty()) << sim.violations().front();
}

TEST(Scheduler, ALongSleeperCannotStarveOthersWhenItWakes) {
  auto s = make(1);
  sim::Simulator sim(*s, 1);
  const Task_id a = sim.add("hog-a");
  const Task_id b = sim.add("hog-b");
  // Runs one quantum's tenth, then sleeps for 500 quanta while the hogs build up vruntime.
  const Task_id sleeper = sim.add("sleeper", {quantum / 10, 500 * quantum});
  sim.start();
  sim.run_until(400 * quantum);
  // Now the sleeper is asleep; from its next wakeup on it is CPU-bound.
  sim.set_behaviour(sleeper, {});
  sim.run_until(502 * quantum);  // it has woken (at about 500 quanta)
  const std::vector<u64> before{sim.cpu_ticks(a), sim.cpu_ticks(b), sim.cpu_ticks(sleeper)};
  const u64 sleeper_before = sim.cpu_ticks(sleeper);
  sim.run_until(532 * quantum);
  // Without the clamp it would run ~250 quanta to catch up; with it, a third each from the start.
  EXPECT_LT(deviation(sim, {a, b, sleeper}, {1024, 1024, 1024}, before), 100'000u);
  EXPECT_LE(sim.cpu_ticks(sleeper) - sleeper_before, 11 * quantum);
  EXPECT_TRUE(sim.violations().empty()) << sim.violations().front();
}

TEST(Scheduler, APausedTaskNeverRunsAndResumesFairly) {
  auto s = make(2);
  sim::Simulator sim(*s, 2);
  std::vector<Task_id> ids{sim.add("a"), sim.add("b"), sim.add("c")};
  sim.start();
  sim.run_until(10 * quantum + quantum / 3);
  // Pause b whatever it is doing (running: takes effect at once through the kick).
  sim.kick(s->pause(ids[1]));
  EXPECT_EQ(s->task_info(ids[1])->state, Task_state::paused);
  const u64 ticks = sim.cpu_ticks(ids[1]);
  const u64 runs = sim.dispatches(ids[1]);
  sim.run_until(100 * quantum);
  EXPECT_EQ(sim.cpu_ticks(ids[1]), ticks);
  EXPECT_EQ(sim.dispatches(ids[1]), runs);
  // Resumed, it is not owed the paused time: it runs a fair share from now, not a catch-up.
  Kick k;
  ASSERT_TRUE(s->resume(ids[1], &k));
  sim.kick(k);
  const std::vector<u64> before{sim.cpu_ticks(ids[0]), sim.cpu_ticks(ids[1]), sim.cpu_ticks(ids[2])};
  sim.run_until(100 * quantum + 60 * quantum);
  EXPECT_GT(sim.cpu_ticks(ids[1]), ticks);
  EXPECT_LT(deviation(sim, ids, {1024, 1024, 1024}, before), 50'000u);
  EXPECT_TRUE(sim.violations().empty()) << sim.violations().front();
}

TEST(Scheduler, AffinityIsNeverViolated) {
  auto s = make(4);
  sim::Simulator sim(*s, 4);
  const std::vector<u64> masks{0b0001, 0b0010, 0b0011, 0b1100, 0b1000, 0b0101, 0b1111, 0b0110, 0b0001, 0b1010};
  std::vector<Task_id> ids;
  for (usize i = 0; i < masks.size(); ++i) {
    const sim::Behaviour b = i % 3 == 0 ? sim::Behaviour{quantum / 3, quantum} : sim::Behaviour{};
    ids.push_back(sim.add("t" + std::to_string(i), b, 1024, masks[i]));
  }
  sim.start();
  sim.run_until(200 * quantum);
  // Narrow some masks mid-run; queued and running tasks must move.
  for (usize i = 0; i < ids.size(); i += 2) {
    Kick k;
    ASSERT_TRUE(s->set_affinity(ids[i], 0b0100, &k));
    sim.kick(k);
  }
  sim.run_until(400 * quantum);
  for (usize i = 0; i < ids.size(); ++i) {
    for (u32 cpu : sim.cpus_used(ids[i])) EXPECT_TRUE((masks[i] | (i % 2 == 0 ? 0b0100 : 0)) >> cpu & 1) << i;
    EXPECT_GT(sim.cpu_ticks(ids[i]), 0u) << i;
  }
  // After the change, the even tasks only ran on CPU 2.
  for (auto& [t, cpu, id] : sim.log())
    if (t > 200 * quantum + quantum && id != idle_task && id % 2 == 0) {
      EXPECT_EQ(cpu, 2u) << id;
    }
  EXPECT_TRUE(sim.violations().empty()) << sim.violations().front();
}

TEST(Scheduler, BalancingKeepsTwoCpusBusyWithThreeTasks) {
  for (bool balance : {false, true}) {
    auto s = make(2, balance);
    sim::Simulator sim(*s, 2);
    // All three start on CPU 0 only, then may use both.
    std::vector<Task_id> ids{sim.add("a", {}, 1024, 0b01), sim.add("b", {}, 1024, 0b01), sim.add("c", {}, 1024, 0b01)};
    sim.start();
    sim.run_until(10 * quantum);
    for (Task_id id : ids) ASSERT_TRUE(s->set_affinity(id, 0b11));
    const u64 idle_before = s->cpu_stats(1).idle_ticks;
    sim.run_until(110 * quantum);
    const u64 idle = s->cpu_stats(1).idle_ticks - idle_before;
    if (balance) {
      EXPECT_LE(idle, quantum) << "CPU 1 idles although a task waits on CPU 0";
      EXPECT_EQ(s->cpu_stats(0).idle_ticks, 0u);
      EXPECT_GE(s->cpu_stats(1).pulls + s->task_info(ids[0])->stats.migrations + s->task_info(ids[1])->stats.migrations +
                    s->task_info(ids[2])->stats.migrations,
                1u);
      // The three rotate over both CPUs: each gets 2/3 of a CPU, not 1, 1/2 and 1/2.
      EXPECT_LT(deviation(sim, ids, {1024, 1024, 1024}), 50'000u);
      EXPECT_TRUE(sim.violations().empty()) << sim.violations().front();
    } else {
      EXPECT_GE(idle, 99 * quantum);  // without balancing nothing moves: the test can tell
    }
  }
}

TEST(Scheduler, IdleRunsOnlyWhenNothingElseCan) {
  auto s = make(2);
  sim::Simulator sim(*s, 2);
  // Two sleepers that each want a quarter of a CPU, one hog pinned to CPU 0.
  sim.add("io-a", {quantum / 4, 3 * quantum / 4});
  sim.add("io-b", {quantum / 4, 3 * quantum / 4});
  sim.add("hog", {}, 1024, 0b01);
  sim.start();
  sim.run_until(500 * quantum);
  // The simulator flags any idle decision taken while a task that may run there is runnable.
  EXPECT_TRUE(sim.violations().empty()) << sim.violations().front();
  const Cpu_stats c0 = s->cpu_stats(0), c1 = s->cpu_stats(1);
  // Busy + idle time accounts for every tick of both CPUs (but the two slices still running).
  const u64 accounted = c0.busy_ticks + c0.idle_ticks + c1.busy_ticks + c1.idle_ticks;
  EXPECT_LE(accounted, 2 * sim.now());
  EXPECT_GE(accounted, 2 * sim.now() - 2 * quantum);
  EXPECT_GT(c1.idle_ticks, 0u);  // CPU 1 has idle time: the sleepers do not fill it
  EXPECT_LT(c0.idle_ticks, quantum);
}

} // namespace
} // namespace hv
