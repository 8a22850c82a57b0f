// mm/merge/merge_knobs.hpp - the merger's tunables, with Linux KSM's names and meanings, and their
// checking (the config file and the monitor both set them by name). Both builds.
#pragma once
#include "arch/x86/types.hpp"
#include <span>
#include <string_view>

namespace hv {

struct Merge_knobs {
  // 0: stop scanning (merged pages stay merged); 1: run; 2: unmerge every page, then stop.
  u32 run = 0;
  // Guest pages (4 KiB units; a 2 MiB frame counts 512) scanned per wake-up of the merge thread.
  u32 pages_to_scan = 100;
  // Sleep between wake-ups.
  u32 sleep_millisecs = 20;
  // The most guest pages one shared frame may back; past it a second frame with the same contents
  // starts (a long reverse map makes a CoW break or an unmerge of that frame slow).
  u32 max_page_sharing = 256;
  // 1: pages of different VMs may merge. 0: only pages of one VM (a guest cannot probe another's
  // memory through CoW timing). Linux's merge_across_nodes, with VMs for NUMA nodes. Changed only
  // while nothing is shared (as Linux).
  u32 merge_across_vms = 1;
  // A private 2 MiB frame that is not identical to another is split into 4 KiB pages when at least
  // this many of its 512 pages could merge (zero, or equal to a known page); see docs/merge.md.
  u32 split_2m_min_pages = 64;
  // 1: a page that holds only zeros is given back (it is populated again on its next touch).
  u32 release_zero_pages = 1;
};

struct Merge_knob_info {
  std::string_view name;
  u32 Merge_knobs::*field;
  u32 min;
  u32 max;
  std::string_view meaning;
};

// Every knob, in the order `info ksm` prints them.
[[nodiscard]] std::span<const Merge_knob_info> merge_knob_table();
[[nodiscard]] const Merge_knob_info* find_merge_knob(std::string_view name);

enum class Merge_knob_status : u8 { ok, unknown_knob, not_a_number, out_of_range, busy };

// Parses `text` (decimal) for knob `name` and stores it in `knobs`. On an error nothing changes and
// `info` (if found) names the range for the message.
[[nodiscard]] Merge_knob_status set_merge_knob(Merge_knobs& knobs, std::string_view name, std::string_view text,
                                               const Merge_knob_info*& info);
[[nodiscard]] const char* merge_knob_status_name(Merge_knob_status s);

} // namespace hv
