// tests/bench/scheduler_bench.cpp - cost of one scheduling decision (figures only): end_slice of
// the running task plus pick_next of the next one, on one CPU with N CPU-bound tasks queued, and
// a wake of a blocked task from another CPU.
#include "core/scheduler.hpp"
#include <benchmark/benchmark.h>
#include <memory>

static void BM_sched_decision(benchmark::State& state) {
  const auto n = static_cast<hv::u32>(state.range(0));
  auto s = std::make_unique<hv::Scheduler>();
  if (!s->init({.cpu_count = 1, .quantum_ticks = 10'000})) state.SkipWithError("init");
  for (hv::u32 i = 0; i < n; ++i) {
    auto id = s->add_task({.name = "t", .weight = 512 + 64 * i});
    if (!id || !s->resume(*id)) state.SkipWithError("add");
  }
  (void)s->pick_next(0);
  hv::u64 ran = 9'000;
  for (auto _ : state) {
    (void)s->end_slice(0, ran, hv::Slice_end::expired);
    benchmark::DoNotOptimize(s->pick_next(0));
    ran = ran == 9'000 ? 10'000 : 9'000;
  }
}
BENCHMARK(BM_sched_decision)->Arg(4)->Arg(32)->Arg(64);

// Block on CPU 0, wake from CPU 1, pick again: the HLT round trip of one vCPU among N.
static void BM_sched_block_wake(benchmark::State& state) {
  const auto n = static_cast<hv::u32>(state.range(0));
  auto s = std::make_unique<hv::Scheduler>();
  if (!s->init({.cpu_count = 2, .quantum_ticks = 10'000})) state.SkipWithError("init");
  for (hv::u32 i = 0; i < n; ++i) {
    auto id = s->add_task({.name = "t", .affinity = 1});
    if (!id || !s->resume(*id)) state.SkipWithError("add");
  }
  for (auto _ : state) {
    const hv::Decision d = s->pick_next(0);
    (void)s->end_slice(0, 5'000, hv::Slice_end::blocked);
    benchmark::DoNotOptimize(s->wake(d.task));
  }
}
BENCHMARK(BM_sched_block_wake)->Arg(4)->Arg(32);
