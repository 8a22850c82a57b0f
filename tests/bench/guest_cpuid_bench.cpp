// tests/bench/guest_cpuid_bench.cpp - hypervisor-side cost of the CPUID and RDMSR/WRMSR exit
// models (figures only, never pass/fail): the part of an exit's round trip spent deciding the
// answer, without the VMX transitions or the VMCS accesses.
//   BM_guest_cpuid_leaf1      CPUID.1 (per-vCPU fields, OSXSAVE from CR4)
//   BM_guest_cpuid_mixed      a mix of basic, topology, XSAVE, hypervisor and extended leaves
//   BM_guest_msr_read_write   RDMSR IA32_EFER + WRMSR IA32_LSTAR (canonical check)
//   BM_elf64_parse            validating a 3-segment test-guest image
#include "core/elf64.hpp"
#include "tests/unit/support/cpu_profiles.hpp"
#include "vmx/guest_cpuid.hpp"
#include "vmx/guest_msr.hpp"
#include <benchmark/benchmark.h>
#include <cstring>
#include <vector>

namespace {

using namespace hv;

Guest_cpuid skylake_model() {
  Fake_cpu host;
  test::apply(host, test::intel_core_i7_6700k());
  Guest_cpuid m;
  m.build(host, {});
  return m;
}

void BM_guest_cpuid_leaf1(benchmark::State& state) {
  const Guest_cpuid m = skylake_model();
  Guest_cpuid_vcpu v{0, 1ull << 18, 7};
  for (auto _ : state) {
    benchmark::DoNotOptimize(v);
    const Cpuid_result r = m.answer(1, 0, v);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_guest_cpuid_leaf1);

void BM_guest_cpuid_mixed(benchmark::State& state) {
  const Guest_cpuid m = skylake_model();
  const u32 leaves[8] = {0, 1, 4, 7, 0xB, 0xD, 0x40000000, 0x80000001};
  Guest_cpuid_vcpu v{0, 1ull << 18, 7};
  usize i = 0;
  for (auto _ : state) {
    const Cpuid_result r = m.answer(leaves[i++ & 7], 0, v);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_guest_cpuid_mixed);

void BM_guest_msr_read_write(benchmark::State& state) {
  Guest_msrs msrs(Guest_msr_config{}, 0);
  const Guest_msr_context ctx{0x80000011};
  u64 lstar = 0xFFFFFFFF81000000;
  for (auto _ : state) {
    benchmark::DoNotOptimize(lstar);
    const Msr_access_result r = msrs.read(msr::IA32_EFER);
    const Msr_access_result w = msrs.write(msr::IA32_LSTAR, lstar, ctx);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(w);
  }
}
BENCHMARK(BM_guest_msr_read_write);

// A minimal valid image: text, rodata, data+bss (the layout of tests/unit/elf64_test.cpp).
std::vector<u8> test_image() {
  std::vector<u8> f(0x4000, 0x90);
  auto put = [&](usize at, auto v) { std::memcpy(f.data() + at, &v, sizeof v); };
  const u8 ident[16] = {0x7F, 'E', 'L', 'F', 2, 1, 1};
  std::memcpy(f.data(), ident, 16);
  put(16, u16{2});
  put(18, u16{62});
  put(20, u32{1});
  put(24, u64{0x101000});
  put(32, u64{64});
  put(52, u16{64});
  put(54, u16{56});
  put(56, u16{3});
  const u64 vaddr[3] = {0x101000, 0x102000, 0x103000};
  const u32 flags[3] = {5, 4, 6};
  for (usize i = 0; i < 3; ++i) {
    const usize p = 64 + 56 * i;
    put(p + 0, u32{1});
    put(p + 4, flags[i]);
    put(p + 8, u64{0x1000 * (i + 1)});
    put(p + 16, vaddr[i]);
    put(p + 24, vaddr[i]);
    put(p + 32, u64{0x800});
    put(p + 40, u64{i == 2 ? 0x5000u : 0x800u});
    put(p + 48, u64{0x1000});
  }
  return f;
}

void BM_elf64_parse(benchmark::State& state) {
  const std::vector<u8> file = test_image();
  Elf_image image;
  if (parse_elf64(file, 64 * MiB, image) != Elf_error::none) state.SkipWithError("test image does not parse");
  for (auto _ : state) {
    const Elf_error e = parse_elf64(file, 64 * MiB, image);
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(image);
  }
}
BENCHMARK(BM_elf64_parse);

} // namespace
