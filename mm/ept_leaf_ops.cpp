// mm/ept_leaf_ops.cpp - single-leaf operations for the merger, the balloon and CoW breaks: find the
// next leaf from a GPA (skipping empty subtrees), and replace one leaf's frame and attributes in
// place. Both builds.
#include "lib/panic.hpp"
#include "mm/ept.hpp"
#include "mm/ept_internal.hpp"

namespace hv {

using namespace ept_detail;

std::optional<Ept_leaf> Ept::next_leaf(Gpa from, Gpa limit) const {
  if (!initialized()) return std::nullopt;
  const u64 end = limit.value() < ept_4level_gpa_limit ? limit.value() : ept_4level_gpa_limit;
  u64 at = from.value();
  // Restart the walk from the root at `at`; at every level an absent entry moves `at` to the
  // start of the next entry of that level, so an empty 1 GiB range costs one step.
  while (at < end) {
    const u64* t = table(root_entry_);
    bool advanced = false;
    for (unsigned level = 4; level >= 1; --level) {
      const u64 e = load(&t[ept_index(at, level)]);
      const u64 span = entry_bytes(level);
      if (!present(e)) {
        at = (at & ~(span - 1)) + span;
        advanced = true;
        break;
      }
      if (ept_entry::is_leaf(e, level)) {
        const u64 base = at & ~(span - 1);
        if (base >= end) return std::nullopt;
        return Ept_leaf{Gpa(base), Hpa(ept_entry::address(e)), page_size_at_level(level), attrs_from_entry(e),
                        (e & ept_entry::ACCESSED) != 0, (e & ept_entry::DIRTY) != 0};
      }
      t = table(e);
    }
    HV_ASSERT(advanced);
    if (at == 0) break;  // wrapped past the top of the GPA space
  }
  return std::nullopt;
}

Ept_status Ept::replace_leaf(Gpa gpa, Page_size size, Hpa hpa, Ept_attrs attrs, Ept_batch& batch) {
  HV_ASSERT(&batch.ept() == this);
  const u64 step = page_bytes(size);
  if (const auto s = check_range(gpa, step, step); s != Ept_status::ok) return s;
  if (const auto s = check_attrs(attrs, size); s != Ept_status::ok) return s;
  if (!hpa.is_aligned(step)) return Ept_status::misaligned;
  u64* t = table(root_entry_);
  const unsigned target = leaf_level(size);
  for (unsigned level = 4; level > target; --level) {
    const u64 e = load(&t[ept_index(gpa.value(), level)]);
    if (!present(e) || ept_entry::is_leaf(e, level)) return Ept_status::not_mapped;
    t = table(e);
  }
  u64* slot = &t[ept_index(gpa.value(), target)];
  const u64 old = load(slot);
  if (!present(old) || !ept_entry::is_leaf(old, target)) return Ept_status::not_mapped;
  const u64 now = leaf_entry(hpa.value(), attrs, target);
  store(slot, now);
  // A new frame, or a right taken away: a TLB may hold the old translation (ept_invalidation.hpp).
  const u64 old_rights = old & rights_mask;
  if (ept_entry::address(old) != hpa.value() || (old_rights & ~(now & rights_mask)) != 0) {
    batch.request_flush();
    changed(gpa.value(), step);
  }
  return Ept_status::ok;
}

} // namespace hv
