// core/console.hpp - the host console: log lines and guest output to COM1, one whole line at a
// time under a lock, so output from different CPUs never interleaves inside a line. Both builds.
//
// The monitor's prompt and the echo of what is being typed are an open line (written raw, no
// newline yet). A whole line that arrives meanwhile does not land behind the prompt: the open
// line is ended, the line written, and the open line drawn again below it, so the person typing
// keeps their prompt and text at the bottom and every log line starts in column 0 (as a
// terminal, the session player and the transcript checks all expect).
#pragma once
#include "lib/log.hpp"
#include "lib/spinlock.hpp"
#include "core/uart_16550.hpp"
#include <array>

namespace hv {

class Serial_console final : public Log_sink {
public:
  static constexpr usize open_line_capacity = 256;  // a prompt and a full monitor line fit

  constexpr explicit Serial_console(Uart_16550& uart) : uart_(uart) {}
  void write_line(std::string_view line) override;
  // Bytes as they are (the monitor's echo and prompt), under the same lock as whole lines.
  // "\n" closes the open line; "\b" takes its last character back (as the echo "\b \b" does).
  void write_raw(std::string_view text);
  // What is drawn on the open line now (for tests and the redraw).
  [[nodiscard]] std::string_view open_line() const { return {open_.data(), open_size_}; }

private:
  void track(char c);

  Uart_16550& uart_;
  Spinlock lock_;
  std::array<char, open_line_capacity> open_{};
  usize open_size_ = 0;
};

} // namespace hv
