// tests/unit/exit_dispatch_test.cpp - the exit dispatcher with a Fake_vmcs: statistics, failed
// entries, exits nobody handles, RIP advance, re-injection of interrupted events, and writing a
// pending event into the VM-entry fields.
#include "devices/hypercall.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include "vmx/exit_reason_names.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

using test::Vcpu_test;
namespace r = exit_reason;

using ExitDispatch = Vcpu_test;

TEST_F(ExitDispatch, EveryExitIsCountedByItsBasicReason) {
  for (int i = 0; i < 3; ++i) (void)exit_with(r::CPUID);
  (void)exit_with(r::EXTERNAL_INTERRUPT);
  (void)exit_with(r::IO_INSTRUCTION, test::io_qualification(0x80, 1, false), 2);
  (void)exit_with(r::VMCALL, 0, 3);
  EXPECT_EQ(vcpu.stats.count[r::CPUID], 3u);
  EXPECT_EQ(vcpu.stats.count[r::EXTERNAL_INTERRUPT], 1u);
  EXPECT_EQ(vcpu.stats.count[r::IO_INSTRUCTION], 1u);
  EXPECT_EQ(vcpu.stats.count[r::VMCALL], 1u);
  EXPECT_EQ(vcpu.stats.count[r::HLT], 0u);
  EXPECT_EQ(vcpu.stats.total, 6u);
  EXPECT_EQ(vcpu.stats.other, 0u);
  EXPECT_EQ(vcpu.last_exit_reason, r::VMCALL);
}

TEST_F(ExitDispatch, FlagBitsAboveTheBasicReasonDoNotChangeIt) {
  // Bit 27 (enclave mode) or 28 (pending MTF) set: still a CPUID exit.
  EXPECT_EQ(exit_with(r::CPUID | (1u << 28)), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.stats.count[r::CPUID], 1u);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
  EXPECT_EQ(vcpu.last_exit_reason, r::CPUID);
  // The same for the other frequent exits, which keep their handlers and exit qualification.
  vcpu.regs.rax = 0xAB00;
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION | (1u << 27), test::io_qualification(0x3FD, 1, true), 1),
            Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0xAB60u) << "LSR read through the general path";
  vcpu.regs.rax = hc::VERSION;
  EXPECT_EQ(exit_with(r::VMCALL | (1u << 28), 0, 3), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, hypercall_interface_version);
  EXPECT_EQ(vcpu.stats.count[r::IO_INSTRUCTION], 1u);
  EXPECT_EQ(vcpu.stats.count[r::VMCALL], 1u);
  EXPECT_EQ(rip(), test::test_guest_entry + 2 + 1 + 3);
}

TEST_F(ExitDispatch, AFailedEntryStopsTheVmWithEntryFailure) {
  const u64 rip_before = rip();
  EXPECT_EQ(exit_with(0x80000000u | r::ENTRY_FAILURE_INVALID_GUEST_STATE, 0), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::entry_failure);
  EXPECT_EQ(vcpu.stop.value, r::ENTRY_FAILURE_INVALID_GUEST_STATE);
  EXPECT_EQ(rip(), rip_before);
  EXPECT_TRUE(log.capture.contains("VM entry failed"));

  vcpu.stop = {};
  EXPECT_EQ(exit_with(0x80000000u | r::ENTRY_FAILURE_MSR_LOADING, 3), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::entry_failure);
  EXPECT_EQ(vcpu.stop.value, r::ENTRY_FAILURE_MSR_LOADING);
}

TEST_F(ExitDispatch, AnExitWithoutAHandlerStopsTheVmNamingTheReasonWithARegisterDump) {
  vcpu.regs.rax = 0x1234abcd;
  const u64 rip_before = rip();
  EXPECT_EQ(exit_with(r::RDTSC), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unhandled_exit);
  EXPECT_EQ(vcpu.stop.value, r::RDTSC);
  EXPECT_EQ(rip(), rip_before);
  EXPECT_TRUE(log.capture.contains("unhandled-exit"));
  EXPECT_TRUE(log.capture.contains("RDTSC"));
  EXPECT_TRUE(log.capture.contains("rax=000000001234abcd"));
  EXPECT_TRUE(log.capture.contains("rip=0000000000100000"));
}

TEST_F(ExitDispatch, EveryUndefinedOrUnhandledReasonStopsWithoutTouchingTheHost) {
  // Reasons the table has no handler for, including numbers past the table.
  for (u32 reason : {0u, 5u, 8u, 9u, 14u, 16u, 29u, 35u, 37u, 40u, 46u, 57u, 79u, 80u, 0xFFFFu}) {
    vcpu.stop = {};
    EXPECT_EQ(exit_with(reason), Exit_action::stop) << reason;
    EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unhandled_exit) << reason;
    EXPECT_EQ(vcpu.stop.value, reason);
  }
  EXPECT_EQ(vcpu.stats.other, 2u) << "80 and 0xFFFF are beyond the table";
  EXPECT_EQ(vcpu.stats.total, 15u);
}

TEST_F(ExitDispatch, AdvancingRipAddsTheInstructionLength) {
  EXPECT_EQ(exit_with(r::CPUID, 0, 2), Exit_action::advance_rip);
  EXPECT_EQ(rip(), test::test_guest_entry + 2);
  EXPECT_EQ(exit_with(r::VMCALL, 0, 3), Exit_action::advance_rip);
  EXPECT_EQ(rip(), test::test_guest_entry + 5);
}

TEST_F(ExitDispatch, AdvancingRipEndsStiAndMovSsBlockingButKeepsNmiBlocking) {
  vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, interruptibility::BLOCKING_BY_STI | interruptibility::BLOCKING_BY_NMI);
  (void)exit_with(r::CPUID);
  EXPECT_EQ(field(vmcs::GUEST_INTERRUPTIBILITY_INFO), interruptibility::BLOCKING_BY_NMI);
  vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, interruptibility::BLOCKING_BY_MOV_SS);
  (void)exit_with(r::CPUID);
  EXPECT_EQ(field(vmcs::GUEST_INTERRUPTIBILITY_INFO), 0u);
}

TEST_F(ExitDispatch, ResumingLeavesRipAndBlockingAlone) {
  vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, interruptibility::BLOCKING_BY_STI);
  EXPECT_EQ(exit_with(r::EXTERNAL_INTERRUPT), Exit_action::resume);
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_EQ(field(vmcs::GUEST_INTERRUPTIBILITY_INFO), interruptibility::BLOCKING_BY_STI);
}

TEST_F(ExitDispatch, AnEventInterruptedByTheExitIsDeliveredAgain) {
  // A page fault with error code 2 was being delivered when an external interrupt arrived.
  const u32 pf = Interruption_info::make(exception_vector::PF, Interruption_type::hardware_exception, true).raw;
  EXPECT_EQ(exit_with(r::EXTERNAL_INTERRUPT, 0, 0, pf, 0x2), Exit_action::resume);
  ASSERT_TRUE(vcpu.pending_event.has_value());
  EXPECT_EQ(*vcpu.pending_event, hardware_exception(exception_vector::PF, 0x2));

  inject_pending_event(vcpu, vmcs);
  EXPECT_EQ(field(vmcs::VM_ENTRY_INTR_INFO_FIELD), pf);
  EXPECT_EQ(field(vmcs::VM_ENTRY_EXCEPTION_ERROR_CODE), 0x2u);
  EXPECT_FALSE(vcpu.pending_event.has_value());
}

TEST_F(ExitDispatch, AnInterruptedSoftwareInterruptKeepsItsInstructionLength) {
  const u32 int80 = Interruption_info::make(0x80, Interruption_type::software_interrupt, false).raw;
  (void)exit_with(r::EXTERNAL_INTERRUPT, 0, 2, int80);
  ASSERT_TRUE(vcpu.pending_event.has_value());
  EXPECT_EQ(*vcpu.pending_event, software_interrupt(0x80, 2));
  inject_pending_event(vcpu, vmcs);
  EXPECT_EQ(field(vmcs::VM_ENTRY_INTR_INFO_FIELD), int80);
  EXPECT_EQ(field(vmcs::VM_ENTRY_INSTRUCTION_LEN), 2u);
}

TEST_F(ExitDispatch, NoEventIsPendingWhenTheVectoringInfoIsInvalid) {
  const u32 stale = Interruption_info::make(exception_vector::GP, Interruption_type::hardware_exception, true).raw &
                    ~Interruption_info::VALID;
  (void)exit_with(r::EXTERNAL_INTERRUPT, 0, 0, stale, 0);
  EXPECT_FALSE(vcpu.pending_event.has_value());
}

TEST_F(ExitDispatch, InjectingAnExceptionWithAnErrorCodeWritesAllEntryFields) {
  vcpu.pending_event = hardware_exception(exception_vector::GP, 0x18);
  inject_pending_event(vcpu, vmcs);
  EXPECT_EQ(field(vmcs::VM_ENTRY_INTR_INFO_FIELD), 0x80000B0Du);
  EXPECT_EQ(field(vmcs::VM_ENTRY_EXCEPTION_ERROR_CODE), 0x18u);
  EXPECT_FALSE(vcpu.pending_event.has_value());
}

TEST_F(ExitDispatch, InjectingAnExceptionWithoutAnErrorCodeLeavesTheErrorCodeField) {
  vcpu.pending_event = hardware_exception(exception_vector::UD);
  inject_pending_event(vcpu, vmcs);
  EXPECT_EQ(field(vmcs::VM_ENTRY_INTR_INFO_FIELD), 0x80000306u);
  EXPECT_FALSE(vmcs.has(vmcs::VM_ENTRY_EXCEPTION_ERROR_CODE));
  EXPECT_FALSE(vcpu.pending_event.has_value());
}

TEST_F(ExitDispatch, NothingPendingWritesNothing) {
  const u64 writes = vmcs.writes;
  inject_pending_event(vcpu, vmcs);
  EXPECT_EQ(vmcs.writes, writes);
}

TEST_F(ExitDispatch, AnInjectedEventWakesAHaltedVcpu) {
  vcpu.halted = true;
  vcpu.pending_event = external_interrupt(0x20);
  inject_pending_event(vcpu, vmcs);
  EXPECT_FALSE(vcpu.halted);
  EXPECT_EQ(field(vmcs::VM_ENTRY_INTR_INFO_FIELD), 0x80000020u);
}

TEST_F(ExitDispatch, ExitStatisticsAreOneLineLargestFirst) {
  for (int i = 0; i < 5; ++i) (void)exit_with(r::IO_INSTRUCTION, test::io_qualification(0x80, 1, false), 2);
  for (int i = 0; i < 3; ++i) (void)exit_with(r::CPUID);
  (void)exit_with(r::EXTERNAL_INTERRUPT);
  log.capture.lines.clear();
  log_exit_stats(vcpu);
  ASSERT_EQ(log.capture.lines.size(), 1u);
  const std::string& line = log.capture.lines[0];
  EXPECT_NE(line.find("vm1: exits 9:"), std::string::npos) << line;
  const usize io = line.find(exit_reason_name(r::IO_INSTRUCTION));
  const usize cpuid = line.find("CPUID 3");
  const usize irq = line.find("external interrupt 1");
  ASSERT_NE(io, std::string::npos) << line;
  ASSERT_NE(cpuid, std::string::npos) << line;
  ASSERT_NE(irq, std::string::npos) << line;
  EXPECT_LT(io, cpuid);
  EXPECT_LT(cpuid, irq);
}

TEST_F(ExitDispatch, StopKindsHaveNames) {
  EXPECT_STREQ(vcpu_stop_kind_name(Vcpu_stop_kind::none), "running");
  EXPECT_STREQ(vcpu_stop_kind_name(Vcpu_stop_kind::exit_status), "exit");
  EXPECT_STREQ(vcpu_stop_kind_name(Vcpu_stop_kind::triple_fault), "triple-fault");
  EXPECT_STREQ(vcpu_stop_kind_name(Vcpu_stop_kind::unhandled_exit), "unhandled-exit");
}

} // namespace
} // namespace hv
