// tests/unit/exit_cpuid_test.cpp - CPUID exits answered from the guest CPU model built from the
// Bochs profile: VMX hidden, the hypervisor leaves, register widths, per-vCPU state, and which
// answers need the guest's CR4.
#include "devices/hypercall.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <cstring>
#include <string>
#include <vector>

namespace hv {
namespace {

namespace r = exit_reason;
constexpr u32 bit(unsigned n) { return 1u << n; }

class ExitCpuid : public test::Vcpu_test {
protected:
  // CPUID with junk in every upper half, as a guest may leave it.
  Exit_action cpuid_exit(u32 leaf, u32 subleaf = 0) {
    vcpu.regs.rax = 0xDEADBEEF00000000ull | leaf;
    vcpu.regs.rcx = 0xDEADBEEF00000000ull | subleaf;
    vcpu.regs.rbx = vcpu.regs.rdx = ~0ull;
    return exit_with(r::CPUID, 0, 2);
  }
  [[nodiscard]] bool upper_halves_clear() const {
    const Guest_registers& g = vcpu.regs;
    return ((g.rax | g.rbx | g.rcx | g.rdx) >> 32) == 0;
  }
};

TEST_F(ExitCpuid, Leaf1HidesVmxAndSaysAHypervisorIsPresent) {
  ASSERT_TRUE(profile.cpuid[1].value.ecx & bit(5)) << "Bochs itself has VMX";
  EXPECT_EQ(cpuid_exit(1), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rcx & bit(5), 0u) << "VMX hidden";
  EXPECT_NE(vcpu.regs.rcx & bit(31), 0u) << "hypervisor present";
  EXPECT_EQ(vcpu.regs.rax, 0x00050654u) << "family/model/stepping passed through";
  EXPECT_TRUE(upper_halves_clear());
  EXPECT_EQ(rip(), test::test_guest_entry + 2);
}

TEST_F(ExitCpuid, HypervisorLeavesCarryTheSignatureAndTheHypercallVersion) {
  EXPECT_EQ(cpuid_exit(0x40000000), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0x40000001u);
  char signature[13] = {};
  const u32 regs[3] = {static_cast<u32>(vcpu.regs.rbx), static_cast<u32>(vcpu.regs.rcx),
                       static_cast<u32>(vcpu.regs.rdx)};
  std::memcpy(signature, regs, 12);
  EXPECT_STREQ(signature, "HvTypeOneVMX");
  EXPECT_TRUE(upper_halves_clear());

  EXPECT_EQ(cpuid_exit(0x40000001), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, hypercall_interface_version) << "what VMCALL VERSION answers";
  EXPECT_EQ(vcpu.regs.rbx, hv_features_default);
  EXPECT_EQ(vcpu.regs.rcx, 0u);
  EXPECT_EQ(vcpu.regs.rdx, 0u);
}

TEST_F(ExitCpuid, TheVmcallVersionMatchesWhatCpuidAdvertises) {
  ASSERT_EQ(cpuid_exit(0x40000001), Exit_action::advance_rip);
  const u64 advertised = vcpu.regs.rax;
  vcpu.regs.rax = hc::VERSION;
  ASSERT_EQ(exit_with(r::VMCALL, 0, 3), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, advertised);
}

TEST_F(ExitCpuid, OsxsaveFollowsTheGuestsOwnCr4) {
  ASSERT_EQ(cpuid_exit(1), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rcx & bit(27), 0u);
  // The guest sets CR4.OSXSAVE; it sees it through the read shadow, and so does CPUID.
  vcpu.regs.rax = cr4_bit::PAE | cr4_bit::OSXSAVE;
  ASSERT_EQ(exit_with(r::CR_ACCESS, test::cr_qualification(4, Cr_access_type::mov_to_cr, Gpr::rax), 3),
            Exit_action::advance_rip);
  ASSERT_EQ(cpuid_exit(1), Exit_action::advance_rip);
  EXPECT_NE(vcpu.regs.rcx & bit(27), 0u);
}

TEST_F(ExitCpuid, TheSubleafComesFromEcx) {
  ASSERT_EQ(cpuid_exit(0xB, 0), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rcx, (1u << 8) | 0u) << "level 0 is the SMT level";
  ASSERT_EQ(cpuid_exit(0xB, 1), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rcx, (2u << 8) | 1u) << "level 1 is the core level";
  EXPECT_TRUE(upper_halves_clear());
}

TEST_F(ExitCpuid, ExtendedLeavesAndTheBrandComeFromTheModel) {
  ASSERT_EQ(cpuid_exit(0x80000000), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0x80000008u);
  ASSERT_EQ(cpuid_exit(0x80000002), Exit_action::advance_rip);
  char brand[5] = {};
  const u32 eax = static_cast<u32>(vcpu.regs.rax);
  std::memcpy(brand, &eax, 4);
  EXPECT_STREQ(brand, "Inte");
}

TEST_F(ExitCpuid, WithoutAModelEveryLeafIsZeroButTheGuestGoesOn) {
  vcpu.cpuid = nullptr;
  EXPECT_EQ(cpuid_exit(1), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax | vcpu.regs.rbx | vcpu.regs.rcx | vcpu.regs.rdx, 0u);
}

TEST_F(ExitCpuid, AFixedAnswerDoesNotReadCr4) {
  vmcs.fields.erase(vmcs::CR4_READ_SHADOW);
  ASSERT_EQ(cpuid_exit(0x40000000), Exit_action::advance_rip);
  ASSERT_EQ(cpuid_exit(0x80000001), Exit_action::advance_rip);
  EXPECT_TRUE(vmcs.unwritten_reads.empty());
  ASSERT_EQ(cpuid_exit(1), Exit_action::advance_rip);  // OSXSAVE: this one does
  EXPECT_EQ(vmcs.unwritten_reads, std::vector<u32>{vmcs::CR4_READ_SHADOW});
}

TEST_F(ExitCpuid, ALeafAboveTheMaximumAnswersLikeTheHighestBasicLeafWithTheVcpusState) {
  // A CPU whose highest basic leaf is 1: leaf 0x80000000 answers as leaf 1, OSXSAVE included.
  Fake_cpu host;
  host.set_vendor("GenuineIntel", 1);
  host.set_cpuid(1, {0x000106a5, 0x00100800, 0x0c980201, 0xbfebfbff});
  Guest_cpuid one;
  one.build(host, {});
  vcpu.cpuid = &one;
  vmcs.write(vmcs::CR4_READ_SHADOW, cr4_bit::PAE | cr4_bit::OSXSAVE);
  ASSERT_EQ(cpuid_exit(0x80000000), Exit_action::advance_rip);
  EXPECT_NE(vcpu.regs.rcx & bit(27), 0u);
  ASSERT_EQ(cpuid_exit(1), Exit_action::advance_rip);
  EXPECT_NE(vcpu.regs.rcx & bit(27), 0u);
}

} // namespace
} // namespace hv
