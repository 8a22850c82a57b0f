// core/console.hpp - the host console: log lines and guest output to COM1, one whole line at a
// time under a lock, so output from different CPUs never interleaves inside a line. Both builds.
#pragma once
#include "core/log.hpp"
#include "core/spinlock.hpp"
#include "core/uart_16550.hpp"

namespace hv {

class Serial_console final : public Log_sink {
public:
  constexpr explicit Serial_console(Uart_16550& uart) : uart_(uart) {}
  void write_line(std::string_view line) override {
    Spinlock_guard guard(lock_);
    uart_.write(line);
    uart_.write("\n");
  }
  // Bytes as they are (the monitor's echo and prompt), under the same lock as whole lines.
  void write_raw(std::string_view text) {
    Spinlock_guard guard(lock_);
    for (char c : text) uart_.put(static_cast<u8>(c));
  }

private:
  Uart_16550& uart_;
  Spinlock lock_;
};

} // namespace hv
