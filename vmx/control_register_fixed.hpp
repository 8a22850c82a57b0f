// vmx/control_register_fixed.hpp - the CR0/CR4 bits that VMX operation fixes (SDM Vol. 3C 24.8
// "Restrictions on VMX Operation", Vol. 3D A.7/A.8: IA32_VMX_CR0_FIXED0/1, IA32_VMX_CR4_FIXED0/1).
// Both builds; pure: the MSR values are a parameter.
//   FIXED0 bit = 1: the CR bit must be 1.    FIXED1 bit = 0: the CR bit must be 0.
// The host's CR0/CR4 (before VMXON and in the host-state area) take these bits as they are. A
// guest's CR0 is checked on VM entry with two exceptions (SDM Vol. 3C 27.3.1.1): PE and PG need
// not be 1 when "unrestricted guest" is 1, and NW/CD are never checked; also PG = 1 needs PE = 1.
#pragma once
#include "lib/format.hpp"
#include "vmx/vmx_capabilities.hpp"

namespace hv {

namespace cr0_bit {
inline constexpr u64 PE = 1ull << 0;
inline constexpr u64 MP = 1ull << 1;
inline constexpr u64 EM = 1ull << 2;
inline constexpr u64 TS = 1ull << 3;
inline constexpr u64 ET = 1ull << 4;
inline constexpr u64 NE = 1ull << 5;
inline constexpr u64 WP = 1ull << 16;
inline constexpr u64 AM = 1ull << 18;
inline constexpr u64 NW = 1ull << 29;
inline constexpr u64 CD = 1ull << 30;
inline constexpr u64 PG = 1ull << 31;
} // namespace cr0_bit

namespace cr4_bit {
inline constexpr u64 VME = 1ull << 0;
inline constexpr u64 PVI = 1ull << 1;
inline constexpr u64 TSD = 1ull << 2;
inline constexpr u64 DE = 1ull << 3;
inline constexpr u64 PSE = 1ull << 4;
inline constexpr u64 PAE = 1ull << 5;
inline constexpr u64 MCE = 1ull << 6;
inline constexpr u64 PGE = 1ull << 7;
inline constexpr u64 PCE = 1ull << 8;
inline constexpr u64 OSFXSR = 1ull << 9;
inline constexpr u64 OSXMMEXCPT = 1ull << 10;
inline constexpr u64 UMIP = 1ull << 11;
inline constexpr u64 LA57 = 1ull << 12;
inline constexpr u64 VMXE = 1ull << 13;
inline constexpr u64 SMXE = 1ull << 14;
inline constexpr u64 FSGSBASE = 1ull << 16;
inline constexpr u64 PCIDE = 1ull << 17;
inline constexpr u64 OSXSAVE = 1ull << 18;
inline constexpr u64 KL = 1ull << 19;
inline constexpr u64 SMEP = 1ull << 20;
inline constexpr u64 SMAP = 1ull << 21;
inline constexpr u64 PKE = 1ull << 22;
inline constexpr u64 CET = 1ull << 23;
inline constexpr u64 PKS = 1ull << 24;
inline constexpr u64 UINTR = 1ull << 25;
} // namespace cr4_bit

enum class Control_register : u8 { cr0, cr4 };

struct Cr_fixed_bits {
  u64 must_be_one = 0;
  u64 may_be_one = ~0ull;
  // Bits a guest may not change on its own: a CR0/CR4 guest/host mask covering them makes the
  // guest's MOV to CR trap instead of failing the next VM entry.
  [[nodiscard]] constexpr u64 fixed() const { return must_be_one | ~may_be_one; }
};

[[nodiscard]] constexpr u64 apply_fixed(u64 value, Cr_fixed_bits bits) {
  return (value | bits.must_be_one) & bits.may_be_one;
}

// For the host (VMXON and the host-state area).
[[nodiscard]] Cr_fixed_bits cr0_fixed_bits(const Vmx_capability_msrs& msrs);
[[nodiscard]] Cr_fixed_bits cr4_fixed_bits(const Vmx_capability_msrs& msrs);
// For a guest's CR0 (VM-entry checks): PE/PG relaxed under unrestricted guest, NW/CD free.
[[nodiscard]] Cr_fixed_bits guest_cr0_fixed_bits(const Vmx_capability_msrs& msrs, bool unrestricted_guest);

struct Cr_fixed_violation {
  enum class Kind : u8 {
    none,
    must_be_one,        // the bit is 0 but VMX operation needs it 1
    must_be_zero,       // the bit is 1 but VMX operation needs it 0
    paging_without_pe,  // CR0.PG = 1 with CR0.PE = 0
  };
  Kind kind = Kind::none;
  Control_register cr = Control_register::cr0;
  u8 bit = 0;
  [[nodiscard]] bool ok() const { return kind == Kind::none; }
};

// The lowest bit of `value` that breaks `bits`, if any.
[[nodiscard]] Cr_fixed_violation check_fixed(Control_register cr, u64 value, Cr_fixed_bits bits);
// check_fixed on a guest CR0, plus the PG-needs-PE rule.
[[nodiscard]] Cr_fixed_violation check_guest_cr0(u64 value, const Vmx_capability_msrs& msrs, bool unrestricted_guest);

// "CR4.VMXE (bit 13) must be 1 in VMX operation"; nothing for ok().
void format_cr_fixed_violation(Text_writer& out, const Cr_fixed_violation& violation);

// "PE", "VMXE", ...; "reserved" for a bit the SDM does not define.
[[nodiscard]] const char* control_register_bit_name(Control_register cr, unsigned bit);

} // namespace hv
