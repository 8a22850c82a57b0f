// mm/page_bitmap.hpp - a bitmap of pages (one bit per 4 KiB guest frame) over storage its owner
// provides: run queries and updates a word at a time, so that a 2 MiB run costs 8 words. Both
// builds. The balloon's record of which GFNs it holds (Guest_memory).
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

class Page_bitmap_view {
public:
  constexpr Page_bitmap_view() = default;
  constexpr Page_bitmap_view(u64* words, u64 bits) : words_(words), bits_(bits) {}

  [[nodiscard]] constexpr u64 size() const { return bits_; }
  [[nodiscard]] constexpr bool valid() const { return words_ != nullptr; }
  [[nodiscard]] static constexpr u64 words_for(u64 bits) { return (bits + 63) / 64; }

  // Runs [first, first + n) must lie inside the bitmap (callers check against size()).
  [[nodiscard]] bool test(u64 i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  [[nodiscard]] bool any(u64 first, u64 n) const { return find(first, n, true); }
  [[nodiscard]] bool all(u64 first, u64 n) const { return !find(first, n, false); }
  void set(u64 first, u64 n) { apply(first, n, true); }
  void clear(u64 first, u64 n) { apply(first, n, false); }
  void clear_bit(u64 i) { words_[i / 64] &= ~(u64{1} << (i % 64)); }

private:
  // The mask of bits [lo, hi) within one word (0 <= lo < hi <= 64).
  static constexpr u64 mask(u64 lo, u64 hi) { return (hi - lo == 64 ? ~u64{0} : ((u64{1} << (hi - lo)) - 1)) << lo; }

  // Is some bit in the run equal to `value`?
  [[nodiscard]] bool find(u64 first, u64 n, bool value) const {
    for (u64 i = first, end = first + n; i < end;) {
      const u64 w = i / 64, lo = i % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
      const u64 m = mask(lo, hi);
      if ((value ? words_[w] : ~words_[w]) & m) return true;
      i = w * 64 + hi;
    }
    return false;
  }
  void apply(u64 first, u64 n, bool value) {
    for (u64 i = first, end = first + n; i < end;) {
      const u64 w = i / 64, lo = i % 64, hi = end - w * 64 < 64 ? end - w * 64 : 64;
      const u64 m = mask(lo, hi);
      words_[w] = value ? words_[w] | m : words_[w] & ~m;
      i = w * 64 + hi;
    }
  }

  u64* words_ = nullptr;
  u64 bits_ = 0;
};

} // namespace hv
