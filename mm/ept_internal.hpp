// mm/ept_internal.hpp - helpers shared by the EPT's source files (not part of its interface).
// Both builds.
//
// Every non-leaf entry keeps, in its ignored bits 61:52, the number of present entries in the
// table it points to. That makes "this table became empty, unlink it" and "this table is full"
// O(1) without a side structure. The CPU ignores these bits in PML4Es, in PDPTEs and PDEs that
// reference a table (SDM Vol. 3C 29.3.2, formats of non-leaf EPT entries).
//
// Entries are read and written with atomic operations: with accessed/dirty flags enabled the CPU
// sets bits 8 and 9 concurrently with us, and an entry must never be seen half-written.
#pragma once
#include "arch/x86/ept_entry.hpp"
#include "mm/ept_types.hpp"

namespace hv::ept_detail {

inline constexpr unsigned count_shift = 52;
inline constexpr u64 count_unit = 1ull << count_shift;
inline constexpr u64 count_mask = 0x3FFull << count_shift;

[[nodiscard]] constexpr u64 child_count(u64 link) { return (link & count_mask) >> count_shift; }

// The bits that must agree between leaves for them to merge, and that split copies: everything
// except the address, the page-size bit and the CPU-written accessed/dirty flags.
inline constexpr u64 leaf_attr_mask =
    ~(ept_entry::ADDRESS_MASK_52 | ept_entry::PAGE_SIZE | ept_entry::ACCESSED | ept_entry::DIRTY);
inline constexpr u64 rights_mask = ept_entry::RWX | ept_entry::USER_EXECUTE;

[[nodiscard]] inline u64 load(const u64* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
// Release: a table's contents are visible before the entry that links it.
inline void store(u64* p, u64 v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
[[nodiscard]] inline u64 exchange(u64* p, u64 v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL); }
[[nodiscard]] inline bool compare_exchange(u64* p, u64& expected, u64 desired) {
  return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}
inline void add_count(u64* link, u64 n) { __atomic_fetch_add(link, n * count_unit, __ATOMIC_RELAXED); }
inline void sub_count(u64* link, u64 n) { __atomic_fetch_sub(link, n * count_unit, __ATOMIC_RELAXED); }

[[nodiscard]] constexpr u64 entry_bytes(unsigned level) { return 1ull << ept_level_shift(level); }
[[nodiscard]] constexpr u64 table_span(unsigned level) { return entry_bytes(level) * ept_entries_per_table; }

[[nodiscard]] constexpr Ept_attrs attrs_from_entry(u64 e) {
  return Ept_attrs{rights_from_entry(e), static_cast<Cache_type>(ept_entry::memory_type(e)),
                   (e & ept_entry::IGNORE_PAT) != 0, static_cast<u8>((e & ept_software_mask) >> ept_software_shift)};
}
[[nodiscard]] constexpr u64 leaf_entry(u64 hpa, const Ept_attrs& a, unsigned level) {
  return ept_entry::make_leaf(hpa, rights_to_entry(a.rights), a.type, a.ignore_pat, level) |
         (static_cast<u64>(a.software) << ept_software_shift);
}
static_assert(attrs_from_entry(leaf_entry(0x5000, {Ept_rights::read_execute, Cache_type::wt, true, 2}, 1)) ==
              Ept_attrs{Ept_rights::read_execute, Cache_type::wt, true, 2});

} // namespace hv::ept_detail
