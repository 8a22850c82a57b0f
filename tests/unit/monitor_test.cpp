// tests/unit/monitor_test.cpp - the serial monitor: every command against a fake host, output
// checked line by line; every error path prints one "error: " line and changes nothing.
#include "core/line_editor.hpp"
#include "core/monitor.hpp"
#include "mm/balloon.hpp"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace hv {
namespace {

using ::testing::ElementsAre;

struct Fake_vm {
  Monitor_vm_info info;
  std::string name;
  Monitor_exit_counts exits;
  Balloon_view balloon;
  bool destroyed = false;  // gone from the list, as Vm_manager hides a destroyed VM
};

struct Fake_cpu {
  std::string running;
  u32 queue = 0;
  u64 switches = 0;
};

class Fake_host final : public Monitor_host {
public:
  std::vector<Fake_vm> vms;
  std::vector<Fake_cpu> cpus;
  Frame_stats frames;
  Log_level level = Log_level::info;
  std::string refuse;  // what vm_action answers; empty: does it
  // Calls that change something, as "pause 1", "log debug".
  std::vector<std::string> changes;

  void add_vm(Vm_id id, std::string name, Monitor_vm_state state, u64 mib) {
    Fake_vm vm;
    vm.info.id = id;
    vm.info.state = state;
    vm.info.memory_mib = mib;
    vm.info.current_mib = mib;
    vm.balloon.memory_pages = mib * 256;
    vm.balloon.floor_pages = balloon_floor_pages(mib * 256);
    vm.balloon.size_pages = mib * 256;
    vm.balloon.auto_limit_pages = mib * 256;
    vm.name = std::move(name);
    vms.push_back(std::move(vm));
  }

  usize vm_count() override { return vms.size(); }
  bool vm_info(usize index, Monitor_vm_info& out) override {
    if (index >= vms.size() || vms[index].destroyed) return false;
    out = vms[index].info;
    out.name = vms[index].name;
    return true;
  }
  bool vm_exit_counts(Vm_id id, Monitor_exit_counts& out) override {
    for (const auto& vm : vms) {
      if (vm.info.id == id) {
        out = vm.exits;
        return true;
      }
    }
    return false;
  }
  Frame_stats frame_stats() override { return frames; }
  bool has_merger = true;
  Merge_knobs knobs;
  Merge_stats merge_stats;
  bool merge_info(Merge_knobs& k, Merge_stats& st) override {
    k = knobs;
    st = merge_stats;
    return has_merger;
  }
  Merge_knob_status set_merge_knob(std::string_view name, std::string_view value, const Merge_knob_info*& info) override {
    const Merge_knob_status st = hv::set_merge_knob(knobs, name, value, info);
    if (st == Merge_knob_status::ok) changes.push_back("ksm " + std::string(name) + " " + std::string(value));
    return st;
  }
  u32 cpu_count() override { return static_cast<u32>(cpus.size()); }
  bool cpu_info(u32 cpu, Monitor_cpu_info& out) override {
    if (cpu >= cpus.size()) return false;
    out.running = cpus[cpu].running;
    out.queue_length = cpus[cpu].queue;
    out.context_switches = cpus[cpu].switches;
    return true;
  }
  std::string_view vm_action(Vm_id id, Vm_action action) override {
    changes.push_back(std::string(vm_action_name(action)) + " " + std::to_string(id));
    if (!refuse.empty()) return refuse;
    for (auto& vm : vms) {
      if (vm.info.id != id) continue;
      switch (action) {
      case Vm_action::pause: vm.info.state = Monitor_vm_state::paused; break;
      case Vm_action::resume: vm.info.state = Monitor_vm_state::running; break;
      case Vm_action::stop: vm.info.state = Monitor_vm_state::stopped; break;
      case Vm_action::reset: vm.info.state = Monitor_vm_state::running; break;
      case Vm_action::start: vm.info.state = Monitor_vm_state::running; break;
      case Vm_action::destroy: vm.destroyed = true; break;
      }
    }
    return {};
  }
  // What set_balloon_size answers besides ok (a race the monitor cannot see); ok: it sets the size.
  Balloon_set_result balloon_result = Balloon_set_result::ok;
  bool balloon_info(Vm_id id, Balloon_view& out) override {
    for (const auto& vm : vms) {
      if (vm.info.id == id && !vm.destroyed) {
        out = vm.balloon;
        return true;
      }
    }
    return false;
  }
  Balloon_set_result set_balloon_size(Vm_id id, u64 size_pages) override {
    if (balloon_result != Balloon_set_result::ok) return balloon_result;
    for (auto& vm : vms) {
      if (vm.info.id != id || vm.destroyed) continue;
      Balloon_view& b = vm.balloon;
      if (size_pages > b.memory_pages) return Balloon_set_result::above_memory;
      if (size_pages < b.floor_pages) return Balloon_set_result::below_floor;
      b.size_pages = size_pages;
      const u64 keep = size_pages < b.auto_limit_pages ? size_pages : b.auto_limit_pages;
      b.target_pages = b.memory_pages - keep;
      changes.push_back("balloon " + std::to_string(id) + " " + std::to_string(size_pages));
      return Balloon_set_result::ok;
    }
    return Balloon_set_result::not_found;
  }
  Log_level log_level() override { return level; }
  void set_log_level(Log_level l) override {
    changes.push_back(std::string("log ") + log_level_name(l));
    level = l;
  }
};

class Lines final : public Log_sink {
public:
  std::vector<std::string> lines;
  void write_line(std::string_view line) override { lines.emplace_back(line); }
};

class MonitorTest : public ::testing::Test {
protected:
  void SetUp() override {
    host.add_vm(1, "memtest1", Monitor_vm_state::running, 64);
    host.add_vm(2, "memtest2", Monitor_vm_state::paused, 128);
    host.add_vm(3, "hello", Monitor_vm_state::stopped, 16);
    host.add_vm(7, "2", Monitor_vm_state::ready, 8);  // a name that looks like an id
  }
  std::vector<std::string> run(std::string_view line) {
    Lines out;
    monitor.execute(line, out);
    return out.lines;
  }
  // Runs a bad command: one "error: " line, no change on the host, no VM state changed.
  std::string run_error(std::string_view line) {
    std::vector<Monitor_vm_state> before;
    std::vector<u64> sizes_before;
    for (const auto& vm : host.vms) before.push_back(vm.info.state), sizes_before.push_back(vm.balloon.size_pages);
    const Log_level level_before = host.level;
    const auto lines = run(line);
    EXPECT_EQ(lines.size(), 1u) << line;
    EXPECT_TRUE(host.changes.empty()) << line;
    EXPECT_EQ(host.level, level_before);
    for (usize i = 0; i < before.size(); ++i) {
      EXPECT_EQ(host.vms[i].info.state, before[i]) << line;
      EXPECT_EQ(host.vms[i].balloon.size_pages, sizes_before[i]) << line;
    }
    if (lines.empty()) return "";
    EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << lines[0];
    return lines[0];
  }

  Fake_host host;
  Monitor monitor{host};
};

// --- commands that show ---------------------------------------------------------------------

TEST_F(MonitorTest, HelpListsEveryCommand) {
  const auto lines = run("help");
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_EQ(lines[0], "help                             this list");
  EXPECT_EQ(lines[1], "info vms                         VMs: state, memory max, current and populated, CPU, CPU time, exits");
  EXPECT_EQ(lines[6], "info balloon [VM]                balloons: actual and max memory (MiB), target, driver, guest stats");
  EXPECT_EQ(lines[8], "balloon VM MiB                   set the memory a VM's guest should keep (its balloon target)");
  EXPECT_EQ(lines[9], "vm pause|resume|stop|reset VM    steer a VM (VM: its id or name)");
  EXPECT_EQ(lines[10], "vm start|destroy VM              boot a stopped VM again; remove a finished one");
  EXPECT_EQ(lines[11], "log error|warn|info|debug|trace  set the log level");
  for (const char* word : {"info mem", "info exits VM", "info sched", "info ksm", "ksm set KNOB VALUE"}) {
    bool found = false;
    for (const auto& l : lines) found = found || l.rfind(word, 0) == 0;
    EXPECT_TRUE(found) << word;
  }
}

TEST_F(MonitorTest, InfoVmsIsATableWithOneRowPerVm) {
  auto& a = host.vms[0].info;
  a.populated_kib = 1236;
  a.cpu = 0;
  a.cpu_time_us = 12'345'678;
  a.exits = 56789;
  a.merging_kib = 4096;
  a.current_mib = 48;  // 16 MiB in its balloon
  host.vms[1].info.cpu = 1;
  host.vms[1].info.cpu_time_us = 999;
  EXPECT_THAT(run("info vms"),
              ElementsAre("  ID NAME             STATE     MAX-MIB  CUR-MIB    POP-KIB  CPU     CPU-TIME      EXITS MERGED-KIB",
                          "   1 memtest1         running        64       48       1236    0      12.345s      56789       4096",
                          "   2 memtest2         paused        128      128          0    1       0.000s          0          0",
                          "   3 hello            stopped        16       16          0    -       0.000s          0          0",
                          "   7 2                ready           8        8          0    -       0.000s          0          0"));
}

TEST_F(MonitorTest, InfoVmsWithoutVms) {
  host.vms.clear();
  EXPECT_THAT(run("info vms"),
              ElementsAre("  ID NAME             STATE     MAX-MIB  CUR-MIB    POP-KIB  CPU     CPU-TIME      EXITS MERGED-KIB",
                          "no VMs"));
}

TEST_F(MonitorTest, InfoMemShowsFramesOrdersUsesOwnersAndOvercommit) {
  Frame_stats& s = host.frames;
  s.managed_frames = 32768;  // 128 MiB
  s.metadata_frames = 70;
  s.free_frames = 20000;
  s.cached_frames = 12;
  s.used_frames = 12698;
  s.free_blocks[0] = 3;
  s.free_blocks[9] = 2;
  s.free_blocks[18] = 1;
  s.used_by_use[static_cast<u8>(Frame_use::hypervisor)] = 100;
  s.used_by_use[static_cast<u8>(Frame_use::page_table)] = 20;
  s.used_by_use[static_cast<u8>(Frame_use::guest)] = 12578;
  s.used_by_owner[0] = 120;
  s.used_by_owner[1] = 12000;
  s.used_by_owner[2] = 578;
  s.used_by_owner[5] = 1;          // a VM that is gone but still owns a frame
  s.used_by_owner[frame_owner_slots] = 4;
  EXPECT_THAT(run("info mem"),
              ElementsAre("frames: managed 32768 (128 MiB), metadata 70, free 20000 (cached 12), used 12698",
                          "free blocks by order 0-9: 3 0 0 0 0 0 0 0 0 2",
                          "free blocks by order 10-18: 0 0 0 0 0 0 0 0 1",
                          "used by use: hypervisor 100, page-table 20, guest 12578, shared 0, balloon 0",
                          "used by owner hv: 120",
                          "used by owner vm 1 (memtest1): 12000",
                          "used by owner vm 2 (memtest2): 578",
                          "used by owner vm 5 (gone): 1",
                          "used by owner vm 64+: 4",
                          // 64 + 128 + 16 + 8 = 216 MiB on 128 MiB: 1.6875 -> 1.69
                          "overcommit: VM memory 216 MiB on 128 MiB of host RAM: ratio 1.69"));
}

TEST_F(MonitorTest, InfoMemRatioBelowOneAndWithoutRam) {
  host.frames.managed_frames = 262144;  // 1 GiB
  auto lines = run("info mem");
  EXPECT_EQ(lines.back(), "overcommit: VM memory 216 MiB on 1024 MiB of host RAM: ratio 0.21");
  host.frames = {};
  lines = run("info mem");
  EXPECT_EQ(lines.back(), "overcommit: VM memory 216 MiB on 0 MiB of host RAM: ratio -");
}

TEST_F(MonitorTest, InfoExitsListsReasonsMostFrequentFirst) {
  auto& c = host.vms[0].exits.count;
  c[exit_reason::CPUID] = 10;
  c[exit_reason::EPT_VIOLATION] = 5000;
  c[exit_reason::IO_INSTRUCTION] = 10;
  c[exit_reason::HLT] = 1;
  const auto expected = ElementsAre("exits of vm 1 (memtest1): 5021 in total",
                                    "       COUNT  NR REASON",
                                    "        5000  48 EPT violation",
                                    "          10  10 CPUID",
                                    "          10  30 I/O instruction",
                                    "           1  12 HLT");
  EXPECT_THAT(run("info exits memtest1"), expected);
  EXPECT_THAT(run("info exits 1"), expected);
  EXPECT_THAT(run("info exits hello"), ElementsAre("exits of vm 3 (hello): 0 in total", "       COUNT  NR REASON"));
}

TEST_F(MonitorTest, InfoSchedOneRowPerCpu) {
  host.cpus = {{"memtest1", 2, 12345}, {"idle", 0, 7}};
  EXPECT_THAT(run("info sched"), ElementsAre(" CPU RUNNING           QUEUE   SWITCHES",
                                             "   0 memtest1              2      12345",
                                             "   1 idle                  0          7"));
}

TEST_F(MonitorTest, WhitespaceIsTolerated) {
  host.cpus = {{"idle", 0, 0}};
  EXPECT_EQ(run("  info \t  sched   "), run("info sched"));
  EXPECT_TRUE(run("").empty());
  EXPECT_TRUE(run("   \t ").empty());
  EXPECT_TRUE(host.changes.empty());
}

// --- commands that change something -----------------------------------------------------------

TEST_F(MonitorTest, VmActionsByNameAndById) {
  EXPECT_THAT(run("vm pause memtest1"), ElementsAre("vm 1 (memtest1): paused"));
  EXPECT_EQ(host.vms[0].info.state, Monitor_vm_state::paused);
  EXPECT_THAT(run("vm resume 1"), ElementsAre("vm 1 (memtest1): resumed"));
  EXPECT_THAT(run("vm reset memtest2"), ElementsAre("vm 2 (memtest2): reset"));
  EXPECT_THAT(run("vm stop 2"), ElementsAre("vm 2 (memtest2): stopped"));
  EXPECT_THAT(host.changes, ElementsAre("pause 1", "resume 1", "reset 2", "stop 2"));
}

TEST_F(MonitorTest, ANumberIsAnIdFirstThenAName) {
  // "2" is vm 2's id and vm 7's name: the id wins, as in virsh; the name still reaches vm 7 by id.
  EXPECT_THAT(run("vm stop 2"), ElementsAre("vm 2 (memtest2): stopped"));
  EXPECT_THAT(run("vm stop 7"), ElementsAre("vm 7 (2): stopped"));
  host.vms.erase(host.vms.begin() + 1);  // no vm 2 any more: "2" is a name
  host.vms[2].info.state = Monitor_vm_state::running;
  EXPECT_THAT(run("vm pause 2"), ElementsAre("vm 7 (2): paused"));
}

TEST_F(MonitorTest, AStoppedVmStartsAgainAndAFinishedOneCanBeDestroyed) {
  EXPECT_THAT(run("vm start hello"), ElementsAre("vm 3 (hello): started"));
  EXPECT_THAT(host.changes, ElementsAre("start 3"));
  host.changes.clear();
  EXPECT_EQ(run_error("vm start hello"), "error: vm start: vm 3 (hello) is running; start needs a stopped VM");
  EXPECT_EQ(run_error("vm destroy memtest1"),
            "error: vm destroy: vm 1 (memtest1) is running; destroy needs a stopped or failed VM");
  EXPECT_THAT(run("vm stop hello"), ElementsAre("vm 3 (hello): stopped"));
  EXPECT_THAT(run("vm destroy hello"), ElementsAre("vm 3 (hello): destroyed"));
  EXPECT_THAT(host.changes, ElementsAre("stop 3", "destroy 3"));
  host.changes.clear();
  EXPECT_EQ(run_error("vm start hello"), "error: vm start: no VM \"hello\"; expected a VM's id or name (see \"info vms\")");
  for (const auto& line : run("info vms")) EXPECT_EQ(line.find("hello"), std::string::npos) << line;
}

TEST_F(MonitorTest, StopIsAllowedFromReady) {
  EXPECT_THAT(run("vm stop 7"), ElementsAre("vm 7 (2): stopped"));
  EXPECT_THAT(host.changes, ElementsAre("stop 7"));
}

TEST_F(MonitorTest, HostRefusalIsOneErrorLine) {
  host.refuse = "the VM stopped meanwhile";
  EXPECT_THAT(run("vm pause memtest1"), ElementsAre("error: vm pause: vm 1 (memtest1): the VM stopped meanwhile"));
}

TEST_F(MonitorTest, LogSetsTheLevel) {
  EXPECT_THAT(run("log debug"), ElementsAre("log level: debug (was info)"));
  EXPECT_EQ(host.level, Log_level::debug);
  for (const char* word : {"error", "warn", "info", "debug", "trace"}) {
    const auto lines = run(std::string("log ") + word);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind(std::string("log level: ") + word + " (was ", 0), 0u) << lines[0];
    EXPECT_STREQ(log_level_name(host.level), word);
  }
}

// --- errors -------------------------------------------------------------------------------------

TEST_F(MonitorTest, UnknownCommands) {
  EXPECT_EQ(run_error("foo"), "error: unknown command \"foo\"; expected one of: help, info, vm, ksm, balloon, log (\"help\" lists them)");
  EXPECT_EQ(run_error("HELP"), "error: unknown command \"HELP\"; expected one of: help, info, vm, ksm, balloon, log (\"help\" lists them)");
  EXPECT_EQ(run_error("Info vms"), "error: unknown command \"Info\"; expected one of: help, info, vm, ksm, balloon, log (\"help\" lists them)");
}

TEST_F(MonitorTest, HelpTakesNoArguments) {
  EXPECT_EQ(run_error("help vm"), "error: help: unexpected \"vm\"; expected: help");
}

TEST_F(MonitorTest, InfoErrors) {
  EXPECT_EQ(run_error("info"), "error: info: missing what to show; expected: info vms|mem|exits VM|sched|ksm|balloon [VM]");
  EXPECT_EQ(run_error("info cpus"), "error: info: unknown \"cpus\"; expected: info vms|mem|exits VM|sched|ksm|balloon [VM]");
  EXPECT_EQ(run_error("info VMS"), "error: info: unknown \"VMS\"; expected: info vms|mem|exits VM|sched|ksm|balloon [VM]");
  EXPECT_EQ(run_error("info vms all"), "error: info vms: unexpected \"all\"; expected: info vms");
  EXPECT_EQ(run_error("info mem x"), "error: info mem: unexpected \"x\"; expected: info mem");
  EXPECT_EQ(run_error("info sched 0"), "error: info sched: unexpected \"0\"; expected: info sched");
  EXPECT_EQ(run_error("info exits"), "error: info exits: missing VM; expected: info exits VM (a VM's id or name)");
  EXPECT_EQ(run_error("info exits nosuch"),
            "error: info exits: no VM \"nosuch\"; expected a VM's id or name (see \"info vms\")");
  EXPECT_EQ(run_error("info exits 99"), "error: info exits: no VM \"99\"; expected a VM's id or name (see \"info vms\")");
  EXPECT_EQ(run_error("info exits 1 2"), "error: info exits: unexpected \"2\"; expected: info exits VM");
}

TEST_F(MonitorTest, VmSyntaxErrors) {
  EXPECT_EQ(run_error("vm"), "error: vm: missing action; expected: vm pause|resume|stop|reset|start|destroy VM");
  EXPECT_EQ(run_error("vm kill 1"), "error: vm: unknown action \"kill\"; expected: vm pause|resume|stop|reset|start|destroy VM");
  EXPECT_EQ(run_error("vm pause"), "error: vm pause: missing VM; expected: vm pause VM (a VM's id or name)");
  EXPECT_EQ(run_error("vm pause 1 2"), "error: vm pause: unexpected \"2\"; expected: vm pause|resume|stop|reset|start|destroy VM");
  EXPECT_EQ(run_error("vm pause 1 2 3 4 5"), "error: vm pause: unexpected \"2\"; expected: vm pause|resume|stop|reset|start|destroy VM");
  EXPECT_EQ(run_error("vm pause nosuch"), "error: vm pause: no VM \"nosuch\"; expected a VM's id or name (see \"info vms\")");
  EXPECT_EQ(run_error("vm pause 4"), "error: vm pause: no VM \"4\"; expected a VM's id or name (see \"info vms\")");
  EXPECT_EQ(run_error("vm pause MEMTEST1"),
            "error: vm pause: no VM \"MEMTEST1\"; expected a VM's id or name (see \"info vms\")");
  EXPECT_EQ(run_error("vm pause 99999999999999999999999"),
            "error: vm pause: no VM \"99999999999999999999999\"; expected a VM's id or name (see \"info vms\")");
}

TEST_F(MonitorTest, ActionsThatDoNotFitTheState) {
  EXPECT_EQ(run_error("vm resume memtest1"), "error: vm resume: vm 1 (memtest1) is running; resume needs a paused VM");
  EXPECT_EQ(run_error("vm pause memtest2"), "error: vm pause: vm 2 (memtest2) is paused; pause needs a running VM");
  EXPECT_EQ(run_error("vm pause hello"), "error: vm pause: vm 3 (hello) is stopped; pause needs a running VM");
  EXPECT_EQ(run_error("vm stop hello"), "error: vm stop: vm 3 (hello) is stopped; stop needs a ready, running or paused VM");
  EXPECT_EQ(run_error("vm reset hello"), "error: vm reset: vm 3 (hello) is stopped; reset needs a running or paused VM");
  EXPECT_EQ(run_error("vm reset 7"), "error: vm reset: vm 7 (2) is ready; reset needs a running or paused VM");
}

TEST(MonitorActions, AllowedTable) {
  using S = Monitor_vm_state;
  const struct {
    Vm_action action;
    std::vector<S> allowed;
  } table[] = {
      {Vm_action::pause, {S::running}},
      {Vm_action::resume, {S::paused}},
      {Vm_action::stop, {S::ready, S::running, S::paused}},
      {Vm_action::reset, {S::running, S::paused}},
      {Vm_action::start, {S::stopped}},
      {Vm_action::destroy, {S::stopped, S::failed}},
  };
  for (const auto& row : table) {
    for (S s : {S::created, S::ready, S::running, S::paused, S::stopped, S::failed}) {
      const bool expected = std::find(row.allowed.begin(), row.allowed.end(), s) != row.allowed.end();
      EXPECT_EQ(vm_action_allowed(row.action, s), expected) << vm_action_name(row.action) << " " << monitor_vm_state_name(s);
    }
  }
}

TEST_F(MonitorTest, LogErrors) {
  EXPECT_EQ(run_error("log"), "error: log: missing level; expected: log error|warn|info|debug|trace");
  EXPECT_EQ(run_error("log verbose"), "error: log: unknown level \"verbose\"; expected: log error|warn|info|debug|trace");
  EXPECT_EQ(run_error("log DEBUG"), "error: log: unknown level \"DEBUG\"; expected: log error|warn|info|debug|trace");
  EXPECT_EQ(run_error("log debug now"), "error: log: unexpected \"now\"; expected: log error|warn|info|debug|trace");
}

TEST_F(MonitorTest, ErrorsQuoteLongAndUnprintableWordsSafely) {
  const std::string long_word(100, 'x');
  EXPECT_EQ(run_error(long_word), "error: unknown command \"" + std::string(32, 'x') +
                                      "\"...; expected one of: help, info, vm, ksm, balloon, log (\"help\" lists them)");
  EXPECT_EQ(run_error(std::string("vm pause a\x01\x7f" "b")),
            "error: vm pause: no VM \"a??b\"; expected a VM's id or name (see \"info vms\")");
}

TEST_F(MonitorTest, LongOutputLinesAreCutNotOverrun) {
  host.vms[0].name = std::string(300, 'n');
  const auto lines = run("info vms");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[1].size(), monitor_line_capacity);
}

// The console path: bytes in, echo and output lines out.
TEST_F(MonitorTest, FeedEchoesRunsAndRefusesLongLines) {
  Fixed_text<1024> echo;
  Lines out;
  usize ended = 0;
  for (char c : std::string("vm pause memtest1\r\n")) ended += monitor.feed(static_cast<u8>(c), echo, out);
  EXPECT_EQ(ended, 1u);
  EXPECT_EQ(echo.view(), "vm pause memtest1\r\n");
  EXPECT_THAT(out.lines, ElementsAre("vm 1 (memtest1): paused"));
  EXPECT_THAT(host.changes, ElementsAre("pause 1"));

  out.lines.clear();
  host.changes.clear();
  const std::string too_long = "vm resume memtest1" + std::string(line_editor_capacity, ' ') + "\r";
  for (char c : too_long) ended += monitor.feed(static_cast<u8>(c), echo, out);
  EXPECT_EQ(ended, 2u);
  EXPECT_THAT(out.lines, ElementsAre("error: line too long (more than 120 characters); nothing was run"));
  EXPECT_TRUE(host.changes.empty());

  out.lines.clear();
  for (char c : std::string("vm stop 1\x03")) ended += monitor.feed(static_cast<u8>(c), echo, out);
  EXPECT_EQ(ended, 3u);
  EXPECT_TRUE(out.lines.empty());
  EXPECT_TRUE(host.changes.empty());
}

// Random typing through the line editor into the monitor: nothing crashes (ASan/UBSan watch),
// an error is always alone on its line, and no output line passes the capacity.
TEST_F(MonitorTest, RandomTypingThroughTheEditor) {
  host.cpus = {{"idle", 0, 0}};
  const char* words[] = {"help", "info", "vms", "mem", "exits", "sched", "vm", "pause", "resume", "stop",
                         "reset", "log", "debug", "1", "2", "memtest1", "hello", " ", "  ", "\t", "x", "\x7f",
                         "balloon", "64", "0"};
  std::mt19937 rng(2024);
  Line_editor editor;
  usize commands = 0, errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string chunk = (rng() % 8 == 0) ? std::string(1, static_cast<char>(rng())) : words[rng() % std::size(words)];
    if (rng() % 5 == 0) chunk += "\r";
    for (char c : chunk) {
      const Line_step step = editor.feed(static_cast<u8>(c));
      if (step.event != Line_event::line) continue;
      Lines out;
      monitor.execute(editor.line(), out);
      ++commands;
      for (const auto& l : out.lines) ASSERT_LE(l.size(), monitor_line_capacity);
      if (!out.lines.empty() && out.lines[0].rfind("error: ", 0) == 0) {
        ++errors;
        ASSERT_EQ(out.lines.size(), 1u) << editor.line();
      }
    }
  }
  EXPECT_GT(commands, 1000u);
  EXPECT_GT(errors, 100u);
}

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
