// boot/efi_main.cpp - the UEFI entry point: the boot sequence from firmware to owning the
// machine. Freestanding build only. Steps, in order (each logs what it found):
//   1. COM1 and the log, the banner;
//   2. the CPU and its VMX features (a CPU that cannot run hv: one line, then a clean stop);
//   3. the UEFI memory map summary; the ACPI power-off plan;
//   4. the processors (UEFI MP services) and their per-CPU areas;
//   5. ExitBootServices (map-key retry loop): from here on hv owns the machine;
//   6. host GDT/TSS/IDT and VMXON on the BSP, then INIT-SIPI-SIPI for every AP, which does the same.
#include "boot/efi.hpp"
#include "boot/esp_files.hpp"
#include "boot/memory_setup.hpp"
#include "boot/run_vms.hpp"
#include "boot/host_space.hpp"
#include "boot/mp.hpp"
#include "boot/platform.hpp"
#include "core/cpu_work.hpp"
#include "lib/log.hpp"
#include "hv_version.hpp"
#include "vmx/native/vmx_root.hpp"
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

constinit Vmx_capability_msrs g_caps{};

// Where every application processor arrives from the trampoline, on its own stack.
void ap_main(Per_cpu* cpu) {
  boot::load_host_tables(*cpu);
  cpu->state.store(Cpu_state::online);
  if (vmx_enter_root(*cpu, g_caps)) {
    log_info("vmx", "cpu{} (APIC ID {}) is in VMX root", cpu->index, cpu->apic_id);
    cpu_wait_for_work(*cpu);
  }
  x86::halt_forever();
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

  g_caps = msrs;
  const boot::Esp_files& files = boot::read_esp_files(image, st);
  log_info("boot", "ESP: {}, {} guest image(s) in \\EFI\\hv\\guests", files.has_config ? "hv.cfg found" : "no hv.cfg",
           files.guest_count);
  const boot::Mp_plan mp = boot::prepare_processors(st, x86::cpuid(1).ebx >> 24);
  if (!boot::reserve_host_space_pool(st)) {
    log_error("boot", "no memory below 4 GiB for the host page tables");
    boot::platform_stop(4);
  }

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

  // From here on interrupts stay off in VMX root: hv polls, guests get the CPU's time.
  x86::cli();
  if (!boot::switch_to_host_page_tables(final_map.regions, mp.trampoline_page)) boot::platform_stop(4);
  Per_cpu& bsp = *cpu_set().cpus[0];
  boot::load_host_tables(bsp);
  if (!vmx_enter_root(bsp, g_caps)) boot::platform_stop(5);
  log_info("vmx", "cpu0 (APIC ID {}) is in VMX root", bsp.apic_id);
  boot::start_application_processors(mp, &ap_main);
  u32 in_root = 0;
  for (u32 i = 0; i < cpu_set().count; ++i) in_root += cpu_set().cpus[i]->state.load() == Cpu_state::vmx_root;
  log_info("vmx", "VMX root on {} of {} CPUs", in_root, cpu_set().count);

  if (!boot::setup_frame_allocator(final_map.regions)) boot::platform_stop(6);
  const Ept_config self_check_ept =
      make_ept_config(no_vm, Ept_hardware{features.ept_2m, features.ept_1g, features.ept_execute_only, false, features.ept_wb,
                                          id.physical_address_bits}, default_paging_policy);
  if (!boot::run_memory_self_check(self_check_ept, features.invept_single_context)) boot::platform_stop(7);

  const boot::Run_summary summary = boot::run_configured_vms(files, id, g_caps, features);
  log_info("boot", "all VMs have stopped ({} run); stopping the machine", summary.vms);
  boot::platform_stop(summary.failed == 0 ? 0 : 1);
}
