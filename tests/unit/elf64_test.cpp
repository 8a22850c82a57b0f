// tests/unit/elf64_test.cpp - the ELF64 guest-image validator on files built by a small ELF
// writer: good files, every truncation, hostile headers and segments, and random corruption.
#include "core/elf64.hpp"
#include <gtest/gtest.h>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace hv {
namespace {

using Bytes = std::vector<u8>;
constexpr u64 limit = 64 * MiB;  // the guest's memory

struct Segment_spec {
  u32 type = 1;  // PT_LOAD
  u32 flags = elf_pf_r;
  u64 vaddr = 0;
  u64 paddr = 0;
  Bytes data;           // p_filesz bytes
  u64 memsz = 0;        // 0: data.size()
  u64 align = 0x1000;
  // Overrides for hostile files (used when non-zero / set).
  bool raw_offset = false;
  u64 offset = 0;
  bool raw_filesz = false;
  u64 filesz = 0;
};

struct Elf_spec {
  u8 ident_class = 2, ident_data = 1, ident_version = 1;
  u16 type = 2, machine = 62;
  u32 version = 1;
  u64 entry = 0x101000;
  u16 ehsize = 64, phentsize = 56;
  bool raw_phnum = false;
  u16 phnum = 0;
  bool raw_phoff = false;
  u64 phoff = 0;
  std::vector<Segment_spec> segments;
};

template <typename T>
void put(Bytes& b, usize offset, T v) {
  if (b.size() < offset + sizeof v) b.resize(offset + sizeof v);
  std::memcpy(b.data() + offset, &v, sizeof v);
}

// Header, program headers, then each segment's data at an offset congruent to its vaddr
// modulo 4 KiB (as linkers lay files out). Segment data comes last, so any strict prefix of
// the file cuts something the parser needs.
Bytes write_elf(const Elf_spec& s) {
  Bytes f(64, 0);
  f[0] = 0x7F;
  f[1] = 'E';
  f[2] = 'L';
  f[3] = 'F';
  f[4] = s.ident_class;
  f[5] = s.ident_data;
  f[6] = s.ident_version;
  put<u16>(f, 16, s.type);
  put<u16>(f, 18, s.machine);
  put<u32>(f, 20, s.version);
  put<u64>(f, 24, s.entry);
  put<u64>(f, 32, s.raw_phoff ? s.phoff : 64);
  put<u16>(f, 52, s.ehsize);
  put<u16>(f, 54, s.phentsize);
  put<u16>(f, 56, s.raw_phnum ? s.phnum : static_cast<u16>(s.segments.size()));
  usize data_at = 64 + 56 * s.segments.size();
  std::vector<u64> offsets;
  for (const auto& seg : s.segments) {
    if (seg.data.empty()) {
      offsets.push_back(0);
      continue;
    }
    data_at = (data_at + 0xFFF) / 0x1000 * 0x1000 + (seg.vaddr & 0xFFF);
    offsets.push_back(data_at);
    data_at += seg.data.size();
  }
  f.resize(64 + 56 * s.segments.size());
  for (usize i = 0; i < s.segments.size(); ++i) {
    const Segment_spec& seg = s.segments[i];
    const usize p = 64 + 56 * i;
    put<u32>(f, p + 0, seg.type);
    put<u32>(f, p + 4, seg.flags);
    put<u64>(f, p + 8, seg.raw_offset ? seg.offset : offsets[i]);
    put<u64>(f, p + 16, seg.vaddr);
    put<u64>(f, p + 24, seg.paddr);
    put<u64>(f, p + 32, seg.raw_filesz ? seg.filesz : seg.data.size());
    put<u64>(f, p + 40, seg.memsz ? seg.memsz : seg.data.size());
    put<u64>(f, p + 48, seg.align);
  }
  for (usize i = 0; i < s.segments.size(); ++i) {
    if (s.segments[i].data.empty()) continue;
    if (f.size() < offsets[i]) f.resize(offsets[i], 0);
    f.insert(f.begin() + static_cast<long>(offsets[i]), s.segments[i].data.begin(), s.segments[i].data.end());
    f.resize(offsets[i] + s.segments[i].data.size());
  }
  return f;
}

Bytes pattern(usize n, u8 seed) {
  Bytes b(n);
  for (usize i = 0; i < n; ++i) b[i] = static_cast<u8>(seed + i * 7);
  return b;
}

// A typical test guest: text at 1 MiB + 4 KiB (entry), rodata, data + bss.
Elf_spec good_spec() {
  Elf_spec s;
  s.segments = {
      {1, elf_pf_r | elf_pf_x, 0x101000, 0x101000, pattern(3000, 1)},
      {1, elf_pf_r, 0x102000, 0x102000, pattern(500, 2)},
      {1, elf_pf_r | elf_pf_w, 0x103000, 0x103000, pattern(100, 3), 0x5000},
  };
  s.segments.push_back({0x6474e551, elf_pf_r | elf_pf_w, 0, 0, {}, 0, 16});  // PT_GNU_STACK: ignored
  return s;
}

Elf_error parse(const Bytes& file, Elf_image& image, u64 lim = limit) {
  // An exact-size copy: ASan catches any read past the end.
  return parse_elf64(std::span<const u8>(file.data(), file.size()), lim, image);
}

TEST(Elf64, AGoodFileGivesItsSegmentsAndEntry) {
  const Bytes file = write_elf(good_spec());
  Elf_image image;
  ASSERT_EQ(parse(file, image), Elf_error::none) << elf_error_message(parse(file, image));
  EXPECT_EQ(image.entry, 0x101000u);
  ASSERT_EQ(image.segment_count, 3u);
  EXPECT_EQ(image.segments[0].paddr, 0x101000u);
  EXPECT_EQ(image.segments[0].flags, elf_pf_r | elf_pf_x);
  EXPECT_EQ(Bytes(image.segments[0].file_bytes.begin(), image.segments[0].file_bytes.end()), pattern(3000, 1));
  EXPECT_EQ(image.segments[1].memory_size, 500u);
  EXPECT_EQ(image.segments[2].file_bytes.size(), 100u);
  EXPECT_EQ(image.segments[2].memory_size, 0x5000u);  // bss
  EXPECT_EQ(Bytes(image.segments[2].file_bytes.begin(), image.segments[2].file_bytes.end()), pattern(100, 3));
  // The spans point into the file, not into a copy.
  EXPECT_GE(image.segments[1].file_bytes.data(), file.data());
  EXPECT_LE(image.segments[1].file_bytes.data() + 500, file.data() + file.size());
}

TEST(Elf64, BssOnlyAndEmptySegmentsAreHandled) {
  Elf_spec s = good_spec();
  s.segments.push_back({1, elf_pf_r | elf_pf_w, 0x200000, 0x200000, {}, 0x10000});  // bss only
  s.segments.push_back({1, elf_pf_r, 0x300000, 0x300000, {}, 0});                  // nothing: skipped
  Elf_image image;
  ASSERT_EQ(parse(write_elf(s), image), Elf_error::none);
  ASSERT_EQ(image.segment_count, 4u);
  EXPECT_TRUE(image.segments[3].file_bytes.empty());
  EXPECT_EQ(image.segments[3].memory_size, 0x10000u);
}

TEST(Elf64, VirtualAndPhysicalAddressesMayDifferByWholePages) {
  Elf_spec s;
  s.entry = 0x401000;
  s.segments = {{1, elf_pf_r | elf_pf_x, 0x401000, 0x101000, pattern(64, 9)}};
  Elf_image image;
  ASSERT_EQ(parse(write_elf(s), image), Elf_error::none);
  EXPECT_EQ(image.segments[0].vaddr, 0x401000u);
  EXPECT_EQ(image.segments[0].paddr, 0x101000u);
  s.segments[0].paddr = 0x101800;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::physical_virtual_page_mismatch);
}

TEST(Elf64, EveryStrictPrefixIsRejected) {
  const Bytes file = write_elf(good_spec());
  for (usize n = 0; n < file.size(); ++n) {
    const Bytes prefix(file.begin(), file.begin() + static_cast<long>(n));
    Elf_image image;
    const Elf_error e = parse(prefix, image);
    ASSERT_NE(e, Elf_error::none) << "prefix of " << n << " bytes accepted";
    ASSERT_EQ(image.segment_count, 0u);
    if (n < 64) {
      ASSERT_EQ(e, Elf_error::truncated_header);
    }
  }
}

TEST(Elf64, WrongIdentityFieldsAreNamed) {
  struct Case {
    void (*mutate)(Elf_spec&);
    Elf_error want;
  };
  const Case cases[] = {
      {[](Elf_spec& s) { s.ident_class = 1; }, Elf_error::not_64bit},
      {[](Elf_spec& s) { s.ident_data = 2; }, Elf_error::not_little_endian},
      {[](Elf_spec& s) { s.ident_version = 0; }, Elf_error::bad_version},
      {[](Elf_spec& s) { s.version = 2; }, Elf_error::bad_version},
      {[](Elf_spec& s) { s.type = 3; }, Elf_error::not_executable},  // ET_DYN (PIE)
      {[](Elf_spec& s) { s.type = 1; }, Elf_error::not_executable},  // ET_REL
      {[](Elf_spec& s) { s.machine = 3; }, Elf_error::not_x86_64},   // EM_386
      {[](Elf_spec& s) { s.machine = 183; }, Elf_error::not_x86_64}, // EM_AARCH64
      {[](Elf_spec& s) { s.ehsize = 52; }, Elf_error::bad_header_size},
      {[](Elf_spec& s) { s.phentsize = 32; }, Elf_error::bad_program_header_size},
      {[](Elf_spec& s) { s.phentsize = 64; }, Elf_error::bad_program_header_size},
  };
  for (const Case& c : cases) {
    Elf_spec s = good_spec();
    c.mutate(s);
    Elf_image image;
    EXPECT_EQ(parse(write_elf(s), image), c.want) << elf_error_name(c.want);
  }
  Bytes file = write_elf(good_spec());
  file[1] = 'e';
  Elf_image image;
  EXPECT_EQ(parse(file, image), Elf_error::bad_magic);
}

TEST(Elf64, HugeOrZeroProgramHeaderCounts) {
  for (u16 phnum : {u16{65}, u16{1000}, u16{0xFFFF}}) {
    Elf_spec s = good_spec();
    s.raw_phnum = true;
    s.phnum = phnum;
    Elf_image image;
    EXPECT_EQ(parse(write_elf(s), image), Elf_error::too_many_program_headers) << phnum;
  }
  Elf_spec s = good_spec();
  s.raw_phnum = true;
  s.phnum = 0;
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::no_loadable_segment);
  // 64 headers claimed, 4 present: the table runs past the file.
  Bytes small = write_elf(good_spec());
  small.resize(64 + 56 * 4);
  put<u16>(small, 56, 64);
  EXPECT_EQ(parse(small, image), Elf_error::program_headers_outside_file);
}

TEST(Elf64, ProgramHeaderTableOffsetsPastTheEndOrWrapping) {
  for (u64 phoff : {u64{1} << 40, ~u64{0}, ~u64{0} - 55, u64{0xFFFFFFFFFFFFFF00}}) {
    Elf_spec s = good_spec();
    s.raw_phoff = true;
    s.phoff = phoff;
    Elf_image image;
    EXPECT_EQ(parse(write_elf(s), image), Elf_error::program_headers_outside_file) << std::hex << phoff;
  }
}

TEST(Elf64, SegmentFileBytesPastTheEndOrWrapping) {
  const std::pair<u64, u64> bad[] = {{0x10000000, 16}, {~u64{0}, 2}, {16, ~u64{0} - 8}, {0x1000, 0x100000}};
  for (const auto& [offset, filesz] : bad) {
    Elf_spec s = good_spec();
    s.segments[1].raw_offset = true;
    s.segments[1].offset = offset;
    s.segments[1].raw_filesz = true;
    s.segments[1].filesz = filesz;
    s.segments[1].memsz = ~u64{0} >> 1;  // keep filesz <= memsz where possible
    s.segments[1].align = 0;
    Elf_image image;
    const Elf_error e = parse(write_elf(s), image);
    EXPECT_TRUE(e == Elf_error::segment_outside_file || e == Elf_error::file_size_exceeds_memory_size)
        << elf_error_name(e) << " for offset " << offset << " filesz " << filesz;
    EXPECT_EQ(image.bad_program_header, 1u);
  }
}

TEST(Elf64, FileSizeAboveMemorySize) {
  Elf_spec s = good_spec();
  s.segments[1].memsz = 100;  // data is 500 bytes
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::file_size_exceeds_memory_size);
  EXPECT_EQ(image.bad_program_header, 1u);
}

TEST(Elf64, WrappingAddresses) {
  Elf_spec s = good_spec();
  s.segments[2].vaddr = s.segments[2].paddr = 0xFFFFFFFFFFFFF000;
  s.segments[2].memsz = 0x2000;
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::segment_address_wraps);
  Elf_spec p = good_spec();
  p.segments[2].paddr = 0xFFFFFFFFFFFFF000;  // only the physical range wraps
  p.segments[2].memsz = 0x2000;
  EXPECT_EQ(parse(write_elf(p), image), Elf_error::segment_address_wraps);
}

TEST(Elf64, SegmentsMustFitTheGuestMemory) {
  Elf_spec s = good_spec();
  s.segments[2].memsz = limit;  // 0x103000 + 64 MiB > limit
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::segment_outside_guest_memory);
  // Ending exactly at the limit is fine.
  Elf_spec e = good_spec();
  e.segments[2].memsz = limit - 0x103000;
  EXPECT_EQ(parse(write_elf(e), image), Elf_error::none);
  // A high-half virtual address is outside too (test guests are identity-mapped).
  Elf_spec v = good_spec();
  v.segments[1].vaddr = 0xFFFFFFFF80102000;
  EXPECT_EQ(parse(write_elf(v), image), Elf_error::segment_outside_guest_memory);
  // A smaller guest rejects the good file.
  EXPECT_EQ(parse(write_elf(good_spec()), image, 0x104000), Elf_error::segment_outside_guest_memory);
}

TEST(Elf64, AlignmentRules) {
  Elf_spec s = good_spec();
  s.segments[1].align = 0x3000;  // not a power of two
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::bad_alignment);
  Elf_spec t = good_spec();
  t.segments[1].align = 0x200000;  // vaddr 0x102000 vs offset ...x000: disagree modulo 2 MiB
  EXPECT_EQ(parse(write_elf(t), image), Elf_error::bad_alignment);
  Elf_spec u = good_spec();
  u.segments[1].align = 1;  // no constraint
  EXPECT_EQ(parse(write_elf(u), image), Elf_error::none);
}

TEST(Elf64, OverlappingSegmentsAreRejected) {
  Elf_spec s = good_spec();
  s.segments[1].vaddr = s.segments[1].paddr = 0x101000 + 0x1000 - 0x1000;  // onto the text
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::segments_overlap);
  // Overlap only through bss.
  Elf_spec b = good_spec();
  b.segments.push_back({1, elf_pf_r, 0x107000, 0x107000, pattern(8, 4)});  // inside 0x103000 + 0x5000
  EXPECT_EQ(parse(write_elf(b), image), Elf_error::segments_overlap);
  EXPECT_EQ(image.bad_program_header, 4u);
  // Overlap in physical addresses only.
  Elf_spec p = good_spec();
  p.segments[1].vaddr = 0x502000;
  p.segments[1].paddr = 0x101000;
  EXPECT_EQ(parse(write_elf(p), image), Elf_error::segments_overlap);
  // Touching is not overlapping.
  Elf_spec t;
  t.segments = {{1, elf_pf_r | elf_pf_x, 0x101000, 0x101000, pattern(0x1000, 1)},
                {1, elf_pf_r, 0x102000, 0x102000, pattern(16, 2)}};
  EXPECT_EQ(parse(write_elf(t), image), Elf_error::none);
}

TEST(Elf64, TooManyLoadSegments) {
  Elf_spec s;
  for (u64 i = 0; i <= elf_max_segments; ++i)
    s.segments.push_back({1, elf_pf_r | elf_pf_x, 0x101000 + i * 0x1000, 0x101000 + i * 0x1000, pattern(8, 1)});
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::too_many_segments);
  s.segments.pop_back();
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::none);
  EXPECT_EQ(image.segment_count, elf_max_segments);
}

TEST(Elf64, EntryMustBeInAnExecutableSegment) {
  Elf_spec s = good_spec();
  s.entry = 0x102010;  // rodata: not executable
  Elf_image image;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::entry_not_executable);
  s.entry = 0x101000 + 3000;  // one past the end of the text
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::entry_not_executable);
  s.entry = 0x101000 + 2999;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::none);
  s.entry = 0;
  EXPECT_EQ(parse(write_elf(s), image), Elf_error::entry_not_executable);
}

TEST(Elf64, DynamicFilesAreRefused) {
  for (u32 type : {2u, 3u}) {  // PT_DYNAMIC, PT_INTERP
    Elf_spec s = good_spec();
    s.segments.push_back({type, elf_pf_r, 0, 0, {}, 0, 1});
    Elf_image image;
    EXPECT_EQ(parse(write_elf(s), image), Elf_error::needs_dynamic_loader);
  }
}

TEST(Elf64, EveryErrorHasANameAndAMessage) {
  for (int e = 0; e <= static_cast<int>(Elf_error::entry_not_executable); ++e) {
    EXPECT_STRNE(elf_error_message(static_cast<Elf_error>(e)), "?") << e;
    EXPECT_STRNE(elf_error_name(static_cast<Elf_error>(e)), "?") << e;
  }
}

// Random corruption of a good file: never a crash or an out-of-bounds read (ASan), and what is
// accepted still satisfies the contract.
TEST(Elf64, RandomCorruptionKeepsTheContract) {
  const Bytes good = write_elf(good_spec());
  std::mt19937_64 rng(0xE1F64);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    Bytes f = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      // Mostly the header and program headers, where the numbers are.
      const usize at = rng() % 4 == 0 ? rng() % f.size() : rng() % (64 + 56 * 4);
      f[at] = static_cast<u8>(rng());
    }
    Elf_image image;
    if (parse(f, image) != Elf_error::none) {
      ASSERT_EQ(image.segment_count, 0u);
      continue;
    }
    ++accepted;
    bool entry_ok = false;
    for (usize i = 0; i < image.segment_count; ++i) {
      const Elf_segment& s = image.segments[i];
      ASSERT_LE(s.file_bytes.size(), s.memory_size);
      ASSERT_GE(s.file_bytes.data(), f.data());
      ASSERT_LE(s.file_bytes.data() + s.file_bytes.size(), f.data() + f.size());
      ASSERT_LE(s.paddr + s.memory_size, limit);
      ASSERT_GE(s.paddr + s.memory_size, s.paddr);
      ASSERT_LE(s.vaddr + s.memory_size, limit);
      for (usize j = 0; j < i; ++j) {
        const Elf_segment& o = image.segments[j];
        ASSERT_TRUE(s.paddr + s.memory_size <= o.paddr || o.paddr + o.memory_size <= s.paddr);
      }
      if ((s.flags & elf_pf_x) && image.entry >= s.vaddr && image.entry < s.vaddr + s.memory_size) entry_ok = true;
    }
    ASSERT_TRUE(entry_ok);
  }
  EXPECT_GT(accepted, 0);  // some corruptions are harmless (data bytes): the test saw both kinds
}

} // namespace
} // namespace hv
