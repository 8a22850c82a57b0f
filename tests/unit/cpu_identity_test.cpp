// tests/unit/cpu_identity_test.cpp - CPUID vendor/family/model decoding and the brand string.
#include "arch/x86/cpu_identity.hpp"
#include "arch/x86/fake/fake_cpu.hpp"
#include "unit/support/cpu_profiles.hpp"
#include <gtest/gtest.h>
#include <string>

namespace hv {
namespace {

struct Fms {
  u32 family, model, stepping;
};
Fms decode(u32 eax) {
  Fms f{};
  decode_family_model(eax, f.family, f.model, f.stepping);
  return f;
}

TEST(CpuFamilyModel, Family6AddsTheExtendedModel) {
  const Fms skx = decode(0x00050654);  // Skylake-X: 6/85/4
  EXPECT_EQ(skx.family, 6u);
  EXPECT_EQ(skx.model, 85u);
  EXPECT_EQ(skx.stepping, 4u);
  const Fms skl = decode(0x000506e3);  // Skylake-S: 6/94/3
  EXPECT_EQ(skl.model, 0x5eu);
  EXPECT_EQ(skl.stepping, 3u);
}

TEST(CpuFamilyModel, Family15AddsBothExtendedFields) {
  const Fms zen = decode(0x00800f11);  // Zen: family 0x0F + 0x08 = 0x17, model 0x01
  EXPECT_EQ(zen.family, 0x17u);
  EXPECT_EQ(zen.model, 0x01u);
  EXPECT_EQ(zen.stepping, 1u);
  const Fms zen3 = decode(0x00a20f10);  // Zen 3 Vermeer: family 0x19, model 0x21
  EXPECT_EQ(zen3.family, 0x19u);
  EXPECT_EQ(zen3.model, 0x21u);
  const Fms p4 = decode(0x00000f29);  // Pentium 4 Northwood: family 15 (+0), model 2
  EXPECT_EQ(p4.family, 15u);
  EXPECT_EQ(p4.model, 2u);
  EXPECT_EQ(p4.stepping, 9u);
}

TEST(CpuFamilyModel, OtherFamiliesIgnoreTheExtendedFields) {
  // Extended model/family bits set but the base family is 5: the SDM uses the base values only.
  const Fms f = decode(0x0ff50543);
  EXPECT_EQ(f.family, 5u);
  EXPECT_EQ(f.model, 4u);
  EXPECT_EQ(f.stepping, 3u);
  // Family 6 ignores the extended family field.
  EXPECT_EQ(decode(0x0ff006a0).family, 6u);
}

TEST(CpuFamilyModel, ProcessorTypeBitsDoNotLeakIntoFamilyOrModel) {
  const Fms f = decode(0x00003654 | 0x00050000);  // type 3 in bits 13:12
  EXPECT_EQ(f.family, 6u);
  EXPECT_EQ(f.model, 85u);
}

TEST(CpuIdentity, VendorsAreRecognisedByTheirStrings) {
  Fake_cpu intel;
  intel.set_vendor("GenuineIntel", 1);
  EXPECT_EQ(read_cpu_identity(intel).vendor, Cpu_vendor::intel);
  Fake_cpu amd;
  amd.set_vendor("AuthenticAMD", 1);
  EXPECT_EQ(read_cpu_identity(amd).vendor, Cpu_vendor::amd);
  Fake_cpu other;
  other.set_vendor("CentaurHauls", 1);
  const Cpu_identity id = read_cpu_identity(other);
  EXPECT_EQ(id.vendor, Cpu_vendor::other);
  EXPECT_EQ(std::string(id.vendor_name()), "CentaurHauls");
}

TEST(CpuIdentity, LeafOneIsNotReadWhenTheMaxBasicLeafIsZero) {
  Fake_cpu cpu;
  cpu.set_vendor("GenuineIntel", 0);
  cpu.set_cpuid(1, {0x00050654, 0, cpuid::ECX_VMX, 0});
  const Cpu_identity id = read_cpu_identity(cpu);
  EXPECT_EQ(id.family, 0u);
  EXPECT_FALSE(id.has_vmx());
}

TEST(CpuIdentity, FeatureBitsComeFromLeafOne) {
  Fake_cpu cpu;
  cpu.set_vendor("GenuineIntel", 1);
  cpu.set_cpuid(1, {0x00050654, 0, cpuid::ECX_VMX | cpuid::ECX_SMX | cpuid::ECX_HYPERVISOR, 0x1});
  const Cpu_identity id = read_cpu_identity(cpu);
  EXPECT_TRUE(id.has_vmx());
  EXPECT_TRUE(id.has_smx());
  EXPECT_TRUE(id.under_hypervisor());
  EXPECT_EQ(id.features_edx, 1u);
}

TEST(CpuIdentity, ExtendedLeavesNeedBit31OfTheMaxExtendedLeaf) {
  // Some old CPUs answer 0x80000000 with the data of their highest basic leaf.
  Fake_cpu cpu;
  cpu.set_vendor("GenuineIntel", 1);
  cpu.set_cpuid(0x80000000, {0x00000002, 0, 0, 0});
  for (const auto& l : test::brand_leaves("should not be read")) cpu.set_cpuid(l.leaf, l.value);
  cpu.set_cpuid(0x80000008, {0x3027, 0, 0, 0});
  const Cpu_identity id = read_cpu_identity(cpu);
  EXPECT_EQ(id.max_extended_leaf, 0u);
  EXPECT_TRUE(id.brand_name().empty());
  EXPECT_EQ(id.physical_address_bits, 36u);  // the architectural default
}

TEST(CpuIdentity, BrandNeedsLeaf0x80000004AndAddressSizesNeed0x80000008) {
  Fake_cpu cpu;
  cpu.set_vendor("GenuineIntel", 1);
  cpu.set_cpuid(0x80000000, {0x80000003, 0, 0, 0});
  for (const auto& l : test::brand_leaves("half a brand")) cpu.set_cpuid(l.leaf, l.value);
  const Cpu_identity id = read_cpu_identity(cpu);
  EXPECT_TRUE(id.brand_name().empty());
  EXPECT_EQ(id.physical_address_bits, 36u);
}

std::string brand_of(std::string_view raw) {
  Fake_cpu cpu;
  cpu.set_vendor("GenuineIntel", 1);
  cpu.set_cpuid(0x80000000, {0x80000004, 0, 0, 0});
  for (const auto& l : test::brand_leaves(raw)) cpu.set_cpuid(l.leaf, l.value);
  return std::string(read_cpu_identity(cpu).brand_name());
}

TEST(CpuBrand, LeadingAndTrailingSpacesAreTrimmed) {
  // Sandy Bridge-E pads on the left (VirtualBox's dump of the i7-3960X), AMD on the right.
  EXPECT_EQ(brand_of("       Intel(R) Core(TM) i7-3960X CPU @ 3.30GHz"), "Intel(R) Core(TM) i7-3960X CPU @ 3.30GHz");
  EXPECT_EQ(brand_of("AMD Ryzen 7 1800X Eight-Core Processor          "), "AMD Ryzen 7 1800X Eight-Core Processor");
  EXPECT_EQ(brand_of("  inner  spaces  stay  "), "inner  spaces  stay");
}

TEST(CpuBrand, AllSpacesOrEmptyGiveAnEmptyBrand) {
  EXPECT_EQ(brand_of(std::string(48, ' ')), "");
  EXPECT_EQ(brand_of(""), "");
}

TEST(CpuBrand, AFull48ByteBrandWithoutNulIsKeptWhole) {
  const std::string full(48, 'x');
  EXPECT_EQ(brand_of(full), full);
}

TEST(CpuIdentity, ProfilesDecodeToTheirPublishedIdentity) {
  for (const auto& p : test::all_cpu_profiles()) {
    Fake_cpu cpu;
    test::apply(cpu, p);
    const Cpu_identity id = read_cpu_identity(cpu);
    EXPECT_EQ(id.family, p.family) << p.name;
    EXPECT_EQ(id.model, p.model) << p.name;
    EXPECT_EQ(std::string(id.brand_name()), p.brand) << p.name;
    EXPECT_EQ(id.physical_address_bits, p.physical_address_bits) << p.name;
    EXPECT_TRUE(cpu.missing_msr_reads.empty()) << "identity reads no MSR";
  }
}

} // namespace
} // namespace hv
