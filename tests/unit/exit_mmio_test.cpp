// tests/unit/exit_mmio_test.cpp - emulated MMIO through dispatch_exit: an EPT violation in an
// MMIO slot, the instruction read at the guest's RIP through its own page tables (also across a
// page boundary, and with paging off), the device's answer in the register of each width, stores
// of registers and immediates, RIP past the instruction, and the VM stopped (never the host) when
// the instruction cannot be emulated or no device answers. Hosted only.
#include "unit/support/shadow_cpu.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <memory>
#include <vector>

namespace hv {
namespace {
namespace pte = x86::pte;

constexpr u64 ram_bytes = 16 * MiB;
constexpr u64 mmio_base = 0xFEE00000;
constexpr u64 code_gva = 0x7000'0000'0FFAull;  // 6 bytes before a page boundary
constexpr u64 code_gpa_1 = 0x30'0000, code_gpa_2 = 0x40'0000;  // the two pages are not contiguous
constexpr u64 mmio_gva = 0x7000'0010'0000ull;

// A device that remembers the accesses and answers reads with a pattern.
class Recording_device final : public Mmio_device {
public:
  u64 mmio_read(u64 offset, u8 size) override { reads.push_back({offset, size, 0}); return answer; }
  void mmio_write(u64 offset, u8 size, u64 value) override { writes.push_back({offset, size, value}); }
  struct Access { u64 offset; u8 size; u64 value; };
  std::vector<Access> reads, writes;
  u64 answer = 0x1122334455667788ull;
};

class ExitMmio : public test::Vcpu_test {
protected:
  ExitMmio() {
    Ept_config c;
    c.owner = 1;
    c.max_phys_addr_bits = 46;
    mem = std::make_unique<Guest_memory>(frames, frames.direct_map(), inv, c, default_paging_policy);
    EXPECT_EQ(mem->init(), Ept_status::ok);
    EXPECT_EQ(mem->add_slot({Gpa(0), ram_bytes, Memslot_kind::ram}), Memslot_status::ok);
    EXPECT_EQ(mem->add_slot({Gpa(mmio_base), page_size_4k, Memslot_kind::mmio, 1}), Memslot_status::ok);
    tables = std::make_unique<test::Guest_tables>(*mem, 1 * MiB);
    cr3 = tables->new_table();
    tables->map(cr3, code_gva & ~(page_size_4k - 1), code_gpa_1, 1, pte::P | pte::RW);
    tables->map(cr3, (code_gva & ~(page_size_4k - 1)) + page_size_4k, code_gpa_2, 1, pte::P | pte::RW);
    tables->map(cr3, mmio_gva, mmio_base, 1, pte::P | pte::RW);
    EXPECT_TRUE(mmio.attach(mmio_base, page_size_4k, device));
    vcpu.memory = mem.get();
    vcpu.mmio = &mmio;
    vmcs.write(vmcs::GUEST_CR3, cr3);
  }
  ~ExitMmio() override {
    vcpu.memory = nullptr;
    tables.reset();
    mem.reset();
  }
  // The instruction at code_gva (its bytes split over the two pages as they fall).
  void place(const std::vector<u8>& bytes, u64 gva = code_gva) {
    for (usize i = 0; i < bytes.size(); ++i) {
      const u64 va = gva + i;
      const u64 page = va & ~(page_size_4k - 1);
      const u64 gpa = (page == (code_gva & ~(page_size_4k - 1)) ? code_gpa_1 : code_gpa_2) + (va & (page_size_4k - 1));
      test::guest_write(*mem, gpa, bytes[i], 1);
    }
    vmcs.write(vmcs::GUEST_RIP, gva);
  }
  Exit_action access(u64 offset, bool write) {
    vmcs.write(vmcs::GUEST_PHYSICAL_ADDRESS, mmio_base + offset);
    vmcs.write(vmcs::GUEST_LINEAR_ADDRESS, mmio_gva + offset);
    return exit_with(exit_reason::EPT_VIOLATION, (write ? 2u : 1u) | (1u << 7) | (1u << 8));
  }

  test::Test_frames frames;
  test::Counting_invalidator inv;
  std::unique_ptr<Guest_memory> mem;
  std::unique_ptr<test::Guest_tables> tables;
  u64 cr3 = 0;
  Mmio_bus mmio;
  Recording_device device;
};

TEST_F(ExitMmio, ALoadAcrossAPageBoundaryGetsTheDevicesAnswer) {
  vcpu.regs.rax = 0xFFFF'FFFF'FFFF'FFFFull;
  place({0x8B, 0x87, 0x20, 0x03, 0x00, 0x00, 0x00, 0x00, 0x90});  // mov 0x320(%rdi),%eax; 6 bytes on page 1
  vcpu.regs.rdi = mmio_gva - 0x300;
  EXPECT_EQ(access(0x20, false), Exit_action::resume);
  ASSERT_EQ(device.reads.size(), 1u);
  EXPECT_EQ(device.reads[0].offset, 0x20u);
  EXPECT_EQ(device.reads[0].size, 4);
  EXPECT_EQ(vcpu.regs.rax, 0x55667788u);  // 32-bit load: bits 63:32 cleared
  EXPECT_EQ(rip(), code_gva + 6);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
  EXPECT_EQ(vcpu.mmio_accesses, 1u);
}

TEST_F(ExitMmio, StoresOfRegistersAndImmediates) {
  vcpu.regs.rdx = 0xAAAA'BBBB'CCCC'DDDDull;
  place({0x89, 0x10});  // mov %edx,(%rax)
  EXPECT_EQ(access(0xB0, true), Exit_action::resume);
  ASSERT_EQ(device.writes.size(), 1u);
  EXPECT_EQ(device.writes[0].offset, 0xB0u);
  EXPECT_EQ(device.writes[0].value, 0xCCCCDDDDu);
  EXPECT_EQ(rip(), code_gva + 2);
  place({0xC7, 0x00, 0x78, 0x56, 0x34, 0x12});  // movl $0x12345678,(%rax)
  EXPECT_EQ(access(0x380, true), Exit_action::resume);
  ASSERT_EQ(device.writes.size(), 2u);
  EXPECT_EQ(device.writes[1].value, 0x12345678u);
  EXPECT_EQ(rip(), code_gva + 6);
  vcpu.regs.r9 = 0x42;
  place({0x66, 0x44, 0x89, 0x08});  // mov %r9w,(%rax)
  EXPECT_EQ(access(0x10, true), Exit_action::resume);
  EXPECT_EQ(device.writes[2].size, 2);
  EXPECT_EQ(device.writes[2].value, 0x42u);
  // A store through RSP's value (RSP lives in the VMCS).
  vmcs.write(vmcs::GUEST_RSP, 0x5150);
  place({0x48, 0x89, 0x20});  // mov %rsp,(%rax)
  EXPECT_EQ(access(0x8, true), Exit_action::resume);
  EXPECT_EQ(device.writes[3].value, 0x5150u);
}

TEST_F(ExitMmio, ByteAndWordLoadsKeepTheRestOfTheRegister) {
  vcpu.regs.rbx = 0x0102'0304'0506'0708ull;
  place({0x8A, 0x3B});  // mov (%rbx),%bh
  EXPECT_EQ(access(0, false), Exit_action::resume);
  EXPECT_EQ(device.reads[0].size, 1);
  EXPECT_EQ(vcpu.regs.rbx, 0x0102'0304'0506'8808ull);
  place({0x0F, 0xB7, 0x0B});  // movzwl (%rbx),%ecx
  vcpu.regs.rcx = ~0ull;
  EXPECT_EQ(access(0, false), Exit_action::resume);
  EXPECT_EQ(vcpu.regs.rcx, 0x7788u);
}

TEST_F(ExitMmio, WithPagingOffTheRipIsAPhysicalAddress) {
  vmcs.write(vmcs::GUEST_CR0, vmcs.read(vmcs::GUEST_CR0) & ~(1ull << 31));
  test::guest_write(*mem, 0x2000, 0x008B, 2);  // mov (%rax),%eax at GPA 0x2000
  vmcs.write(vmcs::GUEST_RIP, 0x2000);
  EXPECT_EQ(access(0x30, false), Exit_action::resume);
  EXPECT_EQ(vcpu.regs.rax, 0x55667788u);
  EXPECT_EQ(rip(), 0x2002u);
}

TEST_F(ExitMmio, WhatCannotBeEmulatedStopsTheVmWithTheBytes) {
  test::Scoped_log_capture log;
  place({0xF3, 0xA5});  // rep movsl: not emulated
  EXPECT_EQ(access(0, true), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
  EXPECT_EQ(vcpu.stop.address, mmio_base);
  EXPECT_TRUE(device.writes.empty());
  bool named = false;
  for (const auto& l : log.capture.lines) named |= l.find("instruction bytes f3 a5") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST_F(ExitMmio, AnAccessRunningOffTheDevicesRangeStopsTheVm) {
  test::Scoped_log_capture log;
  vcpu.stop = Vcpu_stop{};
  place({0x48, 0x8B, 0x00});  // mov (%rax),%rax: 8 bytes at the page's last 4
  EXPECT_EQ(access(page_size_4k - 4, false), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
  EXPECT_TRUE(device.reads.empty());
}

TEST_F(ExitMmio, AVmWithoutDevicesStopsToo) {
  test::Scoped_log_capture log;
  vcpu.mmio = nullptr;
  place({0x8B, 0x00});
  EXPECT_EQ(access(0, false), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
}

} // namespace
} // namespace hv
