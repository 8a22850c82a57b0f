// lib/quoted_text.hpp - a text someone typed, shown in double quotes inside a message, safely:
// on one line, cut when long, unprintable bytes made visible. Both builds (no heap, no
// exceptions). The configuration's diagnostics and the monitor's errors both quote through here;
// each caller picks a Quote_style.
//
// The text is written byte by byte between the quotes; before each byte, once the quoted part
// already holds `max_bytes` bytes, the rest is left out and "..." marks the cut (inside or after
// the closing quote). An escaped byte counts with its whole escape.
#pragma once
#include "lib/format.hpp"

namespace hv {

struct Quote_style {
  enum class Escapes : u8 {
    c_style,   // '"' and '\' as \" and \\, bytes outside printable ASCII as \xNN (lower-case hex)
    replace,   // bytes outside printable ASCII as '?', everything else as it is
  };
  enum class Cut_mark : u8 { inside, outside };  // "abc..." or "abc"...

  usize max_bytes = 40;
  Escapes escapes = Escapes::c_style;
  Cut_mark cut_mark = Cut_mark::inside;
  std::string_view empty = {};  // written (without quotes) for an empty text; nothing set: ""
};

// The most one quoted text can take, for sizing a buffer.
[[nodiscard]] constexpr usize quoted_text_max_size(const Quote_style& style) {
  const usize widest = style.escapes == Quote_style::Escapes::c_style ? 4 : 1;  // \xNN
  const usize quoted = 2 + (style.max_bytes == 0 ? 0 : style.max_bytes - 1 + widest) + 3;
  return quoted > style.empty.size() ? quoted : style.empty.size();
}

void write_quoted(Text_writer& out, std::string_view text, const Quote_style& style);

// A quoted text in a buffer of its own, for passing to format_to as an argument.
template <usize Capacity>
class Quoted_text {
public:
  Quoted_text(std::string_view text, const Quote_style& style) { write_quoted(text_, text, style); }
  [[nodiscard]] std::string_view view() const { return text_.view(); }

private:
  Fixed_text<Capacity> text_;
};

template <usize Capacity>
Fmt_arg to_fmt_arg(const Quoted_text<Capacity>& q) {
  return to_fmt_arg(q.view());
}

} // namespace hv
