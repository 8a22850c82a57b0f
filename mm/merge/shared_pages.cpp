// mm/merge/shared_pages.cpp - see shared_pages.hpp. Both builds.
#include "mm/merge/shared_pages.hpp"
#include "lib/panic.hpp"

namespace hv {

Shared_pages::Shared_pages(Frame_allocator& frames)
    : frames_(frames), records_(frames, frames.direct_map()), rmap_(frames, frames.direct_map()),
      by_hash_(frames, frames.direct_map()), by_frame_(frames, frames.direct_map()) {}

Shared_pages::~Shared_pages() {
  // Every VM gives its mappings back before the merger goes; a frame still shared here would leak.
  if (frames_4k_ + frames_2m_ != 0)
    panic("merge", "shared pages destroyed with {} frames still shared", frames_4k_ + frames_2m_);
}

void Shared_pages::count_vm(Vm_id vm, i64 pages) {
  if (vm < merge_max_vms) merging_[vm] = static_cast<u64>(static_cast<i64>(merging_[vm]) + pages);
}

bool Shared_pages::add_user(u32 record, Vm_id vm, Gfn gfn) {
  u32 n = free_rmap_;
  if (n != none) {
    free_rmap_ = rmap_[n].next;
  } else {
    if (rmap_.size() >= none - 1 || !rmap_.push_back(Rmap_entry{})) return false;
    n = static_cast<u32>(rmap_.size() - 1);
  }
  Record& r = records_[record];
  rmap_[n] = Rmap_entry{gfn.value(), r.rmap, vm, 0};
  r.rmap = n;
  if (r.users++ > 0) (void)frames_.table().get(Hfn(r.hfn));  // the first user holds the allocation's reference
  if (r.users > max_users_) max_users_ = r.users;
  (r.size == Page_size::size_4k ? users_4k_ : users_2m_) += 1;
  ++rmap_used_;
  count_vm(vm, static_cast<i64>(pages_4k(r.size)));
  return true;
}

bool Shared_pages::promote(Hpa hpa, Page_size size, u64 hash, Vm_id vm, Gfn gfn) {
  HV_ASSERT(size != Page_size::size_1g);
  Spinlock_guard guard(lock_);
  if (by_frame_.find(to_hfn(hpa).value()) != Hash_index::empty)
    panic("merge", "promote of {}: the frame is already shared", hpa);
  u32 i = free_records_;
  bool fresh = false;
  if (i == none) {
    if (records_.size() >= none - 1 || !records_.push_back(Record{})) return false;
    i = static_cast<u32>(records_.size() - 1);
    fresh = true;
  }
  const u32 next_free = fresh ? none : records_[i].rmap;
  const auto undo_record = [&] {
    if (fresh) {
      (void)records_.resize(records_.size() - 1);  // shrinking never allocates
    } else {
      records_[i] = Record{0, 0, 0, next_free, Page_size::size_4k, {}};  // back on the free list as it was
      free_records_ = i;
    }
  };
  if (!fresh) free_records_ = next_free;
  records_[i] = Record{hash, to_hfn(hpa).value(), 0, none, size, {}};
  if (!by_hash_.insert(hash, i)) {
    undo_record();
    return false;
  }
  if (!by_frame_.insert(to_hfn(hpa).value(), i)) {
    by_hash_.erase(hash, i);
    undo_record();
    return false;
  }
  if (!add_user(i, vm, gfn)) {
    by_hash_.erase(hash, i);
    by_frame_.erase(to_hfn(hpa).value(), i);
    undo_record();
    return false;
  }
  frames_.change_use(hpa, page_order(size), Frame_use::shared, no_vm);
  (size == Page_size::size_4k ? frames_4k_ : frames_2m_) += 1;
  return true;
}

u32 Shared_pages::find_record(Hpa hpa, const char* what) const {
  const u32 i = by_frame_.find(to_hfn(hpa).value());
  if (i == Hash_index::empty) panic("merge", "{} of {}: not a shared frame", what, hpa);
  return i;
}

void Shared_pages::remove_user(u32 record, Vm_id vm, Gfn gfn) {
  Record& r = records_[record];
  u32* link = &r.rmap;
  while (*link != none && !(rmap_[*link].vm == vm && rmap_[*link].gfn == gfn.value())) link = &rmap_[*link].next;
  if (*link == none)
    panic("merge", "vm {} gfn {} is not a user of shared frame {}", vm, gfn.value(), to_hpa(Hfn(r.hfn)));
  const u32 n = *link;
  *link = rmap_[n].next;
  rmap_[n].next = free_rmap_;
  free_rmap_ = n;
  --rmap_used_;
  (r.size == Page_size::size_4k ? users_4k_ : users_2m_) -= 1;
  count_vm(vm, -static_cast<i64>(pages_4k(r.size)));
  if (--r.users > 0) (void)frames_.table().put(Hfn(r.hfn));
}

void Shared_pages::free_record(u32 i) {
  Record& r = records_[i];
  HV_ASSERT(r.users == 0);
  (void)by_hash_.erase(r.hash, i);
  (void)by_frame_.erase(r.hfn, i);
  (r.size == Page_size::size_4k ? frames_4k_ : frames_2m_) -= 1;
  r.rmap = free_records_;
  free_records_ = i;
}

Write_plan Shared_pages::begin_write(Hpa hpa, Vm_id vm, Gfn gfn) {
  Spinlock_guard guard(lock_);
  const u32 i = find_record(hpa, "write");
  if (records_[i].users > 1) return Write_plan::must_copy;
  const Page_size size = records_[i].size;
  remove_user(i, vm, gfn);
  free_record(i);
  frames_.change_use(hpa, page_order(size), Frame_use::guest, vm);
  return Write_plan::took_back;
}

u32 Shared_pages::drop(Hpa hpa, Vm_id vm, Gfn gfn) {
  Spinlock_guard guard(lock_);
  const u32 i = find_record(hpa, "drop");
  remove_user(i, vm, gfn);
  const u32 left = records_[i].users;
  if (left == 0) free_record(i);
  return left;
}

Shared_pages_stats Shared_pages::stats() const {
  Spinlock_guard guard(lock_);
  Shared_pages_stats s;
  s.frames_4k = frames_4k_;
  s.frames_2m = frames_2m_;
  s.pages_shared = frames_4k_ + frames_2m_ * 512;
  s.pages_sharing = (users_4k_ - frames_4k_) + (users_2m_ - frames_2m_) * 512;
  s.rmap_entries = rmap_used_;
  s.max_users = max_users_;
  s.metadata_bytes = records_.bytes() + rmap_.bytes() + by_hash_.bytes() + by_frame_.bytes();
  return s;
}

u64 Shared_pages::cross_vm_frames() const {
  Spinlock_guard guard(lock_);
  u64 n = 0;
  for (u32 i = 0; i < records_.size(); ++i) {
    const Record& r = records_[i];
    if (r.users < 2) continue;
    const Vm_id first = rmap_[r.rmap].vm;
    for (u32 e = rmap_[r.rmap].next; e != none; e = rmap_[e].next) {
      if (rmap_[e].vm != first) {
        ++n;
        break;
      }
    }
  }
  return n;
}

void Shared_pages::release_storage_if_empty() {
  Spinlock_guard guard(lock_);
  if (frames_4k_ + frames_2m_ != 0) return;
  records_.release();
  rmap_.release();
  by_hash_.release();
  by_frame_.release();
  free_records_ = none;
  free_rmap_ = none;
  max_users_ = 0;
}

u64 Shared_pages::merging_pages(Vm_id vm) const {
  Spinlock_guard guard(lock_);
  return vm < merge_max_vms ? merging_[vm] : 0;
}

bool Shared_pages::check(const char*& why) const {
  Spinlock_guard guard(lock_);
  u64 f4 = 0, f2 = 0, u4 = 0, u2 = 0, entries = 0;
  u64 per_vm[merge_max_vms] = {};
  for (u32 i = 0; i < records_.size(); ++i) {
    const Record& r = records_[i];
    if (r.users == 0) continue;
    (r.size == Page_size::size_4k ? f4 : f2) += 1;
    u32 n = 0;
    for (u32 e = r.rmap; e != none; e = rmap_[e].next) {
      ++n;
      if (rmap_[e].vm < merge_max_vms) per_vm[rmap_[e].vm] += pages_4k(r.size);
    }
    if (n != r.users) return why = "reverse-map length differs from the users", false;
    (r.size == Page_size::size_4k ? u4 : u2) += n;
    entries += n;
    const Frame_record& fr = frames_.table().at(Hfn(r.hfn));
    if (fr.use != Frame_use::shared) return why = "a shared frame's record is not Frame_use::shared", false;
    if (fr.refs != r.users) return why = "frame-table references differ from the users", false;
    if (by_frame_.find(r.hfn) != i) return why = "frame index misses a shared frame", false;
    if (by_hash_.find_each(r.hash, [&](u32 v) { return v == i; }) != i) return why = "hash index misses a frame", false;
  }
  if (f4 != frames_4k_ || f2 != frames_2m_) return why = "frame counts differ", false;
  if (u4 != users_4k_ || u2 != users_2m_ || entries != rmap_used_) return why = "user counts differ", false;
  if (by_frame_.size() != f4 + f2 || by_hash_.size() != f4 + f2) return why = "index sizes differ", false;
  for (u32 v = 0; v < merge_max_vms; ++v)
    if (per_vm[v] != merging_[v]) return why = "per-VM merging pages differ", false;
  return true;
}

} // namespace hv
