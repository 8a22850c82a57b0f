// tests/unit/uart_16550_test.cpp - the host's 16550 driver against a fake I/O port space.
#include "arch/x86/fake/fake_cpu.hpp"
#include "core/uart_16550.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

using W = Fake_port_io::Write;
constexpr u16 com1 = 0x3F8;

// The bytes written to THR, in order.
std::string transmitted(const Fake_port_io& io, u16 base) {
  std::string out;
  for (const auto& w : io.writes)
    if (w.port == base + Uart_16550::THR && w.width == 1) out.push_back(static_cast<char>(w.value));
  return out;
}

TEST(Uart16550, InitProgramsDivisor8N1AndFifosInOrder) {
  Fake_port_io io;
  Uart_16550 uart(io, com1);
  ASSERT_TRUE(uart.init(115200));
  const std::vector<W> want = {
      {com1 + 1, 0x00, 1},  // IER: no interrupts
      {com1 + 3, 0x80, 1},  // LCR: DLAB
      {com1 + 0, 0x01, 1},  // DLL: 115200 / 115200
      {com1 + 1, 0x00, 1},  // DLM
      {com1 + 3, 0x03, 1},  // LCR: 8N1, DLAB off
      {com1 + 2, 0xC7, 1},  // FCR: FIFOs on and cleared, 14-byte trigger
      {com1 + 4, 0x03, 1},  // MCR: DTR | RTS
  };
  EXPECT_EQ(io.writes, want);
}

TEST(Uart16550, InitDividesOtherBaudRatesAndUsesBothDivisorBytes) {
  Fake_port_io io;
  Uart_16550 uart(io, 0x2F8);
  ASSERT_TRUE(uart.init(9600));
  ASSERT_GE(io.writes.size(), 4u);
  EXPECT_EQ(io.writes[2], (W{0x2F8, 12, 1}));
  EXPECT_EQ(io.writes[3], (W{0x2F9, 0, 1}));
  io.writes.clear();
  ASSERT_TRUE(uart.init(50));  // divisor 2304 = 0x0900
  EXPECT_EQ(io.writes[2], (W{0x2F8, 0x00, 1}));
  EXPECT_EQ(io.writes[3], (W{0x2F9, 0x09, 1}));
}

TEST(Uart16550, InitRefusesBaudRatesItCannotDivideAndTouchesNothing) {
  Fake_port_io io;
  Uart_16550 uart(io, com1);
  EXPECT_FALSE(uart.init(0));
  EXPECT_FALSE(uart.init(7));
  EXPECT_FALSE(uart.init(230400));
  EXPECT_TRUE(io.writes.empty());
}

TEST(Uart16550, WriteTranslatesNewlinesToCrLf) {
  Fake_port_io io;
  io.default_reads[com1 + Uart_16550::LSR] = Uart_16550::LSR_THR_EMPTY;
  Uart_16550 uart(io, com1);
  uart.write("a\nb\n\n");
  EXPECT_EQ(transmitted(io, com1), "a\r\nb\r\n\r\n");
  EXPECT_EQ(uart.dropped(), 0u);
}

TEST(Uart16550, PutWaitsUntilTheTransmitterIsEmpty) {
  Fake_port_io io;
  io.scripted_reads[com1 + Uart_16550::LSR] = {0x00, 0x00, 0x01, Uart_16550::LSR_THR_EMPTY};
  io.default_reads[com1 + Uart_16550::LSR] = 0x00;
  Uart_16550 uart(io, com1);
  uart.put('x');
  EXPECT_EQ(transmitted(io, com1), "x");
  EXPECT_EQ(io.reads, 4u);  // polled until THRE, not once more
  EXPECT_EQ(uart.dropped(), 0u);
}

TEST(Uart16550, AWedgedTransmitterDropsBytesAfterABoundedWait) {
  Fake_port_io io;
  io.default_reads[com1 + Uart_16550::LSR] = 0x00;  // THR never empties
  Uart_16550 uart(io, com1);
  uart.write("hi\n");
  EXPECT_TRUE(transmitted(io, com1).empty());
  EXPECT_EQ(uart.dropped(), 4u);  // h, i, \r, \n
  EXPECT_EQ(io.reads, 4u * Uart_16550::transmit_spin_limit);
  // It recovers as soon as the transmitter does.
  io.default_reads[com1 + Uart_16550::LSR] = Uart_16550::LSR_THR_EMPTY;
  uart.write("ok");
  EXPECT_EQ(transmitted(io, com1), "ok");
  EXPECT_EQ(uart.dropped(), 4u);
}

TEST(Uart16550, AnAbsentUartReadsAllOnesAndSwallowsOutputQuickly) {
  Fake_port_io io;  // nothing decodes the ports: reads float to 0xFF
  Uart_16550 uart(io, com1);
  uart.write("abc");
  EXPECT_EQ(transmitted(io, com1), "abc");
  EXPECT_EQ(io.reads, 3u);
}

TEST(Uart16550, TryReadReturnsReceivedBytesOnlyWhenDataIsReady) {
  Fake_port_io io;
  io.scripted_reads[com1 + Uart_16550::LSR] = {0x60, Uart_16550::LSR_DATA_READY | 0x60, Uart_16550::LSR_DATA_READY};
  io.scripted_reads[com1 + Uart_16550::RBR] = {'q', 'z'};
  io.default_reads[com1 + Uart_16550::LSR] = 0x60;
  Uart_16550 uart(io, com1);
  EXPECT_EQ(uart.try_read(), std::nullopt);
  EXPECT_EQ(uart.try_read(), std::optional<u8>('q'));
  EXPECT_EQ(uart.try_read(), std::optional<u8>('z'));
  EXPECT_EQ(uart.try_read(), std::nullopt);
  EXPECT_TRUE(io.writes.empty());
}

TEST(Uart16550, ProbeNeedsTheScratchRegisterToKeepTwoPatterns) {
  {
    Fake_port_io io;
    io.scripted_reads[com1 + Uart_16550::SCR] = {0x5A, 0xA5};
    Uart_16550 uart(io, com1);
    EXPECT_TRUE(uart.probe());
    const std::vector<W> want = {{com1 + 7, 0x5A, 1}, {com1 + 7, 0xA5, 1}};
    EXPECT_EQ(io.writes, want);
  }
  {
    Fake_port_io io;  // absent: 0xFF
    Uart_16550 uart(io, com1);
    EXPECT_FALSE(uart.probe());
  }
  {
    Fake_port_io io;  // a register stuck at 0x5A passes the first pattern only
    io.default_reads[com1 + Uart_16550::SCR] = 0x5A;
    Uart_16550 uart(io, com1);
    EXPECT_FALSE(uart.probe());
  }
}

} // namespace
} // namespace hv
