// tests/unit/acpi_sleep_test.cpp - a Linux VM's ACPI power-off and reset (devices/acpi_sleep.hpp)
// through OUT exits: S5 stops the VM as powered-off past the OUT, other sleep types do nothing,
// the reset register with its value stops it as reset, and neither is logged as an error.
#include "core/guest_acpi.hpp"
#include "devices/acpi_sleep.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

using test::io_qualification;
namespace r = exit_reason;

struct AcpiSleep : test::Vcpu_test {
  Acpi_sleep sleep{guest_acpi::s5_sleep_type, guest_acpi::reset_value};
  void SetUp() override { ASSERT_TRUE(bus.attach(guest_acpi::sleep_control_port, Acpi_sleep::port_count, sleep)); }
  Exit_action out_dx_al(u16 port, u8 al) {
    vcpu.regs.rdx = port;
    vcpu.regs.rax = 0xABCD0000 | al;
    return exit_with(r::IO_INSTRUCTION, io_qualification(port, 1, false), 1);
  }
};

TEST_F(AcpiSleep, SlpTypFiveWithSlpEnPowersTheVmOffPastTheOut) {
  EXPECT_EQ(out_dx_al(guest_acpi::sleep_control_port, (5 << 2) | (1 << 5)), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::powered_off);
  EXPECT_STREQ(vcpu_stop_kind_name(vcpu.stop.kind), "powered-off");
  EXPECT_EQ(rip(), test::test_guest_entry + 1);
  EXPECT_FALSE(log.capture.contains("stopped")) << "a power-off is not an error: no register dump";
}

TEST_F(AcpiSleep, SlpTypWithoutSlpEnOrAnotherSleepStateChangesNothing) {
  EXPECT_EQ(out_dx_al(guest_acpi::sleep_control_port, 5 << 2), Exit_action::advance_rip);
  EXPECT_EQ(out_dx_al(guest_acpi::sleep_control_port, (3 << 2) | (1 << 5)), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
  EXPECT_EQ(sleep.other_sleep_requests, 1u);
  u32 status = 1;
  (void)bus.read(guest_acpi::sleep_status_port, 1, status);
  EXPECT_EQ(status, 0u) << "never woken: WAK_STS clear";
}

TEST_F(AcpiSleep, TheResetValueAtTheResetRegisterStopsTheVmAsReset) {
  EXPECT_EQ(out_dx_al(guest_acpi::reset_port, 0x06), Exit_action::advance_rip) << "another value does nothing";
  EXPECT_EQ(out_dx_al(guest_acpi::reset_port, guest_acpi::reset_value), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::reset);
}

} // namespace
} // namespace hv
