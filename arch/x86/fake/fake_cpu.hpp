// arch/x86/fake/fake_cpu.hpp - the hosted twin of the CPU: CPUID leaves and MSRs are data a test
// fills in. Hosted build only (tests). Reading an MSR that was not set is recorded, because on
// hardware it would raise #GP: tests assert that code never does it.
#pragma once
#include "arch/x86/cpu_access.hpp"
#include "arch/x86/port_io.hpp"
#include <map>
#include <utility>
#include <vector>

namespace hv {

class Fake_cpu final : public Cpu_access {
public:
  Cpuid_result cpuid(u32 leaf, u32 subleaf = 0) override;
  u64 rdmsr(u32 msr) override;
  void wrmsr(u32 msr, u64 value) override;

  void set_cpuid(u32 leaf, Cpuid_result r) { cpuid_[{leaf, 0}] = r; }
  void set_cpuid(u32 leaf, u32 subleaf, Cpuid_result r) { cpuid_[{leaf, subleaf}] = r; }
  void set_msr(u32 msr, u64 value) { msrs_[msr] = value; }
  [[nodiscard]] bool has_msr(u32 msr) const { return msrs_.count(msr) != 0; }
  // Sets leaf 0 and the vendor string.
  void set_vendor(const char (&vendor)[13], u32 max_leaf);

  std::vector<u32> missing_msr_reads;                // each read of an MSR the CPU does not have
  std::vector<std::pair<u32, u64>> msr_writes;

private:
  std::map<std::pair<u32, u32>, Cpuid_result> cpuid_;
  std::map<u32, u64> msrs_;
};

// Records port writes and answers reads from a per-port script (then a default value).
class Fake_port_io final : public Port_io {
public:
  struct Write {
    u16 port;
    u32 value;
    u8 width;
    bool operator==(const Write&) const = default;
  };
  u8 in8(u16 port) override { return static_cast<u8>(read(port)); }
  void out8(u16 port, u8 value) override { writes.push_back({port, value, 1}); }
  u16 in16(u16 port) override { return static_cast<u16>(read(port)); }
  void out16(u16 port, u16 value) override { writes.push_back({port, value, 2}); }
  u32 in32(u16 port) override { return read(port); }
  void out32(u16 port, u32 value) override { writes.push_back({port, value, 4}); }

  std::vector<Write> writes;
  std::map<u16, std::vector<u32>> scripted_reads;  // consumed front to back
  std::map<u16, u32> default_reads;                // when the script is empty
  u32 reads = 0;

private:
  u32 read(u16 port);
};

} // namespace hv
