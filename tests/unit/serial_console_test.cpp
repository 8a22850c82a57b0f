// tests/unit/serial_console_test.cpp - the host console on COM1: whole lines, and log lines that
// arrive while the monitor's prompt and typed text are open.
#include "arch/x86/fake/fake_cpu.hpp"
#include "core/console.hpp"
#include <gtest/gtest.h>
#include <string>

namespace hv {
namespace {

constexpr u16 com1 = 0x3F8;

struct SerialConsole : ::testing::Test {
  SerialConsole() { io.default_reads[com1 + Uart_16550::LSR] = Uart_16550::LSR_THR_EMPTY; }
  // What a terminal received, with the CRs the UART adds before each LF taken out.
  std::string sent() const {
    std::string out;
    for (const auto& w : io.writes)
      if (w.port == com1 + Uart_16550::THR && w.width == 1 && w.value != '\r') out.push_back(static_cast<char>(w.value));
    return out;
  }
  Fake_port_io io;
  Uart_16550 uart{io, com1};
  Serial_console console{uart};
};

TEST_F(SerialConsole, LinesGoOutWholeWithANewline) {
  console.write_line("[I vm] a: started");
  console.write_line("[a] hello");
  EXPECT_EQ(sent(), "[I vm] a: started\n[a] hello\n");
}

TEST_F(SerialConsole, ALineDuringAnOpenPromptStartsInColumnZeroAndThePromptIsDrawnAgain) {
  console.write_raw("hv> ");
  console.write_raw("inf");
  console.write_line("[ticker] tick 5/100");
  EXPECT_EQ(sent(), "hv> inf\n[ticker] tick 5/100\nhv> inf");
  EXPECT_EQ(console.open_line(), "hv> inf") << "typing goes on where it was";
}

TEST_F(SerialConsole, ErasedCharactersAreNotDrawnAgain) {
  console.write_raw("hv> infx");
  console.write_raw("\b \b");  // the line editor's echo of a backspace
  console.write_line("[I mm] x");
  EXPECT_EQ(console.open_line(), "hv> inf");
  EXPECT_TRUE(sent().ends_with("\n[I mm] x\nhv> inf")) << sent();
}

TEST_F(SerialConsole, TheBellIsNotRungAgainByTheRedraw) {
  console.write_raw("hv> ab\a");
  console.write_line("x");
  EXPECT_EQ(console.open_line(), "hv> ab");
  EXPECT_EQ(sent(), "hv> ab\a\nx\nhv> ab");
}

TEST_F(SerialConsole, AnEnteredLineClosesThePromptSoLaterLinesAreNotFollowedByIt) {
  console.write_raw("hv> info vms");
  console.write_raw("\r\n");  // the echo of Enter
  console.write_line("  ID NAME");
  EXPECT_EQ(console.open_line(), "");
  EXPECT_EQ(sent(), "hv> info vms\n  ID NAME\n");
}

TEST_F(SerialConsole, AnOverlongOpenLineIsRedrawnCutNotOverflowed) {
  const std::string text(Serial_console::open_line_capacity + 50, 'x');
  console.write_raw(text);
  EXPECT_EQ(console.open_line().size(), Serial_console::open_line_capacity);
  console.write_line("log");
  EXPECT_TRUE(sent().ends_with("\nlog\n" + std::string(Serial_console::open_line_capacity, 'x')));
}

} // namespace
} // namespace hv
