// core/guest_loader.cpp - see guest_loader.hpp. Both builds.
#include "core/guest_loader.hpp"
#include "arch/x86/msr.hpp"
#include "arch/x86/page_table_entry.hpp"
#include "arch/x86/segment_descriptor.hpp"
#include "devices/hypercall.hpp"
#include <cstring>

namespace hv {

const char* load_error_message(Load_error error) {
  switch (error) {
  case Load_error::none: return "loaded";
  case Load_error::bad_elf: return "the image is not a valid test-guest ELF64 file";
  case Load_error::image_below_1mib: return "an image segment lies below 1 MiB, where hv puts the guest's tables";
  case Load_error::not_identity_mapped: return "an image segment's virtual address differs from its physical address";
  case Load_error::memory_too_small: return "the VM's memory is too small for its image";
  case Load_error::memory_too_large: return "the VM's memory is above the 64 GiB the loader maps";
  case Load_error::write_failed: return "writing the image into guest memory failed (out of host memory?)";
  }
  return "?";
}

namespace {

template <typename T>
bool write_object(Guest_physical_writer& m, u64 gpa, const T& object) {
  return m.write(Gpa(gpa), std::span<const u8>(reinterpret_cast<const u8*>(&object), sizeof object));
}

void copy_string(char* dst, usize capacity, std::string_view s) {
  const usize n = s.size() < capacity - 1 ? s.size() : capacity - 1;
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

} // namespace

bool write_identity_page_tables(Guest_physical_writer& m, u64 memory_bytes) {
  namespace pte = x86::pte;
  const u64 gib = (memory_bytes + GiB - 1) / GiB;
  const u64 pml4e = guest_layout::pdpt | pte::P | pte::RW | pte::US;
  if (!write_object(m, guest_layout::pml4, pml4e)) return false;
  for (u64 g = 0; g < gib; ++g) {
    const u64 pdpte = (guest_layout::page_directories + g * page_size_4k) | pte::P | pte::RW | pte::US;
    if (!write_object(m, guest_layout::pdpt + g * 8, pdpte)) return false;
    u64 pd[512] = {};
    for (u64 i = 0; i < 512; ++i) {
      const u64 base = g * GiB + i * page_size_2m;
      if (base >= memory_bytes) break;
      pd[i] = base | pte::P | pte::RW | pte::US | pte::PS | pte::A | pte::D;
    }
    if (!write_object(m, guest_layout::page_directories + g * page_size_4k, pd)) return false;
  }
  return true;
}

Guest_load_result load_guest(const Guest_load_request& req, Guest_physical_writer& m) {
  Guest_load_result out;
  if (req.memory_bytes > guest_layout::max_memory) { out.error = Load_error::memory_too_large; return out; }
  if (req.memory_bytes < guest_layout::image_min + page_size_2m || req.memory_bytes % page_size_2m) {
    out.error = Load_error::memory_too_small;
    return out;
  }
  Elf_image elf;
  out.elf_error = parse_elf64(req.image, req.memory_bytes, elf);
  if (out.elf_error != Elf_error::none) { out.error = Load_error::bad_elf; return out; }

  for (usize i = 0; i < elf.segment_count; ++i) {
    const Elf_segment& s = elf.segments[i];
    if (s.paddr < guest_layout::image_min) { out.error = Load_error::image_below_1mib; return out; }
    if (s.vaddr != s.paddr) { out.error = Load_error::not_identity_mapped; return out; }
    if (!s.file_bytes.empty() && !m.write(Gpa(s.paddr), s.file_bytes)) { out.error = Load_error::write_failed; return out; }
    const u64 end = s.paddr + s.memory_size;
    if (end > out.image_end) out.image_end = end;
  }
  if (out.image_end + page_size_4k > req.memory_bytes) { out.error = Load_error::memory_too_small; return out; }

  // GDT: null, 64-bit code (0x08), data (0x10), a TSS descriptor (0x18) for the guest's TR.
  u64 gdt[5] = {0, x86::gdt_code64, x86::gdt_data, 0, 0};
  const x86::Tss_descriptor tss = x86::make_tss_descriptor(0, 0x67);
  gdt[3] = tss.low | (1ull << 41);  // busy, as the guest-state TR says
  gdt[4] = tss.high;
  Boot_info info{};
  info.magic = boot_info_magic;
  info.version = boot_info_version;
  info.vm_id = req.vm_id;
  info.memory_bytes = req.memory_bytes;
  info.free_start = (out.image_end + page_size_4k - 1) & ~(page_size_4k - 1);
  info.hypercall_version = hypercall_interface_version;
  info.vcpu_index = 0;
  copy_string(info.name, sizeof info.name, req.name);
  copy_string(info.args, sizeof info.args, req.args);
  if (!write_object(m, guest_layout::gdt, gdt) || !write_object(m, guest_layout::boot_info, info) ||
      !write_identity_page_tables(m, req.memory_bytes)) {
    out.error = Load_error::write_failed;
    return out;
  }

  Guest_start_state& s = out.start;
  s = long_mode_start_state(sizeof gdt);
  s.rip = elf.entry;
  s.rsi = guest_layout::boot_info;
  s.efer |= msr::EFER_NXE;
  return out;
}

Guest_start_state long_mode_start_state(u64 gdt_bytes) {
  Guest_start_state s;
  s.rsp = guest_layout::stack_top;
  s.rflags = 0x2;
  s.cr0 = (1ull << 0) | (1ull << 1) | (1ull << 4) | (1ull << 5) | (1ull << 16) | (1ull << 31);  // PE MP ET NE WP PG
  s.cr3 = guest_layout::pml4;
  s.cr4 = 1ull << 5;  // PAE
  s.efer = msr::EFER_LME | msr::EFER_LMA;
  s.gdtr_base = guest_layout::gdt;
  s.gdtr_limit = static_cast<u16>(gdt_bytes - 1);
  return s;
}

} // namespace hv
