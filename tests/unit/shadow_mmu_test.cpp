// tests/unit/shadow_mmu_test.cpp - the shadow MMU (mm/shadow/shadow_mmu.hpp), directed: a
// simulated CPU (unit/support/shadow_cpu.hpp) runs on the shadow tables and every access is
// compared with the guest's own tables: 4 KiB / 2 MiB / 1 GiB pages, 2 MiB shadow leaves, guest
// faults and their error codes, A/D flags, rights (NX, U/S, WP, SMEP, SMAP, NXE), guest writes to
// its tables seen without INVLPG, self-mapped tables (single step), the root cache, the table
// budget, mode changes, balloon and merge changes to the guest-physical map (of data pages and of
// the guest's own tables), tables and pages outside RAM, non-canonical addresses, running out of
// frames. After each test the self-check and the harness's audit pass and every frame is back.
// The randomized model test is shadow_mmu_model_test.cpp; with the merger, shadow_mmu_merge_test.cpp.
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

constexpr Vm_id vm = 4;
constexpr u64 P = pte::P, RW = pte::RW, US = pte::US, A = pte::A, D = pte::D, NX = pte::NX;
constexpr u64 PRW = P | RW | A | D;
constexpr u32 eP = pf_error::P, eW = pf_error::W, eU = pf_error::U, eRSVD = pf_error::RSVD, eI = pf_error::I;
constexpr Guest_access rd{}, wr{.write = true}, fx{.fetch = true};
constexpr Guest_access urd{.user = true}, uwr{.write = true, .user = true}, ufx{.fetch = true, .user = true};
constexpr u64 tables_at = 1 * MiB;  // the guest's page tables are built from here up
constexpr u64 mmio_page = 0xFEE0'0000;

class ShadowMmuTest : public ::testing::Test {
protected:
  void make(Shadow_config config = {}, Paging_policy policy = default_paging_policy, u64 ram = 16 * MiB) {
    Ept_config c;
    c.owner = vm;
    c.max_phys_addr_bits = 46;
    mem = std::make_unique<Guest_memory>(frames, frames.direct_map(), inv, c, policy);
    ASSERT_EQ(mem->init(), Ept_status::ok);
    ASSERT_EQ(mem->add_slot({Gpa(0), ram, Memslot_kind::ram}), Memslot_status::ok);
    ASSERT_EQ(mem->add_slot({Gpa(mmio_page), page_size_4k, Memslot_kind::mmio, 1}), Memslot_status::ok);
    mmu = std::make_unique<Shadow_mmu>(*mem, frames, frames.direct_map(), config, &flush);
    ASSERT_TRUE(mmu->init());
    mmu->set_mode(Guest_paging_mode{});
    cpu = std::make_unique<Shadow_cpu>(*mmu, *mem, frames.direct_map(), flush, &frames, true);
    tables = std::make_unique<Guest_tables>(*mem, tables_at);
  }
  // Every test ends with a consistent shadow, within its budget, and every frame given back.
  void TearDown() override {
    if (!mmu) return;
    EXPECT_EQ(cpu->audit(), "");
    EXPECT_EQ(test::shadow_check(*mmu), "");
    const Shadow_stats s = mmu->stats();
    EXPECT_LE(s.table_pages_peak, mmu->config().max_table_pages);
    EXPECT_EQ(frames.outstanding_use(Frame_use::page_table), mem->ept().table_pages() + s.table_pages);
    cpu.reset();
    mmu.reset();  // destroy()
    EXPECT_EQ(frames.outstanding_use(Frame_use::page_table), mem->ept().table_pages());
    mem.reset();
    EXPECT_EQ(frames.outstanding(), 0u);
  }
  Access_outcome go(u64 gva, Guest_access a, unsigned size = 1, u64 value = 0) {
    Access_outcome o;
    const std::string why = cpu->run(gva, a, size, value, &o);
    EXPECT_EQ(why, "");
    return o;
  }
  u64 entry(u64 cr3, u64 gva, unsigned level) { return tables->read(tables->entry_gpa(cr3, gva, level)); }

  test::Test_frames frames;
  test::Counting_invalidator inv;
  std::atomic<u64> flush{0};
  std::unique_ptr<Guest_memory> mem;
  std::unique_ptr<Shadow_mmu> mmu;
  std::unique_ptr<Shadow_cpu> cpu;
  std::unique_ptr<Guest_tables> tables;
};

// Each page size translates to the right guest-physical byte, and aliases see each other's writes.
// A 2 MiB guest page over a 2 MiB host frame gets one 2 MiB shadow leaf; a 1 GiB guest page is
// shadowed by 2 MiB leaves except where the guest's tables lie (4 KiB there, to write-protect them).
TEST_F(ShadowMmuTest, FourKibTwoMibAndOneGibGuestPagesTranslate) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  tables->map(cr3, 0x40'0000'1000, 0x50'5000, 1, PRW | US);
  tables->map(cr3, 0x8000'0000, 0x40'0000, 2, PRW);
  tables->map(cr3, 0x80'0000'0000, 0, 3, PRW);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  EXPECT_EQ(cpu->reference(0x40'0000'1123, rd).gpa, Gpa(0x50'5123));
  EXPECT_EQ(cpu->reference(0x8001'2345, rd).gpa, Gpa(0x41'2345));
  EXPECT_EQ(cpu->reference(0x80'00A0'0007, rd).gpa, Gpa(0xA0'0007));

  go(0x40'0000'1123, uwr, 8, 0x1111'2222'3333'4444);
  EXPECT_EQ(go(0x80'0050'5123, rd, 8).value, 0x1111'2222'3333'4444u);  // the 1 GiB alias
  go(0x8000'0000 + 0x1F'FFF8, wr, 8, 0x5555);
  EXPECT_EQ(go(0x80'0000'0000 + 0x5F'FFF8, rd, 8).value, 0x5555u);
  go(0x80'00A0'0007, wr, 1, 0x77);
  EXPECT_EQ(go(0x80'00A0'0007, rd).value, 0x77u);
  EXPECT_EQ(go(0x8001'2345, fx).kind, Shadow_fault_kind::fixed);

  ASSERT_EQ(mem->ept().translate(Gpa(0x40'0000))->leaf.size, Page_size::size_2m);
  EXPECT_EQ(cpu->shadow_walk(0x8000'0000).leaf_level, 2u);      // 2 MiB page, 2 MiB frame
  EXPECT_EQ(cpu->shadow_walk(0x80'00A0'0000).leaf_level, 2u);   // inside the 1 GiB page
  EXPECT_EQ(cpu->shadow_walk(0x80'0000'0000 + tables_at).leaf_level, 1u);  // over the guest's tables
  EXPECT_EQ(cpu->shadow_walk(0x40'0000'1000).leaf_level, 1u);
  EXPECT_GE(mmu->stats().large_fills, 3u);
}

// A 2 MiB guest page whose guest-physical range is backed by 4 KiB frames gets 4 KiB shadow leaves.
TEST_F(ShadowMmuTest, ATwoMibGuestPageOverFourKibFramesGetsFourKibShadowLeaves) {
  Paging_policy small = default_paging_policy;
  small.prefer_2m_leaves = false;
  ASSERT_NO_FATAL_FAILURE(make({}, small));
  const u64 cr3 = tables->new_table();
  tables->map(cr3, 0x20'0000, 0x60'0000, 2, PRW);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  for (u64 off = 0; off < page_size_2m; off += 0x3'3000) go(0x20'0000 + off, wr, 8, off);
  for (u64 off = 0; off < page_size_2m; off += 0x3'3000) EXPECT_EQ(go(0x20'0000 + off, rd, 8).value, off);
  EXPECT_EQ(cpu->shadow_walk(0x20'0000).leaf_level, 1u);
  EXPECT_EQ(mmu->stats().large_fills, 0u);
}

// What the guest's tables do not map is the guest's own #PF, with the error code the CPU gives
// (W, U, I; RSVD | P for a reserved bit), counted as a guest fault; nothing is populated for it.
TEST_F(ShadowMmuTest, NotPresentAndReservedBitsAreTheGuestsOwnFaults) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  tables->map(cr3, 0x1000, 0x50'0000, 1, PRW | US);
  tables->map(cr3, 0x4000, 0x50'1000 | (1ull << 40), 1, PRW | US);  // above MAXPHYADDR (36)
  ASSERT_TRUE(cpu->load_cr3(cr3));
  const u64 frames_before = frames.outstanding_frames();
  const struct {
    u64 gva;
    Guest_access a;
    u32 error;
  } cases[] = {
      {0x2000, rd, 0},  {0x2000, wr, eW},  {0x2000, uwr, eW | eU}, {0x2000, fx, eI},
      {0x12'3400'0000, urd, eU},  // no PDPT at all
      {0x4000, rd, eP | eRSVD}, {0x4000, uwr, eP | eRSVD | eW | eU},
  };
  for (const auto& c : cases) {
    const Access_outcome o = go(c.gva, c.a);
    EXPECT_EQ(o.kind, Shadow_fault_kind::guest_fault) << c.gva;
    EXPECT_EQ(o.error_code, c.error) << c.gva;
  }
  EXPECT_EQ(mmu->stats().guest_faults, std::size(cases));
  EXPECT_EQ(frames.outstanding_frames(), frames_before);  // neither a shadow table nor a guest page
  EXPECT_EQ(go(0x1000, urd).kind, Shadow_fault_kind::fixed);
}

// A walk sets A in every guest entry it uses; a read leaves D clear and the shadow leaf read-only;
// the first write faults, sets D, and only then is the shadow leaf writable.
TEST_F(ShadowMmuTest, AccessedAndDirtyFlagsAreSetAndACleanPageIsWritableOnlyOnceDirty) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  const u64 gva = 0x7F'1234'5000;
  tables->map(cr3, gva, 0x30'0000, 1, P | RW | US, P | RW | US);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  for (unsigned l = 4; l >= 1; --l) EXPECT_FALSE(entry(cr3, gva, l) & A) << l;
  go(gva + 8, urd);
  for (unsigned l = 4; l >= 1; --l) EXPECT_TRUE(entry(cr3, gva, l) & A) << l;
  EXPECT_FALSE(entry(cr3, gva, 1) & D);
  EXPECT_FALSE(cpu->shadow_walk(gva).writable);
  const u64 dirty_before = mmu->stats().dirty_faults;
  go(gva + 8, uwr, 4, 0xABCD);
  EXPECT_TRUE(entry(cr3, gva, 1) & D);
  EXPECT_TRUE(cpu->shadow_walk(gva).writable);
  EXPECT_EQ(mmu->stats().dirty_faults, dirty_before + 1);
  const u64 faults = mmu->stats().faults;
  go(gva + 16, uwr, 4, 1);  // writable now: no exit
  EXPECT_EQ(mmu->stats().faults, faults);
}

// Rights combine over the levels and follow CR0.WP, EFER.NXE, CR4.SMEP and CR4.SMAP; each mode
// change clears the roots, and a supervisor write under WP = 0 does not leak write or user access.
TEST_F(ShadowMmuTest, RightsFollowTheEntriesAndThePagingMode) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  const u64 s_ro = 0x10'0000'0000, u_rw = 0x10'0000'1000, u_nx = 0x10'0000'2000, u_ro = 0x10'0000'3000;
  const u64 via_ro = 0x10'4000'0000;  // user page under a read-only PDE
  tables->map(cr3, s_ro, 0x50'0000, 1, P | A | D);
  tables->map(cr3, u_rw, 0x50'1000, 1, PRW | US);
  tables->map(cr3, u_nx, 0x50'2000, 1, PRW | US | NX);
  tables->map(cr3, u_ro, 0x50'3000, 1, P | US | A | D);
  tables->map(cr3, via_ro, 0x50'4000, 1, PRW | US, P | US);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  const auto fault = [&](u64 gva, Guest_access a) {
    const Access_outcome o = go(gva, a);
    return o.kind == Shadow_fault_kind::guest_fault ? o.error_code : 0xFFu;
  };
  EXPECT_EQ(fault(s_ro, urd), eP | eU);
  EXPECT_EQ(fault(s_ro, wr), eP | eW);
  EXPECT_EQ(fault(u_ro, uwr), eP | eW | eU);
  EXPECT_EQ(fault(via_ro, uwr), eP | eW | eU);
  EXPECT_EQ(fault(u_nx, ufx), eP | eU | eI);
  EXPECT_EQ(fault(u_nx, fx), eP | eI);
  EXPECT_EQ(go(u_rw, ufx).kind, Shadow_fault_kind::fixed);
  EXPECT_EQ(go(u_rw, fx).kind, Shadow_fault_kind::fixed);  // no SMEP yet
  EXPECT_EQ(go(u_rw, rd).kind, Shadow_fault_kind::fixed);  // no SMAP yet

  Guest_paging_mode m;
  m.smep = m.smap = true;
  cpu->set_mode(m);
  EXPECT_EQ(mmu->stats().resets, 1u);
  EXPECT_EQ(fault(u_rw, fx), eP | eI);
  EXPECT_EQ(fault(u_rw, rd), eP);
  EXPECT_EQ(go(u_rw, Guest_access{.ac = true}).kind, Shadow_fault_kind::fixed);
  EXPECT_EQ(fault(u_rw, Guest_access{.implicit_supervisor = true, .ac = true}), eP);
  EXPECT_EQ(go(u_rw, urd).kind, Shadow_fault_kind::fixed);

  m = Guest_paging_mode{};
  m.wp = false;  // supervisor writes to read-only pages succeed
  cpu->set_mode(m);
  go(s_ro, wr, 1, 0x42);
  go(u_ro, wr, 1, 0x43);
  EXPECT_EQ(fault(u_ro, uwr), eP | eW | eU);  // the user still may not write it
  EXPECT_EQ(go(u_ro, urd).value, 0x43u);      // but may read it
  go(u_ro, wr, 1, 0x44);
  EXPECT_EQ(test::shadow_check(*mmu), "");

  m = Guest_paging_mode{};
  m.nxe = false;  // XD is a reserved bit now; fetches report no I bit
  cpu->set_mode(m);
  EXPECT_EQ(mmu->stats().resets, 3u);
  EXPECT_EQ(fault(u_nx, urd), eP | eRSVD | eU);
  EXPECT_EQ(fault(0x20'0000'0000, fx), 0u);
  EXPECT_EQ(go(u_rw, ufx).kind, Shadow_fault_kind::fixed);
}

// CR0.WP = 0 lets a supervisor write a read-only page; for a user page under SMEP or SMAP that
// must not make the page look like a supervisor page: a supervisor fetch from it is still an
// SMEP fault, a supervisor read without RFLAGS.AC still an SMAP fault, as on the bare CPU.
TEST_F(ShadowMmuTest, ASupervisorWriteUnderWpZeroKeepsSmepAndSmapOnUserPages) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  const u64 page = 0x10'0000'3000;
  tables->map(cr3, page, 0x50'3000, 1, P | US | A | D);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  Guest_paging_mode m;
  m.wp = false;
  m.smep = m.smap = true;
  cpu->set_mode(m);
  EXPECT_EQ(go(page, Guest_access{.write = true, .ac = true}, 1, 0x45).kind, Shadow_fault_kind::fixed);
  EXPECT_EQ(go(page, fx).error_code, eP | eI);  // SMEP
  EXPECT_EQ(go(page, Guest_access{.write = true, .ac = true}, 1, 0x46).kind, Shadow_fault_kind::fixed);
  EXPECT_EQ(go(page, rd).error_code, eP);       // SMAP
  EXPECT_EQ(go(page, urd).value, 0x46u);
}

// The tracking invariant: a guest write to one of its page tables (mapped at some other GVA) is
// seen by the very next access through the changed entry, with no INVLPG.
TEST_F(ShadowMmuTest, AGuestWriteToItsOwnTableIsSeenAtTheNextAccessWithoutInvlpg) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  const u64 x = 0x4000'3000, window = 0x8000'0000;
  tables->map(cr3, x, 0x50'0000, 1, PRW);
  const u64 pte_at = tables->entry_gpa(cr3, x, 1);
  tables->map(cr3, window, pte_at & ~(page_size_4k - 1), 1, PRW);  // the PT, through another PT
  test::guest_write(*mem, 0x50'0000, 0x1111);
  test::guest_write(*mem, 0x50'1000, 0x2222);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  const u64 slot = window + (pte_at & (page_size_4k - 1));
  EXPECT_EQ(go(x, rd, 8).value, 0x1111u);
  EXPECT_EQ(go(slot, wr, 8, 0x50'1000 | PRW).kind, Shadow_fault_kind::fixed);
  EXPECT_EQ(go(x, rd, 8).value, 0x2222u);
  go(x, wr, 8, 0x3333);
  go(slot, wr, 8, 0x50'1000 | P | A | D);  // read-only now
  EXPECT_EQ(go(x, wr).error_code, eP | eW);
  EXPECT_EQ(go(x, rd, 8).value, 0x3333u);
  go(slot, wr, 8, 0);  // not present
  EXPECT_EQ(go(x, rd).kind, Shadow_fault_kind::guest_fault);
  go(slot, wr, 8, 0x50'0000 | PRW);
  EXPECT_EQ(go(x, rd, 8).value, 0x1111u);
  // Three writes found the PT tracked; the fourth did not: the guest fault before it built
  // nothing through the PT, so nothing needed protecting.
  const Shadow_stats s = mmu->stats();
  EXPECT_EQ(s.table_writes, 3u);
  EXPECT_EQ(s.single_steps, 0u);
}

// A table reachable only through itself (the PD of an identity map lies in the 2 MiB it maps;
// the PML4 likewise): writing it needs the shadow it changes, so the write is single-stepped,
// done, and the next access sees the new entry.
TEST_F(ShadowMmuTest, AWriteThroughASelfMappedTableSingleSteps) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  tables->map(cr3, 0, 0, 2, PRW);  // GVA [0, 2 MiB) = GPA [0, 2 MiB), the tables included
  const u64 pde = tables->entry_gpa(cr3, 0, 2);
  test::guest_write(*mem, 0x20'0040, 0xBEEF);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  EXPECT_EQ(go(pde, rd, 8).value, 0 | PRW | pte::PS);
  Access_outcome o = go(pde + 8, wr, 8, 0x20'0000 | PRW | pte::PS);  // PD[1]: the next 2 MiB
  EXPECT_TRUE(o.stepped);
  EXPECT_EQ(mmu->stats().single_steps, 1u);
  EXPECT_FALSE(mmu->single_stepping());
  EXPECT_EQ(go(0x20'0040, rd, 8).value, 0xBEEFu);
  o = go(cr3 + 8, wr, 8, (tables->read(cr3) & ~A));  // PML4[1] = the same PDPT, through the PML4
  EXPECT_TRUE(o.stepped);
  EXPECT_EQ(go(0x80'0020'0040, rd, 8).value, 0xBEEFu);
  o = go(pde + 8, wr, 8, 0);
  EXPECT_TRUE(o.stepped);
  EXPECT_EQ(go(0x20'0040, rd).kind, Shadow_fault_kind::guest_fault);
  EXPECT_EQ(mmu->stats().single_steps, 3u);
}

// MOV to CR3 between cached roots finds them (one VPID each, flushed only when new) and each
// address space keeps seeing its own data.
TEST_F(ShadowMmuTest, SwitchingBetweenTwoAddressSpacesHitsTheRootCache) {
  ASSERT_NO_FATAL_FAILURE(make(Shadow_config{.vpid = true, .first_vpid = 5}));
  const u64 a = tables->new_table(), b = tables->new_table();
  const u64 g = 0x7000'0000, shared = 0x9000'0000;
  tables->map(a, g, 0x60'0000, 1, PRW | US);
  tables->map(b, g, 0x60'1000, 1, PRW | US);
  tables->map(a, shared, 0x60'2000, 1, PRW);
  tables->map(b, shared, 0x60'2000, 1, PRW);
  ASSERT_TRUE(cpu->load_cr3(a));
  EXPECT_TRUE(cpu->root().needs_flush);
  EXPECT_EQ(cpu->root().vpid, 5u);
  go(g, uwr, 8, 0xAAAA);
  go(shared, wr, 8, 1);
  ASSERT_TRUE(cpu->load_cr3(b | 0x18));  // PCD / PWT bits are not the address
  EXPECT_EQ(cpu->root().vpid, 6u);
  go(g, uwr, 8, 0xBBBB);
  EXPECT_EQ(go(shared, rd, 8).value, 1u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(cpu->load_cr3(a));
    EXPECT_FALSE(cpu->root().needs_flush);
    EXPECT_EQ(go(g, urd, 8).value, 0xAAAAu);
    ASSERT_TRUE(cpu->load_cr3(b));
    EXPECT_EQ(go(g, urd, 8).value, 0xBBBBu);
  }
  const Shadow_stats s = mmu->stats();
  EXPECT_EQ(s.cr3_loads, 8u);
  EXPECT_EQ(s.root_hits, 6u);
  EXPECT_EQ(s.root_evictions, 0u);
  u16 vpids[shadow_max_roots];
  EXPECT_EQ(mmu->root_vpids(vpids, shadow_max_roots), 2u);
}

// More distinct CR3 values than max_roots: the least recently used root goes, the budget holds.
TEST_F(ShadowMmuTest, MoreAddressSpacesThanRootsRecyclesRootsWithinTheBudget) {
  ASSERT_NO_FATAL_FAILURE(make(Shadow_config{.max_table_pages = 16, .max_roots = 2}));
  u64 spaces[6];
  for (u64 i = 0; i < 6; ++i) {
    spaces[i] = tables->new_table();
    tables->map(spaces[i], 0x1234'5000, 0x40'0000 + i * page_size_4k, 1, PRW);
    tables->map(spaces[i], 0x80'0000'0000, 0, 3, PRW);
  }
  for (int round = 0; round < 4; ++round) {
    for (u64 i = 0; i < 6; ++i) {
      ASSERT_TRUE(cpu->load_cr3(spaces[i]));
      if (round == 0) go(0x1234'5000, wr, 8, 100 + i);
      EXPECT_EQ(go(0x1234'5000, rd, 8).value, 100 + i);
      EXPECT_EQ(go(0x80'0040'0000 + i * page_size_4k, rd, 8).value, 100 + i);
      EXPECT_LE(mmu->stats().table_pages, 16u);
    }
  }
  const Shadow_stats s = mmu->stats();
  EXPECT_EQ(s.root_hits, 0u);
  EXPECT_EQ(s.root_evictions, 22u);  // every load but the first two
}

// With the smallest budget (16 tables) a guest touching 4096 pages under 128 tables keeps working:
// tables are recycled, never more than 16 at once.
TEST_F(ShadowMmuTest, ASixteenPageBudgetServesThousandsOfPages) {
  ASSERT_NO_FATAL_FAILURE(make(Shadow_config{.max_table_pages = 16}, default_paging_policy, 32 * MiB));
  const u64 cr3 = tables->new_table();
  const auto gva_of = [](u64 i) { return (i / 64) * GiB + (i % 64) * 5 * page_size_4k; };  // 64 PDs, 64 PTs
  for (u64 i = 0; i < 4096; ++i) tables->map(cr3, gva_of(i), 4 * MiB + i * page_size_4k, 1, PRW);
  ASSERT_LT(tables->next(), 4 * MiB);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  for (u64 i = 0; i < 4096; ++i) ASSERT_EQ(cpu->run(gva_of(i) + 8, wr, 8, i * 3 + 1), "");
  for (u64 i = 0; i < 4096; i += 3) ASSERT_EQ(go(gva_of(i) + 8, rd, 8).value, i * 3 + 1);
  const Shadow_stats s = mmu->stats();
  EXPECT_GT(s.recycles, 0u);
  EXPECT_LE(s.table_pages_peak, 16u);
}

// A paging-mode change clears every root (each stays, empty); the same mode again changes nothing.
TEST_F(ShadowMmuTest, SetModeClearsEveryRoot) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 a = tables->new_table(), b = tables->new_table();
  tables->map(a, 0x5000, 0x50'0000, 1, PRW);
  tables->map(b, 0x5000, 0x50'1000, 1, PRW);
  ASSERT_TRUE(cpu->load_cr3(a));
  go(0x5000, wr, 8, 1);
  ASSERT_TRUE(cpu->load_cr3(b));
  go(0x5000, wr, 8, 2);
  EXPECT_GT(mmu->stats().table_pages, 2u);
  cpu->set_mode(Guest_paging_mode{});
  EXPECT_EQ(mmu->stats().resets, 0u);
  Guest_paging_mode m;
  m.smep = true;
  cpu->set_mode(m);
  Shadow_stats s = mmu->stats();
  EXPECT_EQ(s.resets, 1u);
  EXPECT_EQ(s.table_pages, 2u);
  EXPECT_EQ(s.tracked_tables, 0u);
  EXPECT_EQ(go(0x5000, rd, 8).value, 2u);
  ASSERT_TRUE(cpu->load_cr3(a));
  EXPECT_EQ(go(0x5000, rd, 8).value, 1u);
  EXPECT_EQ(mmu->stats().root_hits, 1u);
}

// Ballooning a mapped page (which splits its 2 MiB frame) clears the shadow leaves over it: the
// next access sees a fresh zero page, the rest of the frame keeps its data under 4 KiB leaves.
TEST_F(ShadowMmuTest, BallooningAMappedPageClearsItsShadowLeaves) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  tables->map(cr3, 0x20'0000, 0x60'0000, 2, PRW);  // over a 2 MiB frame
  tables->map(cr3, 0x9000, 0x60'5000, 1, PRW);     // a 4 KiB alias into it
  ASSERT_TRUE(cpu->load_cr3(cr3));
  go(0x20'5010, wr, 8, 0x5151);
  go(0x20'6010, wr, 8, 0x6161);
  EXPECT_EQ(go(0x9010, rd, 8).value, 0x5151u);
  EXPECT_EQ(cpu->shadow_walk(0x20'0000).leaf_level, 2u);
  const Balloon_range page{0x60'5000 >> page_shift, 1};
  ASSERT_EQ(mem->balloon_inflate({&page, 1}, ~u64{0}).status, Balloon_status::ok);
  cpu->kick();  // (the balloon runs on another CPU: the vCPU catches up before it enters)
  EXPECT_GE(mmu->stats().map_changes, 2u);  // the 2 MiB leaf and the 4 KiB alias
  EXPECT_EQ(test::shadow_check(*mmu), "");
  EXPECT_EQ(go(0x9010, rd, 8).value, 0u);
  EXPECT_EQ(go(0x20'5010, rd, 8).value, 0u);
  EXPECT_EQ(go(0x20'6010, rd, 8).value, 0x6161u);
  EXPECT_EQ(cpu->shadow_walk(0x20'6000).leaf_level, 1u);
}

// Ballooning a page that holds one of the guest's own page tables: the guest reads that table as
// zeros from then on, so the shadow built from its old entries must go with it.
TEST_F(ShadowMmuTest, BallooningAGuestTablePageDropsTheShadowsBuiltFromIt) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  const u64 x = 0x4000'3000;
  tables->map(cr3, x, 0x50'0000, 1, PRW);
  test::guest_write(*mem, 0x50'0000, 0x1111);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  EXPECT_EQ(go(x, rd, 8).value, 0x1111u);
  const u64 pt = tables->entry_gpa(cr3, x, 1) & ~(page_size_4k - 1);
  const Balloon_range page{pt >> page_shift, 1};
  ASSERT_EQ(mem->balloon_inflate({&page, 1}, ~u64{0}).status, Balloon_status::ok);
  cpu->kick();
  EXPECT_EQ(test::shadow_check(*mmu), "");
  EXPECT_EQ(go(x, rd, 8).kind, Shadow_fault_kind::guest_fault);  // the PT reads as zeros now
}

// Shadow_mmu::check() itself under SMAP: the leaves of user pages are legitimate there too.
TEST_F(ShadowMmuTest, TheSelfCheckHoldsUnderSmap) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  tables->map(cr3, 0x6000, 0x50'6000, 1, PRW | US);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  Guest_paging_mode m;
  m.smap = true;
  cpu->set_mode(m);
  EXPECT_EQ(go(0x6000, urd).kind, Shadow_fault_kind::fixed);
  EXPECT_EQ(cpu->audit(), "");
  EXPECT_EQ(test::shadow_check(*mmu), "");
}

// A guest table or page outside every RAM slot stops the VM (with the GPA); a page in an MMIO
// slot is MMIO; a table in an MMIO slot is outside RAM too.
TEST_F(ShadowMmuTest, TablesAndPagesOutsideRamAreReported) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  tables->write(tables->entry_gpa(cr3, 0x4000'0000, 2), GiB | P | RW);  // a PT at 1 GiB (RAM is 16 MiB)
  tables->write(tables->entry_gpa(cr3, 0x8000'0000, 2), mmio_page | P | RW);
  tables->map(cr3, 0x1000, 0x800'0000, 1, PRW);
  tables->map(cr3, 0x2000, mmio_page, 1, PRW);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  Access_outcome o = go(0x4000'3000, rd);
  EXPECT_EQ(o.kind, Shadow_fault_kind::outside_ram);
  EXPECT_EQ(o.gpa, GiB + 3 * 8);
  o = go(0x8000'1000, rd);
  EXPECT_EQ(o.kind, Shadow_fault_kind::outside_ram);
  EXPECT_EQ(o.gpa, mmio_page + 8);
  o = go(0x1234, wr);
  EXPECT_EQ(o.kind, Shadow_fault_kind::outside_ram);
  EXPECT_EQ(o.gpa, 0x800'0234u);
  o = go(0x2030, rd);
  EXPECT_EQ(o.kind, Shadow_fault_kind::mmio);
  EXPECT_EQ(o.gpa, mmio_page + 0x30);
}

// A non-canonical GVA: #GP on the CPU, and the MMU says the same if asked.
TEST_F(ShadowMmuTest, ANonCanonicalAddressIsAGeneralProtectionFault) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table();
  ASSERT_TRUE(cpu->load_cr3(cr3));
  EXPECT_EQ(go(0x0000'8000'0000'0000, rd).kind, Shadow_fault_kind::general_protection);
  EXPECT_EQ(go(0xFFFF'7FFF'FFFF'F000, uwr).kind, Shadow_fault_kind::general_protection);
  EXPECT_EQ(mmu->page_fault(Gva(0x0000'8000'0000'0000), rd).kind, Shadow_fault_kind::general_protection);
}

// No frame for a shadow table: out_of_memory, nothing half-built; frames back, the access works.
TEST_F(ShadowMmuTest, NoFrameForAShadowTableIsOutOfMemoryUntilFramesReturn) {
  ASSERT_NO_FATAL_FAILURE(make());
  const u64 cr3 = tables->new_table(), other = tables->new_table();
  tables->map(cr3, 0x3000, 0x50'0000, 1, PRW);
  test::guest_write(*mem, 0x50'0000, 9);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  frames.set_budget_frames(frames.outstanding_frames());
  EXPECT_EQ(cpu->access(0x3000, rd).kind, Shadow_fault_kind::out_of_memory);
  EXPECT_EQ(test::shadow_check(*mmu), "");
  frames.set_budget_frames(frames.outstanding_frames() - 1);  // dropping the one root frees too little
  EXPECT_FALSE(mmu->load_cr3(other).has_value());
  EXPECT_EQ(test::shadow_check(*mmu), "");
  frames.set_budget_frames(test::Test_frames::unlimited);
  ASSERT_TRUE(cpu->load_cr3(cr3));
  EXPECT_EQ(go(0x3000, rd, 8).value, 9u);
}


} // namespace
} // namespace hv
