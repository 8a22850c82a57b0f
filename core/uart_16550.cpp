// core/uart_16550.cpp - see uart_16550.hpp. Both builds.
#include "core/uart_16550.hpp"

namespace hv {

bool Uart_16550::init(u32 baud) {
  if (baud == 0 || 115200 % baud != 0) return false;
  const u16 divisor = static_cast<u16>(115200 / baud);
  io_.out8(base_ + IER, 0x00);              // no interrupts: the hypervisor polls
  io_.out8(base_ + LCR, LCR_DLAB);          // divisor latch access
  io_.out8(base_ + DLL, static_cast<u8>(divisor & 0xFF));
  io_.out8(base_ + DLM, static_cast<u8>(divisor >> 8));
  io_.out8(base_ + LCR, LCR_8N1);           // 8 data bits, no parity, 1 stop bit, DLAB off
  io_.out8(base_ + FCR, 0xC7);              // FIFOs on, both cleared, 14-byte trigger
  io_.out8(base_ + MCR, 0x03);              // DTR + RTS; OUT2 off keeps the IRQ line quiet
  return true;
}

bool Uart_16550::probe() {
  io_.out8(base_ + SCR, 0x5A);
  if (io_.in8(base_ + SCR) != 0x5A) return false;
  io_.out8(base_ + SCR, 0xA5);
  return io_.in8(base_ + SCR) == 0xA5;
}

void Uart_16550::put(u8 byte) {
  for (u32 spin = 0; spin < transmit_spin_limit; ++spin) {
    if (io_.in8(base_ + LSR) & LSR_THR_EMPTY) {
      io_.out8(base_ + THR, byte);
      return;
    }
    __builtin_ia32_pause();
  }
  ++dropped_;
}

void Uart_16550::write(std::string_view text) {
  for (char c : text) {
    if (c == '\n') put('\r');
    put(static_cast<u8>(c));
  }
}

std::optional<u8> Uart_16550::try_read() {
  if (io_.in8(base_ + LSR) & LSR_DATA_READY) return io_.in8(base_ + RBR);
  return std::nullopt;
}

} // namespace hv
