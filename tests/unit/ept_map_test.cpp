// tests/unit/ept_map_test.cpp - EPT map / translate / error results, entry bits as the CPU reads them.
#include "unit/support/ept_fixture.hpp"

namespace hv {
namespace {

using test::r_wb;
using test::rw_wb;
using test::rwx_wb;

using Ept_map = test::Ept_test;

TEST_F(Ept_map, FourKLeafTranslatesWithOffsetAndNeedsFourTables) {
  ASSERT_EQ(ept().map(Gpa(0x1234'5000), Hpa(0xabc'd000), Page_size::size_4k, rw_wb), Ept_status::ok);
  const auto t = ept().translate(Gpa(0x1234'5678));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->hpa, Hpa(0xabc'd678));
  EXPECT_EQ(t->leaf.gpa, Gpa(0x1234'5000));
  EXPECT_EQ(t->leaf.hpa, Hpa(0xabc'd000));
  EXPECT_EQ(t->leaf.size, Page_size::size_4k);
  EXPECT_EQ(t->leaf.attrs, rw_wb);
  EXPECT_FALSE(ept().translate(Gpa(0x1234'4fff)));
  EXPECT_FALSE(ept().translate(Gpa(0x1234'6000)));
  EXPECT_EQ(ept().table_pages(), 4u);
  EXPECT_EQ(frames_.outstanding_use(Frame_use::page_table), 4u);
  EXPECT_EQ(frames_.outstanding_owner(test::ept_test_vm), 4u);
  EXPECT_EQ(ept().mapped_bytes(), page_size_4k);
}

TEST_F(Ept_map, LargeLeavesUseFewerTables) {
  ASSERT_EQ(ept().map(Gpa(0x4000'0000), Hpa(0x8000'0000), Page_size::size_1g, rwx_wb), Ept_status::ok);
  EXPECT_EQ(ept().table_pages(), 2u);  // PML4, PDPT
  ASSERT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x60'0000), Page_size::size_2m, r_wb), Ept_status::ok);
  EXPECT_EQ(ept().table_pages(), 3u);  // + PD
  const auto g = ept().translate(Gpa(0x7fff'ffff));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->hpa, Hpa(0xbfff'ffff));
  EXPECT_EQ(g->leaf.size, Page_size::size_1g);
  const auto m = ept().translate(Gpa(0x30'0010));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->hpa, Hpa(0x70'0010));
  EXPECT_EQ(m->leaf.size, Page_size::size_2m);
  EXPECT_EQ(m->leaf.attrs.rights, Ept_rights::read);
}

TEST_F(Ept_map, EntryBitsAreTheSdmLayout) {
  const Ept_attrs uc_ipat{Ept_rights::read_write, Cache_type::uc, true, 0};
  ASSERT_EQ(ept().map(Gpa(0x20'0000), Hpa(0xfee0'0000), Page_size::size_2m, uc_ipat), Ept_status::ok);
  ASSERT_EQ(ept().map(Gpa(0x1000), Hpa(0x5000), Page_size::size_4k, rwx_wb), Ept_status::ok);
  const u64 pml4e = raw(Gpa(0x1000), 4);
  const u64 pdpte = raw(Gpa(0x1000), 3);
  // Non-leaf: RWX and the next table's address; bits 7:3 zero (memory type is reserved there).
  EXPECT_EQ(pml4e & 0xFF, 0x07u);
  EXPECT_EQ(pdpte & 0xFF, 0x07u);
  EXPECT_TRUE(frames_.is_outstanding(Hpa(ept_entry::address(pml4e))));
  EXPECT_EQ(raw(Gpa(0x20'0000), 2), 0xfee0'0000ull | 0x3 | (0 << 3) | 0x40 | 0x80);
  EXPECT_EQ(raw(Gpa(0x1000), 1), 0x5000ull | 0x7 | (6 << 3));
  // Untouched entries of a fresh table are zero (tables are zeroed, not left poisoned).
  EXPECT_EQ(raw(Gpa(0x2000), 1), 0u);
  EXPECT_EQ(raw(Gpa(0x4000'0000), 3), 0u);
}

TEST_F(Ept_map, RefusesMisalignedAndOutOfRangeAddresses) {
  EXPECT_EQ(ept().map(Gpa(0x1800), Hpa(0x5000), Page_size::size_4k, rw_wb), Ept_status::misaligned);
  EXPECT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x5000), Page_size::size_2m, rw_wb), Ept_status::misaligned);
  EXPECT_EQ(ept().map(Gpa(0x10'0000), Hpa(0x20'0000), Page_size::size_2m, rw_wb), Ept_status::misaligned);
  EXPECT_EQ(ept().map(Gpa(0x1'0000'0000'0000), Hpa(0), Page_size::size_4k, rw_wb), Ept_status::gpa_out_of_range);
  EXPECT_EQ(ept().map_range(Gpa(0xffff'ffff'f000), Hpa(0), 2 * page_size_4k, Page_size::size_4k, rw_wb).status,
            Ept_status::gpa_out_of_range);
  // MAXPHYADDR is 46 in the test configuration.
  EXPECT_EQ(ept().map(Gpa(0), Hpa(1ull << 46), Page_size::size_4k, rw_wb), Ept_status::hpa_out_of_range);
  EXPECT_EQ(ept().map(Gpa(0), Hpa((1ull << 46) - page_size_4k), Page_size::size_4k, rw_wb), Ept_status::ok);
  EXPECT_EQ(ept().table_pages(), 4u);
}

TEST_F(Ept_map, NeverReplacesAnExistingTranslation) {
  ASSERT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x40'0000), Page_size::size_2m, rw_wb), Ept_status::ok);
  ASSERT_EQ(ept().map(Gpa(0x60'1000), Hpa(0x9000), Page_size::size_4k, rw_wb), Ept_status::ok);
  // 4K inside an existing 2M leaf: refused, the 2M leaf is intact (split explicitly first).
  EXPECT_EQ(ept().map(Gpa(0x20'3000), Hpa(0x1000), Page_size::size_4k, rw_wb), Ept_status::already_mapped);
  EXPECT_EQ(ept().translate(Gpa(0x20'3000))->leaf.size, Page_size::size_2m);
  // 2M over a region holding a 4K leaf; 1G over both; the same 4K again.
  EXPECT_EQ(ept().map(Gpa(0x60'0000), Hpa(0x80'0000), Page_size::size_2m, rw_wb), Ept_status::already_mapped);
  EXPECT_EQ(ept().map(Gpa(0), Hpa(0), Page_size::size_1g, rw_wb), Ept_status::already_mapped);
  EXPECT_EQ(ept().map(Gpa(0x60'1000), Hpa(0xa000), Page_size::size_4k, rw_wb), Ept_status::already_mapped);
  EXPECT_EQ(ept().translate(Gpa(0x60'1000))->hpa, Hpa(0x9000));
  EXPECT_EQ(ept().table_pages(), 4u);  // failed maps left no table behind
}

TEST_F(Ept_map, RangeStopsAtTheFirstConflictAndReportsThePrefix) {
  ASSERT_EQ(ept().map(Gpa(0x5000), Hpa(0x1000), Page_size::size_4k, rw_wb), Ept_status::ok);
  const auto r = ept().map_range(Gpa(0x1000), Hpa(0x100'0000), 8 * page_size_4k, Page_size::size_4k, rw_wb);
  EXPECT_EQ(r.status, Ept_status::already_mapped);
  EXPECT_EQ(r.bytes_mapped, 4 * page_size_4k);
  EXPECT_EQ(ept().translate(Gpa(0x4000))->hpa, Hpa(0x100'3000));
  EXPECT_EQ(ept().translate(Gpa(0x5000))->hpa, Hpa(0x1000));
  EXPECT_FALSE(ept().translate(Gpa(0x6000)));
}

TEST_F(Ept_map, RangeCrossesTableBoundaries) {
  // 3 MiB of 4K leaves starting 1 MiB below a 1 GiB boundary: two page tables, two PDs.
  const Gpa g(0x4000'0000 - 0x10'0000);
  const auto r = ept().map_range(g, Hpa(0x1'0000'0000), 3 * MiB, Page_size::size_4k, rwx_wb);
  ASSERT_EQ(r.status, Ept_status::ok);
  EXPECT_EQ(r.bytes_mapped, 3 * MiB);
  for (u64 off = 0; off < 3 * MiB; off += page_size_4k) ASSERT_EQ(ept().translate(g + off)->hpa, Hpa(0x1'0000'0000 + off));
  EXPECT_FALSE(ept().translate(g + 3 * MiB));
  EXPECT_EQ(ept().table_pages(), 1u + 1 + 2 + 2);
}

TEST_F(Ept_map, OneGigabyteLeavesOnlyWhenAllowed) {
  auto c = test::ept_test_config();
  c.allow_1g = false;
  make(c);
  EXPECT_EQ(ept().map(Gpa(0), Hpa(0), Page_size::size_1g, rw_wb), Ept_status::size_not_supported);
  c.allow_2m = false;
  make(c);
  EXPECT_EQ(ept().map(Gpa(0), Hpa(0), Page_size::size_2m, rw_wb), Ept_status::size_not_supported);
  EXPECT_EQ(ept().table_pages(), 1u);
}

TEST_F(Ept_map, RejectsRightsAndTypesTheCpuWouldCallMisconfigured) {
  auto m = [&](Ept_rights r, Cache_type t = Cache_type::wb) {
    return ept().map(Gpa(0x1000), Hpa(0x1000), Page_size::size_4k, Ept_attrs{r, t, false, 0});
  };
  EXPECT_EQ(m(Ept_rights::none), Ept_status::invalid_rights);
  EXPECT_EQ(m(Ept_rights::write), Ept_status::invalid_rights);
  EXPECT_EQ(m(Ept_rights::write | Ept_rights::execute), Ept_status::invalid_rights);
  EXPECT_EQ(m(Ept_rights::execute), Ept_status::invalid_rights);  // no execute-only capability
  EXPECT_EQ(m(Ept_rights::read | Ept_rights::user_execute), Ept_status::invalid_rights);  // no MBEC
  EXPECT_EQ(m(Ept_rights::read, static_cast<Cache_type>(2)), Ept_status::invalid_cache_type);
  EXPECT_EQ(m(Ept_rights::read, static_cast<Cache_type>(7)), Ept_status::invalid_cache_type);
  EXPECT_EQ(ept().map(Gpa(0x1000), Hpa(0x1000), Page_size::size_4k, Ept_attrs{Ept_rights::read, Cache_type::wb, false, 4}),
            Ept_status::invalid_cache_type);
  EXPECT_EQ(ept().table_pages(), 1u);

  auto c = test::ept_test_config();
  c.execute_only = true;
  c.mode_based_execute = true;
  make(c);
  EXPECT_EQ(m(Ept_rights::execute), Ept_status::ok);
  EXPECT_EQ(ept().map(Gpa(0x2000), Hpa(0x2000), Page_size::size_4k, Ept_attrs{Ept_rights::user_execute}), Ept_status::ok);
  EXPECT_EQ(raw(Gpa(0x2000), 1) & 0x407, 0x400u);
  EXPECT_EQ(ept().translate(Gpa(0x2000))->leaf.attrs.rights, Ept_rights::user_execute);
}

TEST_F(Ept_map, OutOfMemoryLeavesNoTraceAndIsRecoverable) {
  frames_.set_budget_frames(frames_.outstanding_frames() + 2);  // a 4K map needs three new tables
  EXPECT_EQ(ept().map(Gpa(0x1000), Hpa(0x1000), Page_size::size_4k, rw_wb), Ept_status::out_of_memory);
  EXPECT_EQ(frames_.outstanding(), 1u);
  EXPECT_EQ(ept().table_pages(), 1u);
  EXPECT_FALSE(ept().translate(Gpa(0x1000)));
  // Two tables are enough for a 2M leaf.
  EXPECT_EQ(ept().map(Gpa(0x20'0000), Hpa(0x20'0000), Page_size::size_2m, rw_wb), Ept_status::ok);
  frames_.set_budget_frames(test::Test_frames::unlimited);
  EXPECT_EQ(ept().map(Gpa(0x1000), Hpa(0x1000), Page_size::size_4k, rw_wb), Ept_status::ok);
  expect_no_leak();
}

TEST_F(Ept_map, InitFailsCleanlyWithoutMemoryAndCallsBeforeInitAreRefused) {
  frames_.set_budget_frames(0);
  Ept e(frames_, frames_.direct_map(), inv_, test::ept_test_config());
  EXPECT_EQ(e.init(), Ept_status::out_of_memory);
  EXPECT_FALSE(e.initialized());
  EXPECT_EQ(e.map(Gpa(0), Hpa(0), Page_size::size_4k, rw_wb), Ept_status::not_initialized);
  EXPECT_EQ(e.split(Gpa(0)), Ept_status::not_initialized);
  EXPECT_FALSE(e.translate(Gpa(0)));
}

TEST_F(Ept_map, ForEachLeafVisitsEveryLeafInGpaOrder) {
  ASSERT_EQ(ept().map(Gpa(0x4000'0000), Hpa(0), Page_size::size_1g, rw_wb), Ept_status::ok);
  ASSERT_EQ(ept().map(Gpa(0x60'0000), Hpa(0x20'0000), Page_size::size_2m, rw_wb), Ept_status::ok);
  ASSERT_EQ(ept().map_range(Gpa(0x3000), Hpa(0x9000), 2 * page_size_4k, Page_size::size_4k, rw_wb).status, Ept_status::ok);
  std::vector<std::pair<u64, Page_size>> seen;
  ept().for_each_leaf([&](const Ept_leaf& l) { seen.emplace_back(l.gpa.value(), l.size); });
  const std::vector<std::pair<u64, Page_size>> want{{0x3000, Page_size::size_4k},
                                                    {0x4000, Page_size::size_4k},
                                                    {0x60'0000, Page_size::size_2m},
                                                    {0x4000'0000, Page_size::size_1g}};
  EXPECT_EQ(seen, want);
}

TEST_F(Ept_map, EptpNamesThePml4WithWalkLengthTypeAndAccessedDirty) {
  EXPECT_EQ(ept().eptp(), ept().pml4().value() | 0x1E);
  auto c = test::ept_test_config();
  c.accessed_dirty = true;
  c.walk_type = Cache_type::uc;
  make(c);
  EXPECT_EQ(ept().eptp(), ept().pml4().value() | 0x58);
}

TEST_F(Ept_map, DestroyFreesEveryTableAndInvalidatesOnce) {
  ASSERT_EQ(ept().map_range(Gpa(0), Hpa(0), 64 * MiB, Page_size::size_4k, rwx_wb).status, Ept_status::ok);
  ASSERT_EQ(ept().map(Gpa(0x80'0000'0000), Hpa(0), Page_size::size_1g, rwx_wb), Ept_status::ok);
  const u64 eptp = ept().eptp();
  EXPECT_GT(frames_.outstanding(), 32u);
  expect_no_leak();
  EXPECT_EQ(inv_.count, 1u);
  EXPECT_EQ(inv_.last_eptp, eptp);
  EXPECT_FALSE(ept().initialized());
  ept().destroy();  // twice is harmless
  EXPECT_EQ(inv_.count, 1u);
}

} // namespace
} // namespace hv
