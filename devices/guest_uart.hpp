// devices/guest_uart.hpp - the 16550 UART a guest sees at 0x3F8..0x3FF. Both builds.
// Output is collected into lines and written to the host console as "[NAME] text", one whole
// line at a time (a line longer than the buffer is written in pieces). The guest can poll it:
// the transmitter is always empty, so a driver that waits for THRE never waits.
// Test guests report one check per line ("ok NAME" / "not ok NAME: why"); the UART counts them.
#pragma once
#include "devices/io_bus.hpp"
#include <array>
#include <string_view>

namespace hv {

inline constexpr u16 guest_uart_base = 0x3F8;

class Guest_uart final : public Io_device {
public:
  static constexpr usize line_capacity = 160;
  static constexpr usize input_capacity = 64;

  // `name` must outlive the device (it is the VM's name).
  void set_name(std::string_view name) { name_ = name; }
  u32 io_read(u16 offset, u8 size) override;
  Io_effect io_write(u16 offset, u8 size, u32 value) override;
  // Writes out a partial line (when the VM stops, so nothing it said is lost).
  void flush();
  // Queues a byte for the guest to read (the monitor's "send to guest"); false when full.
  bool push_input(u8 byte);

  [[nodiscard]] u64 checks_passed() const { return checks_passed_; }
  [[nodiscard]] u64 checks_failed() const { return checks_failed_; }
  [[nodiscard]] u64 bytes_written() const { return bytes_written_; }
  [[nodiscard]] u64 lines_written() const { return lines_written_; }

private:
  void emit_line();
  void count_check(std::string_view line);

  std::string_view name_ = "vm";
  std::array<char, line_capacity> line_{};
  usize line_size_ = 0;
  std::array<u8, input_capacity> input_{};
  usize input_head_ = 0;
  usize input_size_ = 0;
  u8 ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0, dll_ = 1, dlm_ = 0;
  u64 checks_passed_ = 0;
  u64 checks_failed_ = 0;
  u64 bytes_written_ = 0;
  u64 lines_written_ = 0;
};

} // namespace hv
