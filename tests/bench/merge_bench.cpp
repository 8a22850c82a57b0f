// tests/bench/merge_bench.cpp - the merger on the workload of the Linux KSM anchor (figures only,
// never pass/fail). One VM of 512 MiB in 4 KiB frames; a share of its pages are duplicates taking
// one of 8 contents round robin, the rest unique and non-zero. Time is the process's CPU time.
//   BM_merge_pass/50   50 % duplicates: one full pass; counters: merges and pages scanned per
//                      CPU-second, CPU microseconds per page, passes until every duplicate merged
//                      (goal: >= 850,000 merges per CPU-second, one pass)
//   BM_merge_pass/100  every page a duplicate
//   BM_merge_pass/0    every page unique (goal: <= 0.4 us per unique page scanned)
//   BM_merge_cow_break one write to a merged page: the copy, the remap, the INVEPT request
//   BM_merge_unmerge   run = 2 over the 50 % workload, per page unmerged
// Compare with Linux ksmd on the same data: scripts/ksm_compare (docs/merge.md).
#include "tests/unit/support/merge_fixture.hpp"
#include <benchmark/benchmark.h>
#include <ctime>

namespace {

using namespace hv;
using test::Merge_host;

constexpr u64 vm_bytes = 512 * MiB;
constexpr u64 vm_pages = vm_bytes / page_size_4k;

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Fills the VM: page i is a duplicate (content i % 8) when i % 100 < percent, else unique.
void fill(Merge_host& host, u64 percent) {
  for (u64 i = 0; i < vm_pages; ++i) {
    const u64 seed = (i % 100) < percent ? 1 + i % 8 : 1'000'000 + i;
    if (!host.fill_page(1, i * page_size_4k, seed)) std::abort();
  }
}

// Pages saved when every duplicate is merged: each of the 8 contents needs one shared frame per
// max_page_sharing (256) users.
u64 ideal_sharing(u64 percent) {
  u64 dups[8] = {};
  for (u64 i = 0; i < vm_pages; ++i)
    if ((i % 100) < percent) ++dups[i % 8];
  u64 saved = 0;
  for (u64 d : dups) saved += d - (d + 255) / 256;
  return saved;
}

void BM_merge_pass(benchmark::State& state) {
  const u64 percent = static_cast<u64>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    Merge_host host(vm_bytes + 256 * MiB, true);
    host.add_vm(1, vm_bytes, false);
    fill(host, percent);
    Merge_knobs k;
    k.run = 1;
    host.merger().set_knobs(k);
    state.ResumeTiming();
    const double t0 = cpu_seconds();
    const u64 scanned = host.merger().scan_full_pass();
    const double t1 = cpu_seconds();
    state.PauseTiming();
    const Merge_stats s = host.merger().stats();
    u64 passes = 1;
    while (host.merger().stats().pages_sharing < ideal_sharing(percent) && passes < 4) {
      host.merger().scan_full_pass();
      ++passes;
    }
    const double cpu = t1 - t0;
    state.SetIterationTime(cpu);
    state.counters["pages_scanned"] = static_cast<double>(scanned);
    state.counters["merges"] = static_cast<double>(s.merges_4k);
    state.counters["merges_per_cpu_s"] = static_cast<double>(s.merges_4k) / cpu;
    state.counters["scanned_per_cpu_s"] = static_cast<double>(scanned) / cpu;
    state.counters["us_per_page"] = cpu * 1e6 / static_cast<double>(scanned);
    state.counters["passes_to_all_merged"] = static_cast<double>(passes);
    state.counters["sharing_of_ideal_pct"] =
        ideal_sharing(percent) ? 100.0 * static_cast<double>(s.pages_sharing) / static_cast<double>(ideal_sharing(percent)) : 100.0;
    state.counters["invept"] = static_cast<double>(host.invalidator().count);
    state.ResumeTiming();
  }
}
// Time is the scan's process CPU time (manual), without the set-up of each iteration.
BENCHMARK(BM_merge_pass)->Arg(50)->Arg(100)->Arg(0)->Iterations(3)->Unit(benchmark::kMillisecond)->UseManualTime();

void BM_merge_cow_break(benchmark::State& state) {
  Merge_host host(256 * MiB, true);
  constexpr u64 pages = 16384;
  host.add_vm(1, pages * page_size_4k, false);
  Merge_knobs k;
  k.run = 1;
  host.merger().set_knobs(k);
  u64 next = pages;  // the page the next write breaks; all merged again after a round
  for (auto _ : state) {
    if (next == pages) {
      state.PauseTiming();
      for (u64 i = 0; i < pages; ++i) (void)host.fill_page(1, i * page_size_4k, 1 + i % 8);
      host.merger().scan_full_pass();
      next = 0;
      state.ResumeTiming();
    }
    const u64 v = next;
    if (!host.write(1, next * page_size_4k, &v, sizeof(v))) state.SkipWithError("no memory");
    ++next;
  }
  state.counters["cow_breaks"] = static_cast<double>(host.merger().stats().cow_breaks);
  state.counters["cow_takebacks"] = static_cast<double>(host.merger().stats().cow_takebacks);
}
BENCHMARK(BM_merge_cow_break)->Unit(benchmark::kNanosecond)->MeasureProcessCPUTime();

void BM_merge_unmerge(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    Merge_host host(vm_bytes + 256 * MiB, true);
    host.add_vm(1, vm_bytes, false);
    fill(host, 50);
    Merge_knobs k;
    k.run = 1;
    host.merger().set_knobs(k);
    host.merger().scan_full_pass();
    const Merge_knob_info* info = nullptr;
    (void)host.merger().set_knob("run", "2", info);
    state.ResumeTiming();
    const double t0 = cpu_seconds();
    const u64 pages = host.merger().scan();
    const double t1 = cpu_seconds();
    state.SetIterationTime(t1 - t0);
    state.counters["pages_unmerged"] = static_cast<double>(pages);
    state.counters["ns_per_page"] = (t1 - t0) * 1e9 / static_cast<double>(pages);
  }
}
BENCHMARK(BM_merge_unmerge)->Iterations(2)->Unit(benchmark::kMillisecond)->UseManualTime();

} // namespace
