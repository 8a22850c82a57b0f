// core/uart_16550.hpp - driver for the machine's own 16550 UART (COM1 at 0x3F8 belongs to the
// hypervisor). Both builds: the ports are a parameter (Port_io), so tests drive a fake.
// Polled, no interrupts. Every wait is bounded: a missing or wedged UART loses output but
// never hangs the hypervisor.
#pragma once
#include "arch/x86/port_io.hpp"
#include <optional>
#include <string_view>

namespace hv {

class Uart_16550 {
public:
  // Register offsets from the base port (PC16550D data sheet names).
  static constexpr u16 THR = 0, RBR = 0, DLL = 0, IER = 1, DLM = 1, FCR = 2, IIR = 2, LCR = 3,
                       MCR = 4, LSR = 5, MSR = 6, SCR = 7;
  static constexpr u8 LSR_DATA_READY = 1u << 0;
  static constexpr u8 LSR_THR_EMPTY = 1u << 5;
  static constexpr u8 LCR_DLAB = 1u << 7;
  static constexpr u8 LCR_8N1 = 0x03;
  static constexpr u32 clock_hz = 1'843'200; // 1.8432 MHz crystal: divisor = 115200 / baud
  static constexpr u32 transmit_spin_limit = 100'000;

  constexpr Uart_16550(Port_io& io, u16 base) : io_(io), base_(base) {}

  // Programs baud rate, 8N1, FIFOs on, interrupts off. Returns false for a baud rate that
  // cannot be divided from the 115200 base (the UART is left untouched then).
  bool init(u32 baud = 115200);
  // True when a UART answers at base (scratch register keeps what was written).
  [[nodiscard]] bool probe();
  // Sends one byte, waiting (bounded) for the transmitter.
  void put(u8 byte);
  // Sends text; "\n" goes out as "\r\n" for terminals.
  void write(std::string_view text);
  [[nodiscard]] std::optional<u8> try_read();
  // A received byte is waiting (LSR.DR); reads nothing.
  [[nodiscard]] bool has_input() { return io_.in8(static_cast<u16>(base_ + LSR)) & LSR_DATA_READY; }
  [[nodiscard]] u16 base() const { return base_; }
  [[nodiscard]] u32 dropped() const { return dropped_; }

private:
  Port_io& io_;
  u16 base_;
  u32 dropped_ = 0; // bytes given up on because the transmitter never became ready
};

} // namespace hv
