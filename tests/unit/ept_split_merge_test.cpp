// tests/unit/ept_split_merge_test.cpp - split, merge, unmap and protect over ranges, and the
// no-executable-large-pages policy.
#include "unit/support/ept_fixture.hpp"

namespace hv {
namespace {

using test::r_wb;
using test::rw_wb;
using test::rwx_wb;

using Ept_split = test::Ept_test;

// Every 4 KiB page of [gpa, gpa + bytes) translates to hpa + offset with `attrs`.
void expect_linear(const Ept& ept, Gpa gpa, Hpa hpa, u64 bytes, Ept_attrs attrs, Page_size size) {
  for (u64 off = 0; off < bytes; off += page_size_4k) {
    const auto t = ept.translate(gpa + off);
    ASSERT_TRUE(t) << "offset " << off;
    ASSERT_EQ(t->hpa, hpa + off) << "offset " << off;
    ASSERT_EQ(t->leaf.attrs, attrs) << "offset " << off;
    ASSERT_EQ(t->leaf.size, size) << "offset " << off;
  }
}

TEST_F(Ept_split, SplitKeepsEveryTranslationAndNeedsNoInvalidation) {
  const Ept_attrs a{Ept_rights::read_execute, Cache_type::wt, true, 2};
  ASSERT_EQ(ept().map(Gpa(0x4000'0000), Hpa(0x1'4000'0000), Page_size::size_1g, a), Ept_status::ok);
  ASSERT_EQ(ept().split(Gpa(0x4123'4567)), Ept_status::ok);
  EXPECT_EQ(ept().table_pages(), 3u);
  expect_linear(ept(), Gpa(0x4000'0000), Hpa(0x1'4000'0000), 8 * MiB, a, Page_size::size_2m);
  ASSERT_EQ(ept().split(Gpa(0x4020'0000)), Ept_status::ok);
  EXPECT_EQ(ept().table_pages(), 4u);
  expect_linear(ept(), Gpa(0x4020'0000), Hpa(0x1'4020'0000), 2 * MiB, a, Page_size::size_4k);
  expect_linear(ept(), Gpa(0x4040'0000), Hpa(0x1'4040'0000), 2 * MiB, a, Page_size::size_2m);
  EXPECT_EQ(ept().split(Gpa(0x4020'0000)), Ept_status::not_large);
  EXPECT_EQ(ept().split(Gpa(0x8000'0000)), Ept_status::not_mapped);
  EXPECT_EQ(ept().mapped_bytes(), GiB);
  EXPECT_EQ(inv_.count, 0u);
}

TEST_F(Ept_split, SplitCarriesAccessedAndDirtyFlags) {
  ASSERT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x20'0000), Page_size::size_2m, rw_wb), Ept_status::ok);
  u64* pd = frames_.direct_map().ptr<u64>(Hpa(ept_entry::address(raw(Gpa(0x20'0000), 3))));
  pd[1] |= ept_entry::ACCESSED | ept_entry::DIRTY;  // as the CPU would
  ASSERT_EQ(ept().split(Gpa(0x20'0000)), Ept_status::ok);
  const auto t = ept().translate(Gpa(0x3f'f000));
  EXPECT_TRUE(t->leaf.accessed && t->leaf.dirty);
}

TEST_F(Ept_split, MergeRebuildsTheLargeLeafAndFreesTheTableAfterTheInvept) {
  ASSERT_EQ(ept().map_range(Gpa(0x60'0000), Hpa(0x1'0020'0000), 2 * MiB, Page_size::size_4k, rwx_wb).status, Ept_status::ok);
  EXPECT_EQ(ept().table_pages(), 4u);
  {
    Ept_batch batch(ept());
    ASSERT_EQ(ept().merge(Gpa(0x60'0000), Page_size::size_2m, batch), Ept_status::ok);
    EXPECT_EQ(ept().table_pages(), 3u);
    EXPECT_EQ(frames_.outstanding(), 4u);  // the page table waits for the INVEPT
    EXPECT_EQ(inv_.count, 0u);
  }
  EXPECT_EQ(inv_.count, 1u);
  EXPECT_EQ(frames_.outstanding(), 3u);
  expect_linear(ept(), Gpa(0x60'0000), Hpa(0x1'0020'0000), 2 * MiB, rwx_wb, Page_size::size_2m);
}

TEST_F(Ept_split, MergeToOneGigabyteAfterMergingItsTwoMegabyteParts) {
  ASSERT_EQ(ept().map(Gpa(0), Hpa(0x4000'0000), Page_size::size_1g, rw_wb), Ept_status::ok);
  ASSERT_EQ(ept().split(Gpa(0)), Ept_status::ok);
  ASSERT_EQ(ept().split(Gpa(0x20'0000)), Ept_status::ok);
  Ept_batch batch(ept());
  EXPECT_EQ(ept().merge(Gpa(0), Page_size::size_1g, batch), Ept_status::not_mergeable);  // one child is a table
  ASSERT_EQ(ept().merge(Gpa(0x20'0000), Page_size::size_2m, batch), Ept_status::ok);
  ASSERT_EQ(ept().merge(Gpa(0), Page_size::size_1g, batch), Ept_status::ok);
  batch.finish();
  EXPECT_EQ(inv_.count, 1u);  // two merges, one INVEPT
  EXPECT_EQ(ept().table_pages(), 2u);
  EXPECT_EQ(frames_.outstanding(), 2u);
  EXPECT_EQ(ept().translate(Gpa(0x3fff'f000))->leaf.size, Page_size::size_1g);
}

TEST_F(Ept_split, MergeRefusesWhatWouldChangeATranslation) {
  const Gpa g(0x20'0000);
  ASSERT_EQ(ept().map_range(g, Hpa(0x40'0000), 2 * MiB - page_size_4k, Page_size::size_4k, rw_wb).status, Ept_status::ok);
  Ept_batch batch(ept());
  EXPECT_EQ(ept().merge(g, Page_size::size_2m, batch), Ept_status::not_mergeable);  // not full
  ASSERT_EQ(ept().map(g + 2 * MiB - page_size_4k, Hpa(0x9000), Page_size::size_4k, rw_wb), Ept_status::ok);
  EXPECT_EQ(ept().merge(g, Page_size::size_2m, batch), Ept_status::not_mergeable);  // not contiguous
  ASSERT_EQ(ept().unmap(g + 2 * MiB - page_size_4k, page_size_4k, batch), Ept_status::ok);
  ASSERT_EQ(ept().map(g + 2 * MiB - page_size_4k, Hpa(0x5f'f000), Page_size::size_4k, r_wb), Ept_status::ok);
  EXPECT_EQ(ept().merge(g, Page_size::size_2m, batch), Ept_status::not_mergeable);  // rights differ
  ASSERT_EQ(ept().protect(g + 2 * MiB - page_size_4k, page_size_4k, Ept_rights::read_write, batch), Ept_status::ok);
  EXPECT_EQ(ept().merge(g, Page_size::size_2m, batch), Ept_status::ok);
  // A table whose HPAs are contiguous but not 2 MiB aligned.
  ASSERT_EQ(ept().map_range(Gpa(0x60'0000), Hpa(0x80'1000), 2 * MiB, Page_size::size_4k, rw_wb).status, Ept_status::ok);
  EXPECT_EQ(ept().merge(Gpa(0x60'0000), Page_size::size_2m, batch), Ept_status::not_mergeable);
  EXPECT_EQ(ept().merge(Gpa(0x20'0000), Page_size::size_2m, batch), Ept_status::not_mergeable);  // already a leaf
  EXPECT_EQ(ept().merge(Gpa(0xa0'0000), Page_size::size_2m, batch), Ept_status::not_mapped);
  EXPECT_EQ(ept().merge(Gpa(0), Page_size::size_4k, batch), Ept_status::size_not_supported);
}

TEST_F(Ept_split, UnmapInsideALargeLeafSplitsAndKeepsTheRest) {
  ASSERT_EQ(ept().map(Gpa(0x4000'0000), Hpa(0x8000'0000), Page_size::size_1g, rwx_wb), Ept_status::ok);
  {
    Ept_batch batch(ept());
    ASSERT_EQ(ept().unmap(Gpa(0x4020'3000), page_size_4k, batch), Ept_status::ok);
  }
  EXPECT_EQ(inv_.count, 1u);
  EXPECT_FALSE(ept().translate(Gpa(0x4020'3000)));
  EXPECT_EQ(ept().translate(Gpa(0x4020'2000))->hpa, Hpa(0x8020'2000));
  EXPECT_EQ(ept().translate(Gpa(0x4020'2000))->leaf.size, Page_size::size_4k);
  EXPECT_EQ(ept().translate(Gpa(0x4040'0000))->leaf.size, Page_size::size_2m);
  EXPECT_EQ(ept().mapped_bytes(), GiB - page_size_4k);
  EXPECT_EQ(ept().table_pages(), 4u);
}

TEST_F(Ept_split, UnmapFreesEmptiedTablesOnlyAfterTheBatch) {
  ASSERT_EQ(ept().map_range(Gpa(0x1000), Hpa(0x1000), 4 * page_size_4k, Page_size::size_4k, rw_wb).status, Ept_status::ok);
  ASSERT_EQ(ept().map(Gpa(0x80'0000'0000), Hpa(0), Page_size::size_2m, rw_wb), Ept_status::ok);
  EXPECT_EQ(frames_.outstanding(), 6u);
  Ept_batch batch(ept());
  ASSERT_EQ(ept().unmap(Gpa(0), 16 * MiB, batch), Ept_status::ok);  // holes are fine
  EXPECT_EQ(ept().table_pages(), 3u);     // PT, PD, PDPT of the first range unlinked
  EXPECT_EQ(frames_.outstanding(), 6u);   // ... but not yet freed
  EXPECT_EQ(batch.deferred_pages(), 3u);
  batch.finish();
  EXPECT_EQ(inv_.count, 1u);
  EXPECT_EQ(frames_.outstanding(), 3u);
  EXPECT_TRUE(ept().translate(Gpa(0x80'0000'0000)));
}

TEST_F(Ept_split, ProtectRemovingRightsFlushesAddingDoesNot) {
  ASSERT_EQ(ept().map_range(Gpa(0), Hpa(0x10'0000), 16 * page_size_4k, Page_size::size_4k, rw_wb).status, Ept_status::ok);
  {
    Ept_batch batch(ept());
    ASSERT_EQ(ept().protect(Gpa(0), 16 * page_size_4k, Ept_rights::all, batch), Ept_status::ok);
    EXPECT_FALSE(batch.flush_pending());
  }
  EXPECT_EQ(inv_.count, 0u);
  EXPECT_EQ(ept().translate(Gpa(0xf000))->leaf.attrs.rights, Ept_rights::all);
  {
    Ept_batch batch(ept());
    ASSERT_EQ(ept().protect(Gpa(0x4000), 4 * page_size_4k, Ept_rights::read, batch), Ept_status::ok);
    EXPECT_TRUE(batch.flush_pending());
  }
  EXPECT_EQ(inv_.count, 1u);
  EXPECT_EQ(ept().translate(Gpa(0x3000))->leaf.attrs.rights, Ept_rights::all);
  EXPECT_EQ(ept().translate(Gpa(0x4000))->leaf.attrs.rights, Ept_rights::read);
  EXPECT_EQ(ept().translate(Gpa(0x7000))->leaf.attrs.rights, Ept_rights::read);
  EXPECT_EQ(ept().translate(Gpa(0x8000))->leaf.attrs.rights, Ept_rights::all);
  Ept_batch batch(ept());
  EXPECT_EQ(ept().protect(Gpa(0), page_size_4k, Ept_rights::write, batch), Ept_status::invalid_rights);
  EXPECT_EQ(ept().protect(Gpa(0), page_size_4k, Ept_rights::none, batch), Ept_status::invalid_rights);
}

TEST_F(Ept_split, ProtectPartOfALargeLeafSplitsIt) {
  ASSERT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x20'0000), Page_size::size_2m, rwx_wb), Ept_status::ok);
  Ept_batch batch(ept());
  ASSERT_EQ(ept().protect(Gpa(0x20'0000), MiB, Ept_rights::read, batch), Ept_status::ok);
  EXPECT_EQ(ept().translate(Gpa(0x2f'f000))->leaf.attrs.rights, Ept_rights::read);
  EXPECT_EQ(ept().translate(Gpa(0x30'0000))->leaf.attrs.rights, Ept_rights::all);
  EXPECT_EQ(ept().translate(Gpa(0x30'0000))->leaf.size, Page_size::size_4k);
  EXPECT_EQ(ept().table_pages(), 4u);
}

TEST_F(Ept_split, SplitInsideUnmapOrProtectCanRunOutOfMemory) {
  ASSERT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x20'0000), Page_size::size_2m, rwx_wb), Ept_status::ok);
  frames_.set_budget_frames(frames_.outstanding_frames());
  Ept_batch batch(ept());
  EXPECT_EQ(ept().unmap(Gpa(0x20'0000), page_size_4k, batch), Ept_status::out_of_memory);
  EXPECT_EQ(ept().protect(Gpa(0x20'0000), page_size_4k, Ept_rights::read, batch), Ept_status::out_of_memory);
  EXPECT_EQ(ept().split(Gpa(0x20'0000)), Ept_status::out_of_memory);
  expect_linear(ept(), Gpa(0x20'0000), Hpa(0x20'0000), 2 * MiB, rwx_wb, Page_size::size_2m);
}

TEST_F(Ept_split, NoExecutableLargeLeavesPolicy) {
  auto c = test::ept_test_config();
  c.no_exec_large_leaves = true;
  make(c);
  EXPECT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x20'0000), Page_size::size_2m, rwx_wb), Ept_status::exec_large_forbidden);
  ASSERT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x20'0000), Page_size::size_2m, rw_wb), Ept_status::ok);
  ASSERT_EQ(ept().map(Gpa(0x4000'0000), Hpa(0x4000'0000), Page_size::size_1g, rw_wb), Ept_status::ok);
  Ept_batch batch(ept());
  // Granting execute on whole large leaves gives 4 KiB leaves instead.
  ASSERT_EQ(ept().protect(Gpa(0x20'0000), 2 * MiB, Ept_rights::all, batch), Ept_status::ok);
  expect_linear(ept(), Gpa(0x20'0000), Hpa(0x20'0000), 2 * MiB, rwx_wb, Page_size::size_4k);
  EXPECT_EQ(ept().merge(Gpa(0x20'0000), Page_size::size_2m, batch), Ept_status::exec_large_forbidden);
  ASSERT_EQ(ept().protect(Gpa(0x4000'0000), 4 * MiB, Ept_rights::all, batch), Ept_status::ok);
  EXPECT_EQ(ept().translate(Gpa(0x4000'0000))->leaf.size, Page_size::size_4k);
  EXPECT_EQ(ept().translate(Gpa(0x403f'f000))->leaf.size, Page_size::size_4k);
  EXPECT_EQ(ept().translate(Gpa(0x4040'0000))->leaf.size, Page_size::size_2m);
  EXPECT_EQ(ept().translate(Gpa(0x4040'0000))->leaf.attrs, rw_wb);
}

TEST_F(Ept_split, OneInveptPerBatchNeverPerEntry) {
  ASSERT_EQ(ept().map_range(Gpa(0), Hpa(0), 8 * MiB, Page_size::size_4k, rwx_wb).status, Ept_status::ok);
  EXPECT_EQ(inv_.count, 0u);  // making entries present needs no INVEPT
  {
    Ept_batch batch(ept());
    for (u64 g = 0; g < 4 * MiB; g += 2 * page_size_4k) ASSERT_EQ(ept().unmap(Gpa(g), page_size_4k, batch), Ept_status::ok);
    for (u64 g = 4 * MiB; g < 8 * MiB; g += page_size_4k) ASSERT_EQ(ept().protect(Gpa(g), page_size_4k, Ept_rights::read, batch), Ept_status::ok);
    EXPECT_EQ(inv_.count, 0u);
  }
  EXPECT_EQ(inv_.count, 1u);
  Ept_batch batch(ept());
  batch.finish();  // nothing to flush
  EXPECT_EQ(inv_.count, 1u);
  ASSERT_EQ(ept().unmap(Gpa(0), 8 * MiB, batch), Ept_status::ok);
  batch.finish();
  EXPECT_EQ(inv_.count, 2u);
  EXPECT_EQ(inv_.last_eptp, ept().eptp());
  EXPECT_EQ(frames_.outstanding(), 1u);
}

TEST_F(Ept_split, DestroyWithABatchOpenIsABug) {
  EXPECT_DEATH(
      {
        Ept_batch batch(ept());
        ept().destroy();
      },
      "open_batches_");
}

} // namespace
} // namespace hv
