// mm/mtrr.cpp - MTRR decoding and the effective memory type of physical ranges. Both builds.
#include "mm/mtrr.hpp"
#include "arch/x86/msr.hpp"
#include "lib/log.hpp"

namespace hv {

namespace {
constexpr u32 cpuid_edx_mtrr = 1u << 12;

// The fixed-range MTRRs in Mtrr_msrs::fixed order.
constexpr u32 fixed_range_msrs[mtrr_fixed_msr_count] = {
    msr::IA32_MTRR_FIX64K_00000, msr::IA32_MTRR_FIX16K_80000, msr::IA32_MTRR_FIX16K_A0000,
    msr::IA32_MTRR_FIX4K_C0000,  msr::IA32_MTRR_FIX4K_C8000,  msr::IA32_MTRR_FIX4K_D0000,
    msr::IA32_MTRR_FIX4K_D8000,  msr::IA32_MTRR_FIX4K_E0000,  msr::IA32_MTRR_FIX4K_E8000,
    msr::IA32_MTRR_FIX4K_F0000,  msr::IA32_MTRR_FIX4K_F8000,
};

constexpr u8 type_bit(Cache_type t) { return static_cast<u8>(1u << static_cast<u8>(t)); }

// Several variable ranges match (mask: one bit per type encoding); SDM 12.11.4.1.
Cache_type combine(u8 mask) {
  if (mask & type_bit(Cache_type::uc)) return Cache_type::uc;
  if ((mask & (mask - 1)) == 0) return static_cast<Cache_type>(__builtin_ctz(mask));
  if ((mask & ~(type_bit(Cache_type::wt) | type_bit(Cache_type::wb))) == 0) return Cache_type::wt;
  return Cache_type::uc;  // undefined by the SDM
}
} // namespace

Mtrr_msrs read_mtrr_msrs(Cpu_access& cpu, u8 max_phys_addr_bits) {
  Mtrr_msrs m;
  m.max_phys_addr_bits = max_phys_addr_bits;
  m.supported = (cpu.cpuid(1).edx & cpuid_edx_mtrr) != 0;
  if (!m.supported) return m;
  m.mtrrcap = cpu.rdmsr(msr::IA32_MTRRCAP);
  m.def_type = cpu.rdmsr(msr::IA32_MTRR_DEF_TYPE);
  if (m.mtrrcap & msr::MTRRCAP_FIX) {
    for (usize i = 0; i < mtrr_fixed_msr_count; ++i) m.fixed[i] = cpu.rdmsr(fixed_range_msrs[i]);
  }
  const u64 vcnt = m.mtrrcap & msr::MTRRCAP_VCNT_MASK;
  for (u32 i = 0; i < vcnt && i < mtrr_max_variable; ++i) {
    m.variable[i].physbase = cpu.rdmsr(msr::IA32_MTRR_PHYSBASE0 + 2 * i);
    m.variable[i].physmask = cpu.rdmsr(msr::IA32_MTRR_PHYSMASK0 + 2 * i);
  }
  return m;
}

Cache_type Mtrr_map::checked(u64 encoding) {
  if (cache_type_valid(encoding)) return static_cast<Cache_type>(encoding);
  saw_reserved_type_ = true;
  return Cache_type::uc;
}

Mtrr_map::Mtrr_map(const Mtrr_msrs& m) {
  if (!m.supported) return;  // enabled_ = false: everything UC by the architecture
  enabled_ = (m.def_type & msr::MTRR_DEF_TYPE_E) != 0;
  fixed_enabled_ = enabled_ && (m.def_type & msr::MTRR_DEF_TYPE_FE) && (m.mtrrcap & msr::MTRRCAP_FIX);
  default_type_ = checked(m.def_type & msr::MTRR_DEF_TYPE_TYPE_MASK);
  if (fixed_enabled_) {
    for (unsigned r = 0; r < mtrr_fixed_msr_count; ++r)
      for (unsigned b = 0; b < 8; ++b) fixed_[r * 8 + b] = checked((m.fixed[r] >> (8 * b)) & 0xFF);
  }
  const u64 addr_mask = ept_entry::address_mask(m.max_phys_addr_bits);
  const u64 vcnt = m.mtrrcap & msr::MTRRCAP_VCNT_MASK;
  for (u64 i = 0; i < vcnt && i < mtrr_max_variable; ++i) {
    const auto& v = m.variable[i];
    if (!(v.physmask & msr::MTRR_PHYSMASK_VALID)) continue;
    variable_[variable_count_++] = {v.physbase & addr_mask, v.physmask & addr_mask, checked(v.physbase & 0xFF)};
  }
}

// Fixed ranges: 0..512K in 64K units (MSR 0), 512K..640K and 640K..768K in 16K units (MSRs 1, 2),
// 768K..1M in 4K units (MSRs 3..10).
Cache_type Mtrr_map::fixed_type(u64 addr) const {
  if (addr < 0x80000) return fixed_[addr >> 16];
  if (addr < 0xC0000) return fixed_[8 + ((addr - 0x80000) >> 14)];
  return fixed_[24 + ((addr - 0xC0000) >> 12)];
}

Cache_type Mtrr_map::type_at(Hpa hpa) const {
  if (!enabled_) return Cache_type::uc;
  const u64 a = hpa.value();
  if (fixed_enabled_ && a < mtrr_fixed_limit) return fixed_type(a);
  u8 matched = 0;
  for (unsigned i = 0; i < variable_count_; ++i) {
    const Variable& v = variable_[i];
    if ((a & v.mask) == (v.base & v.mask)) matched |= type_bit(v.type);
  }
  return matched ? combine(matched) : default_type_;
}

// [base, base + 2^log2_bytes), base aligned to its size. Each variable range either matches all
// of such a block, none of it, or part of it (its mask has bits below the block size); only the
// last case needs a closer look, by halves.
std::optional<Cache_type> Mtrr_map::uniform_block(u64 base, unsigned log2_bytes) const {
  const u64 size = 1ull << log2_bytes;
  if (fixed_enabled_ && base < mtrr_fixed_limit) {
    if (base + size > mtrr_fixed_limit) {
      const auto lo = uniform_block(base, log2_bytes - 1);
      if (!lo) return std::nullopt;
      const auto hi = uniform_block(base + size / 2, log2_bytes - 1);
      return hi && *hi == *lo ? lo : std::nullopt;
    }
    const Cache_type first = fixed_type(base);
    for (u64 a = base + page_size_4k; a < base + size; a += page_size_4k)
      if (fixed_type(a) != first) return std::nullopt;
    return first;
  }
  u8 whole = 0;
  bool partial = false;
  for (unsigned i = 0; i < variable_count_; ++i) {
    const Variable& v = variable_[i];
    const u64 high = v.mask & ~(size - 1);
    if ((base & high) != (v.base & high)) continue;
    if (v.mask & (size - 1)) partial = true;
    else whole |= type_bit(v.type);
  }
  if (whole & type_bit(Cache_type::uc)) return Cache_type::uc;  // UC wins whatever else matches
  if (!partial) return whole ? combine(whole) : default_type_;
  const auto lo = uniform_block(base, log2_bytes - 1);
  if (!lo) return std::nullopt;
  const auto hi = uniform_block(base + size / 2, log2_bytes - 1);
  return hi && *hi == *lo ? lo : std::nullopt;
}

std::optional<Cache_type> Mtrr_map::uniform_type(Hpa base, u64 bytes) const {
  if (bytes == 0 || !base.is_aligned(page_size_4k) || (bytes & (page_size_4k - 1))) return std::nullopt;
  if (!enabled_) return Cache_type::uc;
  std::optional<Cache_type> result;
  u64 a = base.value();
  const u64 end = a + bytes;
  while (a < end) {
    // The largest naturally aligned power-of-two block at `a` that fits.
    unsigned k = a ? static_cast<unsigned>(__builtin_ctzll(a)) : 63;
    while (k > 12 && (k >= 64 || (1ull << k) > end - a)) --k;
    const auto t = uniform_block(a, k);
    if (!t || (result && *result != *t)) return std::nullopt;
    result = t;
    a += 1ull << k;
  }
  return result;
}

void Mtrr_map::log_summary() const {
  if (!enabled_) {
    log_info("mm", "MTRRs disabled: RAM mapped WB, everything else UC");
    return;
  }
  log_info("mm", "MTRRs: default {}, fixed ranges {}, {} variable range(s){}", cache_type_name(default_type_),
           fixed_enabled_ ? "on" : "off", variable_count_, saw_reserved_type_ ? ", reserved types read as UC" : "");
  for (unsigned i = 0; i < variable_count_; ++i)
    log_info("mm", "  var{}: base {:#x} mask {:#x} {}", i, variable_[i].base, variable_[i].mask,
             cache_type_name(variable_[i].type));
}

std::optional<Cache_type> host_memory_type(const Mtrr_map& mtrrs, Hpa base, u64 bytes, bool is_ram) {
  if (!mtrrs.enabled()) return is_ram ? Cache_type::wb : Cache_type::uc;
  return mtrrs.uniform_type(base, bytes);
}

} // namespace hv
