// tests/unit/merge_test.cpp - same-page merging: the hash index, the reverse map, and the merger on
// real guest memory (duplicates within and across VMs, zero pages, whole 2 MiB frames, the 2 MiB
// split policy, CoW breaks and take-backs, volatile pages, unmerge, merge_across_vms, knobs, frames
// back when VMs stop). The randomized model test is merge_model_test.cpp.
#include "mm/merge/hash_index.hpp"
#include "mm/merge/merger.hpp"
#include "mm/merge/page_hash.hpp"
#include "unit/support/merge_fixture.hpp"
#include <gtest/gtest.h>
#include <map>
#include <random>

namespace hv {
namespace {

using test::Merge_host;

TEST(Hash_index, AgreesWithAMultimapOverRandomInsertsAndErases) {
  Merge_host host(64 * MiB);
  Hash_index index(host.allocator(), host.arena().direct_map());
  std::multimap<u64, u32> model;
  std::mt19937_64 rng(7);
  for (int step = 0; step < 200'000; ++step) {
    const u64 key = rng() % 5000;  // many equal keys
    if (rng() % 3 != 0) {
      const u32 value = static_cast<u32>(rng() % 1000);
      ASSERT_TRUE(index.insert(key, value));
      model.emplace(key, value);
    } else {
      auto range = model.equal_range(key);
      if (range.first == range.second) {
        EXPECT_FALSE(index.erase(key, 12345));
        continue;
      }
      const u32 value = range.first->second;
      ASSERT_TRUE(index.erase(key, value));
      model.erase(range.first);
    }
    if (step % 997 == 0) {
      ASSERT_EQ(index.size(), model.size());
      for (u64 k = 0; k < 5000; k += 37) {
        std::multiset<u32> want, got;
        for (auto [a, b] = model.equal_range(k); a != b; ++a) want.insert(a->second);
        (void)index.find_each(k, [&](u32 v) { got.insert(v); return false; });
        ASSERT_EQ(want, got) << "key " << k;
      }
    }
  }
  index.release();
}

TEST(Page_hash, EqualityAndZeroTestsAreExact) {
  alignas(64) u8 a[page_size_4k] = {};
  alignas(64) u8 b[page_size_4k] = {};
  EXPECT_TRUE(page_is_zero(a, sizeof(a)));
  EXPECT_TRUE(pages_equal(a, b, sizeof(a)));
  EXPECT_EQ(hash_page_4k(a), hash_page_4k(b));
  b[4095] = 1;
  EXPECT_FALSE(page_is_zero(b, sizeof(b)));
  EXPECT_FALSE(pages_equal(a, b, sizeof(a)));
  EXPECT_NE(hash_page_4k(a), hash_page_4k(b));
}

class Merger_test : public ::testing::Test {
protected:
  Merger_test() : host(256 * MiB) {
    Merge_knobs k;
    k.run = 1;
    host.merger().set_knobs(k);
  }
  void expect_page(Vm_id vm, u64 gpa, u64 seed) {
    u64 want[page_size_4k / 8], got[page_size_4k / 8];
    Merge_host::fill_pattern(want, seed);
    host.read_page(vm, gpa, got);
    EXPECT_EQ(std::memcmp(want, got, sizeof(want)), 0) << "vm " << vm << " gpa " << gpa;
  }
  void check_invariants() {
    const char* why = "";
    EXPECT_TRUE(host.sharing().check(why)) << why;
  }
  Merge_host host;
};

TEST_F(Merger_test, DuplicatesWithinAndAcrossVmsMergeInOnePassAndUniquePagesStay) {
  for (Vm_id v = 1; v <= 3; ++v) {
    host.add_vm(v, 4 * MiB, false);
    for (u64 i = 0; i < 64; ++i) ASSERT_TRUE(host.fill_page(v, i * page_size_4k, 1 + i % 4));    // 4 contents
    for (u64 i = 64; i < 96; ++i) ASSERT_TRUE(host.fill_page(v, i * page_size_4k, 1000 * v + i));  // unique
  }
  const u64 before = host.guest_frames_in_use();
  host.merger().scan_full_pass();
  const Merge_stats s = host.merger().stats();
  EXPECT_EQ(s.full_scans, 1u);
  EXPECT_EQ(s.pages_shared, 4u);
  EXPECT_EQ(s.pages_sharing, 3u * 64 - 4);  // every duplicate, in the first pass
  EXPECT_EQ(s.pages_unshared, 3u * 32);
  EXPECT_EQ(before - host.guest_frames_in_use(), 3u * 64 - 4);
  for (Vm_id v = 1; v <= 3; ++v) {
    EXPECT_EQ(host.merger().merging_pages(v), 64u);
    for (u64 i = 0; i < 96; ++i) expect_page(v, i * page_size_4k, i < 64 ? 1 + i % 4 : 1000 * v + i);
  }
  check_invariants();
}

TEST_F(Merger_test, AWriteToAMergedPageBreaksTheSharingAndTheOthersKeepTheirContents) {
  host.add_vm(1, 4 * MiB, false);
  host.add_vm(2, 4 * MiB, false);
  ASSERT_TRUE(host.fill_page(1, 0, 5));
  ASSERT_TRUE(host.fill_page(2, 0, 5));
  ASSERT_TRUE(host.fill_page(2, page_size_4k, 5));
  host.merger().scan_full_pass();
  EXPECT_EQ(host.merger().stats().pages_sharing, 2u);
  const u64 v = 0xDEADBEEF;
  ASSERT_TRUE(host.write(2, 8, &v, sizeof(v)));  // CoW: a private copy for vm 2 page 0
  EXPECT_EQ(host.merger().stats().cow_breaks, 1u);
  EXPECT_EQ(host.merger().stats().pages_sharing, 1u);
  expect_page(1, 0, 5);
  expect_page(2, page_size_4k, 5);
  u64 got[page_size_4k / 8];
  host.read_page(2, 0, got);
  EXPECT_EQ(got[1], v);
  ASSERT_TRUE(host.write(2, page_size_4k + 16, &v, sizeof(v)));  // another copy
  ASSERT_TRUE(host.write(1, 16, &v, sizeof(v)));                 // the last user: takes the frame back
  const Merge_stats s = host.merger().stats();
  EXPECT_EQ(s.cow_breaks, 2u);
  EXPECT_EQ(s.cow_takebacks, 1u);
  EXPECT_EQ(s.pages_shared, 0u);
  check_invariants();
}

TEST_F(Merger_test, ZeroPagesAreGivenBackAndReadAsZeroAgain) {
  Guest_memory& m = host.add_vm(1, 4 * MiB, false);
  for (u64 i = 0; i < 32; ++i) ASSERT_TRUE(host.fill_page(1, i * page_size_4k, i < 16 ? 0 : 77 + i));
  const u64 before = host.guest_frames_in_use();
  host.merger().scan_full_pass();
  EXPECT_EQ(host.merger().stats().ksm_zero_pages, 16u);
  EXPECT_EQ(before - host.guest_frames_in_use(), 16u);
  EXPECT_FALSE(m.ept().translate(Gpa(0)).has_value());
  expect_page(1, 0, 0);
  ASSERT_TRUE(host.fill_page(1, 0, 9));  // populated again on the next touch
  expect_page(1, 0, 9);
  EXPECT_EQ(m.stats().zero_released, 16u);
}

TEST_F(Merger_test, IdenticalTwoMegabyteFramesMergeWholeWithoutASplit) {
  for (Vm_id v = 1; v <= 2; ++v) {
    host.add_vm(v, 4 * MiB, true);
    for (u64 i = 0; i < 512; ++i) ASSERT_TRUE(host.fill_page(v, i * page_size_4k, 100 + i));  // one 2 MiB frame
  }
  EXPECT_EQ(host.vm(1)->stats().frames_2m, 1u);
  const u64 before = host.guest_frames_in_use();
  host.merger().scan_full_pass();
  const Merge_stats s = host.merger().stats();
  EXPECT_EQ(s.merges_2m, 1u);
  EXPECT_EQ(s.splits_2m, 0u);
  EXPECT_EQ(s.pages_sharing, 512u);
  EXPECT_EQ(before - host.guest_frames_in_use(), 512u);
  const auto t1 = host.vm(1)->ept().translate(Gpa(0));
  const auto t2 = host.vm(2)->ept().translate(Gpa(0));
  ASSERT_TRUE(t1 && t2);
  EXPECT_EQ(t1->leaf.size, Page_size::size_2m);
  EXPECT_EQ(t1->leaf.hpa, t2->leaf.hpa);
  for (u64 i = 0; i < 512; i += 51) expect_page(2, i * page_size_4k, 100 + i);
  const u64 x = 1;
  ASSERT_TRUE(host.write(1, 4096 * 7, &x, sizeof(x)));  // a 2 MiB copy for vm 1
  expect_page(2, 4096 * 7, 107);
  EXPECT_EQ(host.vm(1)->ept().translate(Gpa(0))->leaf.size, Page_size::size_2m);
  check_invariants();
}

TEST_F(Merger_test, ATwoMegabyteFrameIsSplitOnlyWhenEnoughOfItsPagesCanMerge) {
  host.add_vm(1, 8 * MiB, true);
  // Frame 0: 100 zero pages and 412 unique ones; frame 1: 10 zero pages, the rest unique.
  for (u64 i = 0; i < 1024; ++i) {
    const bool zero = i < 100 || (i >= 512 && i < 522);
    ASSERT_TRUE(host.fill_page(1, i * page_size_4k, zero ? 0 : 5000 + i));
  }
  const u64 before = host.guest_frames_in_use();
  host.merger().scan_full_pass();
  const Merge_stats s = host.merger().stats();
  EXPECT_EQ(s.splits_2m, 1u);  // 100 >= split_2m_min_pages (64); 10 is not
  EXPECT_EQ(s.ksm_zero_pages, 100u);
  EXPECT_EQ(host.vm(1)->ept().translate(Gpa(2 * MiB))->leaf.size, Page_size::size_2m);
  EXPECT_EQ(host.guest_frames_in_use(), before - 100 + 1);  // one EPT table page for the split frame
  for (u64 i = 0; i < 1024; i += 7) {
    const bool zero = i < 100 || (i >= 512 && i < 522);
    expect_page(1, i * page_size_4k, zero ? 0 : 5000 + i);
  }
}

TEST_F(Merger_test, APageWrittenBetweenHashAndComparisonIsNotMergedAndCountsAsVolatile) {
  host.add_vm(1, 4 * MiB, false);
  ASSERT_TRUE(host.fill_page(1, 0, 3));
  ASSERT_TRUE(host.fill_page(1, page_size_4k, 3));
  struct Ctx {
    Merge_host* host;
    int writes = 0;
  } ctx{&host};
  host.merger().set_race_hook(
      [](void* c, Vm_id, Gpa gpa, Hpa hpa) {
        auto* x = static_cast<Ctx*>(c);
        if (gpa.value() != page_size_4k) return;
        x->host->arena().ptr<u64>(hpa)[3] ^= 0x55;  // the vCPU's write, just before protection
        ++x->writes;
      },
      &ctx);
  host.merger().scan_full_pass();
  EXPECT_EQ(ctx.writes, 1);
  EXPECT_EQ(host.merger().stats().pages_sharing, 0u);
  EXPECT_EQ(host.merger().stats().pages_volatile, 1u);
  expect_page(1, 0, 3);
  u64 got[page_size_4k / 8], want[page_size_4k / 8];
  Merge_host::fill_pattern(want, 3);
  want[3] ^= 0x55;
  host.read_page(1, page_size_4k, got);
  EXPECT_EQ(std::memcmp(got, want, sizeof(got)), 0);  // the write is kept
  // The page is writable again (its protection was lifted), without a fault.
  EXPECT_TRUE(has_rights(host.vm(1)->ept().translate(Gpa(page_size_4k))->leaf.attrs.rights, Ept_rights::write));
}

TEST_F(Merger_test, MergeAcrossVmsOffKeepsVmsApartAndCannotChangeWhileShared) {
  Merge_knobs k = host.merger().knobs();
  k.merge_across_vms = 0;
  host.merger().set_knobs(k);
  for (Vm_id v = 1; v <= 3; ++v) {
    host.add_vm(v, 4 * MiB, false);
    for (u64 i = 0; i < 8; ++i) ASSERT_TRUE(host.fill_page(v, i * page_size_4k, 42));
  }
  host.merger().scan_full_pass();
  const Merge_stats s = host.merger().stats();
  EXPECT_EQ(s.pages_shared, 3u);       // one frame per VM
  EXPECT_EQ(s.pages_sharing, 3u * 7);
  std::vector<Hpa> frames;
  for (Vm_id v = 1; v <= 3; ++v) frames.push_back(host.vm(v)->ept().translate(Gpa(0))->leaf.hpa);
  EXPECT_NE(frames[0], frames[1]);
  EXPECT_NE(frames[1], frames[2]);
  for (Vm_id v = 1; v <= 3; ++v)
    host.sharing().for_each_user(frames[v - 1], [&](Vm_id user, Gfn) { EXPECT_EQ(user, v); });
  const Merge_knob_info* info = nullptr;
  EXPECT_EQ(host.merger().set_knob("merge_across_vms", "1", info), Merge_knob_status::busy);
}

TEST_F(Merger_test, RunTwoUnmergesEverythingAndStopsScanning) {
  for (Vm_id v = 1; v <= 2; ++v) {
    host.add_vm(v, 4 * MiB, false);
    for (u64 i = 0; i < 16; ++i) ASSERT_TRUE(host.fill_page(v, i * page_size_4k, 1 + i % 2));
  }
  host.merger().scan_full_pass();
  ASSERT_EQ(host.merger().stats().pages_sharing, 30u);
  const Merge_knob_info* info = nullptr;
  ASSERT_EQ(host.merger().set_knob("run", "2", info), Merge_knob_status::ok);
  EXPECT_EQ(host.merger().scan(), 32u);
  const Merge_stats s = host.merger().stats();
  EXPECT_EQ(s.pages_shared, 0u);
  EXPECT_EQ(s.unmerged, 32u);
  EXPECT_EQ(host.merger().knobs().run, 0u);
  EXPECT_EQ(host.merger().scan(), 0u);  // run = 0
  for (Vm_id v = 1; v <= 2; ++v)
    for (u64 i = 0; i < 16; ++i) expect_page(v, i * page_size_4k, 1 + i % 2);
  check_invariants();
}

TEST_F(Merger_test, ACowBreakWithoutAFreeFrameFailsCleanlyAndSucceedsLater) {
  host.add_vm(1, 4 * MiB, false);
  host.add_vm(2, 4 * MiB, false);
  ASSERT_TRUE(host.fill_page(1, 0, 8));
  ASSERT_TRUE(host.fill_page(2, 0, 8));
  host.merger().scan_full_pass();
  ASSERT_EQ(host.merger().stats().pages_sharing, 1u);
  std::vector<Hpa> hoard;  // take every free frame
  while (auto f = host.allocator().alloc_frames(0, Frame_use::hypervisor, no_vm)) hoard.push_back(*f);
  const u64 v = 1;
  EXPECT_FALSE(host.write(2, 0, &v, sizeof(v)));  // the VM would pause
  expect_page(2, 0, 8);
  expect_page(1, 0, 8);
  host.allocator().free_frames(hoard.back(), 0);
  hoard.pop_back();
  EXPECT_TRUE(host.write(2, 0, &v, sizeof(v)));  // memory came back: the write goes through
  expect_page(1, 0, 8);
  for (Hpa h : hoard) host.allocator().free_frames(h, 0);
  check_invariants();
}

TEST_F(Merger_test, EveryFrameGoesBackWhenTheVmsStop) {
  const u64 base = host.frames_in_use();
  for (Vm_id v = 1; v <= 3; ++v) {
    host.add_vm(v, 8 * MiB, v == 2);
    for (u64 i = 0; i < 600; ++i) ASSERT_TRUE(host.fill_page(v, i * page_size_4k, i % 3 == 0 ? 0 : 1 + i % 5));
  }
  host.merger().scan_full_pass();
  EXPECT_GT(host.merger().stats().pages_sharing, 0u);
  host.stop_vm(2);
  check_invariants();
  host.stop_vm(1);
  host.stop_vm(3);
  const Merge_stats s = host.merger().stats();
  EXPECT_EQ(s.pages_shared, 0u);
  // Only the merger's own tables are left (they are kept for the next pass).
  EXPECT_EQ(host.guest_frames_in_use(), base);
}

TEST(Merge_knobs, NamesRangesAndErrors) {
  Merge_knobs k;
  const Merge_knob_info* info = nullptr;
  EXPECT_EQ(set_merge_knob(k, "pages_to_scan", "5000", info), Merge_knob_status::ok);
  EXPECT_EQ(k.pages_to_scan, 5000u);
  EXPECT_EQ(set_merge_knob(k, "pages_to_scan", "0", info), Merge_knob_status::out_of_range);
  EXPECT_EQ(info->min, 1u);
  EXPECT_EQ(set_merge_knob(k, "run", "3", info), Merge_knob_status::out_of_range);
  EXPECT_EQ(set_merge_knob(k, "run", "1x", info), Merge_knob_status::not_a_number);
  EXPECT_EQ(set_merge_knob(k, "run", "", info), Merge_knob_status::not_a_number);
  EXPECT_EQ(set_merge_knob(k, "sleep_millisecs", "99999999999", info), Merge_knob_status::not_a_number);
  EXPECT_EQ(set_merge_knob(k, "no_such_knob", "1", info), Merge_knob_status::unknown_knob);
  EXPECT_EQ(info, nullptr);
  EXPECT_EQ(k.run, 0u);
  EXPECT_EQ(k.pages_to_scan, 5000u);
  EXPECT_GE(merge_knob_table().size(), 7u);
}

} // namespace
} // namespace hv
