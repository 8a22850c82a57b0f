// tests/unit/balloon_test.cpp - the balloon on real guest memory: inflating whole 2 MiB frames,
// parts of them and scattered pages, shared frames, deflating, touching a ballooned page, free
// page reporting, every refusal changing nothing, running out of memory part-way, targets and
// floors, and every frame back when the VM stops. The randomized model test is balloon_model_test.cpp.
#include "mm/balloon.hpp"
#include "mm/page_bitmap.hpp"
#include "unit/support/ept_test_memory.hpp"
#include "unit/support/merge_fixture.hpp"
#include <gtest/gtest.h>
#include <vector>

namespace hv {
namespace {

using test::Merge_host;
using Result = Guest_memory::Balloon_result;

constexpr u64 pages_2m = 512;

class Balloon_test : public ::testing::Test {
protected:
  Balloon_test() : host(256 * MiB) {}
  Guest_memory& add_vm(Vm_id id, u64 bytes, bool large) {
    Guest_memory& m = host.add_vm(id, bytes, large);
    balloons.emplace_back(std::make_unique<Balloon>(m));
    balloons.back()->start(bytes / page_size_4k, bytes / page_size_4k);
    return m;
  }
  Balloon& balloon(usize i) { return *balloons[i]; }
  void fill(Vm_id vm, u64 first_page, u64 pages, u64 seed_base) {
    for (u64 i = first_page; i < first_page + pages; ++i) ASSERT_TRUE(host.fill_page(vm, i * page_size_4k, seed_base + i));
  }
  void expect_pages(Vm_id vm, u64 first_page, u64 pages, u64 seed_base) {
    u64 want[page_size_4k / 8], got[page_size_4k / 8];
    for (u64 i = first_page; i < first_page + pages; ++i) {
      Merge_host::fill_pattern(want, seed_base + i);
      host.read_page(vm, i * page_size_4k, got);
      ASSERT_EQ(std::memcmp(want, got, sizeof(want)), 0) << "vm " << vm << " page " << i;
    }
  }
  u64 free_frames() const { return const_cast<Merge_host&>(host).allocator().stats().free_frames; }
  static Result inflate(Guest_memory& m, std::vector<Balloon_range> list, u64 max = ~u64{0}) {
    return m.balloon_inflate(list, max);
  }
  static Result deflate(Guest_memory& m, std::vector<Balloon_range> list) { return m.balloon_deflate(list); }

  Merge_host host;
  std::vector<std::unique_ptr<Balloon>> balloons;
};

TEST(Page_bitmap, RunsAcrossWordBoundariesAgreeWithBitByBit) {
  std::vector<u64> words(Page_bitmap_view::words_for(1000));
  Page_bitmap_view b(words.data(), 1000);
  std::vector<bool> model(1000);
  u64 x = 12345;
  for (int step = 0; step < 20000; ++step) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const u64 first = x % 1000, n = 1 + (x >> 20) % (1000 - first);
    const bool any = std::find(model.begin() + first, model.begin() + first + n, true) != model.begin() + first + n;
    const bool all = std::find(model.begin() + first, model.begin() + first + n, false) == model.begin() + first + n;
    ASSERT_EQ(b.any(first, n), any) << first << "+" << n;
    ASSERT_EQ(b.all(first, n), all) << first << "+" << n;
    if ((x >> 40) % 2) b.set(first, n), std::fill(model.begin() + first, model.begin() + first + n, true);
    else b.clear(first, n), std::fill(model.begin() + first, model.begin() + first + n, false);
  }
  for (u64 i = 0; i < 1000; ++i) ASSERT_EQ(b.test(i), model[i]);
}

TEST_F(Balloon_test, AWhole2MiBRangeFreesItsFrameAsOneBlockWithOneInvept) {
  Guest_memory& m = add_vm(1, 8 * MiB, true);
  fill(1, 0, 4 * pages_2m, 0);
  ASSERT_EQ(m.stats().frames_2m, 4u);
  const u64 free_before = free_frames();
  const u64 invepts = host.invalidator().count;
  const Result r = inflate(m, {{pages_2m, pages_2m}, {3 * pages_2m, pages_2m}});
  ASSERT_EQ(r.status, Balloon_status::ok);
  EXPECT_EQ(r.pages, 2 * pages_2m);
  EXPECT_EQ(r.entries, 2u);
  EXPECT_EQ(m.stats().frames_2m, 2u);
  EXPECT_EQ(m.stats().frames_4k, 0u);
  EXPECT_EQ(m.stats().balloon_pages, 2 * pages_2m);
  EXPECT_EQ(m.stats().balloon_frames_freed, 2 * pages_2m);
  // The two 2 MiB frames (less the bitmap's page) are free again, after one INVEPT for the call.
  EXPECT_EQ(free_frames() - free_before, 2 * pages_2m - 1);
  EXPECT_EQ(host.invalidator().count - invepts, 1u);
  EXPECT_FALSE(m.ept().translate(Gpa(pages_2m * page_size_4k)));
  expect_pages(1, 0, pages_2m, 0);
  expect_pages(1, 2 * pages_2m, pages_2m, 0);
}

TEST_F(Balloon_test, PartOfA2MiBFrameSplitsItAndTheRestKeepsItsContents) {
  Guest_memory& m = add_vm(1, 4 * MiB, true);
  fill(1, 0, pages_2m, 0);
  const u64 free_before = free_frames();
  const Result r = inflate(m, {{100, 10}, {511, 1}});
  ASSERT_EQ(r.status, Balloon_status::ok);
  EXPECT_EQ(r.pages, 11u);
  const Guest_memory_stats s = m.stats();
  EXPECT_EQ(s.frames_2m, 0u);
  EXPECT_EQ(s.frames_4k, pages_2m - 11);
  // 11 frames back, less one EPT table page for the split and one bitmap page.
  EXPECT_EQ(free_frames() - free_before, 11u - 2);
  expect_pages(1, 0, 100, 0);
  expect_pages(1, 110, 401, 0);
  EXPECT_FALSE(m.ept().translate(Gpa(105 * page_size_4k)));
  EXPECT_TRUE(m.ept().translate(Gpa(110 * page_size_4k)));
}

TEST_F(Balloon_test, ScatteredPagesAndHolesAreInflatedAndDeflatedPagesComeBackZero) {
  Guest_memory& m = add_vm(1, 4 * MiB, false);
  fill(1, 0, 64, 0);
  std::vector<Balloon_range> list;
  for (u64 i = 0; i < 64; i += 2) list.push_back({i, 1});
  list.push_back({600, 40});  // never touched: nothing to free, still ballooned
  ASSERT_EQ(inflate(m, list).pages, 72u);
  EXPECT_EQ(m.stats().frames_4k, 32u);
  for (u64 i = 1; i < 64; i += 2) expect_pages(1, i, 1, 0);
  ASSERT_EQ(deflate(m, {{0, 1}, {600, 40}}).pages, 41u);
  EXPECT_EQ(m.stats().balloon_pages, 31u);
  u64 page[page_size_4k / 8];
  ASSERT_TRUE(host.fill_page(1, 0, 77));  // deflated: populated afresh, not a touch
  host.read_page(1, 620 * page_size_4k, page);
  EXPECT_EQ(page[0], 0u);
  EXPECT_EQ(m.stats().balloon_touched, 0u);
}

TEST_F(Balloon_test, TouchingABallooned2MiBRangeGetsOnePageBackNotAWhole2MiBFrame) {
  Guest_memory& m = add_vm(1, 4 * MiB, true);
  ASSERT_EQ(inflate(m, {{pages_2m, pages_2m}}).pages, pages_2m);
  const u64 v = 42;
  ASSERT_TRUE(host.write(1, (pages_2m + 3) * page_size_4k, &v, sizeof(v)));
  const Guest_memory_stats s = m.stats();
  EXPECT_EQ(s.balloon_touched, 1u);
  EXPECT_EQ(s.balloon_pages, pages_2m - 1);
  EXPECT_EQ(s.frames_2m, 0u);
  EXPECT_EQ(s.frames_4k, 1u);
  // The touched page is the guest's again: deflating it is an error, the rest deflates.
  EXPECT_EQ(deflate(m, {{pages_2m, pages_2m}}).status, Balloon_status::not_inflated);
  EXPECT_EQ(deflate(m, {{pages_2m, 3}, {pages_2m + 4, pages_2m - 4}}).pages, pages_2m - 1);
  EXPECT_EQ(m.stats().balloon_pages, 0u);
}

TEST_F(Balloon_test, EveryBadListIsRefusedWithItsReasonAndChangesNothing) {
  Guest_memory& m = add_vm(1, 4 * MiB, false);
  fill(1, 0, 16, 0);
  ASSERT_EQ(inflate(m, {{8, 4}}).pages, 4u);
  const Guest_memory_stats before = m.stats();
  const u64 free_before = free_frames();
  struct Case {
    const char* what;
    std::vector<Balloon_range> list;
    Balloon_status want;
  };
  const std::vector<Case> cases = {
      {"empty", {}, Balloon_status::bad_range},
      {"zero pages", {{0, 1}, {2, 0}}, Balloon_status::bad_range},
      {"outside RAM", {{0, 1}, {1024, 1}}, Balloon_status::bad_range},
      {"reaching past RAM", {{1020, 8}}, Balloon_status::bad_range},
      {"overflowing count", {{5, ~u64{0} - 2}}, Balloon_status::bad_range},
      {"huge GFN", {{~u64{0} - 1, 1}}, Balloon_status::bad_range},
      {"already ballooned", {{0, 1}, {10, 1}}, Balloon_status::overlap},
      {"duplicate", {{0, 1}, {1, 1}, {0, 1}}, Balloon_status::overlap},
      {"overlapping", {{0, 4}, {3, 2}}, Balloon_status::overlap},
      {"too long", std::vector<Balloon_range>(balloon_list_max + 1, Balloon_range{0, 1}), Balloon_status::too_long},
  };
  for (const Case& c : cases) EXPECT_EQ(inflate(m, c.list).status, c.want) << c.what;
  EXPECT_EQ(inflate(m, {{0, 2}}, 5).status, Balloon_status::beyond_target);  // 4 + 2 > 5
  EXPECT_EQ(deflate(m, {{8, 4}, {0, 1}}).status, Balloon_status::not_inflated);
  EXPECT_EQ(deflate(m, {{8, 2}, {9, 1}}).status, Balloon_status::not_inflated);  // twice
  EXPECT_EQ(m.free_page_report(std::vector<Balloon_range>{{9, 1}}).status, Balloon_status::overlap);
  const Guest_memory_stats after = m.stats();
  EXPECT_EQ(after.balloon_pages, before.balloon_pages);
  EXPECT_EQ(after.frames_4k, before.frames_4k);
  EXPECT_EQ(free_frames(), free_before);
  expect_pages(1, 0, 8, 0);
  expect_pages(1, 12, 4, 0);
  EXPECT_EQ(deflate(m, {{8, 4}}).pages, 4u);  // the balloon still holds exactly its 4 pages
}

TEST_F(Balloon_test, SharedFramesLoseOneUserAndGoWithTheirLastOne) {
  Merge_knobs k;
  k.run = 1;
  host.merger().set_knobs(k);
  Guest_memory& a = add_vm(1, 4 * MiB, false);
  Guest_memory& b = add_vm(2, 4 * MiB, false);
  fill(1, 0, 8, 500);
  fill(2, 0, 8, 500);
  host.merger().scan_full_pass();
  ASSERT_EQ(host.merger().stats().pages_sharing, 8u);
  const u64 free_before = free_frames();
  const u64 tables_before = a.stats().table_pages;
  ASSERT_EQ(inflate(a, {{0, 8}}).pages, 8u);
  EXPECT_EQ(a.stats().shared_4k, 0u);
  EXPECT_EQ(a.stats().balloon_frames_freed, 0u);
  // No guest frame freed (vm 2 still maps them): only the emptied EPT tables, less one bitmap page.
  EXPECT_EQ(free_frames() - free_before, tables_before - a.stats().table_pages - 1);
  expect_pages(2, 0, 8, 500);
  ASSERT_EQ(inflate(b, {{0, 4}}).pages, 4u);
  EXPECT_EQ(b.stats().balloon_frames_freed, 4u);
  expect_pages(2, 4, 4, 500);
  const char* why = "";
  EXPECT_TRUE(host.sharing().check(why)) << why;
}

TEST_F(Balloon_test, PartOfASharedWhole2MiBFrameTakesAPrivateCopyFirst) {
  Merge_knobs k;
  k.run = 1;
  host.merger().set_knobs(k);
  Guest_memory& a = add_vm(1, 4 * MiB, true);
  add_vm(2, 4 * MiB, true);
  fill(1, 0, pages_2m, 900);
  fill(2, 0, pages_2m, 900);
  host.merger().scan_full_pass();
  ASSERT_EQ(host.merger().stats().merges_2m, 1u);
  ASSERT_EQ(inflate(a, {{10, 20}}).pages, 20u);
  EXPECT_EQ(a.stats().shared_2m, 0u);
  EXPECT_EQ(a.stats().frames_4k, pages_2m - 20);
  expect_pages(1, 0, 10, 900);
  expect_pages(1, 30, pages_2m - 30, 900);
  expect_pages(2, 0, pages_2m, 900);
  const char* why = "";
  EXPECT_TRUE(host.sharing().check(why)) << why;
}

TEST_F(Balloon_test, FreePageReportsGiveTheBackingBackWithoutBallooning) {
  Guest_memory& m = add_vm(1, 4 * MiB, false);
  fill(1, 0, 32, 0);
  const u64 free_before = free_frames();
  ASSERT_EQ(m.free_page_report(std::vector<Balloon_range>{{0, 16}}).pages, 16u);
  EXPECT_EQ(free_frames() - free_before, 16u - 1);  // one bitmap page
  EXPECT_EQ(m.stats().balloon_pages, 0u);
  EXPECT_EQ(m.stats().free_reported, 16u);
  ASSERT_TRUE(host.fill_page(1, 3 * page_size_4k, 5));
  EXPECT_EQ(m.stats().balloon_touched, 0u);
  // Not in the balloon, so it can be reported again, or inflated.
  EXPECT_EQ(inflate(m, {{0, 3}}).pages, 3u);
  expect_pages(1, 16, 16, 0);
}

TEST_F(Balloon_test, ExecSplitBlocksGoWholeOrAreSplitFirst) {
  Ept_config c;
  c.owner = 1;
  c.max_phys_addr_bits = 46;
  c.no_exec_large_leaves = true;
  Paging_policy p = default_paging_policy;
  p.prefer_2m_leaves = true;
  const u64 free_start = free_frames();
  Guest_memory m(host.allocator(), host.arena().direct_map(), host.invalidator(), c, p);
  ASSERT_EQ(m.init(), Ept_status::ok);
  ASSERT_EQ(m.add_slot({Gpa(0), 8 * MiB, Memslot_kind::ram}), Memslot_status::ok);
  for (u64 base : {u64{0}, 2 * MiB}) {
    ASSERT_EQ(m.handle_ept_violation(Gpa(base), Ept_access{true, false, false}).reason, Violation_reason::populated_2m);
    ASSERT_EQ(m.handle_ept_violation(Gpa(base), Ept_access{false, false, true}).reason, Violation_reason::exec_split);
  }
  ASSERT_EQ(m.balloon_inflate(std::vector<Balloon_range>{{0, pages_2m}, {pages_2m + 7, 1}}, ~u64{0}).pages, pages_2m + 1);
  const Guest_memory_stats s = m.stats();
  EXPECT_EQ(s.frames_2m, 0u);
  EXPECT_EQ(s.frames_4k, pages_2m - 1);
  m.destroy();
  EXPECT_EQ(free_frames(), free_start);
}

// One VM's guest memory over counting test frames (no merger): for out-of-memory and reboot tests.
// The RAM slot is added; init() is the test's (a reboot test calls it once per boot).
struct Lone_vm {
  explicit Lone_vm(u64 bytes, bool large = false)
      : m(frames, frames.direct_map(), inv, config(), policy(large)) {
    if (m.add_slot({Gpa(0), bytes, Memslot_kind::ram}) != Memslot_status::ok) std::abort();
  }
  static Ept_config config() {
    Ept_config c;
    c.owner = 1;
    c.max_phys_addr_bits = 46;
    return c;
  }
  static Paging_policy policy(bool large) {
    Paging_policy p = default_paging_policy;
    p.prefer_2m_leaves = large;
    return p;
  }
  test::Test_frames frames;
  test::Counting_invalidator inv;
  Guest_memory m;
};

TEST(Balloon_out_of_memory, APrefixOfWholeEntriesIsDoneAndTheRestIsUntouched) {
  Lone_vm vm(8 * MiB, true);
  Guest_memory& m = vm.m;
  test::Test_frames& frames = vm.frames;
  ASSERT_EQ(m.init(), Ept_status::ok);
  for (u64 base : {u64{0}, 2 * MiB}) ASSERT_EQ(m.handle_ept_violation(Gpa(base), Ept_access{false, true, false}).reason, Violation_reason::populated_2m);
  std::memset(frames.bytes(m.ept().translate(Gpa(2 * MiB))->hpa), 0x5A, page_size_2m);
  // The bitmap exists (one inflate done); then no frame at all is left.
  ASSERT_EQ(m.balloon_inflate(std::vector<Balloon_range>{{1500, 1}}, ~u64{0}).pages, 1u);
  frames.set_budget_frames(frames.outstanding_frames());
  // Entry 0 is a whole 2 MiB leaf (no frame needed); entry 1 is part of one (needs a table page).
  const Result r = m.balloon_inflate(std::vector<Balloon_range>{{0, pages_2m}, {pages_2m + 5, 5}}, ~u64{0});
  EXPECT_EQ(r.status, Balloon_status::no_memory);
  EXPECT_EQ(r.pages, pages_2m);
  EXPECT_EQ(r.entries, 1u);
  EXPECT_EQ(m.stats().balloon_pages, pages_2m + 1);
  const auto t = m.ept().translate(Gpa((pages_2m + 6) * page_size_4k));
  ASSERT_TRUE(t);
  EXPECT_EQ(frames.bytes(t->hpa)[0], 0x5A);
  // Nothing done at all: no_memory, and the next call with memory works.
  frames.set_budget_frames(frames.outstanding_frames());  // the freed 2 MiB block is not spare
  EXPECT_EQ(m.balloon_inflate(std::vector<Balloon_range>{{pages_2m + 5, 5}}, ~u64{0}).pages, 0u);
  frames.set_budget_frames(test::Test_frames::unlimited);
  EXPECT_EQ(m.balloon_inflate(std::vector<Balloon_range>{{pages_2m + 5, 5}}, ~u64{0}).pages, 5u);
  m.destroy();
  EXPECT_EQ(frames.outstanding(), 0u);
}

TEST(Balloon_targets, SizesFloorsAutoLimitsAndTheStartBalloon) {
  Lone_vm vm(256 * MiB);
  Guest_memory& m = vm.m;
  ASSERT_EQ(m.init(), Ept_status::ok);
  Balloon b(m);
  const u64 mib = MiB / page_size_4k;
  EXPECT_EQ(balloon_floor_pages(256 * mib), 16 * mib);
  EXPECT_EQ(balloon_floor_pages(16 * mib), 4 * mib);
  EXPECT_EQ(balloon_floor_pages(2 * mib), 2 * mib);
  b.start(256 * mib, 64 * mib);
  ASSERT_EQ(b.inflate_at_start(), Balloon_status::ok);
  Balloon_view v = b.view();
  EXPECT_EQ(v.target_pages, 192 * mib);
  EXPECT_EQ(v.actual_pages, 192 * mib);
  EXPECT_FALSE(v.driver);
  EXPECT_EQ(b.set_size(257 * mib), Balloon_set_status::above_memory);
  EXPECT_EQ(b.set_size(15 * mib), Balloon_set_status::below_floor);
  EXPECT_EQ(b.set_size(128 * mib), Balloon_set_status::ok);
  EXPECT_EQ(b.target_pages(), 128 * mib);
  b.set_auto_limit(32 * mib);  // the policy's cap wins while it is lower
  EXPECT_EQ(b.target_pages(), 224 * mib);
  b.set_auto_limit(1);  // clamped to the floor
  EXPECT_EQ(b.target_pages(), 240 * mib);
  b.set_auto_limit(256 * mib);
  const Balloon_info_guest info = b.info();
  EXPECT_EQ(info.target_pages, 128 * mib);
  EXPECT_EQ(info.actual_pages, 192 * mib);
  EXPECT_EQ(info.target_changes, 4u);
  EXPECT_TRUE(b.view().driver);
  // The guest follows the target down by deflating, then deflates 10 MiB more (it ran short).
  EXPECT_EQ(b.deflate(std::vector<Balloon_range>{{64 * mib, 64 * mib}}).pages, 64 * mib);
  EXPECT_EQ(b.view().counters.oom_deflated_pages, 0u);
  EXPECT_EQ(b.deflate(std::vector<Balloon_range>{{128 * mib, 10 * mib}}).pages, 10 * mib);
  EXPECT_EQ(b.view().counters.oom_deflated_pages, 10 * mib);
  // Inflating above the target is refused; up to it is fine.
  EXPECT_EQ(b.inflate(std::vector<Balloon_range>{{64 * mib, 11 * mib}}).status, Balloon_status::beyond_target);
  EXPECT_EQ(b.inflate(std::vector<Balloon_range>{{128 * mib, 10 * mib}}).pages, 10 * mib);
  EXPECT_EQ(b.view().counters.refused_calls, 1u);
  // Stats: known tags kept, unknown ones skipped, too many refused.
  const Balloon_stat st[3] = {{balloon_tag::free_memory, 5 * MiB}, {77, 1}, {balloon_tag::total_memory, 64 * MiB}};
  EXPECT_EQ(b.report_stats(st), Balloon_status::ok);
  v = b.view();
  EXPECT_EQ(v.stats[balloon_tag::free_memory], 5 * MiB);
  EXPECT_EQ(v.stats_valid, (1u << balloon_tag::free_memory) | (1u << balloon_tag::total_memory));
  std::vector<Balloon_stat> many(balloon_stats_max + 1, Balloon_stat{0, 0});
  EXPECT_EQ(b.report_stats(many), Balloon_status::too_long);
  m.destroy();
  EXPECT_EQ(vm.frames.outstanding(), 0u);
}

TEST(Balloon_reset, ARebootStartsTheBalloonAndWhatTheGuestSeesOfItAfresh) {
  Lone_vm vm(64 * MiB);
  Guest_memory& m = vm.m;
  Balloon b(m);
  for (int boot = 0; boot < 2; ++boot) {
    ASSERT_EQ(m.init(), Ept_status::ok);
    b.start(16384, 8192);
    ASSERT_EQ(b.inflate_at_start(), Balloon_status::ok);
    const Balloon_info_guest first = b.info();
    EXPECT_EQ(first.actual_pages, 8192u) << "boot " << boot;
    EXPECT_EQ(first.touched_pages, 0u) << "boot " << boot;
    EXPECT_EQ(b.view().counters.inflate_calls, 0u) << "boot " << boot;
    ASSERT_EQ(m.handle_ept_violation(Gpa(9000 * page_size_4k), Ept_access{false, true, false}).reason,
              Violation_reason::populated_4k);  // the guest touches a ballooned page
    EXPECT_EQ(b.info().touched_pages, 1u);
    EXPECT_EQ(b.inflate(std::vector<Balloon_range>{{20, 2}}).status, Balloon_status::beyond_target);  // room for one
    m.destroy();  // what Vm::reset does before loading the image again
  }
  EXPECT_EQ(vm.frames.outstanding(), 0u);
}

TEST_F(Balloon_test, EveryFrameIsBackWhenTheVmStopsWithABalloon) {
  const u64 free_start = free_frames();
  Guest_memory& m = add_vm(1, 16 * MiB, true);
  fill(1, 0, 3 * pages_2m, 0);
  ASSERT_EQ(inflate(m, {{5, 600}, {2000, 40}}).pages, 640u);
  const u64 v = 1;
  ASSERT_TRUE(host.write(1, 2010 * page_size_4k, &v, sizeof(v)));
  host.stop_vm(1);
  EXPECT_EQ(free_frames(), free_start);
}

} // namespace
} // namespace hv
