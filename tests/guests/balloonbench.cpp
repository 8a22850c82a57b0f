// tests/guests/balloonbench.cpp - the cost of inflating by hypercall, in TSC ticks per 4 KiB page
// (in Bochs the TSC counts emulated instructions: docs/performance.md). Needs memory = 64 and
// memory_current = 8: it takes the start balloon back (deflate below the target, as a driver
// short of memory may), populates 32 MiB with 2 MiB frames, and inflates it again, timed:
//   ranges     the 32 MiB as sixteen 2 MiB ranges in one call (goal: at most 30 per page)
//   scattered  every other page of 2 MiB frames, 256 one-page entries per call (each first
//              entry in a frame splits it)
#include "devices/hypercall.hpp"
#include "guests/runtime/guest.hpp"

namespace {

constexpr u64 area = 16 * hv::MiB / hv::page_size_4k;       // first GFN of the measured area
constexpr u64 area_pages = 32 * hv::MiB / hv::page_size_4k;

alignas(64) hv::Balloon_info_guest g_info;
alignas(64) hv::Balloon_range g_list[hv::balloon_list_max];

bool info() { return guest::hypercall(hv::hc::BALLOON_INFO, reinterpret_cast<u64>(&g_info)) == 0; }
i64 call(u64 nr, u64 entries) { return guest::hypercall(nr, reinterpret_cast<u64>(g_list), entries); }

// One write per page (step 1) or per 2 MiB frame (step 512) of the area.
void touch(u64 step) {
  for (u64 p = 0; p < area_pages; p += step) *reinterpret_cast<volatile u64*>((area + p) * hv::page_size_4k) = p + 1;
}

} // namespace

extern "C" u32 guest_main(const hv::Boot_info* info_block) {
  if (!guest::check(info() && g_info.actual_pages > 0 && g_info.memory_pages * hv::page_size_4k == info_block->memory_bytes,
                    "balloonbench-start-balloon", "actual {} memory {}", g_info.actual_pages, g_info.memory_pages))
    return 1;
  // The start balloon is the top of RAM: take all of it back.
  const u64 start_gfn = g_info.memory_pages - g_info.actual_pages;
  g_list[0] = {start_gfn, g_info.actual_pages};
  bool ok = guest::check(call(hv::hc::BALLOON_DEFLATE, 1) == static_cast<i64>(g_info.actual_pages), "balloonbench-deflate-all");
  if (!ok || start_gfn > area) return 1;

  touch(512);
  for (u64 i = 0; i < area_pages / 512; ++i) g_list[i] = {area + i * 512, 512};
  u64 t0 = guest::rdtsc();
  const i64 ranges = call(hv::hc::BALLOON_INFLATE, area_pages / 512);
  const u64 ranges_ticks = guest::rdtsc() - t0;
  ok &= guest::check(ranges == static_cast<i64>(area_pages), "balloonbench-inflate-ranges", "result {}", ranges);
  g_list[0] = {area, area_pages};
  ok &= guest::check(call(hv::hc::BALLOON_DEFLATE, 1) == static_cast<i64>(area_pages), "balloonbench-deflate-ranges");

  touch(512);
  u64 scattered_ticks = 0, scattered_pages = 0;
  for (u64 first = 0; first < area_pages; first += 2 * hv::balloon_list_max) {
    for (u64 i = 0; i < hv::balloon_list_max; ++i) g_list[i] = {area + first + 2 * i, 1};
    t0 = guest::rdtsc();
    const i64 r = call(hv::hc::BALLOON_INFLATE, hv::balloon_list_max);
    scattered_ticks += guest::rdtsc() - t0;
    ok &= r == static_cast<i64>(hv::balloon_list_max);
    scattered_pages += hv::balloon_list_max;
  }
  ok &= guest::check(ok, "balloonbench-inflate-scattered");
  ok &= guest::check(info() && g_info.actual_pages == scattered_pages && g_info.touched_pages == 0, "balloonbench-accounting",
                     "actual {} touched {}", g_info.actual_pages, g_info.touched_pages);
  guest::print("balloonbench: ranges {} ticks per 4 KiB page ({} pages in {} ranges, one call); scattered {} ticks per page "
               "({} one-page entries, {} per call)",
               ranges_ticks / area_pages, area_pages, area_pages / 512, scattered_ticks / scattered_pages, scattered_pages,
               hv::balloon_list_max);
  return ok ? 0 : 1;
}
