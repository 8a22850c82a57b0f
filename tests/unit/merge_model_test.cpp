// tests/unit/merge_model_test.cpp - the merger against a reference model: a byte copy of every
// guest's memory. Random guest writes (to merged, unmerged, zero and unpopulated pages), merge
// steps, writes racing with the merge (between hash and protection), unmerge (run = 2), merge on
// and off per VM, and VMs stopping and starting again, over 1,000,000 events; every read must
// match the model, the reverse map must agree with the frame table and the EPTs, and when all VMs
// have stopped every frame must be back.
#include "mm/merge/merger.hpp"
#include "unit/support/merge_fixture.hpp"
#include <gtest/gtest.h>
#include <random>

namespace hv {
namespace {

using test::Merge_host;

constexpr Vm_id vm_count = 4;
constexpr u64 vm_bytes = 4 * MiB;  // 1024 pages, two 2 MiB frames where the VM uses large pages
constexpr u64 vm_pages = vm_bytes / page_size_4k;
constexpr u64 words = page_size_4k / 8;

struct Model {
  // model[vm][page] is the page as the guest must read it; empty = never written (reads zero).
  std::vector<std::vector<std::vector<u64>>> pages;
};

class Merge_model : public ::testing::Test {
public:
  Merge_model() : host(512 * MiB), rng(20261203) { model.pages.resize(vm_count + 1); }

  void start_vm(Vm_id v) {
    host.add_vm(v, vm_bytes, v % 2 == 0, true);  // even VMs populate 2 MiB frames
    model.pages[v].assign(vm_pages, {});
  }

  // A page's contents from a small alphabet, so that merges happen: zero, one of 6 shared
  // patterns, or unique.
  u64 pick_seed() {
    const u64 r = rng() % 16;
    if (r < 3) return 0;
    if (r < 12) return 1 + r % 6;
    return 1000 + rng();
  }

  void write_page(Vm_id v, u64 page, u64 seed) {
    std::vector<u64> data(words);
    Merge_host::fill_pattern(data.data(), seed);
    ASSERT_TRUE(host.write(v, page * page_size_4k, data.data(), page_size_4k));
    model.pages[v][page] = std::move(data);
  }
  void write_word(Vm_id v, u64 page, u64 word, u64 value) {
    ASSERT_TRUE(host.write(v, page * page_size_4k + word * 8, &value, 8));
    if (model.pages[v][page].empty()) model.pages[v][page].assign(words, 0);
    model.pages[v][page][word] = value;
  }
  void check_page(Vm_id v, u64 page) {
    std::vector<u64> got(words);
    host.read_page(v, page * page_size_4k, got.data());
    const auto& want = model.pages[v][page];
    if (want.empty()) {
      for (u64 w : got) ASSERT_EQ(w, 0u) << "vm " << v << " page " << page << " should read zero";
    } else {
      ASSERT_EQ(std::memcmp(got.data(), want.data(), page_size_4k), 0) << "vm " << v << " page " << page;
    }
  }
  void check_all() {
    for (Vm_id v = 1; v <= vm_count; ++v) {
      if (!host.vm(v)) continue;
      for (u64 p = 0; p < vm_pages; ++p) ASSERT_NO_FATAL_FAILURE(check_page(v, p));
    }
    const char* why = "";
    ASSERT_TRUE(host.sharing().check(why)) << why;
    // Every shared leaf of every EPT is in the reverse map, and nothing else is.
    u64 shared_leaves = 0;
    for (Vm_id v = 1; v <= vm_count; ++v) {
      if (!host.vm(v)) continue;
      host.vm(v)->ept().for_each_leaf([&](const Ept_leaf& leaf) {
        if (leaf.attrs.software != Guest_memory::frame_shared) return;
        ++shared_leaves;
        bool found = false;
        host.sharing().for_each_user(leaf.hpa, [&](Vm_id u, Gfn g) { found |= u == v && g == to_gfn(leaf.gpa); });
        EXPECT_TRUE(found) << "vm " << v << " gpa " << leaf.gpa.value() << " maps a shared frame unrecorded";
        EXPECT_FALSE(has_rights(leaf.attrs.rights, Ept_rights::write));
      });
    }
    ASSERT_EQ(shared_leaves, host.sharing().stats().rmap_entries);
  }

  Merge_host host;
  std::mt19937_64 rng;
  Model model;
};

struct Race_ctx {
  Merge_model* test;
  std::mt19937_64* rng;
  u64 races = 0;
};

TEST_F(Merge_model, AMillionRandomEventsLoseNoWriteLeakNoFrameAndShowNoForeignData) {
  Merge_knobs k;
  k.run = 1;
  k.max_page_sharing = 8;  // long chains of frames with equal contents get exercised too
  k.split_2m_min_pages = 16;
  host.merger().set_knobs(k);
  const u64 base_frames = host.frames_in_use();
  for (Vm_id v = 1; v <= vm_count; ++v) start_vm(v);

  // A vCPU write racing with the merge: now and then, a word of a page the merger has just hashed
  // changes before the merger protects it. The model learns of the write too.
  Race_ctx race{this, &rng};
  host.merger().set_race_hook(
      [](void* c, Vm_id vm, Gpa gpa, Hpa hpa) {
        auto* r = static_cast<Race_ctx*>(c);
        if ((*r->rng)() % 8 != 0) return;
        Merge_model& t = *r->test;
        const u64 page = gpa.value() / page_size_4k;  // the first page of the 4 KiB or 2 MiB frame
        const u64 word = (*r->rng)() % words;
        const u64 value = (*r->rng)() | 1;
        t.host.arena().ptr<u64>(hpa)[word] = value;
        auto& mp = t.model.pages[vm][page];
        if (mp.empty()) mp.assign(words, 0);
        mp[word] = value;
        ++r->races;
      },
      &race);

  u64 events = 0, scans = 0, stops = 0, unmerges = 0, toggles = 0;
  const Merge_knob_info* info = nullptr;
  while (events < 1'000'000) {
    const u64 r = rng() % 1000;
    const Vm_id v = static_cast<Vm_id>(1 + rng() % vm_count);
    ++events;
    if (!host.vm(v)) {
      start_vm(v);
      continue;
    }
    const u64 page = rng() % vm_pages;
    if (r < 550) {
      ASSERT_NO_FATAL_FAILURE(write_page(v, page, pick_seed()));
    } else if (r < 800) {
      ASSERT_NO_FATAL_FAILURE(write_word(v, page, rng() % words, rng()));
    } else if (r < 900) {
      ASSERT_NO_FATAL_FAILURE(check_page(v, page));
    } else if (r < 996) {
      host.merger().scan(1 + rng() % 300);
      ++scans;
    } else if (r < 997) {
      host.stop_vm(v);  // its shared frames lose a user; the others keep their contents
      ++stops;
    } else if (r < 998) {
      ASSERT_EQ(host.merger().set_knob("run", "2", info), Merge_knob_status::ok);
      host.merger().scan();
      ASSERT_EQ(host.sharing().stats().pages_shared, 0u);
      ASSERT_EQ(host.merger().set_knob("run", "1", info), Merge_knob_status::ok);
      ++unmerges;
    } else if (r < 999) {
      const bool off = rng() % 2 == 0;
      ASSERT_EQ(host.merger().set_vm_merge(v, !off), Merge_status::ok);
      if (off) {
        ASSERT_EQ(host.merger().merging_pages(v), 0u);
      }
      ++toggles;
    } else {
      ASSERT_NO_FATAL_FAILURE(check_all());
    }
    if (events % 100'000 == 0) {
      ASSERT_NO_FATAL_FAILURE(check_all());
    }
  }
  ASSERT_NO_FATAL_FAILURE(check_all());
  const Merge_stats s = host.merger().stats();
  // The run must have exercised what it claims to.
  EXPECT_GT(s.merges_4k, 10'000u);
  EXPECT_GT(s.cow_breaks + s.cow_takebacks, 10'000u);
  EXPECT_GT(s.ksm_zero_pages, 1'000u);
  EXPECT_GT(race.races, 1'000u);
  EXPECT_GT(stops, 100u);
  EXPECT_GT(unmerges, 100u);
  EXPECT_GT(toggles, 100u);
  EXPECT_GT(s.splits_2m + s.merges_2m, 0u);
  std::printf("events %llu: scans %llu, merges 4K %llu 2M %llu, splits %llu, zero pages %llu, CoW %llu + %llu, "
              "races %llu, volatile now %llu, stops %llu, unmerges %llu\n",
              (unsigned long long)events, (unsigned long long)scans, (unsigned long long)s.merges_4k,
              (unsigned long long)s.merges_2m, (unsigned long long)s.splits_2m, (unsigned long long)s.ksm_zero_pages,
              (unsigned long long)s.cow_breaks, (unsigned long long)s.cow_takebacks, (unsigned long long)race.races,
              (unsigned long long)s.pages_volatile, (unsigned long long)stops, (unsigned long long)unmerges);
  for (Vm_id v = 1; v <= vm_count; ++v) host.stop_vm(v);
  EXPECT_EQ(host.sharing().stats().pages_shared, 0u);
  EXPECT_EQ(host.guest_frames_in_use(), base_frames);  // no frame leaked
}

} // namespace
} // namespace hv
