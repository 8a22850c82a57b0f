// mm/guest_memory.cpp - demand population of guest RAM and the VM's memory life cycle. Both builds.
// Copies in and out of guest memory are in guest_memory_copy.cpp.
#include "mm/guest_memory.hpp"
#include "lib/log.hpp"
#include "lib/panic.hpp"
#include <cstring>

namespace hv {

const char* violation_reason_name(Violation_reason r) {
  switch (r) {
  case Violation_reason::populated_4k: return "populated 4K";
  case Violation_reason::populated_2m: return "populated 2M";
  case Violation_reason::spurious: return "spurious";
  case Violation_reason::exec_split: return "split for execute";
  case Violation_reason::cow_break: return "copy on write";
  case Violation_reason::mmio: return "emulated MMIO";
  case Violation_reason::outside_slots: return "outside every memslot";
  case Violation_reason::reserved_slot: return "reserved memslot";
  case Violation_reason::access_denied: return "access denied";
  case Violation_reason::no_memory: return "out of memory";
  }
  return "?";
}

Guest_memory::Guest_memory(Frame_source& frames, Direct_map direct_map, Ept_invalidator& invalidator,
                           const Ept_config& ept_config, const Paging_policy& policy, const Mtrr_map* host_mtrrs)
    : frames_(frames), direct_map_(direct_map), ept_(frames, direct_map, invalidator, ept_config), policy_(policy),
      host_mtrrs_(host_mtrrs) {}

Ept_status Guest_memory::init() {
  Spinlock_guard guard(lock_);
  return ept_.init();
}

Memslot_status Guest_memory::add_slot(const Memslot& slot) {
  Spinlock_guard guard(lock_);
  return slots_.add(slot);
}

void Guest_memory::destroy() {
  Spinlock_guard guard(lock_);
  if (!ept_.initialized()) return;
  // A 2 MiB block is either one 2 MiB leaf or, after an exec split, 512 4 KiB leaves of which
  // the first (2 MiB-aligned) one stands for the block. Guest memory never unmaps part of a
  // block. A shared frame loses one user; the last one frees it.
  ept_.for_each_leaf([&](const Ept_leaf& leaf) {
    if (leaf.attrs.software == frame_shared) {
      HV_ASSERT(sharing_ != nullptr);
      if (sharing_->drop(leaf.hpa, ept_.config().owner, to_gfn(leaf.gpa)) == 0)
        frames_.free_frames(leaf.hpa, page_order(leaf.size));
    } else if (leaf.attrs.software == frame_part_of_2m) {
      if (leaf.size == Page_size::size_2m || leaf.hpa.is_aligned(page_size_2m)) frames_.free_frames(leaf.hpa, order_2m);
    } else {
      HV_ASSERT(leaf.size == Page_size::size_4k);
      frames_.free_frames(leaf.hpa, order_4k);
    }
  });
  ept_.destroy();
  free_balloon_bitmap();
  stats_.frames_4k = 0;
  stats_.frames_2m = 0;
  stats_.shared_4k = 0;
  stats_.shared_2m = 0;
  // The balloon is per boot: what the guest sees of it (BALLOON_INFO's touched) starts afresh.
  stats_.balloon_touched = 0;
  stats_.free_reported = 0;
  stats_.balloon_frames_freed = 0;
}

Guest_memory_stats Guest_memory::stats() const {
  Spinlock_guard guard(lock_);
  Guest_memory_stats s = stats_;
  s.table_pages = ept_.table_pages();
  return s;
}

namespace {
bool allows(Ept_rights r, Ept_access a) {
  return (!a.read || has_rights(r, Ept_rights::read)) && (!a.write || has_rights(r, Ept_rights::write)) &&
         (!a.fetch || has_any_execute(r));
}
} // namespace

Violation_result Guest_memory::handle_ept_violation(Gpa gpa, Ept_access access) {
  Spinlock_guard guard(lock_);
  return handle_violation_locked(gpa, access);
}

Violation_result Guest_memory::handle_violation_locked(Gpa gpa, Ept_access access) {
  ++stats_.violations;
  const Memslot* slot = slots_.find(gpa);
  if (!slot) {
    ++stats_.guest_errors;
    return {Violation_action::guest_error, Violation_reason::outside_slots, nullptr};
  }
  if (slot->kind == Memslot_kind::mmio) {
    ++stats_.mmio;
    return {Violation_action::emulate_mmio, Violation_reason::mmio, slot};
  }
  if (slot->kind == Memslot_kind::reserved) {
    ++stats_.guest_errors;
    return {Violation_action::guest_error, Violation_reason::reserved_slot, slot};
  }
  const auto t = ept_.translate(gpa);
  if (!t) return populate(gpa, *slot);
  if (allows(t->leaf.attrs.rights, access)) {
    // Another vCPU populated it first, or this CPU's TLB held the entry from before a change that
    // added rights; the violation itself flushed that entry, so resuming retries cleanly.
    ++stats_.spurious;
    return {Violation_action::resume, Violation_reason::spurious, slot};
  }
  if (t->leaf.attrs.software == frame_shared && (access.write || access.fetch)) {
    if (!break_sharing(t->leaf)) {
      ++stats_.out_of_memory;
      return {Violation_action::out_of_memory, Violation_reason::no_memory, slot};
    }
    return {Violation_action::resume, Violation_reason::cow_break, slot};
  }
  // A fetch from a large leaf, or from another page of a block already split that way (its other
  // 4 KiB leaves kept the large leaf's rights), gets that one page executable.
  if (access.fetch && ept_.config().no_exec_large_leaves &&
      (t->leaf.size != Page_size::size_4k || t->leaf.attrs.software == frame_part_of_2m)) {
    Ept_batch batch(ept_);  // adding a right: no INVEPT needed
    const Ept_status s = ept_.protect(gpa.page_base(), page_size_4k, Ept_rights::all, batch);
    if (s == Ept_status::out_of_memory) {
      ++stats_.out_of_memory;
      return {Violation_action::out_of_memory, Violation_reason::no_memory, slot};
    }
    HV_ASSERT(s == Ept_status::ok);
    ++stats_.exec_splits;
    return {Violation_action::resume, Violation_reason::exec_split, slot};
  }
  ++stats_.guest_errors;
  return {Violation_action::guest_error, Violation_reason::access_denied, slot};
}

std::optional<Cache_type> Guest_memory::ram_type(Hpa frame, u64 bytes) const {
  if (!host_mtrrs_) return policy_.ram_type;
  return host_memory_type(*host_mtrrs_, frame, bytes, true);
}

// Called with the lock held, for an unmapped GPA in a RAM slot.
Violation_result Guest_memory::populate(Gpa gpa, const Memslot& slot) {
  const Gpa base_2m(gpa.value() & ~(page_size_2m - 1));
  // A ballooned page touched anyway comes back (virtio-balloon without MUST_TELL_HOST); a 2 MiB
  // frame only where none of its pages is ballooned, so the balloon never holds a backed page.
  const bool ballooned = in_balloon(to_gfn(gpa), 1);
  if (ballooned) take_from_balloon(gpa);
  if (policy_.prefer_2m_leaves && ept_.config().allow_2m && slot.contains(base_2m, page_size_2m) &&
      ept_.range_unmapped(base_2m, Page_size::size_2m) && !in_balloon(to_gfn(base_2m), 512)) {
    if (const auto frame = frames_.alloc_frames(order_2m, Frame_use::guest, ept_.config().owner)) {
      if (const auto type = ram_type(*frame, page_size_2m)) {
        std::memset(direct_map_.ptr(*frame), 0, page_size_2m);
        const Ept_rights rights = ept_.config().no_exec_large_leaves ? Ept_rights::read_write : Ept_rights::all;
        const Ept_attrs a{rights, *type, policy_.ram_ignore_guest_pat, frame_part_of_2m};
        const Ept_status s = ept_.map(base_2m, *frame, Page_size::size_2m, a);
        if (s == Ept_status::ok) {
          ++stats_.frames_2m;
          return {Violation_action::resume, Violation_reason::populated_2m, &slot};
        }
        frames_.free_frames(*frame, order_2m);
        HV_ASSERT(s == Ept_status::out_of_memory);
        ++stats_.out_of_memory;
        return {Violation_action::out_of_memory, Violation_reason::no_memory, &slot};
      }
      frames_.free_frames(*frame, order_2m);  // host memory type not uniform: 4 KiB below
    }
  }
  const auto frame = frames_.alloc_frames(order_4k, Frame_use::guest, ept_.config().owner);
  if (!frame) {
    ++stats_.out_of_memory;
    return {Violation_action::out_of_memory, Violation_reason::no_memory, &slot};
  }
  std::memset(direct_map_.ptr(*frame), 0, page_size_4k);
  const auto type = ram_type(*frame, page_size_4k);
  HV_ASSERT(type.has_value());  // one page always has one type
  const Ept_attrs a{Ept_rights::all, *type, policy_.ram_ignore_guest_pat, frame_4k};
  const Ept_status s = ept_.map(gpa.page_base(), *frame, Page_size::size_4k, a);
  if (s != Ept_status::ok) {
    frames_.free_frames(*frame, order_4k);
    HV_ASSERT(s == Ept_status::out_of_memory);
    ++stats_.out_of_memory;
    return {Violation_action::out_of_memory, Violation_reason::no_memory, &slot};
  }
  ++stats_.frames_4k;
  return {Violation_action::resume, Violation_reason::populated_4k, &slot};
}

} // namespace hv
