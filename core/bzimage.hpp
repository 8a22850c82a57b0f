// core/bzimage.hpp - the Linux x86 boot protocol's setup header (Documentation/arch/x86/boot.rst
// in the kernel tree): finding and checking it in a bzImage file. Both builds; pure (the result
// points into the caller's bytes, nothing is written).
//
// What it accepts: a file with the 0xAA55 boot flag at 0x1FE and "HdrS" at 0x202, boot protocol
// 2.12 or later (xloadflags), loaded high (LOADED_HIGH: a bzImage, not a zImage), a 64-bit entry
// point (XLF_KERNEL_64), a relocatable kernel or one whose preferred address is usable, setup
// sectors and the protected-mode part inside the file, a kernel_alignment that is a power of two
// of at least 4 KiB, and an init_size no smaller than the protected-mode part. Every field the
// file controls is bounds-checked before it is used.
#pragma once
#include "arch/x86/types.hpp"
#include <span>

namespace hv {

// Offsets in the file (and in boot_params, where the setup header is copied at the same place).
namespace setup_header {
inline constexpr usize setup_sects = 0x1F1;       // u8; 0 means 4
inline constexpr usize boot_flag = 0x1FE;         // u16 0xAA55
inline constexpr usize jump = 0x200;              // u8 0xEB, then the header's length - 0x202 at 0x201
inline constexpr usize header = 0x202;            // "HdrS"
inline constexpr usize version = 0x206;           // u16
inline constexpr usize type_of_loader = 0x210;    // u8
inline constexpr usize loadflags = 0x211;         // u8
inline constexpr usize code32_start = 0x214;      // u32
inline constexpr usize ramdisk_image = 0x218;     // u32
inline constexpr usize ramdisk_size = 0x21C;      // u32
inline constexpr usize heap_end_ptr = 0x224;      // u16
inline constexpr usize cmd_line_ptr = 0x228;      // u32
inline constexpr usize initrd_addr_max = 0x22C;   // u32
inline constexpr usize kernel_alignment = 0x230;  // u32
inline constexpr usize relocatable_kernel = 0x234;  // u8
inline constexpr usize min_alignment = 0x235;     // u8 (log2)
inline constexpr usize xloadflags = 0x236;        // u16
inline constexpr usize cmdline_size = 0x238;      // u32
inline constexpr usize pref_address = 0x258;      // u64
inline constexpr usize init_size = 0x260;         // u32
inline constexpr usize end_min = 0x264;           // the fields above, all of them (protocol 2.10+)

inline constexpr u16 boot_flag_value = 0xAA55;
inline constexpr u32 header_magic = 0x53726448;   // "HdrS"
inline constexpr u8 loaded_high = 1u << 0;
inline constexpr u8 keep_segments = 1u << 6;
inline constexpr u8 can_use_heap = 1u << 7;
inline constexpr u16 xlf_kernel_64 = 1u << 0;
inline constexpr u16 xlf_can_be_loaded_above_4g = 1u << 1;
inline constexpr u16 min_version = 0x020C;        // 2.12: xloadflags
} // namespace setup_header

enum class Bzimage_error : u8 {
  none,
  too_small,               // shorter than the setup header
  not_a_bzimage,           // no boot flag or no "HdrS": not a Linux kernel
  protocol_too_old,        // boot protocol below 2.12
  not_loaded_high,         // a zImage (loaded at 0x10000), not a bzImage
  no_64bit_entry,          // XLF_KERNEL_64 clear: the kernel cannot be entered in long mode
  setup_outside_file,      // setup sectors (or the header's own length) beyond the file
  no_protected_mode_part,  // nothing after the setup sectors
  bad_alignment,           // kernel_alignment not a power of two >= 4 KiB, or below min_alignment
  bad_init_size,           // init_size smaller than the protected-mode part
};
[[nodiscard]] const char* bzimage_error_message(Bzimage_error error);

struct Bzimage {
  u16 version = 0;                   // boot protocol, e.g. 0x020F
  u8 loadflags = 0;
  u16 xloadflags = 0;
  bool relocatable = false;
  u64 pref_address = 0;              // where the kernel wants to run (its link address)
  u64 kernel_alignment = 0;          // a relocated kernel's load address must be a multiple of it
  u64 min_alignment = 0;
  u64 init_size = 0;                 // memory the kernel needs from its load address while it starts
  u64 initrd_addr_max = 0;           // highest address the initrd's last byte may have
  u64 cmdline_size = 0;              // longest command line, without the NUL
  std::span<const u8> setup_header;  // file bytes [0x1F1, header end): copied into boot_params
  std::span<const u8> kernel;        // the protected-mode part: loaded at the load address
};

// Checks `file` and describes it. Returns none, or the first problem found.
[[nodiscard]] Bzimage_error parse_bzimage(std::span<const u8> file, Bzimage& out);

// True if `file` starts like a Linux boot image (boot flag and "HdrS"), valid or not: a loader
// uses it to pick the bzImage path and report that path's errors.
[[nodiscard]] bool looks_like_bzimage(std::span<const u8> file);

} // namespace hv
