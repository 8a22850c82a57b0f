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

private:
  Uart_16550& uart_;
  Spinlock lock_;
};

} // namespace hv
