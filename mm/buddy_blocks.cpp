// mm/buddy_blocks.cpp - see buddy_blocks.hpp. Both builds.
// Blocks are aligned in absolute frame numbers (an order-9 block starts at a 2 MiB physical
// boundary), so bit i of order k stands for the block at ((first >> k) + i) << k. At the edges of
// the span such a block may stick out of it; those bits are never set, because only blocks inside
// the span are given back, and merging two free buddies yields their parent, which is inside too.
#include "mm/buddy_blocks.hpp"
#include "lib/panic.hpp"

namespace hv {
namespace {
u64 bits_for(Hfn first, Hfn end, unsigned order) {
  return ((end.value() - 1) >> order) - (first.value() >> order) + 1;
}
} // namespace

u64 Buddy_blocks::storage_words(Hfn first, Hfn end) {
  u64 words = 0;
  for (unsigned k = 0; k <= max_order; ++k) words += Buddy_bitmap::words_for(bits_for(first, end, k));
  return words;
}

void Buddy_blocks::init(u64* storage, Hfn first, Hfn end) {
  HV_ASSERT(first < end);
  first_ = first;
  end_ = end;
  nonempty_ = 0;
  for (unsigned k = 0; k <= max_order; ++k) {
    const u64 bits = bits_for(first, end, k);
    free_[k].init(storage, bits);
    storage += Buddy_bitmap::words_for(bits);
    counts_[k] = 0;
  }
}

void Buddy_blocks::insert(Hfn base, unsigned order) {
  free_[order].set(index(base, order));
  ++counts_[order];
  nonempty_ |= 1u << order;
}

void Buddy_blocks::remove(Hfn base, unsigned order) {
  free_[order].clear(index(base, order));
  if (--counts_[order] == 0) nonempty_ &= ~(1u << order);
}

bool Buddy_blocks::is_free(Hfn base, unsigned order) const {
  const u64 i = index(base, order); // wraps to a huge value below the span: out of range
  return i < free_[order].bits() && free_[order].test(i);
}

std::optional<Hfn> Buddy_blocks::take(unsigned order) {
  const u32 candidates = nonempty_ & ~((1u << order) - 1);
  if (candidates == 0) return std::nullopt;
  unsigned k = static_cast<unsigned>(__builtin_ctz(candidates));
  const Hfn base = block(free_[k].find_first(), k);
  remove(base, k);
  while (k > order) {
    --k;
    insert(base + (u64{1} << k), k);
  }
  return base;
}

std::optional<Hfn> Buddy_blocks::take_small(unsigned max_take_order, unsigned& order) {
  if (nonempty_ == 0) return std::nullopt;
  unsigned k = static_cast<unsigned>(__builtin_ctz(nonempty_));
  const Hfn base = block(free_[k].find_first(), k);
  remove(base, k);
  while (k > max_take_order) {
    --k;
    insert(base + (u64{1} << k), k);
  }
  order = k;
  return base;
}

void Buddy_blocks::give(Hfn base, unsigned order) {
  while (order < max_order) {
    const Hfn buddy(base.value() ^ (u64{1} << order));
    if (!is_free(buddy, order)) break;
    remove(buddy, order);
    base = Hfn(base.value() & ~(u64{1} << order));
    ++order;
  }
  insert(base, order);
}

u64 Buddy_blocks::free_frames() const {
  u64 frames = 0;
  for (unsigned k = 0; k <= max_order; ++k) frames += counts_[k] << k;
  return frames;
}

} // namespace hv
