// core/elf64.hpp - the ELF64 parser and validator for test-guest images. Both builds; pure (no
// memory is written, nothing is allocated: the result points into the caller's file bytes).
//
// What it accepts (the guest-loader contract, issue #4): a statically linked x86-64 executable,
//   ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ET_EXEC, EM_X86_64, e_phentsize = sizeof(Elf64_Phdr),
//   at most elf_max_program_headers program headers and elf_max_segments non-empty PT_LOAD
//   segments, no PT_INTERP or PT_DYNAMIC. For each PT_LOAD:
//   - p_filesz <= p_memsz, and [p_offset, p_offset + p_filesz) lies inside the file;
//   - [p_paddr, p_paddr + p_memsz) and [p_vaddr, p_vaddr + p_memsz) lie inside
//     [0, guest_physical_limit) (test guests run identity-mapped in low memory);
//   - p_align is 0, 1 or a power of two, p_vaddr = p_offset modulo p_align, and p_vaddr =
//     p_paddr modulo 4 KiB (so the loader's page tables can map the segment's pages);
//   - no two segments overlap, neither in physical nor in virtual addresses.
//   e_entry lies inside an executable (PF_X) PT_LOAD segment.
// Every sum of two file-controlled numbers is checked for overflow first. Segments with
// p_memsz = 0 carry nothing and are skipped. Other program header types are ignored.
#pragma once
#include "arch/x86/types.hpp"
#include <array>
#include <span>

namespace hv {

inline constexpr usize elf_max_program_headers = 64;
inline constexpr usize elf_max_segments = 16;

// p_flags
inline constexpr u32 elf_pf_x = 1u << 0;
inline constexpr u32 elf_pf_w = 1u << 1;
inline constexpr u32 elf_pf_r = 1u << 2;

enum class Elf_error : u8 {
  none,
  truncated_header,           // the file is shorter than the 64-byte ELF header
  bad_magic,                  // not "\x7fELF"
  not_64bit,                  // EI_CLASS is not ELFCLASS64
  not_little_endian,          // EI_DATA is not ELFDATA2LSB
  bad_version,                // EI_VERSION or e_version is not EV_CURRENT
  not_executable,             // e_type is not ET_EXEC
  not_x86_64,                 // e_machine is not EM_X86_64
  bad_header_size,            // e_ehsize is smaller than the ELF64 header
  bad_program_header_size,    // e_phentsize is not sizeof(Elf64_Phdr)
  too_many_program_headers,   // e_phnum above elf_max_program_headers (or PN_XNUM)
  program_headers_outside_file,
  needs_dynamic_loader,       // PT_INTERP or PT_DYNAMIC
  too_many_segments,          // more than elf_max_segments PT_LOAD segments
  file_size_exceeds_memory_size,
  segment_outside_file,       // p_offset + p_filesz beyond the file (or wrapping)
  segment_address_wraps,      // p_vaddr/p_paddr + p_memsz wraps around 2^64
  segment_outside_guest_memory,
  bad_alignment,              // p_align not a power of two, or p_vaddr != p_offset mod p_align
  physical_virtual_page_mismatch,  // p_vaddr != p_paddr modulo 4 KiB
  segments_overlap,
  no_loadable_segment,
  entry_not_executable,       // e_entry is in no PF_X PT_LOAD segment
};

struct Elf_segment {
  u64 paddr = 0;
  u64 vaddr = 0;
  std::span<const u8> file_bytes;  // p_filesz bytes of the file, to copy to paddr
  u64 memory_size = 0;             // p_memsz: bytes past file_bytes are zero-filled
  u32 flags = 0;                   // elf_pf_*
};

struct Elf_image {
  std::array<Elf_segment, elf_max_segments> segments{};
  usize segment_count = 0;
  u64 entry = 0;
  // On failure: which program header the error is about (or elf_max_program_headers).
  usize bad_program_header = elf_max_program_headers;
};

// Parses and validates `file`. On success returns Elf_error::none and fills `image`; on failure
// `image` holds no segments and the error says why.
[[nodiscard]] Elf_error parse_elf64(std::span<const u8> file, u64 guest_physical_limit, Elf_image& image);
// One sentence for the console ("the entry point is not inside an executable PT_LOAD segment").
[[nodiscard]] const char* elf_error_message(Elf_error error);
[[nodiscard]] const char* elf_error_name(Elf_error error);

} // namespace hv
