// tests/unit/hypercall_test.cpp - the VMCALL interface (docs/hypercalls.md): the first calls,
// unknown numbers, calls from user mode, and the counters.
#include "devices/hypercall.hpp"
#include "vmx/guest_cpuid.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

i64 call(Hypercall_counters& c, u64 nr, u32 cpl = 0, u64 a0 = 0, u64 a1 = 0, u64 a2 = 0, u64 a3 = 0) {
  return dispatch_hypercall(Hypercall_args{nr, a0, a1, a2, a3, cpl}, c);
}

TEST(Hypercall, NopVersionAndFeatures) {
  Hypercall_counters c;
  EXPECT_EQ(call(c, hc::NOP), 0);
  EXPECT_EQ(call(c, hc::VERSION), 1);
  EXPECT_EQ(call(c, hc::VERSION), static_cast<i64>(hypercall_interface_version));
  const i64 features = call(c, hc::FEATURES);
  EXPECT_EQ(features, static_cast<i64>(hc_feature::NOP | hc_feature::VERSION));
  EXPECT_EQ(c.calls, 4u);
  EXPECT_EQ(c.unknown, 0u);
  EXPECT_EQ(c.refused_cpl, 0u);
}

TEST(Hypercall, ArgumentsDoNotChangeTheQueries) {
  Hypercall_counters c;
  EXPECT_EQ(call(c, hc::NOP, 0, ~0ull, ~0ull, ~0ull, ~0ull), 0);
  EXPECT_EQ(call(c, hc::VERSION, 0, 7, 7, 7, 7), 1);
}

TEST(Hypercall, CpuidAndVmcallAgreeOnTheInterfaceVersion) {
  // A guest reads the version from CPUID.0x40000001:EAX and may check it with VERSION.
  EXPECT_EQ(guest_hypercall_abi_version, hypercall_interface_version);
}

TEST(Hypercall, UnknownNumbersAreEnosysAndCounted) {
  Hypercall_counters c;
  for (u64 nr : {4ull, 0x100ull, 0xFFFFFFFFull, 0x8000000000000000ull, ~0ull}) {
    EXPECT_EQ(call(c, nr), HC_ENOSYS) << nr;
  }
  EXPECT_EQ(HC_ENOSYS, -38);
  EXPECT_EQ(c.unknown, 5u);
  EXPECT_EQ(c.calls, 5u);
}

TEST(Hypercall, NumbersAreSixtyFourBitsWide) {
  // A number whose low bits name a real call is still unknown: no truncation to 32 bits.
  Hypercall_counters c;
  EXPECT_EQ(call(c, 0x100000000ull | hc::VERSION), HC_ENOSYS);
}

TEST(Hypercall, UserModeIsRefusedWithEpermBeforeAnythingRuns) {
  Hypercall_counters c;
  EXPECT_EQ(call(c, hc::VERSION, 3), HC_EPERM);
  EXPECT_EQ(call(c, hc::NOP, 3), HC_EPERM);
  EXPECT_EQ(call(c, 12345, 3), HC_EPERM) << "refused, not looked up";
  EXPECT_EQ(call(c, hc::NOP, 1), HC_EPERM);
  EXPECT_EQ(call(c, hc::NOP, 2), HC_EPERM);
  EXPECT_EQ(HC_EPERM, -1);
  EXPECT_EQ(c.refused_cpl, 5u);
  EXPECT_EQ(c.unknown, 0u);
  EXPECT_EQ(c.calls, 5u);
  EXPECT_EQ(call(c, hc::VERSION, 0), 1) << "ring 0 still works afterwards";
}

} // namespace
} // namespace hv

#include "unit/support/merge_fixture.hpp"

namespace hv {
namespace {

TEST(Hypercall, MergeStatsWritesThisVmsFiguresAndRefusesBadBuffers) {
  test::Merge_host host(64 * MiB);
  Merge_knobs k;
  k.run = 1;
  host.merger().set_knobs(k);
  Guest_memory& a = host.add_vm(1, 4 * MiB, false);
  host.add_vm(2, 4 * MiB, false);
  for (u64 i = 0; i < 8; ++i) {
    ASSERT_TRUE(host.fill_page(1, i * page_size_4k, 5));
    ASSERT_TRUE(host.fill_page(2, i * page_size_4k, 5));
  }
  ASSERT_TRUE(host.fill_page(1, 8 * page_size_4k, 0));
  host.merger().scan_full_pass();
  Hypercall_counters c;
  const Hypercall_env env{&a, &host.merger(), 1};
  const u64 buffer = 9 * page_size_4k;
  EXPECT_EQ(dispatch_hypercall(Hypercall_args{hc::MERGE_STATS, buffer, 0, 0, 0, 0}, c, env), 0);
  Merge_stats_guest got{};
  ASSERT_EQ(a.copy_from_guest(Gpa(buffer), std::span<u8>(reinterpret_cast<u8*>(&got), sizeof(got))).status,
            Guest_copy_status::ok);
  EXPECT_EQ(got.merging_pages, 8u);
  EXPECT_EQ(got.zero_released, 1u);
  EXPECT_EQ(got.full_scans, 1u);
  EXPECT_EQ(got.run, 1u);
  // A buffer in a merged page: the write breaks the sharing (the other VM keeps its copy).
  EXPECT_EQ(dispatch_hypercall(Hypercall_args{hc::MERGE_STATS, 0, 0, 0, 0, 0}, c, env), 0);
  EXPECT_EQ(a.stats().cow_breaks, 1u);
  // Bad buffers: unaligned, past RAM, straddling the end of RAM, wrapping around.
  for (u64 bad : {buffer + 4, 4 * MiB, 4 * MiB - 32, ~u64{0} - 7})
    EXPECT_EQ(dispatch_hypercall(Hypercall_args{hc::MERGE_STATS, bad, 0, 0, 0, 0}, c, env), HC_EFAULT) << bad;
  EXPECT_EQ(dispatch_hypercall(Hypercall_args{hc::MERGE_STATS, buffer, 0, 0, 0, 0}, c, Hypercall_env{}), HC_ENOSYS);
  EXPECT_EQ(dispatch_hypercall(Hypercall_args{hc::MERGE_STATS, buffer, 0, 0, 0, 3}, c, env), HC_EPERM);
  EXPECT_NE(dispatch_hypercall(Hypercall_args{hc::FEATURES, 0, 0, 0, 0, 0}, c, env) & static_cast<i64>(hc_feature::MERGE_STATS), 0);
}

} // namespace
} // namespace hv
