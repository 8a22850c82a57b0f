// tests/unit/guest_cpuid_test.cpp - the guest CPU model: what CPUID shows a guest, built from the
// CPU profiles of unit/support/cpu_profiles.hpp; and the precomputed table the exit path reads,
// against the model it is built from, for every leaf and subleaf.
#include "arch/x86/cpu_identity.hpp"
#include "arch/x86/fake/fake_cpu.hpp"
#include "unit/support/cpu_profiles.hpp"
#include "vmx/guest_cpuid.hpp"
#include "vmx/vmx_capabilities.hpp"
#include <gtest/gtest.h>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace hv {
namespace {

constexpr u32 bit(unsigned n) { return 1u << n; }

// Counts CPUID executions on the "host".
class Counting_cpu final : public Cpu_access {
public:
  explicit Counting_cpu(Fake_cpu& inner) : inner_(inner) {}
  Cpuid_result cpuid(u32 leaf, u32 subleaf) override {
    ++cpuid_calls;
    return inner_.cpuid(leaf, subleaf);
  }
  u64 rdmsr(u32 msr) override { return inner_.rdmsr(msr); }
  void wrmsr(u32 msr, u64 value) override { inner_.wrmsr(msr, value); }
  int cpuid_calls = 0;

private:
  Fake_cpu& inner_;
};

// The guest's view as a Cpu_access, so the project's own decoders can read it; MSRs do not
// exist (a guest reading one would get #GP from vmx/guest_msr).
class Guest_view final : public Cpu_access {
public:
  Guest_view(const Guest_cpuid& model, Guest_cpuid_vcpu vcpu) : model_(model), vcpu_(vcpu) {}
  Cpuid_result cpuid(u32 leaf, u32 subleaf) override { return model_.answer(leaf, subleaf, vcpu_); }
  u64 rdmsr(u32 msr) override {
    msr_reads.push_back(msr);
    return 0;
  }
  void wrmsr(u32, u64) override {}
  std::vector<u32> msr_reads;

private:
  const Guest_cpuid& model_;
  Guest_cpuid_vcpu vcpu_;
};

Guest_cpuid model_of(const test::Cpu_profile& p, const Guest_cpuid_config& config = {}) {
  Fake_cpu host;
  test::apply(host, p);
  Guest_cpuid m;
  m.build(host, config);
  return m;
}

std::string signature(const Cpuid_result& r) {
  char s[13] = {};
  std::memcpy(s + 0, &r.ebx, 4);
  std::memcpy(s + 4, &r.ecx, 4);
  std::memcpy(s + 8, &r.edx, 4);
  return s;
}

TEST(GuestCpuid, HostLeavesAreReadOnceAtBuildNeverPerExit) {
  Fake_cpu host;
  test::apply(host, test::intel_core_i7_6700k());
  Counting_cpu counting(host);
  Guest_cpuid m;
  m.build(counting, {});
  EXPECT_GT(counting.cpuid_calls, 0);
  const Cpuid_result before = m.answer(1, 0, {});
  // The host changing afterwards (or going away) does not reach the guest: answers are cached.
  host.set_cpuid(1, {0, 0, 0, 0});
  EXPECT_EQ(m.answer(1, 0, {}), before);
  const int calls_after_build = counting.cpuid_calls;
  for (u32 leaf : {0u, 1u, 4u, 7u, 0xBu, 0xDu, 0x40000000u, 0x80000001u}) (void)m.answer(leaf, 0, {});
  EXPECT_EQ(counting.cpuid_calls, calls_after_build);
}

TEST(GuestCpuid, VmxAndSmxAreHiddenAndTheHypervisorBitIsSet) {
  for (const auto& p : {test::bochs_skylake_x(), test::intel_core_i7_6700k()}) {
    const Guest_cpuid m = model_of(p);
    const Cpuid_result l1 = m.answer(1, 0, {});
    EXPECT_EQ(l1.ecx & cpuid::ECX_VMX, 0u) << p.name;
    EXPECT_EQ(l1.ecx & cpuid::ECX_SMX, 0u) << p.name;
    EXPECT_NE(l1.ecx & cpuid::ECX_HYPERVISOR, 0u) << p.name;
    // The project's own decoders, run inside the guest, find no VMX and read no MSR.
    Guest_view guest(m, {});
    const Cpu_identity id = read_cpu_identity(guest);
    EXPECT_FALSE(id.has_vmx());
    EXPECT_TRUE(id.under_hypervisor());
    EXPECT_EQ(id.vendor, Cpu_vendor::intel);
    EXPECT_EQ(id.family, p.family);
    EXPECT_EQ(id.model, p.model);
    EXPECT_EQ(std::string(id.brand_name()), p.brand);
    const Vmx_capability_msrs msrs = read_vmx_capability_msrs(guest, id);
    EXPECT_TRUE(guest.msr_reads.empty());
    EXPECT_EQ(decode_vmx_features(id, msrs).status, Vmx_status::no_vmx);
  }
}

TEST(GuestCpuid, HypervisorLeavesCarryTheSignatureAndTheAbiVersion) {
  const Guest_cpuid m = model_of(test::bochs_skylake_x());
  const Cpuid_result base = m.answer(0x40000000, 0, {});
  EXPECT_EQ(base.eax, 0x40000001u);
  EXPECT_EQ(signature(base), "HvTypeOneVMX");
  const Cpuid_result features = m.answer(0x40000001, 0, {});
  EXPECT_EQ(features.eax, 1u);
  EXPECT_EQ(features.eax, guest_hypercall_abi_version);
  EXPECT_EQ(features.ebx, hv_features_default);
  EXPECT_NE(features.ebx & hv_feature_hypercall, 0u);
  EXPECT_NE(features.ebx & hv_feature_debug_exit, 0u);
  EXPECT_EQ(features.ecx, 0u);
  EXPECT_EQ(features.edx, 0u);
  Guest_cpuid_config c;
  c.hypervisor_features = hv_feature_serial;
  EXPECT_EQ(model_of(test::bochs_skylake_x(), c).answer(0x40000001, 0, {}).ebx, hv_feature_serial);
}

TEST(GuestCpuid, FeaturesWithoutVirtualisationAreHidden) {
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k());
  const Cpuid_result l1 = m.answer(1, 0, {});
  for (unsigned b : {2u, 3u, 4u, 7u, 8u, 14u, 15u, 18u, 21u, 24u}) EXPECT_EQ(l1.ecx & bit(b), 0u) << "ECX bit " << b;
  for (unsigned b : {7u, 14u, 18u, 21u, 22u, 29u, 31u}) EXPECT_EQ(l1.edx & bit(b), 0u) << "EDX bit " << b;
  // Kept: SSE3, PCLMULQDQ, SSSE3, FMA, CX16, PCID, SSE4.x, MOVBE, POPCNT, AES, XSAVE, AVX, F16C, RDRAND.
  EXPECT_EQ(l1.ecx & (bit(0) | bit(1) | bit(9) | bit(12) | bit(13) | bit(17) | bit(19) | bit(20) | bit(22) | bit(23) |
                      bit(25) | bit(26) | bit(28) | bit(29) | bit(30)),
            bit(0) | bit(1) | bit(9) | bit(12) | bit(13) | bit(17) | bit(19) | bit(20) | bit(22) | bit(23) | bit(25) |
                bit(26) | bit(28) | bit(29) | bit(30));
  // FPU, TSC, MSR, PAE, CX8, APIC, SEP, MTRR, PGE, CMOV, PAT, CLFLUSH, MMX, FXSR, SSE, SSE2 stay.
  constexpr u32 kept_edx = 0x0789BB71u;
  EXPECT_EQ(l1.edx & kept_edx, kept_edx);
  EXPECT_EQ(m.answer(5, 0, {}), Cpuid_result{});  // MONITOR/MWAIT leaf
  EXPECT_EQ(m.answer(6, 0, {}), Cpuid_result{});  // thermal and power
  EXPECT_EQ(m.answer(0xA, 0, {}), Cpuid_result{});  // performance monitoring
  const Cpuid_result l7 = m.answer(7, 0, {});
  EXPECT_EQ(l7.ebx & (bit(2) | bit(14) | bit(25)), 0u);  // SGX, MPX, Intel PT (the 6700K has all three)
  EXPECT_NE(l7.ebx & bit(5), 0u);                        // AVX2 stays
  EXPECT_NE(l7.ebx & bit(10), 0u);                       // INVPCID stays by default
}

TEST(GuestCpuid, SpeculationControlsAreHiddenLikeTheirMsrs) {
  Fake_cpu host;
  test::apply(host, test::intel_core_i7_6700k());
  host.set_cpuid(7, 0, {0, 0x029c6fbf, 0, 0xBC000400});  // microcode-updated Skylake: IBRS, STIBP, L1D, SSBD
  Guest_cpuid m;
  m.build(host, {});
  EXPECT_EQ(m.answer(7, 0, {}).edx & 0xFC000000u, 0u);
  EXPECT_EQ(m.answer(7, 0, {}).edx & bit(10), bit(10));  // MD_CLEAR (VERW) needs no MSR: kept
}

TEST(GuestCpuid, PcidCanBeTurnedOffForShadowPaging) {
  Guest_cpuid_config c;
  c.pcid = false;
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k(), c);
  EXPECT_EQ(m.answer(1, 0, {}).ecx & bit(17), 0u);
  EXPECT_EQ(m.answer(7, 0, {}).ebx & bit(10), 0u);
}

TEST(GuestCpuid, OsxsaveFollowsTheVcpusCr4) {
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k());
  Guest_cpuid_vcpu v;
  EXPECT_EQ(m.answer(1, 0, v).ecx & bit(27), 0u);
  v.cr4 = 1ull << 18;
  EXPECT_NE(m.answer(1, 0, v).ecx & bit(27), 0u);
}

TEST(GuestCpuid, ApicIdAndLogicalCountPerVcpu) {
  const Guest_cpuid one = model_of(test::intel_core_i7_6700k());
  const Cpuid_result l1 = one.answer(1, 0, {});
  EXPECT_EQ(l1.ebx >> 24, 0u);
  EXPECT_EQ((l1.ebx >> 16) & 0xFF, 1u);
  EXPECT_EQ(l1.ebx & 0xFFFF, 0x0800u);  // CLFLUSH line size kept
  EXPECT_EQ(l1.edx & bit(28), 0u);      // no HTT for one vCPU

  Guest_cpuid_config c;
  c.vcpu_count = 3;
  const Guest_cpuid three = model_of(test::intel_core_i7_6700k(), c);
  for (u32 apic = 0; apic < 3; ++apic) {
    const Cpuid_result r = three.answer(1, 0, {apic, 0, 1});
    EXPECT_EQ(r.ebx >> 24, apic);
    EXPECT_EQ((r.ebx >> 16) & 0xFF, 4u);  // addressable IDs: next power of two
    EXPECT_NE(r.edx & bit(28), 0u);
    EXPECT_EQ(three.answer(0xB, 0, {apic, 0, 1}).edx, apic);
    EXPECT_EQ(three.answer(0xB, 7, {apic, 0, 1}).edx, apic);
  }
}

TEST(GuestCpuid, Leaf0xBDescribesOneVcpu) {
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k());
  const Guest_cpuid_vcpu v{0, 0, 1};
  EXPECT_EQ(m.answer(0xB, 0, v), (Cpuid_result{0, 1, 0x100, 0}));   // SMT level: 1 thread
  EXPECT_EQ(m.answer(0xB, 1, v), (Cpuid_result{0, 1, 0x201, 0}));   // core level: 1 core
  EXPECT_EQ(m.answer(0xB, 2, v), (Cpuid_result{0, 0, 0x002, 0}));   // invalid: the end
  Guest_cpuid_config c;
  c.vcpu_count = 4;
  const Guest_cpuid four = model_of(test::intel_core_i7_6700k(), c);
  EXPECT_EQ(four.answer(0xB, 1, {2, 0, 1}), (Cpuid_result{2, 4, 0x201, 2}));
}

TEST(GuestCpuid, Leaf0x1FOnlyWhereTheHostHasIt) {
  Fake_cpu host;
  test::apply(host, test::intel_core_i7_6700k());
  host.set_vendor("GenuineIntel", 0x1F);
  Guest_cpuid m;
  m.build(host, {});
  EXPECT_EQ(m.max_basic_leaf(), 0x1Fu);
  EXPECT_EQ(m.answer(0x1F, 1, {}), (Cpuid_result{0, 1, 0x201, 0}));
  // The 6700K (max 0x16) has no leaf 0x1F: it answers like any leaf above the maximum.
  const Guest_cpuid skl = model_of(test::intel_core_i7_6700k());
  EXPECT_EQ(skl.answer(0x1F, 1, {}), skl.answer(0x16, 1, {}));
}

TEST(GuestCpuid, Leaf4SharesCachesAsOnePackageOfSingleThreadCores) {
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k());
  const Cpuid_result l1d = m.answer(4, 0, {});
  EXPECT_EQ(l1d.eax, 0x00000121u);  // type/level/self-init kept; sharing and core fields zero
  EXPECT_EQ(l1d.ebx, 0x01c0003fu);
  EXPECT_EQ(l1d.ecx, 0x0000003fu);
  EXPECT_EQ(m.answer(4, 3, {}).eax, 0x00000163u);  // L3
  EXPECT_EQ(m.answer(4, 4, {}), Cpuid_result{});   // the end of the list
  EXPECT_EQ(m.answer(4, 100, {}), Cpuid_result{});
  Guest_cpuid_config c;
  c.vcpu_count = 2;
  const Guest_cpuid two = model_of(test::intel_core_i7_6700k(), c);
  EXPECT_EQ(two.answer(4, 0, {}).eax, (1u << 26) | 0x121u);             // 2 cores, L1 not shared
  EXPECT_EQ(two.answer(4, 3, {}).eax, (1u << 26) | (1u << 14) | 0x163u);  // L3 shared by both
}

TEST(GuestCpuid, LeavesAboveTheMaximumAnswerWithTheHighestBasicLeaf) {
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k());
  ASSERT_EQ(m.max_basic_leaf(), 0x16u);
  const Cpuid_result highest = m.answer(0x16, 0, {});
  EXPECT_EQ(highest, (Cpuid_result{0xfa0, 0x1068, 0x64, 0}));
  for (u32 leaf : {0x17u, 0x20u, 0x3FFFFFFFu, 0x40000002u, 0x4FFFFFFFu, 0x80000009u, 0x8FFFFFFFu, 0xC0000000u,
                   0xFFFFFFFFu})
    EXPECT_EQ(m.answer(leaf, 0, {}), highest) << std::hex << leaf;
}

TEST(GuestCpuid, HostLeafRangesAreCapped) {
  Fake_cpu host;
  test::apply(host, test::intel_core_i7_6700k());
  host.set_vendor("GenuineIntel", 0x23);
  host.set_cpuid(0x80000000, {0x80000021, 0, 0, 0});
  Guest_cpuid m;
  m.build(host, {});
  EXPECT_EQ(m.max_basic_leaf(), 0x1Fu);
  EXPECT_EQ(m.answer(0, 0, {}).eax, 0x1Fu);
  EXPECT_EQ(m.max_extended_leaf(), 0x80000008u);
  EXPECT_EQ(m.answer(0x80000000, 0, {}).eax, 0x80000008u);
  EXPECT_EQ(m.answer(0x80000020, 0, {}), m.answer(0x1F, 0, {}));
}

TEST(GuestCpuid, LeavesNotPassedThroughReadAsZeros) {
  Fake_cpu host;
  test::apply(host, test::intel_core_i7_6700k());
  host.set_cpuid(0x12, {1, 2, 3, 4});  // SGX
  host.set_cpuid(0x14, {1, 2, 3, 4});  // Intel PT
  host.set_cpuid(0x10, {1, 2, 3, 4});  // RDT allocation
  host.set_cpuid(0x3, {1, 2, 3, 4});
  Guest_cpuid m;
  m.build(host, {});
  for (u32 leaf : {0x3u, 0x8u, 0x9u, 0xCu, 0xEu, 0xFu, 0x10u, 0x12u, 0x13u, 0x14u})
    EXPECT_EQ(m.answer(leaf, 0, {}), Cpuid_result{}) << std::hex << leaf;
  EXPECT_EQ(m.answer(0x15, 0, {}), (Cpuid_result{2, 0x14e, 0, 0}));  // TSC ratio stays
  EXPECT_EQ(m.answer(2, 0, {}), (Cpuid_result{0x76036301, 0x00f0b5ff, 0, 0x00c30000}));
}

TEST(GuestCpuid, XsaveLeafDropsMpxAndXsavesAndSizesTheAreaForXcr0) {
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k());
  EXPECT_EQ(m.supported_xcr0(), 0x7u);  // x87, SSE, AVX: the MPX components are gone
  Guest_cpuid_vcpu v;
  v.xcr0 = 0x3;
  const Cpuid_result d0 = m.answer(0xD, 0, v);
  EXPECT_EQ(d0.eax, 0x7u);
  EXPECT_EQ(d0.edx, 0u);
  EXPECT_EQ(d0.ebx, 576u);          // legacy area + header
  EXPECT_EQ(d0.ecx, 0x240u + 0x100u);  // everything supported: up to the end of AVX
  v.xcr0 = 0x7;
  EXPECT_EQ(m.answer(0xD, 0, v).ebx, 832u);
  v.xcr0 = 0x1F;  // MPX bits the guest could not have set: ignored
  EXPECT_EQ(m.answer(0xD, 0, v).ebx, 832u);
  EXPECT_EQ(m.answer(0xD, 1, v), (Cpuid_result{0x7, 0, 0, 0}));  // XSAVEOPT, XSAVEC, XGETBV1; no XSAVES
  EXPECT_EQ(m.answer(0xD, 2, v), (Cpuid_result{0x100, 0x240, 0, 0}));
  EXPECT_EQ(m.answer(0xD, 3, v), Cpuid_result{});
  EXPECT_EQ(m.answer(0xD, 4, v), Cpuid_result{});
  EXPECT_EQ(m.answer(0xD, 63, v), Cpuid_result{});
}

TEST(GuestCpuid, ExtendedLeavesKeepOnlyWhatAGuestCanUse) {
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k());
  const Cpuid_result e1 = m.answer(0x80000001, 0, {});
  EXPECT_EQ(e1.ecx, 0x121u);        // LAHF, LZCNT, PREFETCHW
  EXPECT_EQ(e1.edx, 0x2c100800u);   // SYSCALL, NX, 1 GiB pages, RDTSCP, Intel 64
  EXPECT_EQ(m.answer(0x80000007, 0, {}), (Cpuid_result{0, 0, 0, 0x100}));  // invariant TSC
  EXPECT_EQ(m.answer(0x80000008, 0, {}).eax, 0x3027u);
  EXPECT_EQ(m.answer(0x80000005, 0, {}), Cpuid_result{});
}

TEST(GuestCpuid, FamilyModelAndBrandCanBeConfigured) {
  Guest_cpuid_config c;
  c.family = 6;
  c.model = 0x55;
  c.stepping = 7;
  c.brand = "hv virtual CPU";
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k(), c);
  EXPECT_EQ(m.answer(1, 0, {}).eax, 0x00050657u);
  Guest_view guest(m, {});
  const Cpu_identity id = read_cpu_identity(guest);
  EXPECT_EQ(id.family, 6u);
  EXPECT_EQ(id.model, 0x55u);
  EXPECT_EQ(id.stepping, 7u);
  EXPECT_EQ(std::string(id.brand_name()), "hv virtual CPU");
  // A brand longer than 47 bytes is cut (the 48th byte stays NUL).
  Guest_cpuid_config longer;
  const std::string big(60, 'b');
  longer.brand = big;
  const Guest_cpuid lm = model_of(test::intel_core_i7_6700k(), longer);
  Guest_view g3(lm, {});
  EXPECT_EQ(std::string(read_cpu_identity(g3).brand_name()), std::string(47, 'b'));
}

TEST(GuestCpuid, EncodeFamilyModelInvertsTheDecoder) {
  for (u32 family : {3u, 4u, 5u, 6u, 0xFu, 0x10u, 0x17u, 0x19u, 0x10Eu}) {
    for (u32 model : {0u, 1u, 0xEu, 0x55u, 0x8Fu, 0xFFu}) {
      const bool extended = family == 6 || family >= 0xF;
      if (!extended && model > 0xF) continue;  // not expressible
      u32 f = 0, m = 0, s = 0;
      decode_family_model(encode_family_model(family, model, 9), f, m, s);
      EXPECT_EQ(f, family);
      EXPECT_EQ(m, model) << "family " << family;
      EXPECT_EQ(s, 9u);
    }
  }
  EXPECT_EQ(encode_family_model(6, 85, 4), 0x00050654u);
  EXPECT_EQ(encode_family_model(0x17, 1, 1), 0x00800f11u);
}

TEST(GuestCpuid, ZeroVcpusIsOne) {
  Guest_cpuid_config c;
  c.vcpu_count = 0;
  const Guest_cpuid m = model_of(test::intel_core_i7_6700k(), c);
  EXPECT_EQ(m.config().vcpu_count, 1u);
  EXPECT_EQ(m.answer(0xB, 1, {}).ebx, 1u);
}

TEST(GuestCpuid, AHostWithoutExtendedLeavesAnswersThemWithTheHighestBasicLeaf) {
  Fake_cpu host;
  host.set_vendor("GenuineIntel", 1);
  host.set_cpuid(1, {0x000006f6, 0x00010800, 0x0000e3bd, 0xbfebfbff});  // Core 2
  Guest_cpuid m;
  m.build(host, {});
  EXPECT_EQ(m.max_extended_leaf(), 0u);
  EXPECT_EQ(m.answer(0x80000000, 0, {}), m.answer(1, 0, {}));
  EXPECT_EQ(m.answer(0x80000000, 0, {}).ecx & cpuid::ECX_VMX, 0u);
  EXPECT_EQ(signature(m.answer(0x40000000, 0, {})), "HvTypeOneVMX");
}


// --- The answer table against the model (model_answer), leaf by leaf and subleaf by subleaf.

// Every leaf a guest can tell apart from its neighbours: the recorded dump's own leaves, every
// basic leaf up to past the largest maximum, the hypervisor and extended ranges and past their
// ends, and the edges of the 32-bit leaf space.
std::vector<u32> leaves_to_compare(const std::vector<test::Cpuid_leaf>& dump) {
  std::vector<u32> leaves;
  for (const test::Cpuid_leaf& l : dump) leaves.push_back(l.leaf);
  for (u32 leaf = 0; leaf <= 0x24; ++leaf) leaves.push_back(leaf);
  for (u32 leaf = 0x40000000; leaf <= 0x40000010; ++leaf) leaves.push_back(leaf);
  for (u32 leaf = 0x80000000; leaf <= 0x80000024; ++leaf) leaves.push_back(leaf);
  for (u32 leaf : {0x3FFFFFFFu, 0x400000FFu, 0x40000100u, 0x4FFFFFFFu, 0x7FFFFFFFu, 0x800000FFu, 0x8FFFFFFFu,
                   0xC0000000u, 0xC0000001u, 0xFFFFFFFEu, 0xFFFFFFFFu})
    leaves.push_back(leaf);
  return leaves;
}

// Subleaves: all that any leaf defines and past them, and values whose low byte repeats a
// defined one (leaves 0xB/0x1F echo ECX[7:0]).
std::vector<u32> subleaves_to_compare(const std::vector<test::Cpuid_leaf>& dump) {
  std::vector<u32> subleaves;
  for (const test::Cpuid_leaf& l : dump) subleaves.push_back(l.subleaf);
  for (u32 s = 0; s <= 40; ++s) subleaves.push_back(s);
  for (u32 s : {63u, 64u, 0xFFu, 0x100u, 0x101u, 0x102u, 0x1FFu, 0x80000000u, 0xFFFFFFFEu, 0xFFFFFFFFu}) subleaves.push_back(s);
  return subleaves;
}

// vCPU states: APIC IDs (0, others, one past 8 bits), CR4 with and without OSXSAVE, XCR0 values
// with components the model supports and some it does not.
std::vector<Guest_cpuid_vcpu> vcpus_to_compare() {
  std::vector<Guest_cpuid_vcpu> vcpus;
  for (u32 apic : {0u, 1u, 3u, 0xFFu, 0x100u})
    for (u64 cr4 : {u64{0}, u64{1} << 18, ~u64{0}})
      for (u64 xcr0 : {u64{1}, u64{3}, u64{7}, u64{0x1F}, u64{0xE7}, ~u64{0}}) vcpus.push_back({apic, cr4, xcr0});
  return vcpus;
}

// Compares answer() and fixed_answer() with model_answer() everywhere; returns the mismatches
// (leaf, subleaf, vCPU), at most a few, so a failure names where.
std::vector<std::string> table_mismatches(const Guest_cpuid& m, const std::vector<test::Cpuid_leaf>& dump) {
  std::vector<std::string> out;
  const std::vector<u32> subleaves = subleaves_to_compare(dump);
  const std::vector<Guest_cpuid_vcpu> vcpus = vcpus_to_compare();
  for (u32 leaf : leaves_to_compare(dump)) {
    const Cpuid_result* fixed = m.fixed_answer(leaf);
    for (u32 sub : subleaves) {
      for (const Guest_cpuid_vcpu& v : vcpus) {
        const Cpuid_result model = m.model_answer(leaf, sub, v);
        const bool answer_ok = m.answer(leaf, sub, v) == model;
        const bool fixed_ok = !fixed || *fixed == model;
        if ((answer_ok && fixed_ok) || out.size() >= 8) continue;
        char where[160];
        std::snprintf(where, sizeof where, "leaf %#x subleaf %#x apic %#x cr4 %#llx xcr0 %#llx: %s", leaf, sub, v.apic_id,
                      static_cast<unsigned long long>(v.cr4), static_cast<unsigned long long>(v.xcr0),
                      answer_ok ? "fixed_answer differs" : "answer differs");
        out.emplace_back(where);
      }
    }
  }
  return out;
}

std::vector<Guest_cpuid_config> configs_to_compare() {
  std::vector<Guest_cpuid_config> configs(5);
  configs[1].vcpu_count = 3;
  configs[2].vcpu_count = 4;
  configs[2].pcid = false;
  configs[3].family = 6;
  configs[3].model = 0x55;
  configs[3].stepping = 7;
  configs[3].brand = "hv virtual CPU";
  configs[4].vcpu_count = 200;
  configs[4].hypervisor_features = 0;
  return configs;
}

TEST(GuestCpuidTable, AnswersAsTheModelForEveryLeafAndSubleafOfBochs) {
  const test::Cpu_profile p = test::bochs_skylake_x();
  for (const Guest_cpuid_config& c : configs_to_compare())
    EXPECT_EQ(table_mismatches(model_of(p, c), p.cpuid), std::vector<std::string>{}) << "vCPUs " << c.vcpu_count;
}

TEST(GuestCpuidTable, AnswersAsTheModelForEveryLeafAndSubleafOfARealCpu) {
  const test::Cpu_profile p = test::intel_core_i7_6700k();
  for (const Guest_cpuid_config& c : configs_to_compare())
    EXPECT_EQ(table_mismatches(model_of(p, c), p.cpuid), std::vector<std::string>{}) << "vCPUs " << c.vcpu_count;
}

TEST(GuestCpuidTable, AnswersAsTheModelWhenTheHighestBasicLeafDependsOnTheVcpuOrTheSubleaf) {
  // The real CPU's dump with its maximum basic leaf cut to each leaf the model treats specially
  // (and to 0x1F, the largest it keeps): every leaf above then answers like that one, subleaf,
  // APIC ID, CR4 and XCR0 included.
  const test::Cpu_profile p = test::intel_core_i7_6700k();
  for (u32 max_leaf : {0x1u, 0x4u, 0x7u, 0xBu, 0xDu, 0x1Fu}) {
    Fake_cpu host;
    test::apply(host, p);
    host.set_vendor("GenuineIntel", max_leaf);
    Guest_cpuid m;
    m.build(host, {});
    ASSERT_EQ(m.max_basic_leaf(), max_leaf);
    EXPECT_EQ(table_mismatches(m, p.cpuid), std::vector<std::string>{}) << "max basic leaf " << std::hex << max_leaf;
  }
}

TEST(GuestCpuidTable, AnswersAsTheModelOnCpusWithFewLeaves) {
  Fake_cpu core2;  // no extended leaves at all
  core2.set_vendor("GenuineIntel", 1);
  core2.set_cpuid(1, {0x000006f6, 0x00010800, 0x0000e3bd, 0xbfebfbff});
  Guest_cpuid m;
  m.build(core2, {});
  EXPECT_EQ(table_mismatches(m, {}), std::vector<std::string>{});
  Fake_cpu nothing;  // leaf 0 only, maximum 0
  Guest_cpuid z;
  z.build(nothing, {});
  EXPECT_EQ(table_mismatches(z, {}), std::vector<std::string>{});
  const Guest_cpuid unbuilt;  // never built: every answer zero, as the model's
  EXPECT_EQ(unbuilt.answer(0x40000000, 0, {}), Cpuid_result{});
}

TEST(GuestCpuidTable, TheHypervisorAndExtendedLeavesAreFixedAnswers) {
  // The leaves that depend on nothing but the VM come straight from the table (no CR4 read on
  // the exit path); those that depend on ECX or the vCPU say so.
  const Guest_cpuid m = model_of(test::bochs_skylake_x());
  for (u32 leaf : {0x0u, 0x2u, 0x40000000u, 0x40000001u, 0x80000000u, 0x80000001u, 0x80000004u, 0x80000008u})
    EXPECT_NE(m.fixed_answer(leaf), nullptr) << std::hex << leaf;
  for (u32 leaf : {0x1u, 0x4u, 0x7u, 0xBu, 0xDu}) EXPECT_EQ(m.fixed_answer(leaf), nullptr) << std::hex << leaf;
  // Above the maximum: Bochs' highest basic leaf (0x16) is a fixed one.
  ASSERT_NE(m.fixed_answer(0x40000002), nullptr);
  EXPECT_EQ(*m.fixed_answer(0x40000002), m.answer(0x16, 0, {}));
}

} // namespace
} // namespace hv
