// tests/unit/hypercall_test.cpp - the VMCALL interface (docs/hypercalls.md): the first calls,
// unknown numbers, calls from user mode, and the counters.
#include "devices/hypercall.hpp"
#include "mm/balloon.hpp"
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
  for (u64 nr : {9ull, 0x100ull, 0xFFFFFFFFull, 0x8000000000000000ull, ~0ull}) {
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

TEST(Hypercall, BalloonCallsCopyTheListOnceAndAnswerEachBadInputWithItsErrno) {
  test::Merge_host host(64 * MiB);
  Guest_memory& m = host.add_vm(1, 32 * MiB, false);
  ASSERT_EQ(m.add_slot({Gpa(32 * MiB), page_size_4k, Memslot_kind::mmio}), Memslot_status::ok);
  Balloon b(m);
  b.start(8192, 8192 - 512);  // 32 MiB, target size 30 MiB: the host asks for 512 pages
  Hypercall_counters c;
  const Hypercall_env env{&m, nullptr, 1, &b};
  auto hcall = [&](u64 nr, u64 a0, u64 a1) { return dispatch_hypercall(Hypercall_args{nr, a0, a1, 0, 0, 0}, c, env); };
  auto put = [&](u64 gpa, const void* p, u64 n) {
    ASSERT_EQ(m.copy_to_guest(Gpa(gpa), std::span<const u8>(static_cast<const u8*>(p), n)).status, Guest_copy_status::ok);
  };
  const u64 list_gpa = 16 * page_size_4k;
  for (u64 i = 100; i < 120; ++i) ASSERT_TRUE(host.fill_page(1, i * page_size_4k, i));

  EXPECT_NE(hcall(hc::FEATURES, 0, 0) & static_cast<i64>(hc_feature::BALLOON), 0);
  ASSERT_EQ(hcall(hc::BALLOON_INFO, 0x3000, 0), 0);
  Balloon_info_guest info{};
  ASSERT_EQ(m.copy_from_guest(Gpa(0x3000), std::span<u8>(reinterpret_cast<u8*>(&info), sizeof(info))).status,
            Guest_copy_status::ok);
  EXPECT_EQ(info.target_pages, 512u);
  EXPECT_EQ(info.actual_pages, 0u);
  EXPECT_EQ(info.memory_pages, 8192u);
  EXPECT_EQ(info.floor_pages, 1024u);  // 4 MiB
  const Balloon_range ok_list[2] = {{100, 10}, {512, 502}};
  put(list_gpa, ok_list, sizeof(ok_list));
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, list_gpa, 1), 10);
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, list_gpa, 1), HC_EEXIST);  // already ballooned
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, list_gpa + 16, 1), 502);
  EXPECT_EQ(m.stats().balloon_pages, 512u);
  // Each bad input once; nothing changes.
  const Balloon_range dup[2] = {{110, 1}, {110, 1}};
  put(list_gpa + 64, dup, sizeof(dup));
  const Balloon_range outside[1] = {{8192, 1}};
  put(list_gpa + 128, outside, sizeof(outside));
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, list_gpa, 0), HC_EINVAL);
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, list_gpa, balloon_list_max + 1), HC_E2BIG);
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, list_gpa + 4, 1), HC_EFAULT);          // unaligned
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, 64 * MiB, 1), HC_EFAULT);             // outside every slot
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, 32 * MiB - 8, 1), HC_EFAULT);          // across into the MMIO slot
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, ~u64{0} - 7, 1), HC_EFAULT);          // wrapping
  EXPECT_EQ(hcall(hc::BALLOON_INFLATE, list_gpa + 64, 2), HC_ENOSPC);         // the target is reached
  EXPECT_EQ(hcall(hc::BALLOON_DEFLATE, list_gpa + 64, 2), HC_ENOENT);         // never inflated
  EXPECT_EQ(hcall(hc::FREE_PAGE_REPORT, list_gpa + 64, 2), HC_EEXIST);        // listed twice
  EXPECT_EQ(hcall(hc::FREE_PAGE_REPORT, list_gpa + 128, 1), HC_EINVAL);       // outside RAM
  EXPECT_EQ(m.stats().balloon_pages, 512u);
  EXPECT_EQ(b.view().counters.refused_calls, 5u);  // the list-level refusals never reach the balloon
  for (u64 i = 110; i < 120; ++i) {
    u64 page[page_size_4k / 8], want[page_size_4k / 8];
    host.read_page(1, i * page_size_4k, page);
    test::Merge_host::fill_pattern(want, i);
    EXPECT_EQ(std::memcmp(page, want, sizeof(page)), 0) << i;
  }
  // Deflate what was inflated, report free pages, report stats.
  EXPECT_EQ(hcall(hc::BALLOON_DEFLATE, list_gpa, 1), 10);
  const Balloon_range report[1] = {{110, 5}};
  put(list_gpa + 192, report, sizeof(report));
  EXPECT_EQ(hcall(hc::FREE_PAGE_REPORT, list_gpa + 192, 1), 5);
  EXPECT_EQ(m.stats().free_reported, 5u);
  const Balloon_stat stats[2] = {{balloon_tag::free_memory, 123}, {balloon_tag::minor_faults, 9}};
  put(list_gpa + 256, stats, sizeof(stats));
  EXPECT_EQ(hcall(hc::BALLOON_STATS, list_gpa + 256, 2), 0);
  EXPECT_EQ(hcall(hc::BALLOON_STATS, list_gpa + 256, 0), HC_EINVAL);
  EXPECT_EQ(hcall(hc::BALLOON_STATS, list_gpa + 256, balloon_stats_max + 1), HC_E2BIG);
  EXPECT_EQ(hcall(hc::BALLOON_STATS, 32 * MiB - 8, 1), HC_EFAULT);
  EXPECT_EQ(b.view().stats[balloon_tag::minor_faults], 9u);
  // Without a balloon: ENOSYS; from user mode: EPERM.
  EXPECT_EQ(dispatch_hypercall(Hypercall_args{hc::BALLOON_INFO, 0x3000, 0, 0, 0, 0}, c, Hypercall_env{&m, nullptr, 1}), HC_ENOSYS);
  EXPECT_EQ(dispatch_hypercall(Hypercall_args{hc::BALLOON_INFLATE, list_gpa, 1, 0, 0, 3}, c, env), HC_EPERM);
}

} // namespace
} // namespace hv
