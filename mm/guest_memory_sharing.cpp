// mm/guest_memory_sharing.cpp - the guest-memory side of same-page merging: breaking a shared
// frame on write (copy on write, or taking the frame back when the writer is its last user) and
// unsharing every page of a VM. Both builds. The merging itself is mm/merge/merger.cpp.
#include "lib/panic.hpp"
#include "mm/guest_memory.hpp"
#include <cstring>

namespace hv {

Ept_rights Guest_memory::private_rights(Page_size size) const {
  return size != Page_size::size_4k && ept_.config().no_exec_large_leaves ? Ept_rights::read_write : Ept_rights::all;
}

Ept_rights Guest_memory::shared_rights(Page_size size) const {
  return size != Page_size::size_4k && ept_.config().no_exec_large_leaves ? Ept_rights::read : Ept_rights::read_execute;
}

bool Guest_memory::break_sharing(const Ept_leaf& leaf) {
  HV_ASSERT(sharing_ != nullptr && leaf.attrs.software == frame_shared);
  const Vm_id vm = ept_.config().owner;
  const Gfn gfn = to_gfn(leaf.gpa);
  const u8 kind = leaf.size == Page_size::size_4k ? frame_4k : frame_part_of_2m;
  Ept_attrs attrs = leaf.attrs;
  attrs.rights = private_rights(leaf.size);
  attrs.software = kind;
  Ept_batch batch(ept_);
  if (sharing_->begin_write(leaf.hpa, vm, gfn) == Write_plan::took_back) {
    // Same frame, more rights: no INVEPT needed (a stale read-only entry faults once, spuriously).
    const Ept_status s = ept_.replace_leaf(leaf.gpa, leaf.size, leaf.hpa, attrs, batch);
    HV_ASSERT(s == Ept_status::ok);
    ++stats_.cow_takebacks;
  } else {
    const unsigned order = page_order(leaf.size);
    const auto copy = frames_.alloc_frames(order, Frame_use::guest, vm);
    if (!copy) return false;  // the VM waits for memory; the shared mapping stays as it was
    std::memcpy(direct_map_.ptr(*copy), direct_map_.ptr(leaf.hpa), page_bytes(leaf.size));
    // The copy is mapped read-only first and writable only after the INVEPT: until every CPU has
    // dropped the shared frame's translation, another vCPU of this VM could still read it while
    // this one writes the copy. Adding the write right afterwards needs no INVEPT.
    Ept_attrs read_only = attrs;
    read_only.rights = shared_rights(leaf.size);
    Ept_status s = ept_.replace_leaf(leaf.gpa, leaf.size, *copy, read_only, batch);
    HV_ASSERT(s == Ept_status::ok);
    batch.finish();
    s = ept_.replace_leaf(leaf.gpa, leaf.size, *copy, attrs, batch);
    HV_ASSERT(s == Ept_status::ok);
    if (sharing_->drop(leaf.hpa, vm, gfn) == 0) frames_.free_frames(leaf.hpa, order);  // the others left meanwhile
    ++stats_.cow_breaks;
  }
  if (leaf.size == Page_size::size_4k) {
    --stats_.shared_4k;
    ++stats_.frames_4k;
  } else {
    --stats_.shared_2m;
    ++stats_.frames_2m;
  }
  return true;
}

Guest_memory::Unshare_result Guest_memory::unshare_all() {
  Spinlock_guard guard(lock_);
  Unshare_result r;
  if (!sharing_ || !ept_.initialized()) return r;
  Gpa at(0);
  const Gpa end(ept_4level_gpa_limit);
  while (const auto leaf = ept_.next_leaf(at, end)) {
    at = leaf->gpa + page_bytes(leaf->size);
    if (leaf->attrs.software != frame_shared) continue;
    if (!break_sharing(*leaf)) {
      r.out_of_memory = true;
      break;
    }
    r.pages += pages_4k(leaf->size);
  }
  return r;
}

} // namespace hv
