// tests/unit/format_test.cpp - the formatter and log line layout.
#include "lib/format.hpp"
#include "lib/log.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

template <typename... A>
std::string fmt(std::string_view f, const A&... a) {
  Fixed_text<256> out;
  format_to(out, f, a...);
  return std::string(out.view());
}

TEST(Format, IntegersInAllBases) {
  EXPECT_EQ(fmt("{} {} {}", 0, 42u, -17), "0 42 -17");
  EXPECT_EQ(fmt("{:x} {:X} {:#x}", 255u, 255u, 255u), "ff FF 0xff");
  EXPECT_EQ(fmt("{:b} {:#b}", 5u, 5u), "101 0b101");
  EXPECT_EQ(fmt("{}", INT64_MIN), "-9223372036854775808");
  EXPECT_EQ(fmt("{}", UINT64_MAX), "18446744073709551615");
  EXPECT_EQ(fmt("{:x} {:#x}", -1, -255), "-1 -0xff");  // sign and magnitude, as std::format
}

TEST(Format, WidthAlignmentAndZeroPadding) {
  EXPECT_EQ(fmt("[{:5}]", 42), "[   42]");
  EXPECT_EQ(fmt("[{:<5}]", 42), "[42   ]");
  EXPECT_EQ(fmt("[{:016x}]", 0xabcu), "[0000000000000abc]");
  EXPECT_EQ(fmt("[{:#010x}]", 0xabcu), "[0x00000abc]");
  EXPECT_EQ(fmt("[{:<6}]", "ab"), "[ab    ]");
  EXPECT_EQ(fmt("[{:6}]", "ab"), "[    ab]");
}

TEST(Format, StringsBoolsCharsAndAddresses) {
  EXPECT_EQ(fmt("{} {} {}", "text", std::string_view("view"), true), "text view yes");
  EXPECT_EQ(fmt("{} {:d}", false, true), "no 1");
  EXPECT_EQ(fmt("{}", 'z'), "z");
  EXPECT_EQ(fmt("{} {}", Hpa(0x1000), Gfn(0x42)), "0x1000 0x42");
  EXPECT_EQ(fmt("{:016x}", Gpa(0xfee00000)), "00000000fee00000");
  EXPECT_EQ(fmt("{}", static_cast<const char*>(nullptr)), "(null)");
}

TEST(Format, BracesAndMistakesAreVisibleNotFatal) {
  EXPECT_EQ(fmt("{{}} {}", 1), "{} 1");
  EXPECT_EQ(fmt("{} {}", 1), "1 {missing}");
  EXPECT_EQ(fmt("{:q}", 1), "{?}");
  EXPECT_EQ(fmt("{name}", 1), "{?}");
  EXPECT_EQ(fmt("unclosed {", 1), "unclosed {?");
  EXPECT_EQ(fmt("extra", 1, 2), "extra");
}

TEST(Format, FixedTextCutsAtCapacityAndSaysSo) {
  Fixed_text<8> out;
  format_to(out, "{}", "0123456789");
  EXPECT_EQ(out.view(), "01234567");
  EXPECT_TRUE(out.truncated());
}

class Capture_sink final : public Log_sink {
public:
  void write_line(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

class LogTest : public ::testing::Test {
protected:
  void SetUp() override {
    log_set_sink(&sink);
    log_set_level(Log_level::info);
  }
  void TearDown() override { log_set_sink(nullptr); log_set_level(Log_level::info); }
  Capture_sink sink;
};

TEST_F(LogTest, LinesCarryLevelAndSubsystem) {
  log_info("boot", "hello {}", 7);
  log_error("mm", "out of frames");
  log_warn("vmx", "careful");
  ASSERT_EQ(sink.lines.size(), 3u);
  EXPECT_EQ(sink.lines[0], "[I boot] hello 7");
  EXPECT_EQ(sink.lines[1], "[E mm] out of frames");
  EXPECT_EQ(sink.lines[2], "[W vmx] careful");
}

TEST_F(LogTest, LevelFiltersLessImportantLines) {
  log_debug("mm", "hidden");
  log_set_level(Log_level::debug);
  log_debug("mm", "shown");
  log_set_level(Log_level::error);
  log_info("mm", "hidden too");
  log_error("mm", "kept");
  ASSERT_EQ(sink.lines.size(), 2u);
  EXPECT_EQ(sink.lines[0], "[D mm] shown");
  EXPECT_EQ(sink.lines[1], "[E mm] kept");
}

TEST_F(LogTest, OverlongLineIsCutWithEllipsisWithinCapacity) {
  std::string big(1000, 'x');
  log_info("core", "{}", std::string_view(big));
  ASSERT_EQ(sink.lines.size(), 1u);
  EXPECT_EQ(sink.lines[0].size(), log_line_capacity);
  EXPECT_EQ(sink.lines[0].substr(sink.lines[0].size() - 3), "...");
  EXPECT_EQ(sink.lines[0].substr(0, 10), "[I core] x");
}

TEST(LogLevel, ParsesAllNamesAndRejectsOthers) {
  Log_level l{};
  for (auto want : {Log_level::error, Log_level::warn, Log_level::info, Log_level::debug, Log_level::trace}) {
    ASSERT_TRUE(log_parse_level(log_level_name(want), l));
    EXPECT_EQ(l, want);
  }
  EXPECT_FALSE(log_parse_level("verbose", l));
  EXPECT_FALSE(log_parse_level("", l));
}

} // namespace
} // namespace hv
