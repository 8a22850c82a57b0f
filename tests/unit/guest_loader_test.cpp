// tests/unit/guest_loader_test.cpp - loading a 64-bit test guest into a sparse model of guest
// memory: segments, the boot-info block, the GDT, identity page tables (walked here as the CPU
// would), the start state, and every refusal.
#include "arch/x86/page_table_entry.hpp"
#include "core/guest_loader.hpp"
#include "devices/hypercall.hpp"
#include "unit/support/sparse_guest_memory.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hv {
namespace {

using test::Elf_segment_spec;
using test::make_elf64;
using test::Sparse_guest_memory;
namespace pte = x86::pte;

// The 4-level walk of SDM Vol. 3A 4.5 (2 MiB and 1 GiB leaves); nullopt where not present.
std::optional<u64> translate(const Sparse_guest_memory& m, u64 cr3, u64 va) {
  u64 table = cr3 & pte::address_mask;
  for (unsigned level = 4; level >= 1; --level) {
    const u64 e = m.read<u64>(table + 8 * pte::index(va, level));
    if (!(e & pte::P)) return std::nullopt;
    if (level == 1 || ((level == 2 || level == 3) && (e & pte::PS))) {
      const u64 span = pte::entry_span(level);
      return (e & pte::address_mask & ~(span - 1)) | (va & (span - 1));
    }
    table = e & pte::address_mask;
  }
  return std::nullopt;
}

std::vector<u8> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// A guest like tests/guests/: code at 1 MiB, data with .bss on a later page.
std::vector<u8> typical_image() {
  return make_elf64(0x100010, {{0x100000, 0, bytes("\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90"
                                                   "\xF4\xEB\xFD"),
                                0, elf_pf_r | elf_pf_x},
                               {0x102000, 0, bytes("DATA"), 0x3000, elf_pf_r | elf_pf_w}});
}

struct Loaded {
  Sparse_guest_memory memory;
  Guest_load_result result;
};

Loaded load(u64 memory_bytes, const std::vector<u8>& image, std::string_view name = "vm1",
            std::string_view args = "") {
  Loaded l{Sparse_guest_memory(memory_bytes), {}};
  l.result = load_guest({image, memory_bytes, 7, name, args}, l.memory);
  return l;
}

TEST(GuestLoader, SegmentsLandAtTheirPhysicalAddresses) {
  const Loaded l = load(16 * MiB, typical_image());
  ASSERT_EQ(l.result.error, Load_error::none) << load_error_message(l.result.error);
  EXPECT_EQ(l.memory.byte(0x100000), 0x90);
  EXPECT_EQ(l.memory.byte(0x100010), 0xF4);
  EXPECT_EQ(l.memory.byte(0x100012), 0xFD);
  EXPECT_EQ(l.memory.read<u32>(0x102000), 0x41544144u);  // "DATA"
  EXPECT_EQ(l.memory.byte(0x102004), 0) << ".bss reads zero";
  EXPECT_FALSE(l.memory.touched(0x104000)) << ".bss is left to zeroed guest RAM, not written";
  EXPECT_EQ(l.result.image_end, 0x105000u);
}

TEST(GuestLoader, TheBootInfoBlockDescribesTheVm) {
  const Loaded l = load(16 * MiB, typical_image(), "hello", "verbose=1");
  ASSERT_EQ(l.result.error, Load_error::none);
  Boot_info info;
  for (usize i = 0; i < sizeof info; ++i) reinterpret_cast<u8*>(&info)[i] = l.memory.byte(guest_layout::boot_info + i);
  EXPECT_EQ(info.magic, boot_info_magic);
  EXPECT_EQ(info.version, boot_info_version);
  EXPECT_EQ(info.vm_id, 7u);
  EXPECT_EQ(info.memory_bytes, 16 * MiB);
  EXPECT_EQ(info.free_start, 0x105000u);
  EXPECT_EQ(info.free_start % page_size_4k, 0u);
  EXPECT_EQ(info.hypercall_version, hypercall_interface_version);
  EXPECT_EQ(info.vcpu_index, 0u);
  EXPECT_STREQ(info.name, "hello");
  EXPECT_STREQ(info.args, "verbose=1");
}

TEST(GuestLoader, FreeStartIsRoundedUpToTheNextPageAfterTheImage) {
  const Loaded l = load(16 * MiB, make_elf64(0x100000, {{0x100000, 0, bytes("\xF4"), 0x1801}}));
  ASSERT_EQ(l.result.error, Load_error::none);
  EXPECT_EQ(l.result.image_end, 0x101801u);
  EXPECT_EQ(l.memory.read<u64>(guest_layout::boot_info + offsetof(Boot_info, free_start)), 0x102000u);
}

TEST(GuestLoader, LongNamesAndArgsAreCutAndStayNulTerminated) {
  const std::string name(40, 'n'), args(100, 'a');
  const Loaded l = load(16 * MiB, typical_image(), name, args);
  ASSERT_EQ(l.result.error, Load_error::none);
  Boot_info info;
  for (usize i = 0; i < sizeof info; ++i) reinterpret_cast<u8*>(&info)[i] = l.memory.byte(guest_layout::boot_info + i);
  EXPECT_EQ(std::string(info.name), std::string(sizeof info.name - 1, 'n'));
  EXPECT_EQ(std::string(info.args), std::string(sizeof info.args - 1, 'a'));
  // Nothing spilled past the block.
  EXPECT_EQ(l.memory.byte(guest_layout::boot_info + sizeof(Boot_info)), 0);
}

TEST(GuestLoader, TheGdtMatchesTheSelectorsAndTheVmcsAccessRights) {
  const Loaded l = load(16 * MiB, typical_image());
  ASSERT_EQ(l.result.error, Load_error::none);
  const Guest_start_state& s = l.result.start;
  EXPECT_EQ(s.gdtr_base, guest_layout::gdt);
  EXPECT_EQ(s.gdtr_limit, 5 * 8 - 1);
  auto descriptor = [&](u16 selector) { return l.memory.read<u64>(s.gdtr_base + (selector & ~7u)); };
  // Access rights as the VMCS wants them = descriptor bits 55:40 without the limit nibble.
  auto ar_of = [](u64 d) { return static_cast<u32>((d >> 40) & 0xF0FF); };
  EXPECT_EQ(l.memory.read<u64>(s.gdtr_base), 0u) << "null descriptor";
  EXPECT_EQ(ar_of(descriptor(s.code_selector)), ar_code64);
  EXPECT_EQ(ar_of(descriptor(s.data_selector)), ar_data);
  const u64 tss = descriptor(s.tr_selector);
  EXPECT_EQ(ar_of(tss), ar_tss64_busy);
  EXPECT_EQ(tss & 0xFFFF, 0x67u) << "limit of a 104-byte TSS";
  EXPECT_EQ(l.memory.read<u64>(s.gdtr_base + s.tr_selector + 8), 0u) << "upper half of a TSS at base 0";
}

TEST(GuestLoader, TheStartStateIsSixtyFourBitModeAtTheEntry) {
  const Loaded l = load(16 * MiB, typical_image());
  ASSERT_EQ(l.result.error, Load_error::none);
  const Guest_start_state& s = l.result.start;
  EXPECT_EQ(s.rip, 0x100010u);
  EXPECT_EQ(s.rsp, guest_layout::stack_top);
  EXPECT_EQ(s.cr3, 0x3000u);
  EXPECT_EQ(s.cr3, guest_layout::pml4);
  EXPECT_EQ(s.efer & (msr::EFER_LME | msr::EFER_LMA), msr::EFER_LME | msr::EFER_LMA);
  EXPECT_EQ(s.cr0 & (cr0_bit::PE | cr0_bit::PG), cr0_bit::PE | cr0_bit::PG);
  EXPECT_TRUE(s.cr4 & cr4_bit::PAE);
  EXPECT_EQ(s.rflags & test::rflags_if, 0u) << "interrupts off";
  EXPECT_TRUE(s.rflags & 2);
}

TEST(GuestLoader, TheLowMemoryLayoutDoesNotOverlap) {
  static_assert(guest_layout::gdt + 5 * 8 <= guest_layout::boot_info);
  static_assert(guest_layout::boot_info + sizeof(Boot_info) <= guest_layout::pml4);
  static_assert(guest_layout::pml4 + page_size_4k <= guest_layout::pdpt);
  static_assert(guest_layout::pdpt + page_size_4k <= guest_layout::page_directories);
  EXPECT_LE(guest_layout::page_directories + (guest_layout::max_memory / GiB) * page_size_4k,
            guest_layout::stack_top - 64 * KiB)
      << "at least 64 KiB of stack below the stack top";
  EXPECT_LE(guest_layout::stack_top, guest_layout::image_min);
}

class GuestLoaderPaging : public ::testing::TestWithParam<u64> {};

TEST_P(GuestLoaderPaging, AllRamIsIdentityMappedWithTwoMibPages) {
  const u64 size = GetParam();
  const Loaded l = load(size, typical_image());
  ASSERT_EQ(l.result.error, Load_error::none) << load_error_message(l.result.error);
  const u64 cr3 = l.result.start.cr3;
  for (u64 va = 0; va < size; va += page_size_2m) {
    // Each 2 MiB page: its first and last byte, and its leaf is a writable 2 MiB entry.
    ASSERT_EQ(translate(l.memory, cr3, va), std::optional<u64>(va)) << std::hex << va;
    ASSERT_EQ(translate(l.memory, cr3, va + page_size_2m - 1), std::optional<u64>(va + page_size_2m - 1));
    const u64 pdpte = l.memory.read<u64>(guest_layout::pdpt + 8 * pte::index(va, 3));
    const u64 pde = l.memory.read<u64>((pdpte & pte::address_mask) + 8 * pte::index(va, 2));
    ASSERT_EQ(pde & (pte::P | pte::RW | pte::PS | pte::NX), pte::P | pte::RW | pte::PS);
  }
  EXPECT_EQ(translate(l.memory, cr3, size - 1), std::optional<u64>(size - 1)) << "the last byte of RAM";
  EXPECT_EQ(translate(l.memory, cr3, size), std::nullopt) << "nothing past RAM";
  EXPECT_EQ(translate(l.memory, cr3, size + 5 * GiB), std::nullopt);
  EXPECT_EQ(translate(l.memory, cr3, 0xFFFF800000000000ull), std::nullopt) << "no higher-half mapping";
  EXPECT_EQ(translate(l.memory, cr3, 512 * GiB), std::nullopt);
  // Paging structures are below the image.
  EXPECT_EQ(l.memory.read<u64>(guest_layout::pml4) & pte::address_mask, guest_layout::pdpt);
}

INSTANTIATE_TEST_SUITE_P(Sizes, GuestLoaderPaging,
                         ::testing::Values(4 * MiB, 6 * MiB, 1 * GiB, 1 * GiB + 2 * MiB, 3 * GiB + 510 * MiB,
                                           guest_layout::max_memory),
                         [](const ::testing::TestParamInfo<u64>& i) { return std::to_string(i.param / MiB) + "MiB"; });

TEST(GuestLoader, ImpossibleMemorySizesAreRefusedBeforeAnythingIsWritten) {
  const std::vector<u8> image = typical_image();
  for (u64 size : {u64{0}, 2 * MiB, 3 * MiB, 16 * MiB + 4 * KiB, 17 * MiB}) {
    const Loaded l = load(size, image);
    EXPECT_EQ(l.result.error, Load_error::memory_too_small) << size;
    EXPECT_EQ(l.memory.writes, 0u);
  }
  for (u64 size : {guest_layout::max_memory + page_size_2m, 1024 * GiB}) {
    const Loaded l = load(size, image);
    EXPECT_EQ(l.result.error, Load_error::memory_too_large) << size;
    EXPECT_EQ(l.memory.writes, 0u);
  }
  EXPECT_STRNE(load_error_message(Load_error::memory_too_small), "?");
}

TEST(GuestLoader, AnImageThatLeavesNoFreePageIsTooBig) {
  // The image ends exactly at the end of RAM.
  const Loaded l = load(4 * MiB, make_elf64(0x100000, {{0x100000, 0, bytes("\xF4"), 3 * MiB}}));
  EXPECT_EQ(l.result.error, Load_error::memory_too_small);
}

TEST(GuestLoader, AnImageBeyondRamIsABadElf) {
  const Loaded l = load(4 * MiB, make_elf64(0x500000, {{0x500000, 0, bytes("\xF4")}}));
  EXPECT_EQ(l.result.error, Load_error::bad_elf);
  EXPECT_EQ(l.result.elf_error, Elf_error::segment_outside_guest_memory);
}

TEST(GuestLoader, SegmentsBelowOneMibAreRefused) {
  const Loaded l = load(16 * MiB, make_elf64(0x80000, {{0x80000, 0, bytes("\xF4")}}));
  EXPECT_EQ(l.result.error, Load_error::image_below_1mib);
  EXPECT_FALSE(l.memory.touched(0x80000));
  // Also a second segment that reaches into the loader's area.
  const Loaded l2 = load(16 * MiB, make_elf64(0x100000, {{0x100000, 0, bytes("\xF4")}, {0x4000, 0, bytes("x"), 0, elf_pf_r}}));
  EXPECT_EQ(l2.result.error, Load_error::image_below_1mib);
  EXPECT_FALSE(l2.memory.touched(0x4000));
}

TEST(GuestLoader, SegmentsMustBeIdentityMappedAndSaySo) {
  // Linked for a higher-half virtual address: the loader's page tables would not map it.
  const Loaded l = load(16 * MiB, make_elf64(0xA00000, {{0x200000, 0xA00000, bytes("\xF4")}}));
  EXPECT_NE(l.result.error, Load_error::none);
  EXPECT_NE(l.result.error, Load_error::image_below_1mib) << "the segment is at 2 MiB: a misleading error";
  EXPECT_EQ(l.result.error, Load_error::not_identity_mapped);
  EXPECT_STRNE(load_error_message(l.result.error), "?");
}

TEST(GuestLoader, ABadElfIsRefusedWithTheParsersReason) {
  const Loaded empty = load(16 * MiB, {});
  EXPECT_EQ(empty.result.error, Load_error::bad_elf);
  EXPECT_EQ(empty.result.elf_error, Elf_error::truncated_header);

  std::vector<u8> not_elf = typical_image();
  not_elf[1] = 'X';
  const Loaded l = load(16 * MiB, not_elf);
  EXPECT_EQ(l.result.error, Load_error::bad_elf);
  EXPECT_EQ(l.result.elf_error, Elf_error::bad_magic);
  EXPECT_EQ(l.memory.writes, 0u);

  std::vector<u8> truncated = typical_image();
  truncated.resize(truncated.size() - 1);
  const Loaded t = load(16 * MiB, truncated);
  EXPECT_EQ(t.result.error, Load_error::bad_elf);
  EXPECT_EQ(t.result.elf_error, Elf_error::segment_outside_file);
  EXPECT_EQ(t.memory.writes, 0u);
}

TEST(GuestLoader, AFailedWriteIsReportedWhereverItHappens) {
  // Refusing the code, the data, the GDT, the boot info, the PML4 or the last page directory of
  // a 3 GiB guest.
  for (u64 refuse : {u64{0x100000}, u64{0x102000}, guest_layout::gdt, guest_layout::boot_info, guest_layout::pml4,
                     guest_layout::page_directories + 2 * page_size_4k}) {
    Sparse_guest_memory memory(3 * GiB);
    memory.refuse_page = refuse;
    const std::vector<u8> image = typical_image();
    const Guest_load_result r = load_guest({image, 3 * GiB, 1, "vm1", ""}, memory);
    EXPECT_EQ(r.error, Load_error::write_failed) << std::hex << refuse;
  }
}

} // namespace
} // namespace hv
