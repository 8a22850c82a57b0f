// mm/eptp.hpp - the EPT pointer, the VMCS field that names an EPT (Intel SDM Vol. 3C 25.6.11
// "Extended-Page-Table Pointer (EPTP)"). Both builds.
//   bits 2:0   memory type the CPU uses to access the EPT paging structures (UC = 0, WB = 6)
//   bits 5:3   EPT page-walk length minus 1 (3 for four levels, 4 for five)
//   bit  6     enable accessed and dirty flags
//   bit  7     enable enforcement of access rights for supervisor shadow-stack pages
//   bits 11:8  reserved
//   bits N-1:12 physical address of the EPT PML4 table (N = MAXPHYADDR)
#pragma once
#include "arch/x86/address.hpp"
#include "arch/x86/ept_entry.hpp"

namespace hv {

namespace eptp_bits {
inline constexpr u64 MEMORY_TYPE_MASK = 0x7;
inline constexpr unsigned WALK_LENGTH_SHIFT = 3;
inline constexpr u64 WALK_LENGTH_MASK = 0x7ull << WALK_LENGTH_SHIFT;
inline constexpr u64 ACCESSED_DIRTY_ENABLE = 1ull << 6;
inline constexpr u64 SUPERVISOR_SHADOW_STACK_ENABLE = 1ull << 7;
inline constexpr u64 RESERVED_11_8 = 0xF00;
} // namespace eptp_bits

struct Eptp_fields {
  Cache_type walk_type = Cache_type::wb;
  unsigned walk_levels = 4;
  bool accessed_dirty = false;
  Hpa pml4;
  constexpr bool operator==(const Eptp_fields&) const = default;
};

// Only UC and WB are valid EPTP memory types (IA32_VMX_EPT_VPID_CAP bits 8 and 14 say which).
[[nodiscard]] constexpr u64 make_eptp(const Eptp_fields& f) {
  return (static_cast<u64>(f.walk_type) & eptp_bits::MEMORY_TYPE_MASK) |
         (static_cast<u64>(f.walk_levels - 1) << eptp_bits::WALK_LENGTH_SHIFT) |
         (f.accessed_dirty ? eptp_bits::ACCESSED_DIRTY_ENABLE : 0) | (f.pml4.value() & ept_entry::ADDRESS_MASK_52);
}

[[nodiscard]] constexpr Eptp_fields decode_eptp(u64 eptp) {
  return Eptp_fields{static_cast<Cache_type>(eptp & eptp_bits::MEMORY_TYPE_MASK),
                     static_cast<unsigned>((eptp & eptp_bits::WALK_LENGTH_MASK) >> eptp_bits::WALK_LENGTH_SHIFT) + 1,
                     (eptp & eptp_bits::ACCESSED_DIRTY_ENABLE) != 0, Hpa(eptp & ept_entry::ADDRESS_MASK_52)};
}

// What VM entry checks about an EPTP (SDM Vol. 3C 27.2.1.1): a supported memory type, a walk
// length of 4 (or 5 where supported), bits 11:7 zero unless their features are in use, and no
// address bits at or above MAXPHYADDR.
[[nodiscard]] constexpr bool eptp_valid(u64 eptp, unsigned max_phys_addr_bits, bool wb_supported, bool uc_supported) {
  const u64 type = eptp & eptp_bits::MEMORY_TYPE_MASK;
  if (!((type == 6 && wb_supported) || (type == 0 && uc_supported))) return false;
  if (((eptp & eptp_bits::WALK_LENGTH_MASK) >> eptp_bits::WALK_LENGTH_SHIFT) != 3) return false;
  if (eptp & (eptp_bits::RESERVED_11_8 | eptp_bits::SUPERVISOR_SHADOW_STACK_ENABLE)) return false;
  return (eptp & ~0xFFFull & ~ept_entry::address_mask(max_phys_addr_bits)) == 0;
}

static_assert(make_eptp({Cache_type::wb, 4, false, Hpa(0x1234'5000)}) == 0x1234'501E);
static_assert(make_eptp({Cache_type::uc, 4, true, Hpa(0x1000)}) == 0x1058);
static_assert(decode_eptp(0x1234'505E) == Eptp_fields{Cache_type::wb, 4, true, Hpa(0x1234'5000)});

} // namespace hv
