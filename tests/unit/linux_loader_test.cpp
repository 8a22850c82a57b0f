// tests/unit/linux_loader_test.cpp - the bzImage setup-header parser and the Linux 64-bit boot
// protocol loader: a synthetic bzImage laid out as the kernel's build lays it out, Debian's own
// cloud kernel where it is installed (scripts/hv setup installs it), every refusal, and random
// header bytes that must never break the parser's promises.
#include "core/linux_loader.hpp"
#include "arch/x86/msr.hpp"
#include "arch/x86/segment_descriptor.hpp"
#include "unit/support/sparse_guest_memory.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace hv {
namespace {

using test::Sparse_guest_memory;
namespace h = setup_header;
namespace L = linux_layout;

template <typename T>
void put(std::vector<u8>& f, usize at, T v) { std::memcpy(f.data() + at, &v, sizeof v); }

struct Bz_spec {
  u8 setup_sects = 4;
  u16 version = 0x020F;
  u8 jump_length = 0x6A;        // header ends at 0x202 + this
  u8 loadflags = h::loaded_high;
  u16 xloadflags = h::xlf_kernel_64 | h::xlf_can_be_loaded_above_4g;
  u32 kernel_alignment = 0x200000;
  u8 min_alignment = 21;
  bool relocatable = true;
  u64 pref_address = 0x1000000;
  u32 init_size = 0x400000;
  u32 cmdline_size = 2047;
  u32 initrd_addr_max = 0x7FFFFFFF;
  usize kernel_bytes = 3 * page_size_4k + 123;
};

// A bzImage as arch/x86/boot/ builds one: boot sector + setup sectors (the header at 0x1F1),
// then the protected-mode part (here a byte pattern).
std::vector<u8> make_bzimage(const Bz_spec& s = {}) {
  const usize sects = s.setup_sects == 0 ? 4 : s.setup_sects;
  std::vector<u8> f((sects + 1) * 512 + s.kernel_bytes, 0);
  f[h::setup_sects] = s.setup_sects;
  put<u16>(f, h::boot_flag, h::boot_flag_value);
  f[h::jump] = 0xEB;
  f[h::jump + 1] = s.jump_length;
  put<u32>(f, h::header, h::header_magic);
  put<u16>(f, h::version, s.version);
  f[h::loadflags] = s.loadflags;
  put<u32>(f, h::code32_start, 0x100000);
  put<u32>(f, h::initrd_addr_max, s.initrd_addr_max);
  put<u32>(f, h::kernel_alignment, s.kernel_alignment);
  f[h::relocatable_kernel] = s.relocatable;
  f[h::min_alignment] = s.min_alignment;
  put<u16>(f, h::xloadflags, s.xloadflags);
  put<u32>(f, h::cmdline_size, s.cmdline_size);
  put<u64>(f, h::pref_address, s.pref_address);
  put<u32>(f, h::init_size, s.init_size);
  for (usize i = 0; i < s.kernel_bytes; ++i) f[(sects + 1) * 512 + i] = static_cast<u8>(i * 7 + 1);
  return f;
}

struct E820 { u64 address, size; u32 type; };
std::vector<E820> e820_of(const Sparse_guest_memory& m) {
  std::vector<E820> out;
  const u8 n = m.read<u8>(L::boot_params + L::bp_e820_entries);
  for (u8 i = 0; i < n; ++i) {
    const u64 e = L::boot_params + L::bp_e820_table + i * 20u;
    out.push_back({m.read<u64>(e), m.read<u64>(e + 8), m.read<u32>(e + 16)});
  }
  return out;
}
std::string cmdline_of(const Sparse_guest_memory& m, u64 at) {
  std::string s;
  for (char c; (c = static_cast<char>(m.read<u8>(at))) != 0 && s.size() < 8192; ++at) s += c;
  return s;
}

TEST(Bzimage, ParsesTheSetupHeaderFields) {
  const std::vector<u8> f = make_bzimage();
  Bzimage b;
  ASSERT_EQ(parse_bzimage(f, b), Bzimage_error::none);
  EXPECT_EQ(b.version, 0x020F);
  EXPECT_TRUE(b.relocatable);
  EXPECT_EQ(b.pref_address, 0x1000000u);
  EXPECT_EQ(b.kernel_alignment, 0x200000u);
  EXPECT_EQ(b.init_size, 0x400000u);
  EXPECT_EQ(b.cmdline_size, 2047u);
  EXPECT_EQ(b.setup_header.size(), 0x202u + 0x6A - 0x1F1);
  EXPECT_EQ(b.kernel.size(), 3 * page_size_4k + 123);
  EXPECT_EQ(b.kernel.data(), f.data() + 5 * 512);
  EXPECT_TRUE(looks_like_bzimage(f));
}

TEST(Bzimage, SetupSectsZeroMeansFour) {
  Bz_spec s;
  s.setup_sects = 0;
  const std::vector<u8> f = make_bzimage(s);
  Bzimage b;
  ASSERT_EQ(parse_bzimage(f, b), Bzimage_error::none);
  EXPECT_EQ(b.kernel.data(), f.data() + 5 * 512);
}

TEST(Bzimage, RefusesWhatIsNotAUsableBzimage) {
  Bzimage b;
  const std::vector<u8> elf = {0x7F, 'E', 'L', 'F', 2, 1, 1};
  EXPECT_EQ(parse_bzimage(elf, b), Bzimage_error::too_small);
  std::vector<u8> noise(8192, 0x5A);
  EXPECT_EQ(parse_bzimage(noise, b), Bzimage_error::not_a_bzimage);
  EXPECT_FALSE(looks_like_bzimage(noise));
  auto with = [](auto change) { Bz_spec s; change(s); return make_bzimage(s); };
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.version = 0x0206; }), b), Bzimage_error::protocol_too_old);
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.jump_length = 0x40; }), b), Bzimage_error::protocol_too_old);
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.loadflags = 0; }), b), Bzimage_error::not_loaded_high);
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.xloadflags = h::xlf_can_be_loaded_above_4g; }), b),
            Bzimage_error::no_64bit_entry);
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.kernel_alignment = 0x3000; }), b), Bzimage_error::bad_alignment);
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.kernel_alignment = 0x800; s.min_alignment = 11; }), b),
            Bzimage_error::bad_alignment);
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.min_alignment = 22; }), b), Bzimage_error::bad_alignment);
  EXPECT_EQ(parse_bzimage(with([](Bz_spec& s) { s.init_size = 0x1000; }), b), Bzimage_error::bad_init_size);
  std::vector<u8> cut = make_bzimage();
  cut[h::setup_sects] = 60;  // 61 sectors: beyond the file
  EXPECT_EQ(parse_bzimage(cut, b), Bzimage_error::setup_outside_file);
  std::vector<u8> setup_only = make_bzimage();
  setup_only.resize(5 * 512);
  EXPECT_EQ(parse_bzimage(setup_only, b), Bzimage_error::no_protected_mode_part);
  std::vector<u8> short_header = make_bzimage();
  short_header.resize(0x250);
  EXPECT_EQ(parse_bzimage(short_header, b), Bzimage_error::setup_outside_file);
  for (u8 e = 0; e <= static_cast<u8>(Bzimage_error::bad_init_size); ++e)
    EXPECT_STRNE(bzimage_error_message(static_cast<Bzimage_error>(e)), "?");
}

TEST(LinuxLoader, LoadsTheKernelZeroPageCommandLineAndInitrd) {
  const std::vector<u8> f = make_bzimage();
  const std::vector<u8> initrd(10000, 0xC5);
  Sparse_guest_memory m(64 * MiB);
  const std::string cmdline = "console=ttyS0 earlyprintk=serial,ttyS0,115200 quiet";
  const Linux_load_result r = load_linux({f, initrd, cmdline, 64 * MiB, 0xE0000, {}}, m);
  ASSERT_EQ(r.error, Linux_load_error::none) << linux_load_error_message(r.error);
  EXPECT_EQ(r.load_address, 0x1000000u);  // pref_address: aligned and in RAM
  EXPECT_EQ(r.kernel_end, 0x1400000u);
  for (usize i = 0; i < r.kernel.kernel.size(); i += 997) EXPECT_EQ(m.byte(0x1000000 + i), r.kernel.kernel[i]) << i;
  // The 64-bit entry state.
  EXPECT_EQ(r.start.rip, 0x1000200u);
  EXPECT_EQ(r.start.rsi, L::boot_params);
  EXPECT_EQ(r.start.code_selector, 0x10);
  EXPECT_EQ(r.start.data_selector, 0x18);
  EXPECT_EQ(r.start.rflags & (1u << 9), 0u);  // interrupts off
  EXPECT_TRUE(r.start.cr0 & (1ull << 31));
  EXPECT_TRUE(r.start.efer & msr::EFER_LMA);
  EXPECT_EQ(m.read<u64>(guest_layout::gdt + 0x10), x86::gdt_code64);
  EXPECT_EQ(m.read<u64>(guest_layout::gdt + 0x18), x86::gdt_data);
  EXPECT_EQ(r.start.gdtr_limit, 6 * 8 - 1);
  // The zero page: the file's header where it was, the loader's fields.
  const u64 bp = L::boot_params;
  EXPECT_EQ(m.read<u32>(bp + h::header), h::header_magic);
  EXPECT_EQ(m.read<u16>(bp + h::version), 0x020F);
  EXPECT_EQ(m.read<u32>(bp + h::init_size), 0x400000u);
  EXPECT_EQ(m.read<u8>(bp + h::type_of_loader), 0xFF);
  EXPECT_EQ(m.read<u32>(bp + h::code32_start), 0x1000000u);
  EXPECT_EQ(m.read<u64>(bp + L::bp_acpi_rsdp_addr), 0xE0000u);
  EXPECT_EQ(m.read<u32>(bp + h::cmd_line_ptr), L::cmdline);
  EXPECT_EQ(cmdline_of(m, L::cmdline), cmdline);
  // The initrd page-aligned at the top of RAM.
  const u32 rd = m.read<u32>(bp + h::ramdisk_image);
  EXPECT_EQ(rd, r.initrd_address);
  EXPECT_EQ(rd, 64 * MiB - 3 * page_size_4k);
  EXPECT_EQ(m.read<u32>(bp + h::ramdisk_size), 10000u);
  EXPECT_EQ(m.byte(rd), 0xC5);
  EXPECT_EQ(m.byte(rd + 9999), 0xC5);
  // e820: low RAM, the BIOS hole, RAM from 1 MiB.
  const std::vector<E820> e = e820_of(m);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].address, 0u); EXPECT_EQ(e[0].size, L::low_ram_end); EXPECT_EQ(e[0].type, L::e820_ram);
  EXPECT_EQ(e[1].address, L::low_ram_end); EXPECT_EQ(e[1].size, MiB - L::low_ram_end); EXPECT_EQ(e[1].type, L::e820_reserved);
  EXPECT_EQ(e[2].address, MiB); EXPECT_EQ(e[2].size, 63 * MiB); EXPECT_EQ(e[2].type, L::e820_ram);
  EXPECT_EQ(r.e820_entries, 3u);
  // Nothing the kernel owns overlaps what the loader wrote below 1 MiB.
  EXPECT_LT(guest_layout::page_directories + page_size_4k, L::boot_params);
  EXPECT_LT(L::cmdline + L::cmdline_max + 1, L::low_ram_end);
}

TEST(LinuxLoader, WithoutAnInitrdTheRamdiskFieldsAreZero) {
  const std::vector<u8> f = make_bzimage();
  Sparse_guest_memory m(32 * MiB);
  const Linux_load_result r = load_linux({f, {}, "", 32 * MiB, 0, {}}, m);
  ASSERT_EQ(r.error, Linux_load_error::none);
  EXPECT_EQ(r.initrd_address, 0u);
  EXPECT_EQ(m.read<u32>(L::boot_params + h::ramdisk_image), 0u);
  EXPECT_EQ(m.read<u32>(L::boot_params + h::ramdisk_size), 0u);
  EXPECT_EQ(cmdline_of(m, L::cmdline), "");
}

TEST(LinuxLoader, ReservedRangesAreCutOutOfTheRam) {
  const std::vector<u8> f = make_bzimage();
  Sparse_guest_memory m(64 * MiB);
  const E820_range reserved[] = {{0xE0000, 0x10000, L::e820_acpi},  // in the BIOS hole: already reserved
                                 {48 * MiB, 2 * MiB, L::e820_acpi},
                                 {40 * MiB, page_size_4k, L::e820_reserved}};
  const Linux_load_result r = load_linux({f, {}, "x", 64 * MiB, 0, reserved}, m);
  ASSERT_EQ(r.error, Linux_load_error::none);
  const std::vector<E820> e = e820_of(m);
  ASSERT_EQ(e.size(), 7u);
  EXPECT_EQ(e[2].address, MiB); EXPECT_EQ(e[2].size, 39 * MiB); EXPECT_EQ(e[2].type, L::e820_ram);
  EXPECT_EQ(e[3].address, 40 * MiB); EXPECT_EQ(e[3].size, page_size_4k); EXPECT_EQ(e[3].type, L::e820_reserved);
  EXPECT_EQ(e[4].address, 40 * MiB + page_size_4k); EXPECT_EQ(e[4].size, 8 * MiB - page_size_4k);
  EXPECT_EQ(e[5].address, 48 * MiB); EXPECT_EQ(e[5].type, L::e820_acpi);
  EXPECT_EQ(e[6].address, 50 * MiB); EXPECT_EQ(e[6].size, 14 * MiB); EXPECT_EQ(e[6].type, L::e820_ram);
  // In address order, without overlaps.
  for (usize i = 1; i < e.size(); ++i) EXPECT_EQ(e[i - 1].address + e[i - 1].size, e[i].address) << i;
}

TEST(LinuxLoader, RefusalsNameTheProblem) {
  const std::vector<u8> f = make_bzimage();
  Sparse_guest_memory m(64 * MiB);
  // 16 MiB + init_size does not fit in 18 MiB, nor does 2 MiB + init_size... it does: the loader
  // relocates below the preferred address when RAM is short.
  Linux_load_result r = load_linux({f, {}, "", 18 * MiB, 0, {}}, m);
  ASSERT_EQ(r.error, Linux_load_error::none);
  EXPECT_EQ(r.load_address, 2 * MiB);
  Bz_spec big;
  big.init_size = 0x3378000;  // Debian's cloud kernel: 51 MiB
  r = load_linux({make_bzimage(big), {}, "", 32 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::kernel_too_large);
  EXPECT_GT(r.memory_needed, 32 * MiB);
  Bz_spec fixed;
  fixed.relocatable = false;
  fixed.pref_address = 0x1000000;
  r = load_linux({make_bzimage(fixed), {}, "", 18 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::kernel_too_large);
  fixed.pref_address = 0x1001000;  // not aligned to min_alignment
  r = load_linux({make_bzimage(fixed), {}, "", 64 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::no_load_address);
  const std::vector<u8> initrd(45 * MiB, 1);
  r = load_linux({f, initrd, "", 64 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::initrd_too_large);
  EXPECT_EQ(r.memory_needed, 0x1400000 + 45 * MiB);
  Bz_spec low_max;
  low_max.xloadflags = h::xlf_kernel_64;
  low_max.initrd_addr_max = 24 * MiB - 1;  // below the kernel's end (20 MiB) + the initrd
  r = load_linux({make_bzimage(low_max), std::vector<u8>(5 * MiB, 1), "", 64 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::initrd_too_large);
  r = load_linux({f, {}, std::string(2048, 'a'), 64 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::cmdline_too_long);
  r = load_linux({f, {}, std::string(2047, 'a'), 64 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::none);
  r = load_linux({f, {}, "", 128 * GiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::memory_too_large);
  std::vector<u8> garbage = f;
  garbage[h::header] = 'X';
  r = load_linux({garbage, {}, "", 64 * MiB, 0, {}}, m);
  EXPECT_EQ(r.error, Linux_load_error::bad_kernel);
  EXPECT_EQ(r.kernel_error, Bzimage_error::not_a_bzimage);
  std::vector<E820_range> many;
  for (u64 i = 0; i < 70; ++i) many.push_back({2 * MiB + i * 2 * page_size_4k, page_size_4k, L::e820_reserved});
  r = load_linux({f, {}, "", 64 * MiB, 0, many}, m);
  EXPECT_EQ(r.error, Linux_load_error::too_many_e820);
  Sparse_guest_memory refusing(64 * MiB);
  refusing.refuse_page = 0x1002000;
  r = load_linux({f, {}, "", 64 * MiB, 0, {}}, refusing);
  EXPECT_EQ(r.error, Linux_load_error::write_failed);
  for (u8 e = 0; e <= static_cast<u8>(Linux_load_error::write_failed); ++e)
    EXPECT_STRNE(linux_load_error_message(static_cast<Linux_load_error>(e)), "?");
}

// Random header bytes: the parser never reads outside the file, and what it accepts keeps its
// promises (the kernel inside the file, the load address aligned, everything inside RAM).
TEST(LinuxLoader, RandomHeadersKeepThePromises) {
  std::mt19937_64 rng(12);
  const std::vector<u8> base = make_bzimage();
  usize accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<u8> f = base;
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < flips; ++k) f[0x1F1 + rng() % (0x270 - 0x1F1)] = static_cast<u8>(rng());
    if (rng() % 4 == 0) f.resize(rng() % f.size());
    Sparse_guest_memory m(64 * MiB);
    const Linux_load_result r = load_linux({f, {}, "console=ttyS0", 64 * MiB, 0, {}}, m);
    if (r.error != Linux_load_error::none) continue;
    ++accepted;
    ASSERT_GE(r.kernel.kernel.data(), f.data());
    ASSERT_LE(r.kernel.kernel.data() + r.kernel.kernel.size(), f.data() + f.size());
    ASSERT_EQ(r.load_address % r.kernel.min_alignment, 0u);
    ASSERT_GE(r.load_address, MiB);
    ASSERT_LE(r.kernel_end, 64 * MiB);
    ASSERT_EQ(r.start.rip, r.load_address + 0x200);
  }
  EXPECT_GT(accepted, 100u);  // the mutations leave many headers valid: the accept path is exercised
}

// Debian's cloud kernel (linux-image-cloud-amd64, installed by scripts/hv setup): the real header.
TEST(LinuxLoader, DebianCloudKernel) {
  std::string path;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/boot", ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("vmlinuz-", 0) == 0 && n.find("cloud-amd64") != std::string::npos) path = e.path().string();
  }
  if (path.empty()) GTEST_SKIP() << "no /boot/vmlinuz-*-cloud-amd64 (scripts/hv setup installs linux-image-cloud-amd64)";
  std::ifstream in(path, std::ios::binary);
  const std::vector<u8> f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Bzimage b;
  ASSERT_EQ(parse_bzimage(f, b), Bzimage_error::none) << path << ": " << bzimage_error_message(parse_bzimage(f, b));
  EXPECT_GE(b.version, 0x020C);
  EXPECT_TRUE(b.relocatable);
  EXPECT_GT(b.init_size, b.kernel.size());
  Sparse_guest_memory m(256 * MiB);
  const Linux_load_result r = load_linux({f, std::vector<u8>(page_size_4k, 7), "console=ttyS0", 256 * MiB, 0, {}}, m);
  ASSERT_EQ(r.error, Linux_load_error::none) << linux_load_error_message(r.error);
  EXPECT_EQ(r.load_address, b.pref_address);
  EXPECT_GE(r.initrd_address, r.kernel_end);
  EXPECT_EQ(m.byte(r.load_address + 0x10), b.kernel[0x10]);
}

} // namespace
} // namespace hv
