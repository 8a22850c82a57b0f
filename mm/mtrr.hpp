// mm/mtrr.hpp - the memory types the host's MTRRs give to physical memory (Intel SDM Vol. 3A
// 12.11 "Memory Type Range Registers"). Both builds. The raw MSR values are a parameter
// (Mtrr_msrs): read_mtrr_msrs() takes them from a Cpu_access, tests write them by hand.
//
// Precedence (SDM 12.11.4.1), for one physical address:
//   1. MTRRs disabled (IA32_MTRR_DEF_TYPE.E = 0): UC.
//   2. Below 1 MiB with fixed ranges supported and enabled (FE = 1): the fixed-range type.
//   3. No enabled variable range matches: the default type.
//   4. One matches, or several with the same type: that type.
//   5. Several with different types: UC if any is UC; WT if they are all WT or WB; otherwise the
//      SDM leaves it undefined and we choose UC.
// Type encodings the SDM reserves (2, 3, 7 and up) are taken as UC and reported.
// An EPT leaf must only cover a range of one type, hence uniform_type().
#pragma once
#include "arch/x86/address.hpp"
#include "arch/x86/cpu_access.hpp"
#include "arch/x86/ept_entry.hpp"
#include "arch/x86/msr.hpp"  // the MSR numbers and bit names of Mtrr_msrs' values
#include "mm/ept_types.hpp"
#include <array>
#include <optional>

namespace hv {

inline constexpr unsigned mtrr_fixed_msr_count = 11;
inline constexpr unsigned mtrr_max_variable = 32;  // more than any CPU has (VCNT is 8..10 today)
inline constexpr u64 mtrr_fixed_limit = 1 * MiB;

struct Mtrr_variable_msrs {
  u64 physbase = 0;
  u64 physmask = 0;
};

// The raw values, as read. `fixed` is in MSR order: FIX64K_00000, FIX16K_80000, FIX16K_A0000,
// FIX4K_C0000 .. FIX4K_F8000; each byte is the type of one sub-range, lowest byte first.
struct Mtrr_msrs {
  bool supported = false;  // CPUID.1:EDX.MTRR[bit 12]; without it nothing else is read
  u64 mtrrcap = 0;
  u64 def_type = 0;
  std::array<u64, mtrr_fixed_msr_count> fixed{};
  std::array<Mtrr_variable_msrs, mtrr_max_variable> variable{};  // the first VCNT are used
  u8 max_phys_addr_bits = 36;
};

// Reads only what CPUID and IA32_MTRRCAP enumerate.
[[nodiscard]] Mtrr_msrs read_mtrr_msrs(Cpu_access& cpu, u8 max_phys_addr_bits);

class Mtrr_map {
public:
  explicit Mtrr_map(const Mtrr_msrs& msrs);

  [[nodiscard]] bool enabled() const { return enabled_; }
  [[nodiscard]] bool fixed_enabled() const { return fixed_enabled_; }
  [[nodiscard]] Cache_type default_type() const { return default_type_; }
  [[nodiscard]] unsigned variable_ranges() const { return variable_count_; }  // valid ones
  // Some MSR held a reserved type encoding (taken as UC).
  [[nodiscard]] bool saw_reserved_type() const { return saw_reserved_type_; }

  [[nodiscard]] Cache_type type_at(Hpa hpa) const;
  // The type of every byte of [base, base + bytes) if they all have the same one, else nullopt.
  // base and bytes are 4 KiB aligned (MTRR granularity); bytes > 0.
  [[nodiscard]] std::optional<Cache_type> uniform_type(Hpa base, u64 bytes) const;
  [[nodiscard]] std::optional<Cache_type> uniform_type(Hpa base, Page_size size) const {
    return uniform_type(base, page_bytes(size));
  }

  void log_summary() const;

private:
  struct Variable {
    u64 base;  // bits MAXPHYADDR-1:12 of PHYSBASE
    u64 mask;  // bits MAXPHYADDR-1:12 of PHYSMASK
    Cache_type type;
  };
  [[nodiscard]] Cache_type fixed_type(u64 addr) const;
  [[nodiscard]] std::optional<Cache_type> uniform_block(u64 base, unsigned log2_bytes) const;
  [[nodiscard]] Cache_type checked(u64 encoding);

  bool enabled_ = false;
  bool fixed_enabled_ = false;
  bool saw_reserved_type_ = false;
  Cache_type default_type_ = Cache_type::uc;
  std::array<Cache_type, 88> fixed_{};  // 8 x 64K, 16 x 16K, 64 x 4K
  std::array<Variable, mtrr_max_variable> variable_{};
  unsigned variable_count_ = 0;
};

// The memory type an EPT leaf over host range [base, base + bytes) should carry: the MTRRs' type
// when they are enabled (nullopt when the range is not uniform: use smaller leaves); when they are
// disabled (firmware that never set them up, some emulators) WB for RAM and UC for anything else,
// rather than the architectural "all UC" that would make guest RAM unusably slow.
[[nodiscard]] std::optional<Cache_type> host_memory_type(const Mtrr_map& mtrrs, Hpa base, u64 bytes, bool is_ram);

} // namespace hv
