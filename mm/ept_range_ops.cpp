// mm/ept_range_ops.cpp - unmap and protect over a GPA range. Both builds.
// Both recurse from the PML4 into the tables the range touches, split large leaves that the range
// covers only partly, and record in the batch what needs an INVEPT (see ept_invalidation.hpp).
#include "lib/panic.hpp"
#include "mm/ept.hpp"
#include "mm/ept_internal.hpp"

namespace hv {

using namespace ept_detail;

namespace {
// Indexes of the entries of the table at `level` covering `base` that overlap [start, end).
struct Span {
  unsigned first;
  unsigned last;
};
Span overlap(unsigned level, u64 base, u64 start, u64 end) {
  const u64 step = entry_bytes(level);
  const u64 last = (end - 1 - base) / step;
  return {static_cast<unsigned>((start - base) / step),
          static_cast<unsigned>(last < ept_entries_per_table ? last : ept_entries_per_table - 1)};
}
u64 max_u64(u64 a, u64 b) { return a > b ? a : b; }
u64 min_u64(u64 a, u64 b) { return a < b ? a : b; }
} // namespace

Ept_status Ept::unmap(Gpa gpa, u64 bytes, Ept_batch& batch) {
  HV_ASSERT(&batch.ept() == this);
  if (const auto s = check_range(gpa, bytes, page_size_4k); s != Ept_status::ok) return s;
  if (bytes == 0) return Ept_status::ok;
  return unmap_in(&root_entry_, 4, 0, gpa.value(), gpa.value() + bytes, batch, nullptr, nullptr);
}

Ept_status Ept::unmap_visiting(Gpa gpa, u64 bytes, Ept_batch& batch, Leaf_visitor fn, void* ctx) {
  HV_ASSERT(&batch.ept() == this);
  if (const auto s = check_range(gpa, bytes, page_size_4k); s != Ept_status::ok) return s;
  if (bytes == 0) return Ept_status::ok;
  return unmap_in(&root_entry_, 4, 0, gpa.value(), gpa.value() + bytes, batch, fn, ctx);
}

Ept_status Ept::unmap_in(u64* link, unsigned level, u64 base, u64 start, u64 end, Ept_batch& batch, Leaf_visitor fn,
                         void* ctx) {
  u64* t = table(load(link));
  const u64 step = entry_bytes(level);
  const Span span = overlap(level, base, start, end);
  u64 removed = 0;
  Ept_status status = Ept_status::ok;
  for (unsigned i = span.first; i <= span.last; ++i) {
    u64* e = &t[i];
    const u64 v = load(e);
    if (!present(v)) continue;
    const u64 entry_start = base + i * step;
    const u64 entry_end = entry_start + step;
    if (ept_entry::is_leaf(v, level)) {
      if (start <= entry_start && entry_end <= end) {
        const u64 old = exchange(e, 0);
        batch.request_flush();  // before the visitor, which may finish the batch
        changed(entry_start, step);
        if (fn) fn(ctx, Ept_leaf{Gpa(entry_start), Hpa(ept_entry::address(old)), page_size_at_level(level), attrs_from_entry(old),
                                 (old & ept_entry::ACCESSED) != 0, (old & ept_entry::DIRTY) != 0});
        ++removed;
        mapped_bytes_ -= step;
        continue;
      }
      if (fn) {  // the caller made the ends leaf boundaries: a straddling leaf is its error
        status = Ept_status::misaligned;
        break;
      }
      status = split_entry(e, level);
      if (status != Ept_status::ok) break;
    }
    const u64 child = load(e);
    status = unmap_in(e, level - 1, entry_start, max_u64(start, entry_start), min_u64(end, entry_end), batch, fn, ctx);
    if (child_count(load(e)) == 0) {
      (void)exchange(e, 0);
      ++removed;
      batch.request_flush();
      batch.defer_free(Hpa(ept_entry::address(child)));
      --table_pages_;
    }
    if (status != Ept_status::ok) break;
  }
  if (removed) sub_count(link, removed);
  return status;
}

Ept_status Ept::protect(Gpa gpa, u64 bytes, Ept_rights rights, Ept_batch& batch) {
  HV_ASSERT(&batch.ept() == this);
  if (const auto s = check_range(gpa, bytes, page_size_4k); s != Ept_status::ok) return s;
  if (const auto s = check_attrs(Ept_attrs{rights}, Page_size::size_4k); s != Ept_status::ok) return s;
  if (bytes == 0) return Ept_status::ok;
  return protect_in(&root_entry_, 4, 0, gpa.value(), gpa.value() + bytes, rights, batch);
}

Ept_status Ept::protect_in(u64* link, unsigned level, u64 base, u64 start, u64 end, Ept_rights rights,
                           Ept_batch& batch) {
  u64* t = table(load(link));
  const u64 step = entry_bytes(level);
  const u64 new_bits = rights_to_entry(rights);
  const bool exec_needs_4k = config_.no_exec_large_leaves && has_any_execute(rights);
  const Span span = overlap(level, base, start, end);
  for (unsigned i = span.first; i <= span.last; ++i) {
    u64* e = &t[i];
    u64 v = load(e);
    if (!present(v)) continue;
    const u64 entry_start = base + i * step;
    const u64 entry_end = entry_start + step;
    if (ept_entry::is_leaf(v, level)) {
      const bool whole = start <= entry_start && entry_end <= end;
      if (whole && !(level > 1 && exec_needs_4k)) {
        // Retried only when the CPU set accessed/dirty in between.
        while (!compare_exchange(e, v, (v & ~rights_mask) | new_bits)) {}
        if (v & rights_mask & ~new_bits) {
          batch.request_flush();
          changed(entry_start, step);
        }
        continue;
      }
      if (const auto s = split_entry(e, level); s != Ept_status::ok) return s;
    }
    const auto s = protect_in(e, level - 1, entry_start, max_u64(start, entry_start), min_u64(end, entry_end), rights, batch);
    if (s != Ept_status::ok) return s;
  }
  return Ept_status::ok;
}

} // namespace hv
