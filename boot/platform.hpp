// boot/platform.hpp - the machine as boot/ sets it up for the rest of the hypervisor: the
// console on COM1, panic hooks, and how to stop the machine. Freestanding build only.
#pragma once
#include "arch/x86/native/native_cpu.hpp"
#include "core/acpi.hpp"
#include "core/console.hpp"
#include "mm/memory_map.hpp"

namespace hv::boot {

// Programs COM1 and makes it the log sink, installs the panic hooks. First thing efi_main does.
void platform_init_console();
[[nodiscard]] Native_port_io& platform_ports();
[[nodiscard]] Native_cpu& platform_cpu();
// COM1 and the console lines go through (the monitor reads and echoes on it).
[[nodiscard]] Uart_16550& platform_com1();
[[nodiscard]] Serial_console& platform_console();
// Works out how to power off from ACPI (tables read only inside regions of `map`).
void platform_prepare_power_off(Hpa rsdp, std::span<const Memory_region> map);
[[nodiscard]] const Acpi_power_off& platform_power_off_plan();
// Stops the machine: ACPI S5, else the emulators' exit ports, else halts. Never returns.
[[noreturn]] void platform_stop(u8 exit_code);

} // namespace hv::boot
