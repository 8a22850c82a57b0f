// mm/balloon_abi.hpp - what a guest's balloon driver hands hv, byte for byte: the GFN ranges of
// BALLOON_INFLATE / BALLOON_DEFLATE / FREE_PAGE_REPORT and the statistics of BALLOON_STATS
// (docs/balloon.md, docs/hypercalls.md). Plain types only: test guests include it too.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

// One run of guest pages: `pages` 4 KiB pages from guest frame number `gfn`. A 2 MiB run is one
// entry (gfn 512-aligned, pages 512), so ranges cost per entry, not per page.
struct Balloon_range {
  u64 gfn;
  u64 pages;
};
static_assert(sizeof(Balloon_range) == 16);

// Entries one call may carry (a 4 KiB list). Longer lists are -E2BIG: split them.
inline constexpr u32 balloon_list_max = 256;
// Statistics one BALLOON_STATS call may carry.
inline constexpr u32 balloon_stats_max = 16;

// virtio-balloon's statistics tags (virtio 1.2, 5.5.6.3) with their meanings; values in bytes
// for the memory tags, in events for the fault and swap tags.
namespace balloon_tag {
inline constexpr u16 swap_in = 0;      // VIRTIO_BALLOON_S_SWAP_IN: pages swapped in (bytes)
inline constexpr u16 swap_out = 1;     // VIRTIO_BALLOON_S_SWAP_OUT
inline constexpr u16 major_faults = 2; // VIRTIO_BALLOON_S_MAJFLT
inline constexpr u16 minor_faults = 3; // VIRTIO_BALLOON_S_MINFLT
inline constexpr u16 free_memory = 4;  // VIRTIO_BALLOON_S_MEMFREE: memory the guest does not use (bytes)
inline constexpr u16 total_memory = 5; // VIRTIO_BALLOON_S_MEMTOT: memory the guest has (bytes)
inline constexpr u16 available = 6;    // VIRTIO_BALLOON_S_AVAIL: what it could give without swapping (bytes)
inline constexpr u16 caches = 7;       // VIRTIO_BALLOON_S_CACHES: disk caches it could drop (bytes)
inline constexpr u16 hugetlb_allocations = 8;  // VIRTIO_BALLOON_S_HTLB_PGALLOC
inline constexpr u16 hugetlb_failures = 9;     // VIRTIO_BALLOON_S_HTLB_PGFAIL
inline constexpr u16 count = 10;               // tags known; others are ignored, as virtio says
} // namespace balloon_tag
[[nodiscard]] const char* balloon_tag_name(u16 tag);

// What BALLOON_INFO writes at the guest's buffer (8-byte aligned, 64 bytes, inside RAM). Sizes in
// 4 KiB pages, virtio-balloon's meaning: the balloon is the memory the guest has handed back.
struct Balloon_info_guest {
  u64 target_pages;    // how many pages the host asks the balloon to hold (virtio's num_pages)
  u64 actual_pages;    // how many it holds now (virtio's actual)
  u64 memory_pages;    // the VM's maximum (its configured memory)
  u64 floor_pages;     // the host never asks the guest to keep fewer than this
  u64 touched_pages;   // ballooned pages the guest touched (and got back) so far: a driver bug
  u64 target_changes;  // counter: grows each time the target changes (poll it to notice)
  u64 reserved[2];
};
static_assert(sizeof(Balloon_info_guest) == 64);

// One statistic, virtio's packed layout: le16 tag, le64 value (10 bytes).
struct [[gnu::packed]] Balloon_stat {
  u16 tag;
  u64 value;
};
static_assert(sizeof(Balloon_stat) == 10);

} // namespace hv
