// tests/unit/support/scheduler_sim.hpp - a discrete-event simulation of CPUs driving hv::Scheduler the
// way the native side will: pick_next, run the task for its slice (or until it blocks, or until a
// kick), end_slice, and deliver timed wakeups. Hosted tests only. Every dispatch is checked
// against affinity, against "one task on one CPU at a time", and against "idle only when nothing
// else may run here"; every step against Scheduler::check_invariants.
#pragma once
#include "core/scheduler.hpp"
#include <algorithm>
#include <map>
#include <stdexcept>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace hv::sim {

// What a task does when it runs: CPU-bound (burst 0), or `burst` ticks of work then `sleep`
// ticks blocked, forever.
struct Behaviour {
  u64 burst = 0;
  u64 sleep = 0;
};

class Simulator {
public:
  Simulator(Scheduler& s, u32 cpus) : s_(s), cpus_(cpus) {}

  Task_id add(std::string_view name, Behaviour b = {}, u32 weight = sched_nominal_weight, u64 affinity = ~u64{0}) {
    auto id = s_.add_task({.name = name, .affinity = affinity, .weight = weight});
    if (!id) throw std::runtime_error("add_task failed");
    tasks_[*id] = Sim_task{b, b.burst};
    Kick k;
    if (!s_.resume(*id, &k)) throw std::runtime_error("resume failed");
    kick(k);
    return *id;
  }

  // Starts every CPU (call once, after the first tasks exist).
  void start() {
    run_.assign(cpus_, Cpu_run{});
    for (u32 c = 0; c < cpus_; ++c) dispatch(c);
  }

  void run_until(u64 t) {
    for (;;) {
      u64 next = UINT64_MAX;
      u32 cpu = cpus_;
      for (u32 c = 0; c < cpus_; ++c)
        if (run_[c].end < next) next = run_[c].end, cpu = c;
      const bool wake_first = !wakes_.empty() && wakes_.begin()->first <= next;
      if (wake_first) next = wakes_.begin()->first;
      if (next > t) break;
      now_ = next;
      if (wake_first) {
        const Task_id id = wakes_.begin()->second;
        wakes_.erase(wakes_.begin());
        wake_times_[id] = now_;
        kick(s_.wake(id));
      } else {
        finish(cpu, run_[cpu].how);
        dispatch(cpu);
      }
      check();
    }
    now_ = t;
  }

  // Interrupts `k.cpu` now (IPI): its slice ends as expired and it picks again.
  void kick(Kick k) {
    if (!k.needed() || run_.empty()) return;
    finish(k.cpu, Slice_end::expired);
    dispatch(k.cpu);
  }

  [[nodiscard]] u64 now() const { return now_; }
  [[nodiscard]] u64 cpu_ticks(Task_id id) const { return s_.task_info(id)->stats.cpu_ticks; }
  [[nodiscard]] u64 dispatches(Task_id id) const { return count_or_zero(dispatches_, id); }
  [[nodiscard]] const std::set<u32>& cpus_used(Task_id id) { return cpus_used_[id]; }
  [[nodiscard]] u64 max_wake_latency(Task_id id) const { return count_or_zero(max_latency_, id); }
  [[nodiscard]] u64 completed_bursts(Task_id id) const { return count_or_zero(bursts_, id); }
  [[nodiscard]] const std::vector<std::string>& violations() const { return violations_; }
  // Dispatch log: (time, cpu, task) for every pick.
  [[nodiscard]] const std::vector<std::tuple<u64, u32, Task_id>>& log() const { return log_; }
  void set_behaviour(Task_id id, Behaviour b) { tasks_[id] = Sim_task{b, b.burst}; }

private:
  struct Sim_task {
    Behaviour b;
    u64 left = 0;  // of the current burst
  };
  struct Cpu_run {
    Decision d;
    u64 start = 0;
    u64 end = UINT64_MAX;
    Slice_end how = Slice_end::expired;
  };

  static u64 count_or_zero(const std::map<Task_id, u64>& m, Task_id id) {
    auto it = m.find(id);
    return it == m.end() ? 0 : it->second;
  }

  void violation(std::string what) { violations_.push_back("t=" + std::to_string(now_) + ": " + what); }

  void dispatch(u32 c) {
    Cpu_run& r = run_[c];
    r.d = s_.pick_next(c);
    r.start = now_;
    log_.emplace_back(now_, c, r.d.task);
    if (r.d.idle()) {
      r.end = now_ + r.d.slice_ticks;
      r.how = Slice_end::expired;
      // Idle only when no runnable task may run here.
      for (auto& [id, t] : tasks_) {
        auto info = s_.task_info(id);
        if (info && info->state == Task_state::runnable && (info->affinity >> c & 1))
          violation("cpu" + std::to_string(c) + " idles while task " + std::to_string(id) + " may run");
      }
      return;
    }
    const Task_id id = r.d.task;
    auto info = s_.task_info(id);
    if (!(info->affinity >> c & 1)) violation("affinity: task " + std::to_string(id) + " on cpu" + std::to_string(c));
    for (u32 o = 0; o < cpus_; ++o)
      if (o != c && run_[o].end != UINT64_MAX && run_[o].d.task == id) violation("task on two CPUs");
    ++dispatches_[id];
    cpus_used_[id].insert(c);
    if (auto w = wake_times_.find(id); w != wake_times_.end()) {
      max_latency_[id] = std::max(max_latency_[id], now_ - w->second);
      wake_times_.erase(w);
    }
    Sim_task& t = tasks_[id];
    if (t.b.burst != 0 && t.left <= r.d.slice_ticks) {
      r.end = now_ + t.left;
      r.how = Slice_end::blocked;
    } else {
      r.end = now_ + r.d.slice_ticks;
      r.how = Slice_end::expired;
    }
  }

  void finish(u32 c, Slice_end how) {
    Cpu_run& r = run_[c];
    const u64 ran = now_ - r.start;
    r.end = UINT64_MAX;
    if (!r.d.idle()) {
      Sim_task& t = tasks_[r.d.task];
      if (t.b.burst != 0) {
        t.left -= std::min(t.left, ran);
        if (t.left == 0 && how == Slice_end::blocked) {
          t.left = t.b.burst;
          ++bursts_[r.d.task];
          wakes_.emplace(now_ + t.b.sleep, r.d.task);
        } else {
          how = Slice_end::expired;  // cut short by a kick
        }
      }
    }
    Kick k = s_.end_slice(c, ran, how);
    if (k.needed() && k.cpu != c) kick(k);
  }

  void check() {
    if (const char* broken = s_.check_invariants()) violation(broken);
  }

  Scheduler& s_;
  u32 cpus_;
  u64 now_ = 0;
  std::vector<Cpu_run> run_;
  std::map<Task_id, Sim_task> tasks_;
  std::multimap<u64, Task_id> wakes_;
  std::map<Task_id, u64> wake_times_, max_latency_, dispatches_, bursts_;
  std::map<Task_id, std::set<u32>> cpus_used_;
  std::vector<std::string> violations_;
  std::vector<std::tuple<u64, u32, Task_id>> log_;
};

} // namespace hv::sim
