// mm/balloon.cpp - see balloon.hpp: one VM's balloon targets, the guest's calls and their
// accounting. Both builds.
#include "mm/balloon.hpp"
#include "lib/log.hpp"

namespace hv {

const char* balloon_tag_name(u16 tag) {
  switch (tag) {
  case balloon_tag::swap_in: return "swap_in";
  case balloon_tag::swap_out: return "swap_out";
  case balloon_tag::major_faults: return "major_faults";
  case balloon_tag::minor_faults: return "minor_faults";
  case balloon_tag::free_memory: return "free_memory";
  case balloon_tag::total_memory: return "total_memory";
  case balloon_tag::available: return "available";
  case balloon_tag::caches: return "caches";
  case balloon_tag::hugetlb_allocations: return "hugetlb_allocations";
  case balloon_tag::hugetlb_failures: return "hugetlb_failures";
  }
  return "?";
}

namespace {
u64 clamp(u64 v, u64 lo, u64 hi) { return v < lo ? lo : v > hi ? hi : v; }
} // namespace

void Balloon::start(u64 memory_pages, u64 size_pages) {
  Spinlock_guard guard(lock_);
  memory_pages_ = memory_pages;
  floor_pages_ = balloon_floor_pages(memory_pages);
  size_pages_ = clamp(size_pages, floor_pages_, memory_pages);
  auto_limit_pages_ = memory_pages;
  driver_ = false;
  stats_valid_ = 0;
  stats_reports_ = 0;
  for (u64& v : stats_) v = 0;
  counters_ = Balloon_counters{};
}

u64 Balloon::target_locked() const {
  const u64 size = size_pages_ < auto_limit_pages_ ? size_pages_ : auto_limit_pages_;
  return memory_pages_ - size;
}

Balloon_status Balloon::inflate_at_start() {
  Spinlock_guard guard(lock_);
  const u64 pages = memory_pages_ - size_pages_;
  if (pages == 0) return Balloon_status::ok;
  const Balloon_range top{size_pages_, pages};
  const Guest_memory::Balloon_result r = memory_.balloon_inflate(std::span<const Balloon_range>(&top, 1), pages);
  return r.status;
}

Balloon_set_status Balloon::set_size(u64 size_pages) {
  Spinlock_guard guard(lock_);
  if (size_pages > memory_pages_) return Balloon_set_status::above_memory;
  if (size_pages < floor_pages_) return Balloon_set_status::below_floor;
  const u64 before = target_locked();
  size_pages_ = size_pages;
  if (target_locked() != before) ++counters_.target_changes;
  return Balloon_set_status::ok;
}

void Balloon::set_auto_limit(u64 size_pages) {
  Spinlock_guard guard(lock_);
  const u64 before = target_locked();
  auto_limit_pages_ = clamp(size_pages, floor_pages_, memory_pages_);
  if (target_locked() != before) ++counters_.target_changes;
}

u64 Balloon::target_pages() const {
  Spinlock_guard guard(lock_);
  return target_locked();
}

Balloon_view Balloon::view() const {
  Spinlock_guard guard(lock_);
  Balloon_view v;
  v.memory_pages = memory_pages_;
  v.floor_pages = floor_pages_;
  v.size_pages = size_pages_;
  v.auto_limit_pages = auto_limit_pages_;
  v.target_pages = target_locked();
  const Guest_memory_stats m = memory_.stats();
  v.actual_pages = m.balloon_pages;
  v.touched_pages = m.balloon_touched;
  v.driver = driver_;
  for (u16 t = 0; t < balloon_tag::count; ++t) v.stats[t] = stats_[t];
  v.stats_valid = stats_valid_;
  v.stats_reports = stats_reports_;
  v.counters = counters_;
  return v;
}

Balloon_info_guest Balloon::info() {
  Spinlock_guard guard(lock_);
  driver_ = true;
  const Guest_memory_stats m = memory_.stats();
  Balloon_info_guest out{};
  out.target_pages = target_locked();
  out.actual_pages = m.balloon_pages;
  out.memory_pages = memory_pages_;
  out.floor_pages = floor_pages_;
  out.touched_pages = m.balloon_touched;
  out.target_changes = counters_.target_changes;
  return out;
}

void Balloon::count(const Guest_memory::Balloon_result& r) {
  if (r.status != Balloon_status::ok && r.pages == 0) ++counters_.refused_calls;
}

void Balloon::note_progress(u64 actual_before) {
  const u64 target = target_locked();
  const Guest_memory_stats m = memory_.stats();
  if (m.balloon_pages != target || actual_before == target) return;
  log_info("balloon", "{}: at its target: {} MiB kept of {} MiB ({} pages in the balloon); {} frames given to the host so far",
           name_, (memory_pages_ - m.balloon_pages) / balloon_pages_per_mib, memory_pages_ / balloon_pages_per_mib, m.balloon_pages, m.balloon_frames_freed);
}

Guest_memory::Balloon_result Balloon::inflate(std::span<const Balloon_range> list) {
  Spinlock_guard guard(lock_);
  driver_ = true;
  ++counters_.inflate_calls;
  const u64 before = memory_.balloon_pages();
  const Guest_memory::Balloon_result r = memory_.balloon_inflate(list, target_locked());
  count(r);
  counters_.pages_inflated += r.pages;
  note_progress(before);
  return r;
}

Guest_memory::Balloon_result Balloon::deflate(std::span<const Balloon_range> list) {
  Spinlock_guard guard(lock_);
  driver_ = true;
  ++counters_.deflate_calls;
  const u64 actual = memory_.balloon_pages();
  const u64 target = target_locked();
  const Guest_memory::Balloon_result r = memory_.balloon_deflate(list);
  count(r);
  counters_.pages_deflated += r.pages;
  // What goes below the target is the guest's own decision (it ran short): deflate on OOM.
  const u64 after = actual - r.pages;
  if (after < target) counters_.oom_deflated_pages += (actual < target ? actual : target) - after;
  note_progress(actual);
  return r;
}

Guest_memory::Balloon_result Balloon::report_free(std::span<const Balloon_range> list) {
  Spinlock_guard guard(lock_);
  driver_ = true;
  ++counters_.report_calls;
  const Guest_memory::Balloon_result r = memory_.free_page_report(list);
  count(r);
  counters_.pages_reported += r.pages;
  return r;
}

Balloon_status Balloon::report_stats(std::span<const Balloon_stat> stats) {
  Spinlock_guard guard(lock_);
  driver_ = true;
  ++counters_.stats_calls;
  if (stats.empty()) {
    ++counters_.refused_calls;
    return Balloon_status::bad_range;
  }
  if (stats.size() > balloon_stats_max) {
    ++counters_.refused_calls;
    return Balloon_status::too_long;
  }
  for (const Balloon_stat& s : stats) {
    const u16 tag = s.tag;
    if (tag >= balloon_tag::count) continue;  // a newer driver's tag: ignored, as virtio says
    stats_[tag] = s.value;
    stats_valid_ = static_cast<u16>(stats_valid_ | (1u << tag));
  }
  ++stats_reports_;
  return Balloon_status::ok;
}

} // namespace hv
