// tests/bench/ept_bench.cpp - EPT and demand-population costs (figures only, never pass/fail).
// Table pages and guest frames come from Test_frames (a sparse mmap arena, poisoning off), so the
// figures include a std::map insert per allocation that the real allocator does not have.
//   BM_ept_map_1g_4k        map 1 GiB in 262,144 4 KiB leaves (goal <= 2 ms), 515 table pages
//   BM_ept_map_1g_4k_one_by_one  the same with one map() call per leaf
//   BM_ept_map_1g_2m        map 1 GiB in 512 2 MiB leaves
//   BM_ept_translate        one GPA -> HPA walk over a 1 GiB 4 KiB-mapped space
//   BM_demand_populate_4k   one EPT violation -> zeroed 4 KiB frame -> mapped
//   BM_demand_populate_2m   the same with a 2 MiB frame (zeroing 2 MiB dominates)
#include "mm/guest_memory.hpp"
#include "tests/unit/support/ept_test_memory.hpp"
#include <benchmark/benchmark.h>
#include <cstdlib>
#include <memory>
#include <random>

namespace {

using namespace hv;

Ept_config bench_config() {
  Ept_config c;
  c.owner = 1;
  c.allow_1g = true;
  c.max_phys_addr_bits = 46;
  return c;
}

test::Test_frames& bench_frames() {
  static test::Test_frames frames;
  frames.set_poison(false);
  return frames;
}

void map_1g(benchmark::State& state, Page_size size) {
  auto& frames = bench_frames();
  test::Counting_invalidator inv;
  for (auto _ : state) {
    state.PauseTiming();
    Ept ept(frames, frames.direct_map(), inv, bench_config());
    if (ept.init() != Ept_status::ok) state.SkipWithError("init");
    state.ResumeTiming();
    const auto r = ept.map_range(Gpa(GiB), Hpa(4 * GiB), GiB, size, Ept_attrs{});
    benchmark::DoNotOptimize(r.bytes_mapped);
    state.PauseTiming();
    if (r.status != Ept_status::ok) state.SkipWithError("map_range failed");
    state.counters["table_pages"] = static_cast<double>(ept.table_pages());
    ept.destroy();
    state.ResumeTiming();
  }
}

void BM_ept_map_1g_4k(benchmark::State& state) { map_1g(state, Page_size::size_4k); }

// The same 1 GiB as 262,144 separate map() calls: one walk per leaf instead of one per table.
void BM_ept_map_1g_4k_one_by_one(benchmark::State& state) {
  auto& frames = bench_frames();
  test::Counting_invalidator inv;
  for (auto _ : state) {
    state.PauseTiming();
    Ept ept(frames, frames.direct_map(), inv, bench_config());
    if (ept.init() != Ept_status::ok) state.SkipWithError("init");
    state.ResumeTiming();
    for (u64 off = 0; off < GiB; off += page_size_4k)
      if (ept.map(Gpa(GiB + off), Hpa(4 * GiB + off), Page_size::size_4k, Ept_attrs{}) != Ept_status::ok) std::abort();
    state.PauseTiming();
    ept.destroy();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_ept_map_1g_4k_one_by_one)->Unit(benchmark::kMicrosecond);
void BM_ept_map_1g_2m(benchmark::State& state) { map_1g(state, Page_size::size_2m); }
BENCHMARK(BM_ept_map_1g_4k)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ept_map_1g_2m)->Unit(benchmark::kMicrosecond);

void BM_ept_translate(benchmark::State& state) {
  auto& frames = bench_frames();
  test::Counting_invalidator inv;
  Ept ept(frames, frames.direct_map(), inv, bench_config());
  if (ept.init() != Ept_status::ok || ept.map_range(Gpa(0), Hpa(GiB), GiB, Page_size::size_4k, Ept_attrs{}).status != Ept_status::ok)
    state.SkipWithError("setup");
  std::mt19937_64 rng(1);
  std::vector<u64> gpas(4096);
  for (auto& g : gpas) g = rng() % GiB;
  usize i = 0;
  for (auto _ : state) {
    const auto t = ept.translate(Gpa(gpas[i++ & 4095]));
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_ept_translate);

void demand_populate(benchmark::State& state, bool prefer_2m) {
  auto& frames = bench_frames();
  test::Counting_invalidator inv;
  Paging_policy policy;
  policy.prefer_2m_leaves = prefer_2m;
  const u64 step = prefer_2m ? page_size_2m : page_size_4k;
  const u64 window = prefer_2m ? 2 * GiB : 256 * MiB;  // populated, then everything is freed again
  std::unique_ptr<Guest_memory> mem;
  u64 gpa = window;
  for (auto _ : state) {
    if (gpa == window) {
      state.PauseTiming();
      mem.reset();
      mem = std::make_unique<Guest_memory>(frames, frames.direct_map(), inv, bench_config(), policy);
      if (mem->init() != Ept_status::ok || mem->add_slot({Gpa(0), window, Memslot_kind::ram}) != Memslot_status::ok) {
        state.SkipWithError("setup");
        break;
      }
      gpa = 0;
      state.ResumeTiming();
    }
    const auto r = mem->handle_ept_violation(Gpa(gpa), Ept_access{false, true, false});
    if (r.action != Violation_action::resume) {
      state.SkipWithError(violation_reason_name(r.reason));
      break;
    }
    gpa += step;
  }
  mem.reset();
}

void BM_demand_populate_4k(benchmark::State& state) { demand_populate(state, false); }
void BM_demand_populate_2m(benchmark::State& state) { demand_populate(state, true); }
BENCHMARK(BM_demand_populate_4k);
BENCHMARK(BM_demand_populate_2m)->Unit(benchmark::kMicrosecond);

} // namespace
