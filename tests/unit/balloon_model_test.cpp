// tests/unit/balloon_model_test.cpp - the balloon against a model, 1,000,000 randomized calls: two
// VMs (2 MiB and 4 KiB population) with the merger running beside them; lists valid and hostile
// (outside RAM, zero and overflowing counts, duplicates, overlaps, pages already ballooned or never
// ballooned, beyond the target, too long), guest writes into ballooned pages, free page reports.
// Every call's result must be the model's; every page must read what the model says; the balloon
// and touched counts must agree; the reverse map must stay consistent; every frame must be back at
// the end. A refused call must change nothing (the model does not change, so any change shows).
#include "mm/balloon.hpp"
#include "unit/support/merge_fixture.hpp"
#include <gtest/gtest.h>
#include <random>
#include <vector>

namespace hv {
namespace {

using test::Merge_host;

constexpr u64 vm_pages = 2048;  // 8 MiB each
constexpr u64 gfn_limit = ept_4level_gpa_limit / page_size_4k;

struct Vm_model {
  std::vector<u64> seed;       // what each page holds (0: zeros)
  std::vector<bool> ballooned;
  u64 balloon = 0;
  u64 touched = 0;
};

// What Guest_memory must answer for `list` (the order of its checks: shape, ranges, target, marks).
Balloon_status expect_status(const Vm_model& vm, const std::vector<Balloon_range>& list, int kind, u64 max_balloon) {
  if (list.empty()) return Balloon_status::bad_range;
  if (list.size() > balloon_list_max) return Balloon_status::too_long;
  u64 pages = 0;
  for (const Balloon_range& r : list) {
    if (r.pages == 0 || r.gfn >= gfn_limit || r.pages > gfn_limit - r.gfn || r.gfn + r.pages > vm_pages)
      return Balloon_status::bad_range;
    pages += r.pages;
  }
  if (kind == 0 && vm.balloon + pages > max_balloon) return Balloon_status::beyond_target;
  std::vector<bool> marks = vm.ballooned;
  for (const Balloon_range& r : list) {
    for (u64 g = r.gfn; g < r.gfn + r.pages; ++g) {
      if (kind == 1 ? !marks[g] : marks[g]) return kind == 1 ? Balloon_status::not_inflated : Balloon_status::overlap;
      marks[g] = kind != 1;
    }
  }
  return Balloon_status::ok;
}

class Balloon_model : public ::testing::Test {
protected:
  Balloon_model() : host(96 * MiB) {
    Merge_knobs k;
    k.run = 1;
    k.pages_to_scan = 256;
    host.merger().set_knobs(k);
    for (Vm_id v = 1; v <= 2; ++v) {
      host.add_vm(v, vm_pages * page_size_4k, v == 1);
      models[v].seed.assign(vm_pages, 0);
      models[v].ballooned.assign(vm_pages, false);
    }
  }

  Balloon_range random_range(std::mt19937_64& rng) {
    const u32 shape = static_cast<u32>(rng() % 100);
    if (shape < 2) return {vm_pages - rng() % 4, 1 + rng() % 8};              // reaching past RAM
    if (shape < 3) return {rng(), rng()};                                      // garbage
    if (shape < 4) return {rng() % vm_pages, 0};                               // zero pages
    if (shape < 5) return {rng() % vm_pages, ~u64{0} - rng() % 4};             // overflowing
    if (shape < 20) {                                                          // a 2 MiB run
      const u64 g = (rng() % (vm_pages / 512)) * 512;
      return {g, 512};
    }
    const u64 g = rng() % vm_pages;
    const u64 n = 1 + rng() % (shape < 60 ? 4 : 64);
    return {g, g + n > vm_pages ? vm_pages - g : n};
  }

  // A run of ballooned pages (what a driver deflates).
  static Balloon_range ballooned_run(const Vm_model& vm, std::mt19937_64& rng) {
    u64 g = rng() % vm_pages;
    while (!vm.ballooned[g]) g = (g + 1) % vm_pages;
    u64 n = 1;
    const u64 want = 1 + rng() % 600;
    while (n < want && g + n < vm_pages && vm.ballooned[g + n]) ++n;
    return {g, n};
  }

  void check_vm(Vm_id v) {
    Guest_memory& m = *host.vm(v);
    const Guest_memory_stats s = m.stats();
    ASSERT_EQ(s.balloon_pages, models[v].balloon) << "vm " << v;
    ASSERT_EQ(s.balloon_touched, models[v].touched) << "vm " << v;
    u64 want[page_size_4k / 8], got[page_size_4k / 8];
    for (u64 g = 0; g < vm_pages; ++g) {
      host.read_page(v, g * page_size_4k, got);
      if (models[v].ballooned[g]) {
        ASSERT_FALSE(m.ept().translate(Gpa(g * page_size_4k))) << "ballooned page mapped: vm " << v << " gfn " << g;
        continue;
      }
      Merge_host::fill_pattern(want, models[v].seed[g]);
      ASSERT_EQ(std::memcmp(want, got, sizeof(want)), 0) << "vm " << v << " gfn " << g;
    }
    const char* why = "";
    ASSERT_TRUE(host.sharing().check(why)) << why;
  }

  Merge_host host;
  Vm_model models[3];
};

TEST_F(Balloon_model, AMillionRandomCallsAgreeWithTheModel) {
  std::mt19937_64 rng(20261203);
  u64 calls = 0, refused = 0, pages_moved = 0;
  for (u64 step = 0; calls < 1'000'000; ++step) {
    const Vm_id v = static_cast<Vm_id>(1 + rng() % 2);
    Vm_model& vm = models[v];
    Guest_memory& m = *host.vm(v);
    const u32 op = static_cast<u32>(rng() % 100);
    if (op < 25) {
      // A guest write: a few pages with seeds from a small set (so that pages merge).
      for (int i = 0; i < 4; ++i) {
        const u64 g = rng() % vm_pages;
        const u64 seed = rng() % 6 == 0 ? 0 : 1 + rng() % 40;
        ASSERT_TRUE(host.fill_page(v, g * page_size_4k, seed));
        if (vm.ballooned[g]) {
          vm.ballooned[g] = false;
          --vm.balloon;
          ++vm.touched;
        }
        vm.seed[g] = seed;
      }
      continue;
    }
    if (op < 27) {
      host.merger().scan(256);
      continue;
    }
    // A balloon call: 0 inflate, 1 deflate, 2 free page report.
    const int kind = op < 60 ? 0 : op < 90 ? 1 : 2;
    std::vector<Balloon_range> list;
    const u32 len_shape = static_cast<u32>(rng() % 1000);
    const usize len = len_shape == 0 ? 0 : len_shape == 1 ? balloon_list_max + 1 : 1 + rng() % 4;
    for (usize i = 0; i < len; ++i) {
      if (i > 0 && rng() % 10 == 0) list.push_back(list[rng() % i]);  // a duplicate entry
      else if (kind == 1 && vm.balloon > 0 && rng() % 10 < 7) list.push_back(ballooned_run(vm, rng));
      else list.push_back(random_range(rng));
    }
    const u64 max_balloon = rng() % 4 == 0 ? rng() % vm_pages : vm_pages;
    const Balloon_status want = expect_status(vm, list, kind, max_balloon);
    const Guest_memory::Balloon_result r = kind == 0   ? m.balloon_inflate(list, max_balloon)
                                           : kind == 1 ? m.balloon_deflate(list)
                                                       : m.free_page_report(list);
    ++calls;
    ASSERT_EQ(r.status, want) << "call " << calls << " kind " << kind;
    if (want != Balloon_status::ok) {
      ++refused;
      ASSERT_EQ(r.pages, 0u);
      continue;
    }
    ASSERT_EQ(r.entries, list.size());
    for (const Balloon_range& e : list) {
      for (u64 g = e.gfn; g < e.gfn + e.pages; ++g) {
        vm.seed[g] = 0;  // inflated, deflated, reported: zeros when next touched
        if (kind == 0) vm.ballooned[g] = true;
        if (kind == 1) vm.ballooned[g] = false;
      }
      pages_moved += e.pages;
      if (kind == 0) vm.balloon += e.pages;
      if (kind == 1) vm.balloon -= e.pages;
    }
    if (calls % 50'000 == 0) {
      check_vm(1);
      check_vm(2);
    }
  }
  check_vm(1);
  check_vm(2);
  EXPECT_GT(refused, calls / 10);       // the hostile inputs were exercised
  EXPECT_GT(pages_moved, 1'000'000u);   // and so was the page work
  host.stop_vm(1);
  host.stop_vm(2);
  host.merger().release_idle_storage();
  EXPECT_EQ(host.frames_in_use(), 0u);
}

} // namespace
} // namespace hv
