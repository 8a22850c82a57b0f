// devices/acpi_sleep.hpp - a Linux VM's hardware-reduced ACPI sleep registers (ACPI 6.5 section
// 4.8.3.7) and its reset register, at the ports its FADT names (core/guest_acpi.hpp): writing
// SLP_TYP = 5 (\_S5) with SLP_EN to the sleep control register powers the VM off; writing the
// reset value to the reset register resets it (hv stops it, as a reboot request). Both builds.
#pragma once
#include "devices/io_bus.hpp"

namespace hv {

class Acpi_sleep final : public Io_device {
public:
  // Ports: control, status, reset (consecutive).
  static constexpr u16 port_count = 3;
  static constexpr u8 slp_en = 1u << 5;          // SLEEP_CONTROL_REG bit 5
  static constexpr u8 slp_typ_shift = 2;         // bits 4:2
  static constexpr u8 wak_sts = 1u << 7;         // SLEEP_STATUS_REG bit 7

  Acpi_sleep(u8 s5_type, u8 reset_value) : s5_type_(s5_type), reset_value_(reset_value) {}

  // The status register reads 0: the VM is never woken from a sleep state (only S5 exists).
  u32 io_read(u16, u8) override { return 0; }
  Io_effect io_write(u16 offset, u8, u32 value) override {
    if (offset == 0 && (value & slp_en)) {
      if (((value >> slp_typ_shift) & 7) == s5_type_) return Io_effect{Io_effect::Kind::power_off, 0};
      ++other_sleep_requests;  // S1..S4: the DSDT offers none; the request does nothing
    } else if (offset == 2 && (value & 0xFF) == reset_value_) {
      return Io_effect{Io_effect::Kind::reset, 0};
    }
    return {};
  }

  u64 other_sleep_requests = 0;

private:
  u8 s5_type_;
  u8 reset_value_;
};

} // namespace hv
