// core/bzimage.cpp - see bzimage.hpp. Both builds.
#include "core/bzimage.hpp"
#include <cstring>

namespace hv {

const char* bzimage_error_message(Bzimage_error error) {
  switch (error) {
  case Bzimage_error::none: return "a valid bzImage";
  case Bzimage_error::too_small: return "the file is too short to hold a Linux setup header";
  case Bzimage_error::not_a_bzimage: return "not a Linux kernel (no 0xAA55 boot flag and \"HdrS\" setup header)";
  case Bzimage_error::protocol_too_old: return "the kernel's boot protocol is older than 2.12 (hv needs xloadflags and the 64-bit entry)";
  case Bzimage_error::not_loaded_high: return "a zImage (loaded below 1 MiB), not a bzImage";
  case Bzimage_error::no_64bit_entry: return "the kernel has no 64-bit entry point (XLF_KERNEL_64 clear)";
  case Bzimage_error::setup_outside_file: return "the setup sectors reach beyond the end of the file";
  case Bzimage_error::no_protected_mode_part: return "the file holds nothing after its setup sectors";
  case Bzimage_error::bad_alignment: return "kernel_alignment is not a power of two of at least 4 KiB";
  case Bzimage_error::bad_init_size: return "init_size is smaller than the kernel itself";
  }
  return "?";
}

namespace {

template <typename T>
T field(std::span<const u8> f, usize offset) {
  T v;
  std::memcpy(&v, f.data() + offset, sizeof v);
  return v;
}

constexpr bool power_of_two(u64 v) { return v != 0 && (v & (v - 1)) == 0; }

} // namespace

bool looks_like_bzimage(std::span<const u8> file) {
  namespace h = setup_header;
  return file.size() >= h::header + 4 && field<u16>(file, h::boot_flag) == h::boot_flag_value &&
         field<u32>(file, h::header) == h::header_magic;
}

Bzimage_error parse_bzimage(std::span<const u8> file, Bzimage& out) {
  namespace h = setup_header;
  out = Bzimage{};
  if (file.size() < h::header + 4) return Bzimage_error::too_small;
  if (!looks_like_bzimage(file)) return Bzimage_error::not_a_bzimage;
  out.version = field<u16>(file, h::version);
  if (out.version < h::min_version) return Bzimage_error::protocol_too_old;
  // The header runs to 0x202 + the jump's displacement (its second byte); 2.12 needs at least
  // the fields up to init_size.
  const usize header_end = h::header + file[h::jump + 1];
  if (header_end < h::end_min) return Bzimage_error::protocol_too_old;
  if (header_end > file.size()) return Bzimage_error::setup_outside_file;
  out.loadflags = field<u8>(file, h::loadflags);
  if (!(out.loadflags & h::loaded_high)) return Bzimage_error::not_loaded_high;
  out.xloadflags = field<u16>(file, h::xloadflags);
  if (!(out.xloadflags & h::xlf_kernel_64)) return Bzimage_error::no_64bit_entry;

  const usize sects = file[h::setup_sects] == 0 ? 4 : file[h::setup_sects];
  const usize setup_bytes = (sects + 1) * 512;  // the boot sector and the setup sectors
  if (setup_bytes < header_end || setup_bytes > file.size()) return Bzimage_error::setup_outside_file;
  if (setup_bytes == file.size()) return Bzimage_error::no_protected_mode_part;

  out.relocatable = field<u8>(file, h::relocatable_kernel) != 0;
  out.kernel_alignment = field<u32>(file, h::kernel_alignment);
  const u8 min_log2 = field<u8>(file, h::min_alignment);
  out.min_alignment = min_log2 < 32 ? u64{1} << min_log2 : 0;
  if (!power_of_two(out.kernel_alignment) || out.kernel_alignment < page_size_4k || out.min_alignment == 0 ||
      out.min_alignment > out.kernel_alignment)
    return Bzimage_error::bad_alignment;
  out.pref_address = field<u64>(file, h::pref_address);
  out.init_size = field<u32>(file, h::init_size);
  out.initrd_addr_max = field<u32>(file, h::initrd_addr_max);
  out.cmdline_size = field<u32>(file, h::cmdline_size);
  out.setup_header = file.subspan(h::setup_sects, header_end - h::setup_sects);
  out.kernel = file.subspan(setup_bytes);
  if (out.init_size < out.kernel.size()) return Bzimage_error::bad_init_size;
  return Bzimage_error::none;
}

} // namespace hv
