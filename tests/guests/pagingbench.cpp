// tests/guests/pagingbench.cpp - the cost of the guest's own paging, in TSC ticks (in Bochs the
// TSC counts emulated instructions, hv's included: docs/performance.md). The figures that shadow
// paging changes most, on the guest's own page tables (two address spaces, identity map copied
// from the loader's, test mappings at 0x0000_4000_0000_0000):
//   cr3-switch        MOV CR3 between the two spaces, per switch
//   pte-write         write a PTE of the active space + INVLPG + a read through it, per iteration
//   fresh-first-touch one write to each of 1024 never-touched frames behind fresh 4 KiB PTEs
//   stream-4k-*       memtest-like: write then verify one word per 64 bytes of 32 MiB through
//                     4 KiB PTEs (first pass: the frames' first touch; second pass: warm)
//   stream-identity   the same 32 MiB through the loader's 2 MiB identity map (warm)
// Needs memory >= 40 MiB.
#include "arch/x86/page_table_entry.hpp"
#include "guests/runtime/guest.hpp"

namespace pte = hv::x86::pte;

namespace {

constexpr u64 switches = 1000;        // round trips A -> B -> A
constexpr u64 pte_iterations = 1000;
constexpr u64 fresh_pages = 1024;
constexpr u64 stream_pages = 32 * hv::MiB / hv::page_size_4k;
constexpr u64 fresh_va = 0x0000'4000'0000'0000ull;
constexpr u64 stream_va = 0x0000'4000'4000'0000ull;
constexpr u64 pte_va = 0x0000'4000'8000'0000ull;
constexpr u64 flags = pte::P | pte::RW | pte::US;

u64 g_next_frame;
u64 alloc_frame() {
  const u64 f = g_next_frame;
  g_next_frame += hv::page_size_4k;
  auto* p = reinterpret_cast<volatile u64*>(f);
  for (int i = 0; i < 512; ++i) p[i] = 0;
  return f;
}
volatile u64* table(u64 entry) { return reinterpret_cast<volatile u64*>(entry & pte::address_mask); }
// The PTE for `va` under `pml4`, creating missing tables.
volatile u64* pte_of(u64 pml4, u64 va) {
  volatile u64* t = table(pml4);
  for (unsigned l = 4; l > 1; --l) {
    volatile u64& e = t[pte::index(va, l)];
    if (!(e & pte::P)) e = alloc_frame() | flags;
    t = table(e);
  }
  return &t[pte::index(va, 1)];
}
u64 read(u64 va) { return *reinterpret_cast<volatile u64*>(va); }
void write(u64 va, u64 v) { *reinterpret_cast<volatile u64*>(va) = v; }
u64 pattern(u64 page, u64 word) { return (page * 0x9E3779B97F4A7C15ull) ^ (word * 0xBF58476D1CE4E5B9ull) ^ 0x5A5A5A5A5A5A5A5Aull; }

// Writes then verifies one word per 64 bytes of `pages` pages from `va`: ticks, and the count of
// wrong words in `bad`.
u64 stream(u64 va, u64 pages, u64 salt, u64& bad) {
  const u64 t0 = guest::rdtsc();
  for (u64 p = 0; p < pages; ++p)
    for (u64 w = 0; w < 512; w += 8) write(va + p * hv::page_size_4k + w * 8, pattern(p + salt, w));
  for (u64 p = 0; p < pages; ++p)
    for (u64 w = 0; w < 512; w += 8) bad += read(va + p * hv::page_size_4k + w * 8) != pattern(p + salt, w);
  return guest::rdtsc() - t0;
}

} // namespace

extern "C" u32 guest_main(const hv::Boot_info* info) {
  g_next_frame = (info->free_start + hv::page_size_4k - 1) & ~(hv::page_size_4k - 1);
  // Two spaces sharing a copy of the loader's identity map; each has its own slot 128.
  const u64 loader_cr3 = guest::read_cr3();
  const u64 A = alloc_frame(), B = alloc_frame(), id_pdpt = alloc_frame();
  volatile u64* loader_pdpt = table(table(loader_cr3)[0]);
  for (unsigned g = 0; g < 512; ++g) {
    if (!(loader_pdpt[g] & pte::P)) continue;
    const u64 pd = alloc_frame();
    for (unsigned i = 0; i < 512; ++i) table(pd)[i] = table(loader_pdpt[g])[i];
    table(id_pdpt)[g] = pd | flags;
  }
  table(A)[0] = id_pdpt | flags;
  table(B)[0] = id_pdpt | flags;
  const u64 tag_a = alloc_frame(), tag_b = alloc_frame();
  write(tag_a, 0xAAAA);
  write(tag_b, 0xBBBB);
  *pte_of(A, pte_va) = tag_a | flags;
  *pte_of(B, pte_va) = tag_b | flags;
  // Every table first, so that the frames after them are never touched before they are timed.
  for (u64 p = 0; p < fresh_pages; p += 512) (void)pte_of(A, fresh_va + p * hv::page_size_4k);
  for (u64 p = 0; p < stream_pages; p += 512) (void)pte_of(A, stream_va + p * hv::page_size_4k);
  const u64 fresh = (g_next_frame + hv::page_size_2m - 1) & ~(hv::page_size_2m - 1);
  const u64 streamed = fresh + fresh_pages * hv::page_size_4k;
  if (!guest::check(streamed + stream_pages * hv::page_size_4k <= info->memory_bytes, "pagingbench-memory",
                    "needs {} MiB", (streamed + stream_pages * hv::page_size_4k) / hv::MiB))
    return 1;
  for (u64 p = 0; p < fresh_pages; ++p) *pte_of(A, fresh_va + p * hv::page_size_4k) = (fresh + p * hv::page_size_4k) | flags;
  for (u64 p = 0; p < stream_pages; ++p)
    *pte_of(A, stream_va + p * hv::page_size_4k) = (streamed + p * hv::page_size_4k) | flags;
  guest::write_cr3(A);
  guest::write_cr3(B);
  const bool spaces_ok = read(pte_va) == 0xBBBB;
  guest::write_cr3(A);

  // (a) MOV CR3 A -> B -> A.
  u64 t0 = guest::rdtsc();
  for (u64 i = 0; i < switches; ++i) {
    guest::write_cr3(B);
    guest::write_cr3(A);
  }
  const u64 cr3_switch = (guest::rdtsc() - t0) / (2 * switches);

  // (b) A PTE of the active space alternates between two frames: write, INVLPG, read.
  volatile u64* p = pte_of(A, pte_va);
  u64 sum = 0;
  t0 = guest::rdtsc();
  for (u64 i = 0; i < pte_iterations; ++i) {
    *p = ((i & 1) ? tag_b : tag_a) | flags;
    guest::invlpg(pte_va);
    sum += read(pte_va);
  }
  const u64 pte_write = (guest::rdtsc() - t0) / pte_iterations;
  const bool pte_ok = sum == (pte_iterations / 2) * (0xAAAA + 0xBBBB);

  // (c) One write to each never-touched frame.
  t0 = guest::rdtsc();
  for (u64 i = 0; i < fresh_pages; ++i) write(fresh_va + i * hv::page_size_4k + 8 * (i % 512), i + 1);
  const u64 fresh_touch = (guest::rdtsc() - t0) / fresh_pages;
  u64 bad = 0;
  for (u64 i = 0; i < fresh_pages; ++i) bad += read(fresh + i * hv::page_size_4k + 8 * (i % 512)) != i + 1;

  // (d) Streaming 32 MiB: through 4 KiB PTEs twice (first touch, then warm), then through the
  // identity map's 2 MiB pages.
  const u64 stream_first = stream(stream_va, stream_pages, 0, bad);
  const u64 stream_again = stream(stream_va, stream_pages, 1, bad);
  const u64 stream_identity = stream(streamed, stream_pages, 2, bad);
  guest::write_cr3(loader_cr3);

  guest::print("pagingbench: cr3-switch {} ticks per MOV CR3 ({} switches between two spaces)", cr3_switch,
               2 * switches);
  guest::print("pagingbench: pte-write {} ticks per PTE write + INVLPG + read ({} iterations)", pte_write,
               pte_iterations);
  guest::print("pagingbench: fresh-first-touch {} ticks per page ({} fresh 4 KiB pages)", fresh_touch, fresh_pages);
  guest::print("pagingbench: stream-4k-first {} ticks, {} per page ({} pages, 32 MiB)", stream_first,
               stream_first / stream_pages, stream_pages);
  guest::print("pagingbench: stream-4k-again {} ticks, {} per page", stream_again, stream_again / stream_pages);
  guest::print("pagingbench: stream-identity-2m {} ticks, {} per page", stream_identity, stream_identity / stream_pages);
  bool ok = guest::check(spaces_ok && pte_ok, "pagingbench-translations", "spaces {} pte {}", spaces_ok, pte_ok);
  ok &= guest::check(bad == 0, "pagingbench-data-verified", "{} wrong words", bad);
  ok &= guest::check(cr3_switch > 0 && pte_write > 0 && fresh_touch > 0 && stream_first > 0 && stream_again > 0 &&
                         stream_identity > 0,
                     "pagingbench-measured");
  return ok ? 0 : 1;
}
