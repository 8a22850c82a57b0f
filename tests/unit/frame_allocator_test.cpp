// tests/unit/frame_allocator_test.cpp - Frame_allocator: init and its carved storage, orders and
// alignment, per-CPU caches, out of memory, statistics, zeroing, reference counts, and the
// panics for a caller's bugs. The random and multi-threaded tests are in
// frame_allocator_stress_test.cpp.
#include "mm/frame_allocator.hpp"
#include "unit/support/phys_arena.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace hv {
namespace {

using test::Phys_arena;

// A global allocator must be constant-initialised (no global constructors in hv.efi).
constinit Frame_allocator g_constinit_allocator;

std::unique_ptr<Frame_allocator> make_allocator(const Phys_arena& arena, const std::vector<Hpa_range>& ranges) {
  auto fa = std::make_unique<Frame_allocator>();
  const Frame_allocator_status status = fa->init(ranges, arena.direct_map());
  EXPECT_EQ(status, Frame_allocator_status::ok) << frame_allocator_status_name(status);
  return fa;
}

std::unique_ptr<Frame_allocator> make_allocator(const Phys_arena& arena) {
  return make_allocator(arena, arena.usable_ranges());
}

u64 used(const Frame_stats& s, Frame_use use) { return s.used_by_use[static_cast<u8>(use)]; }

void expect_same_free_blocks(const Frame_stats& a, const Frame_stats& b) {
  for (unsigned k = 0; k <= max_order; ++k) EXPECT_EQ(a.free_blocks[k], b.free_blocks[k]) << "order " << k;
  EXPECT_EQ(a.free_frames, b.free_frames);
}

TEST(FrameAllocator, IsConstantInitialisableAndEmptyBeforeInit) {
  EXPECT_FALSE(g_constinit_allocator.ready());
  EXPECT_FALSE(g_constinit_allocator.alloc_frames(0, Frame_use::guest, 1).has_value());
  EXPECT_EQ(g_constinit_allocator.stats().free_frames, 0u);
}

TEST(FrameAllocator, InitCarvesTheTableAndBitmapsOutOfManagedRam) {
  Phys_arena arena(64 * MiB);
  auto fa = make_allocator(arena);
  const Frame_stats s = fa->stats();
  EXPECT_EQ(s.managed_frames, 16384u);
  // 16384 records of 8 bytes = 32 pages, plus 2 pages of bitmaps (~4.2 KiB for all 19 orders).
  EXPECT_EQ(s.metadata_frames, 34u);
  EXPECT_EQ(s.free_frames, s.managed_frames - s.metadata_frames);
  EXPECT_EQ(s.used_frames, 0u);
  const Hpa_range meta = fa->metadata();
  EXPECT_EQ(meta.pages(), s.metadata_frames);
  EXPECT_TRUE(arena.contains(meta.base, meta.bytes()));
  for (Hpa p = meta.base; p < meta.end; p += page_size_4k) EXPECT_EQ(fa->table().use(to_hfn(p)), Frame_use::reserved);
  // The table describes itself from inside the arena.
  EXPECT_EQ(reinterpret_cast<const void*>(&fa->table()[to_hfn(arena.base())]), arena.ptr(meta.base));
  // Everything else can be allocated, once, and none of it overlaps the metadata.
  u64 frames = 0;
  while (auto hpa = fa->alloc_frames(0, Frame_use::guest, 1)) {
    EXPECT_FALSE(meta.contains(*hpa));
    ++frames;
  }
  EXPECT_EQ(frames, s.managed_frames - s.metadata_frames);
  EXPECT_EQ(fa->init(arena.usable_ranges(), arena.direct_map()), Frame_allocator_status::already_initialised);
}

TEST(FrameAllocator, MetadataGoesToTheSmallestRangeThatHoldsIt) {
  Phys_arena arena(64 * MiB);
  const Hpa b = arena.base();
  // Span 64 MiB: 34 pages of metadata. A 16 KiB island is too small, 160 KiB fits, 60 MiB is big.
  const std::vector<Hpa_range> ranges = {{b, b + 16 * KiB}, {b + 1 * MiB, b + 61 * MiB},
                                         {b + 62 * MiB, b + 62 * MiB + 160 * KiB}, {b + 63 * MiB, b + 64 * MiB}};
  auto fa = make_allocator(arena, ranges);
  EXPECT_EQ(fa->metadata().end, b + 62 * MiB + 160 * KiB);
  const Frame_stats s = fa->stats();
  EXPECT_EQ(s.managed_frames, 4u + 15360u + 40u + 256u);
  EXPECT_EQ(s.free_frames, s.managed_frames - 34u);
  // The holes between ranges are reserved in the table and never handed out.
  EXPECT_EQ(fa->table().use(to_hfn(b + 512 * KiB)), Frame_use::reserved);
  EXPECT_EQ(fa->table().use(to_hfn(b + 1 * MiB)), Frame_use::free);
  while (auto hpa = fa->alloc_frames(0, Frame_use::guest, 1)) {
    bool inside = false;
    for (const Hpa_range& r : ranges) inside |= r.contains(*hpa);
    ASSERT_TRUE(inside) << hpa->value();
    ASSERT_FALSE(fa->metadata().contains(*hpa));
  }
}

TEST(FrameAllocator, InitRejectsBadInput) {
  Phys_arena arena(16 * MiB);
  const Hpa b = arena.base();
  auto status = [&](std::vector<Hpa_range> ranges) {
    Frame_allocator fa;
    return fa.init(ranges, arena.direct_map());
  };
  EXPECT_EQ(status({}), Frame_allocator_status::no_usable_memory);
  EXPECT_EQ(status({{b, b}}), Frame_allocator_status::no_usable_memory);
  EXPECT_EQ(status({{b + 8 * MiB, b + 9 * MiB}, {b, b + 1 * MiB}}), Frame_allocator_status::bad_ranges);
  EXPECT_EQ(status({{b, b + 2 * MiB}, {b + 1 * MiB, b + 3 * MiB}}), Frame_allocator_status::bad_ranges);
  EXPECT_EQ(status({{b + 100, b + 1 * MiB}}), Frame_allocator_status::bad_ranges);
  EXPECT_EQ(status({{b + 2 * MiB, b + 1 * MiB}}), Frame_allocator_status::bad_ranges);
  // Every range is one page, but the table for the whole span needs several.
  EXPECT_EQ(status({{b, b + 4 * KiB}, {b + 15 * MiB, b + 15 * MiB + 4 * KiB}}),
            Frame_allocator_status::no_room_for_metadata);
}

TEST(FrameAllocator, BlocksOfEveryOrderAreNaturallyAlignedAndDescribed) {
  Phys_arena arena(4 * GiB + 64 * MiB); // four whole 1 GiB blocks; the metadata goes at the end
  auto fa = make_allocator(arena);
  const Frame_stats before = fa->stats();
  EXPECT_EQ(before.free_blocks[max_order], 4u);
  std::vector<std::pair<Hpa, unsigned>> blocks;
  for (unsigned order = 0; order <= max_order; ++order) {
    const auto hpa = fa->alloc_frames(order, Frame_use::guest, static_cast<Vm_id>(order + 1));
    ASSERT_TRUE(hpa.has_value()) << "order " << order;
    EXPECT_TRUE(hpa->is_aligned(page_size_4k << order)) << "order " << order << " at " << hpa->value();
    const Hfn head = to_hfn(*hpa);
    EXPECT_EQ(fa->table().refs(head), 1u);
    EXPECT_EQ(fa->table().at(head).order(), order);
    const Frame_record& last = fa->table().at(head + ((u64{1} << order) - 1));
    EXPECT_EQ(last.use, Frame_use::guest);
    EXPECT_EQ(last.owner, order + 1);
    EXPECT_EQ(last.refs, order == 0 ? 1u : 0u);
    blocks.emplace_back(*hpa, order);
  }
  EXPECT_EQ(fa->stats().used_frames, (u64{1} << (max_order + 1)) - 1);
  for (auto [hpa, order] : blocks) fa->free_frames(hpa, order);
  expect_same_free_blocks(fa->stats(), before);
  EXPECT_EQ(fa->table().use(to_hfn(blocks.back().first)), Frame_use::free);
}

TEST(FrameAllocator, PerCpuCachesRefillAndDrainInBatches) {
  Phys_arena arena(64 * MiB);
  auto fa = make_allocator(arena);
  const Frame_stats initial = fa->stats();
  Frame_cpu_handle cpu2(*fa, 2);
  const auto first = cpu2.alloc_frames(0, Frame_use::hypervisor, no_vm);
  ASSERT_TRUE(first.has_value());
  Frame_stats s = fa->stats();
  EXPECT_EQ(s.cached_frames, frame_cache_batch - 1); // one refill brought a batch
  EXPECT_EQ(s.used_frames, 1u);
  EXPECT_EQ(s.free_frames, initial.free_frames - 1);
  cpu2.free_frames(*first, 0);
  EXPECT_EQ(fa->stats().cached_frames, frame_cache_batch);
  // 200 frames out and back through the same cache: it never holds more than its capacity.
  std::vector<Hpa> frames;
  for (int i = 0; i < 200; ++i) frames.push_back(*cpu2.alloc_frames(0, Frame_use::guest, 3));
  EXPECT_EQ(used(fa->stats(), Frame_use::guest), 200u);
  for (Hpa f : frames) {
    cpu2.free_frames(f, 0);
    EXPECT_LE(fa->stats().cached_frames, frame_cache_capacity);
  }
  s = fa->stats();
  EXPECT_GT(s.cached_frames, 0u);
  EXPECT_EQ(s.used_frames, 0u);
  EXPECT_EQ(s.free_frames, initial.free_frames);
  // Cached frames are held back from merging; draining lets every block come back whole.
  cpu2.drain();
  expect_same_free_blocks(fa->stats(), initial);
  EXPECT_EQ(fa->stats().cached_frames, 0u);
}

TEST(FrameAllocator, FramesMayBeFreedThroughAnotherCpusCache) {
  Phys_arena arena(16 * MiB);
  auto fa = make_allocator(arena);
  const Frame_stats initial = fa->stats();
  Frame_cpu_handle cpu0(*fa, 0), cpu1(*fa, 1);
  std::vector<Hpa> frames;
  for (int i = 0; i < 100; ++i) frames.push_back(*cpu0.alloc_frames(0, Frame_use::guest, 5));
  for (Hpa f : frames) cpu1.free_frames(f, 0);
  const Frame_stats s = fa->stats();
  EXPECT_EQ(used(s, Frame_use::guest), 0u); // +100 on cpu0's share, -100 on cpu1's
  EXPECT_EQ(s.used_by_owner[5], 0u);
  EXPECT_EQ(s.used_frames, 0u);
  fa->drain_all_caches();
  expect_same_free_blocks(fa->stats(), initial);
}

TEST(FrameAllocator, OutOfMemoryIsNulloptAndRecoversAfterFrees) {
  Phys_arena arena(8 * MiB);
  auto fa = make_allocator(arena);
  const Frame_stats initial = fa->stats();
  Frame_cpu_handle cpu0(*fa, 0), cpu1(*fa, 1);
  std::vector<Hpa> frames;
  while (auto f = cpu0.alloc_frames(0, Frame_use::guest, 1)) frames.push_back(*f);
  EXPECT_EQ(frames.size(), initial.free_frames);
  EXPECT_FALSE(cpu0.alloc_frames(0, Frame_use::guest, 1).has_value());
  EXPECT_FALSE(cpu1.alloc_frames(0, Frame_use::guest, 1).has_value());
  EXPECT_FALSE(fa->alloc_frames(0, Frame_use::guest, 1).has_value());
  EXPECT_FALSE(fa->alloc_frames(9, Frame_use::guest, 1).has_value());
  EXPECT_EQ(fa->stats().free_frames, 0u);
  // Two buddies freed into cpu1's cache: cpu1 completes an order-1 block by draining its own cache.
  const Hpa pair = *std::find_if(frames.begin(), frames.end(), [](Hpa f) { return f.is_aligned(2 * page_size_4k); });
  const Hpa buddy = pair + page_size_4k;
  ASSERT_NE(std::find(frames.begin(), frames.end(), buddy), frames.end());
  cpu1.free_frames(pair, 0);
  cpu1.free_frames(buddy, 0);
  EXPECT_FALSE(cpu0.alloc_frames(1, Frame_use::guest, 1).has_value()); // cpu0 cannot reach cpu1's cache
  const auto block = cpu1.alloc_frames(1, Frame_use::guest, 1);
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(*block, pair);
  cpu1.free_frames(*block, 1);
  // Freeing everything makes a 2 MiB block possible again.
  for (Hpa f : frames) {
    if (f != pair && f != buddy) cpu0.free_frames(f, 0);
  }
  fa->drain_all_caches();
  expect_same_free_blocks(fa->stats(), initial);
  EXPECT_TRUE(fa->alloc_frames(9, Frame_use::guest, 1).has_value());
}

TEST(FrameAllocator, StatisticsByOrderUseAndOwner) {
  Phys_arena arena(64 * MiB);
  auto fa = make_allocator(arena);
  const Frame_stats initial = fa->stats();
  Frame_cpu_handle cpu3(*fa, 3);
  const Hpa pt = *cpu3.alloc_frames(0, Frame_use::page_table, no_vm);
  const Hpa g1 = *fa->alloc_frames(9, Frame_use::guest, 1);
  const Hpa g2 = *cpu3.alloc_frames(2, Frame_use::guest, 2);
  const Hpa far = *fa->alloc_frames(0, Frame_use::balloon, 700); // owner beyond the table's slots
  Frame_stats s = fa->stats();
  EXPECT_EQ(used(s, Frame_use::page_table), 1u);
  EXPECT_EQ(used(s, Frame_use::guest), 512u + 4u);
  EXPECT_EQ(used(s, Frame_use::balloon), 1u);
  EXPECT_EQ(used(s, Frame_use::free), 0u);
  EXPECT_EQ(s.used_by_owner[no_vm], 1u);
  EXPECT_EQ(s.used_by_owner[1], 512u);
  EXPECT_EQ(s.used_by_owner[2], 4u);
  EXPECT_EQ(s.used_by_owner[frame_owner_slots], 1u);
  EXPECT_EQ(s.used_frames, 518u);
  EXPECT_EQ(s.free_frames + s.used_frames + s.metadata_frames, s.managed_frames);
  u64 in_blocks = 0;
  for (unsigned k = 0; k <= max_order; ++k) in_blocks += s.free_blocks[k] << k;
  EXPECT_EQ(in_blocks + s.cached_frames, s.free_frames);
  // Merging a guest page into a shared frame moves it between slots.
  fa->change_use(g2, 2, Frame_use::shared, no_vm);
  s = fa->stats();
  EXPECT_EQ(used(s, Frame_use::guest), 512u);
  EXPECT_EQ(used(s, Frame_use::shared), 4u);
  EXPECT_EQ(s.used_by_owner[2], 0u);
  EXPECT_EQ(s.used_by_owner[no_vm], 5u);
  EXPECT_EQ(fa->table().use(to_hfn(g2) + 3), Frame_use::shared);
  cpu3.free_frames(pt, 0);
  fa->free_frames(g1, 9);
  cpu3.free_frames(g2, 2);
  fa->free_frames(far, 0);
  s = fa->stats();
  for (u32 i = 0; i < frame_use_count; ++i) EXPECT_EQ(s.used_by_use[i], 0u) << i;
  for (u32 i = 0; i <= frame_owner_slots; ++i) EXPECT_EQ(s.used_by_owner[i], 0u) << i;
  fa->drain_all_caches();
  expect_same_free_blocks(fa->stats(), initial);
}

TEST(FrameAllocator, ZeroedAllocationsAreZero) {
  Phys_arena arena(16 * MiB);
  auto fa = make_allocator(arena);
  Frame_cpu_handle cpu0(*fa, 0);
  // Dirty a 2 MiB block, give it back, and ask for zeroed memory: every byte is cleared.
  const Hpa dirty = *fa->alloc_frames(9, Frame_use::guest, 1);
  std::memset(arena.ptr(dirty), 0xa5, 2 * MiB);
  fa->free_frames(dirty, 9);
  const Hpa clean = *fa->alloc_zeroed_frames_on(no_cpu, 9, Frame_use::guest, 1);
  EXPECT_EQ(clean, dirty);
  const auto* bytes = arena.ptr<const unsigned char>(clean);
  EXPECT_EQ(std::count(bytes, bytes + 2 * MiB, 0), static_cast<long>(2 * MiB));
  // zero_frames clears an allocated block.
  std::memset(arena.ptr(clean), 0x5a, 2 * MiB);
  fa->zero_frames(clean, 9);
  EXPECT_EQ(std::count(bytes, bytes + 2 * MiB, 0), static_cast<long>(2 * MiB));
  fa->free_frames(clean, 9);
  // A frame freed as zeroed is remembered as zero and not cleared again.
  const Hpa f = *cpu0.alloc_zeroed_frames(0, Frame_use::page_table, no_vm);
  cpu0.free_zeroed_frames(f, 0);
  EXPECT_TRUE(fa->table().at(to_hfn(f)).has(Frame_flag::zeroed));
  arena.ptr<unsigned char>(f)[100] = 1; // nobody may write a free frame; this shows the skip
  EXPECT_EQ(*cpu0.alloc_zeroed_frames(0, Frame_use::page_table, no_vm), f);
  EXPECT_EQ(arena.ptr<unsigned char>(f)[100], 1);
  EXPECT_FALSE(fa->table().at(to_hfn(f)).has(Frame_flag::zeroed)); // handed out: may be written
  // ...and a plain free forgets it.
  cpu0.free_frames(f, 0);
  EXPECT_EQ(*cpu0.alloc_zeroed_frames(0, Frame_use::page_table, no_vm), f);
  EXPECT_EQ(arena.ptr<unsigned char>(f)[100], 0);
  cpu0.free_frames(f, 0);
}

TEST(FrameAllocator, SharedFramesAreFreedAfterTheLastReference) {
  Phys_arena arena(16 * MiB);
  auto fa = make_allocator(arena);
  const Hpa f = *fa->alloc_frames(0, Frame_use::shared, no_vm);
  const Hfn h = to_hfn(f);
  EXPECT_EQ(fa->table().get(h), 2u); // a second guest page maps it
  EXPECT_EQ(fa->table().get(h), 3u);
  EXPECT_DEATH(fa->free_frames(f, 0), "still shared");
  EXPECT_EQ(fa->table().put(h), 2u);
  EXPECT_EQ(fa->table().put(h), 1u);
  EXPECT_EQ(fa->table().put(h), 0u);
  fa->free_frames(f, 0); // after the last put, as after a plain allocation
  EXPECT_EQ(fa->table().use(h), Frame_use::free);
}

// A caller's bugs are the hypervisor's bugs: each one panics with a message saying which.
TEST(FrameAllocator, CallerBugsPanic) {
  Phys_arena arena(16 * MiB);
  auto fa = make_allocator(arena);
  Frame_cpu_handle cpu0(*fa, 0);
  const Hpa block = *fa->alloc_frames(3, Frame_use::guest, 1);
  const Hpa single = *cpu0.alloc_frames(0, Frame_use::guest, 1);
  const Hpa freed = *fa->alloc_frames(0, Frame_use::guest, 1);
  fa->free_frames(freed, 0);
  const Hpa cached = *cpu0.alloc_frames(0, Frame_use::guest, 1);
  cpu0.free_frames(cached, 0);

  EXPECT_DEATH(fa->free_frames(freed, 0), "double free");
  EXPECT_DEATH(cpu0.free_frames(cached, 0), "double free");          // sitting in a cache
  EXPECT_DEATH(fa->free_frames(cached, 0), "double free");
  EXPECT_DEATH(fa->free_frames(block, 2), "has order 3, not 2");      // wrong order
  EXPECT_DEATH(fa->free_frames(block, 4), "not aligned|order 3, not 4");
  EXPECT_DEATH(fa->free_frames(block + page_size_4k, 0), "has order 3, not 0"); // a tail
  EXPECT_DEATH(fa->free_frames(block + 8 * KiB, 3), "not aligned");
  EXPECT_DEATH(fa->free_frames(single + 0x800, 0), "not aligned");
  EXPECT_DEATH(fa->free_frames(block, 19), "order 19 is beyond 18");
  EXPECT_DEATH((void)fa->alloc_frames(19, Frame_use::guest, 1), "order 19");
  EXPECT_DEATH((void)fa->alloc_frames(0, Frame_use::free, 1), "for use 0");
  EXPECT_DEATH((void)fa->alloc_frames(0, Frame_use::reserved, 1), "for use 6");
  EXPECT_DEATH(fa->free_frames(arena.end(), 0), "outside the managed RAM");
  EXPECT_DEATH(fa->free_frames(Hpa(0), 0), "outside the managed RAM");
  EXPECT_DEATH(fa->free_frames(fa->metadata().base, 0), "not allocatable");
  EXPECT_DEATH((void)fa->alloc_frames_on(frame_cache_cpus, 0, Frame_use::guest, 1), "no frame cache");
  EXPECT_DEATH(
      {
        arena.ptr<unsigned char>(single)[8] = 1;
        fa->free_zeroed_frames_on(no_cpu, single, 0);
      },
      "as zeroed: byte 8");
  EXPECT_DEATH(fa->zero_frames(freed, 0), "double free|is free");
  // None of the above happened in this process: the real blocks are still fine to free.
  fa->free_frames(block, 3);
  cpu0.free_frames(single, 0);
}

} // namespace
} // namespace hv
