// mm/memory_map.hpp - the firmware's memory map in the hypervisor's own terms. Both builds.
// boot/ converts UEFI's EFI_MEMORY_DESCRIPTORs into Memory_region records (the type numbers
// are the UEFI spec's, so a dump from real firmware can be replayed in a unit test); everything
// after boot reads only this.
#pragma once
#include "arch/x86/address.hpp"
#include <span>

namespace hv {

// UEFI 2.10 section 7.2, EFI_MEMORY_TYPE.
enum class Memory_type : u32 {
  reserved = 0,
  loader_code = 1,
  loader_data = 2,
  boot_services_code = 3,
  boot_services_data = 4,
  runtime_services_code = 5,
  runtime_services_data = 6,
  conventional = 7,
  unusable = 8,
  acpi_reclaim = 9,
  acpi_nvs = 10,
  mmio = 11,
  mmio_port_space = 12,
  pal_code = 13,
  persistent = 14,
  unaccepted = 15,
};
inline constexpr u32 memory_type_count = 16;

struct Memory_region {
  Hpa base;
  u64 pages = 0;           // 4 KiB pages
  Memory_type type = Memory_type::reserved;
  u64 attributes = 0;      // EFI_MEMORY_* attribute bits (UC, WB, RUNTIME, ...)
  [[nodiscard]] constexpr u64 bytes() const { return pages * page_size_4k; }
  [[nodiscard]] constexpr Hpa end() const { return base + bytes(); }
};

// Short, stable names used in log lines ("conventional", "bs-data", ...).
[[nodiscard]] const char* memory_type_name(Memory_type type);
// RAM the hypervisor may take once boot services are gone: conventional memory and boot-services
// code/data. Loader code/data hold hv.efi itself and what it allocated, so they are excluded.
[[nodiscard]] bool memory_type_usable_after_boot(Memory_type type);

struct Memory_map_summary {
  u64 region_count = 0;
  u64 usable_bytes = 0;                 // memory_type_usable_after_boot
  u64 bytes_by_type[memory_type_count + 1] = {}; // last slot: types beyond the spec's list
  u64 regions_by_type[memory_type_count + 1] = {};
  Hpa largest_usable_base;              // the largest run of usable memory, adjacent regions joined
  u64 largest_usable_bytes = 0;
  Hpa highest_usable_end;               // one past the last usable byte
};

// Summarises the map. Tolerates unsorted input (it sorts a copy) and skips zero-page regions.
[[nodiscard]] Memory_map_summary summarize_memory_map(std::span<const Memory_region> regions);
void log_memory_map_summary(const Memory_map_summary& summary);

} // namespace hv
