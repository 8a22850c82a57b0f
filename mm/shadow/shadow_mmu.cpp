// mm/shadow/shadow_mmu.cpp - see shadow_mmu.hpp: CR3 loads and the root cache, page faults (walk
// the guest's tables, populate the guest page, build the shadow path and leaf), paging-mode
// changes and the self-check. Both builds.
#include "arch/x86/page_table_entry.hpp"
#include "lib/panic.hpp"
#include "mm/shadow/shadow_mmu.hpp"

namespace hv {

namespace pte = x86::pte;

namespace {
constexpr u64 sp_index_shift = 52;
constexpr u64 pat_4k = 1ull << 7;    // PAT bit of a 4 KiB leaf
constexpr u64 pat_large = 1ull << 12;  // PAT bit of a 2 MiB / 1 GiB leaf
bool present(u64 e) { return e & pte::P; }
u64 gfn_of(Gpa gpa) { return to_gfn(gpa).value(); }
u64 link_entry(Hpa child_table, u32 child) {
  return child_table.value() | pte::P | pte::RW | pte::US | pte::A | (u64{child} << sp_index_shift);
}
} // namespace

// ---- the walker's view of guest memory ----

class Shadow_mmu::Table_memory final : public Guest_table_memory {
public:
  explicit Table_memory(Shadow_mmu& mmu) : mmu_(mmu) {}
  std::optional<u64> read_entry(Gpa gpa) override { return mmu_.read_table_entry(gpa); }
  bool set_bits(Gpa gpa, u64 expected, u64 bits) override { return mmu_.set_table_bits(gpa, expected, bits); }

private:
  Shadow_mmu& mmu_;
};

std::optional<u64> Shadow_mmu::read_table_entry(Gpa gpa) {
  const Memslot* slot = memory_.slots_.find(gpa);
  if (!slot || slot->kind != Memslot_kind::ram) return std::nullopt;
  const auto t = memory_.ept_.translate(gpa);
  if (!t) return u64{0};  // never touched (or ballooned): reads as zeros, nothing populated
  return __atomic_load_n(direct_map_.ptr<u64>(t->hpa), __ATOMIC_ACQUIRE);
}

bool Shadow_mmu::set_table_bits(Gpa gpa, u64 expected, u64 bits) {
  auto t = memory_.ept_.translate(gpa);
  if (!t) return false;  // the entry read as zero: it cannot be `expected` any more
  if (!has_rights(t->leaf.attrs.rights, Ept_rights::write)) {
    // A merged page: A/D updates are guest writes, so the page is unshared first.
    const Violation_result v = memory_.handle_violation_locked(gpa, Ept_access{true, true, false});
    if (v.action != Violation_action::resume) {
      walk_out_of_memory_ = v.action == Violation_action::out_of_memory;
      return false;
    }
    t = memory_.ept_.translate(gpa);
    if (!t) return false;
  }
  u64 want = expected;
  return __atomic_compare_exchange_n(direct_map_.ptr<u64>(t->hpa), &want, expected | bits, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

// ---- roots ----

std::optional<Shadow_root> Shadow_mmu::load_cr3(u64 cr3) {
  Spinlock_guard guard(memory_.lock_);
  ++stats_.cr3_loads;
  const u64 base = cr3 & pte::address_mask;
  guest_cr3_ = cr3;
  const auto vpid_of = [&](u32 s) { return config_.vpid ? static_cast<u16>(config_.first_vpid + s) : u16{0}; };
  for (u32 s = 0; s < config_.max_roots; ++s) {
    if (roots_[s].page != none && roots_[s].cr3_base == base) {
      ++stats_.root_hits;
      current_ = s;
      roots_[s].last_use = ++clock_;
      return Shadow_root{Hpa(pages_[roots_[s].page].table), vpid_of(s), false};
    }
  }
  u32 slot = none;
  for (u32 s = 0; s < config_.max_roots && slot == none; ++s)
    if (roots_[s].page == none) slot = s;
  if (slot == none) {
    for (u32 s = 0; s < config_.max_roots; ++s)
      if (slot == none || roots_[s].last_use < roots_[slot].last_use) slot = s;
    drop_root(slot);
    ++stats_.root_evictions;
  }
  u32 page = alloc_page(4, gfn_of(Gpa(base)), false, none, 0, static_cast<u8>(slot));
  while (page == none && recycle(slot)) page = alloc_page(4, gfn_of(Gpa(base)), false, none, 0, static_cast<u8>(slot));
  if (page == none) return std::nullopt;
  roots_[slot] = Root{base, page, ++clock_};
  current_ = slot;
  return Shadow_root{Hpa(pages_[page].table), vpid_of(slot), config_.vpid};
}

void Shadow_mmu::set_mode(const Guest_paging_mode& m) {
  Spinlock_guard guard(memory_.lock_);
  const bool same = m.wp == mode_.wp && m.nxe == mode_.nxe && m.smep == mode_.smep && m.smap == mode_.smap &&
                    m.page_1g == mode_.page_1g && m.max_phys_addr_bits == mode_.max_phys_addr_bits;
  mode_ = m;
  if (same || !initialized_) return;
  ++stats_.resets;
  for (u32 s = 0; s < config_.max_roots; ++s)
    if (roots_[s].page != none) clear_root(roots_[s].page);
}

// ---- faults ----

Shadow_fault Shadow_mmu::page_fault(Gva gva, Guest_access access) {
  Spinlock_guard guard(memory_.lock_);
  ++stats_.faults;
  Shadow_fault out;
  // Each restart follows a change that freed tables (the budget, a guest table's shadow dropped):
  // a few are enough; more means the fault cannot make progress.
  for (int attempt = 0; attempt < 6; ++attempt) {
    if (roots_[current_].page == none) {
      out.kind = Shadow_fault_kind::out_of_memory;
      return out;
    }
    walk_out_of_memory_ = false;
    Table_memory tables(*this);
    const Walk_result w = walk_guest_page_tables(tables, guest_cr3_, gva, access, mode_);
    if (walk_out_of_memory_) {
      out.kind = Shadow_fault_kind::out_of_memory;
      return out;
    }
    switch (w.status) {
    case Walk_status::ok: break;
    case Walk_status::page_fault:
      ++stats_.guest_faults;
      out.kind = Shadow_fault_kind::guest_fault;
      out.error_code = w.error_code;
      return out;
    case Walk_status::non_canonical:
      out.kind = Shadow_fault_kind::general_protection;
      return out;
    case Walk_status::table_outside_ram:
      out.kind = Shadow_fault_kind::outside_ram;
      out.gpa = w.fault_gpa;
      return out;
    }
    switch (fill(gva, access, w, out)) {
    case Fill::done: out.kind = Shadow_fault_kind::fixed; return out;
    case Fill::failed: return out;
    case Fill::restart: continue;
    }
  }
  out.kind = Shadow_fault_kind::no_progress;
  out.gpa = Gpa(gva.value());
  return out;
}

// The shadow table below entry `index` of `page`, created (shadowing `guest_gfn`, or direct) if
// missing. none with `status` = restart (tables were recycled: walk again) or failed (no memory).
u32 Shadow_mmu::child_of(u32 page, unsigned index, u8 level, u64 guest_gfn, bool direct, Fill& status) {
  u64& e = table(page)[index];
  if (present(e)) {
    if (!(e & pte::PS)) {
      const u32 c = static_cast<u32>((e >> sp_index_shift) & 0x7FF);
      if (pages_[c].guest_gfn == guest_gfn && pages_[c].direct == direct) return c;
      unlink(c);  // cannot happen while the guest's tables are tracked; harmless if it does
    } else {
      clear_leaf(page, index);  // a 2 MiB shadow leaf where 4 KiB leaves are needed now
      request_flush();
    }
  }
  const u32 c = alloc_page(level, guest_gfn, direct, page, static_cast<u16>(index), static_cast<u8>(current_));
  if (c == none) {
    status = recycle(current_) ? Fill::restart : Fill::failed;
    return none;
  }
  table(page)[index] = link_entry(Hpa(pages_[c].table), c);
  if (!direct) track(c);
  return c;
}

u64 Shadow_mmu::leaf_value(const Walk_result& w, Guest_access access, Hpa hpa, bool map_writable, bool tracked_target,
                           bool large) const {
  u64 v = (hpa.value() & pte::address_mask) | pte::P | pte::A;
  // CR0.WP = 0 and a supervisor write to a page the guest maps read-only: writable for the one
  // instruction that writes (fill() single-steps it), so that no other access gains the right.
  const bool wp0_write = !w.writable && !mode_.wp && access.write && !access.user;
  const bool writable = (w.writable || wp0_write) && map_writable && !tracked_target && w.dirty;
  const bool user = w.user;
  if (writable) v |= pte::RW | pte::D;
  if (user) v |= pte::US;
  if (!w.executable) v |= pte::NX;
  v |= w.leaf_entry & (pte::PWT | pte::PCD);
  const bool guest_pat = w.leaf_level == 1 ? (w.leaf_entry & pat_4k) : (w.leaf_entry & pat_large);
  if (large) {
    v |= pte::PS;
    if (guest_pat) v |= pat_large;
  } else if (guest_pat) {
    v |= pat_4k;
  }
  return v;
}

Shadow_mmu::Fill Shadow_mmu::fill(Gva gva, Guest_access access, const Walk_result& w, Shadow_fault& out) {
  const Gpa gpa = w.gpa;
  const Violation_result v = memory_.handle_violation_locked(gpa, Ept_access{true, access.write, access.fetch});
  switch (v.action) {
  case Violation_action::resume: break;
  case Violation_action::emulate_mmio: out.kind = Shadow_fault_kind::mmio; out.gpa = gpa; return Fill::failed;
  case Violation_action::guest_error: out.kind = Shadow_fault_kind::outside_ram; out.gpa = gpa; return Fill::failed;
  case Violation_action::out_of_memory: out.kind = Shadow_fault_kind::out_of_memory; return Fill::failed;
  }
  const auto t = memory_.ept_.translate(gpa);
  HV_ASSERT(t.has_value());
  const bool map_writable = has_rights(t->leaf.attrs.rights, Ept_rights::write);

  // The path: one shadow table per guest table, tracked (write-protected) as it is created.
  const u32 root = roots_[current_].page;
  if (!pages_[root].tracked) track(root);
  u32 page = root;
  Fill status = Fill::done;
  for (unsigned level = 4; level > w.leaf_level; --level) {
    page = child_of(page, pte::index(gva.value(), level), static_cast<u8>(level - 1), gfn_of(w.table_gpa[level - 1]),
                    false, status);
    if (page == none) {
      if (status == Fill::failed) out.kind = Shadow_fault_kind::out_of_memory;
      return status;
    }
  }
  unsigned level = w.leaf_level;
  if (level == 3) {  // a guest 1 GiB page: a direct shadow PD of 2 MiB (or smaller) entries
    page = child_of(page, pte::index(gva.value(), 3), 2, gfn_of(Gpa(gpa.value() & ~(GiB - 1))), true, status);
    if (page == none) {
      if (status == Fill::failed) out.kind = Shadow_fault_kind::out_of_memory;
      return status;
    }
    level = 2;
  }

  const u64 target = gfn_of(gpa);
  if (level == 2) {
    const u64 base_2m = gpa.value() & ~(page_size_2m - 1);
    const unsigned index = pte::index(gva.value(), 2);
    const u64 e = table(page)[index];
    const bool has_table = present(e) && !(e & pte::PS);
    const bool map_large = t->leaf.size != Page_size::size_4k;
    const bool wp0_write = access.write && !w.writable;  // single-stepped: 4 KiB only
    if (!has_table && map_large && !wp0_write && !range_tracked(base_2m >> page_shift, 512)) {
      const Hpa frame(t->leaf.hpa.value() + (base_2m - t->leaf.gpa.value()));
      set_leaf(page, index, leaf_value(w, access, frame, map_writable, false, true), (base_2m >> page_shift) << 1 | 1);
      ++stats_.fills;
      ++stats_.large_fills;
      if (access.write) ++stats_.dirty_faults;
      return Fill::done;
    }
    page = child_of(page, index, 1, base_2m >> page_shift, true, status);
    if (page == none) {
      if (status == Fill::failed) out.kind = Shadow_fault_kind::out_of_memory;
      return status;
    }
  }

  // A 4 KiB shadow leaf. Writing a tracked guest table: its shadows go and it becomes writable;
  // if the path to it goes through one of its own shadows, it is writable for one instruction.
  bool tracked = gfn_tracked(target);
  const bool guest_may_write = w.writable || (!mode_.wp && !access.user);
  // A supervisor write the guest allows only because CR0.WP = 0: one instruction, then the leaf goes.
  bool step = access.write && !w.writable;
  bool step_table = false;
  if (access.write && tracked && guest_may_write) {
    bool on_path = false;
    for (u32 p = page; p != none; p = pages_[p].parent)
      if (!pages_[p].direct && pages_[p].guest_gfn == target) on_path = true;
    if (on_path) {
      step = step_table = true;
    } else {
      drop_shadows_of(target);  // frees no table of this path (its tables all shadow other GFNs)
    }
    tracked = false;
  }
  const Hpa hpa(t->hpa.value() & ~(page_size_4k - 1));
  const unsigned index = pte::index(gva.value(), 1);
  set_leaf(page, index, leaf_value(w, access, hpa, map_writable, tracked, false), target << 1);
  if (step) {
    if (step_table) ++stats_.table_writes;
    ++stats_.single_steps;
    stepping_ = true;
    step_table_ = step_table;
    step_gfn_ = target;
    step_page_ = page;
    step_index_ = index;
    out.kind = Shadow_fault_kind::single_step;
    out.gpa = gpa;
    return Fill::failed;
  }
  ++stats_.fills;
  if (access.write) ++stats_.dirty_faults;
  return Fill::done;
}

void Shadow_mmu::end_single_step() {
  Spinlock_guard guard(memory_.lock_);
  if (!stepping_) return;
  stepping_ = false;
  // The leaf made writable for the step goes (if the step's faults did not recycle it already).
  const Page& p = pages_[step_page_];
  if (p.table && p.meta && meta_keys(step_page_)[step_index_] == static_cast<u32>(step_gfn_ << 1)) {
    clear_leaf(step_page_, step_index_);
    request_flush();
  }
  // A table write: the table changed under its shadows, which go too; the next fault through it
  // builds them again from what the guest wrote.
  if (step_table_) {
    drop_shadows_of(step_gfn_);
    --stats_.table_writes;  // counted once, at the fault
  }
}

// ---- self-check (tests) ----

namespace {
// Reads guest entries like the walker but never writes: the check must not change what it checks.
class Read_only_tables final : public Guest_table_memory {
public:
  explicit Read_only_tables(Guest_table_memory& inner) : inner_(inner) {}
  std::optional<u64> read_entry(Gpa gpa) override { return inner_.read_entry(gpa); }
  bool set_bits(Gpa, u64, u64) override { return true; }

private:
  Guest_table_memory& inner_;
};
} // namespace

const char* Shadow_mmu::check_tree(u32 page, u64 gva_base, u64 cr3) const {
  const Page& p = pages_[page];
  const u64* t = table(page);
  auto& self = const_cast<Shadow_mmu&>(*this);
  for (unsigned i = 0; i < 512; ++i) {
    const u64 e = t[i];
    if (!present(e)) continue;
    u64 gva = gva_base + u64{i} * pte::entry_span(p.level);
    if (p.level == 4 && i >= 256) gva |= 0xFFFF'0000'0000'0000ull;
    if (p.level > 1 && !(e & pte::PS)) {
      const u32 c = static_cast<u32>((e >> sp_index_shift) & 0x7FF);
      if (pages_[c].parent != page || pages_[c].parent_index != i) return "a child's parent link is wrong";
      if (!pages_[c].direct && !pages_[c].tracked) return "a shadow table of a guest table is not tracked";
      if (const char* why = check_tree(c, gva, cr3)) return why;
      continue;
    }
    // A leaf: the guest's tables must translate its address to the GFN it maps, with at least
    // its rights, and the map must give the same frame.
    Table_memory inner(self);
    Read_only_tables ro(inner);
    // A supervisor read with RFLAGS.AC = 1: allowed on every present page, SMAP included.
    Guest_access probe;
    probe.ac = true;
    const Walk_result w = walk_guest_page_tables(ro, cr3, Gva(gva), probe, mode_);
    const u64 key = meta_keys(page)[i];
    const u64 gfn = key >> 1;
    if (w.status != Walk_status::ok) return "a shadow leaf maps an address the guest's tables do not";
    if (gfn_of(w.gpa) != gfn)
      return "a shadow leaf maps another GFN than the guest's tables";
    if ((e & pte::US) && !w.user) return "a shadow leaf gives user access the guest does not";
    if ((e & pte::RW) && !w.writable && mode_.wp) return "a shadow leaf is writable where the guest's is not";
    if (!(e & pte::NX) && !w.executable) return "a shadow leaf is executable where the guest's is not";
    const auto tr = memory_.ept_.translate(to_gpa(Gfn(gfn)));
    if (!tr) return "a shadow leaf maps a GFN the map does not";
    const u64 want = (key & 1) ? tr->leaf.hpa.value() + ((gfn << page_shift) - tr->leaf.gpa.value())
                               : tr->hpa.value() & ~(page_size_4k - 1);
    if ((e & pte::address_mask) != want) return "a shadow leaf maps another frame than the map";
    if ((e & pte::RW) && !has_rights(tr->leaf.attrs.rights, Ept_rights::write))
      return "a shadow leaf is writable over a read-only (merged) frame";
    if ((e & pte::RW) && ((key & 1) ? range_tracked(gfn, 512) : gfn_tracked(gfn)))
      return "a tracked guest table is mapped writable";
  }
  return nullptr;
}

const char* Shadow_mmu::check() const {
  Spinlock_guard guard(memory_.lock_);
  if (stepping_) return nullptr;  // one table is writable on purpose for one instruction
  u32 counted = 0;
  for (u32 i = 0; i < config_.max_table_pages; ++i)
    if (pages_[i].table) ++counted;
  if (counted != in_use_) return "the count of tables in use is wrong";
  for (u32 s = 0; s < config_.max_roots; ++s) {
    if (roots_[s].page == none) continue;
    if (const char* why = check_tree(roots_[s].page, 0, roots_[s].cr3_base)) return why;
  }
  return nullptr;
}

} // namespace hv
