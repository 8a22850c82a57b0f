// core/guest_loader.hpp - starting a 64-bit test guest (docs/guest-boot.md): the ELF image's
// segments copied into guest memory, a GDT, identity page tables over all guest RAM with 2 MiB
// pages, the boot-info block, and the register state at the entry point. Both builds: guest
// memory is reached through Guest_physical_writer, so tests load into a plain buffer.
#pragma once
#include "core/elf64.hpp"
#include "core/guest_boot_info.hpp"
#include "vmx/vmcs_setup.hpp"
#include <span>
#include <string_view>

namespace hv {

// Writes bytes into a VM's guest-physical memory. Guest RAM starts zeroed (demand population
// hands out zeroed frames), so the loader writes only non-zero content.
class Guest_physical_writer {
public:
  [[nodiscard]] virtual bool write(Gpa gpa, std::span<const u8> bytes) = 0;

protected:
  ~Guest_physical_writer() = default;
};

// The fixed low-memory layout the loader builds (all below the image, which starts at >= 1 MiB).
namespace guest_layout {
inline constexpr u64 gdt = 0x1000;
inline constexpr u64 boot_info = 0x2000;
inline constexpr u64 pml4 = 0x3000;
inline constexpr u64 pdpt = 0x4000;
inline constexpr u64 page_directories = 0x5000;  // one per GiB of guest RAM
inline constexpr u64 max_memory = 64 * GiB;      // 64 page directories end at 0x45000
inline constexpr u64 stack_top = 0x80000;        // grows down towards the page directories
inline constexpr u64 image_min = 0x100000;       // images may not load below 1 MiB
} // namespace guest_layout

enum class Load_error : u8 {
  none,
  bad_elf,            // see `elf_error`
  image_below_1mib,   // a segment overlaps the loader's low-memory area
  not_identity_mapped,  // a segment's p_vaddr differs from its p_paddr (guests run identity-mapped)
  memory_too_small,   // the image or the low-memory layout does not fit
  memory_too_large,   // above guest_layout::max_memory
  write_failed,       // guest memory refused a write (out of host memory)
};
[[nodiscard]] const char* load_error_message(Load_error error);

struct Guest_load_request {
  std::span<const u8> image;
  u64 memory_bytes = 0;     // multiple of 2 MiB
  u32 vm_id = 0;
  std::string_view name;
  std::string_view args;
};

struct Guest_load_result {
  Load_error error = Load_error::none;
  Elf_error elf_error = Elf_error::none;
  Guest_start_state start;
  u64 image_end = 0;        // first byte after the highest segment
};

// PML4 at guest_layout::pml4, PDPT, one page directory per GiB: [0, memory_bytes) identity-mapped
// with 2 MiB pages (P, RW, US, A, D). False if a write failed.
[[nodiscard]] bool write_identity_page_tables(Guest_physical_writer& memory, u64 memory_bytes);

// Long mode on the loader's identity tables and its GDT at guest_layout::gdt (`gdt_bytes` long):
// CR0 PE MP ET NE WP PG, CR4 PAE, EFER LME LMA, interrupts off, RSP at the loader's stack; the
// caller sets RIP, RSI, EFER.NXE and the selectors when they differ.
[[nodiscard]] Guest_start_state long_mode_start_state(u64 gdt_bytes);

[[nodiscard]] Guest_load_result load_guest(const Guest_load_request& request, Guest_physical_writer& memory);

} // namespace hv
