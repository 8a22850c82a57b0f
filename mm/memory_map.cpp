// mm/memory_map.cpp - naming and summarising the firmware memory map. Both builds.
#include "mm/memory_map.hpp"
#include "lib/log.hpp"

namespace hv {

const char* memory_type_name(Memory_type type) {
  switch (type) {
  case Memory_type::reserved: return "reserved";
  case Memory_type::loader_code: return "loader-code";
  case Memory_type::loader_data: return "loader-data";
  case Memory_type::boot_services_code: return "bs-code";
  case Memory_type::boot_services_data: return "bs-data";
  case Memory_type::runtime_services_code: return "rt-code";
  case Memory_type::runtime_services_data: return "rt-data";
  case Memory_type::conventional: return "conventional";
  case Memory_type::unusable: return "unusable";
  case Memory_type::acpi_reclaim: return "acpi-reclaim";
  case Memory_type::acpi_nvs: return "acpi-nvs";
  case Memory_type::mmio: return "mmio";
  case Memory_type::mmio_port_space: return "mmio-port";
  case Memory_type::pal_code: return "pal-code";
  case Memory_type::persistent: return "persistent";
  case Memory_type::unaccepted: return "unaccepted";
  }
  return "unknown";
}

bool memory_type_usable_after_boot(Memory_type type) {
  return type == Memory_type::conventional || type == Memory_type::boot_services_code ||
         type == Memory_type::boot_services_data;
}

namespace {
u32 type_slot(Memory_type type) {
  const u32 t = static_cast<u32>(type);
  return t < memory_type_count ? t : memory_type_count;
}
} // namespace

Memory_map_summary summarize_memory_map(std::span<const Memory_region> regions) {
  Memory_map_summary s;
  // Usable regions, sorted by base, to join adjacent ones into runs. An insertion sort over
  // indices keeps this allocation-free; firmware maps have at most a few hundred entries.
  constexpr usize max_sorted = 1024;
  u32 order[max_sorted];
  usize n = 0;
  for (usize i = 0; i < regions.size(); ++i) {
    const Memory_region& r = regions[i];
    if (r.pages == 0) continue;
    ++s.region_count;
    s.bytes_by_type[type_slot(r.type)] += r.bytes();
    s.regions_by_type[type_slot(r.type)] += 1;
    if (!memory_type_usable_after_boot(r.type)) continue;
    s.usable_bytes += r.bytes();
    if (r.end() > s.highest_usable_end) s.highest_usable_end = r.end();
    if (n == max_sorted) continue; // beyond any real map; the totals above stay right
    usize j = n++;
    while (j > 0 && regions[order[j - 1]].base > r.base) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = static_cast<u32>(i);
  }
  Hpa run_base;
  Hpa run_end;
  for (usize k = 0; k < n; ++k) {
    const Memory_region& r = regions[order[k]];
    if (k == 0 || r.base > run_end) {
      run_base = r.base;
      run_end = r.end();
    } else if (r.end() > run_end) {
      run_end = r.end(); // adjacent or overlapping: one run
    }
    if (run_end - run_base > s.largest_usable_bytes) {
      s.largest_usable_bytes = run_end - run_base;
      s.largest_usable_base = run_base;
    }
  }
  return s;
}

void log_memory_map_summary(const Memory_map_summary& s) {
  log_info("mm", "memory map: {} regions, usable after boot {} MiB ({} KiB), highest usable address {}",
           s.region_count, s.usable_bytes / MiB, s.usable_bytes / KiB, s.highest_usable_end);
  log_info("mm", "largest usable range: {}..{} ({} MiB)", s.largest_usable_base,
           s.largest_usable_base + s.largest_usable_bytes, s.largest_usable_bytes / MiB);
  for (u32 t = 0; t <= memory_type_count; ++t) {
    if (s.regions_by_type[t] == 0) continue;
    const char* name = t < memory_type_count ? memory_type_name(static_cast<Memory_type>(t)) : "other";
    log_info("mm", "  {:<13} {:>4} regions {:>8} KiB", name, s.regions_by_type[t], s.bytes_by_type[t] / KiB);
  }
}

} // namespace hv
