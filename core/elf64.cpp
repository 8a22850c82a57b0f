// core/elf64.cpp - see elf64.hpp. Both builds. Field offsets are those of Elf64_Ehdr and
// Elf64_Phdr in the System V ABI (gABI "ELF Header", "Program Header").
#include "core/elf64.hpp"
#include <cstring>

namespace hv {
namespace {

constexpr usize ehdr_size = 64;
constexpr usize phdr_size = 56;
constexpr u16 et_exec = 2;
constexpr u16 em_x86_64 = 62;
constexpr u32 pt_load = 1;
constexpr u32 pt_dynamic = 2;
constexpr u32 pt_interp = 3;

template <typename T>
T field(std::span<const u8> bytes, usize offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);  // the caller checked offset + sizeof(T)
  return v;
}

// [begin, begin + size) and [other_begin, other_begin + other_size): both already known not to wrap.
constexpr bool overlaps(u64 begin, u64 size, u64 other_begin, u64 other_size) {
  return begin < other_begin + other_size && other_begin < begin + size;
}

struct Phdr {
  u32 type, flags;
  u64 offset, vaddr, paddr, filesz, memsz, align;
};

Phdr read_phdr(std::span<const u8> p) {
  return {field<u32>(p, 0),  field<u32>(p, 4),  field<u64>(p, 8),  field<u64>(p, 16),
          field<u64>(p, 24), field<u64>(p, 32), field<u64>(p, 40), field<u64>(p, 48)};
}

Elf_error check_header(std::span<const u8> f) {
  if (f.size() < ehdr_size) return Elf_error::truncated_header;
  if (f[0] != 0x7F || f[1] != 'E' || f[2] != 'L' || f[3] != 'F') return Elf_error::bad_magic;
  if (f[4] != 2) return Elf_error::not_64bit;          // EI_CLASS: ELFCLASS64
  if (f[5] != 1) return Elf_error::not_little_endian;  // EI_DATA: ELFDATA2LSB
  if (f[6] != 1) return Elf_error::bad_version;        // EI_VERSION: EV_CURRENT
  if (field<u16>(f, 16) != et_exec) return Elf_error::not_executable;
  if (field<u16>(f, 18) != em_x86_64) return Elf_error::not_x86_64;
  if (field<u32>(f, 20) != 1) return Elf_error::bad_version;
  if (field<u16>(f, 52) < ehdr_size) return Elf_error::bad_header_size;
  return Elf_error::none;
}

// One PT_LOAD against the rules of elf64.hpp and against the segments accepted before it.
Elf_error check_segment(const Phdr& ph, std::span<const u8> f, u64 limit, const Elf_image& image) {
  if (ph.filesz > ph.memsz) return Elf_error::file_size_exceeds_memory_size;
  if (ph.offset > f.size() || ph.filesz > f.size() - ph.offset) return Elf_error::segment_outside_file;
  if (ph.vaddr + ph.memsz < ph.vaddr || ph.paddr + ph.memsz < ph.paddr) return Elf_error::segment_address_wraps;
  if (ph.paddr + ph.memsz > limit || ph.vaddr + ph.memsz > limit) return Elf_error::segment_outside_guest_memory;
  if (ph.align > 1 && ((ph.align & (ph.align - 1)) != 0 || ph.vaddr % ph.align != ph.offset % ph.align))
    return Elf_error::bad_alignment;
  if ((ph.vaddr ^ ph.paddr) & (page_size_4k - 1)) return Elf_error::physical_virtual_page_mismatch;
  for (usize i = 0; i < image.segment_count; ++i) {
    const Elf_segment& s = image.segments[i];
    if (overlaps(ph.paddr, ph.memsz, s.paddr, s.memory_size) || overlaps(ph.vaddr, ph.memsz, s.vaddr, s.memory_size))
      return Elf_error::segments_overlap;
  }
  if (image.segment_count == elf_max_segments) return Elf_error::too_many_segments;
  return Elf_error::none;
}

Elf_error parse(std::span<const u8> f, u64 limit, Elf_image& image) {
  if (const Elf_error e = check_header(f); e != Elf_error::none) return e;
  const u64 entry = field<u64>(f, 24);
  const u64 phoff = field<u64>(f, 32);
  const u16 phentsize = field<u16>(f, 54);
  const u16 phnum = field<u16>(f, 56);
  if (phnum == 0) return Elf_error::no_loadable_segment;
  if (phnum > elf_max_program_headers) return Elf_error::too_many_program_headers;  // PN_XNUM too
  if (phentsize != phdr_size) return Elf_error::bad_program_header_size;
  const u64 table_bytes = u64{phnum} * phdr_size;  // <= 64 * 56: cannot overflow
  if (phoff > f.size() || table_bytes > f.size() - phoff) return Elf_error::program_headers_outside_file;

  for (usize i = 0; i < phnum; ++i) {
    image.bad_program_header = i;
    const Phdr ph = read_phdr(f.subspan(phoff + i * phdr_size, phdr_size));
    if (ph.type == pt_interp || ph.type == pt_dynamic) return Elf_error::needs_dynamic_loader;
    if (ph.type != pt_load) continue;
    if (ph.memsz == 0 && ph.filesz == 0) continue;  // carries nothing
    if (const Elf_error e = check_segment(ph, f, limit, image); e != Elf_error::none) return e;
    Elf_segment& s = image.segments[image.segment_count++];
    s.paddr = ph.paddr;
    s.vaddr = ph.vaddr;
    s.file_bytes = f.subspan(ph.offset, ph.filesz);
    s.memory_size = ph.memsz;
    s.flags = ph.flags;
  }
  image.bad_program_header = elf_max_program_headers;
  if (image.segment_count == 0) return Elf_error::no_loadable_segment;
  for (usize i = 0; i < image.segment_count; ++i) {
    const Elf_segment& s = image.segments[i];
    if ((s.flags & elf_pf_x) && entry >= s.vaddr && entry - s.vaddr < s.memory_size) {
      image.entry = entry;
      return Elf_error::none;
    }
  }
  return Elf_error::entry_not_executable;
}

} // namespace

Elf_error parse_elf64(std::span<const u8> file, u64 guest_physical_limit, Elf_image& image) {
  image = Elf_image{};
  const Elf_error e = parse(file, guest_physical_limit, image);
  if (e != Elf_error::none) {
    const usize bad = image.bad_program_header;
    image = Elf_image{};
    image.bad_program_header = bad;
  }
  return e;
}

const char* elf_error_name(Elf_error error) {
  switch (error) {
  case Elf_error::none: return "none";
  case Elf_error::truncated_header: return "truncated_header";
  case Elf_error::bad_magic: return "bad_magic";
  case Elf_error::not_64bit: return "not_64bit";
  case Elf_error::not_little_endian: return "not_little_endian";
  case Elf_error::bad_version: return "bad_version";
  case Elf_error::not_executable: return "not_executable";
  case Elf_error::not_x86_64: return "not_x86_64";
  case Elf_error::bad_header_size: return "bad_header_size";
  case Elf_error::bad_program_header_size: return "bad_program_header_size";
  case Elf_error::too_many_program_headers: return "too_many_program_headers";
  case Elf_error::program_headers_outside_file: return "program_headers_outside_file";
  case Elf_error::needs_dynamic_loader: return "needs_dynamic_loader";
  case Elf_error::too_many_segments: return "too_many_segments";
  case Elf_error::file_size_exceeds_memory_size: return "file_size_exceeds_memory_size";
  case Elf_error::segment_outside_file: return "segment_outside_file";
  case Elf_error::segment_address_wraps: return "segment_address_wraps";
  case Elf_error::segment_outside_guest_memory: return "segment_outside_guest_memory";
  case Elf_error::bad_alignment: return "bad_alignment";
  case Elf_error::physical_virtual_page_mismatch: return "physical_virtual_page_mismatch";
  case Elf_error::segments_overlap: return "segments_overlap";
  case Elf_error::no_loadable_segment: return "no_loadable_segment";
  case Elf_error::entry_not_executable: return "entry_not_executable";
  }
  return "?";
}

const char* elf_error_message(Elf_error error) {
  switch (error) {
  case Elf_error::none: return "valid";
  case Elf_error::truncated_header: return "the file is shorter than an ELF64 header (64 bytes)";
  case Elf_error::bad_magic: return "not an ELF file (no \\x7fELF magic)";
  case Elf_error::not_64bit: return "not a 64-bit ELF file (EI_CLASS is not ELFCLASS64)";
  case Elf_error::not_little_endian: return "not little-endian (EI_DATA is not ELFDATA2LSB)";
  case Elf_error::bad_version: return "unknown ELF version (EI_VERSION or e_version is not 1)";
  case Elf_error::not_executable: return "not an executable (e_type is not ET_EXEC; link with -static, no PIE)";
  case Elf_error::not_x86_64: return "not an x86-64 file (e_machine is not EM_X86_64)";
  case Elf_error::bad_header_size: return "e_ehsize is smaller than the ELF64 header";
  case Elf_error::bad_program_header_size: return "e_phentsize is not 56 (the size of Elf64_Phdr)";
  case Elf_error::too_many_program_headers: return "too many program headers (at most 64)";
  case Elf_error::program_headers_outside_file: return "the program header table lies outside the file";
  case Elf_error::needs_dynamic_loader: return "the file needs a dynamic loader (PT_INTERP or PT_DYNAMIC)";
  case Elf_error::too_many_segments: return "too many PT_LOAD segments (at most 16)";
  case Elf_error::file_size_exceeds_memory_size: return "a PT_LOAD segment has p_filesz > p_memsz";
  case Elf_error::segment_outside_file: return "a PT_LOAD segment's file bytes lie outside the file";
  case Elf_error::segment_address_wraps: return "a PT_LOAD segment's address range wraps around";
  case Elf_error::segment_outside_guest_memory: return "a PT_LOAD segment lies outside the guest's memory";
  case Elf_error::bad_alignment: return "a PT_LOAD segment's p_align is not a power of two or p_vaddr and p_offset disagree modulo it";
  case Elf_error::physical_virtual_page_mismatch: return "a PT_LOAD segment's p_vaddr and p_paddr differ within a 4 KiB page";
  case Elf_error::segments_overlap: return "two PT_LOAD segments overlap";
  case Elf_error::no_loadable_segment: return "no PT_LOAD segment";
  case Elf_error::entry_not_executable: return "the entry point is not inside an executable PT_LOAD segment";
  }
  return "?";
}

} // namespace hv
