// tests/unit/quoted_text_test.cpp - the shared quoting of user text in messages (lib/quoted_text):
// both escape styles, the cut and where its mark goes, the empty text, and the size bound.
#include "lib/quoted_text.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <random>
#include <string>

namespace hv {
namespace {

using Escapes = Quote_style::Escapes;
using Cut_mark = Quote_style::Cut_mark;

constexpr Quote_style c_style{8, Escapes::c_style, Cut_mark::inside, "nothing"};
constexpr Quote_style replacing{8, Escapes::replace, Cut_mark::outside, {}};

std::string quoted(std::string_view text, const Quote_style& style) {
  Fixed_text<256> out;
  write_quoted(out, text, style);
  EXPECT_FALSE(out.truncated());
  return std::string(out.view());
}

TEST(QuotedText, PlainTextIsWrittenBetweenDoubleQuotes) {
  EXPECT_EQ(quoted("64x", c_style), "\"64x\"");
  EXPECT_EQ(quoted("64x", replacing), "\"64x\"");
  EXPECT_EQ(quoted("a b~", c_style), "\"a b~\"");  // blanks and the printable ends stay
}

TEST(QuotedText, AnEmptyTextReadsAsTheStylesWordOrAsTwoQuotes) {
  EXPECT_EQ(quoted("", c_style), "nothing");
  EXPECT_EQ(quoted("", replacing), "\"\"");
}

TEST(QuotedText, CStyleEscapesQuotesBackslashesAndUnprintableBytes) {
  EXPECT_EQ(quoted("a\"b", c_style), "\"a\\\"b\"");
  EXPECT_EQ(quoted("\\", c_style), "\"\\\\\"");
  EXPECT_EQ(quoted(std::string_view("\x00\x1f", 2), c_style), "\"\\x00\\x1f\"");
  EXPECT_EQ(quoted("\x7f\xff", c_style), "\"\\x7f\\xff\"");  // DEL and a high byte, lower-case hex
  EXPECT_EQ(quoted("\xc3\xa9", c_style), "\"\\xc3\\xa9\"");  // UTF-8 shown byte by byte
}

TEST(QuotedText, ReplaceShowsUnprintableBytesAsQuestionMarksAndKeepsQuotes) {
  EXPECT_EQ(quoted("a\x01\x7f" "b", replacing), "\"a??b\"");
  EXPECT_EQ(quoted("\xff\t", replacing), "\"??\"");
  EXPECT_EQ(quoted("a\"b\\", replacing), "\"a\"b\\\"");  // nothing to escape in this style
}

TEST(QuotedText, ATextOfExactlyTheLimitIsNotCut) {
  EXPECT_EQ(quoted("12345678", c_style), "\"12345678\"");
  EXPECT_EQ(quoted("12345678", replacing), "\"12345678\"");
}

TEST(QuotedText, ALongerTextIsCutWithTheMarkInsideOrOutsideTheQuotes) {
  EXPECT_EQ(quoted("123456789", c_style), "\"12345678...\"");
  EXPECT_EQ(quoted("123456789", replacing), "\"12345678\"...");
  EXPECT_EQ(quoted(std::string(100, 'x'), c_style), "\"xxxxxxxx...\"");
}

TEST(QuotedText, EscapesCountTowardsTheLimitWhole) {
  // Seven bytes shown, then one escape of four: the limit is passed only after a whole escape.
  EXPECT_EQ(quoted("1234567\x01" "9", c_style), "\"1234567\\x01...\"");
  EXPECT_EQ(quoted("1234567\x01", c_style), "\"1234567\\x01\"");
  EXPECT_EQ(quoted("\"\"\"\"\"", c_style), "\"\\\"\\\"\\\"\\\"...\"");  // 4 escapes fill 8 bytes
}

TEST(QuotedText, ALimitOfZeroShowsOnlyTheMark) {
  constexpr Quote_style none{0, Escapes::c_style, Cut_mark::inside, {}};
  EXPECT_EQ(quoted("a", none), "\"...\"");
  EXPECT_EQ(quoted("", none), "\"\"");
}

TEST(QuotedText, TheSizeBoundHoldsForAnyText) {
  constexpr Quote_style styles[] = {c_style, replacing, {40, Escapes::c_style, Cut_mark::inside, "nothing"},
                                    {32, Escapes::replace, Cut_mark::outside, {}}};
  static_assert(quoted_text_max_size(c_style) == 2 + 7 + 4 + 3);
  static_assert(quoted_text_max_size(replacing) == 2 + 8 + 3);
  std::mt19937 rng(14);
  for (const Quote_style& style : styles) {
    usize longest = 0;
    for (int round = 0; round < 2000; ++round) {
      std::string text(rng() % 80, '\0');
      for (char& c : text) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 26);
      const std::string shown = quoted(text, style);
      EXPECT_LE(shown.size(), quoted_text_max_size(style)) << shown;
      longest = std::max(longest, shown.size());
      for (char c : shown) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << shown;  // one printable line
    }
    EXPECT_GE(longest + 3, quoted_text_max_size(style));  // the bound is not far off
  }
}

TEST(QuotedText, AQuotedTextIsAFormatArgument) {
  const Quoted_text<quoted_text_max_size(c_style)> q("a\"b", c_style);
  EXPECT_EQ(q.view(), "\"a\\\"b\"");
  Fixed_text<64> out;
  format_to(out, "got {}, expected {}", q, Quoted_text<16>("", c_style));
  EXPECT_EQ(out.view(), "got \"a\\\"b\", expected nothing");
}

} // namespace
} // namespace hv
