// devices/io_bus.hpp - a VM's port I/O space: which emulated device answers which ports.
// Both builds. A port no device claims reads as all ones and ignores writes (as an empty ISA
// bus does), and is counted so `info exits` can show what a guest pokes at.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

// What an access asks of the VM beyond its data.
struct Io_effect {
  // stop_vm: the debug-exit port; power_off / reset: the guest's ACPI sleep (S5) or reset register.
  enum class Kind : u8 { none, stop_vm, power_off, reset } kind = Kind::none;
  u32 status = 0;  // for stop_vm: the exit status the guest asked for
};

class Io_device {
public:
  // `offset` is port - first port of the device's range; size is 1, 2 or 4 bytes.
  virtual u32 io_read(u16 offset, u8 size) = 0;
  virtual Io_effect io_write(u16 offset, u8 size, u32 value) = 0;

protected:
  ~Io_device() = default;
};

[[nodiscard]] constexpr u32 io_size_mask(u8 size) { return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1; }

class Io_bus {
public:
  static constexpr usize max_ranges = 16;
  // Claims [first, first + count) for `device`. False if it overlaps a claimed range or the
  // table is full (a configuration bug of the VM builder).
  [[nodiscard]] bool attach(u16 first, u16 count, Io_device& device);
  // Performs an access. For reads `value` receives the data (all ones when unclaimed).
  // Inline: every IN/OUT exit comes through here; the lookup is a walk over the few ranges in
  // the order they were attached (a VM attaches its UART first).
  Io_effect read(u16 port, u8 size, u32& value) {
    if (const Range* r = find(port)) {
      value = r->device->io_read(static_cast<u16>(port - r->first), size) & io_size_mask(size);
      return {};
    }
    return read_unclaimed(port, size, value);
  }
  Io_effect write(u16 port, u8 size, u32 value) {
    if (const Range* r = find(port))
      return r->device->io_write(static_cast<u16>(port - r->first), size, value & io_size_mask(size));
    return write_unclaimed(port);
  }
  [[nodiscard]] u64 unclaimed_reads() const { return unclaimed_reads_; }
  [[nodiscard]] u64 unclaimed_writes() const { return unclaimed_writes_; }
  [[nodiscard]] u16 last_unclaimed_port() const { return last_unclaimed_port_; }

private:
  struct Range {
    u16 first;
    u16 count;
    Io_device* device;
  };
  [[nodiscard]] const Range* find(u16 port) const {
    for (usize i = 0; i < count_; ++i) {
      // One unsigned compare: a port below `first` wraps to a large difference.
      if (u32{port} - ranges_[i].first < ranges_[i].count) return &ranges_[i];
    }
    return nullptr;
  }
  Io_effect read_unclaimed(u16 port, u8 size, u32& value);
  Io_effect write_unclaimed(u16 port);

  Range ranges_[max_ranges] = {};
  usize count_ = 0;
  u64 unclaimed_reads_ = 0;
  u64 unclaimed_writes_ = 0;
  u16 last_unclaimed_port_ = 0;
};

} // namespace hv
