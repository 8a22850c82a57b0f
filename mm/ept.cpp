// mm/ept.cpp - EPT life cycle, mapping, translation and leaf iteration. Both builds.
// Range changes (unmap, protect) are in ept_range_ops.cpp, split and merge in ept_split_merge.cpp.
#include "mm/ept.hpp"
#include "lib/panic.hpp"
#include "mm/ept_internal.hpp"
#include "mm/eptp.hpp"
#include <cstring>

namespace hv {

using namespace ept_detail;

const char* ept_status_name(Ept_status s) {
  switch (s) {
  case Ept_status::ok: return "ok";
  case Ept_status::not_initialized: return "not initialized";
  case Ept_status::misaligned: return "misaligned";
  case Ept_status::gpa_out_of_range: return "GPA out of range";
  case Ept_status::hpa_out_of_range: return "HPA beyond MAXPHYADDR";
  case Ept_status::size_not_supported: return "page size not supported";
  case Ept_status::invalid_rights: return "invalid rights";
  case Ept_status::invalid_cache_type: return "invalid memory type";
  case Ept_status::exec_large_forbidden: return "executable large page forbidden by policy";
  case Ept_status::already_mapped: return "already mapped";
  case Ept_status::not_mapped: return "not mapped";
  case Ept_status::not_large: return "not a large page";
  case Ept_status::not_mergeable: return "not mergeable";
  case Ept_status::out_of_memory: return "out of memory";
  }
  return "?";
}

Ept::Ept(Frame_source& frames, Direct_map direct_map, Ept_invalidator& invalidator, const Ept_config& config)
    : frames_(frames), direct_map_(direct_map), invalidator_(invalidator), config_(config) {}

std::optional<Hpa> Ept::alloc_table() {
  const auto page = frames_.alloc_frames(order_4k, Frame_use::page_table, config_.owner);
  if (page) std::memset(direct_map_.ptr(*page), 0, page_size_4k);
  return page;
}

Ept_status Ept::init() {
  if (initialized()) return Ept_status::ok;
  const auto root = alloc_table();
  if (!root) return Ept_status::out_of_memory;
  root_entry_ = ept_entry::make_table(root->value(), config_.mode_based_execute);
  table_pages_ = 1;
  mapped_bytes_ = 0;
  return Ept_status::ok;
}

void Ept::destroy() {
  if (!initialized()) return;
  HV_ASSERT(open_batches_ == 0);
  // The CPU may still cache translations tagged with this EPTP; a later EPT whose PML4 lands in
  // the same page would inherit them.
  invalidator_.invept_single_context(eptp());
  free_tables(ept_entry::address(root_entry_), 4);
  root_entry_ = 0;
  table_pages_ = 0;
  mapped_bytes_ = 0;
}

void Ept::free_tables(u64 table_hpa, unsigned level) {
  const u64* t = direct_map_.ptr<u64>(Hpa(table_hpa));
  if (level > 1) {
    for (unsigned i = 0; i < ept_entries_per_table; ++i) {
      const u64 e = load(&t[i]);
      if (present(e) && !ept_entry::is_leaf(e, level)) free_tables(ept_entry::address(e), level - 1);
    }
  }
  frames_.free_frames(Hpa(table_hpa), order_4k);
}

u64 Ept::eptp() const {
  return make_eptp({config_.walk_type, 4, config_.accessed_dirty, pml4()});
}

Ept_status Ept::check_attrs(Ept_attrs a, Page_size size) const {
  if (size == Page_size::size_2m && !config_.allow_2m) return Ept_status::size_not_supported;
  if (size == Page_size::size_1g && !config_.allow_1g) return Ept_status::size_not_supported;
  if (static_cast<u8>(a.rights) > 15 || a.rights == Ept_rights::none) return Ept_status::invalid_rights;
  if (has_rights(a.rights, Ept_rights::user_execute) && !config_.mode_based_execute) return Ept_status::invalid_rights;
  const u64 bits = rights_to_entry(a.rights);
  if (ept_entry::rights_misconfigured(bits, config_.execute_only)) return Ept_status::invalid_rights;
  if (!(bits & ept_entry::READ) && (bits & ept_entry::USER_EXECUTE) && !config_.execute_only)
    return Ept_status::invalid_rights;
  if (!cache_type_valid(static_cast<u64>(a.type)) || a.software > 3) return Ept_status::invalid_cache_type;
  if (size != Page_size::size_4k && config_.no_exec_large_leaves && has_any_execute(a.rights))
    return Ept_status::exec_large_forbidden;
  return Ept_status::ok;
}

Ept_status Ept::check_range(Gpa gpa, u64 bytes, u64 alignment) const {
  if (!initialized()) return Ept_status::not_initialized;
  if (!gpa.is_aligned(alignment) || (bytes & (alignment - 1)) != 0) return Ept_status::misaligned;
  if (gpa.value() >= ept_4level_gpa_limit || bytes > ept_4level_gpa_limit - gpa.value())
    return Ept_status::gpa_out_of_range;
  return Ept_status::ok;
}

// Finds the table at `target_level` that holds gpa's entry, creating the missing tables on the
// way. All missing tables are allocated before any is linked, so running out of memory leaves no
// trace. `link` is the entry that points to the returned table (it carries the table's count).
Ept_status Ept::walk_create(u64 gpa, unsigned target_level, u64*& link, u64*& table_out) {
  u64* up = &root_entry_;
  u64* t = table(root_entry_);
  for (unsigned level = 4; level > target_level; --level) {
    u64* e = &t[ept_index(gpa, level)];
    const u64 v = load(e);
    if (!present(v)) {
      const unsigned need = level - target_level;
      Hpa pages[3];
      for (unsigned i = 0; i < need; ++i) {
        const auto p = alloc_table();
        if (!p) {
          for (unsigned j = 0; j < i; ++j) frames_.free_frames(pages[j], order_4k);
          return Ept_status::out_of_memory;
        }
        pages[i] = *p;
      }
      // pages[i] is the table of level (level - 1 - i); each but the last points to the next.
      // A link carries its child's count: 1 for a new intermediate table, 0 for the target.
      for (unsigned i = 0; i + 1 < need; ++i) {
        u64* pt = direct_map_.ptr<u64>(pages[i]);
        store(&pt[ept_index(gpa, level - 1 - i)], ept_entry::make_table(pages[i + 1].value(), config_.mode_based_execute) |
                                                      (i + 2 < need ? count_unit : 0));
      }
      store(e, ept_entry::make_table(pages[0].value(), config_.mode_based_execute) | (need > 1 ? count_unit : 0));
      add_count(up, 1);
      table_pages_ += need;
      link = need == 1 ? e : &direct_map_.ptr<u64>(pages[need - 2])[ept_index(gpa, target_level + 1)];
      table_out = direct_map_.ptr<u64>(pages[need - 1]);
      return Ept_status::ok;
    }
    if (ept_entry::is_leaf(v, level)) return Ept_status::already_mapped;
    up = e;
    t = table(v);
  }
  link = up;
  table_out = t;
  return Ept_status::ok;
}

Ept_status Ept::map(Gpa gpa, Hpa hpa, Page_size size, Ept_attrs attrs) {
  return map_range(gpa, hpa, page_bytes(size), size, attrs).status;
}

Ept_map_result Ept::map_range(Gpa gpa, Hpa hpa, u64 bytes, Page_size size, Ept_attrs attrs) {
  const u64 step = page_bytes(size);
  if (const auto s = check_range(gpa, bytes, step); s != Ept_status::ok) return {s, 0};
  if (const auto s = check_attrs(attrs, size); s != Ept_status::ok) return {s, 0};
  if (!hpa.is_aligned(step)) return {Ept_status::misaligned, 0};
  const u64 hpa_limit = 1ull << (config_.max_phys_addr_bits > 52 ? 52 : config_.max_phys_addr_bits);
  if (hpa.value() >= hpa_limit || bytes > hpa_limit - hpa.value()) return {Ept_status::hpa_out_of_range, 0};

  const unsigned level = leaf_level(size);
  const u64 proto = leaf_entry(0, attrs, level);
  u64 done = 0;
  while (done < bytes) {
    const u64 g = gpa.value() + done;
    u64* link = nullptr;
    u64* t = nullptr;
    if (const auto s = walk_create(g, level, link, t); s != Ept_status::ok) return {s, done};
    const unsigned first = ept_index(g, level);
    const u64 want = (bytes - done) / step;
    const unsigned n = static_cast<unsigned>(want < ept_entries_per_table - first ? want : ept_entries_per_table - first);
    unsigned run = 0;
    while (run < n && !present(load(&t[first + run]))) ++run;
    u64 h = hpa.value() + done;
    for (unsigned i = 0; i < run; ++i, h += step) store(&t[first + i], proto | h);
    add_count(link, run);
    mapped_bytes_ += run * step;
    done += run * step;
    if (run < n) return {Ept_status::already_mapped, done};
  }
  return {Ept_status::ok, done};
}

std::optional<Ept_translation> Ept::translate(Gpa gpa) const {
  if (!initialized() || gpa.value() >= ept_4level_gpa_limit) return std::nullopt;
  const u64* t = table(root_entry_);
  for (unsigned level = 4; level >= 1; --level) {
    const u64 e = load(&t[ept_index(gpa.value(), level)]);
    if (!present(e)) return std::nullopt;
    if (ept_entry::is_leaf(e, level)) {
      const u64 span = entry_bytes(level);
      Ept_translation tr;
      tr.leaf.gpa = Gpa(gpa.value() & ~(span - 1));
      tr.leaf.hpa = Hpa(ept_entry::address(e));
      tr.leaf.size = page_size_at_level(level);
      tr.leaf.attrs = attrs_from_entry(e);
      tr.leaf.accessed = (e & ept_entry::ACCESSED) != 0;
      tr.leaf.dirty = (e & ept_entry::DIRTY) != 0;
      tr.hpa = tr.leaf.hpa + (gpa.value() & (span - 1));
      return tr;
    }
    t = table(e);
  }
  return std::nullopt;
}

bool Ept::range_unmapped(Gpa base, Page_size size) const {
  if (!initialized()) return true;
  const u64* t = table(root_entry_);
  for (unsigned level = 4; level >= leaf_level(size); --level) {
    const u64 e = load(&t[ept_index(base.value(), level)]);
    if (!present(e)) return true;
    if (level == leaf_level(size) || ept_entry::is_leaf(e, level)) return false;
    t = table(e);
  }
  return true;
}

void Ept::visit_leaves(Leaf_visitor fn, void* ctx) const {
  if (initialized()) visit_table(table(root_entry_), 4, 0, fn, ctx);
}

void Ept::visit_table(const u64* t, unsigned level, u64 base, Leaf_visitor fn, void* ctx) const {
  for (unsigned i = 0; i < ept_entries_per_table; ++i) {
    const u64 e = load(&t[i]);
    if (!present(e)) continue;
    const u64 gpa = base + i * entry_bytes(level);
    if (ept_entry::is_leaf(e, level)) {
      const Ept_leaf leaf{Gpa(gpa), Hpa(ept_entry::address(e)), page_size_at_level(level), attrs_from_entry(e),
                          (e & ept_entry::ACCESSED) != 0, (e & ept_entry::DIRTY) != 0};
      fn(ctx, leaf);
    } else {
      visit_table(table(e), level - 1, gpa, fn, ctx);
    }
  }
}

} // namespace hv
