// boot/platform.cpp - see platform.hpp. Freestanding build only.
#include "boot/platform.hpp"
#include "core/console.hpp"
#include "core/machine_stop.hpp"
#include "lib/native/register_dump.hpp"
#include "lib/panic.hpp"
#include <cstring>

namespace hv::boot {
namespace {
constinit Native_port_io g_ports;
constinit Native_cpu g_cpu;
constinit Uart_16550 g_com1{g_ports, 0x3F8};
constinit Serial_console g_console{g_com1};
constinit Acpi_power_off g_power_off{};

// Reads firmware tables through the identity map UEFI keeps, but only inside regions that the
// memory map lists (and not MMIO), so a corrupt table pointer cannot make us touch a hole.
class Mapped_reader final : public Physical_reader {
public:
  explicit Mapped_reader(std::span<const Memory_region> map) : map_(map) {}
  bool read(Hpa address, void* destination, usize length) override {
    for (const Memory_region& r : map_) {
      if (r.type == Memory_type::mmio || r.type == Memory_type::mmio_port_space) continue;
      if (address >= r.base && address.value() + length <= r.end().value() && address.value() + length >= address.value()) {
        std::memcpy(destination, reinterpret_cast<const void*>(address.value()), length);
        return true;
      }
    }
    return false;
  }

private:
  std::span<const Memory_region> map_;
};

u32 current_cpu_index() { return x86::cpuid(1).ebx >> 24; } // initial APIC ID until per-CPU data exists

[[noreturn]] void panic_stop() { platform_stop(1); }
} // namespace

void platform_init_console() {
  g_com1.init(115200);
  g_com1.write("\n"); // the firmware may have left a partial line (or escape codes) on COM1
  log_set_sink(&g_console);
  panic_set_hooks(Panic_hooks{&current_cpu_index, &log_native_registers, &panic_stop});
}

Native_port_io& platform_ports() { return g_ports; }
Native_cpu& platform_cpu() { return g_cpu; }
Uart_16550& platform_com1() { return g_com1; }
Serial_console& platform_console() { return g_console; }

void platform_prepare_power_off(Hpa rsdp, std::span<const Memory_region> map) {
  Mapped_reader reader(map);
  g_power_off = find_acpi_power_off(reader, rsdp);
}

const Acpi_power_off& platform_power_off_plan() { return g_power_off; }

void platform_stop(u8 exit_code) {
  machine_power_off(g_ports, g_power_off, exit_code);
  x86::halt_forever();
}

} // namespace hv::boot
