// mm/memory_map_import.cpp - see memory_map_import.hpp. Both builds.
// Method: add every usable region to a sorted set of ranges (merging), then subtract every
// non-usable region, the legacy first MiB, the space above max_address and the exclusions. The
// subtraction happens after all additions, so the result does not depend on the input order.
// All arithmetic is in 4 KiB frame numbers below 2^40, where nothing can overflow.
#include "mm/memory_map_import.hpp"
#include "lib/log.hpp"

namespace hv {
namespace {

constexpr u64 frame_limit = physical_address_limit.value() >> page_shift;

struct Frames {
  u64 first = 0;
  u64 end = 0; // exclusive
};

// base + pages, in frames, saturating at `limit` (region sizes come from firmware: untrusted).
u64 saturating_end(u64 first, u64 pages, u64 limit) {
  if (first >= limit) return limit;
  return pages >= limit - first ? limit : first + pages;
}

// The whole pages inside a usable region.
Frames inner_frames(const Memory_region& r) {
  const u64 base = r.base.value();
  const u64 floor = base >> page_shift;
  const u64 first = floor + (r.base.page_offset() != 0 ? 1 : 0);
  const u64 end = saturating_end(floor, r.pages, frame_limit); // floor(base + size) in frames
  return {first < end ? first : end, end};
}

// Every page a non-usable region touches.
Frames outer_frames(Hpa base, u64 pages, bool partial_last_page) {
  const u64 first = base.value() >> page_shift;
  const u64 end = saturating_end(first, pages, frame_limit);
  return {first, partial_last_page && end < frame_limit ? end + 1 : end};
}

// A sorted set of disjoint, non-adjacent frame ranges kept in the caller's array.
class Range_set {
public:
  explicit Range_set(std::span<Hpa_range> out) : out_(out) {}

  void add(Frames f) {
    if (f.first >= f.end) return;
    // [i, j): the ranges that overlap or touch f.
    usize i = 0;
    while (i < count_ && frames(i).end < f.first) ++i;
    usize j = i;
    while (j < count_ && frames(j).first <= f.end) ++j;
    if (i == j) {
      if (count_ == out_.size()) {
        overflow_ = true; // dropping usable memory is safe; inventing it is not
        return;
      }
      for (usize k = count_; k > i; --k) out_[k] = out_[k - 1];
      ++count_;
      set(i, f);
      return;
    }
    const Frames merged{f.first < frames(i).first ? f.first : frames(i).first,
                        f.end > frames(j - 1).end ? f.end : frames(j - 1).end};
    set(i, merged);
    erase(i + 1, j);
  }

  void subtract(Frames f) {
    if (f.first >= f.end) return;
    for (usize i = 0; i < count_;) {
      const Frames r = frames(i);
      if (r.end <= f.first || r.first >= f.end) {
        ++i;
        continue;
      }
      const bool keep_low = r.first < f.first;
      const bool keep_high = r.end > f.end;
      if (keep_low && keep_high) {
        if (count_ == out_.size()) {
          // No room to split: keep the larger side.
          overflow_ = true;
          set(i, f.first - r.first >= r.end - f.end ? Frames{r.first, f.first} : Frames{f.end, r.end});
          return;
        }
        for (usize k = count_; k > i + 1; --k) out_[k] = out_[k - 1];
        ++count_;
        set(i, {r.first, f.first});
        set(i + 1, {f.end, r.end});
        return; // f lies inside one range, and ranges are disjoint
      }
      if (keep_low) {
        set(i++, {r.first, f.first});
      } else if (keep_high) {
        set(i++, {f.end, r.end});
      } else {
        erase(i, i + 1);
      }
    }
  }

  [[nodiscard]] usize count() const { return count_; }
  [[nodiscard]] bool overflow() const { return overflow_; }

private:
  [[nodiscard]] Frames frames(usize i) const {
    return {out_[i].base.value() >> page_shift, out_[i].end.value() >> page_shift};
  }
  void set(usize i, Frames f) { out_[i] = Hpa_range{to_hpa(Hfn(f.first)), to_hpa(Hfn(f.end))}; }
  void erase(usize from, usize to) {
    const usize n = to - from;
    for (usize k = from; k + n < count_; ++k) out_[k] = out_[k + n];
    count_ -= n;
  }

  std::span<Hpa_range> out_;
  usize count_ = 0;
  bool overflow_ = false;
};

} // namespace

Memory_import_result import_usable_memory(std::span<const Memory_region> map, std::span<const Hpa_range> exclusions,
                                          Hpa max_address, std::span<Hpa_range> out) {
  Range_set set(out);
  for (const Memory_region& r : map) {
    if (memory_type_usable_after_boot(r.type)) set.add(inner_frames(r));
  }
  for (const Memory_region& r : map) {
    if (!memory_type_usable_after_boot(r.type)) set.subtract(outer_frames(r.base, r.pages, r.base.page_offset() != 0));
  }
  set.subtract({0, legacy_memory_end.value() >> page_shift});
  // Clipping: max_address rounded down; nothing usable is left at or above it.
  const u64 max_frame = max_address.value() >> page_shift;
  if (max_frame < frame_limit) set.subtract({max_frame, frame_limit});
  for (const Hpa_range& x : exclusions) {
    if (x.end <= x.base) continue;
    const u64 bytes = x.end - x.base + x.base.page_offset();
    set.subtract(outer_frames(x.base, bytes >> page_shift, (bytes & (page_size_4k - 1)) != 0));
  }
  Memory_import_result result;
  result.count = set.count();
  result.overflow = set.overflow();
  for (usize i = 0; i < result.count; ++i) result.usable_pages += out[i].pages();
  return result;
}

void log_memory_import(const Memory_import_result& result, std::span<const Hpa_range> ranges) {
  log_info("mm", "usable RAM for the allocator: {} ranges, {} MiB ({} pages){}", result.count,
           result.usable_pages * page_size_4k / MiB, result.usable_pages,
           result.overflow ? "; range table full, some RAM left out" : "");
  for (usize i = 0; i < result.count && i < ranges.size(); ++i) {
    log_debug("mm", "  {}..{} ({} KiB)", ranges[i].base, ranges[i].end, ranges[i].bytes() / KiB);
  }
}

} // namespace hv
