// arch/x86/page_table_entry.hpp - IA-32e (4-level) paging-structure entries, SDM Vol. 3A 4.5,
// tables 4-14..4-20. Used for the hypervisor's own address space (and later for walking guest
// page tables). Both builds.
#pragma once
#include "arch/x86/types.hpp"

namespace hv::x86::pte {

inline constexpr u64 P = 1ull << 0;     // present
inline constexpr u64 RW = 1ull << 1;    // writable
inline constexpr u64 US = 1ull << 2;    // user accessible
inline constexpr u64 PWT = 1ull << 3;   // page-level write-through
inline constexpr u64 PCD = 1ull << 4;   // page-level cache disable
inline constexpr u64 A = 1ull << 5;     // accessed
inline constexpr u64 D = 1ull << 6;     // dirty (leaves)
inline constexpr u64 PS = 1ull << 7;    // page size: a 2 MiB (PDE) or 1 GiB (PDPTE) leaf
inline constexpr u64 G = 1ull << 8;     // global (leaves)
inline constexpr u64 NX = 1ull << 63;   // execute-disable (needs IA32_EFER.NXE)
inline constexpr u64 address_mask = 0x000FFFFFFFFFF000ull;  // bits 51:12

// Index of `va` in the table at `level` (4 = PML4, 3 = PDPT, 2 = PD, 1 = PT).
constexpr unsigned index(u64 va, unsigned level) { return static_cast<unsigned>((va >> (12 + 9 * (level - 1))) & 0x1FF); }
// Bytes mapped by one entry at `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB, 4: 512 GiB).
constexpr u64 entry_span(unsigned level) { return 1ull << (12 + 9 * (level - 1)); }

static_assert(index(0xFFFF'8000'0000'0000ull, 4) == 256);
static_assert(entry_span(2) == 2 * 1024 * 1024);

} // namespace hv::x86::pte
