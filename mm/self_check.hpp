// mm/self_check.hpp - the memory core's self-check, run once at boot on the real machine: build
// the EPT of a 256 MiB guest space by demand population, check every translation, tear it all
// down, and compare the allocator's free frames before and after (they must be equal: nothing
// leaked, nothing freed twice). Both builds (tested hosted over an arena).
#pragma once
#include "mm/frame_allocator.hpp"
#include "mm/guest_memory.hpp"

namespace hv {

struct Mm_self_check {
  bool ok = false;
  const char* failure = "";     // what went wrong when !ok
  u64 guest_bytes = 0;
  u64 frames_2m = 0;
  u64 frames_4k = 0;
  u64 table_pages = 0;
  u64 free_before = 0;
  u64 free_after = 0;
};

[[nodiscard]] Mm_self_check run_mm_self_check(Frame_allocator& frames, Ept_invalidator& invalidator,
                                              const Ept_config& ept_config, u64 guest_bytes = 256 * MiB);
void log_mm_self_check(const Mm_self_check& result);

} // namespace hv
