// mm/pool_frame_source.hpp - a Frame_source over one contiguous, naturally aligned range that
// boot/ reserved before ExitBootServices (loader data, below 4 GiB). It feeds the structures
// that must exist before the page-frame allocator does: the host page tables. Blocks are
// handed out bump-style (aligned to their order); freed 4 KiB frames go on a free list,
// larger blocks are not reused. Both builds. Not thread-safe: boot uses it on the BSP only.
#pragma once
#include "mm/direct_map.hpp"
#include "mm/frame_source.hpp"

namespace hv {

class Pool_frame_source final : public Frame_source {
public:
  constexpr Pool_frame_source() = default;
  Pool_frame_source(Hpa base, u64 bytes, Direct_map dm) : next_(base), end_(base + bytes), dm_(dm) {}

  std::optional<Hpa> alloc_frames(unsigned order, Frame_use, Vm_id) override {
    if (order == order_4k && free_list_.value() != 0) {
      const Hpa frame = free_list_;
      free_list_ = Hpa(*dm_.ptr<u64>(frame));
      ++used_frames_;
      return frame;
    }
    const u64 size = page_size_4k << order;
    const u64 aligned = (next_.value() + size - 1) & ~(size - 1);
    if (order > max_order || aligned + size > end_.value() || aligned + size < aligned) return std::nullopt;
    next_ = Hpa(aligned + size);
    used_frames_ += 1ull << order;
    return Hpa(aligned);
  }
  void free_frames(Hpa base, unsigned order) override {
    used_frames_ -= 1ull << order;
    if (order != order_4k) return;
    *dm_.ptr<u64>(base) = free_list_.value();
    free_list_ = base;
  }
  [[nodiscard]] u64 used_frames() const { return used_frames_; }
  [[nodiscard]] u64 remaining_bytes() const { return end_ - next_; }

private:
  Hpa next_;
  Hpa end_;
  Direct_map dm_;
  Hpa free_list_;  // 0 = empty (frame 0 is never in a pool: boot allocates above 1 MiB)
  u64 used_frames_ = 0;
};

} // namespace hv
