// core/machine_stop.hpp - stopping the whole machine, in order of preference (issue #2):
//   1. ACPI S5 power-off (real hardware, QEMU),
//   2. the emulators' exit ports: QEMU isa-debug-exit (0xF4, exit status (code<<1)|1) and
//      Bochs' shutdown port (0x8900, the bytes "Shutdown"),
//   3. returns to the caller, which halts the CPU for good.
// Both builds (the ports are a parameter). Writing the emulator ports on real hardware is
// harmless: nothing decodes 0xF4 or 0x8900 on PC chipsets.
#pragma once
#include "core/acpi.hpp"

namespace hv {

inline constexpr u16 qemu_debug_exit_port = 0xF4;
inline constexpr u16 bochs_shutdown_port = 0x8900;

enum class Stop_method : u8 { acpi, qemu_debug_exit, bochs_shutdown_port };

// Tries each method in turn; after each, spins `settle_spins` pauses so the machine has time to
// go down before the next one is tried. Returns only if the machine is still running.
void machine_power_off(Port_io& io, const Acpi_power_off& acpi, u8 exit_code, u32 settle_spins = 1'000'000);

} // namespace hv
