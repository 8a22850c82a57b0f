// tests/unit/buddy_bitmap_test.cpp - the summary bitmap under the buddy allocator, against a
// std::set, and Buddy_blocks' splitting and merging at span edges.
#include "mm/buddy_blocks.hpp"
#include <gtest/gtest.h>
#include <random>
#include <set>
#include <vector>

namespace hv {
namespace {

TEST(BuddyBitmap, StorageSizeCoversAllLevels) {
  EXPECT_EQ(Buddy_bitmap::words_for(1), 1u);
  EXPECT_EQ(Buddy_bitmap::words_for(64), 1u);
  EXPECT_EQ(Buddy_bitmap::words_for(65), 2u + 1u);
  EXPECT_EQ(Buddy_bitmap::words_for(64 * 64), 64u + 1u);
  EXPECT_EQ(Buddy_bitmap::words_for(64 * 64 + 1), 65u + 2u + 1u);
}

TEST(BuddyBitmap, RandomSetClearAgreesWithASet) {
  std::mt19937_64 rng(42);
  for (const u64 bits : {u64{1}, u64{63}, u64{64}, u64{65}, u64{4096}, u64{4097}, u64{300000}}) {
    std::vector<u64> storage(Buddy_bitmap::words_for(bits) + 1, 0xdeadbeef);
    const u64 guard = storage.back();
    Buddy_bitmap bm;
    bm.init(storage.data(), bits);
    std::set<u64> model;
    EXPECT_TRUE(bm.empty());
    EXPECT_EQ(bm.find_first(), bits);
    for (int op = 0; op < 20000; ++op) {
      // Cluster indices sometimes, so words fill and empty completely.
      const u64 i = rng() % 2 ? rng() % bits : (rng() % 128 + bits / 2) % bits;
      if (rng() % 2) {
        if (!bm.test(i)) bm.set(i);
        model.insert(i);
      } else {
        if (bm.test(i)) bm.clear(i);
        model.erase(i);
      }
      ASSERT_EQ(bm.test(i), model.count(i) == 1);
      ASSERT_EQ(bm.empty(), model.empty());
      ASSERT_EQ(bm.find_first(), model.empty() ? bits : *model.begin()) << "bits " << bits << " op " << op;
    }
    EXPECT_EQ(storage.back(), guard) << "wrote past its storage";
  }
}

TEST(BuddyBlocks, SplitsTheSmallestBlockAndMergesBuddiesBack) {
  // A span that starts and ends off any large alignment: frames 0x1003..0x1c05.
  const Hfn first(0x1003), end(0x1c05);
  std::vector<u64> storage(Buddy_blocks::storage_words(first, end));
  Buddy_blocks b;
  b.init(storage.data(), first, end);
  EXPECT_FALSE(b.take(0).has_value());
  // Give 0x1004..0x1008 (order 2), 0x1008..0x1010 (order 3) and 0x1800 (order 10).
  b.give(Hfn(0x1004), 2);
  b.give(Hfn(0x1008), 3);
  b.give(Hfn(0x1800), 10);
  EXPECT_EQ(b.free_frames(), 4u + 8u + 1024u);
  EXPECT_FALSE(b.take(11).has_value());
  // Order 1 comes from the smallest fitting block (the order-2 one), lowest half first.
  EXPECT_EQ(b.take(1), Hfn(0x1004));
  EXPECT_TRUE(b.is_free(Hfn(0x1006), 1));
  EXPECT_EQ(b.take(1), Hfn(0x1006));
  EXPECT_EQ(b.take(1), Hfn(0x1008));
  EXPECT_EQ(b.free_blocks(1), 1u); // 0x100a
  EXPECT_EQ(b.free_blocks(2), 1u); // 0x100c
  // Giving back in any order merges to the original blocks; 0x1004's buddy 0x1000 is outside.
  b.give(Hfn(0x1008), 1);
  b.give(Hfn(0x1004), 1);
  b.give(Hfn(0x1006), 1);
  EXPECT_EQ(b.free_blocks(2), 1u);
  EXPECT_TRUE(b.is_free(Hfn(0x1004), 2));
  EXPECT_TRUE(b.is_free(Hfn(0x1008), 3));
  EXPECT_EQ(b.free_frames(), 4u + 8u + 1024u);
  // take_small: from the smallest order, split down to the limit.
  unsigned order = 99;
  EXPECT_EQ(b.take_small(5, order), Hfn(0x1004));
  EXPECT_EQ(order, 2u);
  EXPECT_EQ(b.take_small(1, order), Hfn(0x1008));
  EXPECT_EQ(order, 1u);
  EXPECT_TRUE(b.is_free(Hfn(0x100a), 1));
  EXPECT_TRUE(b.is_free(Hfn(0x100c), 2));
  // Below the span and past its end nothing is ever free.
  EXPECT_FALSE(b.is_free(Hfn(0x1000), 2));
  EXPECT_FALSE(b.is_free(Hfn(0x0), 18));
  EXPECT_FALSE(b.is_free(Hfn(0x1c04), 0));
}

} // namespace
} // namespace hv
