// devices/mmio_bus.hpp - a VM's emulated-MMIO devices: which device model answers which
// guest-physical range (each range is also a Memslot_kind::mmio slot, so it is never mapped and
// every access exits). Both builds. Fixed capacity, no allocation.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

class Mmio_device {
public:
  // `offset` is from the start of the device's range; size 1, 2, 4 or 8. A read returns the low
  // `size` bytes (higher bits are ignored by the caller).
  virtual u64 mmio_read(u64 offset, u8 size) = 0;
  virtual void mmio_write(u64 offset, u8 size, u64 value) = 0;

protected:
  ~Mmio_device() = default;
};

class Mmio_bus {
public:
  static constexpr usize max_ranges = 8;
  // Claims [base, base + size) for `device`. False when it overlaps a claimed range, wraps, or
  // the table is full (a bug of the VM builder).
  [[nodiscard]] bool attach(u64 base, u64 size, Mmio_device& device) {
    if (size == 0 || base + size < base || count_ == max_ranges) return false;
    for (usize i = 0; i < count_; ++i)
      if (base < ranges_[i].base + ranges_[i].size && ranges_[i].base < base + size) return false;
    ranges_[count_++] = Range{base, size, &device};
    return true;
  }
  // The device for an access of `size` bytes at `gpa` (all inside one range), and its offset.
  [[nodiscard]] Mmio_device* find(u64 gpa, u8 size, u64& offset) const {
    for (usize i = 0; i < count_; ++i) {
      const Range& r = ranges_[i];
      if (gpa - r.base < r.size && r.size - (gpa - r.base) >= size) {
        offset = gpa - r.base;
        return r.device;
      }
    }
    return nullptr;
  }
  [[nodiscard]] usize range_count() const { return count_; }

private:
  struct Range {
    u64 base = 0, size = 0;
    Mmio_device* device = nullptr;
  };
  Range ranges_[max_ranges];
  usize count_ = 0;
};

} // namespace hv
