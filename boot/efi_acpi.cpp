// boot/efi_acpi.cpp - finds the ACPI RSDP in the UEFI configuration table. Freestanding only.
#include "boot/efi.hpp"

namespace hv::boot {
namespace {
bool same_guid(const EFI_GUID& a, const EFI_GUID& b) {
  const auto* x = reinterpret_cast<const u8*>(&a);
  const auto* y = reinterpret_cast<const u8*>(&b);
  for (usize i = 0; i < sizeof(EFI_GUID); ++i) {
    if (x[i] != y[i]) return false;
  }
  return true;
}
// UEFI 2.10 4.6.1: EFI_ACPI_20_TABLE_GUID and ACPI_TABLE_GUID (ACPI 1.0).
constexpr EFI_GUID acpi20_guid = {0x8868e871, 0xe4f1, 0x11d3, {0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81}};
constexpr EFI_GUID acpi10_guid = {0xeb9d2d30, 0x2d88, 0x11d3, {0x9a, 0x16, 0x00, 0x90, 0x27, 0x3f, 0xc1, 0x4d}};
} // namespace

Hpa find_rsdp(EFI_SYSTEM_TABLE* st) {
  Hpa acpi10;
  for (UINTN i = 0; i < st->NumberOfTableEntries; ++i) {
    const EFI_CONFIGURATION_TABLE& t = st->ConfigurationTable[i];
    const u64 address = reinterpret_cast<u64>(t.VendorTable);
    if (same_guid(t.VendorGuid, acpi20_guid)) return Hpa(address);
    if (same_guid(t.VendorGuid, acpi10_guid)) acpi10 = Hpa(address);
  }
  return acpi10;
}

} // namespace hv::boot
