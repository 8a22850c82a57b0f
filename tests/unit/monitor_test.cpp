// tests/unit/monitor_test.cpp - the serial monitor: every command against a fake host, output
// checked line by line; every error path prints one "error: " line and changes nothing. The memory
// commands (ksm, balloon) are in monitor_memory_test.cpp; the fake host in support/monitor_fixture.hpp.
#include "core/line_editor.hpp"
#include "unit/support/monitor_fixture.hpp"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace hv {
namespace {

using ::testing::ElementsAre;

using test::Lines;
using test::MonitorTest;

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
  host.vms[1].info.shadow_paging = true;
  host.vms[1].info.shadow_table_pages = 37;
  host.vms[1].info.shadow_table_peak = 40;
  host.vms[1].info.shadow_table_budget = 512;
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
                          "paging vm 1 (memtest1): ept",
                          "paging vm 2 (memtest2): shadow, 37 shadow table pages (peak 40, budget 512)",
                          "paging vm 3 (hello): ept", "paging vm 7 (2): ept",
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

} // namespace
} // namespace hv
