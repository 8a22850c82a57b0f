// boot/efi_mp.cpp - the processors, as UEFI's MP services report them (UEFI PI spec Vol. 2,
// EFI_MP_SERVICES_PROTOCOL), and the memory each CPU needs, allocated before
// ExitBootServices as loader data (the frame allocator never manages loader data).
// Freestanding build only. hv starts the APs itself after ExitBootServices (boot/ap_startup.cpp):
// MP services stop with boot services, and at ExitBootServices the firmware parks APs in a loop
// of its own, so an AP started through MP services would not stay ours.
#include "boot/efi.hpp"
#include "boot/mp.hpp"
#include "lib/log.hpp"
#include <cstring>

namespace hv::boot {
namespace {

struct Efi_processor_information {
  UINT64 processor_id;  // the APIC ID
  UINT32 status_flag;   // bit 0 BSP, bit 1 enabled, bit 2 healthy
  UINT32 package, core, thread;
};
struct Efi_mp_services {
  EFI_STATUS(EFIAPI* get_number_of_processors)(Efi_mp_services*, UINTN* total, UINTN* enabled);
  EFI_STATUS(EFIAPI* get_processor_info)(Efi_mp_services*, UINTN number, Efi_processor_information* info);
  void* startup_all_aps;
  void* startup_this_ap;
  void* switch_bsp;
  void* enable_disable_ap;
  EFI_STATUS(EFIAPI* who_am_i)(Efi_mp_services*, UINTN* number);
};
constexpr EFI_GUID mp_services_guid = {0x3fdda605, 0xa76e, 0x4f46, {0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08}};

Per_cpu* allocate_per_cpu(EFI_SYSTEM_TABLE* st) {
  EFI_PHYSICAL_ADDRESS address = 0xFFFFFFFF;  // below 4 GiB: reachable by the AP trampoline too
  const UINTN pages = (sizeof(Per_cpu) + 4095) / 4096;
  if (EFI_ERROR(uefi_call_wrapper(st->BootServices->AllocatePages, 4, AllocateMaxAddress, EfiLoaderData, pages, &address)))
    return nullptr;
  auto* cpu = reinterpret_cast<Per_cpu*>(address);
  std::memset(static_cast<void*>(cpu), 0, sizeof(Per_cpu));
  return cpu;
}

} // namespace

Mp_plan prepare_processors(EFI_SYSTEM_TABLE* st, u32 bsp_apic_id) {
  Mp_plan plan;
  Cpu_set& set = cpu_set();
  Efi_mp_services* mp = nullptr;
  EFI_GUID guid = mp_services_guid;
  UINTN total = 1, enabled = 1;
  if (EFI_ERROR(uefi_call_wrapper(st->BootServices->LocateProtocol, 3, &guid, nullptr, reinterpret_cast<void**>(&mp))) || !mp ||
      EFI_ERROR(mp->get_number_of_processors(mp, &total, &enabled))) {
    log_warn("boot", "UEFI MP services not available: running on the bootstrap processor only");
    mp = nullptr;
    total = 1;
  }
  for (UINTN n = 0; n < total && set.count < max_cpus; ++n) {
    u32 apic_id = bsp_apic_id;
    bool is_bsp = true;
    if (mp) {
      Efi_processor_information info{};
      if (EFI_ERROR(mp->get_processor_info(mp, n, &info))) continue;
      if (!(info.status_flag & 2)) continue;  // disabled by firmware
      apic_id = static_cast<u32>(info.processor_id);
      is_bsp = info.status_flag & 1;
    }
    Per_cpu* cpu = allocate_per_cpu(st);
    if (!cpu) {
      log_error("boot", "out of memory for the per-CPU area of APIC ID {}: skipping that CPU", apic_id);
      continue;
    }
    cpu->apic_id = apic_id;
    if (is_bsp) {
      // The BSP is always index 0.
      for (u32 i = set.count; i > 0; --i) { set.cpus[i] = set.cpus[i - 1]; set.cpus[i]->index = i; }
      set.cpus[0] = cpu;
      cpu->index = 0;
      cpu->state.store(Cpu_state::online);
    } else {
      cpu->index = set.count;
      set.cpus[set.count] = cpu;
    }
    ++set.count;
  }
  if (total > max_cpus) log_warn("boot", "{} processors reported, hv uses the first {}", total, max_cpus);

  // The SIPI vector page: below 1 MiB, 4 KiB aligned.
  EFI_PHYSICAL_ADDRESS low = 0x9F000;
  if (set.count > 1 && !EFI_ERROR(uefi_call_wrapper(st->BootServices->AllocatePages, 4, AllocateMaxAddress, EfiLoaderData, 1, &low)))
    plan.trampoline_page = low;
  else if (set.count > 1)
    log_warn("boot", "no free page below 1 MiB for the AP trampoline: running on the bootstrap processor only");
  log_info("boot", "processors: {} reported by firmware, {} enabled, hv will use {}", total, enabled, set.count);
  return plan;
}

} // namespace hv::boot
