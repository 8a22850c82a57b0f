// tests/unit/ept_violation_test.cpp - decoding EPT-violation exit qualifications and their log text;
// EPTP and entry-layout helpers.
#include "mm/ept_violation.hpp"
#include "mm/eptp.hpp"
#include <gtest/gtest.h>
#include <string>

namespace hv {
namespace {

std::string describe(u64 q, u64 gpa, bool advanced = true) {
  Fixed_text<240> out;
  describe_ept_exit_qualification(out, decode_ept_exit_qualification(q, advanced), gpa);
  return std::string(out.view());
}

TEST(Ept_exit_qualification, WriteToANotPresentPageFromAGuestAccess) {
  // Data write (bit 1), nothing allowed, linear address valid (7) and translated (8).
  const auto v = decode_ept_exit_qualification(0x182);
  EXPECT_FALSE(v.read);
  EXPECT_TRUE(v.write);
  EXPECT_FALSE(v.fetch);
  EXPECT_FALSE(v.entry_present());
  EXPECT_TRUE(v.gla_valid);
  EXPECT_TRUE(v.translated_access);
  EXPECT_FALSE(v.nmi_unblocking_due_to_iret);
  EXPECT_FALSE(v.reserved_bits_set);
  EXPECT_EQ(describe(0x182, 0x1000), "write at GPA 0x1000 (entry not present, final translation, supervisor)");
}

TEST(Ept_exit_qualification, FetchFromAReadWritePageSaysWhatTheEntryAllowed) {
  // Fetch (2), readable (3), writable (4), not executable.
  const auto v = decode_ept_exit_qualification(0x1C | 0x180);
  EXPECT_TRUE(v.fetch);
  EXPECT_TRUE(v.readable && v.writable);
  EXPECT_FALSE(v.executable);
  EXPECT_TRUE(v.entry_present());
  EXPECT_EQ(describe(0x19C, 0x20'0000), "fetch at GPA 0x200000 (entry rw--, final translation, supervisor)");
}

TEST(Ept_exit_qualification, GuestPageWalkAccessAndNoLinearAddress) {
  // A read of a guest paging-structure entry: bit 7 set, bit 8 clear.
  auto v = decode_ept_exit_qualification(0x81);
  EXPECT_TRUE(v.gla_valid);
  EXPECT_FALSE(v.translated_access);
  EXPECT_FALSE(v.advanced_info);
  EXPECT_EQ(describe(0x81, 0x3000), "read at GPA 0x3000 (entry not present, guest page walk)");
  // Bit 7 clear (the access had no linear address): bit 8 means nothing and is ignored.
  v = decode_ept_exit_qualification(0x101);
  EXPECT_FALSE(v.gla_valid);
  EXPECT_FALSE(v.translated_access);
  EXPECT_EQ(describe(0x101, 0x3000), "read at GPA 0x3000 (entry not present, no linear address)");
}

TEST(Ept_exit_qualification, AdvancedInformationOnlyWhenTheCpuProvidesIt) {
  // User-mode (9), writable (10), execute-disable (11) linear address.
  const u64 q = 0x182 | (1u << 9) | (1u << 10) | (1u << 11);
  const auto v = decode_ept_exit_qualification(q, true);
  EXPECT_TRUE(v.advanced_info && v.user_mode_linear && v.writable_linear && v.execute_disable_linear);
  EXPECT_EQ(describe(q, 0x1000), "write at GPA 0x1000 (entry not present, final translation, user writable XD)");
  const auto w = decode_ept_exit_qualification(q, false);
  EXPECT_FALSE(w.advanced_info || w.user_mode_linear || w.writable_linear || w.execute_disable_linear);
}

TEST(Ept_exit_qualification, NmiUnblockingShadowStackAndTheOtherBits) {
  const u64 q = (1u << 0) | (1u << 1) | (1u << 3) | (1u << 6) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 15) |
                (1u << 16) | (1ull << 40);
  const auto v = decode_ept_exit_qualification(q);
  EXPECT_TRUE(v.read && v.write);
  EXPECT_TRUE(v.readable && v.user_executable);
  EXPECT_FALSE(v.writable || v.executable);
  EXPECT_TRUE(v.nmi_unblocking_due_to_iret);
  EXPECT_TRUE(v.shadow_stack_access && v.supervisor_shadow_stack);
  EXPECT_TRUE(v.guest_paging_verification && v.asynchronous);
  EXPECT_TRUE(v.reserved_bits_set);
  EXPECT_EQ(describe(q, 0xfee0'0000),
            "read+write at GPA 0xfee00000 (entry r--u, no linear address, NMI unblocked by IRET, shadow-stack access, "
            "supervisor shadow stack, guest-paging verification, asynchronous, reserved bits 0x10000000000)");
  static_assert(decode_ept_exit_qualification(0x4).fetch, "usable at compile time");
}

TEST(Eptp, FieldsRoundTripAndVmEntryChecks) {
  const Eptp_fields f{Cache_type::wb, 4, true, Hpa(0x7654'3000)};
  const u64 e = make_eptp(f);
  EXPECT_EQ(e, 0x7654'305Eull);
  EXPECT_EQ(decode_eptp(e), f);
  EXPECT_TRUE(eptp_valid(e, 39, true, false));
  EXPECT_FALSE(eptp_valid(e, 39, false, true));                             // WB not supported
  EXPECT_TRUE(eptp_valid(make_eptp({Cache_type::uc, 4, false, Hpa(0x1000)}), 39, false, true));
  EXPECT_FALSE(eptp_valid(make_eptp({Cache_type::wb, 5, false, Hpa(0x1000)}), 39, true, true));  // 5-level
  EXPECT_FALSE(eptp_valid(make_eptp({Cache_type::wb, 4, false, Hpa(1ull << 39)}), 39, true, true));
  EXPECT_FALSE(eptp_valid(e | 0x100, 39, true, true));                      // reserved bit 8
}

TEST(Ept_entry_layout, HelpersMatchTheSdm) {
  using namespace ept_entry;
  EXPECT_EQ(address(0x8000'0000'1234'5007ull), 0x1234'5000ull);
  EXPECT_EQ(with_address(0x8000'0000'0000'0007ull, 0xabc'd000), 0x8000'0000'0abc'd007ull);
  EXPECT_EQ(memory_type(with_memory_type(0, Cache_type::wp)), 5u);
  EXPECT_TRUE(present(READ));
  EXPECT_FALSE(present(ACCESSED | DIRTY | IGNORE_PAT | (6 << 3) | 0x1000));
  EXPECT_FALSE(is_leaf(PAGE_SIZE | RWX, 4));  // PML4Es never map pages
  EXPECT_TRUE(is_leaf(0, 1));
  EXPECT_EQ(make_table(0x5000, true), 0x5407ull);
  EXPECT_EQ(make_leaf(0x4000'0000, READ | EXECUTE, Cache_type::wc, false, 3), 0x4000'0000ull | 0x5 | (1 << 3) | 0x80);
  EXPECT_STREQ(cache_type_name(Cache_type::wt), "WT");
  EXPECT_FALSE(cache_type_valid(2) || cache_type_valid(3) || cache_type_valid(7));
}

} // namespace
} // namespace hv
