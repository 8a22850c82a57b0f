// boot/host_space.hpp - the hypervisor's own address space (see host_address_space.cpp).
// Freestanding build only.
#pragma once
#include "boot/efi.hpp"

namespace hv::boot {

// Reserves the pool the host page tables are built from (loader data below 4 GiB).
// Before ExitBootServices.
[[nodiscard]] bool reserve_host_space_pool(EFI_SYSTEM_TABLE* st);
// Builds the identity map with W^X for hv's image and loads it into CR3 on this CPU.
[[nodiscard]] bool switch_to_host_page_tables(std::span<const Memory_region> map, u64 trampoline_page);

} // namespace hv::boot
