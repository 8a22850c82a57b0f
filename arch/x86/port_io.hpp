// arch/x86/port_io.hpp - x86 I/O ports as a parameter. Both builds.
//   freestanding: Native_port_io (arch/x86/native/) executes IN/OUT;
//   hosted:       tests pass a fake that records writes and scripts reads.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

class Port_io {
public:
  virtual u8 in8(u16 port) = 0;
  virtual void out8(u16 port, u8 value) = 0;
  virtual u16 in16(u16 port) = 0;
  virtual void out16(u16 port, u16 value) = 0;
  virtual u32 in32(u16 port) = 0;
  virtual void out32(u16 port, u32 value) = 0;

protected:
  ~Port_io() = default;
};

} // namespace hv
