// tests/unit/apic_delivery_test.cpp - interrupts from the emulated local APIC into the guest
// (vmx/apic_delivery.cpp, and HLT / interrupt-window exits through dispatch_exit): the timer's
// vector injected as an external interrupt when the guest can take it, interrupt-window exiting
// when it cannot (IF = 0, STI blocking, an exception queued), a halted vCPU woken by the
// injection, the slice capped at the timer's expiry, and nothing at all without an APIC.
#include "devices/local_apic.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include "vmx/apic_delivery.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

constexpr u64 window = proc_based_ctl::INTERRUPT_WINDOW_EXITING;

class ApicDelivery : public test::Vcpu_test {
protected:
  ApicDelivery() {
    vcpu.apic = &apic;
    // Software-enable the APIC (SVR bit 8, spurious vector 0xFF) and arm a one-shot timer of
    // 1000 counts at divide-by-1 on vector 0x40 at TSC 0.
    (void)apic.mmio_write(lapic::REG_SVR, 4, 0x1FF, 0);
    (void)apic.mmio_write(0x3E0, 4, 0xB, 0);        // divide by 1
    (void)apic.mmio_write(0x320, 4, 0x40, 0);       // LVT timer: one-shot, vector 0x40, unmasked
    (void)apic.mmio_write(0x380, 4, 1000, 0);       // initial count
    set_rflags(0x202);                              // IF = 1
  }
  [[nodiscard]] u32 entry_info() { return static_cast<u32>(field(vmcs::VM_ENTRY_INTR_INFO_FIELD)); }
  [[nodiscard]] bool window_on() { return field(vmcs::CPU_BASED_VM_EXEC_CONTROL) & window; }
  Local_apic apic;
};

TEST_F(ApicDelivery, TheTimersVectorIsInjectedWhenItFiresNotBefore) {
  apic_before_entry(vcpu, vmcs, 999);
  EXPECT_EQ(entry_info() & (1u << 31), 0u);  // not due yet
  EXPECT_FALSE(window_on());
  apic_before_entry(vcpu, vmcs, 1000);
  EXPECT_EQ(entry_info(), 0x80000040u);      // valid, external interrupt, vector 0x40
  EXPECT_TRUE(apic.isr_bit(0x40));           // in service until the guest's EOI
  EXPECT_FALSE(apic.irr_bit(0x40));
  EXPECT_EQ(vcpu.apic_interrupts, 1u);
}

TEST_F(ApicDelivery, WithInterruptsOffTheWindowIsRequestedAndTheExitInjectsNothingItself) {
  set_rflags(0x2);
  apic_before_entry(vcpu, vmcs, 2000);
  EXPECT_EQ(entry_info() & (1u << 31), 0u);
  EXPECT_TRUE(window_on());
  EXPECT_TRUE(apic.irr_bit(0x40));           // still waiting
  // The guest sets IF: the interrupt-window exit turns the window off, the next entry injects.
  set_rflags(0x202);
  EXPECT_EQ(exit_with(exit_reason::INTERRUPT_WINDOW), Exit_action::resume);
  EXPECT_FALSE(window_on());
  apic_before_entry(vcpu, vmcs, 2001);
  EXPECT_EQ(entry_info(), 0x80000040u);
}

TEST_F(ApicDelivery, StiBlockingAndAQueuedExceptionWaitForTheWindowToo) {
  vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, 1);  // blocking by STI
  apic_before_entry(vcpu, vmcs, 2000);
  EXPECT_EQ(entry_info() & (1u << 31), 0u);
  EXPECT_TRUE(window_on());
  vmcs.write(vmcs::GUEST_INTERRUPTIBILITY_INFO, 0);
  vmcs.write(vmcs::VM_ENTRY_INTR_INFO_FIELD, 0x80000B0Du);  // #GP queued by hv
  apic_before_entry(vcpu, vmcs, 2001);
  EXPECT_EQ(entry_info(), 0x80000B0Du);      // the exception is not replaced
  EXPECT_TRUE(apic.irr_bit(0x40));
}

TEST_F(ApicDelivery, HltWithAnApicStaysRunnableInTheHltStateAndTheInterruptWakesIt) {
  vmcs.write(vmcs::GUEST_RIP, 0x1000);
  EXPECT_EQ(exit_with(exit_reason::HLT, 0, 1), Exit_action::advance_rip);
  EXPECT_EQ(field(vmcs::GUEST_ACTIVITY_STATE), activity_hlt);
  EXPECT_EQ(vcpu.yield, Vcpu_yield::none);   // not blocked: its own timer wakes it
  EXPECT_EQ(rip(), 0x1001u);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
  // The slice ends at the timer's expiry, not later.
  EXPECT_EQ(apic_slice_ticks(vcpu, 1'000'000, 400), 600u);
  EXPECT_EQ(apic_slice_ticks(vcpu, 100, 400), 100u);
  apic_before_entry(vcpu, vmcs, 1000);
  EXPECT_EQ(entry_info(), 0x80000040u);
  EXPECT_EQ(field(vmcs::GUEST_ACTIVITY_STATE), activity_active);
  EXPECT_FALSE(vcpu.halted);
}

TEST_F(ApicDelivery, HltWithInterruptsOffStillStopsTheVcpu) {
  set_rflags(0x2);
  EXPECT_EQ(exit_with(exit_reason::HLT, 0, 1), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::halted);
}

TEST_F(ApicDelivery, WithoutAnApicNothingChanges) {
  vcpu.apic = nullptr;
  apic_before_entry(vcpu, vmcs, 5000);
  EXPECT_EQ(entry_info() & (1u << 31), 0u);
  EXPECT_FALSE(window_on());
  EXPECT_EQ(apic_slice_ticks(vcpu, 777, 5000), 777u);
  EXPECT_EQ(exit_with(exit_reason::HLT, 0, 1), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.yield, Vcpu_yield::blocked);  // test guests: blocked as before
  EXPECT_EQ(field(vmcs::GUEST_ACTIVITY_STATE), activity_active);
}

TEST_F(ApicDelivery, APeriodicTimerKeepsTheSliceShortAndAMaskedOneInjectsNothing) {
  (void)apic.mmio_write(0x320, 4, 0x10040, 0);  // masked (mode change disarms)
  (void)apic.mmio_write(0x380, 4, 1000, 0);
  apic_before_entry(vcpu, vmcs, 5000);
  EXPECT_EQ(entry_info() & (1u << 31), 0u);
  EXPECT_FALSE(apic.irr_bit(0x40));
}

} // namespace
} // namespace hv
