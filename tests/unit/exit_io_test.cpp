// tests/unit/exit_io_test.cpp - IN/OUT exits through the VM's I/O bus: the guest UART, the
// debug-exit port, empty ports, register widths, and string I/O.
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

using test::io_qualification;
using ExitIo = test::Vcpu_test;
namespace r = exit_reason;

TEST_F(ExitIo, OutDxAlToTheUartPrintsAConsoleLine) {
  for (char c : std::string("hi\n")) {
    vcpu.regs.rax = 0xAAAAAAAAAAAAAA00ull | static_cast<u8>(c);  // only AL is sent
    vcpu.regs.rdx = 0x3F8;
    ASSERT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x3F8, 1, false), 1), Exit_action::advance_rip);
  }
  EXPECT_EQ(log.capture.lines, std::vector<std::string>{"[vm1] hi"});
  EXPECT_EQ(rip(), test::test_guest_entry + 3);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

TEST_F(ExitIo, InAlKeepsTheRestOfRax) {
  vcpu.regs.rax = 0x1122334455667788ull;
  ASSERT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x3FD, 1, true), 1), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0x1122334455667760ull) << "LSR = THRE | TEMT in AL";
}

TEST_F(ExitIo, InAxKeepsTheRestOfRax) {
  vcpu.regs.rax = 0x1122334455667788ull;
  ASSERT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x1234, 2, true), 2), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0x112233445566FFFFull) << "an empty port reads all ones";
}

TEST_F(ExitIo, InEaxZeroExtendsIntoRax) {
  vcpu.regs.rax = 0x1122334455667788ull;
  ASSERT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0xCFC, 4, true), 1), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0xFFFFFFFFull);
}

TEST_F(ExitIo, OtherRegistersAreUntouched) {
  vcpu.regs.rbx = 1;
  vcpu.regs.rcx = 2;
  vcpu.regs.rdx = 0x3FD;
  (void)exit_with(r::IO_INSTRUCTION, io_qualification(0x3FD, 1, true), 1);
  EXPECT_EQ(vcpu.regs.rbx, 1u);
  EXPECT_EQ(vcpu.regs.rcx, 2u);
  EXPECT_EQ(vcpu.regs.rdx, 0x3FDu);
}

TEST_F(ExitIo, EmptyPortsAreCountedAndTheGuestGoesOn) {
  vcpu.regs.rax = 0x55;
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x80, 1, false, false, false, true), 2),
            Exit_action::advance_rip);
  EXPECT_EQ(bus.unclaimed_writes(), 1u);
  EXPECT_EQ(bus.last_unclaimed_port(), 0x80);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

TEST_F(ExitIo, OutToTheDebugExitPortStopsTheVmWithTheStatusPastTheOut) {
  vcpu.regs.rax = 0xFFFFFF00 | 0x2A;
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0xF4, 1, false, false, false, true), 2), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::exit_status);
  EXPECT_EQ(vcpu.stop.value, 0x2Au) << "OUT imm8, AL sends AL only";
  EXPECT_EQ(rip(), test::test_guest_entry + 2) << "a dump or a restart sees the instruction after the OUT";
  EXPECT_FALSE(log.capture.contains("stopped")) << "a requested exit is not an error";
}

TEST_F(ExitIo, ThirtyTwoBitOutToTheDebugExitPortCarriesTheWholeStatus) {
  vcpu.regs.rax = 0xFFFFFFFF00000102ull;
  vcpu.regs.rdx = 0xF4;
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0xF4, 4, false), 1), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.value, 0x102u);
}

TEST_F(ExitIo, StringIoStopsAsUnsupportedWithoutMovingRip) {
  const u64 q = io_qualification(0x3F8, 1, false, true, true);  // REP OUTSB
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, q, 2), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
  EXPECT_EQ(vcpu.stop.value, q);
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_EQ(uart.bytes_written(), 0u);
  EXPECT_TRUE(log.capture.contains("unsupported"));
}

TEST_F(ExitIo, InsbStopsAsUnsupportedToo) {
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x3F8, 1, true, true), 1), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
}

TEST_F(ExitIo, AnUndefinedSizeEncodingStopsTheVmInsteadOfGuessing) {
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, (0x3F8ull << 16) | 2, 1), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
}

TEST_F(ExitIo, InAlFromAnEmptyPortReadsAllOnesAndKeepsTheRestOfRax) {
  vcpu.regs.rax = 0x1122334455667788ull;
  ASSERT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x61, 1, true, false, false, true), 2),
            Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 0x11223344556677FFull);
  EXPECT_EQ(bus.unclaimed_reads(), 1u);
  EXPECT_EQ(bus.last_unclaimed_port(), 0x61);
  EXPECT_EQ(rip(), test::test_guest_entry + 2);
}

TEST_F(ExitIo, AByteFromEveryUartRegisterReachesTheUart) {
  // Offsets 0..7 of 0x3F8, byte reads (the one-byte path): the UART's own answers.
  uart.push_input('x');
  const u8 expected[8] = {'x', 0x00, 0x01, 0x00, 0x00, 0x60, 0xB0, 0x00};
  for (u16 offset = 0; offset < 8; ++offset) {
    vcpu.regs.rax = 0xAB00;
    ASSERT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(static_cast<u16>(0x3F8 + offset), 1, true), 1),
              Exit_action::advance_rip);
    EXPECT_EQ(vcpu.regs.rax, 0xAB00u | expected[offset]) << "offset " << offset;
  }
  EXPECT_EQ(bus.unclaimed_reads(), 0u);
}

TEST_F(ExitIo, WithoutAnIoBusTheVmStopsWhateverTheSize) {
  vcpu.io = nullptr;
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x3FD, 1, true), 1), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
  vcpu.stop = {};
  EXPECT_EQ(exit_with(r::IO_INSTRUCTION, io_qualification(0x3F8, 2, false), 1), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
  EXPECT_EQ(rip(), test::test_guest_entry);
}

} // namespace
} // namespace hv
