// core/line_editor.cpp - the serial line editor of the monitor. Both builds.
#include "core/line_editor.hpp"

namespace hv {
namespace {

constexpr u8 ctrl_c = 0x03;
constexpr u8 backspace = 0x08;
constexpr u8 tab = 0x09;
constexpr u8 line_feed = 0x0a;
constexpr u8 carriage_return = 0x0d;
constexpr u8 ctrl_u = 0x15;
constexpr u8 escape = 0x1b;
constexpr u8 del = 0x7f;

// "\b \b" erases one character on a terminal; Ctrl-U echoes as many as the line held.
constexpr usize erase_len = 3;
constexpr auto erase_all = [] {
  std::array<char, line_editor_capacity * erase_len> a{};
  for (usize i = 0; i < a.size(); i += erase_len) {
    a[i] = '\b';
    a[i + 1] = ' ';
    a[i + 2] = '\b';
  }
  return a;
}();

} // namespace

Line_step Line_editor::end_line(Line_event event, std::string_view echo) {
  finished_ = true;
  overflowed_ = false;
  if (event != Line_event::line) size_ = 0;
  return {event, echo};
}

Line_step Line_editor::feed(u8 byte) {
  if (finished_) {
    finished_ = false;
    size_ = 0;
  }
  const bool after_cr = after_cr_;
  after_cr_ = false;

  if (escape_ != Escape::none) {
    // ESC [ parameters... final byte (0x40..0x7E); ESC O x; ESC x. A control byte inside a
    // sequence ends it and is then handled as itself, so a stray ESC cannot eat the Enter key.
    if (byte < 0x20 || byte >= 0x7f) {
      escape_ = Escape::none;
    } else {
      if (escape_ == Escape::esc) escape_ = byte == '[' ? Escape::csi : byte == 'O' ? Escape::ss3 : Escape::none;
      else if (escape_ == Escape::ss3 || byte >= 0x40) escape_ = Escape::none;
      return {};
    }
  }

  switch (byte) {
  case carriage_return:
    after_cr_ = true;
    return end_line(overflowed_ ? Line_event::too_long : Line_event::line, "\r\n");
  case line_feed:
    if (after_cr) return {}; // the LF of a CRLF
    return end_line(overflowed_ ? Line_event::too_long : Line_event::line, "\r\n");
  case ctrl_c:
    return end_line(Line_event::cancelled, "^C\r\n");
  case ctrl_u: {
    const usize shown = size_;
    size_ = 0;
    overflowed_ = false;
    return {Line_event::none, {erase_all.data(), shown * erase_len}};
  }
  case escape:
    escape_ = Escape::esc;
    return {};
  case backspace:
  case del:
    if (overflowed_ || size_ == 0) return {};
    --size_;
    return {Line_event::none, {erase_all.data(), erase_len}};
  default:
    break;
  }

  if (byte == tab) byte = ' ';
  if (byte < 0x20 || byte > 0x7e) return {};
  if (overflowed_) return {};
  if (size_ == buf_.size()) {
    overflowed_ = true;
    return {Line_event::none, "\a"};
  }
  buf_[size_++] = static_cast<char>(byte);
  return {Line_event::none, {&buf_[size_ - 1], 1}};
}

} // namespace hv
