// core/console.cpp - see console.hpp. Both builds.
#include "core/console.hpp"

namespace hv {

void Serial_console::write_line(std::string_view line) {
  Spinlock_guard guard(lock_);
  if (open_size_) uart_.write("\n");
  uart_.write(line);
  uart_.write("\n");
  for (usize i = 0; i < open_size_; ++i) uart_.put(static_cast<u8>(open_[i]));
}

void Serial_console::write_raw(std::string_view text) {
  Spinlock_guard guard(lock_);
  for (char c : text) {
    uart_.put(static_cast<u8>(c));
    track(c);
  }
}

void Serial_console::track(char c) {
  switch (c) {
  case '\n': open_size_ = 0; return;
  case '\r': return;  // back to column 0: the text drawn so far stays on the line
  case '\b':
    if (open_size_) --open_size_;
    return;
  default:
    if (static_cast<u8>(c) < 0x20) return;  // the bell and other controls are not drawn again
    // A line longer than the buffer is redrawn cut (the monitor refuses such lines anyway).
    if (open_size_ < open_.size()) open_[open_size_++] = c;
  }
}

} // namespace hv
