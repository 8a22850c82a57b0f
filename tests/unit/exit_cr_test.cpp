// tests/unit/exit_cr_test.cpp - control-register access exits on a 64-bit guest with Bochs' CR0/CR4
// fixed bits (CR0: PE, NE, PG must be 1; CR4: VMXE must be 1, only the bits of 0x3727ff may be 1):
// the guest's view in the read shadows, the real registers with the fixed bits, and #GP where the
// CPU would raise it.
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

using test::cr_qualification;
namespace r = exit_reason;
using T = Cr_access_type;

constexpr u64 start_cr0 = 0x80010033;  // PG WP NE ET MP PE, as the loader starts guests
constexpr u64 start_cr4 = cr4_bit::PAE;

class ExitCr : public test::Vcpu_test {
protected:
  Exit_action mov_to_cr(u8 cr, Gpr gpr, u64 value, u32 length = 3) {
    if (gpr == Gpr::rsp) vmcs.write(vmcs::GUEST_RSP, value);
    else *guest_gpr(vcpu.regs, gpr) = value;
    return exit_with(r::CR_ACCESS, cr_qualification(cr, T::mov_to_cr, gpr), length);
  }
  // The instruction faulted: #GP(0) pending, RIP and both views of the register unchanged.
  void expect_gp_and_nothing_changed(u64 cr0_shadow, u64 cr4_shadow) {
    EXPECT_TRUE(gp_pending());
    EXPECT_EQ(rip(), test::test_guest_entry);
    EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), cr0_shadow);
    EXPECT_EQ(field(vmcs::GUEST_CR0), apply_fixed(cr0_shadow, vcpu.cr0_fixed));
    EXPECT_EQ(field(vmcs::CR4_READ_SHADOW), cr4_shadow);
    EXPECT_EQ(field(vmcs::GUEST_CR4), cr4_shadow | cr4_bit::VMXE);
    EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
  }
};

TEST_F(ExitCr, TheFixtureHasBochsFixedBits) {
  EXPECT_EQ(vcpu.cr0_fixed.must_be_one, 0x80000021u);
  EXPECT_EQ(vcpu.cr4_fixed.must_be_one, 0x2000u);
  EXPECT_EQ(vcpu.cr4_fixed.may_be_one, 0x3727FFu);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), start_cr0);
  EXPECT_EQ(field(vmcs::CR4_READ_SHADOW), start_cr4);
}

TEST_F(ExitCr, MovToCr0KeepsTheGuestsValueInTheShadowAndTheFixedBitsInTheRegister) {
  const u64 without_ne = start_cr0 & ~cr0_bit::NE;
  EXPECT_EQ(mov_to_cr(0, Gpr::rbx, without_ne), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), without_ne) << "the guest reads back what it wrote";
  EXPECT_EQ(field(vmcs::GUEST_CR0), start_cr0) << "NE stays 1 in VMX operation";
  EXPECT_EQ(rip(), test::test_guest_entry + 3);
  EXPECT_FALSE(vcpu.pending_event.has_value());
}

TEST_F(ExitCr, MovToCr0TakesTheValueFromTheNamedRegister) {
  vcpu.regs.rax = 0;  // a wrong source would fault
  EXPECT_EQ(mov_to_cr(0, Gpr::r15, start_cr0 | cr0_bit::TS), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), start_cr0 | cr0_bit::TS);
  EXPECT_EQ(field(vmcs::GUEST_CR0), start_cr0 | cr0_bit::TS);
}

TEST_F(ExitCr, PagingWithoutProtectionIsGp) {
  EXPECT_EQ(mov_to_cr(0, Gpr::rax, cr0_bit::PG | cr0_bit::ET), Exit_action::resume);
  expect_gp_and_nothing_changed(start_cr0, start_cr4);
}

TEST_F(ExitCr, ClearingPagingInLongModeIsGp) {
  EXPECT_EQ(mov_to_cr(0, Gpr::rax, start_cr0 & ~cr0_bit::PG), Exit_action::resume);
  expect_gp_and_nothing_changed(start_cr0, start_cr4);
}

TEST_F(ExitCr, SettingTheUpperHalfOfCr0IsGp) {
  EXPECT_EQ(mov_to_cr(0, Gpr::rax, start_cr0 | (1ull << 32)), Exit_action::resume);
  expect_gp_and_nothing_changed(start_cr0, start_cr4);
}

TEST_F(ExitCr, NotWriteThroughWithoutCacheDisableIsGpAndWithItIsFine) {
  EXPECT_EQ(mov_to_cr(0, Gpr::rax, start_cr0 | cr0_bit::NW), Exit_action::resume);
  expect_gp_and_nothing_changed(start_cr0, start_cr4);
  vcpu.pending_event.reset();
  EXPECT_EQ(mov_to_cr(0, Gpr::rax, start_cr0 | cr0_bit::NW | cr0_bit::CD), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), start_cr0 | cr0_bit::NW | cr0_bit::CD);
}

TEST_F(ExitCr, MovToCr4KeepsVmxeInTheRegisterAndHidesItFromTheGuest) {
  const u64 value = cr4_bit::PAE | cr4_bit::PGE | cr4_bit::OSFXSR | cr4_bit::OSXMMEXCPT;
  EXPECT_EQ(mov_to_cr(4, Gpr::rcx, value), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR4_READ_SHADOW), value);
  EXPECT_EQ(field(vmcs::GUEST_CR4), value | cr4_bit::VMXE);
  EXPECT_EQ(rip(), test::test_guest_entry + 3);
}

TEST_F(ExitCr, SettingVmxeIsGpBecauseVmxIsHidden) {
  EXPECT_EQ(mov_to_cr(4, Gpr::rax, start_cr4 | cr4_bit::VMXE), Exit_action::resume);
  expect_gp_and_nothing_changed(start_cr0, start_cr4);
}

TEST_F(ExitCr, ClearingPaeInLongModeIsGp) {
  EXPECT_EQ(mov_to_cr(4, Gpr::rax, cr4_bit::PGE), Exit_action::resume);
  expect_gp_and_nothing_changed(start_cr0, start_cr4);
}

TEST_F(ExitCr, ReservedCr4BitsAreGp) {
  for (u64 bit : {cr4_bit::LA57, u64{1} << 15, u64{1} << 26, u64{1} << 40}) {
    vcpu.pending_event.reset();
    EXPECT_EQ(mov_to_cr(4, Gpr::rax, start_cr4 | bit), Exit_action::resume) << std::hex << bit;
    expect_gp_and_nothing_changed(start_cr0, start_cr4);
  }
}

TEST_F(ExitCr, ACr4BitThisCpuCannotSetIsGpNotSilentlyDropped) {
  // Bochs' IA32_VMX_CR4_FIXED1 (0x3727ff) has no UMIP (bit 11): on that CPU MOV to CR4 with UMIP
  // faults. Accepting it would show the guest a UMIP that does not protect anything.
  EXPECT_EQ(mov_to_cr(4, Gpr::rax, start_cr4 | cr4_bit::UMIP), Exit_action::resume);
  expect_gp_and_nothing_changed(start_cr0, start_cr4);
}

TEST_F(ExitCr, MovToCr4FromRspReadsTheGuestsRspFromTheVmcs) {
  // RSP is not saved by the exit stub; it lives in GUEST_RSP.
  const u64 value = start_cr4 | cr4_bit::OSFXSR;
  EXPECT_EQ(mov_to_cr(4, Gpr::rsp, value), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR4_READ_SHADOW), value);
  EXPECT_EQ(field(vmcs::GUEST_CR4), value | cr4_bit::VMXE);
}

TEST_F(ExitCr, MovToCr0FromRspToo) {
  EXPECT_EQ(mov_to_cr(0, Gpr::rsp, start_cr0 & ~cr0_bit::WP), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), start_cr0 & ~cr0_bit::WP);
}

TEST_F(ExitCr, CltsClearsTheTaskSwitchedFlag) {
  ASSERT_EQ(mov_to_cr(0, Gpr::rax, start_cr0 | cr0_bit::TS), Exit_action::advance_rip);
  EXPECT_EQ(exit_with(r::CR_ACCESS, cr_qualification(0, T::clts), 2), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), start_cr0);
  EXPECT_EQ(field(vmcs::GUEST_CR0), start_cr0);
  EXPECT_EQ(rip(), test::test_guest_entry + 5);
}

TEST_F(ExitCr, LmswLoadsTheLowFourBitsButCannotClearPe) {
  EXPECT_EQ(exit_with(r::CR_ACCESS, cr_qualification(0, T::lmsw, Gpr::rax, 0x0000), 3), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), start_cr0 & ~cr0_bit::MP) << "MP cleared, PE kept";
  EXPECT_EQ(exit_with(r::CR_ACCESS, cr_qualification(0, T::lmsw, Gpr::rax, 0xFFFE), 3), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::CR0_READ_SHADOW), start_cr0 | cr0_bit::EM | cr0_bit::TS)
      << "MP, EM, TS set; bits above 3 of the operand ignored";
  EXPECT_FALSE(vcpu.pending_event.has_value());
}

TEST_F(ExitCr, AccessesHvNeverAsksToTrapStopTheVmRatherThanGuess) {
  // CR3 and CR8 exiting are off in hv's controls (see vmcs_setup_test); should such an exit
  // still come, the VM stops with the qualification instead of losing the write.
  const u64 q = cr_qualification(3, T::mov_to_cr, Gpr::rax);
  EXPECT_EQ(exit_with(r::CR_ACCESS, q, 3), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
  EXPECT_EQ(vcpu.stop.value, q);
  vcpu.stop = {};
  EXPECT_EQ(exit_with(r::CR_ACCESS, cr_qualification(8, T::mov_from_cr, Gpr::rbx), 4), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
}

} // namespace
} // namespace hv
