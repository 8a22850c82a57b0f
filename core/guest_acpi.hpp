// core/guest_acpi.hpp - the ACPI tables hv writes into a Linux VM (docs/guest-boot.md): RSDP ->
// XSDT -> FADT (hardware-reduced ACPI, with the sleep control and status registers the guest
// powers off through), DSDT (\_S5, the COM1 UART, the virtio-mmio devices, one processor device
// per vCPU) and MADT (a local APIC per vCPU, the I/O APIC, LINT1 as NMI). ACPI 6.5 chapter 5.
// Both builds: built into a byte buffer, then copied into guest memory by the caller.
#pragma once
#include "arch/x86/types.hpp"
#include <span>

namespace hv {

namespace guest_acpi {
// Where the tables go: a reserved page of the BIOS area, where an RSDP scan would also look
// (ACPI 6.5 section 5.2.5.1); Linux is told the address through boot_params.acpi_rsdp_addr.
inline constexpr u64 tables_base = 0xE0000;
inline constexpr usize tables_max = 4096;
// The hardware-reduced sleep registers (FADT SLEEP_CONTROL_REG / SLEEP_STATUS_REG, section
// 4.8.3.7) and the reset register, as one I/O device (devices/acpi_sleep.hpp).
inline constexpr u16 sleep_control_port = 0x600;
inline constexpr u16 sleep_status_port = 0x601;
inline constexpr u16 reset_port = 0x602;
inline constexpr u8 reset_value = 0x0E;
inline constexpr u8 s5_sleep_type = 5;   // \_S5's SLP_TYP, what the guest writes to power off
inline constexpr usize max_virtio = 4;
inline constexpr u32 max_cpus = 16;
} // namespace guest_acpi

struct Guest_acpi_virtio {
  u64 base = 0;    // a virtio-mmio register window
  u32 size = 0x200;
  u32 gsi = 0;     // its I/O APIC input (edge-triggered, active high)
};

struct Guest_acpi_config {
  u32 cpus = 1;                      // local APIC ids 0 .. cpus-1
  u64 local_apic_address = 0xFEE00000;
  u64 io_apic_address = 0xFEC00000;  // 0: no I/O APIC
  u8 io_apic_id = 0;
  bool uart = true;                  // COM1 at 0x3F8, ISA IRQ 4
  bool rtc = true;                   // a CMOS RTC at 0x70 (else FADT says "CMOS RTC not present")
  std::span<const Guest_acpi_virtio> virtio;
};

struct Guest_acpi_tables {
  usize size = 0;      // bytes used from `base`; 0 on failure
  u64 rsdp = 0, xsdt = 0, fadt = 0, dsdt = 0, madt = 0;  // guest-physical addresses
  const char* error = nullptr;  // why nothing was built
};

// Builds the tables for guest-physical address `base` into `out` (at most guest_acpi::tables_max
// bytes are needed). Fails (size 0, error set) for more CPUs or virtio devices than the limits,
// or a buffer too small.
[[nodiscard]] Guest_acpi_tables build_guest_acpi(const Guest_acpi_config& config, u64 base, std::span<u8> out);

} // namespace hv
