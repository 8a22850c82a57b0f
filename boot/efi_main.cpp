// boot/efi_main.cpp - the UEFI entry point: the boot sequence from firmware to owning the
// machine. Freestanding build only. Steps, in order (each logs what it found):
//   1. COM1 and the log, the banner;
//   2. the CPU and its VMX features (a CPU that cannot run hv: one line, then a clean stop);
//   3. the UEFI memory map summary; the ACPI power-off plan;
//   4. ExitBootServices (map-key retry loop): from here on hv owns the machine.
#include "boot/efi.hpp"
#include "boot/platform.hpp"
#include "core/log.hpp"
#include "hv_version.hpp"
#include "vmx/vmx_capabilities.hpp"

using namespace hv;

namespace {

void log_banner(EFI_SYSTEM_TABLE* st) {
  log_info("boot", "hv {} (git {}): type-1 hypervisor for Intel VT-x", HV_VERSION, HV_GIT_REVISION);
  char vendor[64];
  boot::ucs2_to_ascii(st->FirmwareVendor, vendor, sizeof vendor);
  log_info("boot", "firmware: {} revision {:#x}, UEFI {}.{}", vendor, st->FirmwareRevision, st->Hdr.Revision >> 16,
           (st->Hdr.Revision & 0xFFFF) / 10);
}

} // namespace

extern "C" EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  boot::platform_init_console();
  log_banner(st);
  // The firmware's 5-minute watchdog would reset a slow (emulated) machine; hv owns timing.
  uefi_call_wrapper(st->BootServices->SetWatchdogTimer, 4, 0, 0, 0, nullptr);

  Cpu_access& cpu = boot::platform_cpu();
  const Cpu_identity id = read_cpu_identity(cpu);
  const Vmx_capability_msrs msrs = read_vmx_capability_msrs(cpu, id);
  const Vmx_features features = decode_vmx_features(id, msrs);
  log_vmx_report(id, msrs, features);

  const boot::Efi_memory_map map = boot::read_memory_map(st);
  if (EFI_ERROR(map.status)) {
    log_error("boot", "GetMemoryMap failed: status {:#x}", map.status);
    boot::platform_stop(2);
  }
  log_memory_map_summary(summarize_memory_map(map.regions));
  boot::platform_prepare_power_off(boot::find_rsdp(st), map.regions);
  const Acpi_power_off& power = boot::platform_power_off_plan();
  if (power.available) log_info("boot", "ACPI power-off: PM1a_CNT port {:#x}, S5 SLP_TYP {}", power.pm1a_control, power.sleep_type_a);
  else log_info("boot", "ACPI power-off unavailable: {}", power.unavailable_reason);

  if (features.status != Vmx_status::usable && features.status != Vmx_status::usable_no_ept) {
    log_error("vmx", "cannot run guests: {}: {}", vmx_status_name(features.status), vmx_status_advice(features.status));
    log_info("boot", "stopping the machine");
    boot::platform_stop(3);
  }
  if (features.status == Vmx_status::usable_no_ept) log_warn("vmx", "{}", vmx_status_advice(features.status));

  boot::Efi_memory_map final_map;
  u32 attempts = 0;
  const EFI_STATUS status = boot::exit_boot_services(image, st, final_map, attempts);
  if (EFI_ERROR(status)) {
    log_error("boot", "ExitBootServices failed after {} attempts: status {:#x}", attempts, status);
    boot::platform_stop(4);
  }
  const Memory_map_summary owned = summarize_memory_map(final_map.regions);
  log_info("boot", "ExitBootServices done after {} attempt(s): hv owns the machine ({} MiB usable in {} regions)",
           attempts, owned.usable_bytes / MiB, owned.region_count);

  log_info("boot", "nothing to run yet; stopping the machine");
  boot::platform_stop(0);
}
