// tests/guests/memtest.cpp - touches all of its free memory with a pattern keyed by page,
// verifies it, and reports how many pages it checked. Every first touch of guest RAM is an EPT
// violation that hv answers with a zeroed host frame: this is demand population end to end.
// `args` = N (decimal) verifies N times instead of once, to keep the memory held for longer.
#include "guests/runtime/guest.hpp"

namespace {
u64 pattern(u64 page, u64 word) { return (page * 0x9E3779B97F4A7C15ull) ^ (word * 0xBF58476D1CE4E5B9ull) ^ 0x5A5A5A5A5A5A5A5Aull; }
} // namespace

extern "C" hv::u32 guest_main(const hv::Boot_info* info) {
  const u64 first = (info->free_start + hv::page_size_4k - 1) / hv::page_size_4k;
  const u64 last = info->memory_bytes / hv::page_size_4k;
  bool zero = true;
  // Fresh pages must read as zero (hv hands out scrubbed frames); then write the pattern.
  for (u64 page = first; page < last; ++page) {
    auto* p = reinterpret_cast<volatile u64*>(page * hv::page_size_4k);
    if (p[0] != 0 || p[511] != 0) zero = false;
    for (u64 w = 0; w < 512; w += 8) p[w] = pattern(page, w);
  }
  u64 passes = 0;
  for (const char* a = info->args; *a >= '0' && *a <= '9'; ++a) passes = passes * 10 + static_cast<u64>(*a - '0');
  if (passes == 0) passes = 1;
  u64 bad = 0;
  u64 first_bad = 0;
  for (u64 pass = 0; pass < passes; ++pass)
  for (u64 page = first; page < last; ++page) {
    auto* p = reinterpret_cast<volatile u64*>(page * hv::page_size_4k);
    for (u64 w = 0; w < 512; w += 8) {
      if (p[w] != pattern(page, w)) {
        if (bad++ == 0) first_bad = page;
      }
    }
  }
  const u64 pages = last - first;
  guest::print("memtest: {} pages ({} MiB) written and verified", pages, pages * hv::page_size_4k / hv::MiB);
  bool ok = guest::check(zero, "memtest-fresh-pages-zero");
  ok &= guest::check(bad == 0, "memtest-pattern", "{} bad words, first in page {:#x}", bad, first_bad);
  ok &= guest::check(pages > 0, "memtest-pages", "{}", pages);
  return ok ? 0 : 1;
}
