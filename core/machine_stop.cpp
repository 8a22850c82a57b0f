// core/machine_stop.cpp - see machine_stop.hpp. Both builds.
#include "core/machine_stop.hpp"
#include "lib/log.hpp"

namespace hv {
namespace {
void settle(u32 spins) {
  for (u32 i = 0; i < spins; ++i) __builtin_ia32_pause();
}
} // namespace

void machine_power_off(Port_io& io, const Acpi_power_off& acpi, u8 exit_code, u32 settle_spins) {
  if (acpi.available) {
    log_info("core", "power off: ACPI S5 (PM1a_CNT port {:#x}, SLP_TYP {})", acpi.pm1a_control, acpi.sleep_type_a);
    acpi_power_off(io, acpi);
    settle(settle_spins);
  } else {
    log_info("core", "power off: ACPI unavailable ({}); trying emulator exit ports", acpi.unavailable_reason);
  }
  io.out32(qemu_debug_exit_port, exit_code);
  settle(settle_spins);
  for (char c : {'S', 'h', 'u', 't', 'd', 'o', 'w', 'n'}) io.out8(bochs_shutdown_port, static_cast<u8>(c));
  settle(settle_spins);
  log_warn("core", "the machine did not power off; halting this CPU");
}

} // namespace hv
