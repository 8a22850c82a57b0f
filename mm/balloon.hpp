// mm/balloon.hpp - one VM's balloon, as virtio-balloon and libvirt describe it. Both builds.
//
// The VM has a maximum (its configured `memory`) and a size the host wants it to keep (the target
// size: `memory_current` at start, `balloon VM MiB` in the monitor, lowered further by the
// auto-balloon policy under host memory pressure). The balloon is the difference: target_pages()
// is what the host asks the guest's driver to hand over (virtio's num_pages), actual_pages() what
// it has handed over (virtio's actual). The driver polls BALLOON_INFO for the target (there is no
// interrupt until the local APIC exists; docs/balloon.md) and answers with BALLOON_INFLATE and
// BALLOON_DEFLATE; the page work is Guest_memory's (balloon_inflate & co., guest_memory_balloon.cpp).
//
// The guest's side is untrusted: every list was copied out of guest memory before it gets here,
// and every entry is checked before anything changes (Guest_memory). Refusals are counted.
//
// Locking: one spin lock per balloon serialises the VM's balloon calls and the host's target
// changes. Order: this lock, then the VM's guest-memory lock (then Shared_pages').
#pragma once
#include "lib/spinlock.hpp"
#include "mm/balloon_abi.hpp"
#include "mm/guest_memory.hpp"
#include <span>
#include <string_view>

namespace hv {

// Balloon sizes are 4 KiB pages; the config file and the monitor speak MiB.
inline constexpr u64 balloon_pages_per_mib = MiB / page_size_4k;
[[nodiscard]] constexpr u64 pages_to_mib_up(u64 pages) { return (pages + balloon_pages_per_mib - 1) / balloon_pages_per_mib; }

// The smallest target size the host may set: 1/16 of the VM's memory, at least 4 MiB (never
// more than the memory itself). Below it a small guest cannot keep its kernel, tables and stack.
inline constexpr u64 balloon_floor_min_pages = 4 * MiB / page_size_4k;
[[nodiscard]] constexpr u64 balloon_floor_pages(u64 memory_pages) {
  const u64 f = memory_pages / 16 > balloon_floor_min_pages ? memory_pages / 16 : balloon_floor_min_pages;
  return f < memory_pages ? f : memory_pages;
}

enum class Balloon_set_status : u8 { ok, above_memory, below_floor };

// Counters of one balloon since the VM started (pages are 4 KiB pages).
struct Balloon_counters {
  u64 inflate_calls = 0;
  u64 deflate_calls = 0;
  u64 report_calls = 0;
  u64 stats_calls = 0;
  u64 refused_calls = 0;        // calls answered with an error
  u64 pages_inflated = 0;
  u64 pages_deflated = 0;
  u64 pages_reported = 0;       // FREE_PAGE_REPORT pages (backing given back, not in the balloon)
  u64 oom_deflated_pages = 0;   // deflated while the balloon held no more than the target: the
                                // guest ran short (VIRTIO_BALLOON_F_DEFLATE_ON_OOM)
  u64 target_changes = 0;
};

// What the monitor and the policy see of a balloon at one moment.
struct Balloon_view {
  u64 memory_pages = 0;      // maximum
  u64 floor_pages = 0;
  u64 size_pages = 0;        // the target size the operator set (memory_current, balloon VM MiB)
  u64 auto_limit_pages = 0;  // the policy's cap on the size (memory_pages: none)
  u64 target_pages = 0;      // balloon target: memory - min(size, auto limit)
  u64 actual_pages = 0;      // in the balloon now
  u64 touched_pages = 0;     // ballooned pages the guest touched anyway (got back on demand)
  bool driver = false;       // the guest has called a balloon hypercall since it started
  u64 stats[balloon_tag::count] = {};  // the guest's last BALLOON_STATS, by tag
  u16 stats_valid = 0;       // bit t: stats[t] was reported
  u64 stats_reports = 0;
  Balloon_counters counters;
};

class Balloon {
public:
  explicit Balloon(Guest_memory& memory) : memory_(memory) {}
  // The VM's name for the log (kept as a view: it must outlive the balloon).
  void set_name(std::string_view name) { name_ = name; }
  Balloon(const Balloon&) = delete;
  Balloon& operator=(const Balloon&) = delete;

  // At every (re)start of the VM: `memory_pages` maximum, `size_pages` the start size
  // (memory_current; clamped to [floor, memory]). Forgets the driver, its stats and the counters
  // (a balloon is per boot); the guest memory must be empty (just initialised).
  void start(u64 memory_pages, u64 size_pages);
  // Puts the pages above the start size into the balloon before the guest runs (libvirt's
  // currentMemory: the VM boots with its balloon already inflated): GFNs [size, memory), which
  // nothing has populated yet. no_memory: the balloon's bitmap could not be allocated.
  [[nodiscard]] Balloon_status inflate_at_start();

  // ---- the host ----
  // The operator's target size (QEMU's `balloon VM MiB`): refused above the memory or below the floor.
  [[nodiscard]] Balloon_set_status set_size(u64 size_pages);
  // The auto-balloon policy's cap on the size (memory_pages lifts it); clamped to [floor, memory].
  void set_auto_limit(u64 size_pages);
  [[nodiscard]] Balloon_view view() const;
  [[nodiscard]] u64 target_pages() const;

  // ---- the guest (hypercalls; lists already copied out of guest memory) ----
  [[nodiscard]] Balloon_info_guest info();
  // Inflating beyond the target (actual + pages > target) is beyond_target and changes nothing.
  [[nodiscard]] Guest_memory::Balloon_result inflate(std::span<const Balloon_range> list);
  [[nodiscard]] Guest_memory::Balloon_result deflate(std::span<const Balloon_range> list);
  [[nodiscard]] Guest_memory::Balloon_result report_free(std::span<const Balloon_range> list);
  // Unknown tags are skipped (virtio); too_long beyond balloon_stats_max.
  [[nodiscard]] Balloon_status report_stats(std::span<const Balloon_stat> stats);

private:
  [[nodiscard]] u64 target_locked() const;
  void count(const Guest_memory::Balloon_result& r);
  // After a guest call: one log line when the balloon has just reached the target.
  void note_progress(u64 actual_before);

  Guest_memory& memory_;
  std::string_view name_ = "?";
  mutable Spinlock lock_;
  u64 memory_pages_ = 0;
  u64 floor_pages_ = 0;
  u64 size_pages_ = 0;
  u64 auto_limit_pages_ = 0;
  bool driver_ = false;
  u64 stats_[balloon_tag::count] = {};
  u16 stats_valid_ = 0;
  u64 stats_reports_ = 0;
  Balloon_counters counters_;
};

} // namespace hv
