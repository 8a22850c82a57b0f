// tests/unit/mtrr_test.cpp - MTRR decoding, precedence and uniform ranges for large EPT leaves.
#include "arch/x86/fake/fake_cpu.hpp"
#include "arch/x86/msr.hpp"
#include "mm/mtrr.hpp"
#include <gtest/gtest.h>
#include <random>

namespace hv {
namespace {

using msr::MTRR_DEF_TYPE_E;
using msr::MTRR_DEF_TYPE_FE;
using msr::MTRR_PHYSMASK_VALID;

constexpr u8 maxphy = 39;
constexpr u64 addr_mask = (1ull << maxphy) - 1;

// A variable range [base, base + size), size a power of two and base aligned to it.
Mtrr_variable_msrs var(u64 base, u64 size, Cache_type t) {
  return {base | static_cast<u64>(t), (~(size - 1) & addr_mask & ~0xFFFull) | MTRR_PHYSMASK_VALID};
}

u64 fixed_all(Cache_type t) { return 0x0101'0101'0101'0101ull * static_cast<u64>(t); }

// A desktop-like layout: default UC; 0..2 GiB WB; 1.5..2 GiB carved out as UC (PCI hole inside
// WB); fixed ranges WB below 640K, UC for the VGA window, WP for the BIOS ROM.
Mtrr_msrs desktop() {
  Mtrr_msrs m;
  m.supported = true;
  m.max_phys_addr_bits = maxphy;
  m.mtrrcap = 8 | msr::MTRRCAP_FIX | msr::MTRRCAP_WC;
  m.def_type = MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | static_cast<u64>(Cache_type::uc);
  m.fixed[0] = fixed_all(Cache_type::wb);                 // 0..512K
  m.fixed[1] = fixed_all(Cache_type::wb);                 // 512K..640K
  m.fixed[2] = fixed_all(Cache_type::uc);                 // 640K..768K VGA
  for (int i = 3; i < 11; ++i) m.fixed[i] = fixed_all(Cache_type::wp);  // 768K..1M ROM
  m.fixed[3] = 0x0606'0606'0101'0000ull;                  // C0000..: 2 x UC, 2 x WC, 4 x WB
  m.variable[0] = var(0, 2 * GiB, Cache_type::wb);
  m.variable[1] = var(0x6000'0000, 512 * MiB, Cache_type::uc);
  return m;
}

TEST(Mtrr, DisabledMeansUcButRamStillGetsWriteBack) {
  Mtrr_msrs m = desktop();
  m.def_type &= ~MTRR_DEF_TYPE_E;
  const Mtrr_map map(m);
  EXPECT_FALSE(map.enabled());
  EXPECT_EQ(map.type_at(Hpa(0x1000)), Cache_type::uc);
  EXPECT_EQ(map.uniform_type(Hpa(0), Page_size::size_1g), Cache_type::uc);
  EXPECT_EQ(host_memory_type(map, Hpa(0x20'0000), page_size_2m, true), Cache_type::wb);
  EXPECT_EQ(host_memory_type(map, Hpa(0xfee0'0000), page_size_4k, false), Cache_type::uc);
  // No MTRRs at all (CPUID says so): the same.
  EXPECT_EQ(host_memory_type(Mtrr_map(Mtrr_msrs{}), Hpa(0), page_size_2m, true), Cache_type::wb);
}

TEST(Mtrr, FixedRangesRuleBelowOneMegabyteOnlyWhenEnabled) {
  const Mtrr_map map(desktop());
  EXPECT_TRUE(map.fixed_enabled());
  EXPECT_EQ(map.type_at(Hpa(0x0)), Cache_type::wb);
  EXPECT_EQ(map.type_at(Hpa(0x9f000)), Cache_type::wb);
  EXPECT_EQ(map.type_at(Hpa(0xa0000)), Cache_type::uc);
  EXPECT_EQ(map.type_at(Hpa(0xbffff)), Cache_type::uc);
  EXPECT_EQ(map.type_at(Hpa(0xc0000)), Cache_type::uc);
  EXPECT_EQ(map.type_at(Hpa(0xc2000)), Cache_type::wc);
  EXPECT_EQ(map.type_at(Hpa(0xc4000)), Cache_type::wb);
  EXPECT_EQ(map.type_at(Hpa(0xc8000)), Cache_type::wp);
  EXPECT_EQ(map.type_at(Hpa(0xff000)), Cache_type::wp);
  EXPECT_EQ(map.type_at(Hpa(0x100000)), Cache_type::wb);  // variable range 0 from 1 MiB on

  Mtrr_msrs m = desktop();
  m.def_type &= ~MTRR_DEF_TYPE_FE;  // fixed ranges off: the variable ranges cover low memory too
  const Mtrr_map nofix(m);
  EXPECT_EQ(nofix.type_at(Hpa(0xa0000)), Cache_type::wb);
  EXPECT_EQ(nofix.uniform_type(Hpa(0), Page_size::size_2m), Cache_type::wb);
  m = desktop();
  m.mtrrcap &= ~msr::MTRRCAP_FIX;  // not supported: FE means nothing
  EXPECT_EQ(Mtrr_map(m).type_at(Hpa(0xa0000)), Cache_type::wb);
}

TEST(Mtrr, OverlappingVariableRangesFollowTheSdmPrecedence) {
  Mtrr_msrs m = desktop();
  const Mtrr_map map(m);
  EXPECT_EQ(map.type_at(Hpa(0x5fff'f000)), Cache_type::wb);
  EXPECT_EQ(map.type_at(Hpa(0x6000'0000)), Cache_type::uc);  // UC wins over WB
  EXPECT_EQ(map.type_at(Hpa(0x8000'0000)), Cache_type::uc);  // default

  m.variable[2] = var(0x1000'0000, 256 * MiB, Cache_type::wt);
  m.variable[3] = var(0x2000'0000, 256 * MiB, Cache_type::wc);
  m.variable[4] = var(0x3000'0000, 256 * MiB, Cache_type::wb);
  m.variable[5] = var(0x1'0000'0000, 1 * GiB, Cache_type::wp);
  m.variable[6] = var(0x1'0000'0000, 2 * GiB, Cache_type::wp);
  const Mtrr_map over(m);
  EXPECT_EQ(over.variable_ranges(), 7u);
  EXPECT_EQ(over.type_at(Hpa(0x1000'0000)), Cache_type::wt);    // WT + WB -> WT
  EXPECT_EQ(over.type_at(Hpa(0x2000'0000)), Cache_type::uc);    // WC + WB: undefined -> UC
  EXPECT_EQ(over.type_at(Hpa(0x3000'0000)), Cache_type::wb);    // WB + WB -> WB
  EXPECT_EQ(over.type_at(Hpa(0x1'0000'0000)), Cache_type::wp);  // WP + WP -> WP
  EXPECT_EQ(over.type_at(Hpa(0x1'4000'0000)), Cache_type::wp);
  EXPECT_EQ(over.type_at(Hpa(0x1'8000'0000)), Cache_type::uc);  // beyond both: default

  m.variable[1].physmask &= ~MTRR_PHYSMASK_VALID;  // an invalid (disabled) range does not count
  EXPECT_EQ(Mtrr_map(m).type_at(Hpa(0x6000'0000)), Cache_type::wb);
}

TEST(Mtrr, UniformRangesForLargeLeaves) {
  Mtrr_msrs m = desktop();
  m.variable[2] = var(0x1'0000'0000, GiB, Cache_type::wb);  // 4..5 GiB
  const Mtrr_map map(m);
  EXPECT_EQ(map.uniform_type(Hpa(0x20'0000), Page_size::size_2m), Cache_type::wb);
  EXPECT_EQ(map.uniform_type(Hpa(0x1'0000'0000), Page_size::size_1g), Cache_type::wb);
  EXPECT_EQ(map.uniform_type(Hpa(0x6000'0000), Page_size::size_2m), Cache_type::uc);
  EXPECT_EQ(map.uniform_type(Hpa(0xc000'0000), Page_size::size_1g), Cache_type::uc);  // default
  EXPECT_FALSE(map.uniform_type(Hpa(0x6000'0000 - 2 * MiB), 4 * MiB));  // WB | UC
  EXPECT_FALSE(map.uniform_type(Hpa(0x4000'0000), Page_size::size_1g));  // WB, then UC from 1.5 GiB
  EXPECT_FALSE(map.uniform_type(Hpa(0x0), Page_size::size_2m));          // fixed ranges differ below 1 MiB
  EXPECT_EQ(map.uniform_type(Hpa(0x0), 0xa0000), Cache_type::wb);         // 0..640K, not a power of two
  EXPECT_EQ(map.uniform_type(Hpa(0x10'0000), MiB), Cache_type::wb);
  EXPECT_FALSE(map.uniform_type(Hpa(0x1800), page_size_4k));             // misaligned request

  // A 4 KiB UC range inside a gigabyte of WB breaks that gigabyte and its 2 MiB piece only.
  m.variable[3] = var(0x1'0123'4000, page_size_4k, Cache_type::uc);
  const Mtrr_map hole(m);
  EXPECT_FALSE(hole.uniform_type(Hpa(0x1'0000'0000), Page_size::size_1g));
  EXPECT_FALSE(hole.uniform_type(Hpa(0x1'0120'0000), Page_size::size_2m));
  EXPECT_EQ(hole.uniform_type(Hpa(0x1'0140'0000), Page_size::size_2m), Cache_type::wb);
  EXPECT_EQ(hole.uniform_type(Hpa(0x1'0123'4000), Page_size::size_4k), Cache_type::uc);
}

TEST(Mtrr, ReservedTypeEncodingsAreTakenAsUncacheable) {
  Mtrr_msrs m = desktop();
  m.variable[2] = {0x8000'0000 | 2, (~(GiB - 1) & addr_mask & ~0xFFFull) | MTRR_PHYSMASK_VALID};
  const Mtrr_map map(m);
  EXPECT_TRUE(map.saw_reserved_type());
  EXPECT_EQ(map.type_at(Hpa(0x8000'0000)), Cache_type::uc);
  EXPECT_FALSE(Mtrr_map(desktop()).saw_reserved_type());
}

// uniform_type() against a page-by-page scan of type_at(), over random layouts that include
// non-contiguous masks and overlaps.
TEST(Mtrr, UniformTypeAgreesWithAPageByPageScan) {
  std::mt19937_64 rng(12345);
  constexpr Cache_type types[] = {Cache_type::uc, Cache_type::wc, Cache_type::wt, Cache_type::wp, Cache_type::wb};
  for (int round = 0; round < 200; ++round) {
    Mtrr_msrs m;
    m.supported = true;
    m.max_phys_addr_bits = maxphy;
    m.mtrrcap = 8 | msr::MTRRCAP_FIX;
    m.def_type = MTRR_DEF_TYPE_E | (rng() % 2 ? MTRR_DEF_TYPE_FE : 0) | static_cast<u64>(types[rng() % 5]);
    for (auto& f : m.fixed) f = fixed_all(types[rng() % 2 ? 4 : rng() % 5]);
    for (int i = 0; i < 8; ++i) {
      if (rng() % 3 == 0) continue;
      const unsigned log2 = 12 + rng() % 20;  // 4 KiB .. 2 GiB
      u64 mask = ~((1ull << log2) - 1) & addr_mask & ~0xFFFull;
      if (rng() % 4 == 0) mask &= ~(1ull << (12 + rng() % 18));  // a hole in the mask
      const u64 base = (rng() % 8) * (1ull << log2) & addr_mask & ~0xFFFull;
      m.variable[i] = {base | static_cast<u64>(types[rng() % 5]), mask | MTRR_PHYSMASK_VALID};
    }
    const Mtrr_map map(m);
    for (int probe = 0; probe < 8; ++probe) {
      const u64 base = probe == 0 ? 0 : (rng() % 64) * page_size_2m;
      const auto got = map.uniform_type(Hpa(base), Page_size::size_2m);
      const Cache_type first = map.type_at(Hpa(base));
      bool uniform = true;
      for (u64 off = page_size_4k; off < page_size_2m && uniform; off += page_size_4k)
        uniform = map.type_at(Hpa(base + off)) == first;
      ASSERT_EQ(got.has_value(), uniform) << "round " << round << " base " << std::hex << base;
      if (got) {
        ASSERT_EQ(*got, first) << "round " << round << " base " << std::hex << base;
      }
    }
  }
}

TEST(Mtrr, ReadsOnlyTheMsrsTheCpuEnumerates) {
  Fake_cpu cpu;
  cpu.set_cpuid(1, Cpuid_result{0, 0, 0, 1u << 12});
  cpu.set_msr(msr::IA32_MTRRCAP, 2);  // two variable ranges, no fixed ranges
  cpu.set_msr(msr::IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | 6);
  cpu.set_msr(msr::IA32_MTRR_PHYSBASE0, 0x6000'0000);
  cpu.set_msr(msr::IA32_MTRR_PHYSMASK0, 0x7f'e000'0000 | MTRR_PHYSMASK_VALID);
  cpu.set_msr(msr::IA32_MTRR_PHYSBASE0 + 2, 0);
  cpu.set_msr(msr::IA32_MTRR_PHYSMASK0 + 2, 0);
  const Mtrr_msrs m = read_mtrr_msrs(cpu, maxphy);
  EXPECT_TRUE(cpu.missing_msr_reads.empty());
  const Mtrr_map map(m);
  EXPECT_EQ(map.variable_ranges(), 1u);
  EXPECT_EQ(map.type_at(Hpa(0x6000'0000)), Cache_type::uc);
  EXPECT_EQ(map.type_at(Hpa(0x5fff'f000)), Cache_type::wb);

  Fake_cpu none;
  none.set_cpuid(1, Cpuid_result{});
  EXPECT_FALSE(read_mtrr_msrs(none, maxphy).supported);
  EXPECT_TRUE(none.missing_msr_reads.empty());
}

} // namespace
} // namespace hv
