// tests/unit/memory_map_summary_test.cpp - summarising the firmware memory map, against a naive
// reference (a per-page set) on random maps, and the log lines the integration test reads.
#include "lib/log.hpp"
#include "mm/memory_map.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace hv {
namespace {

Memory_region region(u64 base, u64 pages, Memory_type type) { return {Hpa(base), pages, type, 0}; }
constexpr u64 P = page_size_4k;

TEST(MemoryMapSummary, EmptyMapIsAllZero) {
  const Memory_map_summary s = summarize_memory_map({});
  EXPECT_EQ(s.region_count, 0u);
  EXPECT_EQ(s.usable_bytes, 0u);
  EXPECT_EQ(s.largest_usable_bytes, 0u);
  EXPECT_EQ(s.highest_usable_end, Hpa(0));
}

TEST(MemoryMapSummary, CountsBytesAndRegionsByType) {
  const std::vector<Memory_region> map = {
      region(0x0, 160, Memory_type::conventional),
      region(0xA0000, 96, Memory_type::reserved),
      region(0x100000, 256, Memory_type::loader_code),
      region(0x200000, 512, Memory_type::boot_services_data),
      region(0x400000, 16, Memory_type::acpi_nvs),
      region(0x410000, 1024, Memory_type::conventional),
  };
  const Memory_map_summary s = summarize_memory_map(map);
  EXPECT_EQ(s.region_count, 6u);
  EXPECT_EQ(s.regions_by_type[static_cast<u32>(Memory_type::conventional)], 2u);
  EXPECT_EQ(s.bytes_by_type[static_cast<u32>(Memory_type::conventional)], (160 + 1024) * P);
  EXPECT_EQ(s.bytes_by_type[static_cast<u32>(Memory_type::loader_code)], 256 * P);
  // Usable after boot: conventional and boot-services memory, not loader memory (hv itself).
  EXPECT_EQ(s.usable_bytes, (160 + 512 + 1024) * P);
  EXPECT_EQ(s.highest_usable_end, Hpa(0x410000 + 1024 * P));
}

TEST(MemoryMapSummary, UnsortedInputGivesTheSameSummaryAsSorted) {
  std::vector<Memory_region> map = {
      region(0x800000, 100, Memory_type::conventional),
      region(0x100000, 10, Memory_type::conventional),
      region(0x10A000, 20, Memory_type::boot_services_code),  // adjacent to the one above
      region(0x400000, 50, Memory_type::conventional),
  };
  const Memory_map_summary unsorted = summarize_memory_map(map);
  std::sort(map.begin(), map.end(), [](const auto& a, const auto& b) { return a.base < b.base; });
  const Memory_map_summary sorted = summarize_memory_map(map);
  EXPECT_EQ(unsorted.largest_usable_base, sorted.largest_usable_base);
  EXPECT_EQ(unsorted.largest_usable_bytes, sorted.largest_usable_bytes);
  EXPECT_EQ(unsorted.largest_usable_base, Hpa(0x800000));
  EXPECT_EQ(unsorted.largest_usable_bytes, 100 * P);
}

TEST(MemoryMapSummary, AdjacentUsableRegionsOfDifferentTypesJoinIntoOneRun) {
  const std::vector<Memory_region> map = {
      region(0x300000, 64, Memory_type::conventional),
      region(0x100000, 256, Memory_type::boot_services_code),  // 0x100000..0x200000
      region(0x200000, 256, Memory_type::boot_services_data),  // 0x200000..0x300000
      region(0x340000, 1, Memory_type::reserved),               // a hole after the run
      region(0x341000, 300, Memory_type::conventional),         // 300 pages alone
  };
  const Memory_map_summary s = summarize_memory_map(map);
  EXPECT_EQ(s.largest_usable_base, Hpa(0x100000));
  EXPECT_EQ(s.largest_usable_bytes, (256 + 256 + 64) * P);
}

TEST(MemoryMapSummary, OverlappingUsableRegionsAreJoinedNotDoubleCountedInTheRun) {
  const std::vector<Memory_region> map = {
      region(0x100000, 256, Memory_type::conventional),    // 0x100000..0x200000
      region(0x180000, 256, Memory_type::conventional),    // 0x180000..0x280000
      region(0x190000, 16, Memory_type::boot_services_data),  // inside both
  };
  const Memory_map_summary s = summarize_memory_map(map);
  EXPECT_EQ(s.largest_usable_base, Hpa(0x100000));
  EXPECT_EQ(s.largest_usable_bytes, 0x180000u);
  EXPECT_EQ(s.highest_usable_end, Hpa(0x280000));
}

TEST(MemoryMapSummary, ZeroPageRegionsAreSkipped) {
  const std::vector<Memory_region> map = {
      region(0x100000, 0, Memory_type::conventional),
      region(0x200000, 4, Memory_type::conventional),
      region(0xFFFFF000, 0, Memory_type::conventional),
  };
  const Memory_map_summary s = summarize_memory_map(map);
  EXPECT_EQ(s.region_count, 1u);
  EXPECT_EQ(s.usable_bytes, 4 * P);
  EXPECT_EQ(s.highest_usable_end, Hpa(0x204000));
  EXPECT_EQ(s.regions_by_type[static_cast<u32>(Memory_type::conventional)], 1u);
}

TEST(MemoryMapSummary, UnknownTypesAreCountedAsOther) {
  const std::vector<Memory_region> map = {
      region(0x100000, 8, static_cast<Memory_type>(0x70000000)),  // OEM range
      region(0x200000, 2, static_cast<Memory_type>(16)),          // first number past the spec
      region(0x300000, 4, Memory_type::conventional),
  };
  const Memory_map_summary s = summarize_memory_map(map);
  EXPECT_EQ(s.regions_by_type[memory_type_count], 2u);
  EXPECT_EQ(s.bytes_by_type[memory_type_count], 10 * P);
  EXPECT_EQ(s.usable_bytes, 4 * P);
  EXPECT_STREQ(memory_type_name(static_cast<Memory_type>(16)), "unknown");
}

TEST(MemoryMapSummary, UsableTypesAreExactlyConventionalAndBootServices) {
  for (u32 t = 0; t < memory_type_count; ++t) {
    const auto type = static_cast<Memory_type>(t);
    const bool want = type == Memory_type::conventional || type == Memory_type::boot_services_code ||
                      type == Memory_type::boot_services_data;
    EXPECT_EQ(memory_type_usable_after_boot(type), want) << memory_type_name(type);
    EXPECT_STRNE(memory_type_name(type), "unknown");
  }
}

// Reference: the set of usable pages, and the longest run of consecutive ones.
TEST(MemoryMapSummary, RandomMapsAgreeWithAPerPageReference) {
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 200; ++round) {
    std::vector<Memory_region> map;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const u64 base_page = rng() % 2048;
      const u64 pages = rng() % 64;  // zero sometimes
      const u32 type = static_cast<u32>(rng() % 18);  // includes two unknown numbers
      map.push_back(region(base_page * P, pages, static_cast<Memory_type>(type)));
    }
    std::set<u64> usable_pages;
    u64 usable_bytes = 0;
    u64 highest_end = 0;
    u64 regions = 0;
    for (const auto& r : map) {
      if (r.pages == 0) continue;
      ++regions;
      if (!memory_type_usable_after_boot(r.type)) continue;
      usable_bytes += r.bytes();
      highest_end = std::max(highest_end, r.end().value());
      for (u64 p = 0; p < r.pages; ++p) usable_pages.insert(r.base.value() / P + p);
    }
    u64 best = 0, best_base = 0, run = 0, run_base = 0, prev = ~0ull;
    for (u64 page : usable_pages) {
      if (run > 0 && page == prev + 1) ++run;
      else {
        run = 1;
        run_base = page;
      }
      if (run > best) {
        best = run;
        best_base = run_base;
      }
      prev = page;
    }
    const Memory_map_summary s = summarize_memory_map(map);
    ASSERT_EQ(s.region_count, regions) << "round " << round;
    ASSERT_EQ(s.usable_bytes, usable_bytes) << "round " << round;
    ASSERT_EQ(s.highest_usable_end, Hpa(highest_end)) << "round " << round;
    ASSERT_EQ(s.largest_usable_bytes, best * P) << "round " << round;
    if (best > 0) {
      ASSERT_EQ(s.largest_usable_base, Hpa(best_base * P)) << "round " << round;
    }
  }
}

class Capture_sink final : public Log_sink {
public:
  void write_line(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

TEST(MemoryMapSummaryLog, LinesMatchTheIntegrationExpectations) {
  Capture_sink sink;
  log_set_sink(&sink);
  log_set_level(Log_level::info);
  const std::vector<Memory_region> map = {
      region(0x0, 160, Memory_type::conventional),
      region(0x100000, 0x3FF00, Memory_type::conventional),  // 1 MiB .. 1 GiB
      region(0x40000000, 16, static_cast<Memory_type>(99)),
  };
  log_memory_map_summary(summarize_memory_map(map));
  log_set_sink(nullptr);
  ASSERT_EQ(sink.lines.size(), 4u);
  EXPECT_EQ(sink.lines[0].rfind("[I mm] memory map: 3 regions, usable after boot 1023 MiB", 0), 0u) << sink.lines[0];
  EXPECT_EQ(sink.lines[1], "[I mm] largest usable range: 0x100000..0x40000000 (1023 MiB)");
  EXPECT_EQ(sink.lines[2].rfind("[I mm]   conventional", 0), 0u) << sink.lines[2];
  EXPECT_NE(sink.lines[2].find(" 2 regions"), std::string::npos) << sink.lines[2];
  EXPECT_EQ(sink.lines[3].rfind("[I mm]   other", 0), 0u) << sink.lines[3];
}

} // namespace
} // namespace hv
