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

Io_bus::Range* Io_bus::find(u16 port) {
  for (usize i = 0; i < count_; ++i) {
    if (port >= ranges_[i].first && port - ranges_[i].first < ranges_[i].count) return &ranges_[i];
  }
  return nullptr;
}

Io_effect Io_bus::read(u16 port, u8 size, u32& value) {
  if (Range* r = find(port)) {
    value = r->device->io_read(static_cast<u16>(port - r->first), size) & io_size_mask(size);
    return {};
  }
  ++unclaimed_reads_;
  last_unclaimed_port_ = port;
  value = io_size_mask(size);
  return {};
}

Io_effect Io_bus::write(u16 port, u8 size, u32 value) {
  if (Range* r = find(port)) return r->device->io_write(static_cast<u16>(port - r->first), size, value & io_size_mask(size));
  ++unclaimed_writes_;
  last_unclaimed_port_ = port;
  return {};
}

} // namespace hv
