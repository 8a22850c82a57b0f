// tests/unit/exit_raise_exception_test.cpp - an exception a handler raises meets an event the
// exit interrupted: the SDM's double-fault rules decide (table 6-5), and a fault during #DF
// delivery stops the vCPU with a triple fault instead of entering with an invalid event.
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

using test::Vcpu_test;
namespace r = exit_reason;
using ExitRaise = Vcpu_test;

// An unknown RDMSR raises #GP(0).
constexpr u32 unknown_msr = 0xC0010000;

TEST_F(ExitRaise, AGpRaisedWhileAPageFaultWasBeingDeliveredBecomesADoubleFault) {
  vcpu.regs.rcx = unknown_msr;
  const u32 pf = Interruption_info::make(exception_vector::PF, Interruption_type::hardware_exception, true).raw;
  EXPECT_EQ(exit_with(r::RDMSR, 0, 2, pf, 2), Exit_action::resume);
  ASSERT_TRUE(vcpu.pending_event);
  EXPECT_EQ(*vcpu.pending_event, hardware_exception(exception_vector::DF, 0));
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

TEST_F(ExitRaise, AGpRaisedWhileADoubleFaultWasBeingDeliveredIsATripleFault) {
  vcpu.regs.rcx = unknown_msr;
  const u32 df = Interruption_info::make(exception_vector::DF, Interruption_type::hardware_exception, true).raw;
  EXPECT_EQ(exit_with(r::RDMSR, 0, 2, df, 0), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::triple_fault);
}

TEST_F(ExitRaise, ABenignInterruptedEventYieldsToTheRaisedException) {
  // #UD from VMXON while a #DB (benign) was being delivered: #UD is delivered (#DB re-occurs).
  const u32 db = Interruption_info::make(exception_vector::DB, Interruption_type::hardware_exception, false).raw;
  EXPECT_EQ(exit_with(r::VMXON, 0, 4, db), Exit_action::resume);
  EXPECT_TRUE(ud_pending());
}

TEST_F(ExitRaise, AnInterruptedExternalInterruptIsKeptForLater) {
  vcpu.regs.rcx = unknown_msr;
  const u32 irq = Interruption_info::make(0x30, Interruption_type::external_interrupt, false).raw;
  EXPECT_EQ(exit_with(r::RDMSR, 0, 2, irq), Exit_action::resume);
  EXPECT_TRUE(gp_pending());
  ASSERT_TRUE(vcpu.deferred_event);
  EXPECT_EQ(*vcpu.deferred_event, external_interrupt(0x30));
}

} // namespace
} // namespace hv
