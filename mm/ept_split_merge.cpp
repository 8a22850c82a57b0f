// mm/ept_split_merge.cpp - turning a large leaf into a table of smaller leaves and back. Both
// builds. Neither changes any translation: split needs no INVEPT; merge needs one only because the
// replaced table page must not be reused while paging-structure caches may still point into it.
#include "lib/panic.hpp"
#include "mm/ept.hpp"
#include "mm/ept_internal.hpp"

namespace hv {

using namespace ept_detail;

// Replaces the large leaf *entry (at `level`, 2 or 3) by a full table of 512 leaves of the next
// size down with the same attributes (rights, type, ignore-PAT, software bits, suppress #VE) and
// the accessed/dirty flags it had. The parent's count does not change: the entry stays present.
Ept_status Ept::split_entry(u64* entry, unsigned level) {
  HV_ASSERT(level == 2 || level == 3);
  const auto page = alloc_table();
  if (!page) return Ept_status::out_of_memory;
  u64* child = direct_map_.ptr<u64>(*page);
  const unsigned child_level = level - 1;
  const u64 step = entry_bytes(child_level);
  const u64 link = ept_entry::make_table(page->value(), config_.mode_based_execute) |
                   (ept_entries_per_table * count_unit);
  u64 v = load(entry);
  for (;;) {
    HV_ASSERT(present(v) && ept_entry::is_leaf(v, level));
    const u64 proto = (v & ~(ept_entry::ADDRESS_MASK_52 | ept_entry::PAGE_SIZE)) |
                      (child_level > 1 ? ept_entry::PAGE_SIZE : 0);
    const u64 base = ept_entry::address(v);
    for (unsigned i = 0; i < ept_entries_per_table; ++i) child[i] = proto | (base + i * step);
    // Fails only if the CPU set accessed/dirty meanwhile; then redo with the new flags.
    if (compare_exchange(entry, v, link)) break;
  }
  ++table_pages_;
  return Ept_status::ok;
}

Ept_status Ept::split(Gpa gpa) {
  if (!initialized()) return Ept_status::not_initialized;
  if (gpa.value() >= ept_4level_gpa_limit) return Ept_status::gpa_out_of_range;
  u64* t = table(root_entry_);
  for (unsigned level = 4; level >= 1; --level) {
    u64* e = &t[ept_index(gpa.value(), level)];
    const u64 v = load(e);
    if (!present(v)) return Ept_status::not_mapped;
    if (ept_entry::is_leaf(v, level)) return level == 1 ? Ept_status::not_large : split_entry(e, level);
    t = table(v);
  }
  return Ept_status::not_mapped;
}

Ept_status Ept::merge(Gpa gpa, Page_size target, Ept_batch& batch) {
  HV_ASSERT(&batch.ept() == this);
  if (!initialized()) return Ept_status::not_initialized;
  if (target == Page_size::size_4k || (target == Page_size::size_2m && !config_.allow_2m) ||
      (target == Page_size::size_1g && !config_.allow_1g))
    return Ept_status::size_not_supported;
  if (gpa.value() >= ept_4level_gpa_limit) return Ept_status::gpa_out_of_range;

  const unsigned level = leaf_level(target);
  u64* t = table(root_entry_);
  for (unsigned l = 4; l > level; --l) {
    const u64 v = load(&t[ept_index(gpa.value(), l)]);
    if (!present(v)) return Ept_status::not_mapped;
    if (ept_entry::is_leaf(v, l)) return Ept_status::not_mergeable;  // inside an even larger leaf
    t = table(v);
  }
  u64* e = &t[ept_index(gpa.value(), level)];
  const u64 v = load(e);
  if (!present(v)) return Ept_status::not_mapped;
  if (ept_entry::is_leaf(v, level) || child_count(v) != ept_entries_per_table) return Ept_status::not_mergeable;

  const u64* child = table(v);
  const unsigned child_level = level - 1;
  const u64 step = entry_bytes(child_level);
  const u64 first = load(&child[0]);
  if (!ept_entry::is_leaf(first, child_level)) return Ept_status::not_mergeable;
  const u64 base = ept_entry::address(first);
  if (base & (entry_bytes(level) - 1)) return Ept_status::not_mergeable;
  const u64 attrs = first & leaf_attr_mask;
  u64 flags = first & (ept_entry::ACCESSED | ept_entry::DIRTY);
  for (unsigned i = 1; i < ept_entries_per_table; ++i) {
    const u64 c = load(&child[i]);
    if (!present(c) || !ept_entry::is_leaf(c, child_level) || ept_entry::address(c) != base + i * step ||
        (c & leaf_attr_mask) != attrs)
      return Ept_status::not_mergeable;
    flags |= c & (ept_entry::ACCESSED | ept_entry::DIRTY);
  }
  if (config_.no_exec_large_leaves && (attrs & (ept_entry::EXECUTE | ept_entry::USER_EXECUTE)))
    return Ept_status::exec_large_forbidden;

  store(e, attrs | base | ept_entry::PAGE_SIZE | flags);
  // Flags the CPU set in the old leaves between our reads and the store above are carried over.
  u64 late = 0;
  for (unsigned i = 0; i < ept_entries_per_table; ++i) late |= load(&child[i]) & (ept_entry::ACCESSED | ept_entry::DIRTY);
  if (late & ~flags) __atomic_fetch_or(e, late, __ATOMIC_RELAXED);

  batch.request_flush();
  batch.defer_free(Hpa(ept_entry::address(v)));
  --table_pages_;
  return Ept_status::ok;
}

} // namespace hv
