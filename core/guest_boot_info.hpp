// core/guest_boot_info.hpp - the boot-info block a 64-bit test guest finds at RSI when it starts
// (docs/guest-boot.md). Shared by the hypervisor's loader and the guests. Layout is ABI:
// only append fields, bump boot_info_version.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

inline constexpr u64 boot_info_magic = 0x4F464E49544F4F42ull;  // "BOOTINFO"
inline constexpr u32 boot_info_version = 1;

struct Boot_info {
  u64 magic;
  u32 version;
  u32 vm_id;
  u64 memory_bytes;        // guest RAM: [0, memory_bytes)
  u64 free_start;          // first byte the guest may use freely (after image, tables, stack)
  u32 hypercall_version;   // of the VMCALL interface (docs/hypercalls.md)
  u32 vcpu_index;
  char name[32];           // the VM's name, NUL-terminated
  char args[64];           // the VM's `args` from the configuration, NUL-terminated
};
static_assert(sizeof(Boot_info) == 136);

} // namespace hv
