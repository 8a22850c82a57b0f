// tests/unit/memory_map_import_test.cpp - import_usable_memory: OVMF-shaped maps, synthetic
// overlapping / unsorted / odd-typed / adversarial ones, and random maps against a page-by-page
// reference model.
#include "mm/memory_map_import.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <random>
#include <vector>

namespace hv {
namespace {

// Type numbers as firmware writes them.
constexpr u32 R = 0, LC = 1, BC = 3, BD = 4, RC = 5, RD = 6, CV = 7, AR = 9, AN = 10;

struct Raw_region {
  u64 base;
  u64 pages;
  u32 type;
};

std::vector<Memory_region> to_map(std::span<const Raw_region> raw) {
  std::vector<Memory_region> map;
  for (const Raw_region& r : raw) map.push_back({Hpa(r.base), r.pages, static_cast<Memory_type>(r.type), 0});
  return map;
}

// Two maps shaped like what OVMF reported at boot (the serial logs of hv's first runs, 1 GiB
// of RAM): same region count, same totals per type, same largest usable range and highest usable
// end. The per-region layout between those anchors is reconstructed, not dumped: the summary
// test below checks it against the logged figures.
//
// Bochs 2.7 + OVMF: 114 regions, conventional 9 (1005124 KiB), bs-code 45 (3808 KiB), bs-data 52
// (34808 KiB), largest usable 0x100000..0x3e12b000, highest usable end 0x3ffe0000.
constexpr Raw_region bochs_ovmf[] = {
    {0x0, 0x1, BC}, {0x1000, 0x86, CV}, {0x87000, 0x1, BD}, {0x88000, 0x18, CV},
    {0x100000, 0xc350, CV}, {0xc450000, 0x800, BD}, {0xcc50000, 0x124f8, CV}, {0x1f148000, 0x10, BC},
    {0x1f158000, 0x61a8, CV}, {0x25300000, 0xc00, BD}, {0x25f00000, 0x1822b, CV}, {0x3e12b000, 0x66, LC},
    {0x3e191000, 0x1d, BD}, {0x3e1ae000, 0x5, BD}, {0x3e1b3000, 0xa, BC}, {0x3e1bd000, 0x56, BD},
    {0x3e213000, 0x62, BD}, {0x3e275000, 0x24, BC}, {0x3e299000, 0x3, BD}, {0x3e29c000, 0x38, BC},
    {0x3e2d4000, 0x1a, BC}, {0x3e2ee000, 0x8d, BD}, {0x3e37b000, 0x21, BC}, {0x3e39c000, 0x5c, BD},
    {0x3e3f8000, 0x4, BC}, {0x3e3fc000, 0x100, RC}, {0x3e4fc000, 0x146, CV}, {0x3e642000, 0x7, BC},
    {0x3e649000, 0xbc, BD}, {0x3e705000, 0x8, BC}, {0x3e70d000, 0x9, BD}, {0x3e716000, 0x6f, BD},
    {0x3e785000, 0x39, BD}, {0x3e7be000, 0x28, BC}, {0x3e7e6000, 0x88, BD}, {0x3e86e000, 0x1, BC},
    {0x3e86f000, 0x20, BC}, {0x3e88f000, 0x16, BD}, {0x3e8a5000, 0x7b, BD}, {0x3e920000, 0xb, BC},
    {0x3e92b000, 0x100, RD}, {0x3ea2b000, 0x57, BD}, {0x3ea82000, 0x10, BC}, {0x3ea92000, 0x1e, BC},
    {0x3eab0000, 0x24, BC}, {0x3ead4000, 0xb, BD}, {0x3eadf000, 0x31, BC}, {0x3eb10000, 0x16, BD},
    {0x3eb26000, 0x25, BD}, {0x3eb4b000, 0x3, BC}, {0x3eb4e000, 0x12f, BD}, {0x3ec7d000, 0x27, BD},
    {0x3eca4000, 0x3, BC}, {0x3eca7000, 0x4f, BD}, {0x3ecf6000, 0x12, AR}, {0x3ed08000, 0x5, BC},
    {0x3ed0d000, 0x2d, BC}, {0x3ed3a000, 0x2b, BD}, {0x3ed65000, 0x38, BD}, {0x3ed9d000, 0x11, BC},
    {0x3edae000, 0x34, BC}, {0x3ede2000, 0x1a, BC}, {0x3edfc000, 0x4d, BD}, {0x3ee49000, 0xd, BD},
    {0x3ee56000, 0x1c, BD}, {0x3ee72000, 0x7, BC}, {0x3ee79000, 0xa, BD}, {0x3ee83000, 0x30, BD},
    {0x3eeb3000, 0x7, BC}, {0x3eeba000, 0xc1, RD}, {0x3ef7b000, 0x2, BC}, {0x3ef7d000, 0x13, BC},
    {0x3ef90000, 0x12, BC}, {0x3efa2000, 0x1a, BD}, {0x3efbc000, 0x7a, BD}, {0x3f036000, 0x2, BC},
    {0x3f038000, 0x37, BD}, {0x3f06f000, 0xf, BC}, {0x3f07e000, 0x35, BD}, {0x3f0b3000, 0x5, BC},
    {0x3f0b8000, 0x1, BD}, {0x3f0b9000, 0x6, BC}, {0x3f0bf000, 0x14, BD}, {0x3f0d3000, 0x80, AN},
    {0x3f153000, 0xfc, BD}, {0x3f24f000, 0x2, BC}, {0x3f251000, 0x3e, BD}, {0x3f28f000, 0xd, BD},
    {0x3f29c000, 0x2c, BC}, {0x3f2c8000, 0x3, BD}, {0x3f2cb000, 0x59, BC}, {0x3f324000, 0x49, BD},
    {0x3f36d000, 0xa3, BD}, {0x3f410000, 0x20, BC}, {0x3f430000, 0x3, BC}, {0x3f433000, 0x3d, BD},
    {0x3f470000, 0x2, BC}, {0x3f472000, 0x19, BD}, {0x3f48b000, 0x80, R}, {0x3f50b000, 0x17, BC},
    {0x3f522000, 0x11, BD}, {0x3f533000, 0x53b, CV}, {0x3fa6e000, 0x7, BC}, {0x3fa75000, 0x73, BD},
    {0x3fae8000, 0x16d, BD}, {0x3fc55000, 0x257, CV}, {0x3feac000, 0x2, BC}, {0x3feae000, 0xc, BD},
    {0x3feba000, 0x9, BD}, {0x3fec3000, 0x66, BD}, {0x3ff29000, 0x45, BC}, {0x3ff6e000, 0x4f, BD},
    {0x3ffbd000, 0x23, BC}, {0x3ffe0000, 0x20, RD},
};

// QEMU 7.2 q35 + OVMF: 146 regions, conventional 11 (1002800 KiB), bs-code 58, bs-data 64, ACPI
// NVS at 0x800000.., the 256 MiB MMCONFIG window at 0xb0000000 reserved, largest usable
// 0x900000..0x3df96000, highest usable end 0x3ff50000.
constexpr Raw_region qemu_ovmf[] = {
    {0x0, 0x1, BC}, {0x1000, 0x9f, CV}, {0x100000, 0x700, CV}, {0x800000, 0x8, AN},
    {0x808000, 0x3, CV}, {0x80b000, 0x1, AN}, {0x80c000, 0x4, CV}, {0x810000, 0xf0, AN},
    {0x900000, 0x927c, CV}, {0x9b7c000, 0x800, BD}, {0xa37c000, 0x186a0, CV}, {0x22a1c000, 0xc00, BD},
    {0x2361c000, 0xf424, CV}, {0x32a40000, 0x10, BC}, {0x32a50000, 0xb546, CV}, {0x3df96000, 0x66, LC},
    {0x3dffc000, 0x35, BD}, {0x3e031000, 0x29, BC}, {0x3e05a000, 0x17, BC}, {0x3e071000, 0x4, BC},
    {0x3e075000, 0x24, BD}, {0x3e099000, 0xf, BC}, {0x3e0a8000, 0x25, BD}, {0x3e0cd000, 0x5, BC},
    {0x3e0d2000, 0x69, BD}, {0x3e13b000, 0x56, BC}, {0x3e191000, 0x2b, BD}, {0x3e1bc000, 0x1d, BC},
    {0x3e1d9000, 0xd9, BD}, {0x3e2b2000, 0x3, BC}, {0x3e2b5000, 0x30, BC}, {0x3e2e5000, 0xb, BD},
    {0x3e2f0000, 0xf, BC}, {0x3e2ff000, 0x2a, BD}, {0x3e329000, 0x15, BC}, {0x3e33e000, 0x50, BD},
    {0x3e38e000, 0x100, RC}, {0x3e48e000, 0x4, BC}, {0x3e492000, 0x42, BD}, {0x3e4d4000, 0x3, BC},
    {0x3e4d7000, 0xa, BC}, {0x3e4e1000, 0x1, BD}, {0x3e4e2000, 0xc5, BD}, {0x3e5a7000, 0xb9, BD},
    {0x3e660000, 0x1e, BD}, {0x3e67e000, 0xb, BC}, {0x3e689000, 0x11, BD}, {0x3e69a000, 0x15, BC},
    {0x3e6af000, 0x4e7, CV}, {0x3eb96000, 0x10, BC}, {0x3eba6000, 0x24, BD}, {0x3ebca000, 0xb, BC},
    {0x3ebd5000, 0x6, BD}, {0x3ebdb000, 0x3, BC}, {0x3ebde000, 0x2b, BD}, {0x3ec09000, 0xd, BC},
    {0x3ec16000, 0x10, BD}, {0x3ec26000, 0x100, RD}, {0x3ed26000, 0x13, BD}, {0x3ed39000, 0xb0, BD},
    {0x3ede9000, 0x14, BC}, {0x3edfd000, 0x8, BD}, {0x3ee05000, 0x9, BC}, {0x3ee0e000, 0x25, BD},
    {0x3ee33000, 0x3a, BD}, {0x3ee6d000, 0x62, BD}, {0x3eecf000, 0x51, BC}, {0x3ef20000, 0x78, BD},
    {0x3ef98000, 0xc, BC}, {0x3efa4000, 0x70, BD}, {0x3f014000, 0x1, BC}, {0x3f015000, 0x23, BD},
    {0x3f038000, 0x60, BD}, {0x3f098000, 0x12, BD}, {0x3f0aa000, 0x20, BC}, {0x3f0ca000, 0x3b, BD},
    {0x3f105000, 0x23, BD}, {0x3f128000, 0x23, BD}, {0x3f14b000, 0x12, AR}, {0x3f15d000, 0x77, BD},
    {0x3f1d4000, 0x16, BC}, {0x3f1ea000, 0xa, BC}, {0x3f1f4000, 0x31, BC}, {0x3f225000, 0x1, BD},
    {0x3f226000, 0x3, BC}, {0x3f229000, 0x3, BD}, {0x3f22c000, 0x4b, BD}, {0x3f277000, 0x19, BC},
    {0x3f290000, 0x2, BC}, {0x3f292000, 0x48, BD}, {0x3f2da000, 0x1d, BC}, {0x3f2f7000, 0x21, BC},
    {0x3f318000, 0x1c, BD}, {0x3f334000, 0x22, BC}, {0x3f356000, 0x6a, BD}, {0x3f3c0000, 0x7, BC},
    {0x3f3c7000, 0x11, BD}, {0x3f3d8000, 0x16, BD}, {0x3f3ee000, 0x6, BC}, {0x3f3f4000, 0xc1, RD},
    {0x3f4b5000, 0xe, BD}, {0x3f4c3000, 0x1d, BC}, {0x3f4e0000, 0x22, BD}, {0x3f502000, 0xe, BD},
    {0x3f510000, 0x2b, BC}, {0x3f53b000, 0xa, BD}, {0x3f545000, 0xd, BC}, {0x3f552000, 0xb, BC},
    {0x3f55d000, 0x4f, BD}, {0x3f5ac000, 0x32, BD}, {0x3f5de000, 0xa2, CV}, {0x3f680000, 0x9, BC},
    {0x3f689000, 0xc, BD}, {0x3f695000, 0xe, BC}, {0x3f6a3000, 0x1a, BD}, {0x3f6bd000, 0x7, BC},
    {0x3f6c4000, 0x27, BC}, {0x3f6eb000, 0x2f, BD}, {0x3f71a000, 0x29, BC}, {0x3f743000, 0xd, BC},
    {0x3f750000, 0x100, AN}, {0x3f850000, 0x51, BD}, {0x3f8a1000, 0x1e, BC}, {0x3f8bf000, 0x40, BD},
    {0x3f8ff000, 0x3d, BD}, {0x3f93c000, 0x5, BC}, {0x3f941000, 0x397, CV}, {0x3fcd8000, 0x8, BD},
    {0x3fce0000, 0x9, BC}, {0x3fce9000, 0x8, BC}, {0x3fcf1000, 0x7a, BD}, {0x3fd6b000, 0x6, BC},
    {0x3fd71000, 0xd, BC}, {0x3fd7e000, 0x50, BD}, {0x3fdce000, 0x9e, BD}, {0x3fe6c000, 0x35, BC},
    {0x3fea1000, 0xa, BC}, {0x3feab000, 0x13, BD}, {0x3febe000, 0x5, BD}, {0x3fec3000, 0x14, BD},
    {0x3fed7000, 0x64, BD}, {0x3ff3b000, 0x15, BC}, {0x3ff50000, 0x20, RD}, {0x3ff70000, 0x10, AN},
    {0x3ff80000, 0x80, R}, {0xb0000000, 0x10000, R},
};

constexpr Hpa no_limit = physical_address_limit;

struct Imported {
  std::vector<Hpa_range> ranges;
  Memory_import_result result;
};

Imported run_import(const std::vector<Memory_region>& map, const std::vector<Hpa_range>& exclusions = {},
                    Hpa max_address = no_limit, usize capacity = 512) {
  Imported out;
  out.ranges.resize(capacity);
  out.result = import_usable_memory(map, exclusions, max_address, out.ranges);
  out.ranges.resize(out.result.count);
  return out;
}

// The reference: decide page by page over [0, frames), with 128-bit ends so nothing wraps.
std::vector<Hpa_range> page_model(const std::vector<Memory_region>& map, const std::vector<Hpa_range>& exclusions,
                                  Hpa max_address, u64 frames) {
  using u128 = unsigned __int128;
  std::vector<char> usable(frames, 0), blocked(frames, 0);
  auto mark = [&](std::vector<char>& v, u128 first, u128 end) {
    for (u128 f = first; f < end && f < frames; ++f) v[static_cast<u64>(f)] = 1;
  };
  for (const Memory_region& r : map) {
    const u128 b = r.base.value();
    const u128 e = b + static_cast<u128>(r.pages) * page_size_4k;
    if (memory_type_usable_after_boot(r.type)) mark(usable, (b + page_size_4k - 1) / page_size_4k, e / page_size_4k);
    else mark(blocked, b / page_size_4k, (e + page_size_4k - 1) / page_size_4k);
  }
  for (const Hpa_range& x : exclusions) {
    if (x.end > x.base) mark(blocked, x.base.value() / page_size_4k, (static_cast<u128>(x.end.value()) + page_size_4k - 1) / page_size_4k);
  }
  std::vector<Hpa_range> ranges;
  for (u64 f = 0; f < frames; ++f) {
    const bool ok = usable[f] && !blocked[f] && f >= legacy_memory_end.value() / page_size_4k &&
                    static_cast<u128>(f + 1) * page_size_4k <= max_address.value();
    if (!ok) continue;
    if (!ranges.empty() && ranges.back().end == to_hpa(Hfn(f))) ranges.back().end = to_hpa(Hfn(f + 1));
    else ranges.push_back({to_hpa(Hfn(f)), to_hpa(Hfn(f + 1))});
  }
  return ranges;
}

void expect_normalised(const std::vector<Hpa_range>& ranges) {
  for (usize i = 0; i < ranges.size(); ++i) {
    EXPECT_TRUE(ranges[i].base.is_aligned(page_size_4k) && ranges[i].end.is_aligned(page_size_4k)) << i;
    EXPECT_LT(ranges[i].base, ranges[i].end) << i;
    if (i > 0) {
      EXPECT_LT(ranges[i - 1].end, ranges[i].base) << "ranges " << i - 1 << " and " << i << " touch or overlap";
    }
  }
}

u64 pages_of(const std::vector<Hpa_range>& ranges) {
  u64 n = 0;
  for (const Hpa_range& r : ranges) n += r.pages();
  return n;
}

Hpa_range largest(const std::vector<Hpa_range>& ranges) {
  Hpa_range best{};
  for (const Hpa_range& r : ranges) if (r.bytes() > best.bytes()) best = r;
  return best;
}

TEST(MemoryMapImport, BochsOvmfShapedMapMatchesTheLoggedSummary) {
  const auto map = to_map(bochs_ovmf);
  const Memory_map_summary s = summarize_memory_map(map);
  EXPECT_EQ(s.region_count, 114u);
  EXPECT_EQ(s.usable_bytes / KiB, 1043740u);
  EXPECT_EQ(s.regions_by_type[CV], 9u);
  EXPECT_EQ(s.bytes_by_type[CV] / KiB, 1005124u);
  EXPECT_EQ(s.regions_by_type[BC], 45u);
  EXPECT_EQ(s.bytes_by_type[BC] / KiB, 3808u);
  EXPECT_EQ(s.regions_by_type[BD], 52u);
  EXPECT_EQ(s.bytes_by_type[BD] / KiB, 34808u);
  EXPECT_EQ(s.largest_usable_base, Hpa(0x100000));
  EXPECT_EQ(s.largest_usable_base + s.largest_usable_bytes, Hpa(0x3e12b000));
  EXPECT_EQ(s.highest_usable_end, Hpa(0x3ffe0000));
}

TEST(MemoryMapImport, BochsOvmfShapedMapImports) {
  const auto map = to_map(bochs_ovmf);
  const Imported im = run_import(map);
  EXPECT_FALSE(im.result.overflow);
  expect_normalised(im.ranges);
  ASSERT_FALSE(im.ranges.empty());
  // The 640 KiB of usable memory below 1 MiB is left out; everything else usable is in.
  EXPECT_EQ(im.result.usable_pages, (1043740u - 640u) / 4);
  EXPECT_EQ(pages_of(im.ranges), im.result.usable_pages);
  EXPECT_EQ(im.ranges.front(), (Hpa_range{Hpa(0x100000), Hpa(0x3e12b000)})); // bs-code/data merged in
  EXPECT_EQ(largest(im.ranges), im.ranges.front());
  EXPECT_EQ(im.ranges.back().end, Hpa(0x3ffe0000));
  EXPECT_EQ(im.ranges, page_model(map, {}, no_limit, 0x40000000 / page_size_4k));
}

TEST(MemoryMapImport, QemuOvmfShapedMapMatchesTheLoggedSummaryAndImports) {
  const auto map = to_map(qemu_ovmf);
  const Memory_map_summary s = summarize_memory_map(map);
  EXPECT_EQ(s.region_count, 146u);
  EXPECT_EQ(s.usable_bytes / KiB, 1042168u);
  EXPECT_EQ(s.regions_by_type[CV], 11u);
  EXPECT_EQ(s.bytes_by_type[CV] / KiB, 1002800u);
  EXPECT_EQ(s.regions_by_type[R], 2u);
  EXPECT_EQ(s.bytes_by_type[R] / KiB, 262656u);
  EXPECT_EQ(s.regions_by_type[AN], 5u);
  EXPECT_EQ(s.largest_usable_base, Hpa(0x900000));
  EXPECT_EQ(s.largest_usable_base + s.largest_usable_bytes, Hpa(0x3df96000));
  EXPECT_EQ(s.highest_usable_end, Hpa(0x3ff50000));

  const Imported im = run_import(map);
  EXPECT_FALSE(im.result.overflow);
  expect_normalised(im.ranges);
  EXPECT_EQ(im.result.usable_pages, (1042168u - 640u) / 4);
  // 1 MiB..8 MiB, then ACPI NVS at 0x800000 and 0x80b000 cuts out two small islands.
  ASSERT_GE(im.ranges.size(), 4u);
  EXPECT_EQ(im.ranges[0], (Hpa_range{Hpa(0x100000), Hpa(0x800000)}));
  EXPECT_EQ(im.ranges[1], (Hpa_range{Hpa(0x808000), Hpa(0x80b000)}));
  EXPECT_EQ(im.ranges[2], (Hpa_range{Hpa(0x80c000), Hpa(0x810000)}));
  EXPECT_EQ(im.ranges[3], (Hpa_range{Hpa(0x900000), Hpa(0x3df96000)}));
  EXPECT_EQ(largest(im.ranges), im.ranges[3]);
  EXPECT_EQ(im.ranges.back().end, Hpa(0x3ff50000));
  for (const Hpa_range& r : im.ranges) EXPECT_LE(r.end, Hpa(0xb0000000)); // MMCONFIG stays out
  EXPECT_EQ(im.ranges, page_model(map, {}, no_limit, 0xc0000000 / page_size_4k));
}

TEST(MemoryMapImport, UnsortedInputGivesTheSameRanges) {
  const auto sorted = to_map(qemu_ovmf);
  const Imported expected = run_import(sorted);
  std::mt19937_64 rng(3);
  for (int round = 0; round < 20; ++round) {
    auto shuffled = sorted;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    EXPECT_EQ(run_import(shuffled).ranges, expected.ranges) << "round " << round;
  }
  auto reversed = sorted;
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(run_import(reversed).ranges, expected.ranges);
}

TEST(MemoryMapImport, NonUsableWinsWhereRegionsOverlap) {
  // Conventional 16..32 MiB overlapped by: ACPI NVS straddling its start, runtime data inside
  // it, and a reserved region straddling its end; the order of the list must not matter.
  std::vector<Memory_region> map = {
      {Hpa(16 * MiB), 4096, Memory_type::conventional, 0},
      {Hpa(15 * MiB), 512, Memory_type::acpi_nvs, 0},             // 15..17 MiB
      {Hpa(20 * MiB), 16, Memory_type::runtime_services_data, 0}, // 20 MiB + 64 KiB
      {Hpa(31 * MiB), 1024, Memory_type::reserved, 0},            // 31..35 MiB
  };
  const std::vector<Hpa_range> expected = {{Hpa(17 * MiB), Hpa(20 * MiB)},
                                           {Hpa(20 * MiB + 64 * KiB), Hpa(31 * MiB)}};
  EXPECT_EQ(run_import(map).ranges, expected);
  std::reverse(map.begin(), map.end());
  EXPECT_EQ(run_import(map).ranges, expected);
  // A usable region overlapping another usable one just merges.
  map.push_back({Hpa(40 * MiB), 256, Memory_type::boot_services_data, 0});
  map.push_back({Hpa(40 * MiB + 512 * KiB), 512, Memory_type::conventional, 0});
  EXPECT_EQ(run_import(map).ranges.back(), (Hpa_range{Hpa(40 * MiB), Hpa(40 * MiB + 2560 * KiB)}));
}

TEST(MemoryMapImport, AdjacentUsableTypesMergeAndEmptyRegionsVanish) {
  const std::vector<Memory_region> map = {
      {Hpa(2 * MiB), 256, Memory_type::boot_services_code, 0},
      {Hpa(3 * MiB), 0, Memory_type::reserved, 0}, // zero length: no effect
      {Hpa(3 * MiB), 256, Memory_type::boot_services_data, 0},
      {Hpa(4 * MiB), 256, Memory_type::conventional, 0},
      {Hpa(9 * MiB), 0, Memory_type::conventional, 0},
  };
  const Imported im = run_import(map);
  EXPECT_EQ(im.ranges, (std::vector<Hpa_range>{{Hpa(2 * MiB), Hpa(5 * MiB)}}));
  EXPECT_EQ(im.result.usable_pages, 768u);
}

TEST(MemoryMapImport, UnknownOemAndOsTypesCountAsReserved) {
  for (const u32 odd : {16u, 0x6fffffffu, 0x70000000u, 0x7fffffffu, 0x80000000u, 0xffffffffu, 15u, 14u, 8u, 1u, 2u}) {
    std::vector<Memory_region> map = {{Hpa(8 * MiB), 1024, Memory_type::conventional, 0},
                                      {Hpa(9 * MiB), 256, static_cast<Memory_type>(odd), 0}};
    EXPECT_EQ(run_import(map).ranges,
              (std::vector<Hpa_range>{{Hpa(8 * MiB), Hpa(9 * MiB)}, {Hpa(10 * MiB), Hpa(12 * MiB)}}))
        << "type " << odd;
    map.resize(1);
    map.push_back({Hpa(20 * MiB), 256, static_cast<Memory_type>(odd), 0});
    EXPECT_EQ(run_import(map).result.usable_pages, 1024u) << "type " << odd << " alone must add nothing";
  }
}

TEST(MemoryMapImport, NothingBelowOneMiBIsUsable) {
  const std::vector<Memory_region> map = {{Hpa(0), 0x9f, Memory_type::conventional, 0},
                                          {Hpa(0x9f000), 1, Memory_type::boot_services_data, 0},
                                          {Hpa(0xc0000), 0x80, Memory_type::conventional, 0}}; // 768 KiB..1.25 MiB
  EXPECT_EQ(run_import(map).ranges, (std::vector<Hpa_range>{{Hpa(1 * MiB), Hpa(0x140000)}}));
}

TEST(MemoryMapImport, ClipsAtTheMaximumAddress) {
  const std::vector<Memory_region> map = {{Hpa(1 * MiB), 0x100000, Memory_type::conventional, 0}}; // 1 MiB..4 GiB+1 MiB
  EXPECT_EQ(run_import(map, {}, Hpa(4 * GiB)).ranges, (std::vector<Hpa_range>{{Hpa(1 * MiB), Hpa(4 * GiB)}}));
  // An unaligned limit rounds down to a whole page; a limit below everything leaves nothing.
  EXPECT_EQ(run_import(map, {}, Hpa(2 * MiB + 123)).ranges, (std::vector<Hpa_range>{{Hpa(1 * MiB), Hpa(2 * MiB)}}));
  EXPECT_TRUE(run_import(map, {}, Hpa(1 * MiB)).ranges.empty());
  EXPECT_TRUE(run_import(map, {}, Hpa(0)).ranges.empty());
}

TEST(MemoryMapImport, ExclusionsAreSubtractedRoundedOutwards) {
  const std::vector<Memory_region> map = {{Hpa(16 * MiB), 4096, Memory_type::conventional, 0},
                                          {Hpa(64 * MiB), 4096, Memory_type::conventional, 0}};
  const std::vector<Hpa_range> exclusions = {
      {Hpa(20 * MiB + 100), Hpa(21 * MiB + 1)},  // the hv image, unaligned: pages 20 MiB..21 MiB+4 KiB
      {Hpa(30 * MiB), Hpa(70 * MiB)},            // spans the gap between the two regions
      {Hpa(90 * MiB), Hpa(90 * MiB)},            // empty: ignored
      {Hpa(200 * MiB), Hpa(100 * MiB)},          // backwards: ignored
  };
  EXPECT_EQ(run_import(map, exclusions).ranges,
            (std::vector<Hpa_range>{{Hpa(16 * MiB), Hpa(20 * MiB)},
                                    {Hpa(21 * MiB + 4 * KiB), Hpa(30 * MiB)},
                                    {Hpa(70 * MiB), Hpa(80 * MiB)}}));
}

TEST(MemoryMapImport, UnalignedRegionsRoundInwardsWhenUsableOutwardsOtherwise) {
  const std::vector<Memory_region> map = {
      {Hpa(4 * MiB + 0x800), 16, Memory_type::conventional, 0}, // pages 4 MiB+4K .. 4 MiB+64K
      {Hpa(8 * MiB), 64, Memory_type::conventional, 0},
      {Hpa(8 * MiB + 0x10800), 1, Memory_type::acpi_nvs, 0},   // touches pages +64K and +68K
  };
  EXPECT_EQ(run_import(map).ranges, (std::vector<Hpa_range>{{Hpa(4 * MiB + 4 * KiB), Hpa(4 * MiB + 64 * KiB)},
                                                            {Hpa(8 * MiB), Hpa(8 * MiB + 64 * KiB)},
                                                            {Hpa(8 * MiB + 72 * KiB), Hpa(8 * MiB + 256 * KiB)}}));
}

TEST(MemoryMapImport, HugePageCountsSaturateInsteadOfWrapping) {
  const u64 all = ~u64{0};
  // A conventional region whose size wraps the address space is "up to the end", not "tiny".
  EXPECT_EQ(run_import({{Hpa(1 * MiB), all, Memory_type::conventional, 0}}, {}, Hpa(8 * GiB)).ranges,
            (std::vector<Hpa_range>{{Hpa(1 * MiB), Hpa(8 * GiB)}}));
  EXPECT_EQ(run_import({{Hpa(1 * MiB), all, Memory_type::conventional, 0}}).ranges,
            (std::vector<Hpa_range>{{Hpa(1 * MiB), physical_address_limit}}));
  // base + pages * 4 KiB == 2^64 + base exactly: wraps to base in 64 bits.
  EXPECT_EQ(run_import({{Hpa(2 * MiB), u64{1} << 52, Memory_type::conventional, 0}}, {}, Hpa(3 * MiB)).ranges,
            (std::vector<Hpa_range>{{Hpa(2 * MiB), Hpa(3 * MiB)}}));
  // A reserved region with a wrapping size blocks everything above its base.
  const std::vector<Memory_region> map = {{Hpa(1 * MiB), 0x100000, Memory_type::conventional, 0},
                                          {Hpa(2 * GiB), all / 2, Memory_type::reserved, 0}};
  EXPECT_EQ(run_import(map).ranges, (std::vector<Hpa_range>{{Hpa(1 * MiB), Hpa(2 * GiB)}}));
}

TEST(MemoryMapImport, RegionsAtTheTopOfTheAddressSpace) {
  const std::vector<Memory_region> map = {
      {Hpa(0xffff'ffff'ffff'f000), 1, Memory_type::conventional, 0},     // above MAXPHYADDR
      {Hpa(0xffff'ffff'ffff'f800), 1, Memory_type::conventional, 0},     // and unaligned
      {Hpa(0xffff'ffff'ffff'f000), ~u64{0}, Memory_type::reserved, 0},
      {physical_address_limit - 2 * page_size_4k, 100, Memory_type::conventional, 0}, // runs past 2^52
      {Hpa(1 * MiB), 1, Memory_type::conventional, 0},
  };
  EXPECT_EQ(run_import(map).ranges,
            (std::vector<Hpa_range>{{Hpa(1 * MiB), Hpa(1 * MiB + 4 * KiB)},
                                    {physical_address_limit - 2 * page_size_4k, physical_address_limit}}));
  // An exclusion reaching the last byte of the address space.
  EXPECT_EQ(run_import(map, {{Hpa(1 * MiB + 4 * KiB), Hpa(~u64{0})}}).ranges,
            (std::vector<Hpa_range>{{Hpa(1 * MiB), Hpa(1 * MiB + 4 * KiB)}}));
}

TEST(MemoryMapImport, OverflowKeepsOnlyUsableMemoryAndSaysSo) {
  std::vector<Memory_region> map;
  for (u64 i = 0; i < 8; ++i) map.push_back({Hpa((4 + 2 * i) * MiB), 256, Memory_type::conventional, 0});
  const Imported full = run_import(map);
  ASSERT_EQ(full.ranges.size(), 8u);
  EXPECT_FALSE(full.result.overflow);
  const Imported cut = run_import(map, {}, no_limit, 3);
  EXPECT_TRUE(cut.result.overflow);
  EXPECT_EQ(cut.ranges.size(), 3u);
  for (const Hpa_range& r : cut.ranges) EXPECT_NE(std::find(full.ranges.begin(), full.ranges.end(), r), full.ranges.end());
  // A split that does not fit keeps the larger side, never both halves glued back together.
  const Imported split = run_import({{Hpa(4 * MiB), 1024, Memory_type::conventional, 0},
                                     {Hpa(5 * MiB), 1, Memory_type::reserved, 0}},
                                    {}, no_limit, 1);
  EXPECT_TRUE(split.result.overflow);
  EXPECT_EQ(split.ranges, (std::vector<Hpa_range>{{Hpa(5 * MiB + 4 * KiB), Hpa(8 * MiB)}}));
  // No room at all.
  const Imported none = run_import(map, {}, no_limit, 0);
  EXPECT_TRUE(none.result.overflow);
  EXPECT_EQ(none.result.count, 0u);
}

// Random maps over 0..40 MiB with every kind of trouble, against the page model.
TEST(MemoryMapImport, RandomMapsAgreeWithThePageModel) {
  std::mt19937_64 rng(0x1e5);
  constexpr u64 space_frames = 40 * MiB / page_size_4k;
  const u32 types[] = {CV, CV, CV, BC, BD, R, LC, RC, RD, AR, AN, 11, 14, 15, 16, 0x70000001, 0x80000000};
  for (int round = 0; round < 1500; ++round) {
    std::vector<Memory_region> map;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) {
      u64 base = (rng() % space_frames) * page_size_4k;
      if (rng() % 8 == 0) base += rng() % page_size_4k;
      const u64 pages = rng() % 16 == 0 ? 0 : rng() % 2048;
      map.push_back({Hpa(base), pages, static_cast<Memory_type>(types[rng() % std::size(types)]), 0});
    }
    std::vector<Hpa_range> exclusions;
    for (u64 i = rng() % 4; i > 0; --i) {
      const u64 b = rng() % (40 * MiB);
      exclusions.push_back({Hpa(b), Hpa(b + rng() % (2 * MiB))});
    }
    const Hpa max_address(rng() % 2 ? no_limit.value() : rng() % (44 * MiB));
    const Imported im = run_import(map, exclusions, max_address);
    ASSERT_FALSE(im.result.overflow);
    expect_normalised(im.ranges);
    ASSERT_EQ(im.ranges, page_model(map, exclusions, max_address, space_frames + 2048)) << "round " << round;
    ASSERT_EQ(im.result.usable_pages, pages_of(im.ranges));
  }
}

} // namespace
} // namespace hv
