// mm/buddy_bitmap.hpp - a bitmap with summary levels: set, clear and test one bit, and find the
// lowest set bit in O(log64 n). The buddy allocator keeps one per order as its set of free
// blocks (instead of linked lists, so nothing is written into free memory and the frame record
// stays 8 bytes). Both builds; storage comes from the caller.
//
// Level 0 has one bit per element; bit w of level L+1 is set iff word w of level L is nonzero.
// The top level is a single word.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

class Buddy_bitmap {
public:
  static constexpr unsigned max_levels = 8; // 64^8 bits: far beyond any frame count

  // Words of storage for `bits` elements, all levels together (bits >= 1).
  [[nodiscard]] static constexpr u64 words_for(u64 bits) {
    u64 words = (bits + 63) / 64;
    u64 total = words;
    while (words > 1) {
      words = (words + 63) / 64;
      total += words;
    }
    return total;
  }

  constexpr Buddy_bitmap() = default;
  // Uses storage[0 .. words_for(bits)) and clears it.
  void init(u64* storage, u64 bits);

  [[nodiscard]] u64 bits() const { return bits_; }
  [[nodiscard]] bool empty() const { return levels_ == 0 || level_[levels_ - 1][0] == 0; }
  [[nodiscard]] bool test(u64 i) const { return (level_[0][i >> 6] >> (i & 63)) & 1; }

  void set(u64 i) {
    for (unsigned l = 0; l < levels_; ++l) {
      u64& word = level_[l][i >> 6];
      const u64 old = word;
      word = old | (u64{1} << (i & 63));
      if (old != 0) return; // the summaries above already say "nonempty"
      i >>= 6;
    }
  }

  void clear(u64 i) {
    for (unsigned l = 0; l < levels_; ++l) {
      u64& word = level_[l][i >> 6];
      word &= ~(u64{1} << (i & 63));
      if (word != 0) return;
      i >>= 6;
    }
  }

  // The lowest set bit, or bits() when none is set.
  [[nodiscard]] u64 find_first() const {
    if (empty()) return bits_;
    u64 i = 0;
    for (unsigned l = levels_; l-- > 0;) i = (i << 6) | static_cast<u64>(__builtin_ctzll(level_[l][i]));
    return i;
  }

private:
  u64* level_[max_levels] = {};
  unsigned levels_ = 0;
  u64 bits_ = 0;
};

} // namespace hv
