// mm/memory_map_import.hpp - from the firmware's memory map to the RAM the page-frame allocator may
// own: sorted, disjoint ranges of whole 4 KiB pages. Both builds; no heap (the caller gives the
// output array).
//
// Rules, in the order they matter:
//   - usable: memory_type_usable_after_boot() (conventional, boot-services code/data);
//   - everything else is not usable, including types the spec does not name (16..0x6fffffff,
//     OEM 0x70000000.., OS 0x80000000..): an unknown type is treated as reserved;
//   - where regions overlap, a non-usable one wins over a usable one, whatever the input order;
//   - usable regions are rounded inwards to whole pages, non-usable ones outwards;
//   - below 1 MiB nothing is usable (real-mode IVT/BDA/EBDA, option ROMs, firmware habits);
//   - nothing at or above `max_address` is usable (the CPU's MAXPHYADDR, or a test's limit);
//   - the exclusions (the hypervisor's image, what boot still needs) are subtracted, rounded
//     outwards;
//   - adjacent usable pieces are merged; empty ones vanish.
// Region sizes are untrusted: base + pages * 4 KiB saturates instead of wrapping.
#pragma once
#include "mm/memory_map.hpp"

namespace hv {

// [base, end) of host physical memory.
struct Hpa_range {
  Hpa base;
  Hpa end;
  [[nodiscard]] constexpr u64 bytes() const { return end - base; }
  [[nodiscard]] constexpr u64 pages() const { return bytes() >> page_shift; }
  [[nodiscard]] constexpr bool contains(Hpa hpa) const { return hpa >= base && hpa < end; }
  constexpr bool operator==(const Hpa_range&) const = default;
};

// Not `inline`: a class-type constant passed by value is odr-used, and an inline variable is
// then reached through the GOT (R_X86_64_GLOB_DAT), which GNU-EFI cannot relocate. A plain
// constexpr has internal linkage and is addressed PC-relative.
// Below this nothing is ever handed to the allocator.
constexpr Hpa legacy_memory_end{1 * MiB};
// The architectural bound on physical addresses (MAXPHYADDR <= 52, SDM Vol. 1 3.3.1).
constexpr Hpa physical_address_limit{u64{1} << 52};

struct Memory_import_result {
  usize count = 0;        // ranges written to the front of `out`
  bool overflow = false;  // `out` was too small: some usable RAM is missing (never the reverse)
  u64 usable_pages = 0;   // pages in out[0..count)
};

// Normalises `map` into out[0..count): sorted by base, disjoint, not adjacent, page aligned.
// On overflow the result is still correct but incomplete: every page in it is usable.
// O(regions x ranges); firmware maps have at most a few hundred regions.
[[nodiscard]] Memory_import_result import_usable_memory(std::span<const Memory_region> map,
                                                        std::span<const Hpa_range> exclusions, Hpa max_address,
                                                        std::span<Hpa_range> out);

void log_memory_import(const Memory_import_result& result, std::span<const Hpa_range> ranges);

} // namespace hv
