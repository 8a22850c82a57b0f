// core/linux_loader.cpp - see linux_loader.hpp. Both builds.
#include "core/linux_loader.hpp"
#include "arch/x86/segment_descriptor.hpp"
#include <cstring>

namespace hv {

const char* linux_load_error_message(Linux_load_error error) {
  switch (error) {
  case Linux_load_error::none: return "loaded";
  case Linux_load_error::bad_kernel: return "not a usable bzImage";
  case Linux_load_error::memory_too_large: return "the VM's memory is above the 64 GiB the loader maps";
  case Linux_load_error::kernel_too_large: return "the VM's memory is too small for the kernel (its init_size from the load address)";
  case Linux_load_error::no_load_address: return "the kernel is not relocatable and its preferred load address is not usable";
  case Linux_load_error::initrd_too_large: return "the initrd does not fit between the kernel and the top of the VM's memory";
  case Linux_load_error::cmdline_too_long: return "the command line is longer than the kernel accepts";
  case Linux_load_error::too_many_e820: return "too many memory ranges for the e820 map";
  case Linux_load_error::write_failed: return "writing the kernel into guest memory failed (out of host memory?)";
  }
  return "?";
}

namespace {

namespace L = linux_layout;

// Guest RAM starts zeroed: the zero page is written field by field, no 4 KiB copy on hv's stack.
template <typename T>
bool put(Guest_physical_writer& m, u64 gpa, T value) {
  u8 bytes[sizeof value];
  std::memcpy(bytes, &value, sizeof value);
  return m.write(Gpa(gpa), bytes);
}

constexpr u64 align_up(u64 v, u64 a) { return (v + a - 1) & ~(a - 1); }

// Where the protected-mode part goes: its preferred address when that is aligned and in RAM
// above 1 MiB; else (relocatable) the first kernel_alignment boundary at or above 16 MiB, the
// usual CONFIG_PHYSICAL_START, or failing that above 1 MiB. 0: nowhere.
u64 choose_load_address(const Bzimage& k, u64 memory_bytes) {
  const u64 pref = k.pref_address;
  auto fits = [&](u64 at) { return at >= MiB && at % k.min_alignment == 0 && at + k.init_size <= memory_bytes && at + k.init_size > at; };
  if (pref % k.kernel_alignment == 0 && fits(pref)) return pref;
  if (!k.relocatable) return fits(pref) ? pref : 0;
  for (const u64 floor : {16 * MiB, MiB}) {
    const u64 at = align_up(floor, k.kernel_alignment);
    if (fits(at)) return at;
  }
  return 0;
}

// The e820 map: RAM [0, low_ram_end), reserved up to 1 MiB, RAM from 1 MiB to the end, with the
// request's ranges cut out of the RAM and listed with their own types, in address order.
Linux_load_error build_e820(const Linux_load_request& req, Guest_physical_writer& m, u32& count) {
  E820_range out[L::e820_max_entries];
  usize n = 0;
  auto add = [&](u64 a, u64 e, u32 type) {
    if (e <= a) return true;
    if (n == L::e820_max_entries) return false;
    out[n++] = E820_range{a, e - a, type};
    return true;
  };
  // Cut the reserved ranges (any order, may overlap nothing else) out of [1 MiB, memory_bytes).
  u64 cursor = MiB;
  if (!add(0, L::low_ram_end, L::e820_ram) || !add(L::low_ram_end, MiB, L::e820_reserved))
    return Linux_load_error::too_many_e820;
  for (;;) {
    const E820_range* next = nullptr;
    for (const E820_range& r : req.reserved)
      if (r.address >= cursor && r.size && (!next || r.address < next->address)) next = &r;
    if (!next) break;
    if (!add(cursor, next->address < req.memory_bytes ? next->address : req.memory_bytes, L::e820_ram) ||
        !add(next->address, next->address + next->size, next->type))
      return Linux_load_error::too_many_e820;
    cursor = next->address + next->size;
  }
  if (!add(cursor, req.memory_bytes, L::e820_ram)) return Linux_load_error::too_many_e820;
  const u64 table = L::boot_params + L::bp_e820_table;
  for (usize i = 0; i < n; ++i) {
    if (!put(m, table + i * 20, out[i].address) || !put(m, table + i * 20 + 8, out[i].size) ||
        !put(m, table + i * 20 + 16, out[i].type))
      return Linux_load_error::write_failed;
  }
  count = static_cast<u32>(n);
  return put(m, L::boot_params + L::bp_e820_entries, static_cast<u8>(n)) ? Linux_load_error::none
                                                                          : Linux_load_error::write_failed;
}

bool write_bytes(Guest_physical_writer& m, u64 gpa, std::span<const u8> bytes) {
  return bytes.empty() || m.write(Gpa(gpa), bytes);
}

} // namespace

Linux_load_result load_linux(const Linux_load_request& req, Guest_physical_writer& m) {
  namespace h = setup_header;
  Linux_load_result out;
  auto fail = [&](Linux_load_error e) { out.error = e; return out; };
  out.kernel_error = parse_bzimage(req.kernel, out.kernel);
  if (out.kernel_error != Bzimage_error::none) return fail(Linux_load_error::bad_kernel);
  const Bzimage& k = out.kernel;
  if (req.memory_bytes > guest_layout::max_memory) return fail(Linux_load_error::memory_too_large);
  out.load_address = choose_load_address(k, req.memory_bytes);
  if (out.load_address == 0) {
    out.memory_needed = align_up(k.pref_address, k.kernel_alignment) + k.init_size;
    return fail(k.relocatable || k.pref_address + k.init_size > req.memory_bytes ? Linux_load_error::kernel_too_large
                                                                                  : Linux_load_error::no_load_address);
  }
  out.kernel_end = out.load_address + k.init_size;
  if (req.cmdline.size() > k.cmdline_size || req.cmdline.size() > L::cmdline_max)
    return fail(Linux_load_error::cmdline_too_long);

  // The initrd as high as the kernel allows, page-aligned, above everything the kernel uses.
  if (!req.initrd.empty()) {
    u64 top = req.memory_bytes;
    if (!(k.xloadflags & h::xlf_can_be_loaded_above_4g) && top > k.initrd_addr_max + 1) top = k.initrd_addr_max + 1;
    if (top > 4 * GiB) top = 4 * GiB;  // ramdisk_image + ext_ramdisk_image could say more; no need here
    const u64 size = align_up(req.initrd.size(), page_size_4k);
    if (size > top || (top - size) / page_size_4k * page_size_4k < out.kernel_end) {
      out.memory_needed = out.kernel_end + size;
      return fail(Linux_load_error::initrd_too_large);
    }
    out.initrd_address = (top - size) & ~(page_size_4k - 1);
  }

  // GDT: null, null, __BOOT_CS 0x10 (64-bit code), __BOOT_DS 0x18, a busy TSS at 0x20 for TR.
  u64 gdt[6] = {0, 0, x86::gdt_code64, x86::gdt_data, 0, 0};
  const x86::Tss_descriptor tss = x86::make_tss_descriptor(0, 0x67);
  gdt[4] = tss.low | (1ull << 41);
  gdt[5] = tss.high;
  if (!write_bytes(m, out.load_address, k.kernel) || !write_bytes(m, out.initrd_address, req.initrd) ||
      !write_bytes(m, L::cmdline, std::span<const u8>(reinterpret_cast<const u8*>(req.cmdline.data()), req.cmdline.size())) ||
      !put(m, L::cmdline + req.cmdline.size(), u8{0}) ||
      !write_bytes(m, guest_layout::gdt, std::span<const u8>(reinterpret_cast<const u8*>(gdt), sizeof gdt)) ||
      !write_identity_page_tables(m, req.memory_bytes))
    return fail(Linux_load_error::write_failed);

  // The zero page: the file's setup header at its own offset, then what the loader fills in.
  const u64 bp = L::boot_params;
  if (!write_bytes(m, bp + h::setup_sects, k.setup_header) ||
      !put(m, bp + h::type_of_loader, u8{0xFF}) ||  // "undefined" loader id (boot.rst)
      !put(m, bp + h::loadflags, static_cast<u8>(k.loadflags & ~(h::keep_segments | h::can_use_heap))) ||
      !put(m, bp + h::cmd_line_ptr, static_cast<u32>(L::cmdline)) ||
      !put(m, bp + h::ramdisk_image, static_cast<u32>(out.initrd_address)) ||
      !put(m, bp + h::ramdisk_size, static_cast<u32>(req.initrd.size())) ||
      !put(m, bp + L::bp_ext_ramdisk_image, static_cast<u32>(out.initrd_address >> 32)) ||
      !put(m, bp + h::code32_start, static_cast<u32>(out.load_address)) ||
      !put(m, bp + L::bp_acpi_rsdp_addr, req.acpi_rsdp))
    return fail(Linux_load_error::write_failed);
  if (const Linux_load_error e = build_e820(req, m, out.e820_entries); e != Linux_load_error::none) return fail(e);

  // The 64-bit entry (boot.rst, "64-bit Boot Protocol"): long mode, paging on with the loaded
  // kernel, zero page and command line identity-mapped, CS = __BOOT_CS, DS/ES/SS = __BOOT_DS,
  // interrupts off, RSI = the zero page, at the protected-mode part's address + 0x200.
  Guest_start_state& s = out.start;
  s = long_mode_start_state(sizeof gdt);
  s.rip = out.load_address + 0x200;
  s.rsi = L::boot_params;
  s.code_selector = L::boot_cs;
  s.data_selector = L::boot_ds;
  s.tr_selector = L::boot_tr;
  return out;
}

} // namespace hv
