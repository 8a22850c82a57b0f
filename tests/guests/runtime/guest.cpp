// tests/guests/runtime/guest.cpp - the test-guest runtime (see guest.hpp). Guest code.
#include "guests/runtime/guest.hpp"

namespace guest {

void uart_write(std::string_view text) {
  for (char c : text) {
    for (int spin = 0; spin < 100000 && !(inb(0x3F8 + 5) & 0x20); ++spin) {
    }
    outb(0x3F8, static_cast<u8>(c));
  }
}

void exit(u32 status) {
  asm volatile("outl %0, %1" ::"a"(status), "Nd"(static_cast<u16>(0xF4)));
  for (;;) asm volatile("hlt");
}

i64 hypercall(u64 nr, u64 a0, u64 a1, u64 a2, u64 a3) {
  i64 ret;
  asm volatile("vmcall" : "=a"(ret) : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3) : "memory");
  return ret;
}

} // namespace guest

extern "C" void guest_exit(hv::u32 status) { guest::exit(status); }
