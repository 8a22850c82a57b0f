// vmx/guest_msr.cpp - see guest_msr.hpp. Both builds.
#include "vmx/guest_msr.hpp"

namespace hv {
namespace {

// Slot order: the table below, the names, and slot_of() agree.
enum Slot : usize {
  efer, star, lstar, cstar, fmask, fs_base, gs_base, kernel_gs_base, tsc_aux,
  sysenter_cs, sysenter_esp, sysenter_eip, pat, misc_enable, apic_base, feature_control,
  bios_sign_id, mtrrcap, mtrr_def_type, mtrr_fix64k_00000, mtrr_fix16k_80000, mtrr_fix16k_a0000,
  mtrr_fix4k_first, mtrr_fix4k_last = mtrr_fix4k_first + 7,
  slot_end
};
static_assert(slot_end == Guest_msrs::slot_count);
static_assert(msr::IA32_MTRR_FIX4K_F8000 - msr::IA32_MTRR_FIX4K_C0000 == mtrr_fix4k_last - mtrr_fix4k_first);

struct Slot_info {
  u32 msr;
  const char* name;
};
constexpr Slot_info slots[Guest_msrs::slot_count] = {
    {msr::IA32_EFER, "IA32_EFER"},
    {msr::IA32_STAR, "IA32_STAR"},
    {msr::IA32_LSTAR, "IA32_LSTAR"},
    {msr::IA32_CSTAR, "IA32_CSTAR"},
    {msr::IA32_FMASK, "IA32_FMASK"},
    {msr::IA32_FS_BASE, "IA32_FS_BASE"},
    {msr::IA32_GS_BASE, "IA32_GS_BASE"},
    {msr::IA32_KERNEL_GS_BASE, "IA32_KERNEL_GS_BASE"},
    {msr::IA32_TSC_AUX, "IA32_TSC_AUX"},
    {msr::IA32_SYSENTER_CS, "IA32_SYSENTER_CS"},
    {msr::IA32_SYSENTER_ESP, "IA32_SYSENTER_ESP"},
    {msr::IA32_SYSENTER_EIP, "IA32_SYSENTER_EIP"},
    {msr::IA32_PAT, "IA32_PAT"},
    {msr::IA32_MISC_ENABLE, "IA32_MISC_ENABLE"},
    {msr::IA32_APIC_BASE, "IA32_APIC_BASE"},
    {msr::IA32_FEATURE_CONTROL, "IA32_FEATURE_CONTROL"},
    {msr::IA32_BIOS_SIGN_ID, "IA32_BIOS_SIGN_ID"},
    {msr::IA32_MTRRCAP, "IA32_MTRRCAP"},
    {msr::IA32_MTRR_DEF_TYPE, "IA32_MTRR_DEF_TYPE"},
    {msr::IA32_MTRR_FIX64K_00000, "IA32_MTRR_FIX64K_00000"},
    {msr::IA32_MTRR_FIX16K_80000, "IA32_MTRR_FIX16K_80000"},
    {msr::IA32_MTRR_FIX16K_A0000, "IA32_MTRR_FIX16K_A0000"},
    {msr::IA32_MTRR_FIX4K_C0000, "IA32_MTRR_FIX4K_C0000"},
    {msr::IA32_MTRR_FIX4K_C8000, "IA32_MTRR_FIX4K_C8000"},
    {msr::IA32_MTRR_FIX4K_D0000, "IA32_MTRR_FIX4K_D0000"},
    {msr::IA32_MTRR_FIX4K_D8000, "IA32_MTRR_FIX4K_D8000"},
    {msr::IA32_MTRR_FIX4K_E0000, "IA32_MTRR_FIX4K_E0000"},
    {msr::IA32_MTRR_FIX4K_E8000, "IA32_MTRR_FIX4K_E8000"},
    {msr::IA32_MTRR_FIX4K_F0000, "IA32_MTRR_FIX4K_F0000"},
    {msr::IA32_MTRR_FIX4K_F8000, "IA32_MTRR_FIX4K_F8000"},
};

// PAT entries may hold UC, WC, WT, WP, WB, UC- (SDM Vol. 3A 13.12.2); MTRRs all but UC-.
constexpr bool pat_type(u8 t) { return t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || t == 7; }
constexpr bool mtrr_type(u8 t) { return t == 0 || t == 1 || t == 4 || t == 5 || t == 6; }

template <bool (*Valid)(u8)>
constexpr bool every_byte(u64 v) {
  for (int i = 0; i < 8; ++i)
    if (!Valid(static_cast<u8>(v >> (8 * i)))) return false;
  return true;
}

} // namespace

Guest_msrs::Guest_msrs(const Guest_msr_config& config, u32 vcpu_index) : config_(config) {
  values_[pat] = guest_pat_default;
  values_[misc_enable] = guest_misc_enable_value;
  values_[apic_base] = guest_apic_base_default | msr::APIC_BASE_EN | (vcpu_index == 0 ? msr::APIC_BASE_BSP : 0);
  values_[feature_control] = guest_feature_control_value;
  values_[bios_sign_id] = u64{config.microcode_revision} << 32;
  values_[mtrrcap] = guest_mtrrcap_value;
  values_[mtrr_def_type] = guest_mtrr_def_type_default;
  for (usize s = mtrr_fix64k_00000; s <= mtrr_fix4k_last; ++s) values_[s] = guest_mtrr_fixed_default;
}

usize Guest_msrs::slot_of(u32 m) {
  if (m >= msr::IA32_EFER && m <= msr::IA32_FMASK) return efer + (m - msr::IA32_EFER);
  if (m >= msr::IA32_FS_BASE && m <= msr::IA32_TSC_AUX) return fs_base + (m - msr::IA32_FS_BASE);
  if (m >= msr::IA32_SYSENTER_CS && m <= msr::IA32_SYSENTER_EIP) return sysenter_cs + (m - msr::IA32_SYSENTER_CS);
  if (m >= msr::IA32_MTRR_FIX4K_C0000 && m <= msr::IA32_MTRR_FIX4K_F8000)
    return mtrr_fix4k_first + (m - msr::IA32_MTRR_FIX4K_C0000);
  switch (m) {
  case msr::IA32_PAT: return pat;
  case msr::IA32_MISC_ENABLE: return misc_enable;
  case msr::IA32_APIC_BASE: return apic_base;
  case msr::IA32_FEATURE_CONTROL: return feature_control;
  case msr::IA32_BIOS_SIGN_ID: return bios_sign_id;
  case msr::IA32_MTRRCAP: return mtrrcap;
  case msr::IA32_MTRR_DEF_TYPE: return mtrr_def_type;
  case msr::IA32_MTRR_FIX64K_00000: return mtrr_fix64k_00000;
  case msr::IA32_MTRR_FIX16K_80000: return mtrr_fix16k_80000;
  case msr::IA32_MTRR_FIX16K_A0000: return mtrr_fix16k_a0000;
  default: return slot_count;
  }
}

u32 Guest_msrs::msr_of_slot(usize slot) { return slot < slot_count ? slots[slot].msr : 0; }

const char* Guest_msrs::msr_name(u32 m) {
  const usize s = slot_of(m);
  return s < slot_count ? slots[s].name : "unlisted";
}

bool Guest_msrs::exists(usize slot) const {
  switch (slot) {
  case efer: return config_.long_mode || config_.syscall || config_.nx;
  case star: case lstar: case cstar: case fmask: case fs_base: case gs_base: case kernel_gs_base:
    return config_.long_mode;
  case tsc_aux: return config_.tsc_aux;
  default: return true;
  }
}

bool Guest_msrs::canonical(u64 address) const {
  const unsigned shift = 64 - config_.linear_address_bits;
  return static_cast<u64>(static_cast<i64>(address << shift) >> shift) == address;
}

bool Guest_msrs::lives_in_vmcs(u32 m) {
  switch (slot_of(m)) {
  case efer: case pat: case fs_base: case gs_base: case sysenter_cs: case sysenter_esp: case sysenter_eip:
    return true;
  default:
    return false;
  }
}

void Guest_msrs::refresh(u32 m, u64 v) {
  if (const usize s = slot_of(m); s < slot_count && lives_in_vmcs(m)) values_[s] = v;
}

u64 Guest_msrs::value(u32 m) const {
  const usize s = slot_of(m);
  return s < slot_count ? values_[s] : 0;
}

Guest_msrs::Counts Guest_msrs::counts(u32 m) const {
  const usize s = slot_of(m);
  return s < slot_count ? counts_[s] : Counts{};
}

// Checks a write against the rules in guest_msr.hpp; may adjust `v` to what takes effect.
bool Guest_msrs::validate_write(usize slot, u64& v, const Guest_msr_context& context) const {
  const u64 current = values_[slot];
  switch (slot) {
  case efer: {
    const u64 allowed = (config_.syscall ? msr::EFER_SCE : 0) | (config_.long_mode ? msr::EFER_LME | msr::EFER_LMA : 0) |
                        (config_.nx ? msr::EFER_NXE : 0);
    if (v & ~allowed) return false;
    constexpr u64 cr0_pg = 1ull << 31;
    if ((context.cr0 & cr0_pg) && ((v ^ current) & msr::EFER_LME)) return false;
    v = (v & ~msr::EFER_LMA) | (current & msr::EFER_LMA);
    return true;
  }
  case star: case fmask: return true;
  case lstar: case cstar: case fs_base: case gs_base: case kernel_gs_base: case sysenter_esp: case sysenter_eip:
    return canonical(v);
  case sysenter_cs: v &= 0xFFFFFFFF; return true;
  case tsc_aux: return (v >> 32) == 0;
  case pat: return every_byte<pat_type>(v);
  case misc_enable: return v == current;
  case apic_base: {
    const u64 above_physical = config_.physical_address_bits >= 64 ? 0 : ~0ull << config_.physical_address_bits;
    const u64 reserved = 0xFFull | (1ull << 9) | above_physical;
    if (v & (reserved | msr::APIC_BASE_EXTD)) return false;
    constexpr u64 base_mask = ~0xFFFull;
    if ((v & base_mask) != (current & base_mask)) return false;
    v = (v & ~msr::APIC_BASE_BSP) | (current & msr::APIC_BASE_BSP);
    return true;
  }
  case feature_control: case mtrrcap: return false;
  case bios_sign_id: v = current; return true;
  case mtrr_def_type: {
    constexpr u64 defined = msr::MTRR_DEF_TYPE_E | msr::MTRR_DEF_TYPE_FE | msr::MTRR_DEF_TYPE_TYPE_MASK;
    return (v & ~defined) == 0 && mtrr_type(static_cast<u8>(v));
  }
  default:  // the fixed-range MTRRs
    return every_byte<mtrr_type>(v);
  }
}

Msr_access_result Guest_msrs::read(u32 m) {
  const usize s = slot_of(m);
  if (s == slot_count) {
    ++unlisted_.reads;
    ++unlisted_.faults;
    last_unlisted_ = m;
    return Msr_access_result::gp();
  }
  ++counts_[s].reads;
  if (!exists(s)) {
    ++counts_[s].faults;
    return Msr_access_result::gp();
  }
  return Msr_access_result::done(values_[s]);
}

Msr_access_result Guest_msrs::write(u32 m, u64 v, const Guest_msr_context& context) {
  const usize s = slot_of(m);
  if (s == slot_count) {
    ++unlisted_.writes;
    ++unlisted_.faults;
    last_unlisted_ = m;
    return Msr_access_result::gp();
  }
  ++counts_[s].writes;
  if (!exists(s) || !validate_write(s, v, context)) {
    ++counts_[s].faults;
    return Msr_access_result::gp();
  }
  values_[s] = v;
  return Msr_access_result::done(v);
}

} // namespace hv
