// tests/unit/frame_table_test.cpp - Frame_record packing and Frame_table bounds and reference
// counts, over a table in an ordinary vector.
#include "mm/frame_table.hpp"
#include <gtest/gtest.h>
#include <thread>
#include <vector>

namespace hv {
namespace {

constexpr Hfn table_first{0x100000}; // frames of the 4 GiB mark: nonzero on purpose

Frame_record allocated(Frame_use use, Vm_id owner, unsigned order, u32 refs) {
  Frame_record r;
  r.use = use;
  r.owner = owner;
  r.set_order(order);
  r.refs = refs;
  return r;
}

struct Table_fixture {
  std::vector<Frame_record> storage = std::vector<Frame_record>(1024);
  Frame_table table{storage, table_first};
};

TEST(FrameTable, RecordIsEightBytesAndPacksOrderAndFlags) {
  static_assert(sizeof(Frame_record) == 8);
  for (unsigned order = 0; order <= max_order; ++order) {
    Frame_record r;
    r.set(Frame_flag::zeroed, true);
    r.set_order(order);
    EXPECT_EQ(r.order(), order);
    EXPECT_TRUE(r.has(Frame_flag::zeroed));
    r.set(Frame_flag::zeroed, false);
    EXPECT_EQ(r.order(), order);
    EXPECT_FALSE(r.has(Frame_flag::zeroed));
  }
  Frame_record r;
  EXPECT_FALSE(r.allocated()); // free
  r.use = Frame_use::reserved;
  EXPECT_FALSE(r.allocated());
  for (Frame_use u : {Frame_use::hypervisor, Frame_use::page_table, Frame_use::guest, Frame_use::shared,
                      Frame_use::balloon}) {
    r.use = u;
    EXPECT_TRUE(r.allocated());
  }
}

TEST(FrameTable, BoundsAndLookups) {
  Table_fixture f;
  Frame_table& t = f.table;
  EXPECT_EQ(t.first(), table_first);
  EXPECT_EQ(t.end(), table_first + 1024);
  EXPECT_EQ(t.frame_count(), 1024u);
  EXPECT_TRUE(t.contains(table_first));
  EXPECT_TRUE(t.contains(table_first + 1023));
  EXPECT_FALSE(t.contains(table_first + 1024));
  EXPECT_FALSE(t.contains(table_first - 1));
  EXPECT_TRUE(t.contains(table_first + 1000, 24));
  EXPECT_FALSE(t.contains(table_first + 1000, 25));
  EXPECT_FALSE(t.contains(table_first + 1000, ~u64{0}));

  t.fill(table_first + 8, 8, allocated(Frame_use::guest, 7, 3, 0));
  EXPECT_EQ(t.use(table_first + 7), Frame_use::free);
  EXPECT_EQ(t.use(table_first + 8), Frame_use::guest);
  EXPECT_EQ(t.owner(table_first + 15), 7u);
  EXPECT_EQ(t.at(table_first + 15).order(), 3u);
  EXPECT_EQ(t.use(table_first + 16), Frame_use::free);
  EXPECT_EQ(&t[table_first + 9], &f.storage[9]);
}

TEST(FrameTable, LookupsOutsideTheTablePanic) {
  Table_fixture f;
  EXPECT_DEATH((void)f.table.at(table_first + 1024), "outside the frame table");
  EXPECT_DEATH((void)f.table.use(Hfn(0)), "outside the frame table");
  EXPECT_DEATH(f.table.fill(table_first + 1020, 5, Frame_record{}), "outside");
}

TEST(FrameTable, ReferenceCountsReturnTheNewCount) {
  Table_fixture f;
  Frame_table& t = f.table;
  const Hfn head = table_first + 32;
  t.at(head) = allocated(Frame_use::shared, 3, 0, 1);
  EXPECT_EQ(t.refs(head), 1u);
  EXPECT_EQ(t.get(head), 2u);
  EXPECT_EQ(t.get(head), 3u);
  EXPECT_EQ(t.refs(head), 3u);
  EXPECT_EQ(t.put(head), 2u);
  EXPECT_EQ(t.put(head), 1u);
  EXPECT_EQ(t.put(head), 0u); // the last reference: the caller frees the frame now
  EXPECT_EQ(t.refs(head), 0u);
  // A 2 MiB block is counted at its head.
  const Hfn big = table_first + 512;
  t.fill(big, 512, allocated(Frame_use::guest, 1, 9, 0));
  t.at(big).refs = 1;
  EXPECT_EQ(t.get(big), 2u);
  EXPECT_EQ(t.refs(big + 1), 0u);
}

TEST(FrameTable, ReferenceCountMisuseIsAHypervisorBug) {
  Table_fixture f;
  Frame_table& t = f.table;
  const Hfn head = table_first + 64;
  EXPECT_DEATH(t.get(head), "not allocated");                // free frame
  t.at(head) = allocated(Frame_use::guest, 1, 0, 1);
  EXPECT_EQ(t.put(head), 0u);
  EXPECT_DEATH(t.put(head), "already 0");                    // put below zero
  EXPECT_DEATH(t.get(head), "no reference left");            // resurrecting a dead frame
  t.at(table_first + 1) = Frame_record{};
  t.at(table_first + 1).use = Frame_use::reserved;
  EXPECT_DEATH(t.get(table_first + 1), "not allocated");     // firmware or metadata
  t.fill(table_first + 512, 512, allocated(Frame_use::guest, 1, 9, 0));
  EXPECT_DEATH(t.get(table_first + 513), "not the head");    // a tail of a 2 MiB block
  t.at(head).refs = ~u32{0};
  EXPECT_DEATH(t.get(head), "overflows");
  EXPECT_DEATH(t.get(table_first + 4096), "outside the frame table");
}

TEST(FrameTable, ConcurrentGetsAndPutsKeepTheCountExact) {
  Table_fixture f;
  const Hfn head = table_first + 100;
  f.table.at(head) = allocated(Frame_use::shared, 2, 0, 1);
  constexpr int threads = 4;
  constexpr int rounds = 50000;
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&] {
      for (int n = 0; n < rounds; ++n) {
        (void)f.table.get(head);
        (void)f.table.get(head);
        (void)f.table.put(head);
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(f.table.refs(head), 1u + threads * rounds);
}

} // namespace
} // namespace hv
