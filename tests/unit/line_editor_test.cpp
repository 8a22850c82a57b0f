// tests/unit/line_editor_test.cpp - the monitor's line editor: keys, echo, line ends, over-long
// lines, escape sequences, and random byte streams.
#include "core/line_editor.hpp"
#include <gtest/gtest.h>
#include <random>
#include <string>
#include <vector>

namespace hv {
namespace {

// Feeds `bytes`; collects finished lines (as "line:TEXT", "cancelled", "too_long") and the echo.
struct Session {
  Line_editor editor;
  std::vector<std::string> events;
  std::string echo;

  void feed(std::string_view bytes) {
    for (char c : bytes) {
      const Line_step step = editor.feed(static_cast<u8>(c));
      echo += step.echo;
      switch (step.event) {
      case Line_event::none: break;
      case Line_event::line: events.push_back("line:" + std::string(editor.line())); break;
      case Line_event::cancelled: events.push_back("cancelled"); break;
      case Line_event::too_long: events.push_back("too_long"); break;
      }
    }
  }
};

std::vector<std::string> lines_of(std::string_view bytes) {
  Session s;
  s.feed(bytes);
  return s.events;
}

using V = std::vector<std::string>;

TEST(LineEditor, PrintableTextEndsWithCrLfOrCrLf) {
  EXPECT_EQ(lines_of("info vms\r"), V{"line:info vms"});
  EXPECT_EQ(lines_of("info vms\n"), V{"line:info vms"});
  EXPECT_EQ(lines_of("info vms\r\n"), V{"line:info vms"});
  EXPECT_EQ(lines_of("a\r\nb\r\n"), (V{"line:a", "line:b"}));
  EXPECT_EQ(lines_of("a\n\rb\r"), (V{"line:a", "line:", "line:b"}));  // LF CR is two line ends
  EXPECT_EQ(lines_of("a\r\r"), (V{"line:a", "line:"}));
  EXPECT_EQ(lines_of("a\n\n"), (V{"line:a", "line:"}));
  EXPECT_EQ(lines_of("no end"), V{});
}

TEST(LineEditor, EchoShowsWhatWasTyped) {
  Session s;
  s.feed("ab\r\n");
  EXPECT_EQ(s.echo, "ab\r\n");
  s.echo.clear();
  s.feed("x\x7f\x08y\n");  // DEL erases x, BS on an empty line does nothing
  EXPECT_EQ(s.echo, "x\b \by\r\n");
  EXPECT_EQ(s.events.back(), "line:y");
}

TEST(LineEditor, BackspaceAndDelErase) {
  EXPECT_EQ(lines_of("infx\x08o vms\r"), V{"line:info vms"});
  EXPECT_EQ(lines_of("infx\x7fo vms\r"), V{"line:info vms"});
  EXPECT_EQ(lines_of("\x08\x08\x7f" "a\r"), V{"line:a"});
  EXPECT_EQ(lines_of("ab\x08\x08\x08\r"), V{"line:"});
}

TEST(LineEditor, CtrlCDiscardsTheLine) {
  Session s;
  s.feed("vm stop 1\x03");
  EXPECT_EQ(s.events, V{"cancelled"});
  EXPECT_EQ(s.echo, "vm stop 1^C\r\n");
  s.feed("help\r");
  EXPECT_EQ(s.events, (V{"cancelled", "line:help"}));
}

TEST(LineEditor, CtrlUClearsTheLineOnScreenToo) {
  Session s;
  s.feed("abc\x15");
  EXPECT_EQ(s.echo, "abc\b \b\b \b\b \b");
  EXPECT_TRUE(s.events.empty());
  s.feed("help\r");
  EXPECT_EQ(s.events, V{"line:help"});
}

TEST(LineEditor, NonPrintablesAreIgnoredTabIsASpace) {
  Session s;
  s.feed(std::string("i\x01n\x02" "fo\tvms\x80\xff\x00\r", 14));
  EXPECT_EQ(s.events, V{"line:info vms"});
  EXPECT_EQ(s.echo, "info vms\r\n");
}

TEST(LineEditor, EscapeSequencesAreSwallowed) {
  EXPECT_EQ(lines_of("in\x1b[Afo\x1b[1;5Cx\x1bOBy\r"), V{"line:infoxy"});
  EXPECT_EQ(lines_of("a\x1bqb\r"), V{"line:ab"});      // ESC + one character (Alt-q)
  EXPECT_EQ(lines_of("a\x1b\r"), V{"line:a"});         // a lone ESC does not eat Enter
  EXPECT_EQ(lines_of("a\x1b[12\rb\r"), (V{"line:a", "line:b"}));
}

TEST(LineEditor, ExactlyCapacityFits) {
  const std::string full(line_editor_capacity, 'a');
  EXPECT_EQ(lines_of(full + "\r"), V{"line:" + full});
}

TEST(LineEditor, OverLongLineIsRefusedNotCut) {
  Session s;
  const std::string full(line_editor_capacity, 'a');
  s.feed(full + "bcd");
  EXPECT_TRUE(s.editor.overflowed());
  EXPECT_EQ(s.echo, full + "\a");  // one bell, then silence
  s.feed("\x7f\r\n");              // erasing does not rescue it: it is refused whole
  EXPECT_EQ(s.events, V{"too_long"});
  EXPECT_FALSE(s.editor.overflowed());
  s.feed("help\r");
  EXPECT_EQ(s.events, (V{"too_long", "line:help"}));
}

TEST(LineEditor, CtrlUOrCtrlCStartAfreshAfterOverflow) {
  const std::string more(line_editor_capacity + 5, 'a');
  EXPECT_EQ(lines_of(more + "\x15" "help\r"), V{"line:help"});
  EXPECT_EQ(lines_of(more + "\x03" "help\r"), (V{"cancelled", "line:help"}));
}

TEST(LineEditor, LineStaysReadableUntilTheNextByte) {
  Line_editor e;
  for (char c : std::string("ab")) (void)e.feed(static_cast<u8>(c));
  EXPECT_EQ(e.line(), "ab");
  EXPECT_EQ(e.feed('\r').event, Line_event::line);
  EXPECT_EQ(e.line(), "ab");
  EXPECT_EQ(e.feed('\n').event, Line_event::none);  // the LF of CRLF
  (void)e.feed('c');
  EXPECT_EQ(e.line(), "c");
}

// Random bytes (weighted towards the interesting ones) never crash the editor (ASan/UBSan watch),
// never give a line longer than the capacity or with a non-printable character, and every echo
// is bounded.
TEST(LineEditor, RandomStreamsKeepTheLimits) {
  std::mt19937 rng(12345);
  const u8 special[] = {0x03, 0x08, 0x09, 0x0a, 0x0d, 0x15, 0x1b, 0x7f, '[', 'O', 'A', '1', ';', 0x00, 0xff};
  for (int round = 0; round < 200; ++round) {
    Line_editor e;
    usize lines = 0;
    for (int i = 0; i < 2000; ++i) {
      const u32 pick = rng() % 100;
      u8 byte;
      if (pick < 60) byte = static_cast<u8>(0x20 + rng() % 95);
      else if (pick < 90) byte = special[rng() % sizeof(special)];
      else byte = static_cast<u8>(rng());
      const Line_step step = e.feed(byte);
      ASSERT_LE(e.line().size(), line_editor_capacity);
      ASSERT_LE(step.echo.size(), 3 * line_editor_capacity);
      if (step.event == Line_event::line) {
        ++lines;
        for (char c : e.line()) ASSERT_TRUE(c >= 0x20 && c <= 0x7e);
        ASSERT_EQ(step.echo, "\r\n");
      }
    }
    EXPECT_GT(lines, 0u);
  }
}

} // namespace
} // namespace hv
