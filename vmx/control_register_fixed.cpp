// vmx/control_register_fixed.cpp - CR0/CR4 fixed bits in VMX operation. Both builds.
#include "vmx/control_register_fixed.hpp"
#include <bit>

namespace hv {

Cr_fixed_bits cr0_fixed_bits(const Vmx_capability_msrs& m) { return {m.cr0_fixed0, m.cr0_fixed1}; }

Cr_fixed_bits cr4_fixed_bits(const Vmx_capability_msrs& m) { return {m.cr4_fixed0, m.cr4_fixed1}; }

Cr_fixed_bits guest_cr0_fixed_bits(const Vmx_capability_msrs& m, bool unrestricted_guest) {
  Cr_fixed_bits bits = cr0_fixed_bits(m);
  const u64 unchecked = cr0_bit::NW | cr0_bit::CD;
  bits.must_be_one &= ~unchecked;
  bits.may_be_one |= unchecked;
  if (unrestricted_guest) bits.must_be_one &= ~(cr0_bit::PE | cr0_bit::PG);
  return bits;
}

Cr_fixed_violation check_fixed(Control_register cr, u64 value, Cr_fixed_bits bits) {
  const u64 zero_but_must_be_one = ~value & bits.must_be_one;
  const u64 one_but_must_be_zero = value & ~bits.may_be_one;
  const u64 wrong = zero_but_must_be_one | one_but_must_be_zero;
  if (wrong == 0) return {};
  const unsigned bit = static_cast<unsigned>(std::countr_zero(wrong));
  const auto kind = (zero_but_must_be_one >> bit) & 1 ? Cr_fixed_violation::Kind::must_be_one
                                                      : Cr_fixed_violation::Kind::must_be_zero;
  return {kind, cr, static_cast<u8>(bit)};
}

Cr_fixed_violation check_guest_cr0(u64 value, const Vmx_capability_msrs& m, bool unrestricted_guest) {
  const Cr_fixed_violation v = check_fixed(Control_register::cr0, value, guest_cr0_fixed_bits(m, unrestricted_guest));
  if (!v.ok()) return v;
  if ((value & cr0_bit::PG) && !(value & cr0_bit::PE)) {
    return {Cr_fixed_violation::Kind::paging_without_pe, Control_register::cr0, 0};
  }
  return {};
}

void format_cr_fixed_violation(Text_writer& out, const Cr_fixed_violation& v) {
  const char* cr = v.cr == Control_register::cr0 ? "CR0" : "CR4";
  switch (v.kind) {
  case Cr_fixed_violation::Kind::none: return;
  case Cr_fixed_violation::Kind::must_be_one:
    format_to(out, "{}.{} (bit {}) must be 1 in VMX operation", cr, control_register_bit_name(v.cr, v.bit), v.bit);
    return;
  case Cr_fixed_violation::Kind::must_be_zero:
    format_to(out, "{}.{} (bit {}) must be 0 in VMX operation", cr, control_register_bit_name(v.cr, v.bit), v.bit);
    return;
  case Cr_fixed_violation::Kind::paging_without_pe:
    out.write("CR0.PE (bit 0) must be 1 when CR0.PG (bit 31) is 1");
    return;
  }
}

const char* control_register_bit_name(Control_register cr, unsigned bit) {
  if (cr == Control_register::cr0) {
    switch (bit) {
    case 0: return "PE";
    case 1: return "MP";
    case 2: return "EM";
    case 3: return "TS";
    case 4: return "ET";
    case 5: return "NE";
    case 16: return "WP";
    case 18: return "AM";
    case 29: return "NW";
    case 30: return "CD";
    case 31: return "PG";
    }
    return "reserved";
  }
  static constexpr const char* cr4_names[26] = {
      "VME", "PVI", "TSD", "DE", "PSE", "PAE", "MCE", "PGE", "PCE", "OSFXSR", "OSXMMEXCPT", "UMIP", "LA57",
      "VMXE", "SMXE", nullptr, "FSGSBASE", "PCIDE", "OSXSAVE", "KL", "SMEP", "SMAP", "PKE", "CET", "PKS", "UINTR"};
  if (bit < 26 && cr4_names[bit] != nullptr) return cr4_names[bit];
  return "reserved";
}

} // namespace hv
