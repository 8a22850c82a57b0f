// tests/unit/vm_manager_test.cpp - the VM life cycle against the scheduler: start, pause, resume,
// stop and reset requests carried out by the home CPU, frames going back to the allocator, the
// overcommit wait for frames, and what the monitor sees. A small loop plays the native side.
#include "arch/x86/fake/fake_cpu.hpp"
#include "core/vm_manager.hpp"
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
    for (auto& vm : vms) vm->finish();
    log_set_sink(nullptr);
  }

  Vm& make_vm(const char* name, u32 memory_mib, u32 home) {
    Vm_config c;
    (void)c.name.assign(name);
    c.memory_mib = memory_mib;
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

} // namespace
} // namespace hv
