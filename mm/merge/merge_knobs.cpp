// mm/merge/merge_knobs.cpp - see merge_knobs.hpp. Both builds.
#include "mm/merge/merge_knobs.hpp"
#include <span>

namespace hv {
namespace {
constexpr Merge_knob_info knobs[] = {
    {"run", &Merge_knobs::run, 0, 2, "0 stop, 1 run, 2 unmerge all and stop"},
    {"pages_to_scan", &Merge_knobs::pages_to_scan, 1, 1u << 24, "4 KiB pages scanned per wake-up"},
    {"sleep_millisecs", &Merge_knobs::sleep_millisecs, 0, 3'600'000, "sleep between wake-ups"},
    {"max_page_sharing", &Merge_knobs::max_page_sharing, 2, 1u << 20, "guest pages one shared frame may back"},
    {"merge_across_vms", &Merge_knobs::merge_across_vms, 0, 1, "1 merge between VMs, 0 within one VM only"},
    {"split_2m_min_pages", &Merge_knobs::split_2m_min_pages, 1, 512, "mergeable 4K pages that pay for splitting a 2M frame"},
    {"release_zero_pages", &Merge_knobs::release_zero_pages, 0, 1, "1 give zero-filled pages back"},
};
} // namespace

std::span<const Merge_knob_info> merge_knob_table() { return knobs; }

const Merge_knob_info* find_merge_knob(std::string_view name) {
  for (const Merge_knob_info& k : knobs)
    if (k.name == name) return &k;
  return nullptr;
}

Merge_knob_status set_merge_knob(Merge_knobs& target, std::string_view name, std::string_view text,
                                 const Merge_knob_info*& info) {
  info = find_merge_knob(name);
  if (!info) return Merge_knob_status::unknown_knob;
  if (text.empty() || text.size() > 10) return Merge_knob_status::not_a_number;
  u64 v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return Merge_knob_status::not_a_number;
    v = v * 10 + static_cast<u64>(c - '0');
  }
  if (v < info->min || v > info->max) return Merge_knob_status::out_of_range;
  target.*(info->field) = static_cast<u32>(v);
  return Merge_knob_status::ok;
}

const char* merge_knob_status_name(Merge_knob_status s) {
  switch (s) {
  case Merge_knob_status::ok: return "ok";
  case Merge_knob_status::unknown_knob: return "unknown knob";
  case Merge_knob_status::not_a_number: return "not a decimal number";
  case Merge_knob_status::out_of_range: return "out of range";
  case Merge_knob_status::busy: return "can only change while no page is shared (ksm set run 2 first)";
  }
  return "?";
}

} // namespace hv
