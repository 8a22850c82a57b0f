// tests/unit/exit_msr_test.cpp - RDMSR/WRMSR exits: MSRs the VMCS holds go to and come from
// their guest-state fields, the others mark the hardware copy dirty, anything off the allow-list
// gets #GP without moving RIP.
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

namespace r = exit_reason;

class ExitMsr : public test::Vcpu_test {
protected:
  Exit_action rdmsr(u32 m) {
    vcpu.regs.rcx = m;
    return exit_with(r::RDMSR, 0, 2);
  }
  Exit_action wrmsr(u32 m, u64 value) {
    vcpu.regs.rcx = m;
    vcpu.regs.rax = (value & 0xFFFFFFFF) | 0xDEAD000000000000ull;  // upper halves are ignored
    vcpu.regs.rdx = (value >> 32) | 0xBEEF000000000000ull;
    return exit_with(r::WRMSR, 0, 2);
  }
  [[nodiscard]] u64 edx_eax() const { return (vcpu.regs.rdx << 32) | vcpu.regs.rax; }
};

TEST_F(ExitMsr, RdmsrEferReadsTheVmcsField) {
  vcpu.regs.rax = vcpu.regs.rdx = ~0ull;
  EXPECT_EQ(rdmsr(msr::IA32_EFER), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE) << "upper half of RAX cleared";
  EXPECT_EQ(vcpu.regs.rdx, 0u);
  EXPECT_EQ(rip(), test::test_guest_entry + 2);
}

TEST_F(ExitMsr, RdmsrSeesAValueTheCpuChangedInTheVmcsWithoutAnExit) {
  // e.g. WRFSBASE in the guest: only the VMCS knows.
  vmcs.write(vmcs::GUEST_FS_BASE, 0x00007F0012345000ull);
  EXPECT_EQ(rdmsr(msr::IA32_FS_BASE), Exit_action::advance_rip);
  EXPECT_EQ(edx_eax(), 0x00007F0012345000ull);
  EXPECT_EQ(vcpu.regs.rdx, 0x7F00u);
  EXPECT_EQ(vcpu.regs.rax, 0x12345000u);
}

TEST_F(ExitMsr, RdmsrPatSplitsIntoEdxAndEax) {
  EXPECT_EQ(rdmsr(msr::IA32_PAT), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0x00070406u);
  EXPECT_EQ(vcpu.regs.rdx, 0x00070406u);
}

TEST_F(ExitMsr, WrmsrEferGoesToTheVmcsField) {
  const u64 value = msr::EFER_SCE | msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE;
  EXPECT_EQ(wrmsr(msr::IA32_EFER, value), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::GUEST_IA32_EFER), value);
  EXPECT_FALSE(vcpu.msr_hardware_dirty) << "EFER is switched by the VMCS";
  EXPECT_EQ(rip(), test::test_guest_entry + 2);
}

TEST_F(ExitMsr, WrmsrFsBaseGoesToTheVmcsField) {
  EXPECT_EQ(wrmsr(msr::IA32_FS_BASE, 0xFFFF800000001000ull), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::GUEST_FS_BASE), 0xFFFF800000001000ull);
  EXPECT_FALSE(vcpu.msr_hardware_dirty);
}

TEST_F(ExitMsr, WrmsrLstarMarksTheHardwareCopyDirty) {
  const u64 writes = vmcs.writes;
  EXPECT_EQ(wrmsr(msr::IA32_LSTAR, 0xFFFFFFFF81000000ull), Exit_action::advance_rip);
  EXPECT_TRUE(vcpu.msr_hardware_dirty);
  EXPECT_EQ(msrs.value(msr::IA32_LSTAR), 0xFFFFFFFF81000000ull);
  // exit_with wrote 5 exit fields; the handler wrote only RIP.
  EXPECT_EQ(vmcs.writes, writes + 5 + 1);
  vcpu.regs.rax = vcpu.regs.rdx = 0;
  EXPECT_EQ(rdmsr(msr::IA32_LSTAR), Exit_action::advance_rip);
  EXPECT_EQ(edx_eax(), 0xFFFFFFFF81000000ull);
}

TEST_F(ExitMsr, ANonCanonicalLstarIsGpAndKeepsTheOldValue) {
  EXPECT_EQ(wrmsr(msr::IA32_LSTAR, 0x0000800000000000ull), Exit_action::resume);
  EXPECT_TRUE(gp_pending());
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_FALSE(vcpu.msr_hardware_dirty);
  EXPECT_EQ(msrs.value(msr::IA32_LSTAR), 0u);
}

TEST_F(ExitMsr, ClearingLmeWhilePagingIsGpAndTheVmcsKeepsItsEfer) {
  const u64 before = field(vmcs::GUEST_IA32_EFER);
  EXPECT_EQ(wrmsr(msr::IA32_EFER, msr::EFER_NXE), Exit_action::resume);
  EXPECT_TRUE(gp_pending());
  EXPECT_EQ(field(vmcs::GUEST_IA32_EFER), before);
}

TEST_F(ExitMsr, UnknownMsrsAreGpWithoutMovingRipOrTouchingRegisters) {
  for (u32 m : {0x10u /*TSC*/, 0x48u /*SPEC_CTRL*/, 0x480u /*VMX_BASIC*/, 0x1D9u /*DEBUGCTL*/, 0x40000000u}) {
    vcpu.pending_event.reset();
    vcpu.regs.rax = 0x1111;
    vcpu.regs.rdx = 0x2222;
    EXPECT_EQ(rdmsr(m), Exit_action::resume) << std::hex << m;
    EXPECT_TRUE(gp_pending());
    EXPECT_EQ(vcpu.regs.rax, 0x1111u);
    EXPECT_EQ(vcpu.regs.rdx, 0x2222u);
    vcpu.pending_event.reset();
    EXPECT_EQ(wrmsr(m, 0), Exit_action::resume) << std::hex << m;
    EXPECT_TRUE(gp_pending());
  }
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_EQ(msrs.unlisted_counts().faults, 10u);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none) << "a guest's bad MSR access never stops it";
}

TEST_F(ExitMsr, OnlyEcxSelectsTheMsr) {
  vcpu.regs.rcx = 0xFFFFFFFF00000000ull | msr::IA32_PAT;
  EXPECT_EQ(exit_with(r::RDMSR, 0, 2), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0x00070406u);
}

TEST_F(ExitMsr, WithoutAnAllowListEveryMsrIsGp) {
  vcpu.msrs = nullptr;
  EXPECT_EQ(rdmsr(msr::IA32_EFER), Exit_action::resume);
  EXPECT_TRUE(gp_pending());
}

} // namespace
} // namespace hv
