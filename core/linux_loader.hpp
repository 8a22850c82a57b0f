// core/linux_loader.hpp - starting an unmodified Linux kernel through the x86 64-bit boot
// protocol (docs/guest-boot.md): the bzImage's protected-mode part at its load address, the
// zero page (boot_params: the setup header, the e820 map, the command line and initrd
// pointers), the initrd near the top of RAM, a GDT with the selectors the protocol names
// (__BOOT_CS 0x10, __BOOT_DS 0x18), identity page tables over all guest RAM, and the registers
// at the 64-bit entry point (load address + 0x200, RSI = boot_params). Both builds.
#pragma once
#include "core/bzimage.hpp"
#include "core/guest_loader.hpp"
#include <string_view>

namespace hv {

namespace linux_layout {
inline constexpr u64 boot_params = 0x4A000;      // the zero page (above the page directories)
inline constexpr u64 cmdline = 0x4B000;          // NUL-terminated
inline constexpr u64 cmdline_max = 4095;         // bytes without the NUL (the kernel may allow fewer)
inline constexpr u64 low_ram_end = 0x9F000;      // RAM below here; [low_ram_end, 1 MiB) reserved (EBDA, VGA, BIOS)
inline constexpr u16 boot_cs = 0x10, boot_ds = 0x18, boot_tr = 0x20;
// boot_params fields hv writes besides the setup header (struct boot_params, arch/x86/include/uapi/asm/bootparam.h).
inline constexpr usize bp_acpi_rsdp_addr = 0x070;    // u64
inline constexpr usize bp_ext_ramdisk_image = 0x0C0; // u32: bits 63:32
inline constexpr usize bp_ext_ramdisk_size = 0x0C4;
inline constexpr usize bp_ext_cmd_line_ptr = 0x0C8;
inline constexpr usize bp_e820_entries = 0x1E8;      // u8
inline constexpr usize bp_e820_table = 0x2D0;        // 128 x {u64 addr, u64 size, u32 type}
inline constexpr usize e820_max_entries = 128;
inline constexpr u32 e820_ram = 1, e820_reserved = 2, e820_acpi = 3;
} // namespace linux_layout

// One e820 range the loader reports (besides the RAM it derives from memory_bytes).
struct E820_range {
  u64 address = 0, size = 0;
  u32 type = 0;
};

struct Linux_load_request {
  std::span<const u8> kernel;     // the bzImage file
  std::span<const u8> initrd;     // may be empty
  std::string_view cmdline;
  u64 memory_bytes = 0;           // RAM [0, memory_bytes), a multiple of 2 MiB
  u64 acpi_rsdp = 0;              // where hv put the RSDP (0: none)
  std::span<const E820_range> reserved;  // ranges inside RAM to report as reserved or ACPI (e.g. hv's tables)
};

enum class Linux_load_error : u8 {
  none,
  bad_kernel,          // see `kernel_error`
  memory_too_large,    // above guest_layout::max_memory
  kernel_too_large,    // load address + init_size beyond RAM
  no_load_address,     // not relocatable and its preferred address is unusable
  initrd_too_large,    // no room between the kernel's init_size and the top of RAM (or initrd_addr_max)
  cmdline_too_long,    // longer than the kernel's cmdline_size or the loader's page
  too_many_e820,       // more reserved ranges than boot_params holds
  write_failed,        // guest memory refused a write
};
[[nodiscard]] const char* linux_load_error_message(Linux_load_error error);

struct Linux_load_result {
  Linux_load_error error = Linux_load_error::none;
  Bzimage_error kernel_error = Bzimage_error::none;
  Bzimage kernel;
  Guest_start_state start;
  u64 load_address = 0;          // of the protected-mode part
  u64 kernel_end = 0;            // load_address + init_size
  u64 initrd_address = 0;        // 0 without an initrd
  u64 memory_needed = 0;         // for kernel_too_large / initrd_too_large: the RAM it would take
  u32 e820_entries = 0;
};

[[nodiscard]] Linux_load_result load_linux(const Linux_load_request& request, Guest_physical_writer& memory);

} // namespace hv
