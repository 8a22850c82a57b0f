// tests/bench/frame_allocator_bench.cpp - the page-frame allocator's costs (figures only):
// order-0 alloc+free through a per-CPU cache (issue goal <= 25 ns a pair) and through the lock,
// bursts that make the cache refill and drain, zeroed frames, 2 MiB and 1 GiB blocks.
#include "mm/frame_allocator.hpp"
#include "tests/unit/support/phys_arena.hpp"
#include <benchmark/benchmark.h>
#include <memory>
#include <vector>

namespace {

using namespace hv;

struct Bench_allocator {
  explicit Bench_allocator(u64 bytes) : arena(bytes) {
    if (fa->init(arena.usable_ranges(), arena.direct_map()) != Frame_allocator_status::ok) std::abort();
  }
  test::Phys_arena arena;
  std::unique_ptr<Frame_allocator> fa = std::make_unique<Frame_allocator>();
};

void BM_order0_pair_cpu_cache(benchmark::State& state) {
  Bench_allocator b(256 * MiB);
  Frame_cpu_handle cpu(*b.fa, 0);
  for (auto _ : state) {
    const std::optional<Hpa> f = cpu.alloc_frames(0, Frame_use::guest, 1);
    benchmark::DoNotOptimize(f);
    cpu.free_frames(*f, 0);
  }
}
BENCHMARK(BM_order0_pair_cpu_cache);

void BM_order0_pair_global_lock(benchmark::State& state) {
  Bench_allocator b(256 * MiB);
  for (auto _ : state) {
    const std::optional<Hpa> f = b.fa->alloc_frames(0, Frame_use::guest, 1);
    benchmark::DoNotOptimize(f);
    b.fa->free_frames(*f, 0);
  }
}
BENCHMARK(BM_order0_pair_global_lock);

// 256 frames out, then back, through one cache: every 32 frames a refill or drain under the lock.
void BM_order0_burst256_cpu_cache(benchmark::State& state) {
  Bench_allocator b(256 * MiB);
  Frame_cpu_handle cpu(*b.fa, 0);
  std::vector<Hpa> frames(256);
  for (auto _ : state) {
    for (Hpa& f : frames) f = *cpu.alloc_frames(0, Frame_use::guest, 1);
    for (Hpa f : frames) cpu.free_frames(f, 0);
  }
  state.SetItemsProcessed(state.iterations() * 256);
}
BENCHMARK(BM_order0_burst256_cpu_cache);

// A page-table page: zeroed on the way out, freed as known-zero, so the next one skips the clear.
void BM_order0_zeroed_pair_known_zero(benchmark::State& state) {
  Bench_allocator b(256 * MiB);
  Frame_cpu_handle cpu(*b.fa, 0);
  for (auto _ : state) {
    const std::optional<Hpa> f = cpu.alloc_zeroed_frames(0, Frame_use::page_table, no_vm);
    benchmark::DoNotOptimize(f);
    cpu.free_zeroed_frames(*f, 0);
  }
}
BENCHMARK(BM_order0_zeroed_pair_known_zero);

// A guest frame: zeroed every time (4 KiB memset).
void BM_order0_zeroed_pair(benchmark::State& state) {
  Bench_allocator b(256 * MiB);
  Frame_cpu_handle cpu(*b.fa, 0);
  for (auto _ : state) {
    const std::optional<Hpa> f = cpu.alloc_zeroed_frames(0, Frame_use::guest, 1);
    benchmark::DoNotOptimize(f);
    cpu.free_frames(*f, 0);
  }
}
BENCHMARK(BM_order0_zeroed_pair);

void BM_order9_pair(benchmark::State& state) {
  Bench_allocator b(256 * MiB);
  for (auto _ : state) {
    const std::optional<Hpa> f = b.fa->alloc_frames(order_2m, Frame_use::guest, 1);
    benchmark::DoNotOptimize(f);
    b.fa->free_frames(*f, order_2m);
  }
}
BENCHMARK(BM_order9_pair);

// 1 GiB: dominated by writing 262144 frame records each way.
void BM_order18_pair(benchmark::State& state) {
  Bench_allocator b(2 * GiB + 64 * MiB);
  for (auto _ : state) {
    const std::optional<Hpa> f = b.fa->alloc_frames(order_1g, Frame_use::guest, 1);
    benchmark::DoNotOptimize(f);
    b.fa->free_frames(*f, order_1g);
  }
}
BENCHMARK(BM_order18_pair)->Unit(benchmark::kMicrosecond);

// Two threads, each through its own cache, on the same allocator (built once, thread-safely).
void BM_order0_pair_cpu_cache_threads(benchmark::State& state) {
  static Bench_allocator shared(256 * MiB);
  Frame_cpu_handle cpu(*shared.fa, static_cast<u32>(state.thread_index()));
  for (auto _ : state) {
    const std::optional<Hpa> f = cpu.alloc_frames(0, Frame_use::guest, 1);
    benchmark::DoNotOptimize(f);
    cpu.free_frames(*f, 0);
  }
}
BENCHMARK(BM_order0_pair_cpu_cache_threads)->Threads(2);

} // namespace
