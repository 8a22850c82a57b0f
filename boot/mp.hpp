// boot/mp.hpp - finding the processors before ExitBootServices and starting them after.
// Freestanding build only.
#pragma once
#include "boot/efi.hpp"
#include "lib/per_cpu.hpp"

namespace hv::boot {

struct Mp_plan {
  u64 trampoline_page = 0;  // SIPI vector page below 1 MiB, or 0 (then: BSP only)
};

// Enumerates the processors (UEFI MP services), allocates their Per_cpu areas and the trampoline
// page; fills cpu_set() with the BSP at index 0. Before ExitBootServices.
[[nodiscard]] Mp_plan prepare_processors(EFI_SYSTEM_TABLE* st, u32 bsp_apic_id);

// Loads this CPU's host GDT, TSS and IDT. Every CPU, first thing it does as hv's.
void load_host_tables(Per_cpu& cpu);

// Starts every AP with INIT-SIPI-SIPI and waits (bounded) until each is in VMX root or failed.
// `ap_main` runs on each AP on its own stack. After ExitBootServices.
void start_application_processors(const Mp_plan& plan, void (*ap_main)(Per_cpu*));

} // namespace hv::boot
