// tests/guests/mergetest.cpp - the guest side of same-page merging (docs/merge.md). Fills its free
// memory with contents that repeat across VMs (8 patterns every VM writes), repeat within this VM
// (4 patterns keyed by the VM), zero pages and unique pages; waits until hv's merger has made two
// full passes since (MERGE_STATS hypercall, docs/hypercalls.md) and checks that at least 90 % of
// its repeating pages map shared frames; then writes into merged and zero pages (copy on write,
// repopulation) and checks every page's contents, so a wrong merge or a lost write is a FAIL line.
// args: "pages=N" limits the pages used (default: all free memory).
#include "guests/runtime/guest.hpp"
#include "devices/hypercall.hpp"

namespace {

// Page i of the test area holds, by i % 10: 0-3 a pattern every VM writes, 4-5 zeros,
// 6-7 a pattern of this VM's, 8-9 a pattern unique to this page.
enum class Kind { across, zero, within, unique };
Kind kind_of(u64 i) {
  const u64 r = i % 10;
  return r < 4 ? Kind::across : r < 6 ? Kind::zero : r < 8 ? Kind::within : Kind::unique;
}

u64 seed_of(u64 i, u32 vm) {
  switch (kind_of(i)) {
  case Kind::across: return 1 + (i / 10) % 8;
  case Kind::zero: return 0;
  case Kind::within: return 1000 + vm * 16 + (i / 10) % 4;
  case Kind::unique: return 1'000'000 + vm * 0x100000 + i;
  }
  return 0;
}

u64 word(u64 seed, u64 w) {
  if (seed == 0) return 0;
  u64 x = (seed * 0x9E3779B97F4A7C15ull) ^ (w * 0xBF58476D1CE4E5B9ull);
  x ^= x >> 31;
  return x | 1;  // never zero: only zero pages are zero
}

alignas(64) hv::Merge_stats_guest g_stats;

bool read_stats() { return guest::hypercall(hv::hc::MERGE_STATS, reinterpret_cast<u64>(&g_stats)) == 0; }

u64 parse_pages(const char* a) {
  for (; *a; ++a) {
    if (a[0] == 'p' && a[1] == 'a' && a[2] == 'g' && a[3] == 'e' && a[4] == 's' && a[5] == '=') {
      u64 n = 0;
      for (a += 6; *a >= '0' && *a <= '9'; ++a) n = n * 10 + static_cast<u64>(*a - '0');
      return n;
    }
  }
  return 0;
}

} // namespace

extern "C" u32 guest_main(const hv::Boot_info* info) {
  // 2 MiB-aligned start, so that whole 2 MiB frames hold only test pages.
  const u64 first = ((info->free_start + hv::page_size_2m - 1) & ~(hv::page_size_2m - 1)) / hv::page_size_4k;
  u64 count = info->memory_bytes / hv::page_size_4k - first;
  if (const u64 limit = parse_pages(info->args); limit && limit < count) count = limit;
  if (!guest::check(read_stats(), "merge-stats-hypercall")) return 1;
  guest::print("mergetest: vm {}: {} pages from {:#x}; merger run={}", info->vm_id, count, first * hv::page_size_4k,
               g_stats.run);
  u64 repeating = 0;
  for (u64 i = 0; i < count; ++i) {
    auto* p = reinterpret_cast<volatile u64*>((first + i) * hv::page_size_4k);
    const u64 seed = seed_of(i, info->vm_id);
    for (u64 w = 0; w < 512; ++w) p[w] = word(seed, w);
    repeating += kind_of(i) == Kind::across || kind_of(i) == Kind::within ? 1 : 0;
  }
  // A pass that began before the last write may have missed pages: wait for two more.
  (void)read_stats();
  const u64 written_at = g_stats.full_scans;
  const u64 deadline = guest::rdtsc() + 40'000'000'000ull;  // Bochs: TSC ticks are instructions
  while (guest::rdtsc() < deadline) {
    if (read_stats() && g_stats.full_scans >= written_at + 2 && g_stats.merging_pages >= repeating) break;
    for (int k = 0; k < 20000; ++k) asm volatile("pause");
  }
  (void)read_stats();
  guest::print("mergetest: vm {}: {} of {} repeating pages merged, {} zero pages given back, after {} passes",
               info->vm_id, g_stats.merging_pages, repeating, g_stats.zero_released, g_stats.full_scans - written_at);
  bool ok = guest::check(g_stats.full_scans >= written_at + 2, "merge-passes", "{} passes", g_stats.full_scans - written_at);
  ok &= guest::check(g_stats.merging_pages * 10 >= repeating * 9, "merge-90-percent", "{} of {}", g_stats.merging_pages,
                     repeating);
  ok &= guest::check(g_stats.zero_released * 10 >= (count / 5) * 9, "merge-zero-pages", "{} of {}", g_stats.zero_released,
                     count / 5);

  // Every page must still read what this VM wrote (no other VM's data, nothing lost).
  u64 bad = 0, first_bad = 0;
  for (u64 i = 0; i < count; ++i) {
    auto* p = reinterpret_cast<volatile u64*>((first + i) * hv::page_size_4k);
    const u64 seed = seed_of(i, info->vm_id);
    for (u64 w = 0; w < 512; w += 7)
      if (p[w] != word(seed, w) && bad++ == 0) first_bad = i;
  }
  ok &= guest::check(bad == 0, "merge-contents-after-merge", "{} bad words, first in page {}", bad, first_bad);

  // Writes into merged pages (copy on write) and zero pages (populated again): one word in every
  // other page of each kind, then everything checked again.
  // First the merged pages of the across kind alone, timed: each write is a copy-on-write break
  // (an EPT violation, a frame, a 4 KiB copy, a remap, an INVEPT), so in Bochs the TSC delta per
  // page is the instruction cost of one break as the guest sees it.
  const u64 breaks_before = g_stats.cow_breaks;
  u64 timed = 0;
  const u64 t0 = guest::rdtsc();
  for (u64 i = 0; i < count; i += 2) {
    if (kind_of(i) != Kind::across) continue;
    reinterpret_cast<volatile u64*>((first + i) * hv::page_size_4k)[i % 512] = 0xC0DE'0000'0000'0000ull | i;
    ++timed;
  }
  const u64 t1 = guest::rdtsc();
  (void)read_stats();
  guest::print("mergetest: vm {}: {} writes to merged pages ({} copy-on-write breaks) in {} TSC ticks: {} per write",
               info->vm_id, timed, g_stats.cow_breaks - breaks_before, t1 - t0, timed ? (t1 - t0) / timed : 0);
  for (u64 i = 0; i < count; i += 2) {
    if (kind_of(i) == Kind::across) continue;
    auto* p = reinterpret_cast<volatile u64*>((first + i) * hv::page_size_4k);
    p[i % 512] = 0xC0DE'0000'0000'0000ull | i;
  }
  bad = 0;
  for (u64 i = 0; i < count; ++i) {
    auto* p = reinterpret_cast<volatile u64*>((first + i) * hv::page_size_4k);
    const u64 seed = seed_of(i, info->vm_id);
    for (u64 w = 0; w < 512; w += 7) {
      const u64 want = (i % 2 == 0 && w == i % 512) ? (0xC0DE'0000'0000'0000ull | i) : word(seed, w);
      if (p[w] != want && bad++ == 0) first_bad = i;
    }
    if (i % 2 == 0 && p[i % 512] != (0xC0DE'0000'0000'0000ull | i) && bad++ == 0) first_bad = i;
  }
  (void)read_stats();
  ok &= guest::check(bad == 0, "merge-contents-after-writes", "{} bad words, first in page {}", bad, first_bad);
  ok &= guest::check(g_stats.cow_breaks > breaks_before, "merge-cow-breaks", "{}", g_stats.cow_breaks - breaks_before);
  guest::print("mergetest: vm {}: {} copy-on-write breaks, {} pages still merged", info->vm_id,
               g_stats.cow_breaks - breaks_before, g_stats.merging_pages);
  return ok ? 0 : 1;
}
