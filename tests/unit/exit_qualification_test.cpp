// tests/unit/exit_qualification_test.cpp - exit-qualification decoders, against qualifications
// computed by hand from the SDM's tables 28-3 (CR access), 28-5 (I/O) and 28-7 (EPT violation).
#include "vmx/exit_qualification.hpp"
#include <gtest/gtest.h>
#include <string>

namespace hv {
namespace {

TEST(ExitQualificationCr, MovToCr3FromRax) {
  // 3:0 = 3, 5:4 = 0 (MOV to CR), 11:8 = 0 (RAX)
  const Cr_access a = decode_cr_access(0x3);
  EXPECT_EQ(a.cr, 3);
  EXPECT_EQ(a.type, Cr_access_type::mov_to_cr);
  EXPECT_EQ(a.gpr, Gpr::rax);
}

TEST(ExitQualificationCr, MovFromCr3ToR12) {
  const Cr_access a = decode_cr_access(3 | (1 << 4) | (12 << 8));  // 0xc13
  EXPECT_EQ(a.cr, 3);
  EXPECT_EQ(a.type, Cr_access_type::mov_from_cr);
  EXPECT_EQ(a.gpr, Gpr::r12);
  EXPECT_STREQ(gpr_name(a.gpr), "r12");
  EXPECT_STREQ(cr_access_type_name(a.type), "MOV from CR");
}

TEST(ExitQualificationCr, MovToCr4FromRspAndCr8FromR15) {
  const Cr_access a = decode_cr_access(0x404);
  EXPECT_EQ(a.cr, 4);
  EXPECT_EQ(a.gpr, Gpr::rsp);
  const Cr_access b = decode_cr_access(0xF08);
  EXPECT_EQ(b.cr, 8);
  EXPECT_EQ(b.type, Cr_access_type::mov_to_cr);
  EXPECT_EQ(b.gpr, Gpr::r15);
}

TEST(ExitQualificationCr, CltsAndLmsw) {
  EXPECT_EQ(decode_cr_access(0x20).type, Cr_access_type::clts);
  // LMSW with a memory operand whose value is 0x000F: type 3, bit 6, data in 31:16.
  const Cr_access m = decode_cr_access(0x000F0070);
  EXPECT_EQ(m.type, Cr_access_type::lmsw);
  EXPECT_TRUE(m.lmsw_memory_operand);
  EXPECT_EQ(m.lmsw_source_data, 0x000F);
  EXPECT_EQ(m.cr, 0);
  // LMSW from a register (AX = 0x8001); bits 63:32 are reserved and ignored.
  const Cr_access r = decode_cr_access(0xFFFF'FFFF'8001'0030ull);
  EXPECT_EQ(r.type, Cr_access_type::lmsw);
  EXPECT_FALSE(r.lmsw_memory_operand);
  EXPECT_EQ(r.lmsw_source_data, 0x8001);
}

TEST(ExitQualificationIo, OutDxAlToTheUart) {
  const auto a = decode_io_access(0x03F8'0000);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (Io_access{1, false, false, false, false, 0x3F8}));
}

TEST(ExitQualificationIo, InAlFromImmediatePort) {
  const auto a = decode_io_access(0x00F4'0048);  // IN AL, 0xF4: bit 3 in, bit 6 immediate
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, (Io_access{1, true, false, false, true, 0xF4}));
}

TEST(ExitQualificationIo, RepOutsbAndWiderAccesses) {
  const auto s = decode_io_access(0x03F8'0030);  // REP OUTSB: bit 4 string, bit 5 REP
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, (Io_access{1, false, true, true, false, 0x3F8}));
  const auto w = decode_io_access(0x0CFC'0001);  // OUT DX, AX
  ASSERT_TRUE(w);
  EXPECT_EQ(w->size, 2);
  const auto d = decode_io_access(0x0CFC'000B);  // IN EAX, DX
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, (Io_access{4, true, false, false, false, 0xCFC}));
  EXPECT_EQ(decode_io_access(0xFFFF'0000)->port, 0xFFFF);
}

TEST(ExitQualificationIo, UndefinedSizeEncodingsAreRejected) {
  EXPECT_FALSE(decode_io_access(0x03F8'0002));
  for (u64 size = 4; size < 8; ++size) EXPECT_FALSE(decode_io_access(0x03F8'0000 | size)) << size;
}

TEST(ExitQualificationGpr, EveryEncodingFindsItsSavedRegister) {
  Guest_registers regs;
  regs.rax = 0;
  regs.rcx = 1;
  regs.rdx = 2;
  regs.rbx = 3;
  regs.rbp = 5;
  regs.rsi = 6;
  regs.rdi = 7;
  regs.r8 = 8;
  regs.r9 = 9;
  regs.r10 = 10;
  regs.r11 = 11;
  regs.r12 = 12;
  regs.r13 = 13;
  regs.r14 = 14;
  regs.r15 = 15;
  for (u8 i = 0; i < 16; ++i) {
    const auto gpr = static_cast<Gpr>(i);
    u64* slot = guest_gpr(regs, gpr);
    if (gpr == Gpr::rsp) {
      EXPECT_EQ(slot, nullptr) << "RSP lives in the VMCS";
      continue;
    }
    ASSERT_NE(slot, nullptr) << gpr_name(gpr);
    EXPECT_EQ(*slot, i) << gpr_name(gpr);
  }
  EXPECT_STREQ(gpr_name(Gpr::rbx), "rbx");
  EXPECT_STREQ(gpr_name(static_cast<Gpr>(16)), "?");
}

} // namespace
} // namespace hv
