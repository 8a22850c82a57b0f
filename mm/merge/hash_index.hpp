// mm/merge/hash_index.hpp - an open-addressing multimap from a 64-bit key to a 32-bit value, over
// a Frame_array. Both builds.
//
// Linear probing, erase by backward shift (no tombstones, so a long-lived index with many erases
// keeps short probe runs), load kept under 1/2 by doubling. Equal keys may appear more than once
// (two shared frames with the same contents when max_page_sharing is reached); find_each visits
// them all. A failed growth is a `false` result and leaves the index as it was.
#pragma once
#include "mm/merge/frame_array.hpp"

namespace hv {

class Hash_index {
public:
  static constexpr u32 empty = 0xFFFF'FFFF;

  Hash_index(Frame_source& frames, Direct_map map) : slots_(frames, map) {}

  [[nodiscard]] u64 size() const { return count_; }
  [[nodiscard]] u64 bytes() const { return slots_.bytes(); }

  // Adds key -> value (value != empty). False: out of memory, nothing added.
  [[nodiscard]] bool insert(u64 key, u32 value) {
    if ((count_ + 1) * 2 > slots_.size() && !grow()) return false;
    place(key, value);
    ++count_;
    return true;
  }

  // Calls f(value) for each entry with `key` until f returns true; returns that value or empty.
  template <typename F>
  [[nodiscard]] u32 find_each(u64 key, F&& f) const {
    if (count_ == 0) return empty;
    const u64 mask = slots_.size() - 1;
    for (u64 i = mix(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.value == empty) return empty;
      if (s.key == key && f(s.value)) return s.value;
    }
  }
  [[nodiscard]] u32 find(u64 key) const {
    return find_each(key, [](u32) { return true; });
  }

  // Starts loading the slot where `key`'s entries begin (a lookup follows soon).
  void prefetch(u64 key) const {
    if (slots_.size()) __builtin_prefetch(&slots_[mix(key) & (slots_.size() - 1)]);
  }

  // Removes the entry key -> value; false when there is none.
  bool erase(u64 key, u32 value) {
    if (count_ == 0) return false;
    const u64 mask = slots_.size() - 1;
    u64 i = mix(key) & mask;
    for (;; i = (i + 1) & mask) {
      if (slots_[i].value == empty) return false;
      if (slots_[i].key == key && slots_[i].value == value) break;
    }
    // Backward shift: pull later entries of the run into the hole when their home allows it.
    for (u64 j = (i + 1) & mask;; j = (j + 1) & mask) {
      Slot& s = slots_[j];
      if (s.value == empty) break;
      const u64 home = mix(s.key) & mask;
      // s may move to i when i lies cyclically in [home, j).
      if (((j - home) & mask) >= ((j - i) & mask)) {
        slots_[i] = s;
        i = j;
      }
    }
    slots_[i].value = empty;
    --count_;
    return true;
  }

  void clear() {
    for (u64 i = 0; i < slots_.size(); ++i) slots_[i].value = empty;
    count_ = 0;
  }
  void release() {
    slots_.release();
    count_ = 0;
  }
  // Makes room for `n` entries up front (the merger sizes its candidate index once per pass).
  [[nodiscard]] bool reserve(u64 n) { return slots_.size() >= n * 2 || rehash(round_up_pow2(n * 2)); }

private:
  struct Slot {
    u64 key;
    u32 value;
    u32 pad;
  };

  static u64 mix(u64 k) {  // keys may be frame numbers (dense low bits): spread them
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  static u64 round_up_pow2(u64 n) {
    u64 p = 16;
    while (p < n) p *= 2;
    return p;
  }
  void place(u64 key, u32 value) {
    const u64 mask = slots_.size() - 1;
    u64 i = mix(key) & mask;
    while (slots_[i].value != empty) i = (i + 1) & mask;
    slots_[i] = Slot{key, value, 0};
  }
  bool grow() { return rehash(slots_.size() ? slots_.size() * 2 : 16); }
  // Moves every entry into a table of `capacity` slots (a power of two).
  bool rehash(u64 capacity) {
    Frame_array<Slot> fresh(slots_.frames(), slots_.map());
    if (!fresh.resize(capacity)) return false;
    for (u64 i = 0; i < capacity; ++i) fresh[i].value = empty;
    fresh.swap(slots_);
    for (u64 i = 0; i < fresh.size(); ++i)
      if (fresh[i].value != empty) place(fresh[i].key, fresh[i].value);
    return true;
  }

  Frame_array<Slot> slots_;
  u64 count_ = 0;
};

} // namespace hv
