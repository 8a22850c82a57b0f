// tests/unit/host_page_tables_test.cpp - the hypervisor's identity map: page sizes, rights,
// splits where rights change, and no table page lost.
#include "mm/host_page_tables.hpp"
#include "mm/pool_frame_source.hpp"
#include <gtest/gtest.h>
#include <cstdlib>
#include <memory>

namespace hv {
namespace {

// A 4 MiB pool in a heap arena presented at a fake physical base.
struct Pool_fixture {
  static constexpr u64 fake_base = 0x7000'0000;
  static constexpr u64 bytes = 4 * MiB;
  Pool_fixture() : arena(static_cast<u8*>(std::aligned_alloc(page_size_2m, bytes)), &std::free) {
    dm = Direct_map(static_cast<i64>(reinterpret_cast<u64>(arena.get())) - static_cast<i64>(fake_base));
    pool = Pool_frame_source(Hpa(fake_base), bytes, dm);
  }
  std::unique_ptr<u8, void (*)(void*)> arena;
  Direct_map dm;
  Pool_frame_source pool;
};

TEST(HostPageTables, IdentityMapUsesLargestPagesAllowed) {
  Pool_fixture f;
  Host_page_tables pt(f.pool, f.dm, /*allow_1g=*/true);
  ASSERT_TRUE(pt.init());
  ASSERT_EQ(pt.map_identity(0, 4 * GiB, {}), Host_map_error::none);
  EXPECT_EQ(pt.table_pages(), 2u);  // PML4 + one PDPT of 1 GiB leaves
  const Host_translation t = pt.translate(0x1234'5678);
  ASSERT_TRUE(t.present);
  EXPECT_EQ(t.hpa, Hpa(0x1234'5678));
  EXPECT_EQ(t.page_bytes, 1 * GiB);
  EXPECT_FALSE(pt.translate(4 * GiB).present);

  Host_page_tables no1g(f.pool, f.dm, false);
  ASSERT_TRUE(no1g.init());
  ASSERT_EQ(no1g.map_identity(0, 4 * GiB, {}), Host_map_error::none);
  EXPECT_EQ(no1g.table_pages(), 2u + 4u);  // + four page directories of 2 MiB leaves
  EXPECT_EQ(no1g.translate(0xFEE0'0000).page_bytes, 2 * MiB);
  pt.destroy();
  no1g.destroy();
  EXPECT_EQ(f.pool.used_frames(), 0u);
}

TEST(HostPageTables, ImageSectionsGetTheirOwnRightsIn4KPages) {
  Pool_fixture f;
  Host_page_tables pt(f.pool, f.dm, true);
  ASSERT_TRUE(pt.init());
  ASSERT_EQ(pt.map_identity(0, 2 * GiB, Host_rights{true, false, false}), Host_map_error::none);
  const u64 text = 0x3E20'1000, rodata = 0x3E20'8000, data = 0x3E20'A000;
  ASSERT_EQ(pt.map_identity(text, rodata - text, Host_rights{false, true, false}), Host_map_error::none);
  ASSERT_EQ(pt.map_identity(rodata, data - rodata, Host_rights{false, false, false}), Host_map_error::none);
  const Host_translation code = pt.translate(text + 0x10);
  EXPECT_EQ(code.page_bytes, 4 * KiB);
  EXPECT_EQ(code.rights, (Host_rights{false, true, false}));
  EXPECT_EQ(pt.translate(rodata).rights, (Host_rights{false, false, false}));
  // Right after the image and right before it: still RAM rights, same 2 MiB region split to 4K.
  EXPECT_EQ(pt.translate(data).rights, (Host_rights{true, false, false}));
  EXPECT_EQ(pt.translate(text - 1).rights, (Host_rights{true, false, false}));
  EXPECT_EQ(pt.translate(text - 1).hpa, Hpa(text - 1));
  // Elsewhere the large page stays.
  EXPECT_EQ(pt.translate(0x5000'0000).page_bytes, 1 * GiB);
  EXPECT_EQ(pt.translate(0x1000'0000).page_bytes, 2 * MiB);  // same GiB as the image: split once
  // Every address of the split 1 GiB region still translates to itself.
  for (u64 va = 0; va < 1 * GiB; va += 0x1F3000) {
    ASSERT_EQ(pt.translate(va).hpa, Hpa(va)) << std::hex << va;
  }
  for (u64 va = 0x3E00'0000; va < 0x3E40'0000; va += 4096) ASSERT_EQ(pt.translate(va).hpa, Hpa(va));
  pt.destroy();
  EXPECT_EQ(f.pool.used_frames(), 0u);
}

TEST(HostPageTables, RemappingAWholeLargePageFreesTheSplitTables) {
  Pool_fixture f;
  Host_page_tables pt(f.pool, f.dm, false);
  ASSERT_TRUE(pt.init());
  ASSERT_EQ(pt.map_identity(0, 64 * MiB, {}), Host_map_error::none);
  const u64 before = pt.table_pages();
  ASSERT_EQ(pt.map_identity(0x20'0000 + 0x3000, 0x1000, Host_rights{false, true, false}), Host_map_error::none);
  EXPECT_EQ(pt.table_pages(), before + 1);
  ASSERT_EQ(pt.map_identity(0x20'0000, 2 * MiB, {}), Host_map_error::none);
  EXPECT_EQ(pt.table_pages(), before);
  EXPECT_EQ(pt.translate(0x20'3000).page_bytes, 2 * MiB);
  pt.destroy();
}

TEST(HostPageTables, BadInputIsRefusedAndExhaustionReported) {
  Pool_fixture f;
  Host_page_tables pt(f.pool, f.dm, false);
  ASSERT_TRUE(pt.init());
  EXPECT_EQ(pt.map_identity(0x1001, 0x1000, {}), Host_map_error::misaligned);
  EXPECT_EQ(pt.map_identity(0x1000, 0x1001, {}), Host_map_error::misaligned);
  EXPECT_EQ(pt.map_identity(~0xFFFull, 0x2000, {}), Host_map_error::misaligned);
  // 4 MiB pool = 1024 tables; mapping 8 GiB in 4 KiB pieces would need far more.
  Host_map_error last = Host_map_error::none;
  for (u64 va = 0x1000; va < 8 * GiB && last == Host_map_error::none; va += 2 * MiB) last = pt.map_identity(va, 4096, {});
  EXPECT_EQ(last, Host_map_error::out_of_memory);
  pt.destroy();
  EXPECT_EQ(f.pool.used_frames(), 0u);
}

TEST(HostPageTables, LeafBitsFollowTheSdm) {
  EXPECT_EQ(host_leaf_bits({true, false, false}, 1), 0x8000'0000'0000'0063ull);  // P RW A D NX
  EXPECT_EQ(host_leaf_bits({false, true, false}, 2), 0x0000'0000'0000'00E1ull);  // P A D PS
  EXPECT_EQ(host_leaf_bits({true, false, true}, 3), 0x8000'0000'0000'00FBull);   // + PWT PCD
}

} // namespace
} // namespace hv
