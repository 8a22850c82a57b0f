// tests/unit/exit_raise_exception_test.cpp - an exception a handler raises meets an event the
// exit interrupted (already queued for re-injection by dispatch_exit): the SDM's double-fault
// rules decide (table 6-5), and a fault during #DF delivery stops the vCPU with a triple fault
// instead of entering with an invalid event. Instruction exits (CPUID, RDMSR, ...) never carry an
// interrupted event, so the dispatcher does not even read IDT-vectoring information for them.
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

using test::Vcpu_test;
namespace r = exit_reason;
using ExitRaise = Vcpu_test;

TEST_F(ExitRaise, AGpRaisedWhileAPageFaultWasBeingDeliveredBecomesADoubleFault) {
  vcpu.pending_event = hardware_exception(exception_vector::PF, 2);
  Exit_context ctx{vcpu, vmcs, r::EPT_VIOLATION, 0};
  EXPECT_EQ(raise_exception(ctx, hardware_exception(exception_vector::GP, 0)), Exit_action::resume);
  ASSERT_TRUE(vcpu.pending_event);
  EXPECT_EQ(*vcpu.pending_event, hardware_exception(exception_vector::DF, 0));
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

TEST_F(ExitRaise, AGpRaisedWhileADoubleFaultWasBeingDeliveredIsATripleFault) {
  vcpu.pending_event = hardware_exception(exception_vector::DF, 0);
  Exit_context ctx{vcpu, vmcs, r::EPT_VIOLATION, 0};
  EXPECT_EQ(raise_exception(ctx, hardware_exception(exception_vector::GP, 0)), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::triple_fault);
}

TEST_F(ExitRaise, WithNothingInterruptedTheRaisedExceptionIsDelivered) {
  Exit_context ctx{vcpu, vmcs, r::VMXON, 0};
  EXPECT_EQ(raise_exception(ctx, hardware_exception(exception_vector::UD)), Exit_action::resume);
  EXPECT_TRUE(ud_pending());
}

TEST_F(ExitRaise, AnInterruptedExternalInterruptIsKeptForLater) {
  vcpu.pending_event = external_interrupt(0x30);
  Exit_context ctx{vcpu, vmcs, r::EPT_VIOLATION, 0};
  EXPECT_EQ(raise_exception(ctx, hardware_exception(exception_vector::GP, 0)), Exit_action::resume);
  EXPECT_TRUE(gp_pending());
  ASSERT_TRUE(vcpu.deferred_event);
  EXPECT_EQ(*vcpu.deferred_event, external_interrupt(0x30));
}

TEST_F(ExitRaise, InstructionExitsDoNotReadIdtVectoringInformation) {
  // Garbage in the field must not be re-injected after a CPUID exit.
  const u32 pf = Interruption_info::make(exception_vector::PF, Interruption_type::hardware_exception, true).raw;
  vcpu.regs.rax = 0;
  EXPECT_EQ(exit_with(r::CPUID, 0, 2, pf, 0), Exit_action::advance_rip);
  EXPECT_FALSE(vcpu.pending_event);
  // An EPT violation can interrupt delivery: its IDT-vectoring information is honoured.
  EXPECT_EQ(exit_with(r::EPT_VIOLATION, 0x181, 0, pf, 2), Exit_action::stop);  // no memory wired: outside slots
  ASSERT_TRUE(vcpu.pending_event);
  EXPECT_EQ(*vcpu.pending_event, hardware_exception(exception_vector::PF, 2));
}

} // namespace
} // namespace hv
