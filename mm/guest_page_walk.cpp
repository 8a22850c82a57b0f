// mm/guest_page_walk.cpp - the guest's 4-level page tables walked as the CPU walks them (SDM Vol. 3A
// 4.5 translation, 4.6 access rights, 4.7 page-fault error codes, 4.8 accessed and dirty flags).
// The contract is in guest_page_walk.hpp. Both builds.
//
// A walk is one read-only pass over the tables (at most four reads), judged as a whole, then the
// A/D updates, each a compare-and-set against the value the pass read. A failed compare means the
// guest (another vCPU) changed that entry under the walk: the pass is redone from CR3, because the
// change may have moved or withdrawn the translation. Up to `max_restarts` passes are redone; after
// that the last pass's values are judged and its result returned with the updates it managed.
// Flags set before a failed compare stay set (the CPU's own updates are not atomic across levels).
//
// Two reading choices the SDM leaves to the model:
//   - An implicit supervisor access (GDT, IDT, TSS, ...) is a supervisor-mode access whatever the
//     CPL (4.6): with `user` and `implicit_supervisor` both set it is judged as supervisor and the
//     error code's U bit is clear (as KVM's emulator reports it).
//   - On a protection fault (P = 1, RSVD = 0) the translation was complete, so `gpa`, `leaf_level`,
//     the combined rights and `leaf_entry` are filled as for `ok` (without A/D updates): a caller
//     can tell which right was missing.
#include "mm/guest_page_walk.hpp"
#include "arch/x86/page_table_entry.hpp"

namespace hv {
namespace {
namespace pte = x86::pte;

constexpr unsigned max_restarts = 8;

constexpr u64 bit_range(unsigned high, unsigned low) { return ((~u64{0}) >> (63 - high)) & ~((u64{1} << low) - 1); }

// Physical-address bits 51:MAXPHYADDR, reserved in every entry (MAXPHYADDR taken as 12..52).
u64 above_max_phys(const Guest_paging_mode& mode) {
  return mode.max_phys_addr_bits >= 52 ? 0 : bit_range(51, mode.max_phys_addr_bits < 12 ? 12 : mode.max_phys_addr_bits);
}

// Bits 63:47 all equal (48-bit linear addresses; LA57 is not modelled).
bool is_canonical(u64 va) {
  const u64 top = va >> 47;
  return top == 0 || top == 0x1FFFF;
}

// A user-mode access in the SDM's sense (4.6): CPL 3 and not one the CPU makes on its own.
bool user_mode(const Guest_access& access) { return access.user && !access.implicit_supervisor; }

// The W, U and I bits every #PF error code of this access carries (4.7): I only when the CPU
// reports fetches at all, that is with NXE or SMEP on.
u32 access_error_bits(const Guest_access& access, const Guest_paging_mode& mode) {
  u32 bits = 0;
  if (access.write) bits |= pf_error::W;
  if (user_mode(access)) bits |= pf_error::U;
  if (access.fetch && (mode.nxe || mode.smep)) bits |= pf_error::I;
  return bits;
}

// The access-rights rules of SDM 4.6.1 (protection keys off) over the rights combined across the
// levels. The walker and walk_allows both judge with this, and nothing else.
bool rights_allow(bool writable, bool user_page, bool executable, const Guest_access& access,
                  const Guest_paging_mode& mode) {
  if (user_mode(access)) {
    // User-mode accesses reach user-mode pages only; writes need R/W everywhere whatever CR0.WP.
    if (!user_page) return false;
    if (access.fetch) return executable;
    return !access.write || writable;
  }
  if (access.fetch) {
    // SMEP: no supervisor fetch from a user-mode page, executable or not.
    if (user_page && mode.smep) return false;
    return executable;
  }
  // SMAP: supervisor data accesses to user-mode pages only when explicit with RFLAGS.AC = 1.
  if (user_page && mode.smap && (access.implicit_supervisor || !access.ac)) return false;
  return !access.write || writable || !mode.wp;
}

// The entries' addresses of one pass, beside the result (the result keeps the tables' addresses).
struct Entry_addresses {
  Gpa at[5];
};

// One pass: reads the entries from the PML4 down, judges presence, reserved bits and (at the
// leaf) rights. Writes nothing.
Walk_result walk_once(Guest_table_memory& memory, Gpa pml4, u64 va, const Guest_access& access,
                      const Guest_paging_mode& mode, Entry_addresses& where) {
  Walk_result r;
  const u32 access_bits = access_error_bits(access, mode);
  bool writable = true;
  bool user = true;
  bool xd = false;
  Gpa table = pml4;
  for (unsigned level = 4; level >= 1; --level) {
    const Gpa at = table + 8 * u64{pte::index(va, level)};
    const std::optional<u64> read = memory.read_entry(at);
    if (!read) {
      r.status = Walk_status::table_outside_ram;
      r.fault_gpa = at;
      return r;
    }
    const u64 e = *read;
    where.at[level] = at;
    r.table_gpa[level] = table;
    r.entry[level] = e;
    r.levels_read = 5 - level;
    if (!(e & pte::P)) {
      r.error_code = access_bits;
      return r;
    }
    const bool large = (level == 3 || level == 2) && (e & pte::PS);
    if (e & reserved_bits(level, large, mode)) {
      r.error_code = pf_error::P | pf_error::RSVD | access_bits;
      return r;
    }
    writable = writable && (e & pte::RW);
    user = user && (e & pte::US);
    xd = xd || (e & pte::NX);
    if (!large && level > 1) {
      table = Gpa(e & pte::address_mask);
      continue;
    }
    // The leaf: the frame from bits 51:12 (4 KiB), 51:21 (2 MiB) or 51:30 (1 GiB); bit 12 of a
    // large leaf is its PAT bit, not address.
    const u64 offset_mask = pte::entry_span(level) - 1;
    r.gpa = Gpa((e & pte::address_mask & ~offset_mask) | (va & offset_mask));
    r.leaf_level = level;
    r.writable = writable;
    r.user = user;
    r.executable = !(mode.nxe && xd);
    r.leaf_entry = e;
    r.dirty = e & pte::D;
    if (!rights_allow(r.writable, r.user, r.executable, access, mode)) {
      r.error_code = pf_error::P | access_bits;
      return r;
    }
    r.status = Walk_status::ok;
    return r;
  }
  return r;  // not reached: level 1 is always a leaf
}

// Sets A in every entry the pass used and D in the leaf for a write, top-down, only where clear.
// False as soon as an entry no longer holds what the pass read. A table that maps itself uses one
// entry at several levels: an update is carried to every level that read the same address, so the
// next level's compare expects the value just written.
bool set_accessed_dirty(Guest_table_memory& memory, Walk_result& r, const Entry_addresses& where, bool write) {
  bool done = true;
  for (unsigned level = 4; level >= r.leaf_level && done; --level) {
    u64 bits = pte::A;
    if (level == r.leaf_level && write) bits |= pte::D;
    bits &= ~r.entry[level];
    if (bits == 0) continue;
    if (!memory.set_bits(where.at[level], r.entry[level], bits)) {
      done = false;
      continue;
    }
    for (unsigned other = r.leaf_level; other <= 4; ++other)
      if (where.at[other] == where.at[level]) r.entry[other] |= bits;
  }
  r.leaf_entry = r.entry[r.leaf_level];
  r.dirty = r.leaf_entry & pte::D;
  return done;
}

} // namespace

u64 reserved_bits(unsigned level, bool large, const Guest_paging_mode& mode) {
  u64 bits = above_max_phys(mode);
  if (!mode.nxe) bits |= pte::NX;
  switch (level) {
  case 4:
    bits |= pte::PS;  // no 512 GiB pages
    break;
  case 3:
    if (large) bits |= mode.page_1g ? bit_range(29, 13) : pte::PS;
    break;
  case 2:
    if (large) bits |= bit_range(20, 13);
    break;
  default:
    break;  // a PTE's bit 7 is its PAT bit
  }
  return bits;
}

bool walk_allows(const Walk_result& r, Guest_access access, const Guest_paging_mode& mode) {
  return rights_allow(r.writable, r.user, r.executable, access, mode);
}

Walk_result walk_guest_page_tables(Guest_table_memory& memory, u64 cr3, Gva gva, Guest_access access,
                                   const Guest_paging_mode& mode) {
  if (!is_canonical(gva.value())) {
    Walk_result r;
    r.status = Walk_status::non_canonical;
    return r;
  }
  // CR3 bits at or above MAXPHYADDR cannot be loaded (#GP at MOV to CR3): they are not address.
  const Gpa pml4(cr3 & pte::address_mask & ~above_max_phys(mode));
  for (unsigned pass = 0;; ++pass) {
    Entry_addresses where;
    Walk_result r = walk_once(memory, pml4, gva.value(), access, mode, where);
    if (r.status != Walk_status::ok) return r;
    if (set_accessed_dirty(memory, r, where, access.write) || pass == max_restarts) return r;
  }
}

} // namespace hv
