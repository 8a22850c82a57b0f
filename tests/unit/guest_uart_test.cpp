// tests/unit/guest_uart_test.cpp - the 16550 a guest sees at 0x3F8: console lines on the host,
// the registers a polling driver uses, input, and the "ok"/"not ok" check counting.
#include "core/uart_16550.hpp"
#include "devices/guest_uart.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

constexpr u16 THR = 0x3F8, RBR = 0x3F8, DLL = 0x3F8, IER = 0x3F9, DLM = 0x3F9, IIR = 0x3FA, FCR = 0x3FA,
              LCR = 0x3FB, MCR = 0x3FC, LSR = 0x3FD, MSR = 0x3FE, SCR = 0x3FF;
constexpr u8 LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40;

class GuestUart : public ::testing::Test {
protected:
  GuestUart() {
    uart.set_name("vm1");
    EXPECT_TRUE(bus.attach(guest_uart_base, 8, uart));
  }
  void out(u16 port, u8 value) { (void)bus.write(port, 1, value); }
  u8 in(u16 port) {
    u32 v = 0;
    (void)bus.read(port, 1, v);
    return static_cast<u8>(v);
  }
  void print(std::string_view text) {
    for (char c : text) out(THR, static_cast<u8>(c));
  }
  const std::vector<std::string>& lines() const { return log.capture.lines; }

  test::Scoped_log_capture log;
  Io_bus bus;
  Guest_uart uart;
};

TEST_F(GuestUart, HelloBecomesExactlyOneConsoleLineWithTheVmName) {
  print("hello\n");
  EXPECT_EQ(lines(), std::vector<std::string>{"[vm1] hello"});
  EXPECT_EQ(uart.lines_written(), 1u);
  EXPECT_EQ(uart.bytes_written(), 6u);
}

TEST_F(GuestUart, NothingIsWrittenBeforeTheNewlineAndFlushWritesTheRest) {
  print("first\nsecond ");
  print("half");
  EXPECT_EQ(lines(), std::vector<std::string>{"[vm1] first"});
  uart.flush();
  EXPECT_EQ(lines(), (std::vector<std::string>{"[vm1] first", "[vm1] second half"}));
  uart.flush();  // nothing left: no empty line
  EXPECT_EQ(lines().size(), 2u);
}

TEST_F(GuestUart, CarriageReturnsAreDroppedAndNonPrintablesReplaced) {
  print("one\r\n");
  print("a\x01" "b\x7f" "c\td\xff\n");
  EXPECT_EQ(lines(), (std::vector<std::string>{"[vm1] one", "[vm1] a?b?c\td?"}));
}

TEST_F(GuestUart, EmptyLinesStayEmptyLines) {
  print("\n\n");
  EXPECT_EQ(lines(), (std::vector<std::string>{"[vm1] ", "[vm1] "}));
}

TEST_F(GuestUart, ALineLongerThanTheBufferIsSplitWithoutLosingBytes) {
  const std::string long_line(Guest_uart::line_capacity + 10, 'x');
  print(long_line + "\n");
  ASSERT_EQ(lines().size(), 2u);
  EXPECT_EQ(lines()[0], "[vm1] " + std::string(Guest_uart::line_capacity, 'x'));
  EXPECT_EQ(lines()[1], "[vm1] " + std::string(10, 'x'));
}

TEST_F(GuestUart, ALineOfExactlyTheBufferSizeIsOneLine) {
  const std::string line(Guest_uart::line_capacity, 'y');
  print(line + "\n");
  print("next\n");
  EXPECT_EQ(lines(), (std::vector<std::string>{"[vm1] " + line, "[vm1] next"}));
}

TEST_F(GuestUart, TheLongestVmNameAndAFullLineFitTheConsoleLine) {
  const std::string name(31, 'n');  // vm_name_max
  uart.set_name(name);
  const std::string line(Guest_uart::line_capacity, 'z');
  print(line + "\n");
  EXPECT_EQ(lines(), std::vector<std::string>{"[" + name + "] " + line});
}

TEST_F(GuestUart, LineStatusSaysTheTransmitterIsAlwaysEmpty) {
  EXPECT_EQ(in(LSR), LSR_THRE | LSR_TEMT);
  print("busy busy busy");
  EXPECT_EQ(in(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
  EXPECT_EQ(in(LSR) & LSR_DR, 0);
}

TEST_F(GuestUart, DivisorLatchIsBankedBehindDlab) {
  out(IER, 0x05);
  out(LCR, 0x83);  // DLAB, 8N1
  out(DLL, 0x01);
  out(DLM, 0x02);
  EXPECT_EQ(in(DLL), 0x01);
  EXPECT_EQ(in(DLM), 0x02);
  EXPECT_EQ(in(LCR), 0x83);
  EXPECT_EQ(uart.bytes_written(), 0u) << "a divisor write is not output";
  out(LCR, 0x03);
  EXPECT_EQ(in(IER), 0x05) << "IER kept while DLAB was set";
  out(IER, 0xFF);
  EXPECT_EQ(in(IER), 0x0F) << "IER has four bits";
  print("x\n");
  EXPECT_EQ(lines(), std::vector<std::string>{"[vm1] x"});
  out(LCR, 0x83);
  EXPECT_EQ(in(DLL), 0x01) << "the divisor survived the output";
}

TEST_F(GuestUart, ScratchModemAndFifoRegisters) {
  out(SCR, 0x55);
  EXPECT_EQ(in(SCR), 0x55);
  out(SCR, 0xAA);
  EXPECT_EQ(in(SCR), 0xAA);
  out(MCR, 0xFF);
  EXPECT_EQ(in(MCR), 0x1F);
  EXPECT_EQ(in(MSR) & 0xB0, 0xB0) << "DCD, DSR and CTS: something is connected";
  EXPECT_EQ(in(IIR) & 0x0F, 0x01) << "no interrupt pending";
  out(FCR, 0x07);
  EXPECT_EQ(in(IIR) & 0xC0, 0xC0) << "FIFOs enabled";
  EXPECT_EQ(uart.bytes_written(), 0u);
}

TEST_F(GuestUart, InputIsQueuedInOrderAndShownByDataReady) {
  EXPECT_EQ(in(LSR) & LSR_DR, 0);
  ASSERT_TRUE(uart.push_input('o'));
  ASSERT_TRUE(uart.push_input('k'));
  EXPECT_EQ(in(LSR) & LSR_DR, LSR_DR);
  EXPECT_EQ(in(RBR), 'o');
  EXPECT_EQ(in(LSR) & LSR_DR, LSR_DR);
  EXPECT_EQ(in(RBR), 'k');
  EXPECT_EQ(in(LSR) & LSR_DR, 0);
  EXPECT_EQ(in(LSR) & LSR_THRE, LSR_THRE);
}

TEST_F(GuestUart, TheInputQueueIsBoundedAndWrapsAround) {
  for (usize i = 0; i < Guest_uart::input_capacity; ++i) ASSERT_TRUE(uart.push_input(static_cast<u8>(i)));
  EXPECT_FALSE(uart.push_input(0xEE));
  for (usize i = 0; i < 10; ++i) EXPECT_EQ(in(RBR), static_cast<u8>(i));
  for (usize i = 0; i < 10; ++i) ASSERT_TRUE(uart.push_input(static_cast<u8>(100 + i)));
  EXPECT_FALSE(uart.push_input(0xEE));
  for (usize i = 10; i < Guest_uart::input_capacity; ++i) ASSERT_EQ(in(RBR), static_cast<u8>(i));
  for (usize i = 0; i < 10; ++i) EXPECT_EQ(in(RBR), static_cast<u8>(100 + i));
  EXPECT_EQ(in(LSR) & LSR_DR, 0);
}

TEST_F(GuestUart, ChecksAreCountedFromWholeLines) {
  print("ok cpuid-signature\n");
  print("not ok vmx-hidden: CPUID.1:ECX.VMX is set\n");
  print("ok hypercall-version\n");
  print("okay, done\n");           // not a check
  print("  ok indented\n");         // not a check
  print("the result is not ok x\n");  // not a check
  EXPECT_EQ(uart.checks_passed(), 2u);
  EXPECT_EQ(uart.checks_failed(), 1u);
  print("ok flushed");
  EXPECT_EQ(uart.checks_passed(), 2u);
  uart.flush();
  EXPECT_EQ(uart.checks_passed(), 3u);
}

// The hypervisor's own 16550 driver, pointed at the emulated UART through the VM's I/O bus,
// works as it does on a real one: a guest with an ordinary polling driver is served.
class Bus_port_io final : public Port_io {
public:
  explicit Bus_port_io(Io_bus& bus) : bus_(bus) {}
  u8 in8(u16 port) override { return static_cast<u8>(read(port, 1)); }
  void out8(u16 port, u8 value) override { (void)bus_.write(port, 1, value); }
  u16 in16(u16 port) override { return static_cast<u16>(read(port, 2)); }
  void out16(u16 port, u16 value) override { (void)bus_.write(port, 2, value); }
  u32 in32(u16 port) override { return read(port, 4); }
  void out32(u16 port, u32 value) override { (void)bus_.write(port, 4, value); }

private:
  u32 read(u16 port, u8 size) {
    u32 v = 0;
    (void)bus_.read(port, size, v);
    return v;
  }
  Io_bus& bus_;
};

TEST_F(GuestUart, APollingDriverFindsItAndPrintsThroughIt) {
  Bus_port_io ports(bus);
  Uart_16550 driver(ports, guest_uart_base);
  EXPECT_TRUE(driver.probe());
  EXPECT_TRUE(driver.init(115200));
  driver.write("ok driver\n");  // sent as "ok driver\r\n"
  EXPECT_EQ(driver.dropped(), 0u);
  EXPECT_EQ(lines(), std::vector<std::string>{"[vm1] ok driver"});
  EXPECT_EQ(uart.checks_passed(), 1u);
  EXPECT_FALSE(driver.try_read().has_value());
  ASSERT_TRUE(uart.push_input('q'));
  EXPECT_EQ(driver.try_read(), std::optional<u8>('q'));

  // Without the device the same driver finds nothing there.
  Io_bus empty;
  Bus_port_io empty_ports(empty);
  Uart_16550 absent(empty_ports, guest_uart_base);
  EXPECT_FALSE(absent.probe());
}

} // namespace
} // namespace hv
