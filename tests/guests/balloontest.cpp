// tests/guests/balloontest.cpp - the guest side of the balloon (docs/balloon.md, docs/hypercalls.md):
// a balloon driver that follows the host's target, and a hostile caller of the balloon hypercalls.
// Runs in the guest (VMX non-root), freestanding, identity-mapped, no interrupts (it polls).
//
// Memory: a table at the start of free memory holds, for every RAM page from `first` (the first
// 2 MiB boundary after the table) to the top of RAM, the generation of the pattern the page holds
// (0: it must read zero; `ballooned`: in the balloon, not ours; `untouched`: ours, not written
// yet). Each owned page is written with a pattern of its GFN and generation (and the VM, unless
// shared=1), so a page that lost its contents, got another page's or another VM's, or came back
// non-zero shows up on the next check.
//
// args (space separated):
//   mode=follow (default): the driver. Owns the pages from `first` up to the balloon (the balloon
//     is the top of RAM, [top, memory), as it is at start), writes them 1 MiB at a time (following
//     the target in between, so under host pressure its unwritten pages go first), reports a few
//     free pages (FREE_PAGE_REPORT) and checks they read zero, then polls BALLOON_INFO: inflates from the top
//     of what it owns while actual < target (2 MiB ranges where aligned, single 4 KiB pages
//     otherwise, at most 256 entries per call), deflates from the bottom of the balloon while
//     actual > target (and checks the pages come back zero, then writes them); after every inflate
//     and deflate call it checks every page it owns. It reports BALLOON_STATS after each change and
//     every few polls. Prints "balloon: following target T pages, actual A" when it reaches a new
//     target. Ends (exit 0 when every check passed) once target_changes has grown by `changes=N`
//     (default 0) since start and actual == target.
//     shared=1: the patterns leave the VM and the generation out, so the same pages of VMs running it are identical
//     (same-page merging can share them). hold=N: once there, go on following for N x 10^8 more
//     TSC ticks, checking every page every 16 polls, to stay alive beside another VM.
//   mode=bad: sends each kind of bad input to the balloon hypercalls once and checks the error code,
//     that actual_pages did not change, and that every owned page still holds its pattern; then
//     valid calls, and a touch of a ballooned page (it comes back zero, actual drops by 1,
//     touched_pages grows by 1). Needs a balloon of at least 1536 pages at start (memory_current).
#include "guests/runtime/guest.hpp"
#include "devices/hypercall.hpp"
#include "mm/balloon_abi.hpp"
#include <initializer_list>

namespace {
using hv::Balloon_range;
using hv::Balloon_stat;
namespace hc = hv::hc;
namespace tag = hv::balloon_tag;

constexpr u64 pages_2m = hv::page_size_2m / hv::page_size_4k;
constexpr u32 ballooned = 0xFFFF'FFFFu;     // table value: in the balloon
constexpr u32 untouched = 0xFFFF'FFFEu;     // table value: ours, never written (not checked: reading populates)
constexpr u32 gen_max = 0xFFFF'FF00u;
constexpr u64 word_step = 0xD6E8FEB86659FD93ull;  // odd: the 512 words of a page all differ
constexpr u64 deadline_ticks = 100'000'000'000ull;  // follow mode gives up (a FAIL) after this many TSC ticks
constexpr u64 hold_ticks = 100'000'000ull;           // hold=N: N of these

// ---- arguments ----
const char* find_arg(const char* args, const char* key) {
  for (const char* a = args; *a; ++a) {
    if (a != args && a[-1] != ' ') continue;
    const char* k = key;
    const char* p = a;
    while (*k && *p == *k) ++k, ++p;
    if (!*k && *p == '=') return p + 1;
  }
  return nullptr;
}
u64 arg_number(const char* args, const char* key, u64 fallback) {
  const char* v = find_arg(args, key);
  if (!v || *v < '0' || *v > '9') return fallback;
  u64 n = 0;
  for (; *v >= '0' && *v <= '9'; ++v) n = n * 10 + static_cast<u64>(*v - '0');
  return n;
}
bool arg_is(const char* args, const char* key, const char* value) {
  const char* v = find_arg(args, key);
  if (!v) return false;
  while (*value && *v == *value) ++v, ++value;
  return !*value && (*v == 0 || *v == ' ');
}

// ---- pages and their patterns ----
u64 g_mem = 0;          // pages of RAM
u64 g_first = 0;        // first page of the table's range (2 MiB aligned)
u32* g_gen = nullptr;   // per page from g_first
u32 g_next_gen = 1;
u64 g_salt = 0;
u64 g_fills = 0;        // pages written with a fresh pattern (the minor faults we report)
u64 g_nonzero = 0;      // fresh, deflated or reported pages that did not read zero
u64 g_bad_pages = 0;    // checksum mismatches over all checks
u64 g_checks = 0;       // passes over every owned page

alignas(64) hv::Balloon_info_guest g_info;
alignas(64) Balloon_range g_list[hv::balloon_list_max + 16];
alignas(64) Balloon_stat g_stat[hv::balloon_stats_max + 4];

volatile u64* page_at(u64 gfn) { return reinterpret_cast<volatile u64*>(gfn * hv::page_size_4k); }
u32& gen_of(u64 gfn) { return g_gen[gfn - g_first]; }

u64 base_of(u64 gfn, u32 gen) {
  u64 x = (gfn + 1) * 0x9E3779B97F4A7C15ull ^ (u64{gen} << 40) ^ g_salt;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return x;
}

void fill(u64 gfn) {
  // shared=1: every fill of a GFN writes the same pattern in every VM (generation 1), so that the
  // merger can share them; a deflated page is still checked to read zero before it is written.
  const u32 gen = g_salt == 0 ? 1 : g_next_gen;
  if (g_salt != 0) g_next_gen = g_next_gen + 1 >= gen_max ? 1 : g_next_gen + 1;
  volatile u64* p = page_at(gfn);
  u64 v = base_of(gfn, gen);
  for (u64 w = 0; w < 512; ++w, v += word_step) p[w] = v;
  gen_of(gfn) = gen;
  ++g_fills;
}

// The first word of the page that differs from what it should hold, or 512.
u64 first_bad_word(u64 gfn, u32 gen, u64& read, u64& want) {
  volatile u64* p = page_at(gfn);
  u64 v = gen ? base_of(gfn, gen) : 0;
  const u64 step = gen ? word_step : 0;
  for (u64 w = 0; w < 512; ++w, v += step) {
    const u64 r = p[w];
    if (r != v) {
      read = r;
      want = v;
      return w;
    }
  }
  return 512;
}

bool reads_zero(u64 gfn) {
  volatile u64* p = page_at(gfn);
  for (u64 w = 0; w < 512; ++w)
    if (p[w] != 0) return false;
  return true;
}

// Checks every owned page below `limit`; prints a "not ok" line for the first mismatch.
u64 check_pages(std::string_view when, u64 limit) {
  u64 bad = 0;
  for (u64 gfn = g_first; gfn < limit; ++gfn) {
    const u32 gen = gen_of(gfn);
    if (gen == ballooned || gen == untouched) continue;
    u64 read = 0, want = 0;
    const u64 w = first_bad_word(gfn, gen, read, want);
    if (w == 512) continue;
    if (bad++ == 0)
      guest::check(false, "balloon-checksum", "after {}: page {:#x} word {}: read {:#x}, want {:#x}", when, gfn, w,
                   read, want);
  }
  ++g_checks;
  g_bad_pages += bad;
  return bad;
}

// ---- hypercalls ----
bool info() { return guest::hypercall(hc::BALLOON_INFO, reinterpret_cast<u64>(&g_info)) == 0; }
i64 list_call(u64 nr, u64 entries) { return guest::hypercall(nr, reinterpret_cast<u64>(g_list), entries); }

u64 g_stats_calls = 0, g_stats_failed = 0;
void report_stats(u64 owned, u64 zero_pages) {
  const u64 kept = g_mem - g_info.actual_pages;
  const Balloon_stat s[] = {
      {tag::free_memory, zero_pages * hv::page_size_4k},
      {tag::total_memory, kept * hv::page_size_4k},
      {tag::available, owned * hv::page_size_4k},
      {tag::minor_faults, g_fills},
      {tag::major_faults, 0},
  };
  u64 n = 0;
  for (const Balloon_stat& x : s) g_stat[n++] = x;
  ++g_stats_calls;
  if (guest::hypercall(hc::BALLOON_STATS, reinterpret_cast<u64>(g_stat), n) != 0) ++g_stats_failed;
}

void pause_a_while() {
  for (int k = 0; k < 20000; ++k) asm volatile("pause");
}

// ================= mode=follow: the driver =================
struct Follow {
  u64 top = 0;  // the balloon is [top, g_mem)
  u64 changes_wanted = 0;
  u64 hold = 0;
  bool failed = false;
  u64 mismatched_accounting = 0;
  u64 inflate_calls = 0, inflated = 0, deflate_calls = 0, deflated = 0, short_calls = 0;
  u64 range_ticks = 0, range_pages = 0, page_ticks = 0, page_pages = 0;  // inflate cost
  bool unreachable_said = false;

  u64 owned() const { return top - g_first; }
  u64 zero_pages() const {
    u64 n = 0;
    for (u64 g = g_first; g < top; ++g) n += gen_of(g) == 0 ? 1 : 0;
    return n;
  }

  // How many pages of the entries' prefix make `pages`; false when no prefix does.
  static bool prefix_entries(u64 entries, u64 pages, u64& n) {
    u64 sum = 0;
    for (n = 0; n < entries && sum < pages; ++n) sum += g_list[n].pages;
    return sum == pages;
  }

  bool bad_result(std::string_view what, i64 rc) {
    failed = true;
    return guest::check(false, "balloon-follow", "{} returned {}", what, rc);
  }

  // Inflates `want` pages from the top of what it owns; false when nothing moved (retry later).
  bool inflate(u64 want) {
    if (want > owned()) {
      if (!unreachable_said) guest::check(false, "balloon-target-reachable", "{} pages wanted, {} owned", want, owned());
      unreachable_said = failed = true;
      want = owned();
    }
    bool moved = false;
    while (want > 0) {
      u64 n = 0, total = 0, c = top;
      bool all_ranges = true;
      while (total < want && n < hv::balloon_list_max) {
        const u64 p = (c % pages_2m == 0 && want - total >= pages_2m && c - pages_2m >= g_first) ? pages_2m : 1;
        all_ranges &= p == pages_2m;
        c -= p;
        g_list[n++] = {c, p};
        total += p;
      }
      const u64 t0 = guest::rdtsc();
      const i64 rc = list_call(hc::BALLOON_INFLATE, n);
      const u64 t1 = guest::rdtsc();
      ++inflate_calls;
      if (rc == hv::HC_ENOMEM || rc == hv::HC_ENOSPC) return moved;  // host short, or the target moved
      u64 done = 0;
      if (rc <= 0 || !prefix_entries(n, static_cast<u64>(rc), done)) return bad_result("BALLOON_INFLATE", rc);
      for (u64 e = 0; e < done; ++e)
        for (u64 g = g_list[e].gfn; g < g_list[e].gfn + g_list[e].pages; ++g) gen_of(g) = ballooned;
      top -= static_cast<u64>(rc);
      inflated += static_cast<u64>(rc);
      want -= static_cast<u64>(rc);
      moved = true;
      (all_ranges ? range_ticks : page_ticks) += t1 - t0;
      (all_ranges ? range_pages : page_pages) += static_cast<u64>(rc);
      check_pages("inflate", top);
      if (done < n) {
        ++short_calls;
        return moved;
      }
    }
    return moved;
  }

  // Deflates `want` pages from the bottom of the balloon, checks they read zero, writes them.
  bool deflate(u64 want) {
    bool moved = false;
    while (want > 0) {
      u64 n = 0, total = 0, c = top;
      while (total < want && n < hv::balloon_list_max) {
        const u64 p = (c % pages_2m == 0 && want - total >= pages_2m) ? pages_2m : 1;
        g_list[n++] = {c, p};
        c += p;
        total += p;
      }
      const i64 rc = list_call(hc::BALLOON_DEFLATE, n);
      ++deflate_calls;
      u64 done = 0;
      if (rc <= 0 || !prefix_entries(n, static_cast<u64>(rc), done)) return bad_result("BALLOON_DEFLATE", rc);
      const u64 back = static_cast<u64>(rc);
      for (u64 g = top; g < top + back; ++g) {
        if (!reads_zero(g) && g_nonzero++ == 0)
          guest::check(false, "balloon-deflated-zero", "page {:#x} came back not zero", g);
        fill(g);
      }
      top += back;
      deflated += back;
      want -= back;
      moved = true;
      check_pages("deflate", top);
      if (done < n) return moved;
    }
    return moved;
  }

  // FREE_PAGE_REPORT on five of its pages (a run of 3 and two single pages): they stay ours and
  // must read zero afterwards, without the balloon changing. Under host shortage the call may take
  // a prefix of the entries, or none (-ENOMEM), as inflate does: then it is tried again at the next
  // poll (the check line comes once, when it went through or at the end).
  bool fpr_done = false;
  u64 fpr_refused = 0;
  bool free_page_report(bool last_try) {
    if (fpr_done) return true;
    if (!info()) return bad_result("BALLOON_INFO", -1);
    const u64 before = g_info.actual_pages;
    g_list[0] = {g_first + 1, 3};
    g_list[1] = {g_first + 6, 1};
    g_list[2] = {g_first + 9, 1};
    const i64 rc = list_call(hc::FREE_PAGE_REPORT, 3);
    if (rc == hv::HC_ENOMEM) {
      ++fpr_refused;
      if (!last_try) return true;
      fpr_done = true;
      guest::print("balloontest: free page report refused {} times: the host was short of memory throughout", fpr_refused);
      return guest::check(true, "balloon-free-page-report");
    }
    fpr_done = true;
    u64 done = 0;
    const bool prefix = rc > 0 && prefix_entries(3, static_cast<u64>(rc), done);
    bool zero = true;
    for (u64 e = 0; e < done; ++e)
      for (u64 g = g_list[e].gfn; g < g_list[e].gfn + g_list[e].pages; ++g) {
        zero &= reads_zero(g);
        gen_of(g) = 0;
      }
    const bool same = info() && g_info.actual_pages == before;
    if (fpr_refused || (prefix && done < 3))
      guest::print("balloontest: free page report took {} of 5 pages after {} refusals for lack of host memory", rc,
                   fpr_refused);
    return guest::check(prefix && zero && same, "balloon-free-page-report",
                        "rc {} (want 5 or a prefix of the entries), zero {}, actual {} (was {})", rc, zero,
                        g_info.actual_pages, before);
  }

  // One poll: BALLOON_INFO, then one inflate or deflate towards the target. True when pages moved.
  bool step() {
    if (!info()) return bad_result("BALLOON_INFO", -1);
    if (g_info.actual_pages != g_mem - top && mismatched_accounting++ == 0)
      guest::check(false, "balloon-accounting", "hv says actual {}, the driver holds {} in the balloon",
                   g_info.actual_pages, g_mem - top);
    const u64 target = g_info.target_pages, actual = g_mem - top;
    bool moved = false;
    if (actual < target) moved = inflate(target - actual);
    else if (actual > target) moved = deflate(actual - target);
    if (moved) {
      (void)info();
      report_stats(owned(), zero_pages());
    }
    return moved;
  }

  u32 run(const hv::Boot_info* info_block) {
    if (!info()) return guest::check(false, "balloon-info", "BALLOON_INFO failed"), 1;
    const u64 changes0 = g_info.target_changes;
    top = g_mem - g_info.actual_pages;
    if (top <= g_first + 64) return guest::check(false, "balloon-room", "the balloon starts at page {:#x}", top), 1;
    guest::print("balloontest: vm {}: follow: {} pages owned from {:#x}, balloon {} pages (target {}), floor {}, "
                 "waiting for {} target changes",
                 info_block->vm_id, owned(), g_first * hv::page_size_4k, g_info.actual_pages, g_info.target_pages,
                 g_info.floor_pages, changes_wanted);
    for (u64 g = g_first; g < top; ++g) gen_of(g) = untouched;
    for (u64 g = top; g < g_mem; ++g) gen_of(g) = ballooned;
    // Write the pages from the bottom, 1 MiB at a time, following the target in between as a
    // driver beside a workload would: under host pressure (auto_balloon) the pages not written
    // yet go into the balloon first, and the VM stops growing before the host runs dry.
    for (u64 cursor = g_first; cursor < top && !failed;) {
      const u64 end = cursor + 256 < top ? cursor + 256 : top;
      for (u64 g = cursor; g < end; ++g) {
        if (gen_of(g) != untouched) continue;
        if (!reads_zero(g) && g_nonzero++ == 0) guest::check(false, "balloon-fresh-zero", "page {:#x} not zero", g);
        fill(g);
      }
      cursor = end;
      (void)step();
    }
    check_pages("writing", top);
    report_stats(owned(), 0);
    bool ok = free_page_report(false);
    check_pages("free page report", top);

    u64 last_target = ~0ull, polls = 0, holds = 0, hold_until = 0;
    const u64 deadline = guest::rdtsc() + deadline_ticks + hold * hold_ticks;
    bool reached = false;
    while (!failed) {
      ok &= free_page_report(false);
      if (step()) continue;
      if (failed) break;
      const u64 target = g_info.target_pages, actual = g_mem - top;
      if (actual == target) {
        if (target != last_target) {
          guest::print("balloon: following target {} pages, actual {} ({} MiB kept of {})", target, actual,
                       (g_mem - actual) * hv::page_size_4k / hv::MiB, g_mem * hv::page_size_4k / hv::MiB);
          last_target = target;
          report_stats(owned(), zero_pages());
        }
        if (g_info.target_changes - changes0 >= changes_wanted) {
          if (hold_until == 0) hold_until = guest::rdtsc() + hold * hold_ticks;
          if (guest::rdtsc() >= hold_until) {
            reached = true;
            break;
          }
          if (++holds % 16 == 0) check_pages("holding", top);
        }
      }
      if (guest::rdtsc() > deadline) break;
      if (++polls % 16 == 0) report_stats(owned(), zero_pages());
      pause_a_while();
    }
    ok &= free_page_report(true);
    check_pages("the end", top);
    (void)info();
    guest::print("balloontest: vm {}: inflated {} pages in {} calls ({} short), deflated {} in {}; {} checks of every page",
                 info_block->vm_id, inflated, inflate_calls, short_calls, deflated, deflate_calls, g_checks);
    if (inflated)
      guest::print("balloontest: vm {}: TSC ticks per page inflated: {} in 2 MiB ranges ({} pages), {} as 4 KiB pages ({})",
                   info_block->vm_id, range_pages ? range_ticks / range_pages : 0, range_pages,
                   page_pages ? page_ticks / page_pages : 0, page_pages);
    ok &= guest::check(reached, "balloon-follow", "target_changes grew by {} of {}; target {}, actual {}",
                       g_info.target_changes - changes0, changes_wanted, g_info.target_pages, g_mem - top);
    ok &= guest::check(g_bad_pages == 0, "balloon-checksums", "{} bad pages in {} checks", g_bad_pages, g_checks);
    ok &= guest::check(g_nonzero == 0, "balloon-zero-pages", "{} fresh or deflated pages not zero", g_nonzero);
    ok &= guest::check(g_info.touched_pages == 0, "balloon-no-touch", "touched_pages {}", g_info.touched_pages);
    ok &= guest::check(mismatched_accounting == 0, "balloon-accounting-agrees", "{} polls disagreed",
                       mismatched_accounting);
    ok &= guest::check(g_stats_calls > 0 && g_stats_failed == 0, "balloon-stats", "{} of {} BALLOON_STATS calls failed",
                       g_stats_failed, g_stats_calls);
    return ok && !failed ? 0 : 1;
  }
};

// ================= mode=bad: hostile input =================
struct Bad {
  u64 top = 0;      // lowest page of the balloon as it was at start (pages above it: ballooned)
  u64 owned_end = 0;  // pages [g_first, owned_end) are ours (some ballooned again by the valid calls)
  u64 actual = 0;   // what BALLOON_INFO must say
  u64 touched = 0;
  u32 passed = 0, failed = 0;

  // After one bad call: its result, the balloon unchanged, every owned page intact.
  void expect(std::string_view name, i64 rc, i64 want) {
    const bool got_info = info();
    const u64 bad = check_pages(name, g_mem);
    const bool ok = guest::check(rc == want && got_info && g_info.actual_pages == actual &&
                                     g_info.touched_pages == touched && bad == 0,
                                 name, "rc {} (want {}), actual {} (want {}), touched {} (want {}), {} bad pages", rc,
                                 want, g_info.actual_pages, actual, g_info.touched_pages, touched, bad);
    (ok ? passed : failed) += 1;
  }
  i64 call(u64 nr, std::initializer_list<Balloon_range> list) {
    u64 n = 0;
    for (const Balloon_range& r : list) g_list[n++] = r;
    return list_call(nr, n);
  }

  u32 run(const hv::Boot_info* info_block) {
    const u64 ram = info_block->memory_bytes;
    if (!guest::check(info(), "balloon-info")) return 1;
    if (!guest::check(g_info.actual_pages >= 1536 && g_info.actual_pages == g_info.target_pages, "balloon-bad-start",
                      "balloon {} pages, target {} (want >= 1536, equal)", g_info.actual_pages, g_info.target_pages))
      return 1;
    top = g_mem - g_info.actual_pages;
    for (u64 g = top; g < g_mem; ++g) gen_of(g) = ballooned;
    // Deflate below the target first (as on OOM): 1024 pages at the bottom of the balloon, so the
    // balloon has room for them and the bad lists below fail on what they are, not on the target.
    const i64 rc0 = call(hc::BALLOON_DEFLATE, {{top, 2 * pages_2m}});
    (void)info();
    if (!guest::check(rc0 == 2 * pages_2m && g_info.actual_pages == g_mem - top - 2 * pages_2m,
                      "balloon-deflate-below-target", "rc {}, actual {}", rc0, g_info.actual_pages))
      return 1;
    for (u64 g = top; g < top + 2 * pages_2m; ++g) gen_of(g) = 0;
    owned_end = top + 2 * pages_2m;
    top = owned_end;
    actual = g_info.actual_pages;
    touched = g_info.touched_pages;
    const u64 room = g_info.target_pages - actual;
    guest::print("balloontest: vm {}: bad: {} pages owned from {:#x}, balloon {} pages from {:#x}, room {}",
                 info_block->vm_id, owned_end - g_first, g_first * hv::page_size_4k, actual, top * hv::page_size_4k, room);
    for (u64 g = g_first; g < owned_end; ++g) {
      if (!reads_zero(g)) ++g_nonzero;
      fill(g);
    }
    guest::check(g_nonzero == 0, "balloon-fresh-and-deflated-zero", "{} pages not zero", g_nonzero);

    const u64 g = g_first + 16;          // an owned page, well inside
    const u64 list_gpa = reinterpret_cast<u64>(g_list);
    const u64 B = top;                   // the lowest ballooned page
    g_list[0] = {g, 1};
    g_list[1] = {g + 1, 1};
    // The list buffer.
    expect("balloon-bad-list-outside-ram", guest::hypercall(hc::BALLOON_INFLATE, ram, 1), hv::HC_EFAULT);
    expect("balloon-bad-list-across-ram-end", guest::hypercall(hc::BALLOON_INFLATE, ram - 8, 1), hv::HC_EFAULT);
    expect("balloon-bad-list-unaligned", guest::hypercall(hc::BALLOON_INFLATE, list_gpa + 4, 1), hv::HC_EFAULT);
    expect("balloon-bad-list-wraps", guest::hypercall(hc::BALLOON_INFLATE, ~0ull - 15, 2), hv::HC_EFAULT);
    expect("balloon-bad-deflate-list-outside-ram", guest::hypercall(hc::BALLOON_DEFLATE, ram, 1), hv::HC_EFAULT);
    // The entries.
    expect("balloon-bad-zero-entries", guest::hypercall(hc::BALLOON_INFLATE, list_gpa, 0), hv::HC_EINVAL);
    for (u64 i = 0; i < hv::balloon_list_max + 1; ++i) g_list[i] = {g + 2 * i, 1};
    expect("balloon-bad-257-entries", list_call(hc::BALLOON_INFLATE, hv::balloon_list_max + 1), hv::HC_E2BIG);
    expect("balloon-bad-overlap", call(hc::BALLOON_INFLATE, {{g, 4}, {g + 2, 4}}), hv::HC_EEXIST);
    expect("balloon-bad-duplicate", call(hc::BALLOON_INFLATE, {{g, 1}, {g + 10, 1}, {g, 1}}), hv::HC_EEXIST);
    expect("balloon-bad-gfn-overflow", call(hc::BALLOON_INFLATE, {{~0ull - 1, 4}}), hv::HC_EINVAL);
    expect("balloon-bad-pages-overflow", call(hc::BALLOON_INFLATE, {{g, ~0ull}}), hv::HC_EINVAL);
    expect("balloon-bad-gfn-outside-ram", call(hc::BALLOON_INFLATE, {{g, 1}, {g_mem, 1}}), hv::HC_EINVAL);
    expect("balloon-bad-zero-pages", call(hc::BALLOON_INFLATE, {{g, 1}, {g + 1, 0}}), hv::HC_EINVAL);
    expect("balloon-bad-already-ballooned", call(hc::BALLOON_INFLATE, {{B - 1, 2}}), hv::HC_EEXIST);
    expect("balloon-bad-beyond-target", call(hc::BALLOON_INFLATE, {{owned_end - room - 1, room + 1}}), hv::HC_ENOSPC);
    expect("balloon-bad-deflate-never-inflated", call(hc::BALLOON_DEFLATE, {{g, 1}}), hv::HC_ENOENT);
    expect("balloon-bad-deflate-partly-ballooned", call(hc::BALLOON_DEFLATE, {{B - 1, 2}}), hv::HC_ENOENT);
    expect("balloon-bad-deflate-duplicate", call(hc::BALLOON_DEFLATE, {{B + 8, 1}, {B + 8, 1}}), hv::HC_ENOENT);
    expect("balloon-bad-report-ballooned", call(hc::FREE_PAGE_REPORT, {{g, 1}, {B + 3, 1}}), hv::HC_EEXIST);
    // BALLOON_INFO and BALLOON_STATS buffers.
    expect("balloon-bad-info-unaligned",
           guest::hypercall(hc::BALLOON_INFO, reinterpret_cast<u64>(&g_info) + 4), hv::HC_EFAULT);
    expect("balloon-bad-info-outside-ram", guest::hypercall(hc::BALLOON_INFO, ram - 32), hv::HC_EFAULT);
    for (u64 i = 0; i < hv::balloon_stats_max + 1; ++i) g_stat[i] = {tag::free_memory, 4096};
    const u64 stats_gpa = reinterpret_cast<u64>(g_stat);
    expect("balloon-bad-stats-17", guest::hypercall(hc::BALLOON_STATS, stats_gpa, hv::balloon_stats_max + 1),
           hv::HC_E2BIG);
    expect("balloon-bad-stats-zero", guest::hypercall(hc::BALLOON_STATS, stats_gpa, 0), hv::HC_EINVAL);
    expect("balloon-bad-stats-outside-ram", guest::hypercall(hc::BALLOON_STATS, ram - 5, 1), hv::HC_EFAULT);
    g_stat[0] = {tag::free_memory, 4096};
    g_stat[1] = {77, 1};
    g_stat[2] = {0xFFFF, 2};
    g_stat[3] = {tag::count, 3};
    g_stat[4] = {tag::total_memory, (g_mem - actual) * hv::page_size_4k};
    expect("balloon-stats-unknown-tags-accepted", guest::hypercall(hc::BALLOON_STATS, stats_gpa, 5), 0);

    // Valid calls: a 2 MiB range and scattered single pages in, then out again (zero), then a
    // free-page report.
    const u64 run = (owned_end - pages_2m) & ~(pages_2m - 1);  // a 2 MiB-aligned run of owned pages
    u64 n = 0;
    g_list[n++] = {run, pages_2m};
    for (u64 i = 0; i < 64; ++i) g_list[n++] = {g + 2 * i, 1};
    const u64 pages = pages_2m + 64;
    bool valid_ok = pages <= room && run >= g + 128;
    i64 rc = list_call(hc::BALLOON_INFLATE, n);
    for (u64 e = 0; e < n; ++e)
      for (u64 p = g_list[e].gfn; p < g_list[e].gfn + g_list[e].pages; ++p) gen_of(p) = ballooned;
    actual += pages;
    expect("balloon-inflate-range-and-pages", rc, static_cast<i64>(pages));
    rc = list_call(hc::BALLOON_DEFLATE, n);
    actual -= pages;
    u64 nonzero = 0;
    for (u64 e = 0; e < n; ++e)
      for (u64 p = g_list[e].gfn; p < g_list[e].gfn + g_list[e].pages; ++p) {
        nonzero += reads_zero(p) ? 0 : 1;
        gen_of(p) = 0;
      }
    valid_ok &= nonzero == 0;
    expect("balloon-deflate-range-and-pages", rc, static_cast<i64>(pages));
    rc = call(hc::FREE_PAGE_REPORT, {{g + 200, 3}, {g + 300, 1}});
    for (u64 p : {g + 200, g + 201, g + 202, g + 300}) gen_of(p) = 0;
    expect("balloon-free-page-report", rc, 4);
    valid_ok = guest::check(valid_ok, "balloon-valid-calls", "{} deflated pages not zero, room {}", nonzero, room) &&
               valid_ok;

    // A touch of a ballooned page: back on demand, zero, out of the balloon, counted.
    const u64 victim = g_mem - 1;
    const bool zero = reads_zero(victim);
    page_at(victim)[7] = 0x1234;
    const bool kept = page_at(victim)[7] == 0x1234;
    (void)info();
    const bool touch_ok = guest::check(zero && kept && g_info.actual_pages == actual - 1 &&
                                           g_info.touched_pages == touched + 1,
                                       "balloon-touch-ballooned-page",
                                       "zero {}, write kept {}, actual {} (want {}), touched {} (want {})", zero, kept,
                                       g_info.actual_pages, actual - 1, g_info.touched_pages, touched + 1);
    actual -= 1;
    touched += 1;
    expect("balloon-bad-deflate-touched-page", call(hc::BALLOON_DEFLATE, {{victim, 1}}), hv::HC_ENOENT);

    guest::print("balloontest: vm {}: bad: {} cases passed, {} failed", info_block->vm_id, passed, failed);
    return failed == 0 && touch_ok && valid_ok && g_nonzero == 0 ? 0 : 1;
  }
};

} // namespace

extern "C" u32 guest_main(const hv::Boot_info* info_block) {
  const char* args = info_block->args;
  if (!guest::check((guest::hypercall(hc::FEATURES) & static_cast<i64>(hv::hc_feature::BALLOON)) != 0,
                    "balloon-feature", "FEATURES has no BALLOON bit"))
    return 1;
  g_mem = info_block->memory_bytes / hv::page_size_4k;
  const u64 table = (info_block->free_start + hv::page_size_4k - 1) & ~(hv::page_size_4k - 1);
  g_gen = reinterpret_cast<u32*>(table);
  g_first = ((table + g_mem * sizeof(u32) + hv::page_size_2m - 1) & ~(hv::page_size_2m - 1)) / hv::page_size_4k;
  g_salt = arg_is(args, "shared", "1") ? 0 : u64{info_block->vm_id} * 0x94D049BB133111EBull;
  if (!guest::check(g_first + 64 < g_mem, "balloon-memory", "{} pages of RAM, the test starts at page {}", g_mem,
                    g_first))
    return 1;
  if (arg_is(args, "mode", "bad")) return Bad{}.run(info_block);
  if (find_arg(args, "mode") && !arg_is(args, "mode", "follow"))
    return guest::check(false, "balloon-args", "unknown mode in \"{}\"", args), 1;
  Follow f;
  f.changes_wanted = arg_number(args, "changes", 0);
  f.hold = arg_number(args, "hold", 0);
  return f.run(info_block);
}
