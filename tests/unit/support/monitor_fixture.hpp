// tests/unit/support/monitor_fixture.hpp - the monitor's tests' fake host (VMs, CPUs, frames,
// merger and balloons as plain data; every call that changes something recorded in `changes`) and
// the fixture that runs command lines against it (run, run_error: a bad command prints one
// "error: " line and changes nothing).
#pragma once
#include "core/monitor.hpp"
#include "mm/balloon.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv::test {

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

} // namespace hv::test
