// tests/unit/ept_model_test.cpp - the EPT against a reference model over 1,000,000 random
// operations (four cases of 250,000, fixed seeds): map (one leaf or a run), unmap and protect of
// ranges, split, merge and translate at 4 KiB, 2 MiB and 1 GiB.
//
// The model (support/ept_reference_model.hpp) is a std::map from a leaf's first GFN to {HFN, size,
// attributes}, changed by the same documented rules.
// Checked: every status, every translation, periodically the complete leaf list (sizes included),
// the number of table pages implied by the leaves, whether a batch asked for an INVEPT exactly when
// a translation was removed or lost a right, and that no table page leaks.
#include "unit/support/ept_fixture.hpp"
#include "unit/support/ept_reference_model.hpp"
#include <random>

namespace hv {
namespace {

using test::Ept_reference_model;
using test::pages_of;

// Three 1 GiB regions; the last two straddle a PML4 boundary (512 GiB). Most addresses fall into
// the first 16 MiB of a region so that leaves of all sizes meet, split and merge.
constexpr u64 region_base[3] = {0, 511 * GiB, 512 * GiB};
constexpr u64 hot_bytes = 16 * MiB;

class Ept_model_run {
public:
  Ept_model_run(const Ept_config& config, u64 seed)
      : ept_(frames_, frames_.direct_map(), inv_, config), model_(config), rng_(seed), config_(config) {}

  void run(u64 ops) {
    ASSERT_EQ(ept_.init(), Ept_status::ok);
    auto batch = std::make_unique<Ept_batch>(ept_);
    for (u64 i = 0; i < ops; ++i) {
      step(*batch);
      if (::testing::Test::HasFatalFailure()) {
        ADD_FAILURE() << "at operation " << i;
        return;
      }
      if (pick(100) == 0) {
        batch->finish();
        ASSERT_EQ(frames_.outstanding(), ept_.table_pages()) << "operation " << i;
      }
      if (model_.leaves.size() > 30000) {  // keep the model's size (and the test's time) bounded
        const u64 r = region_base[pick(3)];
        model_.unmap(r >> page_shift, (r + GiB) >> page_shift);
        ASSERT_EQ(ept_.unmap(Gpa(r), GiB, *batch), Ept_status::ok);
      }
      if (i % 10000 == 0) full_check(i);
    }
    batch.reset();
    full_check(ops);
    EXPECT_EQ(frames_.outstanding(), ept_.table_pages());
    EXPECT_GT(counts_[0], ops / 20) << "too few successful maps: the mix does not exercise the EPT";
    EXPECT_GT(counts_[1], ops / 400) << "too few successful merges";
    EXPECT_GT(counts_[2], ops / 100) << "too few successful splits";
    ept_.destroy();
    EXPECT_EQ(frames_.outstanding(), 0u) << "table pages leaked";
  }

private:
  u64 pick(u64 n) { return std::uniform_int_distribution<u64>(0, n - 1)(rng_); }

  Page_size pick_size() {
    const u64 r = pick(100);
    return r < 70 ? Page_size::size_4k : r < 95 ? Page_size::size_2m : Page_size::size_1g;
  }
  u64 pick_gpa(Page_size s) {
    const u64 region = region_base[pick(3)];
    const u64 span = pick(10) == 0 || s == Page_size::size_1g ? GiB : hot_bytes;
    return region + (pick(span) & ~(page_bytes(s) - 1));
  }
  Ept_rights pick_rights() {
    static constexpr Ept_rights choices[] = {Ept_rights::read_write, Ept_rights::read_write, Ept_rights::all,
                                             Ept_rights::read, Ept_rights::read_execute};
    return choices[pick(5)];
  }
  Ept_attrs pick_attrs() {
    return Ept_attrs{pick_rights(), pick(8) == 0 ? Cache_type::uc : Cache_type::wb, pick(8) == 0, 0};
  }
  // Mostly "identity plus a fixed offset" so that split leaves can merge back; sometimes random.
  u64 pick_hpa(u64 gpa, Page_size s) {
    if (pick(4) != 0) return (gpa + 0x100'0000'0000ull) & ((1ull << 46) - 1);
    return pick(1ull << 46) & ~(page_bytes(s) - 1);
  }

  void expect_same(Gpa gpa) {
    const auto t = ept_.translate(gpa);
    const auto it = model_.covering(gpa.value() >> page_shift);
    if (it == model_.leaves.end()) {
      ASSERT_FALSE(t) << "EPT maps " << std::hex << gpa.value() << ", model does not";
      return;
    }
    ASSERT_TRUE(t) << "model maps " << std::hex << gpa.value() << ", EPT does not";
    const u64 off = gpa.value() - (it->first << page_shift);
    ASSERT_EQ(t->hpa.value(), (it->second.hfn << page_shift) + off) << std::hex << gpa.value();
    ASSERT_EQ(t->leaf.size, it->second.size) << std::hex << gpa.value();
    ASSERT_EQ(t->leaf.attrs, it->second.attrs) << std::hex << gpa.value();
  }

  void step(Ept_batch& batch) {
    const u64 op = pick(100);
    const bool pending_before = batch.flush_pending();
    if (op < 30) {  // map one leaf
      const Page_size s = pick_size();
      const u64 g = pick_gpa(s);
      const u64 h = pick_hpa(g, s);
      const Ept_attrs a = pick_attrs();
      const auto want = model_.map_range(g >> page_shift, h >> page_shift, 1, s, a);
      ASSERT_EQ(ept_.map(Gpa(g), Hpa(h), s, a), want.status) << "map " << page_size_name(s) << std::hex << " " << g;
      counts_[0] += want.status == Ept_status::ok;
    } else if (op < 36) {  // map a run of 4K or 2M leaves
      const Page_size s = pick(4) == 0 ? Page_size::size_2m : Page_size::size_4k;
      const u64 g = pick_gpa(s);
      const u64 n = 1 + pick(s == Page_size::size_4k ? 1100 : 6);
      const u64 h = pick_hpa(g, s);
      const Ept_attrs a = pick_attrs();
      const auto want = model_.map_range(g >> page_shift, h >> page_shift, n, s, a);
      const auto got = ept_.map_range(Gpa(g), Hpa(h), n * page_bytes(s), s, a);
      ASSERT_EQ(got.status, want.status);
      ASSERT_EQ(got.bytes_mapped, want.bytes_mapped);
      counts_[0] += want.status == Ept_status::ok;
    } else if (op < 50) {  // unmap a leaf-sized or a random range
      const Page_size s = pick_size();
      const u64 g = pick_gpa(s);
      const u64 bytes = pick(3) == 0 ? (1 + pick(2048)) * page_size_4k : page_bytes(s);
      const bool flush = model_.unmap(g >> page_shift, (g + bytes) >> page_shift);
      ASSERT_EQ(ept_.unmap(Gpa(g), bytes, batch), Ept_status::ok);
      check_flush(pending_before, flush, batch);
    } else if (op < 62) {  // protect
      const Page_size s = pick_size();
      const u64 g = pick_gpa(s);
      const u64 bytes = pick(3) == 0 ? (1 + pick(2048)) * page_size_4k : page_bytes(s);
      const Ept_rights r = pick_rights();
      const bool flush = model_.protect(g >> page_shift, (g + bytes) >> page_shift, r);
      ASSERT_EQ(ept_.protect(Gpa(g), bytes, r, batch), Ept_status::ok);
      check_flush(pending_before, flush, batch);
    } else if (op < 70) {  // split, half the time a large leaf that exists
      u64 g = pick_gpa(pick(2) ? Page_size::size_2m : Page_size::size_4k);
      if (pick(2) == 0) g = some_large_leaf(g);
      const auto want = model_.split_at(g >> page_shift);
      ASSERT_EQ(ept_.split(Gpa(g)), want);
      if (want == Ept_status::ok) recent_splits_[pick(recent_splits_.size())] = g;
      counts_[2] += want == Ept_status::ok;
    } else if (op < 78) {  // merge, half the time where a split happened
      Page_size target = pick(5) == 0 ? Page_size::size_1g : Page_size::size_2m;
      u64 g = pick_gpa(target);
      if (pick(2) == 0) {
        g = recent_splits_[pick(recent_splits_.size())];
        const auto t = model_.covering(g >> page_shift);
        if (t != model_.leaves.end() && t->second.size != Page_size::size_1g)
          target = page_size_at_level(leaf_level(t->second.size) + 1);
      }
      const auto want = model_.merge(g >> page_shift, target);
      ASSERT_EQ(ept_.merge(Gpa(g), target, batch), want) << "merge " << page_size_name(target) << std::hex << " " << g;
      if (want == Ept_status::ok) {
        ASSERT_TRUE(batch.flush_pending());
      }
      counts_[1] += want == Ept_status::ok;
    } else if (op < 80) {  // requests that must be refused without any change
      const Ept_attrs a = pick_attrs();
      ASSERT_EQ(ept_.map(Gpa(pick_gpa(Page_size::size_2m) + page_size_4k), Hpa(0), Page_size::size_2m, a),
                Ept_status::misaligned);
      ASSERT_EQ(ept_.unmap(Gpa(pick_gpa(Page_size::size_4k) + 8), page_size_4k, batch), Ept_status::misaligned);
      if (!pending_before) {
        ASSERT_FALSE(batch.flush_pending());
      }
    } else {  // translate
      const u64 g = pick_gpa(Page_size::size_4k) + pick(page_size_4k);
      expect_same(Gpa(g));
    }
  }

  // The first large leaf at or after gpa in the model (gpa itself when there is none).
  u64 some_large_leaf(u64 gpa) {
    for (auto it = model_.leaves.lower_bound(gpa >> page_shift); it != model_.leaves.end(); ++it)
      if (it->second.size != Page_size::size_4k) return it->first << page_shift;
    return gpa;
  }

  void check_flush(bool pending_before, bool model_says_flush, const Ept_batch& batch) {
    if (model_says_flush) {
      ASSERT_TRUE(batch.flush_pending()) << "a translation was removed or lost a right without INVEPT";
    } else if (!pending_before) {
      ASSERT_FALSE(batch.flush_pending()) << "INVEPT requested for a change that needs none";
    }
  }

  void full_check(u64 at) {
    std::vector<Ept_leaf> got;
    ept_.for_each_leaf([&](const Ept_leaf& l) { got.push_back(l); });
    ASSERT_EQ(got.size(), model_.leaves.size()) << "after " << at << " operations";
    usize i = 0;
    u64 bytes = 0;
    for (const auto& [gfn, l] : model_.leaves) {
      ASSERT_EQ(got[i].gpa.value(), gfn << page_shift) << "leaf " << i << " after " << at;
      ASSERT_EQ(got[i].hpa.value(), l.hfn << page_shift) << "leaf " << i << " after " << at;
      ASSERT_EQ(got[i].size, l.size) << "leaf " << i << " after " << at;
      ASSERT_EQ(got[i].attrs, l.attrs) << "leaf " << i << " after " << at;
      bytes += page_bytes(l.size);
      ++i;
    }
    ASSERT_EQ(ept_.mapped_bytes(), bytes);
    ASSERT_EQ(ept_.table_pages(), model_.expected_table_pages()) << "after " << at << " operations";
  }

  test::Test_frames frames_;
  test::Counting_invalidator inv_;
  Ept ept_;
  Ept_reference_model model_;
  std::mt19937_64 rng_;
  Ept_config config_;
  u64 counts_[3] = {};  // successful maps, merges, splits
  std::array<u64, 64> recent_splits_{};
};

constexpr u64 ops_per_case = 250'000;

TEST(Ept_model, RandomOperationsSeed1) {
  Ept_model_run run(test::ept_test_config(), 1);
  run.run(ops_per_case);
}

TEST(Ept_model, RandomOperationsSeed2) {
  Ept_model_run run(test::ept_test_config(), 0x5eed'0002);
  run.run(ops_per_case);
}

TEST(Ept_model, RandomOperationsWithoutExecutableLargeLeaves) {
  auto c = test::ept_test_config();
  c.no_exec_large_leaves = true;
  Ept_model_run run(c, 3);
  run.run(ops_per_case);
}

TEST(Ept_model, RandomOperationsWithoutOneGigabyteLeaves) {
  auto c = test::ept_test_config();
  c.allow_1g = false;
  Ept_model_run run(c, 4);
  run.run(ops_per_case);
}

} // namespace
} // namespace hv
