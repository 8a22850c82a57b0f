// tests/guests/ticker.cpp - a CPU-bound guest that takes a while: `args` ticks (decimal, default
// 20), each a fixed amount of busy work followed by a "tick N/M" line. The monitor tests pause,
// resume and stop it while it runs; a paused ticker prints nothing.
#include "guests/runtime/guest.hpp"

namespace {
hv::u64 parse_count(const char* s, hv::u64 fallback) {
  hv::u64 v = 0;
  bool any = false;
  for (; *s >= '0' && *s <= '9'; ++s) {
    v = v * 10 + static_cast<hv::u64>(*s - '0');
    any = true;
  }
  return any && v > 0 ? v : fallback;
}
} // namespace

extern "C" hv::u32 guest_main(const hv::Boot_info* info) {
  const hv::u64 ticks = parse_count(info->args, 20);
  volatile hv::u64 sink = 0;
  for (hv::u64 t = 1; t <= ticks; ++t) {
    // About 2 million instructions of work per tick (~20 ms of Bochs).
    for (hv::u64 i = 0; i < 500'000; ++i) sink = sink + i;
    guest::print("tick {}/{}", t, ticks);
  }
  return guest::check(true, "ticker-ticks", "{}", ticks) ? 0 : 1;
}
