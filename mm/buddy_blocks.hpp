// mm/buddy_blocks.hpp - the buddy system's free blocks over a span of host frames: per order
// 0..max_order a Buddy_bitmap of free, naturally aligned blocks. Taking a block splits the
// smallest free block that fits (lowest address first); giving one back merges it with its
// buddy while the buddy is free. Both builds. Not thread safe: Frame_allocator holds its lock
// around every call. Knows nothing of frame records or owners.
#pragma once
#include "mm/buddy_bitmap.hpp"
#include "mm/frame_source.hpp"

namespace hv {

class Buddy_blocks {
public:
  // Words of storage for the bitmaps of all orders over [first, end).
  [[nodiscard]] static u64 storage_words(Hfn first, Hfn end);

  constexpr Buddy_blocks() = default;
  // Uses storage[0 .. storage_words(first, end)); starts with no free block. first < end.
  void init(u64* storage, Hfn first, Hfn end);

  // The lowest block of the smallest order >= `order` that is free, split down to `order`
  // (the upper halves stay free). nullopt when no block is big enough.
  [[nodiscard]] std::optional<Hfn> take(unsigned order);

  // For filling a per-CPU cache: a block of at most 2^max_take_order frames, taken from the
  // smallest free order (so small leftovers go first) and split down to max_take_order if it
  // is larger. Its order is written to `order`.
  [[nodiscard]] std::optional<Hfn> take_small(unsigned max_take_order, unsigned& order);

  // Frees the naturally aligned block [base, base + 2^order), merging with free buddies.
  // The caller guarantees the block lies inside the span and is not already free.
  void give(Hfn base, unsigned order);

  [[nodiscard]] bool is_free(Hfn base, unsigned order) const;
  [[nodiscard]] u64 free_blocks(unsigned order) const { return counts_[order]; }
  [[nodiscard]] u64 free_frames() const;
  [[nodiscard]] Hfn first() const { return first_; }
  [[nodiscard]] Hfn end() const { return end_; }

private:
  [[nodiscard]] u64 index(Hfn base, unsigned order) const {
    return (base.value() >> order) - (first_.value() >> order);
  }
  [[nodiscard]] Hfn block(u64 index, unsigned order) const {
    return Hfn(((first_.value() >> order) + index) << order);
  }
  void insert(Hfn base, unsigned order);
  void remove(Hfn base, unsigned order);

  Buddy_bitmap free_[max_order + 1];
  u64 counts_[max_order + 1] = {};
  u32 nonempty_ = 0; // bit k: order k has a free block
  Hfn first_;
  Hfn end_;
};

} // namespace hv
