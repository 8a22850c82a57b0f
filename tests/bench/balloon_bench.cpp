// tests/bench/balloon_bench.cpp - the balloon's inflate handler (figures only, never pass/fail), in
// GB of guest memory handed back per second of CPU time, with the real allocator and EPT.
//   BM_balloon_inflate_ranges    256 MiB populated with 2 MiB frames, inflated as 2 MiB ranges
//                                (128 entries per call): goal >= 15 GB/s (a range-based
//                                virtio-balloon proposal for Linux reached ~14.6 GB/s)
//   BM_balloon_inflate_scattered 64 MiB in 4 KiB frames, every other page inflated as one-page
//                                entries (256 per call, the hypercall's maximum): goal >= 3 GB/s
//                                (virtio-balloon's 4 KiB PFN lists move ~1.7 GB/s)
//   BM_balloon_inflate_split     parts of 2 MiB frames (64 pages in each): split, then freed
//   BM_balloon_deflate_ranges    the bitmap work of taking 2 MiB ranges back
// Repopulating between iterations is outside the timing.
#include "mm/balloon.hpp"
#include "tests/unit/support/merge_fixture.hpp"
#include <benchmark/benchmark.h>
#include <ctime>
#include <vector>

namespace {

using namespace hv;
using test::Merge_host;

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Touches one word of every page (4 KiB) or every 2 MiB frame of [0, bytes).
void populate(Merge_host& host, u64 bytes, u64 step) {
  const u64 one = 1;
  for (u64 gpa = 0; gpa < bytes; gpa += step)
    if (!host.write(1, gpa, &one, sizeof(one))) std::abort();
}

void report(benchmark::State& state, double seconds, u64 bytes, u64 calls) {
  state.counters["GB_per_s"] = static_cast<double>(bytes) / seconds / 1e9;
  state.counters["ns_per_4k_page"] = seconds * 1e9 / static_cast<double>(bytes / page_size_4k);
  state.counters["calls"] = static_cast<double>(calls);
}

// Inflates `list` (in calls of at most `per_call` entries), deflates it again, repopulates.
void run(benchmark::State& state, u64 vm_bytes, bool large, u64 touch_step, const std::vector<Balloon_range>& list,
         usize per_call) {
  Merge_host host(vm_bytes + 64 * MiB, true);
  Guest_memory& m = host.add_vm(1, vm_bytes, large, false);
  u64 pages = 0;
  for (const Balloon_range& r : list) pages += r.pages;
  double seconds = 0;
  u64 bytes = 0, calls = 0;
  for (auto _ : state) {
    state.PauseTiming();
    populate(host, vm_bytes, touch_step);
    state.ResumeTiming();
    const double t0 = cpu_seconds();
    for (usize i = 0; i < list.size(); i += per_call) {
      const usize n = list.size() - i < per_call ? list.size() - i : per_call;
      const auto r = m.balloon_inflate(std::span<const Balloon_range>(list.data() + i, n), ~u64{0});
      if (r.status != Balloon_status::ok) std::abort();
      ++calls;
    }
    seconds += cpu_seconds() - t0;
    bytes += pages * page_size_4k;
    state.PauseTiming();
    for (usize i = 0; i < list.size(); i += per_call) {
      const usize n = list.size() - i < per_call ? list.size() - i : per_call;
      if (m.balloon_deflate(std::span<const Balloon_range>(list.data() + i, n)).status != Balloon_status::ok) std::abort();
    }
    state.ResumeTiming();
  }
  report(state, seconds, bytes, calls);
}

void BM_balloon_inflate_ranges(benchmark::State& state) {
  constexpr u64 vm_bytes = 256 * MiB;
  std::vector<Balloon_range> list;
  for (u64 g = 0; g < vm_bytes / page_size_4k; g += 512) list.push_back({g, 512});
  run(state, vm_bytes, true, page_size_2m, list, 128);
}
BENCHMARK(BM_balloon_inflate_ranges)->Unit(benchmark::kMillisecond)->Iterations(20);

void BM_balloon_inflate_scattered(benchmark::State& state) {
  constexpr u64 vm_bytes = 64 * MiB;
  std::vector<Balloon_range> list;
  for (u64 g = 0; g < vm_bytes / page_size_4k; g += 2) list.push_back({g, 1});
  run(state, vm_bytes, false, page_size_4k, list, balloon_list_max);
}
BENCHMARK(BM_balloon_inflate_scattered)->Unit(benchmark::kMillisecond)->Iterations(10);

void BM_balloon_inflate_split(benchmark::State& state) {
  constexpr u64 vm_bytes = 128 * MiB;
  std::vector<Balloon_range> list;
  for (u64 g = 0; g < vm_bytes / page_size_4k; g += 512) list.push_back({g + 100, 64});
  run(state, vm_bytes, true, page_size_4k, list, 64);
}
BENCHMARK(BM_balloon_inflate_split)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_balloon_deflate_ranges(benchmark::State& state) {
  constexpr u64 vm_bytes = 256 * MiB;
  Merge_host host(vm_bytes + 64 * MiB, true);
  Guest_memory& m = host.add_vm(1, vm_bytes, true, false);
  std::vector<Balloon_range> list;
  for (u64 g = 0; g < vm_bytes / page_size_4k; g += 512) list.push_back({g, 512});
  double seconds = 0;
  u64 bytes = 0, calls = 0;
  for (auto _ : state) {
    if (m.balloon_inflate(std::span<const Balloon_range>(list.data(), 128), ~u64{0}).status != Balloon_status::ok) std::abort();
    const double t0 = cpu_seconds();
    if (m.balloon_deflate(std::span<const Balloon_range>(list.data(), 128)).status != Balloon_status::ok) std::abort();
    seconds += cpu_seconds() - t0;
    bytes += vm_bytes;
    ++calls;
  }
  report(state, seconds, bytes, calls);
}
BENCHMARK(BM_balloon_deflate_ranges)->Unit(benchmark::kMicrosecond);

} // namespace
