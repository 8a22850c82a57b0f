// tests/unit/monitor_memory_test.cpp - the monitor's memory commands against the fake host:
// info ksm / ksm set (same-page merging) and balloon / info balloon (the balloon).
#include "unit/support/monitor_fixture.hpp"
#include <gmock/gmock.h>

namespace hv {
namespace {

using ::testing::ElementsAre;
using test::MonitorTest;

TEST_F(MonitorTest, InfoKsmPrintsEveryKnobAndStatisticWithLinuxNames) {
  host.knobs.run = 1;
  host.knobs.pages_to_scan = 500;
  host.merge_stats.pages_shared = 12;
  host.merge_stats.pages_sharing = 3400;
  host.merge_stats.general_profit = -4096;
  const auto lines = run("info ksm");
  ASSERT_GE(lines.size(), 26u);
  EXPECT_EQ(lines[0], "KNOB                          VALUE  MEANING");
  EXPECT_EQ(lines[1], "run                               1  0 stop, 1 run, 2 unmerge all and stop");
  EXPECT_EQ(lines[2], "pages_to_scan                   500  4 KiB pages scanned per wake-up");
  const auto has = [&](const std::string& prefix) {
    for (const auto& l : lines)
      if (l.rfind(prefix, 0) == 0) return true;
    return false;
  };
  for (const char* name : {"sleep_millisecs", "max_page_sharing", "merge_across_vms", "split_2m_min_pages",
                           "release_zero_pages", "pages_unshared", "pages_volatile", "pages_scanned", "full_scans",
                           "ksm_zero_pages", "cow_breaks"})
    EXPECT_TRUE(has(name)) << name;
  EXPECT_TRUE(has("pages_shared                     12"));
  EXPECT_TRUE(has("pages_sharing                  3400"));
  EXPECT_TRUE(has("general_profit                -4096"));
  host.has_merger = false;
  EXPECT_THAT(run("info ksm"), ElementsAre("ksm: no same-page merger in this run"));
}

TEST_F(MonitorTest, KsmSetChangesAKnobAndRefusesBadNamesAndValuesWithTheRange) {
  EXPECT_THAT(run("ksm set pages_to_scan 1000"), ElementsAre("ksm: pages_to_scan = 1000 (was 100)"));
  EXPECT_EQ(host.knobs.pages_to_scan, 1000u);
  EXPECT_THAT(run("ksm set run 3"),
              ElementsAre("error: ksm set: run must be a decimal number 0..2 (0 stop, 1 run, 2 unmerge all and stop), got \"3\""));
  EXPECT_THAT(run("ksm set sleep_millisecs fast"),
              ElementsAre("error: ksm set: sleep_millisecs must be a decimal number 0..3600000 (sleep between wake-ups), got \"fast\""));
  const auto unknown = run("ksm set pages 5");
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].rfind("error: ksm set: unknown knob \"pages\"; expected one of: run, pages_to_scan", 0), 0u);
  EXPECT_EQ(run("ksm set run").size(), 1u);
  EXPECT_EQ(run("ksm").size(), 1u);
  EXPECT_EQ(run("ksm set run 1 2")[0].rfind("error: ", 0), 0u);
  EXPECT_EQ(host.knobs.run, 0u);
  EXPECT_THAT(host.changes, ElementsAre("ksm pages_to_scan 1000"));
}

// --- the balloon ------------------------------------------------------------------------------

TEST_F(MonitorTest, BalloonSetsTheTargetSizeAndSaysWhetherADriverFollows) {
  host.vms[0].balloon.driver = true;
  EXPECT_THAT(run("balloon memtest1 32"),
              ElementsAre("balloon: memtest1 target 32 MiB (was 64 MiB); the guest's driver follows"));
  EXPECT_EQ(host.vms[0].balloon.size_pages, 32u * 256);
  EXPECT_THAT(run("balloon 2 64"), ElementsAre("balloon: memtest2 target 64 MiB (was 128 MiB); no balloon driver seen yet"));
  // The bounds are inclusive: the floor (64 MiB: 4 MiB) and the memory itself.
  EXPECT_THAT(run("balloon 1 4"), ElementsAre("balloon: memtest1 target 4 MiB (was 32 MiB); the guest's driver follows"));
  EXPECT_THAT(run("balloon 1 64"), ElementsAre("balloon: memtest1 target 64 MiB (was 4 MiB); the guest's driver follows"));
  EXPECT_THAT(run("balloon 7 8"), ElementsAre("balloon: 2 target 8 MiB (was 8 MiB); no balloon driver seen yet"));
  EXPECT_THAT(host.changes, ElementsAre("balloon 1 8192", "balloon 2 16384", "balloon 1 1024", "balloon 1 16384",
                                        "balloon 7 2048"));
}

TEST_F(MonitorTest, BalloonSaysWhenTheAutoBalloonLimitHoldsTheTargetLower) {
  host.vms[0].balloon.driver = true;
  host.vms[0].balloon.auto_limit_pages = 40 * 256;
  EXPECT_THAT(run("balloon memtest1 48"),
              ElementsAre("balloon: memtest1 target 48 MiB (was 64 MiB), held at 40 MiB by auto_balloon for now; the "
                          "guest's driver follows"));
  EXPECT_THAT(run("balloon memtest1 32"),
              ElementsAre("balloon: memtest1 target 32 MiB (was 48 MiB); the guest's driver follows"));
}

// The session of docs/monitor.md's "balloon VM MiB", line by line.
TEST_F(MonitorTest, TheDocumentedBalloonSession) {
  host.vms[0].balloon.driver = true;
  EXPECT_THAT(run("balloon memtest1 32"),
              ElementsAre("balloon: memtest1 target 32 MiB (was 64 MiB); the guest's driver follows"));
  EXPECT_THAT(run("balloon memtest2 64"), ElementsAre("balloon: memtest2 target 64 MiB (was 128 MiB); no balloon driver seen yet"));
  host.vms[0].balloon.auto_limit_pages = 40 * 256;
  EXPECT_THAT(run("balloon memtest1 48"),
              ElementsAre("balloon: memtest1 target 48 MiB (was 32 MiB), held at 40 MiB by auto_balloon for now; the "
                          "guest's driver follows"));
  host.changes.clear();
  EXPECT_EQ(run_error("balloon memtest1 300"), "error: balloon: vm 1 (memtest1): 300 MiB is above its memory (64 MiB)");
  EXPECT_EQ(run_error("balloon memtest1 2"),
            "error: balloon: vm 1 (memtest1): 2 MiB is below its floor (4 MiB: 1/16 of its memory, at least 4 MiB; "
            "docs/balloon.md)");
}

TEST_F(MonitorTest, BalloonErrorsChangeNothing) {
  const char* usage = "expected: balloon VM MiB (the memory the guest should keep)";
  EXPECT_EQ(run_error("balloon"), std::string("error: balloon: missing VM and size; ") + usage);
  EXPECT_EQ(run_error("balloon memtest1"), std::string("error: balloon: missing size; ") + usage);
  EXPECT_EQ(run_error("balloon memtest1 32 x"), "error: balloon: unexpected \"x\"; expected: balloon VM MiB");
  EXPECT_EQ(run_error("balloon nosuch 32"), "error: balloon: no VM \"nosuch\"; expected a VM's id or name (see \"info vms\")");
  EXPECT_EQ(run_error("balloon 99 32"), "error: balloon: no VM \"99\"; expected a VM's id or name (see \"info vms\")");
  for (const char* bad : {"lots", "-5", "32M", "0x20", "3.5", "99999999999999999999"}) {
    EXPECT_EQ(run_error(std::string("balloon memtest1 ") + bad),
              std::string("error: balloon: expected a size in MiB (a decimal number), got \"") + bad + "\"");
  }
  EXPECT_EQ(run_error("balloon memtest1 65"), "error: balloon: vm 1 (memtest1): 65 MiB is above its memory (64 MiB)");
  EXPECT_EQ(run_error("balloon memtest1 9999999999999999999"),
            "error: balloon: vm 1 (memtest1): 9999999999999999999 MiB is above its memory (64 MiB)");
  EXPECT_EQ(run_error("balloon memtest1 3"),
            "error: balloon: vm 1 (memtest1): 3 MiB is below its floor (4 MiB: 1/16 of its memory, at least 4 MiB; "
            "docs/balloon.md)");
  EXPECT_EQ(run_error("balloon memtest1 0"),
            "error: balloon: vm 1 (memtest1): 0 MiB is below its floor (4 MiB: 1/16 of its memory, at least 4 MiB; "
            "docs/balloon.md)");
  EXPECT_EQ(run_error("balloon memtest2 7"),
            "error: balloon: vm 2 (memtest2): 7 MiB is below its floor (8 MiB: 1/16 of its memory, at least 4 MiB; "
            "docs/balloon.md)");
  EXPECT_EQ(run_error("balloon hello 8"), "error: balloon: vm 3 (hello) is stopped; balloon needs a ready, running or paused VM");
  // The hypervisor refuses after the monitor's checks (the VM stopped or went meanwhile).
  host.balloon_result = Monitor_host::Balloon_set_result::not_found;
  EXPECT_EQ(run_error("balloon memtest1 32"), "error: balloon: vm 1 (memtest1): the VM stopped or went away meanwhile");
  host.balloon_result = Monitor_host::Balloon_set_result::below_floor;
  EXPECT_EQ(run_error("balloon memtest1 32"), "error: balloon: vm 1 (memtest1): 32 MiB is out of range (4..64 MiB) now");
}

TEST_F(MonitorTest, BalloonFloorsThatAreNoWholeMibRoundUp) {
  host.add_vm(9, "odd", Monitor_vm_state::running, 100);  // floor 1600 pages: 6.25 MiB
  EXPECT_EQ(run_error("balloon odd 6"),
            "error: balloon: vm 9 (odd): 6 MiB is below its floor (7 MiB: 1/16 of its memory, at least 4 MiB; docs/balloon.md)");
  EXPECT_THAT(run("balloon odd 7"), ElementsAre("balloon: odd target 7 MiB (was 100 MiB); no balloon driver seen yet"));
}

TEST_F(MonitorTest, InfoBalloonShowsActualAndMaxAsQemuThenTargetDriverAndStats) {
  Balloon_view& b = host.vms[0].balloon;
  b.size_pages = 48 * 256;
  b.target_pages = 16 * 256;  // keep 48 of 64 MiB
  b.actual_pages = 12 * 256 + 100;  // a part of a MiB in the balloon: actual rounds down
  b.driver = true;
  b.touched_pages = 3;
  b.stats[balloon_tag::free_memory] = 20 * MiB + 5;
  b.stats[balloon_tag::total_memory] = 48 * MiB;
  b.stats[balloon_tag::available] = 30 * MiB;
  b.stats[balloon_tag::major_faults] = 2;
  b.stats[balloon_tag::minor_faults] = 1234;
  b.stats[balloon_tag::caches] = 7 * MiB;  // reported, not shown
  b.stats_valid = (1u << balloon_tag::free_memory) | (1u << balloon_tag::total_memory) | (1u << balloon_tag::available) |
                  (1u << balloon_tag::major_faults) | (1u << balloon_tag::minor_faults) | (1u << balloon_tag::caches);
  const char* memtest1 = "balloon: actual=51 max=64 target=48 requested=48 vm=1 name=memtest1 driver=yes touched=3 "
                         "free=20 total=48 available=30 major_faults=2 minor_faults=1234";
  EXPECT_THAT(run("info balloon memtest1"), ElementsAre(memtest1));
  EXPECT_THAT(run("info balloon 1"), ElementsAre(memtest1));
  EXPECT_THAT(run("info balloon"),
              ElementsAre(memtest1,
                          "balloon: actual=128 max=128 target=128 requested=128 vm=2 name=memtest2 driver=no touched=0",
                          "balloon: actual=16 max=16 target=16 requested=16 vm=3 name=hello driver=no touched=0",
                          "balloon: actual=8 max=8 target=8 requested=8 vm=7 name=2 driver=no touched=0"));
  // Only what the guest reported is shown.
  b.stats_valid = 1u << balloon_tag::minor_faults;
  EXPECT_THAT(run("info balloon 1"),
              ElementsAre("balloon: actual=51 max=64 target=48 requested=48 vm=1 name=memtest1 driver=yes touched=3 "
                          "minor_faults=1234"));
  EXPECT_TRUE(host.changes.empty());
}

TEST_F(MonitorTest, InfoBalloonFollowsTheBalloonCommand) {
  EXPECT_EQ(run("balloon memtest2 32").size(), 1u);
  EXPECT_THAT(run("info balloon memtest2"),
              ElementsAre("balloon: actual=128 max=128 target=32 requested=32 vm=2 name=memtest2 driver=no touched=0"));
  host.vms[1].balloon.actual_pages = 96 * 256;  // the driver caught up
  EXPECT_EQ(run("info balloon memtest2")[0].rfind("balloon: actual=32 max=128 target=32 ", 0), 0u);
}

TEST_F(MonitorTest, InfoBalloonErrorsAndNoVms) {
  EXPECT_EQ(run_error("info balloon nosuch"),
            "error: info balloon: no VM \"nosuch\"; expected a VM's id or name (see \"info vms\")");
  EXPECT_EQ(run_error("info balloon 1 2"), "error: info balloon: unexpected \"2\"; expected: info balloon [VM]");
  host.vms.clear();
  EXPECT_THAT(run("info balloon"), ElementsAre("no VMs"));
}

} // namespace
} // namespace hv
