// tests/unit/balloon_policy_test.cpp - the auto-balloon policy (mm/balloon_policy.hpp): the
// watermarks, lowering under pressure in proportion to what each VM can give and never below its
// floor, VMs without a driver left alone, raising back in bounded steps when frames are plenty, a
// quiet steady state, and random inputs against the policy's invariants.
#include "mm/balloon.hpp"
#include "mm/balloon_policy.hpp"
#include <gtest/gtest.h>
#include <random>
#include <vector>

namespace hv {
namespace {

constexpr u64 mib = 256;            // pages
constexpr u64 managed = 256 * mib;  // a 256 MiB host: L = 4096, H = 8192, 2H = 16384
constexpr Balloon_watermarks marks = balloon_watermarks(managed);

// A VM of `memory_mib` with a driver, nothing ballooned, every page it keeps populated.
Balloon_policy_vm vm_of(u64 memory_mib) {
  Balloon_policy_vm v;
  v.memory_pages = memory_mib * mib;
  v.floor_pages = balloon_floor_pages(v.memory_pages);
  v.size_pages = v.auto_limit_pages = v.memory_pages;
  v.populated_pages = v.memory_pages;
  v.driver = true;
  return v;
}

// What a driver does once it has followed the target: the balloon holds it, the rest stays populated.
void follow(Balloon_policy_vm& v) {
  const u64 keep = v.size_pages < v.auto_limit_pages ? v.size_pages : v.auto_limit_pages;
  v.actual_pages = v.memory_pages - keep;
  if (v.populated_pages > keep) v.populated_pages = keep;
}

struct Outcome {
  Balloon_policy_result result;
  std::vector<u64> limits;
};
Outcome run(u64 free, const std::vector<Balloon_policy_vm>& vms) {
  Outcome r;
  r.limits.assign(vms.size(), 0);
  r.result = balloon_policy(managed, free, vms, r.limits);
  return r;
}
void apply(std::vector<Balloon_policy_vm>& vms, const Outcome& r) {
  for (usize i = 0; i < vms.size(); ++i) vms[i].auto_limit_pages = r.limits[i];
}

TEST(BalloonPolicy, WatermarksAreAnEighthOfAMiBOrASixteenthOfTheHost) {
  EXPECT_EQ(balloon_watermarks(0).low, 2048u);
  EXPECT_EQ(balloon_watermarks(0).high, 4096u);
  EXPECT_EQ(balloon_watermarks(16384).low, 2048u) << "64 MiB: 1/16 would be 1024";
  EXPECT_EQ(balloon_watermarks(32768).low, 2048u);
  EXPECT_EQ(marks.low, 4096u);
  EXPECT_EQ(marks.high, 8192u);
  EXPECT_EQ(balloon_watermarks(4 * 262144).low, 65536u) << "4 GiB: 256 MiB";
}

TEST(BalloonPolicy, PressureLowersInProportionToWhatEachVmCanStillGive) {
  // 256 MiB and 64 MiB: they can give 61440 and 15360 pages above their floors, 4 : 1.
  const std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(64)};
  const Outcome r = run(1000, vms);
  EXPECT_EQ(r.result.action, Balloon_policy_action::lower);
  const u64 deficit = marks.high - 1000;  // 7192: up to the high watermark
  EXPECT_EQ(r.result.pages, deficit);
  const u64 cut_a = vms[0].auto_limit_pages - r.limits[0];
  const u64 cut_b = vms[1].auto_limit_pages - r.limits[1];
  EXPECT_EQ(cut_a + cut_b, deficit);
  EXPECT_EQ(cut_a, 5754u) << "61440 * 7192 / 76800 = 5753.6, and the page rounding left over";
  EXPECT_EQ(cut_b, 1438u) << "15360 * 7192 / 76800 = 1438.4";
}

TEST(BalloonPolicy, PagesAlreadyAskedForCountAsComingBack) {
  std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(64)};
  const Outcome first = run(1000, vms);
  apply(vms, first);
  // The drivers have not inflated yet: what they were asked for covers the deficit, no more cuts.
  const Outcome waiting = run(1000, vms);
  EXPECT_EQ(waiting.result.action, Balloon_policy_action::none);
  EXPECT_EQ(waiting.limits, first.limits);
  // They inflated, but what they handed over was mostly unpopulated: free is still low, so the
  // policy takes more, again in proportion.
  for (auto& v : vms) follow(v);
  const Outcome more = run(1500, vms);
  EXPECT_EQ(more.result.action, Balloon_policy_action::lower);
  EXPECT_EQ(more.result.pages, marks.high - 1500);
  EXPECT_LT(more.limits[0], first.limits[0]);
  EXPECT_LT(more.limits[1], first.limits[1]);
  // What is on its way back is what the guest has populated beyond what it may keep.
  std::vector<Balloon_policy_vm> slow{vm_of(256)};
  slow[0].auto_limit_pages = 200 * mib;  // keep 51200; the driver has not inflated yet
  slow[0].populated_pages = 60000;       // 8800 pages must go: more than the deficit
  EXPECT_EQ(run(1000, slow).result.action, Balloon_policy_action::none);
  slow[0].populated_pages = 52000;  // 800 on their way back
  EXPECT_EQ(run(1000, slow).result.pages, marks.high - 1000 - 800);
}

TEST(BalloonPolicy, LoweringStartsFromWhatTheVmHasPopulated) {
  // 256 MiB with 100 MiB populated, 256 MiB with all of it: lowering the first one's size from 256
  // MiB would free nothing until it went below 100 MiB.
  std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(256)};
  vms[0].populated_pages = 100 * mib;
  const Outcome r = run(0, vms);
  EXPECT_EQ(r.result.action, Balloon_policy_action::lower);
  EXPECT_EQ(r.result.pages, marks.high);
  // They can give 100 - 16 and 256 - 16 MiB: 21504 and 61440 pages of 82944.
  const u64 cut0 = 100 * mib - r.limits[0], cut1 = 256 * mib - r.limits[1];
  EXPECT_EQ(cut0 + cut1, marks.high);
  EXPECT_EQ(cut0, 2124u) << "8192 * 21504 / 82944 = 2123.8, plus the page left over by rounding";
  EXPECT_EQ(cut1, 6068u) << "8192 * 61440 / 82944 = 6068.1";
  // A VM that has populated no more than its floor has nothing to give: it is held at its floor,
  // so that it does not grow while the host is short, and the others give it all.
  std::vector<Balloon_policy_vm> small{vm_of(256), vm_of(64)};
  small[0].populated_pages = 1000;
  const Outcome s = run(0, small);
  EXPECT_EQ(s.limits[0], small[0].floor_pages);
  EXPECT_EQ(64 * mib - s.limits[1], marks.high);
  // Alone, it is still held (nothing can be freed, but nothing more is taken either); then quiet.
  std::vector<Balloon_policy_vm> alone{small[0]};
  const Outcome a = run(0, alone);
  EXPECT_EQ(a.result.action, Balloon_policy_action::lower);
  EXPECT_EQ(a.result.pages, 0u);
  EXPECT_EQ(a.limits[0], alone[0].floor_pages);
  apply(alone, a);
  follow(alone[0]);
  EXPECT_EQ(run(0, alone).result.action, Balloon_policy_action::none);
}

TEST(BalloonPolicy, FloorsAreNeverCrossed) {
  std::vector<Balloon_policy_vm> vms{vm_of(64), vm_of(16), vm_of(3)};
  // A deficit of 8192 pages at every call; they can give 15360 + 3072 + 0 in all: three calls.
  const Outcome r = run(0, vms);
  EXPECT_EQ(r.result.action, Balloon_policy_action::lower);
  for (usize i = 0; i < vms.size(); ++i) EXPECT_GE(r.limits[i], vms[i].floor_pages) << i;
  EXPECT_EQ(r.limits[2], vms[2].auto_limit_pages) << "3 MiB: its floor is its memory, nothing to give";
  // Asked for everything above the floors: all at the floor.
  apply(vms, r);
  for (auto& v : vms) follow(v);
  const Outcome again = run(0, vms);
  apply(vms, again);
  for (auto& v : vms) follow(v);
  const Outcome last = run(0, vms);
  for (usize i = 0; i < vms.size(); ++i) EXPECT_EQ(last.limits[i], vms[i].floor_pages) << i;
  // At the floors, pressure changes nothing any more.
  apply(vms, last);
  for (auto& v : vms) follow(v);
  const Outcome floor = run(0, vms);
  EXPECT_EQ(floor.result.action, Balloon_policy_action::none);
  for (usize i = 0; i < vms.size(); ++i) EXPECT_EQ(floor.limits[i], vms[i].auto_limit_pages);
}

TEST(BalloonPolicy, VmsWithoutADriverAreNeverTouched) {
  std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(256), vm_of(64)};
  vms[1].driver = false;
  vms[2].driver = false;
  vms[2].auto_limit_pages = 20 * mib;  // lowered while it had a driver (it is paused now)
  const Outcome low = run(100, vms);
  EXPECT_EQ(low.result.action, Balloon_policy_action::lower);
  EXPECT_LT(low.limits[0], vms[0].auto_limit_pages) << "the one with a driver gives it all";
  EXPECT_EQ(vms[0].auto_limit_pages - low.limits[0], marks.high - 100);
  EXPECT_EQ(low.limits[1], vms[1].auto_limit_pages);
  EXPECT_EQ(low.limits[2], vms[2].auto_limit_pages);
  const Outcome plenty = run(managed, vms);
  EXPECT_EQ(plenty.limits[2], 20 * mib) << "not raised either";
  // Nobody with a driver: nothing happens at all.
  vms[0].driver = false;
  EXPECT_EQ(run(0, vms).result.action, Balloon_policy_action::none);
}

TEST(BalloonPolicy, TheOperatorsSizeIsWhereLoweringStarts) {
  std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(256)};
  vms[0].size_pages = 32 * mib;  // `balloon vm 32`: the limit (none) binds nothing
  follow(vms[0]);
  const Outcome r = run(0, vms);
  // Giveable: 32 MiB - 16 MiB = 4096 and 256 - 16 MiB = 61440.
  EXPECT_LT(r.limits[0], 32 * mib);
  EXPECT_EQ(32 * mib - r.limits[0], 512u) << "8192 * 4096 / 65536";
  EXPECT_EQ(256 * mib - r.limits[1], 7680u);
}

TEST(BalloonPolicy, PlentyRaisesLimitsBackInBoundedEqualSteps) {
  std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(64), vm_of(64)};
  vms[0].auto_limit_pages = 20000;
  vms[1].auto_limit_pages = 2000;
  vms[2].driver = false;
  vms[2].auto_limit_pages = 3000;
  for (auto& v : vms) follow(v);
  const u64 free = 40000;
  const Outcome r = run(free, vms);
  EXPECT_EQ(r.result.action, Balloon_policy_action::raise);
  const u64 step = (free - 2 * marks.high) / 2;  // 11808
  EXPECT_EQ(r.result.pages, step);
  EXPECT_EQ(r.limits[0], 20000u + step / 2);
  EXPECT_EQ(r.limits[1], 2000u + step / 2);
  EXPECT_EQ(r.limits[2], 3000u) << "no driver: untouched";
  EXPECT_GE(free - r.result.pages, marks.high) << "raising alone never takes free below H";
  // A VM that needs less than its share is lifted; the rest of the budget goes to the others.
  vms[1].auto_limit_pages = 64 * mib - 1000;
  follow(vms[1]);
  const Outcome r2 = run(free, vms);
  EXPECT_EQ(r2.limits[1], 64 * mib) << "raised to its size (its memory): lifted";
  EXPECT_EQ(r2.limits[0], 20000u + step - 1000);
  EXPECT_EQ(r2.result.pages, step);
}

TEST(BalloonPolicy, RaisingStopsAtTheOperatorsSizeAndCountsPagesGoingBack) {
  std::vector<Balloon_policy_vm> vms{vm_of(256)};
  vms[0].size_pages = 100 * mib;
  vms[0].auto_limit_pages = 100 * mib - 50;  // binds: 50 pages below the size
  follow(vms[0]);
  const Outcome r = run(managed, vms);
  EXPECT_EQ(r.limits[0], 256 * mib) << "raised to the size: the limit binds nothing, lifted";
  EXPECT_EQ(r.result.pages, 50u) << "only what changes the target costs";
  // A limit that binds nothing is lifted at no cost; pages the balloon holds beyond its target
  // (the driver is deflating) come out of the step.
  std::vector<Balloon_policy_vm> two{vm_of(256), vm_of(256)};
  two[0].auto_limit_pages = 200 * mib;
  two[0].size_pages = 100 * mib;
  follow(two[0]);
  two[1].auto_limit_pages = 10 * mib;
  follow(two[1]);
  two[1].auto_limit_pages = 30 * mib;  // raised before; the driver has not deflated yet: 20 MiB going out
  const u64 free = 2 * marks.high + 2 * (20 * mib + 100);
  const Outcome g = run(free, two);
  EXPECT_EQ(g.limits[0], 256 * mib);
  EXPECT_EQ(g.limits[1], 30 * mib + 100) << "the step (20 MiB + 100) less the 20 MiB on their way back";
  EXPECT_EQ(g.result.pages, 100u);
}

TEST(BalloonPolicy, TheSteadyStateIsQuiet) {
  std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(64)};
  vms[0].auto_limit_pages = 100 * mib;
  for (auto& v : vms) follow(v);
  // Between the low watermark and twice the high one nothing moves, either way.
  for (u64 free : {marks.low, marks.high, 2 * marks.high}) {
    const Outcome r = run(free, vms);
    EXPECT_EQ(r.result.action, Balloon_policy_action::none) << free;
    EXPECT_EQ(r.limits[0], 100 * mib);
    EXPECT_EQ(r.limits[1], 64 * mib);
  }
  // Plenty, with every limit lifted: nothing to do.
  vms[0].auto_limit_pages = 256 * mib;
  follow(vms[0]);
  EXPECT_EQ(run(managed, vms).result.action, Balloon_policy_action::none);
  // The same input, the same answer.
  EXPECT_EQ(run(10, vms).limits, run(10, vms).limits);
}

// A host and guests whose drivers follow at once and whose guests then use what they keep, as
// far as the host has frames: the policy lowers before the frames run out, and then settles.
TEST(BalloonPolicy, AClosedLoopSettlesBeforeTheHostRunsOut) {
  std::vector<Balloon_policy_vm> vms{vm_of(256), vm_of(256), vm_of(128)};
  for (auto& v : vms) v.populated_pages = 0;
  const u64 host_for_guests = 300 * mib;  // frames the guests may use in all
  const std::vector<u64> want{200 * mib, 150 * mib, 100 * mib};  // what each guest would populate
  u64 short_steps = 0, changes_late = 0;
  for (int step = 0; step < 400; ++step) {
    u64 used = 0;
    for (usize i = 0; i < vms.size(); ++i) {
      follow(vms[i]);
      used += vms[i].populated_pages;
    }
    for (usize i = 0; i < vms.size(); ++i) {
      const u64 keep = vms[i].memory_pages - vms[i].actual_pages;
      const u64 goal = want[i] < keep ? want[i] : keep;
      u64 grow = goal > vms[i].populated_pages ? goal - vms[i].populated_pages : 0;
      if (grow > mib) grow = mib;  // a guest touches up to 1 MiB a step
      if (grow > host_for_guests - used) {
        grow = host_for_guests - used;
        ++short_steps;  // here a VM would pause for memory
      }
      vms[i].populated_pages += grow;
      used += grow;
    }
    const Outcome r = run(host_for_guests - used, vms);
    for (usize i = 0; i < vms.size(); ++i) {
      ASSERT_GE(r.limits[i], vms[i].floor_pages);
      ASSERT_LE(r.limits[i], vms[i].memory_pages);
      if (step >= 350 && r.limits[i] != vms[i].auto_limit_pages) ++changes_late;
    }
    apply(vms, r);
  }
  EXPECT_EQ(short_steps, 0u) << "a guest found no frame";
  EXPECT_EQ(changes_late, 0u) << "limits still moving after 350 steps";
}

// Random inputs: limits stay within [floor, memory], VMs without a driver keep theirs, lowering
// never takes more than the deficit nor raises anyone, raising stays within its step.
TEST(BalloonPolicy, RandomInputsKeepTheInvariants) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 20000; ++round) {
    std::vector<Balloon_policy_vm> vms(rng() % 6);
    for (auto& v : vms) {
      v.memory_pages = (2 + rng() % 512) * mib;
      v.floor_pages = balloon_floor_pages(v.memory_pages);
      v.size_pages = v.floor_pages + rng() % (v.memory_pages - v.floor_pages + 1);
      v.auto_limit_pages = v.floor_pages + rng() % (v.memory_pages - v.floor_pages + 1);
      v.actual_pages = rng() % (v.memory_pages - v.floor_pages + 1);
      v.populated_pages = rng() % (v.memory_pages - v.actual_pages + 1);
      v.driver = rng() % 4 != 0;
    }
    const u64 host = rng() % (1024 * mib);
    const u64 free = host == 0 ? 0 : rng() % host;
    std::vector<u64> limits(vms.size());
    const Balloon_policy_result r = balloon_policy(host, free, vms, limits);
    const Balloon_watermarks m = balloon_watermarks(host);
    u64 lowered = 0, raised = 0;
    for (usize i = 0; i < vms.size(); ++i) {
      const Balloon_policy_vm& v = vms[i];
      ASSERT_LE(limits[i], v.memory_pages);
      if (!v.driver || r.action == Balloon_policy_action::none) {
        ASSERT_EQ(limits[i], v.auto_limit_pages) << round;
        continue;
      }
      const u64 keep_before = v.size_pages < v.auto_limit_pages ? v.size_pages : v.auto_limit_pages;
      const u64 keep_after = v.size_pages < limits[i] ? v.size_pages : limits[i];
      if (r.action == Balloon_policy_action::lower) {
        // Cut below its base (its size, or what it has populated if less), never below the floor.
        const u64 used = v.populated_pages > v.floor_pages ? v.populated_pages : v.floor_pages;
        const u64 base = keep_before < used ? keep_before : used;
        ASSERT_LE(keep_after, keep_before) << round;
        ASSERT_GE(limits[i], v.floor_pages) << round;
        if (keep_after != keep_before) {
          ASSERT_LE(keep_after, base) << round;
          lowered += base - keep_after;
        }
      } else {
        ASSERT_GE(keep_after, keep_before) << round;
        raised += keep_after - keep_before;
      }
    }
    if (r.action == Balloon_policy_action::lower) {
      ASSERT_LT(free, m.low);
      ASSERT_EQ(lowered, r.pages) << round;
      ASSERT_LE(lowered, m.high - free);
    } else if (r.action == Balloon_policy_action::raise) {
      ASSERT_GT(free, 2 * m.high);
      ASSERT_EQ(raised, r.pages);
      ASSERT_LE(raised, (free - 2 * m.high) / 2);
    }
  }
}

} // namespace
} // namespace hv
