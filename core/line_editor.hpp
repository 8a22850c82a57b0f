// core/line_editor.hpp - turns bytes received on a serial line into command lines, and says what
// to echo so the terminal shows what was typed. Both builds; fixed capacity, no heap.
//
// Keys: printable ASCII (0x20..0x7E) is appended, TAB counts as a space; BS (0x08) and DEL (0x7F)
// erase the last character; CR, LF or CRLF end the line (CRLF is one line, not two); Ctrl-C
// (0x03) discards the line; Ctrl-U (0x15) clears it. ANSI escape sequences (arrow keys: ESC [ A, ESC O A)
// are swallowed whole. Every other byte is ignored.
//
// A line longer than line_editor_capacity is refused, never cut: the first byte that does not fit
// rings the bell, the rest of the line is ignored, and when it ends the result is `too_long`
// instead of a line, so a pasted command that is too long never runs half of itself.
#pragma once
#include "arch/x86/types.hpp"
#include <array>
#include <string_view>

namespace hv {

inline constexpr usize line_editor_capacity = 120;

enum class Line_event : u8 {
  none,      // nothing finished; keep feeding
  line,      // a line ended: Line_editor::line() holds it (possibly empty)
  cancelled, // Ctrl-C: the line was discarded
  too_long,  // a line ended that did not fit: discarded
};

struct Line_step {
  Line_event event = Line_event::none;
  // Bytes to send back to the terminal; valid until the next feed(). "\r\n" ends a finished line.
  std::string_view echo;
};

class Line_editor {
public:
  constexpr Line_editor() = default;

  Line_step feed(u8 byte);
  // The line that the last feed() finished (event `line`); until then, the text so far.
  [[nodiscard]] std::string_view line() const { return {buf_.data(), size_}; }
  // Whether the current line has overflowed and will be refused when it ends.
  [[nodiscard]] bool overflowed() const { return overflowed_; }

private:
  enum class Escape : u8 { none, esc, csi, ss3 };
  Line_step end_line(Line_event event, std::string_view echo);

  std::array<char, line_editor_capacity> buf_{};
  usize size_ = 0;
  bool overflowed_ = false;
  bool finished_ = false;  // the last feed ended a line: the next byte starts a new one
  bool after_cr_ = false;  // the last byte was CR: a following LF belongs to it
  Escape escape_ = Escape::none;
};

} // namespace hv
