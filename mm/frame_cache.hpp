// mm/frame_cache.hpp - per-CPU pieces of the page-frame allocator: a magazine of free order-0
// frames and the CPU's share of the usage statistics. Both builds.
//
// A cache belongs to one CPU index; only the code running as that CPU touches its frames (so no
// lock on the fast path). Other CPUs read only the atomics (count, usage) for statistics.
#pragma once
#include "mm/frame_table.hpp"
#include <array>
#include <atomic>

namespace hv {

inline constexpr u32 frame_cache_cpus = 64;      // CPU indexes 0..63 have a cache
inline constexpr u32 frame_cache_capacity = 64;  // frames per magazine
inline constexpr u32 frame_cache_batch = 32;     // frames moved per refill / drain, under the lock
inline constexpr u32 frame_owner_slots = 64;     // owners 0..63 counted one by one, the rest together
static_assert(frame_cache_batch <= frame_cache_capacity && (frame_cache_batch & (frame_cache_batch - 1)) == 0);

// Frames in use, by Frame_use and by owner VM. Each counter has one writer at a time (its CPU,
// or whoever holds the allocator lock), so a relaxed load + store is enough and costs no locked
// instruction; readers sum the shares of all CPUs. A share may go negative (a frame allocated
// on one CPU and freed on another).
struct Frame_usage {
  std::array<std::atomic<i64>, frame_use_count> by_use{};
  std::array<std::atomic<i64>, frame_owner_slots + 1> by_owner{};

  static constexpr u32 owner_slot(Vm_id owner) { return owner < frame_owner_slots ? owner : frame_owner_slots; }

  void add(Frame_use use, Vm_id owner, i64 frames) {
    bump(by_use[static_cast<u8>(use)], frames);
    bump(by_owner[owner_slot(owner)], frames);
  }

private:
  static void bump(std::atomic<i64>& c, i64 frames) {
    c.store(c.load(std::memory_order_relaxed) + frames, std::memory_order_relaxed);
  }
};

struct alignas(64) Frame_cache {
  std::atomic<u32> count{0};                          // frames[0 .. count) are free and cached
  std::array<Hfn, frame_cache_capacity> frames{};     // a stack: the last freed frame goes out first
  Frame_usage usage;
};

} // namespace hv
