// tests/unit/frame_allocator_stress_test.cpp - Frame_allocator under long random sequences
// against a reference model, and under several threads at once.
#include "mm/frame_allocator.hpp"
#include "unit/support/phys_arena.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <atomic>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace hv {
namespace {

using test::Phys_arena;

struct Live_block {
  unsigned order;
  Frame_use use;
  Vm_id owner;
};

// A firmware-style map of the arena with holes, odd regions and the "hv image" excluded, so the
// usable ranges are fragmented the way real ones are.
struct Fragmented_ram {
  std::vector<Hpa_range> exclusions;
  std::vector<Hpa_range> usable;

  explicit Fragmented_ram(const Phys_arena& arena) {
    const Hpa b = arena.base();
    std::vector<Memory_region> map = arena.memory_map();
    map.push_back({b + 1 * GiB + 12 * KiB, 16, Memory_type::runtime_services_data, 0});
    map.push_back({b + 2 * GiB - 2 * MiB, 1024, Memory_type::reserved, 0}); // straddles a 1 GiB line
    map.push_back({b + 3 * GiB + 5 * MiB, 3, Memory_type::acpi_nvs, 0});
    map.push_back({b + 3 * GiB + 100 * MiB, 1, static_cast<Memory_type>(0x80000004), 0});
    exclusions = {{b + 64 * MiB + 4 * KiB, b + 66 * MiB + 20 * KiB}, {b + 3 * GiB + 512 * MiB, b + 3 * GiB + 513 * MiB}};
    usable.resize(64);
    const Memory_import_result r = import_usable_memory(map, exclusions, physical_address_limit, usable);
    usable.resize(r.count);
  }

  [[nodiscard]] bool holds(Hpa base, u64 bytes) const {
    for (const Hpa_range& r : usable) {
      if (base >= r.base && base + bytes <= r.end) return true;
    }
    return false;
  }
  [[nodiscard]] bool touches_exclusion(Hpa base, u64 bytes) const {
    for (const Hpa_range& x : exclusions) {
      if (base < x.end && base + bytes > x.base) return true;
    }
    return false;
  }
};

// Orders skewed small, as real use is; big ones rare, since their records cost 2^order writes.
unsigned random_order(std::mt19937_64& rng) {
  const u64 r = rng() % 1000;
  if (r < 450) return 0;
  if (r < 700) return 1 + static_cast<unsigned>(rng() % 3);
  if (r < 950) return 4 + static_cast<unsigned>(rng() % 6);
  if (r < 995) return 10 + static_cast<unsigned>(rng() % 8);
  return max_order;
}

TEST(FrameAllocatorStress, RandomAllocFreeOfAllOrdersAgainstAModel) {
  Phys_arena arena(5 * GiB);
  const Fragmented_ram ram(arena);
  auto fa = std::make_unique<Frame_allocator>();
  ASSERT_EQ(fa->init(ram.usable, arena.direct_map()), Frame_allocator_status::ok);
  const Frame_stats initial = fa->stats();
  ASSERT_GE(initial.free_blocks[max_order], 1u);
  const Hpa_range meta = fa->metadata();

  std::mt19937_64 rng(20240601);
  std::map<u64, Live_block> live; // head HFN -> block
  u64 live_frames = 0;
  u64 by_use[frame_use_count] = {};
  std::map<u32, u64> by_owner_slot;
  const Frame_use uses[] = {Frame_use::hypervisor, Frame_use::page_table, Frame_use::guest, Frame_use::shared,
                            Frame_use::balloon};
  u64 allocs = 0, failures = 0, orders_seen = 0;

  auto check_stats = [&] {
    const Frame_stats s = fa->stats();
    ASSERT_EQ(s.used_frames, live_frames);
    ASSERT_EQ(s.free_frames + s.used_frames + s.metadata_frames, s.managed_frames);
    for (u32 i = 0; i < frame_use_count; ++i) ASSERT_EQ(s.used_by_use[i], by_use[i]) << "use " << i;
    for (u32 i = 0; i <= frame_owner_slots; ++i) {
      ASSERT_EQ(s.used_by_owner[i], by_owner_slot.count(i) ? by_owner_slot[i] : 0u) << "owner slot " << i;
    }
  };
  auto do_free = [&](std::map<u64, Live_block>::iterator it) {
    const u32 cpu = rng() % 3 == 0 ? no_cpu : static_cast<u32>(rng() % 4);
    fa->free_frames_on(cpu, to_hpa(Hfn(it->first)), it->second.order);
    const u64 n = u64{1} << it->second.order;
    live_frames -= n;
    by_use[static_cast<u8>(it->second.use)] -= n;
    by_owner_slot[Frame_usage::owner_slot(it->second.owner)] -= n;
    live.erase(it);
  };

  constexpr int operations = 150000;
  for (int op = 0; op < operations; ++op) {
    // Hover around a third of memory in use, with bursts that run big orders out of blocks.
    const bool alloc = live.empty() || rng() % 100 < (live_frames < initial.free_frames / 3 ? 55u : 45u);
    if (alloc) {
      const unsigned order = random_order(rng);
      const Frame_use use = uses[rng() % std::size(uses)];
      const Vm_id owner = static_cast<Vm_id>(rng() % 70); // some beyond the 64 counted one by one
      const u32 cpu = rng() % 3 == 0 ? no_cpu : static_cast<u32>(rng() % 4);
      const std::optional<Hpa> got = fa->alloc_frames_on(cpu, order, use, owner);
      if (!got) {
        ++failures;
        // Out of memory must be real: no free block of this order or above is left.
        const Frame_stats s = fa->stats();
        for (unsigned k = order; k <= max_order; ++k) ASSERT_EQ(s.free_blocks[k], 0u) << "order " << order;
        if (order == 0 && cpu != no_cpu) {
          ASSERT_EQ(s.free_frames, s.cached_frames);
        }
        continue;
      }
      ++allocs;
      orders_seen |= u64{1} << order;
      const u64 bytes = page_size_4k << order;
      ASSERT_TRUE(got->is_aligned(bytes)) << "order " << order;
      ASSERT_TRUE(ram.holds(*got, bytes)) << "outside usable RAM: " << got->value();
      ASSERT_FALSE(ram.touches_exclusion(*got, bytes)) << got->value();
      ASSERT_FALSE(*got < meta.end && *got + bytes > meta.base) << "overlaps the frame table";
      const u64 head = to_hfn(*got).value();
      auto next = live.lower_bound(head);
      ASSERT_TRUE(next == live.end() || next->first >= head + (u64{1} << order)) << "handed out twice";
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + (u64{1} << prev->second.order), head) << "handed out twice";
      }
      ASSERT_EQ(fa->table().use(to_hfn(*got)), use);
      ASSERT_EQ(fa->table().refs(to_hfn(*got)), 1u);
      live.emplace(head, Live_block{order, use, owner});
      live_frames += u64{1} << order;
      by_use[static_cast<u8>(use)] += u64{1} << order;
      by_owner_slot[Frame_usage::owner_slot(owner)] += u64{1} << order;
    } else {
      auto it = live.lower_bound(rng() % (to_hfn(arena.end()).value() + 1));
      if (it == live.end()) it = live.begin();
      do_free(it);
    }
    if (op % 5000 == 0) {
      check_stats();
      if (HasFatalFailure()) return;
    }
  }
  check_stats();
  EXPECT_EQ(orders_seen, (u64{1} << (max_order + 1)) - 1) << "every order was handed out at least once";
  EXPECT_GT(failures, 0u) << "the sequence should run some order out of blocks";
  EXPECT_GT(allocs, 50000u);

  // Everything back, in random order: the buddy must merge to exactly the initial blocks.
  std::vector<u64> heads;
  for (auto& [h, b] : live) heads.push_back(h);
  std::shuffle(heads.begin(), heads.end(), rng);
  for (u64 h : heads) do_free(live.find(h));
  fa->drain_all_caches();
  const Frame_stats end = fa->stats();
  for (unsigned k = 0; k <= max_order; ++k) EXPECT_EQ(end.free_blocks[k], initial.free_blocks[k]) << "order " << k;
  EXPECT_EQ(end.free_frames, initial.free_frames);
  EXPECT_EQ(end.used_frames, 0u);
}

// Threads with their own CPU index allocate, pass blocks to each other, and free, while every
// frame handed out is claimed in a shared array: a frame given to two holders at once fails
// the exchange.
TEST(FrameAllocatorStress, ThreadsNeverShareAFrame) {
  Phys_arena arena(64 * MiB); // small enough that the threads run it out now and then
  auto fa = std::make_unique<Frame_allocator>();
  ASSERT_EQ(fa->init(arena.usable_ranges(), arena.direct_map()), Frame_allocator_status::ok);
  const Frame_stats initial = fa->stats();
  const u64 frames = arena.bytes() / page_size_4k;
  std::vector<std::atomic<u8>> claimed(frames);
  std::atomic<u64> duplicates{0}, lost{0}, failures{0}, successes{0};
  std::mutex pool_mutex;
  std::vector<std::pair<Hpa, unsigned>> pool; // blocks handed from one thread to another

  auto claim = [&](Hpa base, unsigned order, u8 to) {
    const u64 first = (base - arena.base()) / page_size_4k;
    for (u64 i = 0; i < (u64{1} << order); ++i) {
      const u8 was = claimed[first + i].exchange(to);
      if (to == 1 && was != 0) duplicates.fetch_add(1);
      if (to == 0 && was != 1) lost.fetch_add(1);
    }
  };

  constexpr int threads = 4;
  constexpr int operations = 100000;
  std::latch start(threads); // all threads begin together, so their work overlaps
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Frame_cpu_handle cpu(*fa, static_cast<u32>(t));
      start.arrive_and_wait();
      std::mt19937_64 rng(1000 + t);
      std::vector<std::pair<Hpa, unsigned>> mine;
      for (int op = 0; op < operations; ++op) {
        const u64 r = rng() % 100;
        if (r < 48 || mine.empty()) {
          // Order 0 mostly through the cache, some straight to the lock; larger orders always there.
          const u64 kind = rng() % 10;
          const unsigned order = kind < 7 ? 0 : 1 + static_cast<unsigned>(rng() % 9);
          Frame_source& source = kind < 5 ? static_cast<Frame_source&>(cpu) : *fa;
          if (auto got = source.alloc_frames(order, Frame_use::guest, static_cast<Vm_id>(t + 1))) {
            claim(*got, order, 1);
            mine.emplace_back(*got, order);
            successes.fetch_add(1);
          } else {
            failures.fetch_add(1);
          }
        } else if (r < 50) {
          // A burst through the cache: it refills and drains under the lock while others work.
          std::pair<Hpa, unsigned> burst[48];
          usize n = 0;
          for (; n < std::size(burst); ++n) {
            const auto got = cpu.alloc_frames(0, Frame_use::guest, static_cast<Vm_id>(t + 1));
            if (!got) break;
            claim(*got, 0, 1);
            burst[n] = {*got, 0};
          }
          for (usize i = 0; i < n; ++i) {
            claim(burst[i].first, 0, 0);
            cpu.free_frames(burst[i].first, 0);
          }
        } else if (r < 51) {
          std::lock_guard<std::mutex> lock(pool_mutex);
          pool.push_back(mine.back());
          mine.pop_back();
        } else if (r < 55) {
          std::pair<Hpa, unsigned> block{};
          {
            std::lock_guard<std::mutex> lock(pool_mutex);
            if (pool.empty()) continue;
            block = pool.back();
            pool.pop_back();
          }
          claim(block.first, block.second, 0);
          cpu.free_frames(block.first, block.second); // allocated on another CPU
        } else {
          const usize i = rng() % mine.size();
          claim(mine[i].first, mine[i].second, 0);
          cpu.free_frames(mine[i].first, mine[i].second);
          mine[i] = mine.back();
          mine.pop_back();
        }
      }
      for (auto [hpa, order] : mine) {
        claim(hpa, order, 0);
        cpu.free_frames(hpa, order);
      }
      cpu.drain();
    });
  }
  for (auto& w : workers) w.join();
  for (auto [hpa, order] : pool) {
    claim(hpa, order, 0);
    fa->free_frames(hpa, order);
  }
  EXPECT_EQ(duplicates.load(), 0u);
  EXPECT_EQ(lost.load(), 0u);
  EXPECT_GT(successes.load(), threads * operations / 4);
  EXPECT_GT(failures.load(), 0u) << "the threads should run the arena dry now and then";
  fa->drain_all_caches();
  const Frame_stats end = fa->stats();
  EXPECT_EQ(end.used_frames, 0u);
  EXPECT_EQ(end.used_by_use[static_cast<u8>(Frame_use::guest)], 0u);
  for (unsigned k = 0; k <= max_order; ++k) EXPECT_EQ(end.free_blocks[k], initial.free_blocks[k]) << "order " << k;
}

} // namespace
} // namespace hv
