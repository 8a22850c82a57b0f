// mm/buddy_bitmap.cpp - see buddy_bitmap.hpp. Both builds.
#include "mm/buddy_bitmap.hpp"
#include "lib/panic.hpp"
#include <cstring>

namespace hv {

void Buddy_bitmap::init(u64* storage, u64 bits) {
  HV_ASSERT(bits >= 1);
  bits_ = bits;
  levels_ = 0;
  u64 words = (bits + 63) / 64;
  for (;;) {
    HV_ASSERT(levels_ < max_levels);
    level_[levels_++] = storage;
    std::memset(storage, 0, words * sizeof(u64));
    storage += words;
    if (words == 1) break;
    words = (words + 63) / 64;
  }
}

} // namespace hv
