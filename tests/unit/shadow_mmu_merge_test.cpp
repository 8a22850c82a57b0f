// tests/unit/shadow_mmu_merge_test.cpp - the shadow MMU with same-page merging on the real
// frame allocator and merger: merged pages lose their shadow leaves and read the shared frame;
// merged guest tables are unshared by the walker's accessed-flag updates and stay correct.
// The directed tests without the merger are shadow_mmu_test.cpp.
#include "mm/merge/merger.hpp"
#include "unit/support/merge_fixture.hpp"
#include "unit/support/shadow_cpu.hpp"
#include <gtest/gtest.h>
#include <memory>

namespace hv {
namespace {
namespace pte = x86::pte;
using test::Access_outcome;
using test::Guest_tables;
using test::Shadow_cpu;

constexpr u64 P = pte::P, RW = pte::RW, A = pte::A, D = pte::D;
constexpr u64 PRW = P | RW | A | D;
constexpr Guest_access rd{}, wr{.write = true};
constexpr u64 tables_at = 1 * MiB;  // the guest's page tables are built from here up
// Merging two identical guest pages (the merger, on the real frame allocator) clears their shadow
// leaves: both then read the one shared frame; a write gets a private copy, the other keeps its data.
TEST(ShadowMmuMerge, MergingTwoIdenticalPagesClearsTheirShadowLeaves) {
  test::Merge_host host(64 * MiB);
  Merge_knobs k;
  k.run = 1;
  host.merger().set_knobs(k);
  Guest_memory& m = host.add_vm(1, 8 * MiB, false);
  std::atomic<u64> flush{0};
  auto mmu = std::make_unique<Shadow_mmu>(m, host.allocator(), host.arena().direct_map(), Shadow_config{}, &flush);
  ASSERT_TRUE(mmu->init());
  Shadow_cpu cpu(*mmu, m, host.arena().direct_map(), flush, nullptr, true);
  Guest_tables tables(m, tables_at);
  const u64 cr3 = tables.new_table();
  tables.map(cr3, 0x1000, 4 * MiB, 1, PRW);
  tables.map(cr3, 0x2000, 4 * MiB + page_size_4k, 1, PRW);
  ASSERT_TRUE(host.fill_page(1, 4 * MiB, 77));
  ASSERT_TRUE(host.fill_page(1, 4 * MiB + page_size_4k, 77));
  ASSERT_TRUE(cpu.load_cr3(cr3));
  Access_outcome o1, o2;
  ASSERT_EQ(cpu.run(0x1008, rd, 8, 0, &o1), "");
  ASSERT_EQ(cpu.run(0x2008, rd, 8, 0, &o2), "");
  EXPECT_NE(o1.hpa, o2.hpa);
  host.merger().scan_full_pass();
  EXPECT_GE(host.merger().stats().pages_sharing, 1u);
  EXPECT_GE(mmu->stats().map_changes, 2u);
  EXPECT_EQ(test::shadow_check(*mmu), "");
  ASSERT_EQ(cpu.run(0x1008, rd, 8, 0, &o1), "");
  ASSERT_EQ(cpu.run(0x2008, rd, 8, 0, &o2), "");
  EXPECT_EQ(o1.hpa, o2.hpa);  // the shared frame
  const u64 before = o2.value;
  ASSERT_EQ(cpu.run(0x1008, wr, 8, 0x1234), "");  // CoW break
  ASSERT_EQ(cpu.run(0x1008, rd, 8, 0, &o1), "");
  ASSERT_EQ(cpu.run(0x2008, rd, 8, 0, &o2), "");
  EXPECT_EQ(o1.value, 0x1234u);
  EXPECT_EQ(o2.value, before);
  EXPECT_NE(o1.hpa, o2.hpa);
  EXPECT_EQ(test::shadow_check(*mmu), "");
  mmu.reset();
  host.stop_vm(1);
  host.merger().release_idle_storage();
  EXPECT_EQ(host.frames_in_use(), 0u);
}

// Two address spaces whose page tables are identical pages get those pages merged (read-only
// shared frames): the walker's A/D updates are guest writes, so they unshare the table first; and
// tables merged again while shadowed keep translating right in both spaces.
TEST(ShadowMmuMerge, MergedGuestTablesAreUnsharedByAccessedFlagsAndStayCorrect) {
  test::Merge_host host(64 * MiB);
  Merge_knobs k;
  k.run = 1;
  host.merger().set_knobs(k);
  Guest_memory& m = host.add_vm(1, 8 * MiB, false);
  std::atomic<u64> flush{0};
  auto mmu = std::make_unique<Shadow_mmu>(m, host.allocator(), host.arena().direct_map(), Shadow_config{}, &flush);
  ASSERT_TRUE(mmu->init());
  Shadow_cpu cpu(*mmu, m, host.arena().direct_map(), flush, nullptr, true);
  Guest_tables tables(m, tables_at);
  const u64 a = tables.new_table(), b = tables.new_table();
  for (const u64 cr3 : {a, b}) {
    tables.map(cr3, 0x1000, 4 * MiB, 1, P | RW, P | RW | A);  // leaves without A: identical PTs
    tables.map(cr3, 0x2000, 4 * MiB + page_size_4k, 1, P | RW, P | RW | A);
  }
  ASSERT_TRUE(host.fill_page(1, 4 * MiB, 5));
  ASSERT_TRUE(host.fill_page(1, 4 * MiB + page_size_4k, 6));
  const u64 pt_a = tables.entry_gpa(a, 0x1000, 1) & ~(page_size_4k - 1);
  const u64 pt_b = tables.entry_gpa(b, 0x1000, 1) & ~(page_size_4k - 1);
  host.merger().scan_full_pass();
  ASSERT_EQ(m.ept().translate(Gpa(pt_a))->hpa, m.ept().translate(Gpa(pt_b))->hpa);  // one frame
  const u64 cow_before = m.stats().cow_breaks + m.stats().cow_takebacks;
  ASSERT_TRUE(cpu.load_cr3(a));
  ASSERT_EQ(cpu.run(0x1008, rd, 8), "");  // sets A in pt_a: unshared first
  EXPECT_GT(m.stats().cow_breaks + m.stats().cow_takebacks, cow_before);
  EXPECT_NE(m.ept().translate(Gpa(pt_a))->hpa, m.ept().translate(Gpa(pt_b))->hpa);
  ASSERT_EQ(cpu.run(0x2008, rd, 8), "");
  ASSERT_TRUE(cpu.load_cr3(b));
  ASSERT_EQ(cpu.run(0x1008, rd, 8), "");
  ASSERT_EQ(cpu.run(0x2008, rd, 8), "");  // the PTs are identical again (A on both entries)
  host.merger().scan_full_pass();         // and merged while shadowed
  ASSERT_EQ(m.ept().translate(Gpa(pt_a))->hpa, m.ept().translate(Gpa(pt_b))->hpa);
  cpu.kick();
  EXPECT_EQ(test::shadow_check(*mmu), "");
  for (const u64 cr3 : {a, b, a}) {
    ASSERT_TRUE(cpu.load_cr3(cr3));
    ASSERT_EQ(cpu.run(0x1008, rd, 8), "");
    ASSERT_EQ(cpu.run(0x2010, wr, 8, cr3), "");  // D in the shared PT: unshared again
    ASSERT_EQ(cpu.run(0x1008, wr, 8, cr3), "");
  }
  EXPECT_EQ(test::shadow_check(*mmu), "");
  EXPECT_EQ(cpu.audit(), "");
  mmu.reset();
  host.stop_vm(1);
  host.merger().release_idle_storage();
  EXPECT_EQ(host.frames_in_use(), 0u);
}
} // namespace
} // namespace hv
