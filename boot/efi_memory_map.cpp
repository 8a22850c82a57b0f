// boot/efi_memory_map.cpp - GetMemoryMap into static storage, conversion to Memory_region, and
// ExitBootServices with the retry loop. Freestanding build only.
#include "boot/efi.hpp"
#include "lib/log.hpp"

namespace hv::boot {
namespace {
// Real firmware maps have tens to a few hundred descriptors of 40-48 bytes each.
alignas(16) constinit u8 g_descriptors[96 * 1024]{};
constinit Memory_region g_regions[2048]{};
} // namespace

Efi_memory_map read_memory_map(EFI_SYSTEM_TABLE* st) {
  Efi_memory_map map;
  UINTN size = sizeof g_descriptors;
  UINTN descriptor_size = 0;
  UINT32 descriptor_version = 0;
  map.status = uefi_call_wrapper(st->BootServices->GetMemoryMap, 5, &size,
                                 reinterpret_cast<EFI_MEMORY_DESCRIPTOR*>(g_descriptors), &map.key,
                                 &descriptor_size, &descriptor_version);
  if (EFI_ERROR(map.status)) return map;
  if (descriptor_size < sizeof(EFI_MEMORY_DESCRIPTOR)) {
    map.status = EFI_INCOMPATIBLE_VERSION;
    return map;
  }
  // Walk by descriptor_size, never by sizeof: firmware may append fields (UEFI 2.10 7.2).
  usize count = 0;
  for (UINTN off = 0; off + descriptor_size <= size && count < sizeof g_regions / sizeof g_regions[0];
       off += descriptor_size) {
    const auto* d = reinterpret_cast<const EFI_MEMORY_DESCRIPTOR*>(g_descriptors + off);
    g_regions[count++] = Memory_region{Hpa(d->PhysicalStart), d->NumberOfPages, static_cast<Memory_type>(d->Type),
                                       d->Attribute};
  }
  map.regions = std::span<const Memory_region>(g_regions, count);
  return map;
}

EFI_STATUS exit_boot_services(EFI_HANDLE image, EFI_SYSTEM_TABLE* st, Efi_memory_map& out, u32& attempts) {
  constexpr u32 max_attempts = 8;
  EFI_STATUS status = EFI_INVALID_PARAMETER;
  for (attempts = 1; attempts <= max_attempts; ++attempts) {
    out = read_memory_map(st);
    if (EFI_ERROR(out.status)) return out.status;
    status = uefi_call_wrapper(st->BootServices->ExitBootServices, 2, image, out.key);
    if (status == EFI_SUCCESS) return status;
    if (status != EFI_INVALID_PARAMETER) return status; // anything but a stale key is final
  }
  return status;
}

void ucs2_to_ascii(const CHAR16* in, char* out, usize capacity) {
  usize i = 0;
  if (in) {
    for (; in[i] != 0 && i + 1 < capacity; ++i) out[i] = in[i] < 0x80 ? static_cast<char>(in[i]) : '?';
  }
  out[i] = '\0';
}

} // namespace hv::boot
