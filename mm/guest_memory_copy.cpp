// mm/guest_memory_copy.cpp - copying between host buffers and guest-physical memory (loaders,
// hypercall arguments, device emulation). Both builds.
#include "lib/panic.hpp"
#include "mm/guest_memory.hpp"
#include <cstring>

namespace hv {

namespace {
u64 min_u64(u64 a, u64 b) { return a < b ? a : b; }
} // namespace

// Called with the lock held, for a GPA known to be in a RAM slot.
bool Guest_memory::resolve_page(Gpa gpa, bool populate_missing, std::optional<Ept_translation>& t,
                                Guest_copy_status& status) {
  t = ept_.translate(gpa);
  if (t || !populate_missing) return true;
  const Memslot* slot = slots_.find(gpa);
  HV_ASSERT(slot && slot->kind == Memslot_kind::ram);
  if (populate(gpa, *slot).action != Violation_action::resume) {
    status = Guest_copy_status::out_of_memory;
    return false;
  }
  t = ept_.translate(gpa);
  HV_ASSERT(t.has_value());
  return true;
}

Guest_copy_result Guest_memory::copy_to_guest(Gpa gpa, std::span<const u8> bytes) {
  Spinlock_guard guard(lock_);
  if (!slots_.all_ram(gpa, bytes.size())) return {Guest_copy_status::outside_ram, 0};
  u64 done = 0;
  while (done < bytes.size()) {
    const Gpa at = gpa + done;
    std::optional<Ept_translation> t;
    Guest_copy_status status = Guest_copy_status::ok;
    if (!resolve_page(at, true, t, status)) return {status, done};
    // A shared frame is not this guest's alone: break the sharing first, as a guest write would.
    if (t->leaf.attrs.software == frame_shared) {
      if (!break_sharing(t->leaf)) return {Guest_copy_status::out_of_memory, done};
      t = ept_.translate(at);
      HV_ASSERT(t.has_value());
    }
    if (!has_rights(t->leaf.attrs.rights, Ept_rights::write)) return {Guest_copy_status::read_only, done};
    const u64 n = min_u64(page_bytes(t->leaf.size) - (at - t->leaf.gpa), bytes.size() - done);
    std::memcpy(direct_map_.ptr(t->hpa), bytes.data() + done, n);
    done += n;
  }
  return {Guest_copy_status::ok, done};
}

Guest_copy_result Guest_memory::copy_from_guest(Gpa gpa, std::span<u8> bytes) {
  Spinlock_guard guard(lock_);
  if (!slots_.all_ram(gpa, bytes.size())) return {Guest_copy_status::outside_ram, 0};
  u64 done = 0;
  while (done < bytes.size()) {
    const Gpa at = gpa + done;
    std::optional<Ept_translation> t;
    Guest_copy_status status = Guest_copy_status::ok;
    if (!resolve_page(at, policy_.populate_on_read, t, status)) return {status, done};
    if (!t) {  // never touched: reads as the zeroed frame it would get
      const u64 n = min_u64(page_size_4k - at.page_offset(), bytes.size() - done);
      std::memset(bytes.data() + done, 0, n);
      done += n;
      continue;
    }
    const u64 n = min_u64(page_bytes(t->leaf.size) - (at - t->leaf.gpa), bytes.size() - done);
    std::memcpy(bytes.data() + done, direct_map_.ptr(t->hpa), n);
    done += n;
  }
  return {Guest_copy_status::ok, done};
}

} // namespace hv
