// devices/debug_exit.hpp - the debug-exit port at 0xF4, as QEMU's isa-debug-exit: a write of V
// stops the VM with exit status V. Reads return zero. Both builds.
#pragma once
#include "devices/io_bus.hpp"

namespace hv {

inline constexpr u16 debug_exit_port = 0xF4;

class Debug_exit final : public Io_device {
public:
  u32 io_read(u16, u8) override { return 0; }
  Io_effect io_write(u16, u8, u32 value) override { return Io_effect{Io_effect::Kind::stop_vm, value}; }
};

} // namespace hv
