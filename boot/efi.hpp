// boot/efi.hpp - the one place <efi.h> enters the project (DESIGN.md: only boot/ includes it),
// plus the boot-internal interfaces between the files of boot/. Freestanding build only.
#pragma once
extern "C" {
#include <efi.h>
}
#include "arch/x86/address.hpp"
#include "mm/memory_map.hpp"
#include <span>

namespace hv::boot {

// The memory map as UEFI gave it, converted. `key` is the map key for ExitBootServices.
struct Efi_memory_map {
  std::span<const Memory_region> regions;
  UINTN key = 0;
  EFI_STATUS status = EFI_SUCCESS;
};

// Reads the current map into static storage (valid until the next call). Allocates nothing,
// so it is safe between a failed ExitBootServices and the retry.
[[nodiscard]] Efi_memory_map read_memory_map(EFI_SYSTEM_TABLE* st);

// ExitBootServices with the map-key retry loop (UEFI 2.10 7.4: the key goes stale whenever the
// firmware changes the map; fetch the map again and retry). On success `out` is the final map.
[[nodiscard]] EFI_STATUS exit_boot_services(EFI_HANDLE image, EFI_SYSTEM_TABLE* st, Efi_memory_map& out,
                                            u32& attempts);

// The ACPI RSDP from the configuration table (ACPI 2.0 GUID preferred), or 0.
[[nodiscard]] Hpa find_rsdp(EFI_SYSTEM_TABLE* st);

// Copies a UCS-2 firmware string into ASCII ('?' for anything else).
void ucs2_to_ascii(const CHAR16* in, char* out, usize capacity);

} // namespace hv::boot
