// devices/io_bus.cpp - see io_bus.hpp. Both builds.
#include "devices/io_bus.hpp"

namespace hv {

bool Io_bus::attach(u16 first, u16 count, Io_device& device) {
  if (count == 0 || count_ == max_ranges || u32{first} + count > 0x10000) return false;
  for (usize i = 0; i < count_; ++i) {
    const Range& r = ranges_[i];
    if (first < r.first + r.count && r.first < first + count) return false;
  }
  ranges_[count_++] = Range{first, count, &device};
  return true;
}

// Ports no device claims (the accesses themselves are inline in io_bus.hpp).
Io_effect Io_bus::read_unclaimed(u16 port, u8 size, u32& value) {
  ++unclaimed_reads_;
  last_unclaimed_port_ = port;
  value = io_size_mask(size);
  return {};
}

Io_effect Io_bus::write_unclaimed(u16 port) {
  ++unclaimed_writes_;
  last_unclaimed_port_ = port;
  return {};
}

} // namespace hv
