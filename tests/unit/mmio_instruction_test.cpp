// tests/unit/mmio_instruction_test.cpp - the MMIO instruction decoder against encodings GNU as
// produces for the forms Linux's readl/writel and friends compile to, the register results of
// loads of each width, every refusal, and random bytes (never a length past the bytes or 15).
#include "vmx/mmio_instruction.hpp"
#include <gtest/gtest.h>
#include <random>
#include <vector>

namespace hv {
namespace {

Mmio_instruction decode_ok(std::vector<u8> bytes, bool long_mode = true) {
  Mmio_instruction insn;
  const Mmio_decode_error e = decode_mmio_instruction(bytes, long_mode, insn);
  EXPECT_EQ(e, Mmio_decode_error::none) << mmio_decode_error_message(e);
  return insn;
}
Mmio_decode_error decode_error(std::vector<u8> bytes, bool long_mode = true) {
  Mmio_instruction insn;
  return decode_mmio_instruction(bytes, long_mode, insn);
}

TEST(MmioInstruction, LoadsOfEachWidthAndAddressingForm) {
  Mmio_instruction i = decode_ok({0x8B, 0x00});  // mov (%rax),%eax
  EXPECT_EQ(i.kind, Mmio_kind::load); EXPECT_EQ(i.size, 4); EXPECT_EQ(i.reg, 0); EXPECT_EQ(i.length, 2);
  i = decode_ok({0x8B, 0x87, 0x20, 0x03, 0x00, 0x00});  // mov 0x320(%rdi),%eax
  EXPECT_EQ(i.length, 6); EXPECT_EQ(i.reg, 0);
  i = decode_ok({0x48, 0x8B, 0x05, 0x10, 0x00, 0x00, 0x00});  // mov 0x10(%rip),%rax
  EXPECT_EQ(i.size, 8); EXPECT_EQ(i.length, 7);
  i = decode_ok({0x8B, 0x44, 0x24, 0x08});  // mov 0x8(%rsp),%eax: SIB + disp8
  EXPECT_EQ(i.length, 4);
  i = decode_ok({0x8B, 0x04, 0x25, 0x20, 0x03, 0xE0, 0xFE});  // mov 0xfee00320,%eax: SIB without base
  EXPECT_EQ(i.length, 7);
  i = decode_ok({0x44, 0x8B, 0x4B, 0x30});  // mov 0x30(%rbx),%r9d
  EXPECT_EQ(i.reg, 9); EXPECT_EQ(i.size, 4); EXPECT_EQ(i.length, 4);
  i = decode_ok({0x66, 0x8B, 0x47, 0x02});  // mov 0x2(%rdi),%ax
  EXPECT_EQ(i.size, 2); EXPECT_EQ(i.register_size, 2); EXPECT_EQ(i.length, 4);
  i = decode_ok({0x8A, 0x07});  // mov (%rdi),%al
  EXPECT_EQ(i.size, 1); EXPECT_FALSE(i.high_byte);
  i = decode_ok({0x0F, 0xB6, 0x07});  // movzbl (%rdi),%eax
  EXPECT_EQ(i.size, 1); EXPECT_EQ(i.register_size, 4); EXPECT_EQ(i.extend, Mmio_extend::zero); EXPECT_EQ(i.length, 3);
  i = decode_ok({0x0F, 0xB7, 0x47, 0x02});  // movzwl 0x2(%rdi),%eax
  EXPECT_EQ(i.size, 2); EXPECT_EQ(i.length, 4);
  i = decode_ok({0x48, 0x0F, 0xBF, 0x07});  // movswq (%rdi),%rax
  EXPECT_EQ(i.size, 2); EXPECT_EQ(i.register_size, 8); EXPECT_EQ(i.extend, Mmio_extend::sign);
  i = decode_ok({0x65, 0x8B, 0x00});  // a segment override is skipped
  EXPECT_EQ(i.length, 3);
  i = decode_ok({0x67, 0x8B, 0x00});  // mov (%eax),%eax: 32-bit addressing in 64-bit mode
  EXPECT_EQ(i.length, 3);
  i = decode_ok({0x8B, 0x80, 0x00, 0x00, 0xE0, 0xFE}, false);  // 32-bit code: mov 0xfee00000(%eax),%eax
  EXPECT_EQ(i.length, 6);
}

TEST(MmioInstruction, Stores) {
  Mmio_instruction i = decode_ok({0x89, 0x10});  // mov %edx,(%rax)
  EXPECT_EQ(i.kind, Mmio_kind::store_register); EXPECT_EQ(i.reg, 2); EXPECT_EQ(i.size, 4);
  i = decode_ok({0x44, 0x89, 0x04, 0x24});  // mov %r8d,(%rsp)
  EXPECT_EQ(i.reg, 8); EXPECT_EQ(i.length, 4);
  i = decode_ok({0x48, 0x89, 0x37});  // mov %rsi,(%rdi)
  EXPECT_EQ(i.size, 8); EXPECT_EQ(i.reg, 6);
  i = decode_ok({0x66, 0x89, 0x07});  // mov %ax,(%rdi)
  EXPECT_EQ(i.size, 2); EXPECT_EQ(i.length, 3);
  i = decode_ok({0x88, 0x27});  // mov %ah,(%rdi)
  EXPECT_TRUE(i.high_byte); EXPECT_EQ(i.reg, 0);
  EXPECT_EQ(mmio_store_value(i, 0x1234), 0x12u);
  i = decode_ok({0x40, 0x88, 0x37});  // mov %sil,(%rdi): REX makes 6 SIL, not DH
  EXPECT_FALSE(i.high_byte); EXPECT_EQ(i.reg, 6);
  EXPECT_EQ(mmio_store_value(i, 0xABCD), 0xCDu);
  i = decode_ok({0xC7, 0x00, 0x00, 0x00, 0x00, 0x00});  // movl $0,(%rax)
  EXPECT_EQ(i.kind, Mmio_kind::store_immediate); EXPECT_EQ(i.immediate, 0u); EXPECT_EQ(i.length, 6);
  i = decode_ok({0x48, 0xC7, 0x00, 0xFF, 0xFF, 0xFF, 0xFF});  // movq $-1,(%rax)
  EXPECT_EQ(i.size, 8); EXPECT_EQ(i.immediate, ~u64{0}); EXPECT_EQ(i.length, 7);
  i = decode_ok({0xC7, 0x87, 0xB0, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12});  // movl $0x12345678,0xb0(%rdi)
  EXPECT_EQ(i.immediate, 0x12345678u); EXPECT_EQ(i.length, 10);
  EXPECT_EQ(mmio_store_value(i, 0xDEAD), 0x12345678u);
  i = decode_ok({0xC6, 0x07, 0x81});  // movb $0x81,(%rdi)
  EXPECT_EQ(i.size, 1); EXPECT_EQ(i.immediate, 0x81u);
  i = decode_ok({0x66, 0xC7, 0x07, 0x34, 0x12});  // movw $0x1234,(%rdi)
  EXPECT_EQ(i.size, 2); EXPECT_EQ(i.immediate, 0x1234u); EXPECT_EQ(i.length, 5);
}

TEST(MmioInstruction, LoadResultsFollowTheDestinationWidth) {
  const u64 old = 0x1122334455667788ull;
  Mmio_instruction i = decode_ok({0x8A, 0x07});  // mov (%rdi),%al
  EXPECT_EQ(mmio_load_result(i, old, 0xAB), 0x11223344556677ABull);
  i = decode_ok({0x8A, 0x27});  // mov (%rdi),%ah
  EXPECT_EQ(mmio_load_result(i, old, 0xAB), 0x112233445566AB88ull);
  i = decode_ok({0x66, 0x8B, 0x07});  // mov (%rdi),%ax
  EXPECT_EQ(mmio_load_result(i, old, 0xBEEF), 0x112233445566BEEFull);
  i = decode_ok({0x8B, 0x07});  // mov (%rdi),%eax: bits 63:32 cleared
  EXPECT_EQ(mmio_load_result(i, old, 0xCAFEF00D), 0xCAFEF00Dull);
  i = decode_ok({0x48, 0x8B, 0x07});
  EXPECT_EQ(mmio_load_result(i, old, 0x0102030405060708ull), 0x0102030405060708ull);
  i = decode_ok({0x0F, 0xBE, 0x07});  // movsbl (%rdi),%eax
  EXPECT_EQ(mmio_load_result(i, old, 0x80), 0xFFFFFF80ull);
  i = decode_ok({0x48, 0x0F, 0xBF, 0x07});  // movswq (%rdi),%rax
  EXPECT_EQ(mmio_load_result(i, old, 0x8001), 0xFFFFFFFFFFFF8001ull);
  i = decode_ok({0x66, 0x0F, 0xB6, 0x07});  // movzbw (%rdi),%ax
  EXPECT_EQ(mmio_load_result(i, old, 0xFF), 0x11223344556600FFull);
  i = decode_ok({0x8B, 0x07});
  EXPECT_EQ(mmio_load_result(i, old, 0xFFFFFFFF12345678ull), 0x12345678ull);  // only `size` bytes of data count
}

TEST(MmioInstruction, Refusals) {
  EXPECT_EQ(decode_error({0x89, 0xC0}), Mmio_decode_error::register_operand);  // mov %eax,%eax
  EXPECT_EQ(decode_error({0x0F, 0xB6, 0xC0}), Mmio_decode_error::register_operand);
  EXPECT_EQ(decode_error({0xF3, 0xA5}), Mmio_decode_error::unsupported);        // rep movsl
  EXPECT_EQ(decode_error({0xF0, 0x09, 0x07}), Mmio_decode_error::unsupported);  // lock or %eax,(%rdi)
  EXPECT_EQ(decode_error({0x01, 0x07}), Mmio_decode_error::unsupported);        // add %eax,(%rdi)
  EXPECT_EQ(decode_error({0xC7, 0x4F, 0x10, 0, 0, 0, 0}), Mmio_decode_error::unsupported);  // C7 /1
  EXPECT_EQ(decode_error({0x0F, 0x01, 0x07}), Mmio_decode_error::unsupported);  // sgdt
  EXPECT_EQ(decode_error({}), Mmio_decode_error::truncated);
  EXPECT_EQ(decode_error({0x66, 0x66}), Mmio_decode_error::truncated);
  EXPECT_EQ(decode_error({0x8B}), Mmio_decode_error::truncated);
  EXPECT_EQ(decode_error({0x48}), Mmio_decode_error::truncated);
  EXPECT_EQ(decode_error({0x8B, 0x87, 0x20}), Mmio_decode_error::truncated);
  EXPECT_EQ(decode_error({0x8B, 0x04}), Mmio_decode_error::truncated);
  EXPECT_EQ(decode_error({0xC7, 0x00, 0x01, 0x02}), Mmio_decode_error::truncated);
  EXPECT_EQ(decode_error({0x67, 0x8B, 0x07}, false), Mmio_decode_error::address_size_16);
  EXPECT_EQ(decode_error({0x48, 0x8B, 0x00}, false), Mmio_decode_error::unsupported);  // 0x48 is DEC in 32-bit code
  // 15 prefixes and an opcode: longer than any instruction may be.
  std::vector<u8> long_one(15, 0x66);
  long_one.push_back(0x8B);
  long_one.push_back(0x00);
  EXPECT_EQ(decode_error(long_one), Mmio_decode_error::truncated);
  for (u8 e = 0; e <= static_cast<u8>(Mmio_decode_error::address_size_16); ++e)
    EXPECT_STRNE(mmio_decode_error_message(static_cast<Mmio_decode_error>(e)), "?");
}

TEST(MmioInstruction, RandomBytesNeverOverrun) {
  std::mt19937_64 rng(99);
  usize decoded = 0;
  for (int n = 0; n < 200000; ++n) {
    std::vector<u8> b(1 + rng() % 16);
    for (u8& x : b) x = static_cast<u8>(rng());
    if (rng() % 2) b[rng() % b.size()] = static_cast<u8>(0x88 + rng() % 4);  // more hits on MOV
    Mmio_instruction i;
    if (decode_mmio_instruction(b, rng() % 4 != 0, i) != Mmio_decode_error::none) continue;
    ++decoded;
    ASSERT_GT(i.length, 0u);
    ASSERT_LE(i.length, b.size());
    ASSERT_LE(i.length, x86_max_instruction_length);
    ASSERT_TRUE(i.size == 1 || i.size == 2 || i.size == 4 || i.size == 8);
    ASSERT_LT(i.reg, 16u);
  }
  EXPECT_GT(decoded, 1000u);
}

} // namespace
} // namespace hv
