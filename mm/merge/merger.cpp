// mm/merge/merger.cpp - the merger's VM list, knobs, statistics, pass bookkeeping and unmerge.
// Both builds. The scan of one VM's pages is merge_scan.cpp.
#include "mm/merge/merger.hpp"
#include "lib/panic.hpp"
#include "mm/merge/page_hash.hpp"

namespace hv {

const char* merge_status_name(Merge_status s) {
  switch (s) {
  case Merge_status::ok: return "ok";
  case Merge_status::no_room: return "no room";
  case Merge_status::already_attached: return "already attached";
  case Merge_status::not_attached: return "not attached";
  case Merge_status::bad_vm_id: return "VM id outside 1..63, or its memory has no reverse map";
  }
  return "?";
}

namespace {
alignas(64) constinit const u8 zero_page[page_size_4k] = {};
} // namespace

Merger::Merger(Shared_pages& sharing, Frame_allocator& frames)
    : sharing_(sharing), frames_(frames), candidates_(frames, frames.direct_map()),
      candidate_index_(frames, frames.direct_map()), zero_hash_4k_(hash_page_4k(zero_page)) {}

Merger::~Merger() {
  for (const Vm_entry& e : vms_)
    if (e.memory) panic("merge", "merger destroyed with VMs attached");
}

Merge_status Merger::attach(Vm_id vm, Guest_memory& memory, bool merge) {
  if (vm == no_vm || vm >= max_vms || memory.sharing() != &sharing_) return Merge_status::bad_vm_id;
  Spinlock_guard guard(lock_);
  if (vms_[vm].memory) return Merge_status::already_attached;
  const Guest_memory_stats g = memory.stats();
  vms_[vm] = Vm_entry{&memory, merge, Gpa(0), g.cow_breaks, g.cow_takebacks};
  return Merge_status::ok;
}

Merge_status Merger::detach(Vm_id vm) {
  if (vm == no_vm || vm >= max_vms) return Merge_status::bad_vm_id;
  Spinlock_guard guard(lock_);
  if (!vms_[vm].memory) return Merge_status::not_attached;
  // Its counters stay in the totals. Candidates of the VM go stale and are dropped when met
  // (every use checks the page's current leaf).
  const Guest_memory_stats s = vms_[vm].memory->stats();
  stats_.cow_breaks += s.cow_breaks - vms_[vm].cow_breaks_at_attach;
  stats_.cow_takebacks += s.cow_takebacks - vms_[vm].cow_takebacks_at_attach;
  vms_[vm] = Vm_entry{};
  return Merge_status::ok;
}

void Merger::release_idle_storage() {
  Spinlock_guard guard(lock_);
  for (const Vm_entry& e : vms_)
    if (e.memory) return;
  end_pass();
  candidates_.release();
  candidate_index_.release();
  sharing_.release_storage_if_empty();
}

Merge_status Merger::set_vm_merge(Vm_id vm, bool merge) {
  if (vm == no_vm || vm >= max_vms) return Merge_status::bad_vm_id;
  Spinlock_guard guard(lock_);
  Vm_entry& e = vms_[vm];
  if (!e.memory) return Merge_status::not_attached;
  e.merge = merge;
  if (!merge) {
    const auto r = e.memory->unshare_all();
    stats_.unmerged += r.pages;
    if (r.out_of_memory) ++stats_.out_of_memory;
  }
  return Merge_status::ok;
}

Merge_knobs Merger::knobs() const {
  Spinlock_guard guard(lock_);
  return knobs_;
}

void Merger::set_knobs(const Merge_knobs& k) {
  Spinlock_guard guard(lock_);
  knobs_ = k;
}

Merge_knob_status Merger::set_knob(std::string_view name, std::string_view value, const Merge_knob_info*& info) {
  Spinlock_guard guard(lock_);
  Merge_knobs k = knobs_;
  const Merge_knob_status s = set_merge_knob(k, name, value, info);
  if (s != Merge_knob_status::ok) return s;
  if (k.merge_across_vms != knobs_.merge_across_vms && sharing_.stats().pages_shared != 0) return Merge_knob_status::busy;
  if (k.merge_across_vms != knobs_.merge_across_vms) end_pass();  // candidate keys depend on it
  knobs_ = k;
  return Merge_knob_status::ok;
}

u64 Merger::key_of(u64 hash, Vm_id vm, Page_size size) const {
  u64 k = hash;
  if (size != Page_size::size_4k) k ^= 0x9E37'79B9'7F4A'7C15ull;
  // Within one VM only: pages of different VMs get different keys, so they never meet.
  if (!knobs_.merge_across_vms) k ^= (u64{vm} + 1) * 0xC2B2'AE3D'27D4'EB4Full;
  return k;
}

void Merger::end_pass() {
  if (pass_scanned_ == 0 && candidate_index_.size() == 0) return;  // nothing was there to scan
  pass_scanned_ = 0;
  ++stats_.full_scans;
  stats_.pages_unshared = candidate_index_.size();
  stats_.pages_volatile = pass_volatile_;
  pass_volatile_ = 0;
  candidate_index_.clear();
  candidates_.clear();
}

u32 Merger::active_vms() const {
  u32 n = 0;
  for (const Vm_entry& e : vms_) n += e.memory && e.merge ? 1 : 0;
  return n;
}

bool Merger::next_vm(u32& index) {
  for (u32 step = 0; step < max_vms; ++step) {
    index = (index + 1) % max_vms;
    if (index == 0) end_pass();
    if (vms_[index].memory && vms_[index].merge) return true;
  }
  return false;
}

u64 Merger::scan(u64 pages) {
  Spinlock_guard guard(lock_);
  if (knobs_.run == 2) return unmerge_all();
  if (knobs_.run != 1) return 0;
  return scan_pages(pages ? pages : knobs_.pages_to_scan, false);
}

u64 Merger::scan_pages(u64 budget, bool stop_at_pass_end) {
  const u64 passes = stats_.full_scans;
  const u32 active = active_vms();
  if (active == 0) return 0;
  u64 scanned = 0;
  u32 empty_visits = 0;  // VMs met in a row with nothing (more) to scan
  if (!(vms_[current_].memory && vms_[current_].merge)) (void)next_vm(current_);
  while (scanned < budget) {
    Vm_entry& e = vms_[current_];
    const u64 n = scan_vm(static_cast<Vm_id>(current_), e, budget - scanned);
    scanned += n;
    pass_scanned_ += n;
    if (n != 0) {
      empty_visits = 0;
      continue;
    }
    // This VM's end: the next VM (a pass ends where the order wraps).
    e.cursor = Gpa(0);
    (void)next_vm(current_);
    if (++empty_visits > active) break;  // a whole round found nothing to scan
    if (stop_at_pass_end && stats_.full_scans != passes) break;
  }
  stats_.pages_scanned += scanned;
  return scanned;
}

u64 Merger::scan_full_pass() {
  Spinlock_guard guard(lock_);
  if (knobs_.run != 1) return 0;
  return scan_pages(~u64{0}, true);
}

u64 Merger::unmerge_all() {
  u64 pages = 0;
  bool short_of_memory = false;
  for (Vm_entry& e : vms_) {
    if (!e.memory) continue;
    const auto r = e.memory->unshare_all();
    pages += r.pages;
    short_of_memory |= r.out_of_memory;
  }
  stats_.unmerged += pages;
  if (short_of_memory) {
    ++stats_.out_of_memory;  // run stays 2: the next wake-up tries again
  } else {
    knobs_.run = 0;
    end_pass();
  }
  return pages;
}

Merge_stats Merger::stats() const {
  Spinlock_guard guard(lock_);
  Merge_stats s = stats_;
  const Shared_pages_stats sh = sharing_.stats();
  s.pages_shared = sh.pages_shared;
  s.pages_sharing = sh.pages_sharing;
  s.metadata_bytes = sh.metadata_bytes + candidates_.bytes() + candidate_index_.bytes();
  s.general_profit = static_cast<i64>((s.pages_sharing + s.ksm_zero_pages) * page_size_4k) - static_cast<i64>(s.metadata_bytes);
  for (const Vm_entry& e : vms_) {
    if (!e.memory) continue;
    ++s.vms;
    const Guest_memory_stats g = e.memory->stats();
    s.cow_breaks += g.cow_breaks - e.cow_breaks_at_attach;
    s.cow_takebacks += g.cow_takebacks - e.cow_takebacks_at_attach;
  }
  return s;
}

} // namespace hv
