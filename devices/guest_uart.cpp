// devices/guest_uart.cpp - see guest_uart.hpp. Register behaviour after the PC16550D data sheet.
#include "devices/guest_uart.hpp"
#include "lib/format.hpp"
#include "lib/log.hpp"

namespace hv {
namespace {
constexpr u8 LCR_DLAB = 0x80;
constexpr u8 LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40;
} // namespace

u32 Guest_uart::io_read(u16 offset, u8) {
  const bool dlab = lcr_ & LCR_DLAB;
  switch (offset) {
  case 0:
    if (dlab) return dll_;
    if (input_size_ == 0) return 0;
    {
      const u8 byte = input_[input_head_];
      input_head_ = (input_head_ + 1) % input_capacity;
      --input_size_;
      return byte;
    }
  case 1: return dlab ? dlm_ : ier_;
  case 2: return (fcr_ & 1) ? 0xC1 : 0x01;  // no interrupt pending; FIFO bits when enabled
  case 3: return lcr_;
  case 4: return mcr_;
  case 5: return LSR_THRE | LSR_TEMT | (input_size_ ? LSR_DR : 0);
  case 6: return 0xB0;  // DCD, DSR, CTS: a cable is plugged in
  case 7: return scr_;
  }
  return 0xFF;
}

Io_effect Guest_uart::io_write(u16 offset, u8, u32 value) {
  const u8 v = static_cast<u8>(value);
  const bool dlab = lcr_ & LCR_DLAB;
  switch (offset) {
  case 0:
    if (dlab) { dll_ = v; break; }
    ++bytes_written_;
    if (v == '\n') { emit_line(); break; }
    if (v == '\r') break;
    // A full buffer is written when the next byte comes, so a line of exactly line_capacity
    // characters and its newline make one console line, not a line and an empty one.
    if (line_size_ == line_capacity) emit_line();
    line_[line_size_++] = (v >= 0x20 && v < 0x7F) || v == '\t' ? static_cast<char>(v) : '?';
    break;
  case 1: if (dlab) dlm_ = v; else ier_ = v & 0x0F; break;
  case 2: fcr_ = v; break;
  case 3: lcr_ = v; break;
  case 4: mcr_ = v & 0x1F; break;
  case 7: scr_ = v; break;
  default: break;  // LSR/MSR are read-only
  }
  return {};
}

void Guest_uart::count_check(std::string_view line) {
  if (line.substr(0, 3) == "ok ") ++checks_passed_;
  else if (line.substr(0, 7) == "not ok ") ++checks_failed_;
}

void Guest_uart::emit_line() {
  const std::string_view text(line_.data(), line_size_);
  count_check(text);
  Fixed_text<line_capacity + 40> out;
  format_to(out, "[{}] {}", name_, text);
  log_raw_line(out.view());
  ++lines_written_;
  line_size_ = 0;
}

void Guest_uart::flush() {
  if (line_size_ > 0) emit_line();
}

bool Guest_uart::push_input(u8 byte) {
  if (input_size_ == input_capacity) return false;
  input_[(input_head_ + input_size_) % input_capacity] = byte;
  ++input_size_;
  return true;
}

} // namespace hv
