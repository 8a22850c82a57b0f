// arch/x86/fake/fake_cpu.cpp - see fake_cpu.hpp. Hosted build only.
#include "arch/x86/fake/fake_cpu.hpp"
#include <cstring>

namespace hv {

Cpuid_result Fake_cpu::cpuid(u32 leaf, u32 subleaf) {
  if (auto it = cpuid_.find({leaf, subleaf}); it != cpuid_.end()) return it->second;
  if (auto it = cpuid_.find({leaf, 0}); it != cpuid_.end() && subleaf != 0) return it->second;
  return {};  // like hardware beyond the max leaf: zeros (close enough for tests)
}

u64 Fake_cpu::rdmsr(u32 msr) {
  if (auto it = msrs_.find(msr); it != msrs_.end()) return it->second;
  missing_msr_reads.push_back(msr);
  return 0;
}

void Fake_cpu::wrmsr(u32 msr, u64 value) {
  msr_writes.emplace_back(msr, value);
  msrs_[msr] = value;
}

void Fake_cpu::set_vendor(const char (&vendor)[13], u32 max_leaf) {
  Cpuid_result r;
  r.eax = max_leaf;
  std::memcpy(&r.ebx, vendor + 0, 4);
  std::memcpy(&r.edx, vendor + 4, 4);
  std::memcpy(&r.ecx, vendor + 8, 4);
  set_cpuid(0, r);
}

u32 Fake_port_io::read(u16 port) {
  ++reads;
  if (auto it = scripted_reads.find(port); it != scripted_reads.end() && !it->second.empty()) {
    const u32 v = it->second.front();
    it->second.erase(it->second.begin());
    return v;
  }
  if (auto it = default_reads.find(port); it != default_reads.end()) return it->second;
  return 0xFFFFFFFF;  // an undecoded port floats high
}

} // namespace hv
