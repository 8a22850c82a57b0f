// tests/unit/guest_page_walk_test.cpp - the guest page-table walker (mm/guest_page_walk.hpp): directed
// cases (translation, not-present and reserved-bit faults, WP/NXE/SMEP/SMAP rights, A/D updates and
// their races, tables outside RAM, non-canonical addresses, self-maps), then 100,000 random walks
// against a reference model written apart from the walker (SDM 4.5-4.8 level by level), fixed seed.
#include "mm/guest_page_walk.hpp"
#include "arch/x86/page_table_entry.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

namespace hv {
namespace {
namespace pte = x86::pte;

constexpr u64 P = pte::P, RW = pte::RW, US = pte::US, A = pte::A, D = pte::D, PS = pte::PS, NX = pte::NX;
constexpr u64 PAT_large = 1ull << 12;
constexpr u32 eP = pf_error::P, eW = pf_error::W, eU = pf_error::U, eRSVD = pf_error::RSVD, eI = pf_error::I;

// Guest tables as a map from an entry's GPA to its value (absent: zero), nullopt outside `ram`.
// set_bits call k (from 0) fails when bit k of `fail_calls` is set, after `on_fail` (a racing guest
// write, or nothing). `bad` counts misaligned reads and needless updates or ones beyond A/D.
class Fake_tables final : public Guest_table_memory {
public:
  std::map<u64, u64> entries;
  std::vector<std::pair<u64, u64>> ram{{0, 64 * MiB}};  // [base, end) ranges
  u64 fail_calls = 0;
  std::function<void()> on_fail;
  unsigned reads = 0, set_calls = 0, bad = 0;

  bool in_ram(u64 gpa) const {
    return std::any_of(ram.begin(), ram.end(), [&](const auto& r) { return gpa >= r.first && gpa < r.second; });
  }
  u64 at(u64 gpa) const { return entries.count(gpa) ? entries.at(gpa) : 0; }
  std::optional<u64> read_entry(Gpa gpa) override {
    ++reads;
    bad += gpa.value() % 8 != 0;
    return in_ram(gpa.value()) ? std::optional<u64>(at(gpa.value())) : std::nullopt;
  }
  bool set_bits(Gpa gpa, u64 expected, u64 bits) override {
    const unsigned call = set_calls++;
    if (call < 64 && (fail_calls >> call & 1)) {
      if (on_fail) on_fail();
      return false;
    }
    if (!in_ram(gpa.value()) || at(gpa.value()) != expected) return false;
    bad += (bits & ~(A | D)) != 0 || (expected & bits) == bits;
    entries[gpa.value()] = expected | bits;
    return true;
  }
};

u64 make_va(u64 i4, u64 i3, u64 i2, u64 i1, u64 offset) {
  const u64 va = i4 << 39 | i3 << 30 | i2 << 21 | i1 << 12 | offset;
  return (i4 & 0x100) ? va | 0xFFFF'0000'0000'0000ull : va;
}

constexpr Guest_access rd{}, wr{.write = true}, fx{.fetch = true};
constexpr Guest_access urd{.user = true}, uwr{.write = true, .user = true}, ufx{.fetch = true, .user = true};

// One chain PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 -> frame 0xABCD000 for `va`
// (a different index at each level; the frame is outside RAM: a page need not be RAM).
class GuestPageWalk : public ::testing::Test {
protected:
  static constexpr u64 table[5] = {0, 0x4000, 0x3000, 0x2000, 0x1000};
  static constexpr u64 frame = 0xABCD000;
  Fake_tables mem;
  Guest_paging_mode mode;
  u64 cr3 = table[4];
  u64 va = make_va(0x0FE, 0x051, 0x1A2, 0x167, 0xABC);

  u64 addr(unsigned level) const { return table[level] + 8 * u64{pte::index(va, level)}; }
  u64& entry(unsigned level) { return mem.entries[addr(level)]; }
  void map_4k(u64 flags = P | RW | US) {
    for (unsigned level = 4; level >= 2; --level) entry(level) = table[level - 1] | flags;
    entry(1) = frame | flags;
  }
  Walk_result walk(Guest_access access = rd) { return walk_guest_page_tables(mem, cr3, Gva(va), access, mode); }
  bool ok(Guest_access access = rd) { return walk(access).status == Walk_status::ok; }
  u32 error(Guest_access access = rd) {
    const Walk_result r = walk(access);
    EXPECT_EQ(r.status, Walk_status::page_fault);
    return r.error_code;
  }
};

TEST_F(GuestPageWalk, Translates4KPageAndReportsThePath) {
  map_4k(P | RW | US | pte::G);
  const Walk_result r = walk();
  ASSERT_EQ(r.status, Walk_status::ok);
  EXPECT_EQ(r.gpa, Gpa(frame + 0xABC));
  EXPECT_EQ(r.leaf_level, 1u);
  EXPECT_EQ(r.levels_read, 4u);
  for (unsigned level = 1; level <= 4; ++level) {
    EXPECT_EQ(r.table_gpa[level], Gpa(table[level])) << level;
    EXPECT_EQ(r.entry[level], mem.at(addr(level))) << level;
  }
  EXPECT_TRUE(r.writable && r.user && r.executable && !r.dirty);
  EXPECT_EQ(r.leaf_entry, frame | P | RW | US | pte::G | A);
}

TEST_F(GuestPageWalk, Translates2MAnd1GPagesFromTheirHighAddressBits) {
  va -= 0x1000;  // offset bit 12 clear: a PAT bit taken for address would show
  map_4k();
  entry(2) = 0x4060'0000 | P | RW | PS | PAT_large;  // bit 12 is PAT, not address
  Walk_result r = walk();
  ASSERT_EQ(r.status, Walk_status::ok);
  EXPECT_EQ(r.gpa, Gpa(0x4060'0000 + (va & (page_size_2m - 1))));
  EXPECT_TRUE(r.leaf_level == 2 && r.levels_read == 3);
  EXPECT_TRUE(r.table_gpa[1] == Gpa() && r.entry[1] == 0) << "below the leaf: not filled";
  EXPECT_TRUE(!r.user && (r.leaf_entry & PAT_large));
  entry(3) = 0x1'4000'0000 | P | US | PS | PAT_large;
  r = walk();
  ASSERT_EQ(r.status, Walk_status::ok);
  EXPECT_EQ(r.gpa, Gpa(0x1'4000'0000 + (va & (page_size_1g - 1))));
  EXPECT_TRUE(r.leaf_level == 3 && r.levels_read == 2);
  EXPECT_TRUE(!r.writable && r.user);
}

TEST_F(GuestPageWalk, CanonicalAddressesOnlyAndCr3BitsThatAreNotAddress) {
  for (u64 bad : {0x0000'8000'0000'0000ull, 0xFFFF'7FFF'FFFF'FFFFull, 0x0001'0000'0000'0000ull, 1ull << 63}) {
    va = bad;
    EXPECT_EQ(walk().status, Walk_status::non_canonical) << std::hex << bad;
  }
  EXPECT_EQ(mem.reads, 0u);
  va = make_va(0x1FF, 0x1FE, 0, 3, 0x10);  // a higher-half address
  map_4k();
  EXPECT_EQ(addr(4), table[4] + 8 * 0x1FF);
  // PWT/PCD or a PCID, bit 63 (no-flush), a bit at or above MAXPHYADDR (36): the same PML4.
  for (u64 extra : {u64{0}, u64{0x18}, u64{0xFFF}, u64{1} << 63, u64{1} << 40}) {
    cr3 = table[4] | extra;
    const Walk_result r = walk();
    EXPECT_TRUE(r.gpa == Gpa(frame + 0x10) && r.table_gpa[4] == Gpa(table[4])) << std::hex << extra;
  }
}

TEST_F(GuestPageWalk, NotPresentAtEachLevelReportsTheAccessOnly) {
  for (unsigned level = 4; level >= 1; --level) {
    map_4k();
    entry(level) = (entry(level) & ~P) | (1ull << 51) | PS;  // reserved bits of a P = 0 entry do not count
    const Walk_result r = walk();
    EXPECT_EQ(r.error_code, 0u) << level;
    EXPECT_EQ(r.levels_read, 5 - level);
    EXPECT_EQ(r.entry[level], mem.at(addr(level)));
    for (const auto& [access, code] : {std::pair{wr, eW}, {urd, eU}, {uwr, eW | eU}, {fx, eI}, {ufx, eU | eI}})
      EXPECT_EQ(error(access), code) << level;
    mode.nxe = false;
    EXPECT_EQ(error(fx), 0u) << "I is reported only with NXE or SMEP";
    mode.smep = true;
    EXPECT_EQ(error(fx), eI);
    mode = {};
  }
  EXPECT_EQ(mem.set_calls, 0u);
}

TEST_F(GuestPageWalk, ReservedBitsOfEveryEntryAddressBitsAboveMaxPhysAddrAndXdWithoutNxe) {
  for (unsigned level = 4; level >= 1; --level) {
    for (const auto& [width, bit] : {std::pair{36u, 36u}, {36u, 51u}, {46u, 46u}, {46u, 51u}}) {
      mode.max_phys_addr_bits = static_cast<u8>(width);
      map_4k();
      entry(level) |= 1ull << bit;
      EXPECT_EQ(error(), eP | eRSVD) << level << " " << bit;
      EXPECT_EQ(walk().levels_read, 5 - level);
      map_4k();
      entry(level) |= 1ull << (width - 1);  // the highest address bit is address
      EXPECT_EQ(walk().error_code & eRSVD, 0u);
    }
    mode = {.nxe = false};
    map_4k();
    entry(level) |= NX;
    EXPECT_EQ(error(), eP | eRSVD) << level;
    map_4k();
    entry(level) |= 0x7FF0'0000'0000'0000ull;  // bits 62:52 are ignored
    const Walk_result r = walk(fx);
    EXPECT_TRUE(r.status == Walk_status::ok && r.executable && r.gpa == Gpa(frame + 0xABC)) << level;
    mode = {};
  }
  mode.max_phys_addr_bits = 52;
  entry(1) |= 1ull << 51;
  EXPECT_EQ(walk().gpa, Gpa((1ull << 51) + frame + 0xABC));
}

TEST_F(GuestPageWalk, PageSizeBitsAndLargeLeafReservedBits) {
  map_4k();
  entry(4) |= PS;
  EXPECT_EQ(error(), eP | eRSVD) << "no 512 GiB pages";
  map_4k();
  entry(1) |= PS;  // a PTE's bit 7 is PAT
  EXPECT_TRUE(ok());
  entry(3) = 0x4000'0000 | P | PS;
  mode.page_1g = false;
  EXPECT_EQ(error(), eP | eRSVD) << "PS in a PDPTE without 1 GiB pages";
  mode.page_1g = true;
  for (unsigned bit = 13; bit <= 29; ++bit) {
    entry(3) = 0x4000'0000 | P | PS | (1ull << bit);
    EXPECT_EQ(error(), eP | eRSVD) << bit;
  }
  entry(3) = 0x4000'0000 | P | PS | PAT_large;
  EXPECT_EQ(walk().gpa, Gpa(0x4000'0000 + (va & (page_size_1g - 1))));
  map_4k();
  for (unsigned bit = 13; bit <= 20; ++bit) {
    entry(2) = 0x20'0000 | P | PS | (1ull << bit);
    EXPECT_EQ(error(), eP | eRSVD) << bit;
  }
  entry(2) = 0x20'0000 | P | PS | PAT_large | (1ull << 22);
  EXPECT_EQ(walk().gpa, Gpa(0x60'0000 + (va & (page_size_2m - 1))));
}

TEST_F(GuestPageWalk, ReservedBitsByLevelAndModeAndTheirFaults) {
  const u64 high = 0x000F'FFF0'0000'0000ull;  // bits 51:36
  EXPECT_EQ(reserved_bits(1, false, mode), high);
  EXPECT_EQ(reserved_bits(4, false, mode), high | PS);
  EXPECT_EQ(reserved_bits(3, false, mode), high);
  EXPECT_EQ(reserved_bits(3, true, mode), high | 0x3FFF'E000ull);
  EXPECT_EQ(reserved_bits(2, true, mode), high | 0x1F'E000ull);
  mode = {.nxe = false, .page_1g = false};
  EXPECT_EQ(reserved_bits(3, true, mode), high | PS | NX);
  mode.max_phys_addr_bits = 52;
  EXPECT_EQ(reserved_bits(1, false, mode), NX);
  // A reserved-bit fault carries the access's bits, comes before rights and stops the walk.
  mode = {};
  map_4k(P);  // read-only, supervisor
  entry(1) |= 1ull << 40;
  EXPECT_EQ(error(uwr), eP | eRSVD | eW | eU);
  EXPECT_EQ(error(fx), eP | eRSVD | eI);
  map_4k();
  entry(4) |= 1ull << 40;
  entry(3) &= ~P;
  EXPECT_EQ(error(), eP | eRSVD);
  EXPECT_EQ(walk().levels_read, 1u);
}

TEST_F(GuestPageWalk, RightsCombineOverTheLevelsAndWpGovernsSupervisorWrites) {
  for (unsigned level = 4; level >= 1; --level) {
    map_4k();
    entry(level) &= ~US;
    EXPECT_EQ(error(urd), eP | eU) << level;
    EXPECT_EQ(error(ufx), eP | eU | eI);
    EXPECT_FALSE(walk().user);
    map_4k();
    entry(level) &= ~RW;
    EXPECT_EQ(error(uwr), eP | eW | eU) << level;
    mode.wp = false;
    EXPECT_EQ(error(uwr), eP | eW | eU) << "CR0.WP does not matter to user writes";
    mode.wp = true;
    EXPECT_TRUE(ok(urd) && !walk(urd).writable);
    map_4k();
    entry(level) |= NX;
    EXPECT_EQ(error(fx), eP | eI) << level;
    EXPECT_EQ(error(ufx), eP | eU | eI);
    EXPECT_TRUE(ok(urd) && !walk(urd).executable);
  }
  map_4k(P | US);  // supervisor writes to read-only pages follow CR0.WP
  EXPECT_EQ(error(wr), eP | eW);
  mode.wp = false;
  const Walk_result r = walk(wr);
  EXPECT_TRUE(r.status == Walk_status::ok && !r.writable && r.dirty);
}

TEST_F(GuestPageWalk, SmepForbidsSupervisorFetchesFromUserPages) {
  map_4k();
  mode.smep = true;
  EXPECT_EQ(error(fx), eP | eI);
  EXPECT_TRUE(ok(ufx));
  mode.nxe = false;
  EXPECT_EQ(error(fx), eP | eI) << "I comes with SMEP alone";
  entry(2) &= ~US;  // a supervisor page now
  EXPECT_TRUE(ok(fx));
}

TEST_F(GuestPageWalk, SmapForbidsSupervisorDataAccessesToUserPagesUnlessExplicitWithAc) {
  map_4k();
  mode.smap = true;
  const Guest_access rd_ac{.ac = true}, wr_ac{.write = true, .ac = true};
  // An implicit access (the IDT during an interrupt) is a supervisor access even at CPL 3: no U.
  const Guest_access implicit_ac{.implicit_supervisor = true, .ac = true};
  const Guest_access implicit_cpl3{.user = true, .implicit_supervisor = true};
  EXPECT_EQ(error(rd), eP);
  EXPECT_EQ(error(wr), eP | eW);
  EXPECT_TRUE(ok(rd_ac) && ok(wr_ac));
  EXPECT_EQ(error(implicit_ac), eP) << "implicit accesses ignore AC";
  EXPECT_EQ(error(implicit_cpl3), eP);
  EXPECT_TRUE(ok(fx)) << "SMAP is about data, not fetches";
  EXPECT_TRUE(ok(uwr));
  entry(1) &= ~RW;
  EXPECT_EQ(error(wr_ac), eP | eW) << "AC = 1 leaves CR0.WP in force";
  entry(3) &= ~US;  // a supervisor page: SMAP does not apply
  EXPECT_TRUE(ok(rd) && ok(implicit_cpl3));
  EXPECT_EQ(error(urd), eP | eU);
}

TEST_F(GuestPageWalk, WalkAllowsJudgesAsTheWalkerDoes) {
  const Guest_access accesses[] = {rd, wr, fx, urd, uwr, ufx, {.ac = true}, {.write = true, .ac = true},
                                   {.implicit_supervisor = true},
                                   {.write = true, .implicit_supervisor = true, .ac = true},
                                   {.user = true, .implicit_supervisor = true, .ac = true}};
  for (unsigned flags = 0; flags < 8; ++flags) {
    for (unsigned m = 0; m < 16; ++m) {
      mode = Guest_paging_mode{.wp = (m & 1) != 0, .nxe = (m & 2) != 0, .smep = (m & 4) != 0, .smap = (m & 8) != 0};
      if ((flags & 4) && !mode.nxe) continue;  // XD would be reserved
      map_4k();
      entry(2) &= (flags & 1) ? ~RW : ~0ull;
      entry(3) &= (flags & 2) ? ~US : ~0ull;
      entry(1) |= (flags & 4) ? NX : 0;
      const Walk_result r = walk({.ac = true});  // an explicit supervisor read with AC: always allowed
      ASSERT_EQ(r.status, Walk_status::ok);
      for (const Guest_access& a : accesses) EXPECT_EQ(walk_allows(r, a, mode), ok(a)) << flags << " " << m;
    }
  }
}

TEST_F(GuestPageWalk, SetsAccessedInEveryEntryUsedAndDirtyInTheLeafOnWritesAndNothingOnFaults) {
  map_4k(P);
  EXPECT_EQ(error(uwr), eP | eW | eU);
  entry(1) |= 1ull << 45;
  EXPECT_EQ(error(), eP | eRSVD);
  entry(1) &= ~P;
  EXPECT_EQ(error(wr), eW);
  EXPECT_EQ(mem.set_calls, 0u);
  map_4k(P | RW);
  ASSERT_TRUE(ok());
  EXPECT_EQ(mem.set_calls, 4u);
  for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(mem.at(addr(level)) & (A | D), A) << level;
  mem.set_calls = 0;
  EXPECT_TRUE(ok());
  EXPECT_EQ(mem.set_calls, 0u) << "flags already set are not written again";
  const Walk_result r = walk(wr);
  EXPECT_EQ(mem.set_calls, 1u);
  EXPECT_EQ(mem.at(addr(1)) & (A | D), A | D);
  for (unsigned level = 2; level <= 4; ++level) EXPECT_EQ(mem.at(addr(level)) & D, 0u) << level;
  EXPECT_TRUE(r.dirty);
  EXPECT_EQ(r.leaf_entry, mem.at(addr(1)));
  map_4k(P | RW);
  entry(2) = 0x20'0000 | P | RW | PS;
  EXPECT_TRUE(ok(wr));
  EXPECT_EQ(mem.at(addr(2)), 0x20'0000 | P | RW | PS | A | D);
  EXPECT_EQ(mem.at(addr(3)) & (A | D), A);
  EXPECT_EQ(mem.at(addr(1)), frame | P | RW) << "below the leaf: not used";
  EXPECT_EQ(mem.bad, 0u);
}

TEST_F(GuestPageWalk, ARaceOnAnUpdateRestartsTheWalkBoundedly) {
  map_4k();
  mem.fail_calls = 0b100;  // the PDE's update fails once; the PML4E's and PDPTE's A stay
  Walk_result r = walk(wr);
  ASSERT_EQ(r.status, Walk_status::ok);
  EXPECT_TRUE(mem.reads == 8 && mem.set_calls == 5) << mem.reads << " " << mem.set_calls;
  for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(r.entry[level], mem.at(addr(level)));
  EXPECT_EQ(mem.at(addr(1)) & (A | D), A | D);
  EXPECT_EQ(mem.bad, 0u);
  // The guest withdraws the page while the walk runs: the retry sees it gone ...
  mem = Fake_tables{};
  map_4k();
  mem.fail_calls = 1;
  mem.on_fail = [&] { entry(1) &= ~P; };
  EXPECT_EQ(error(), 0u);
  EXPECT_EQ(mem.at(addr(4)) & A, 0u);
  // ... or makes it read-only: a protection fault.
  map_4k();
  mem.set_calls = 0;
  mem.on_fail = [&] { entry(1) &= ~RW; };
  EXPECT_EQ(error(wr), eP | eW);
  // An entry that never settles: the walk ends anyway, the last values read judged.
  map_4k();
  mem.fail_calls = ~u64{0}, mem.on_fail = nullptr, mem.reads = mem.set_calls = 0;
  EXPECT_TRUE(ok(wr));
  EXPECT_TRUE(mem.set_calls <= 16 && mem.reads <= 64 && !(mem.at(addr(4)) & A));
}

TEST_F(GuestPageWalk, TablesOutsideRamStopTheWalkWithTheEntrysAddress) {
  map_4k();
  cr3 = 0x8000'0000;
  Walk_result r = walk();
  EXPECT_EQ(r.status, Walk_status::table_outside_ram);
  EXPECT_EQ(r.fault_gpa, Gpa(0x8000'0000 + 8 * 0x0FE));
  EXPECT_EQ(r.levels_read, 0u);
  cr3 = table[4];
  entry(2) = 0x9000'0000 | P | RW;
  r = walk();
  EXPECT_EQ(r.status, Walk_status::table_outside_ram);
  EXPECT_EQ(r.fault_gpa, Gpa(0x9000'0000 + 8 * 0x167));
  EXPECT_TRUE(r.levels_read == 3 && r.entry[2] == (0x9000'0000 | P | RW) && mem.set_calls == 0);
}

TEST_F(GuestPageWalk, ASelfMappingPml4EntryTranslatesAsTheCpuWould) {
  map_4k();
  constexpr u64 self = 0x1ED;
  mem.entries[table[4] + 8 * self] = table[4] | P | RW;
  va = make_va(self, self, self, self, 0x123);  // the PML4 itself, one entry used at every level
  EXPECT_EQ(walk().gpa, Gpa(table[4] + 0x123));
  EXPECT_EQ(mem.reads, 4u);
  EXPECT_EQ(mem.set_calls, 1u) << "one entry, one update";
  const Walk_result r = walk(wr);
  EXPECT_EQ(mem.set_calls, 2u);
  for (unsigned level = 1; level <= 4; ++level)
    EXPECT_TRUE(r.table_gpa[level] == Gpa(table[4]) && r.entry[level] == (table[4] | P | RW | A | D)) << level;
  EXPECT_EQ(error(urd), eP | eU);
  // Through the self-map one level less each time: the PML4's, PDPT's and PD's entries become
  // the leaves, so the tables below appear as pages.
  const u64 i4 = 0x0FE, i3 = 0x051, i2 = 0x1A2;
  const std::pair<u64, u64> cases[] = {{make_va(self, self, self, i4, 8), table[3] + 8},
                                       {make_va(self, self, i4, i3, 16), table[2] + 16},
                                       {make_va(self, i4, i3, i2, 24), table[1] + 24}};
  for (const auto& [through, expect] : cases) {
    va = through;
    EXPECT_EQ(walk().gpa, Gpa(expect)) << std::hex << through;
  }
  mem.entries[table[4] + 8 * self] = table[4] | P | RW | PS;
  va = make_va(self, self, self, self, 0);
  EXPECT_EQ(error(), eP | eRSVD);
}

// ---- the random walks ----

// SDM 4.6.1, case by case as the section lists them.
bool reference_allows(bool rw_all, bool us_all, bool xd_any, Guest_access a, const Guest_paging_mode& m) {
  const bool supervisor = !a.user || a.implicit_supervisor;
  const bool nx = m.nxe && xd_any;
  if (a.fetch) return supervisor ? !(us_all && m.smep) && !nx : us_all && !nx;
  const bool smap_blocks = supervisor && us_all && m.smap && !(a.ac && !a.implicit_supervisor);
  if (!a.write) return supervisor ? !smap_blocks : us_all;
  return supervisor ? !smap_blocks && (rw_all || !m.wp) : us_all && rw_all;
}

struct Reference {
  Walk_result r;              // what the walker must return
  std::map<u64, u64> after;   // the tables after the walk
  bool translated = false;    // a success or a protection fault: the address and rights are known
};

// SDM 4.5-4.8 level by level, over the tables as they stand before the walk.
Reference reference_walk(const Fake_tables& mem, u64 cr3, u64 va, Guest_access a, const Guest_paging_mode& m) {
  Reference x{.after = mem.entries};
  Walk_result& r = x.r;
  const auto stop = [&](Walk_status status, u32 code) { return r.status = status, r.error_code = code, x; };
  if ((va >> 47) != 0 && (va >> 47) != 0x1FFFF) return stop(Walk_status::non_canonical, 0);
  const u32 ec = (a.write ? 2 : 0) | (a.user && !a.implicit_supervisor ? 4 : 0) |  // W, U
                 (a.fetch && (m.nxe || m.smep) ? 16 : 0);                         // I
  u64 base = cr3 & 0x000F'FFFF'FFFF'F000ull & ((u64{1} << m.max_phys_addr_bits) - 1);
  u64 at[5] = {};
  bool rw_all = true, us_all = true, xd_any = false;
  for (unsigned lvl = 4; lvl >= 1; --lvl) {
    at[lvl] = base + 8 * ((va >> (3 + 9 * lvl)) & 511);
    if (!mem.in_ram(at[lvl])) {
      r.fault_gpa = Gpa(at[lvl]);
      return stop(Walk_status::table_outside_ram, 0);
    }
    const u64 e = mem.at(at[lvl]);
    r.table_gpa[lvl] = Gpa(base), r.entry[lvl] = e, ++r.levels_read;
    if ((e & 1) == 0) return stop(Walk_status::page_fault, ec);
    const bool ps = (e >> 7) & 1;
    bool rsvd = (e >> 63) && !m.nxe;
    for (unsigned b = m.max_phys_addr_bits; b < 52; ++b) rsvd |= (e >> b) & 1;
    if (lvl == 4) rsvd |= ps;
    if (lvl == 3 && ps) rsvd |= m.page_1g ? ((e >> 13) & 0x1FFFF) != 0 : true;
    if (lvl == 2 && ps) rsvd |= ((e >> 13) & 0xFF) != 0;
    if (rsvd) return stop(Walk_status::page_fault, ec | 1 | 8);
    rw_all &= ((e >> 1) & 1) != 0, us_all &= ((e >> 2) & 1) != 0, xd_any |= (e >> 63) != 0;
    if (lvl > 1 && !ps) {
      base = e & 0x000F'FFFF'FFFF'F000ull;
      continue;
    }
    const unsigned shift = lvl == 3 ? 30 : lvl == 2 ? 21 : 12;
    r.gpa = Gpa((((e & 0x000F'FFFF'FFFF'F000ull) >> shift) << shift) | (va & ((u64{1} << shift) - 1)));
    r.leaf_level = lvl, r.writable = rw_all, r.user = us_all, r.executable = !xd_any;  // XD here: NXE = 1
    r.leaf_entry = e, r.dirty = (e & D) != 0, x.translated = true;
    if (!reference_allows(rw_all, us_all, xd_any, a, m)) return stop(Walk_status::page_fault, ec | 1);
    // A in every entry used, D in the leaf on a write; an entry used at two levels gets both.
    r.status = Walk_status::ok;
    for (unsigned l = 4; l >= lvl; --l) x.after[at[l]] |= A | (l == lvl && a.write ? D : 0);
    for (unsigned l = 4; l >= lvl; --l) r.entry[l] = x.after[at[l]];
    r.leaf_entry = r.entry[lvl], r.dirty = (r.leaf_entry & D) != 0;
    return x;
  }
  return x;
}

// A random world: a few table pages in two RAM ranges, each filled at the same three "hot"
// indices with random entries (any flags, PS, XD, reserved bits; addresses of the tables
// themselves, outside RAM, or anywhere), walked 20 times with random addresses, modes, accesses.
class Random_world {
public:
  explicit Random_world(std::mt19937_64& rng) : rng_(rng) {
    mem.ram = {{0, 16 * MiB}, {4 * GiB, 4 * GiB + 16 * MiB}};
    for (unsigned i = 0, count = 2 + pick(5); i < count; ++i) tables_.push_back(ram_page());
    for (unsigned& h : hot_) h = pick(512);
    for (u64 t : tables_)
      for (unsigned h : hot_)
        if (pick(20) != 0) mem.entries[t + 8 * h] = random_entry();
  }
  unsigned pick(unsigned n) { return static_cast<unsigned>(rng_() % n); }
  bool chance(unsigned percent) { return pick(100) < percent; }
  u64 cr3() {
    const u64 cr3 = (chance(3) ? 0x8000'0000 : tables_[0]) | (rng_() & 0xFFF);
    return chance(50) ? cr3 | 1ull << 63 : cr3;
  }
  u64 va() {
    u64 i[5];
    for (u64& x : i) x = chance(95) ? hot_[pick(3)] : pick(512);
    const u64 v = make_va(i[4], i[3], i[2], i[1], rng_() & 0xFFF);
    return chance(2) ? v ^ 1ull << (48 + pick(16)) : v;
  }
  Guest_paging_mode mode() {
    constexpr u8 widths[] = {36, 39, 46, 52};
    return {.wp = chance(50), .nxe = chance(70), .smep = chance(40), .smap = chance(40), .page_1g = chance(70),
            .max_phys_addr_bits = widths[pick(4)]};
  }
  Guest_access access() {
    const unsigned kind = pick(3);
    return {.write = kind == 1, .fetch = kind == 2, .user = chance(50), .implicit_supervisor = kind != 2 && chance(20),
            .ac = chance(50)};
  }

  Fake_tables mem;

private:
  u64 ram_page() { return (chance(50) ? 0 : 4 * GiB) + (rng_() % (16 * MiB) & ~0xFFFull); }
  u64 random_entry() {
    u64 e = rng_() & 0x178;  // PWT PCD A D G
    e |= (chance(95) ? P : 0) | (chance(80) ? RW : 0);
    e |= (chance(80) ? US : 0) | (chance(15) ? PS : 0);
    e |= (chance(20) ? NX : 0) | (chance(20) ? rng_() & 0x7FF0'0000'0000'0000ull : 0);
    if ((e & PS) && chance(50)) e |= PAT_large;
    const unsigned where = pick(20);
    e |= where < 18 ? tables_[pick(static_cast<unsigned>(tables_.size()))]
         : where == 18 ? 0x10'0000'0000ull - 0x2000 * (1 + pick(1000))  // below 2^36, outside RAM
         : chance(50) ? rng_() & 0xF'FFFF'F000ull : rng_() & pte::address_mask;
    if ((e & PS) && chance(70)) e &= ~(chance(50) ? 0x3FFF'E000ull : 0x1F'E000ull);  // a well-formed large leaf
    if (chance(5)) e |= 1ull << (13 + pick(17));
    if (chance(5)) e |= 1ull << (36 + pick(16));
    return e;
  }

  std::mt19937_64& rng_;
  std::vector<u64> tables_;
  unsigned hot_[3] = {};
};

// Compares one walk with the reference; empty when they agree.
std::string compare(const Walk_result& r, const Reference& x, const Fake_tables& mem) {
  const Walk_result& e = x.r;
  std::string why;
  const auto check = [&](bool ok, const char* what) { why += ok ? "" : what; };
  check(r.status == e.status && r.error_code == e.error_code, "status/error_code; ");
  check(r.levels_read == e.levels_read && r.fault_gpa == e.fault_gpa, "levels_read/fault_gpa; ");
  for (unsigned l = 4; l > 4 - e.levels_read; --l)
    check(r.table_gpa[l] == e.table_gpa[l] && r.entry[l] == e.entry[l], "table_gpa/entry; ");
  if (x.translated) {
    check(r.gpa == e.gpa && r.leaf_level == e.leaf_level, "gpa/leaf_level; ");
    check(r.writable == e.writable && r.user == e.user && r.executable == e.executable, "rights; ");
    check(r.leaf_entry == e.leaf_entry && r.dirty == e.dirty, "leaf_entry/dirty; ");
  }
  // Exactly the expected updates (none after a fault), none needless.
  check(mem.entries == x.after && mem.bad == 0, "tables; ");
  return why;
}

TEST(GuestPageWalkRandom, HundredThousandWalksAgreeWithTheReferenceModel) {
  constexpr u64 seed = 0x6A09'E667'F3BC'C908ull;
  constexpr unsigned worlds = 5000, walks_per_world = 20;
  std::mt19937_64 rng(seed);
  unsigned failures = 0, ok = 0, protection = 0, reserved = 0, outside = 0, large = 0;
  for (unsigned w = 0; w < worlds && failures < 5; ++w) {
    Random_world world(rng);
    for (unsigned i = 0; i < walks_per_world && failures < 5; ++i) {
      const u64 cr3 = world.cr3(), va = world.va();
      const Guest_paging_mode m = world.mode();
      const Guest_access a = world.access(), other = world.access();
      const Reference x = reference_walk(world.mem, cr3, va, a, m);
      // Sometimes a few updates fail (a race that leaves the entry as it was): the same outcome.
      world.mem.fail_calls = world.chance(10) ? world.pick(64) & world.pick(64) : 0;
      world.mem.set_calls = 0;
      const Walk_result r = walk_guest_page_tables(world.mem, cr3, Gva(va), a, m);
      std::string why = compare(r, x, world.mem);
      const bool allows = reference_allows(x.r.writable, x.r.user, !x.r.executable, other, m);
      if (r.status == Walk_status::ok && walk_allows(r, other, m) != allows) why += "walk_allows; ";
      ok += x.r.status == Walk_status::ok, large += x.r.status == Walk_status::ok && x.r.leaf_level > 1;
      protection += x.translated && x.r.status == Walk_status::page_fault;
      reserved += (x.r.error_code & eRSVD) != 0, outside += x.r.status == Walk_status::table_outside_ram;
      if (why.empty()) continue;
      ++failures;
      ADD_FAILURE() << std::noboolalpha << "seed 0x" << std::hex << seed << std::dec << " world " << w << " walk " << i
                    << " (iteration " << w * walks_per_world + i << "): " << why << std::hex << "cr3 0x" << cr3
                    << " va 0x" << va << " access wfuia " << a.write << a.fetch << a.user << a.implicit_supervisor
                    << a.ac << " mode wp,nxe,smep,smap,1g " << m.wp << m.nxe << m.smep << m.smap << m.page_1g
                    << std::dec << " maxphys " << unsigned{m.max_phys_addr_bits} << std::hex << " error 0x"
                    << r.error_code << " want 0x" << x.r.error_code;
    }
  }
  // The mix is worth something only if every outcome occurs often.
  EXPECT_TRUE(ok > 8000 && large > 1000 && protection > 5000 && reserved > 5000 && outside > 5000)
      << ok << " " << large << " " << protection << " " << reserved << " " << outside;
}

} // namespace
} // namespace hv
