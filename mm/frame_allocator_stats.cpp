// mm/frame_allocator_stats.cpp - Frame_allocator::stats and its log lines. Both builds.
#include "lib/log.hpp"
#include "mm/frame_allocator.hpp"

namespace hv {

Frame_stats Frame_allocator::stats() const {
  Frame_stats s;
  i64 by_use[frame_use_count] = {};
  i64 by_owner[frame_owner_slots + 1] = {};
  u64 buddy_free = 0;
  {
    Spinlock_guard guard(lock_);
    for (unsigned k = 0; k <= max_order; ++k) s.free_blocks[k] = blocks_.free_blocks(k);
    buddy_free = ready_ ? blocks_.free_frames() : 0;
    for (u32 i = 0; i < frame_use_count; ++i) by_use[i] = usage_.by_use[i].load(std::memory_order_relaxed);
    for (u32 i = 0; i <= frame_owner_slots; ++i) by_owner[i] = usage_.by_owner[i].load(std::memory_order_relaxed);
  }
  for (const Frame_cache& cache : caches_) {
    s.cached_frames += cache.count.load(std::memory_order_relaxed);
    for (u32 i = 0; i < frame_use_count; ++i) by_use[i] += cache.usage.by_use[i].load(std::memory_order_relaxed);
    for (u32 i = 0; i <= frame_owner_slots; ++i) {
      by_owner[i] += cache.usage.by_owner[i].load(std::memory_order_relaxed);
    }
  }
  // Sums of per-CPU shares read while CPUs work can dip below zero for a moment.
  for (u32 i = 0; i < frame_use_count; ++i) s.used_by_use[i] = by_use[i] > 0 ? static_cast<u64>(by_use[i]) : 0;
  for (u32 i = 0; i <= frame_owner_slots; ++i) s.used_by_owner[i] = by_owner[i] > 0 ? static_cast<u64>(by_owner[i]) : 0;
  s.managed_frames = managed_frames_;
  s.metadata_frames = metadata_.pages();
  s.free_frames = buddy_free + s.cached_frames;
  const u64 available = s.managed_frames - s.metadata_frames;
  s.used_frames = available > s.free_frames ? available - s.free_frames : 0;
  return s;
}

u64 Frame_allocator::free_frames_hint() const {
  u64 frames = 0;
  {
    Spinlock_guard guard(lock_);
    frames = ready_ ? blocks_.free_frames() : 0;
  }
  for (const Frame_cache& cache : caches_) frames += cache.count.load(std::memory_order_relaxed);
  return frames;
}

void Frame_allocator::log_stats() const {
  const Frame_stats s = stats();
  log_info("mm", "frames: managed {}, metadata {}, free {} (cached {}), used {}", s.managed_frames,
           s.metadata_frames, s.free_frames, s.cached_frames, s.used_frames);
  log_info("mm", "  used by: hypervisor {} page-table {} guest {} shared {} balloon {}",
           s.used_by_use[static_cast<u8>(Frame_use::hypervisor)], s.used_by_use[static_cast<u8>(Frame_use::page_table)],
           s.used_by_use[static_cast<u8>(Frame_use::guest)], s.used_by_use[static_cast<u8>(Frame_use::shared)],
           s.used_by_use[static_cast<u8>(Frame_use::balloon)]);
  Fixed_text<log_line_capacity> line;
  for (unsigned k = 0; k <= max_order; ++k) format_to(line, " {}", s.free_blocks[k]);
  log_info("mm", "  free blocks by order 0..{}:{}", max_order, line.view());
}

} // namespace hv
