// tests/unit/vm_manager_test.cpp - the VM life cycle against the scheduler: start, pause, resume,
// stop and reset requests carried out by the home CPU, frames going back to the allocator, the
// overcommit wait for frames, and what the monitor sees. A small loop plays the native side.
#include "arch/x86/fake/fake_cpu.hpp"
#include "core/vm_manager.hpp"
#include "mm/balloon_policy.hpp"
#include "mm/frame_allocator.hpp"
#include "unit/support/ept_test_memory.hpp"
#include "unit/support/phys_arena.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <vector>

namespace hv {
namespace {

class Capture_sink final : public Log_sink {
public:
  void write_line(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
  [[nodiscard]] usize count(std::string_view part) const {
    usize n = 0;
    for (const std::string& l : lines) n += l.find(part) != std::string::npos;
    return n;
  }
};

class Fake_executor final : public Vm_executor {
public:
  void release(Vm& vm) override { released.push_back(vm.id()); }
  bool restart(Vm& vm) override {
    restarted.push_back(vm.id());
    return restart_ok;
  }
  std::vector<Vm_id> released, restarted;
  bool restart_ok = true;
};

std::vector<u32> g_kicks;
void record_kick(u32 cpu) { g_kicks.push_back(cpu); }

class VmManager : public ::testing::Test {
protected:
  static constexpr u64 quantum = 1000;

  VmManager() : arena(64 * MiB) {
    log_set_sink(&sink);
    log_set_level(Log_level::info);
    EXPECT_EQ(frames.init(arena.usable_ranges(), arena.direct_map()), Frame_allocator_status::ok);
    EXPECT_TRUE(sched.init(Scheduler_config{2, quantum, false}));
    image = test::make_elf64(0x100000, {{0x100000, 0, {0xF4}}});
    g_kicks.clear();
  }
  ~VmManager() override {
    release_hog();
    for (auto& vm : vms) vm->finish();
    log_set_sink(nullptr);
  }

  Vm& make_vm(const char* name, u32 memory_mib, u32 home, u32 memory_current_mib = 0) {
    Vm_config c;
    (void)c.name.assign(name);
    c.memory_mib = memory_mib;
    c.memory_current_mib = memory_current_mib;
    (void)c.image.assign("g.elf");
    vms.push_back(std::make_unique<Vm>(static_cast<Vm_id>(vms.size() + 1), c, host));
    Vm& vm = *vms.back();
    EXPECT_TRUE(vm.prepare(image));
    EXPECT_TRUE(manager.add(vm, home));
    return vm;
  }

  // One slice on `cpu` as the native loop runs it: pick, "run" (the test says how it ends), end.
  // Returns the VM that ran, or null for idle.
  Vm* slice(u32 cpu, Slice_end how = Slice_end::expired) {
    const Decision d = sched.pick_next(cpu);
    Vm* vm = d.idle() ? nullptr : static_cast<Vm*>(d.context);
    (void)sched.end_slice(cpu, quantum, d.idle() ? Slice_end::expired : how);
    if (vm && how == Slice_end::stopped) manager.vm_stopped(*vm, executor);
    return vm;
  }

  Monitor_vm_info info(usize i) {
    Monitor_vm_info out;
    EXPECT_TRUE(manager.vm_info(i, out));
    return out;
  }

  // Touches guest RAM as the guest would (demand population).
  void touch(Vm& vm, u64 gpa) {
    const Violation_result r = vm.memory().handle_ept_violation(Gpa(gpa), Ept_access{false, true, false});
    ASSERT_EQ(r.action, Violation_action::resume);
  }

  // Takes frames from the allocator (as other VMs would) until at most `leave` are free.
  void hog_until(u64 leave) {
    for (unsigned order : {9u, 0u}) {
      while (frames.stats().free_frames > leave + (u64{1} << order) - 1) {
        const std::optional<Hpa> f = frames.alloc_frames(order, Frame_use::hypervisor, no_vm);
        if (!f) break;
        hogged.push_back({*f, order});
      }
    }
  }
  void release_hog() {
    for (const auto& [hpa, order] : hogged) frames.free_frames(hpa, order);
    hogged.clear();
  }
  Balloon_view balloon(const Vm& vm) {
    Balloon_view v;
    EXPECT_TRUE(manager.balloon_info(vm.id(), v));
    return v;
  }
  // balance_memory until it changes nothing (at most `calls` times); returns how many calls changed something.
  int balance_until_quiet(bool auto_on, int calls = 200) {
    int changing = 0;
    for (int i = 0; i < calls && manager.balance_memory(auto_on) != 0; ++i) ++changing;
    return changing;
  }

  Capture_sink sink;
  test::Phys_arena arena;
  Frame_allocator frames;
  test::Counting_invalidator invalidator;
  Fake_cpu cpu;
  Vm_host host{frames, arena.direct_map(), invalidator, Ept_hardware{}, Paging_policy{}, cpu, Guest_msr_config{}};
  Scheduler sched;
  Vm_manager manager{sched, frames, 1'000'000'000, &record_kick};
  Fake_executor executor;
  std::vector<u8> image;
  std::vector<std::unique_ptr<Vm>> vms;
  std::vector<std::pair<Hpa, unsigned>> hogged;
};

TEST_F(VmManager, StartedVmsRunOnlyOnTheirHomeCpu) {
  Vm& a = make_vm("a", 8, 1);
  Vm& b = make_vm("b", 8, 1);
  EXPECT_EQ(slice(1), nullptr) << "not started yet";
  manager.start_all();
  EXPECT_EQ(info(0).state, Monitor_vm_state::running);
  EXPECT_EQ(slice(0), nullptr) << "cpu0 is nobody's home";
  Vm* first = slice(1);
  Vm* second = slice(1);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first, second) << "two VMs on one CPU take turns";
  EXPECT_TRUE(first == &a || first == &b);
  EXPECT_EQ(info(0).cpu, 1u);
  EXPECT_EQ(info(0).cpu_time_us, 1u) << "1000 ticks at 1 GHz";
  EXPECT_FALSE(manager.all_finished());
}

TEST_F(VmManager, APausedVmNeverRunsUntilResumed) {
  Vm& a = make_vm("a", 8, 1);
  make_vm("b", 8, 1);
  manager.start_all();
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::pause), "");
  EXPECT_EQ(info(0).state, Monitor_vm_state::paused);
  for (int i = 0; i < 6; ++i) EXPECT_NE(slice(1), &a);
  EXPECT_NE(manager.vm_action(a.id(), Vm_action::pause), "") << "pausing twice is refused";
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::resume), "");
  EXPECT_EQ(info(0).state, Monitor_vm_state::running);
  bool ran = false;
  for (int i = 0; i < 4; ++i) ran |= slice(1) == &a;
  EXPECT_TRUE(ran);
}

TEST_F(VmManager, StopIsCarriedOutByTheHomeCpuAndGivesEveryFrameBack) {
  const u64 free_before = frames.stats().free_frames;
  Vm& a = make_vm("a", 8, 1);
  manager.start_all();
  touch(a, 0x400000);
  EXPECT_GT(a.populated_bytes(), 0u);
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::stop), "");
  EXPECT_NE(std::find(g_kicks.begin(), g_kicks.end(), 1u), g_kicks.end()) << "the home CPU is told to look";
  EXPECT_NE(manager.vm_action(a.id(), Vm_action::reset), "") << "one request at a time";
  EXPECT_EQ(manager.service(0, executor), 0u) << "not cpu0's VM";
  EXPECT_EQ(manager.service(1, executor), 1u);
  EXPECT_EQ(executor.released, std::vector<Vm_id>{a.id()});
  EXPECT_EQ(a.vcpu().stop.kind, Vcpu_stop_kind::requested);
  EXPECT_EQ(info(0).state, Monitor_vm_state::stopped);
  EXPECT_EQ(frames.stats().free_frames, free_before);
  EXPECT_TRUE(manager.all_finished());
  EXPECT_EQ(slice(1), nullptr);
  EXPECT_NE(manager.vm_action(a.id(), Vm_action::resume), "");
}

TEST_F(VmManager, ARequestWaitsUntilTheVcpuIsOffTheCpu) {
  Vm& a = make_vm("a", 8, 0);
  manager.start_all();
  const Decision d = sched.pick_next(0);
  ASSERT_EQ(d.context, &a);
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::stop), "");
  EXPECT_EQ(manager.service(0, executor), 0u) << "still running: its VMCS is in use";
  (void)sched.end_slice(0, quantum, Slice_end::expired);
  EXPECT_EQ(manager.service(0, executor), 1u);
  EXPECT_TRUE(manager.all_finished());
}

TEST_F(VmManager, ResetEmptiesGuestMemoryReloadsTheImageAndRunsAgain) {
  Vm& a = make_vm("a", 8, 1);
  manager.start_all();
  const u64 after_load = a.populated_bytes();
  touch(a, 0x600000);
  touch(a, 0x700000);
  EXPECT_GT(a.populated_bytes(), after_load);
  a.vcpu().regs.rax = 42;
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::reset), "");
  EXPECT_EQ(slice(1), nullptr) << "paused for the reset";
  EXPECT_EQ(manager.service(1, executor), 1u);
  EXPECT_EQ(executor.restarted, std::vector<Vm_id>{a.id()});
  EXPECT_EQ(a.populated_bytes(), after_load);
  EXPECT_EQ(a.vcpu().regs.rax, 0u);
  EXPECT_EQ(a.resets(), 1u);
  EXPECT_EQ(info(0).state, Monitor_vm_state::running);
  EXPECT_EQ(slice(1), &a);
}

TEST_F(VmManager, APausedVmStaysPausedAfterAReset) {
  Vm& a = make_vm("a", 8, 1);
  manager.start_all();
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::pause), "");
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::reset), "");
  EXPECT_EQ(manager.service(1, executor), 1u);
  EXPECT_EQ(info(0).state, Monitor_vm_state::paused);
  EXPECT_EQ(slice(1), nullptr);
}

TEST_F(VmManager, AStarvedVmIsPausedWithOneLineAndWokenWhenFramesReturn) {
  Vm& a = make_vm("a", 8, 1);
  Vm& b = make_vm("b", 8, 0);
  manager.start_all();
  // b runs out of frames on cpu0.
  const Decision d = sched.pick_next(0);
  ASSERT_EQ(d.context, &b);
  EXPECT_EQ(manager.vm_out_of_memory(b), Slice_end::blocked);
  (void)sched.end_slice(0, quantum, Slice_end::blocked);
  EXPECT_TRUE(manager.starved(b));
  EXPECT_EQ(info(1).state, Monitor_vm_state::paused);
  EXPECT_EQ(sink.count("b: paused: out of memory"), 1u);
  EXPECT_EQ(slice(0), nullptr) << "a starved VM does not run";
  // a stops on cpu1: its frames return and b tries again.
  EXPECT_EQ(slice(1, Slice_end::stopped), &a);
  EXPECT_FALSE(manager.starved(b));
  EXPECT_EQ(sink.count("b: resumed"), 1u);
  EXPECT_EQ(info(1).state, Monitor_vm_state::running);
  EXPECT_EQ(slice(0), &b);
  // Starved again while running: still one warning per episode, and the wake is not lost.
  const Decision d2 = sched.pick_next(0);
  ASSERT_EQ(d2.context, &b);
  EXPECT_EQ(manager.vm_out_of_memory(b), Slice_end::blocked);
  manager.frames_returned();  // frames came back before the slice ended
  (void)sched.end_slice(0, quantum, Slice_end::blocked);
  EXPECT_EQ(slice(0), &b) << "the wake during the slice made it runnable";
}

TEST_F(VmManager, AFailedResetStopsTheVm) {
  Vm& a = make_vm("a", 8, 1);
  manager.start_all();
  executor.restart_ok = false;
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::reset), "");
  EXPECT_EQ(manager.service(1, executor), 1u);
  EXPECT_TRUE(manager.all_finished());
  EXPECT_EQ(executor.released.size(), 1u);
}

TEST_F(VmManager, AStoppedVmStartsAgainFromItsImageOnItsHomeCpu) {
  Vm& a = make_vm("a", 8, 1);
  manager.start_all();
  const u64 after_load = a.populated_bytes();
  touch(a, 0x600000);
  EXPECT_NE(manager.vm_action(a.id(), Vm_action::start), "") << "a running VM is not started again";
  EXPECT_EQ(slice(1, Slice_end::stopped), &a);
  EXPECT_TRUE(manager.all_finished());
  EXPECT_EQ(a.populated_bytes(), after_load + 2 * MiB) << "what it had at the end";
  const u64 free_stopped = frames.stats().free_frames;
  a.vcpu().regs.rax = 42;
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::start), "");
  EXPECT_EQ(info(0).state, Monitor_vm_state::running);
  EXPECT_FALSE(manager.all_finished());
  EXPECT_EQ(a.populated_bytes(), after_load) << "empty guest memory with the image loaded";
  EXPECT_LT(frames.stats().free_frames, free_stopped);
  EXPECT_EQ(a.vcpu().regs.rax, 0u);
  EXPECT_EQ(a.vcpu().stop.kind, Vcpu_stop_kind::none);
  EXPECT_EQ(slice(0), nullptr) << "still its home CPU only";
  EXPECT_EQ(slice(1), &a);
  EXPECT_EQ(sink.count("a: started again"), 1u);
  // And it can stop again like the first time, giving everything back.
  EXPECT_EQ(slice(1, Slice_end::stopped), &a);
  EXPECT_TRUE(manager.all_finished());
  EXPECT_EQ(executor.released.size(), 2u);
}

TEST_F(VmManager, DestroyRemovesAFinishedVmFromTheListAndFreesItsSchedulerSlot) {
  Vm& a = make_vm("a", 8, 1);
  Vm& b = make_vm("b", 8, 1);
  manager.start_all();
  EXPECT_NE(manager.vm_action(a.id(), Vm_action::destroy), "") << "a running VM must be stopped first";
  const u64 free_before_stop = frames.stats().free_frames;
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::stop), "");
  EXPECT_EQ(manager.service(1, executor), 1u);
  EXPECT_GT(frames.stats().free_frames, free_before_stop) << "its memory went back at the stop";
  const std::optional<Task_id> task = manager.task_of(a);
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::destroy), "");
  EXPECT_FALSE(sched.task_info(*task).has_value()) << "the scheduler slot is free";
  Monitor_vm_info out;
  EXPECT_FALSE(manager.vm_info(0, out)) << "gone from info vms";
  EXPECT_EQ(info(1).name, "b");
  EXPECT_FALSE(manager.task_of(a).has_value());
  EXPECT_NE(manager.vm_action(a.id(), Vm_action::start), "") << "a destroyed VM is found by nobody";
  EXPECT_EQ(sink.count("a: destroyed"), 1u);
  EXPECT_EQ(slice(1), &b) << "the other VM runs on";
  EXPECT_FALSE(manager.all_finished());
}

TEST_F(VmManager, UnstartedVmsAreListedAndCountAsFinished) {
  Vm_config c;
  (void)c.name.assign("broken");
  c.memory_mib = 8;
  Vm vm(7, c, host);
  vm.set_state(Vm_state::failed);
  EXPECT_TRUE(manager.add_unstarted(vm));
  EXPECT_TRUE(manager.all_finished());
  EXPECT_EQ(info(0).state, Monitor_vm_state::failed);
  EXPECT_EQ(info(0).cpu, monitor_no_cpu);
  EXPECT_NE(manager.vm_action(7, Vm_action::stop), "");
  EXPECT_NE(manager.vm_action(7, Vm_action::start), "") << "it never started: nothing to start again";
  EXPECT_NE(manager.vm_action(99, Vm_action::stop), "");
  EXPECT_EQ(manager.vm_action(7, Vm_action::destroy), "") << "a failed VM can be removed";
  Monitor_vm_info out;
  EXPECT_FALSE(manager.vm_info(0, out));
}

TEST_F(VmManager, CpuInfoNamesWhatRunsThere) {
  make_vm("alpha", 8, 1);
  manager.start_all();
  Monitor_cpu_info ci;
  ASSERT_TRUE(manager.cpu_info(1, ci));
  EXPECT_EQ(ci.running, "idle");
  EXPECT_EQ(ci.queue_length, 1u);
  (void)sched.pick_next(1);
  ASSERT_TRUE(manager.cpu_info(1, ci));
  EXPECT_EQ(ci.running, "alpha");
  EXPECT_FALSE(manager.cpu_info(2, ci));
}

// --- balloons ----------------------------------------------------------------------------------

TEST_F(VmManager, BalloonsAreSeenAndSetThroughTheMonitorHost) {
  Vm& a = make_vm("a", 16, 1, 8);  // memory_current = 8: it starts with 8 MiB in its balloon
  Vm& b = make_vm("b", 8, 1);
  manager.start_all();
  EXPECT_EQ(info(0).memory_mib, 16u);
  EXPECT_EQ(info(0).current_mib, 8u);
  EXPECT_EQ(info(1).current_mib, 8u);
  Balloon_view v = balloon(a);
  EXPECT_EQ(v.memory_pages, 16u * 256);
  EXPECT_EQ(v.size_pages, 8u * 256);
  EXPECT_EQ(v.target_pages, 8u * 256);
  EXPECT_EQ(v.actual_pages, 8u * 256);
  EXPECT_FALSE(v.driver);
  using R = Monitor_host::Balloon_set_result;
  EXPECT_EQ(manager.set_balloon_size(a.id(), 12 * 256), R::ok);
  v = balloon(a);
  EXPECT_EQ(v.size_pages, 12u * 256);
  EXPECT_EQ(v.target_pages, 4u * 256);
  EXPECT_EQ(manager.set_balloon_size(a.id(), 16 * 256 + 1), R::above_memory);
  EXPECT_EQ(manager.set_balloon_size(a.id(), v.floor_pages - 1), R::below_floor);
  EXPECT_EQ(balloon(a).size_pages, 12u * 256) << "a refusal changes nothing";
  EXPECT_EQ(manager.set_balloon_size(99, 4 * 256), R::not_found);
  Balloon_view none;
  EXPECT_FALSE(manager.balloon_info(99, none));
  // A stopped VM has no balloon to set, and all its memory counts as current (nothing is held).
  EXPECT_EQ(manager.vm_action(b.id(), Vm_action::stop), "");
  EXPECT_EQ(manager.service(1, executor), 1u);
  EXPECT_EQ(manager.set_balloon_size(b.id(), 4 * 256), R::not_found);
  EXPECT_EQ(info(1).current_mib, 8u);
}

TEST_F(VmManager, ANeverBuiltVmShowsItsConfiguredMemoryAndAnEmptyBalloon) {
  Vm_config c;
  (void)c.name.assign("broken");
  c.memory_mib = 64;
  Vm vm(7, c, host);
  vm.set_state(Vm_state::failed);
  ASSERT_TRUE(manager.add_unstarted(vm));
  Balloon_view v;
  ASSERT_TRUE(manager.balloon_info(7, v));
  EXPECT_EQ(v.memory_pages, 64u * 256);
  EXPECT_EQ(v.size_pages, 64u * 256);
  EXPECT_EQ(v.target_pages, 0u);
  EXPECT_EQ(v.actual_pages, 0u);
  EXPECT_EQ(v.floor_pages, balloon_floor_pages(64 * 256));
  EXPECT_EQ(info(0).current_mib, 64u);
  EXPECT_EQ(manager.set_balloon_size(7, 32 * 256), Monitor_host::Balloon_set_result::not_found);
}

TEST_F(VmManager, BalanceMemoryLowersVmsWithADriverUnderPressureAndRaisesThemWhenFramesReturn) {
  Vm& a = make_vm("a", 32, 1);
  Vm& b = make_vm("b", 32, 1);
  manager.start_all();
  (void)a.balloon().info();  // a's driver has polled BALLOON_INFO: it has a driver; b has none
  const u64 full = 32 * 256;
  EXPECT_EQ(manager.balance_memory(true), 0u) << "plenty of frames and nothing lowered: quiet";
  const Balloon_watermarks marks = balloon_watermarks(frames.stats().managed_frames);
  hog_until(marks.low / 2);
  ASSERT_LT(frames.stats().free_frames, marks.low);
  EXPECT_EQ(manager.balance_memory(true), 1u);
  EXPECT_LT(balloon(a).auto_limit_pages, full);
  EXPECT_GT(balloon(a).target_pages, 0u) << "the guest is asked for pages";
  EXPECT_EQ(balloon(b).auto_limit_pages, full) << "no driver: never touched";
  EXPECT_EQ(sink.count("a: auto_balloon lowers its size to"), 1u);
  // The guest hands nothing over (its pages are not populated): the policy goes on down to the floor,
  // then stays there, quiet.
  (void)balance_until_quiet(true);
  EXPECT_EQ(balloon(a).auto_limit_pages, balloon(a).floor_pages);
  EXPECT_EQ(manager.balance_memory(true), 0u);
  EXPECT_EQ(balloon(b).target_pages, 0u);
  // Frames return: the limit is raised back in steps, then lifted.
  release_hog();
  EXPECT_GT(balance_until_quiet(true), 0);
  EXPECT_EQ(balloon(a).auto_limit_pages, full);
  EXPECT_EQ(balloon(a).target_pages, 0u);
  EXPECT_EQ(sink.count("a: auto_balloon lifts its limit"), 1u);
  EXPECT_EQ(manager.balance_memory(true), 0u);
}

TEST_F(VmManager, BalanceMemoryLeavesPausedVmsAloneAndLiftsEveryLimitWhenOff) {
  Vm& a = make_vm("a", 32, 1);
  manager.start_all();
  (void)a.balloon().info();
  hog_until(balloon_watermarks(frames.stats().managed_frames).low / 2);
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::pause), "");
  EXPECT_EQ(manager.balance_memory(true), 0u) << "a paused driver cannot follow: not lowered";
  EXPECT_EQ(manager.vm_action(a.id(), Vm_action::resume), "");
  EXPECT_EQ(manager.balance_memory(true), 1u);
  const u64 lowered = balloon(a).auto_limit_pages;
  EXPECT_LT(lowered, 32u * 256);
  // auto_balloon = off: the limit is lifted once, whatever the pressure, and never set again.
  EXPECT_EQ(manager.balance_memory(false), 1u);
  EXPECT_EQ(balloon(a).auto_limit_pages, 32u * 256);
  EXPECT_EQ(sink.count("a: auto_balloon is off: its limit is lifted"), 1u);
  EXPECT_EQ(manager.balance_memory(false), 0u);
  EXPECT_EQ(balloon(a).auto_limit_pages, 32u * 256);
}

TEST_F(VmManager, BalanceMemoryWakesStarvedVmsWhenFramesCameBack) {
  Vm& a = make_vm("a", 8, 0);
  manager.start_all();
  hog_until(100);
  (void)manager.balance_memory(true);
  ASSERT_EQ(sched.pick_next(0).context, &a);
  EXPECT_EQ(manager.vm_out_of_memory(a), Slice_end::blocked);
  (void)sched.end_slice(0, quantum, Slice_end::blocked);
  ASSERT_TRUE(manager.starved(a));
  (void)manager.balance_memory(true);
  EXPECT_TRUE(manager.starved(a)) << "no frame came back: it keeps waiting";
  // Frames come back without a VM stopping (a balloon inflated elsewhere): the next check wakes it.
  release_hog();
  (void)manager.balance_memory(true);
  EXPECT_FALSE(manager.starved(a));
  EXPECT_EQ(sink.count("a: resumed: frames returned"), 1u);
  EXPECT_EQ(slice(0), &a);
}

} // namespace
} // namespace hv
