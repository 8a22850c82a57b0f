// arch/x86/ept_entry.hpp - the layout of an EPT paging-structure entry (Intel SDM Vol. 3C 29.3.2
// "EPT Translation Mechanism", tables "Format of an EPT PML4 Entry" .. "Format of an EPT
// Page-Table Entry", and 29.3.3 "EPT-Induced VM Exits"). Both builds. Pure description: no policy.
//
//   bit  0      Read access                         (all entries)
//   bit  1      Write access
//   bit  2      Execute access (supervisor-mode execute when mode-based execute control is on)
//   bits 5:3    EPT memory type                     (leaves only; reserved in non-leaf entries)
//   bit  6      Ignore PAT memory type              (leaves only)
//   bit  7      page size: 1 = this PDPTE maps 1 GiB / this PDE maps 2 MiB (must be 0 in a PML4E;
//               ignored in a PTE, we keep it 0)
//   bit  8      Accessed (set by the CPU when EPTP bit 6 enables accessed/dirty flags)
//   bit  9      Dirty    (leaves only)
//   bit 10      Execute access for user-mode linear addresses (mode-based execute control)
//   bit 11      ignored
//   bits 51:12  physical address (of the next table or of the page), bits >= MAXPHYADDR reserved
//   bits 62:52  ignored in non-leaf entries; in leaves 57/58/60/61 have meanings under newer
//               controls (guest-paging verification, paging-write, supervisor shadow stack, SPP)
//   bit 63      Suppress #VE (leaves; ignored in non-leaf entries)
// An entry is present when any of bits 2:0 is 1 (or bit 10, with mode-based execute control).
// Write without read (bits 1:0 = 10b) is an EPT misconfiguration; so is execute-only when the
// CPU lacks IA32_VMX_EPT_VPID_CAP bit 0, and memory types 2, 3 and 7 in a leaf.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

// The SDM's "memory types" (Vol. 3A 12.3, table "Memory Types and Their Properties"); the same
// encodings serve the MTRRs, the PAT and EPT. Named Cache_type because Memory_type is the UEFI
// memory map's (mm/memory_map.hpp).
enum class Cache_type : u8 {
  uc = 0,  // uncacheable
  wc = 1,  // write combining
  wt = 4,  // write-through
  wp = 5,  // write-protected
  wb = 6,  // write-back
};

[[nodiscard]] constexpr bool cache_type_valid(u64 encoding) {
  return encoding == 0 || encoding == 1 || encoding == 4 || encoding == 5 || encoding == 6;
}

[[nodiscard]] constexpr const char* cache_type_name(Cache_type t) {
  switch (t) {
  case Cache_type::uc: return "UC";
  case Cache_type::wc: return "WC";
  case Cache_type::wt: return "WT";
  case Cache_type::wp: return "WP";
  case Cache_type::wb: return "WB";
  }
  return "reserved";
}

namespace ept_entry {

inline constexpr u64 READ = 1ull << 0;
inline constexpr u64 WRITE = 1ull << 1;
inline constexpr u64 EXECUTE = 1ull << 2;
inline constexpr unsigned MEMORY_TYPE_SHIFT = 3;
inline constexpr u64 MEMORY_TYPE_MASK = 7ull << MEMORY_TYPE_SHIFT;
inline constexpr u64 IGNORE_PAT = 1ull << 6;
inline constexpr u64 PAGE_SIZE = 1ull << 7;  // "large page" in PDPTEs and PDEs
inline constexpr u64 ACCESSED = 1ull << 8;
inline constexpr u64 DIRTY = 1ull << 9;
inline constexpr u64 USER_EXECUTE = 1ull << 10;
inline constexpr u64 SUPPRESS_VE = 1ull << 63;
inline constexpr u64 RWX = READ | WRITE | EXECUTE;

// Bits 51:12 with every physical-address bit the architecture allows (MAXPHYADDR = 52).
inline constexpr u64 ADDRESS_MASK_52 = 0x000F'FFFF'FFFF'F000ull;

// Address bits 51:12 restricted to MAXPHYADDR (CPUID.80000008H:EAX[7:0]); bits at or above
// MAXPHYADDR are reserved and must be 0.
[[nodiscard]] constexpr u64 address_mask(unsigned max_phys_addr_bits) {
  const unsigned bits = max_phys_addr_bits > 52 ? 52 : max_phys_addr_bits;
  return ((1ull << bits) - 1) & ~0xFFFull;
}

[[nodiscard]] constexpr u64 address(u64 entry) { return entry & ADDRESS_MASK_52; }
[[nodiscard]] constexpr u64 with_address(u64 entry, u64 hpa) {
  return (entry & ~ADDRESS_MASK_52) | (hpa & ADDRESS_MASK_52);
}
[[nodiscard]] constexpr u64 memory_type(u64 entry) { return (entry & MEMORY_TYPE_MASK) >> MEMORY_TYPE_SHIFT; }
[[nodiscard]] constexpr u64 with_memory_type(u64 entry, Cache_type t) {
  return (entry & ~MEMORY_TYPE_MASK) | (static_cast<u64>(t) << MEMORY_TYPE_SHIFT);
}

// Present: any of bits 2:0, or bit 10 when mode-based execute control for EPT is enabled.
[[nodiscard]] constexpr bool present(u64 entry, bool mode_based_execute = false) {
  return (entry & RWX) != 0 || (mode_based_execute && (entry & USER_EXECUTE) != 0);
}
// A PDPTE (level 3) or PDE (level 2) with bit 7 set maps a page; a PTE (level 1) always does.
// Levels count from the leaves: 1 = PT, 2 = PD, 3 = PDPT, 4 = PML4.
[[nodiscard]] constexpr bool is_leaf(u64 entry, unsigned level) {
  return level == 1 || ((level == 2 || level == 3) && (entry & PAGE_SIZE) != 0);
}
// The combinations the CPU treats as an EPT misconfiguration whatever the entry maps
// (write without read; execute-only without the capability).
[[nodiscard]] constexpr bool rights_misconfigured(u64 entry, bool execute_only_supported) {
  const u64 rwx = entry & RWX;
  if ((rwx & (READ | WRITE)) == WRITE) return true;
  if (rwx == EXECUTE && !execute_only_supported) return true;
  return false;
}

// A leaf: rights, memory type, ignore-PAT, the page's address, and bit 7 for 2 MiB / 1 GiB.
[[nodiscard]] constexpr u64 make_leaf(u64 hpa, u64 rights_bits, Cache_type type, bool ignore_pat,
                                      unsigned level) {
  return (hpa & ADDRESS_MASK_52) | (rights_bits & (RWX | USER_EXECUTE)) |
         (static_cast<u64>(type) << MEMORY_TYPE_SHIFT) | (ignore_pat ? IGNORE_PAT : 0) |
         (level > 1 ? PAGE_SIZE : 0);
}
// A non-leaf entry: grants everything, so the leaf alone decides the rights.
[[nodiscard]] constexpr u64 make_table(u64 table_hpa, bool mode_based_execute) {
  return (table_hpa & ADDRESS_MASK_52) | RWX | (mode_based_execute ? USER_EXECUTE : 0);
}

// Layout checks against the SDM's figures.
static_assert(RWX == 0x7);
static_assert(MEMORY_TYPE_MASK == 0x38);
static_assert(make_leaf(0x1234'5000, RWX, Cache_type::wb, false, 1) == 0x1234'5037);
static_assert(make_leaf(0x4020'0000, READ | WRITE, Cache_type::uc, true, 2) == 0x4020'00C3);
static_assert(memory_type(make_leaf(0, READ, Cache_type::wt, false, 1)) == 4);
static_assert(address_mask(39) == 0x0000'007F'FFFF'F000ull);
static_assert(address_mask(52) == ADDRESS_MASK_52);
static_assert(is_leaf(PAGE_SIZE, 2) && is_leaf(PAGE_SIZE, 3) && !is_leaf(PAGE_SIZE, 4) && is_leaf(0, 1));
static_assert(rights_misconfigured(WRITE, true) && rights_misconfigured(EXECUTE, false) &&
              !rights_misconfigured(EXECUTE, true) && !rights_misconfigured(READ | EXECUTE, false));
static_assert(!present(USER_EXECUTE) && present(USER_EXECUTE, true));

} // namespace ept_entry

// Paging-structure index of a guest-physical address at a level (1 = PT .. 4 = PML4):
// bits 20:12, 29:21, 38:30, 47:39.
[[nodiscard]] constexpr unsigned ept_level_shift(unsigned level) { return 12 + 9 * (level - 1); }
[[nodiscard]] constexpr unsigned ept_index(u64 gpa, unsigned level) {
  return static_cast<unsigned>((gpa >> ept_level_shift(level)) & 511);
}
inline constexpr unsigned ept_entries_per_table = 512;
// A four-level EPT translates 48-bit guest-physical addresses.
inline constexpr u64 ept_4level_gpa_limit = 1ull << 48;

static_assert(ept_index(0x0000'0080'4030'0000ull, 4) == 1 && ept_index(0x0000'0080'4030'0000ull, 3) == 1);
static_assert(ept_index(0x0000'0080'4030'0000ull, 2) == 1 && ept_index(0x0000'0080'4030'0000ull, 1) == 0x100);

} // namespace hv
