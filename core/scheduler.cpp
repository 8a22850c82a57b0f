// core/scheduler.cpp - the fair scheduler's policy and queues (see scheduler.hpp). Both builds.
#include "core/scheduler.hpp"

namespace hv {

namespace {

// Virtual time for `ran` ticks at `weight`: ran * nominal / weight, split so that it cannot
// overflow for any ran below 2^54 (years of TSC).
u64 vruntime_delta(u64 ran, u32 weight) {
  if (weight == sched_nominal_weight) return ran;
  return (ran / weight) * sched_nominal_weight + (ran % weight) * sched_nominal_weight / weight;
}

bool allowed(u64 affinity, u32 cpu) { return cpu < 64 && (affinity >> cpu) & 1; }

} // namespace

const char* task_state_name(Task_state state) {
  switch (state) {
  case Task_state::free: return "free";
  case Task_state::runnable: return "runnable";
  case Task_state::running: return "running";
  case Task_state::blocked: return "blocked";
  case Task_state::paused: return "paused";
  case Task_state::stopped: return "stopped";
  }
  return "?";
}

const char* task_kind_name(Task_kind kind) { return kind == Task_kind::vcpu ? "vcpu" : "thread"; }

Scheduler::Task& Scheduler::task_ref(Task_id id) {
  HV_ASSERT(id < sched_max_tasks && tasks_[id].state != Task_state::free);
  return tasks_[id];
}

const Scheduler::Task& Scheduler::task_ref(Task_id id) const {
  HV_ASSERT(id < sched_max_tasks && tasks_[id].state != Task_state::free);
  return tasks_[id];
}

u64 Scheduler::cpu_mask() const {
  return config_.cpu_count >= 64 ? ~u64{0} : (u64{1} << config_.cpu_count) - 1;
}

bool Scheduler::cpu_idle(u32 cpu) const {
  const Cpu& c = cpus_[cpu];
  return c.queue.empty() && (!c.has_current || c.current == idle_task);
}

u32 Scheduler::load(u32 cpu) const {
  const Cpu& c = cpus_[cpu];
  return c.queue.size() + (c.has_current && c.current != idle_task ? 1 : 0);
}

bool Scheduler::init(const Scheduler_config& config) {
  if (config.cpu_count == 0 || config.cpu_count > sched_max_cpus || config.quantum_ticks == 0) return false;
  Spinlock_guard guard(lock_);
  config_ = config;
  for (Task& t : tasks_) t = Task{};
  for (Cpu& c : cpus_) c = Cpu{};
  seq_ = 0;
  return true;
}

std::optional<Task_id> Scheduler::add_task(const Task_config& config) {
  if (config.weight == 0 || config.weight > sched_max_weight) return std::nullopt;
  Spinlock_guard guard(lock_);
  const u64 usable = config.affinity & cpu_mask();
  if (usable == 0) return std::nullopt;
  for (Task_id id = 0; id < sched_max_tasks; ++id) {
    Task& t = tasks_[id];
    if (t.state != Task_state::free) continue;
    t = Task{};
    const usize n = config.name.size() < sched_name_capacity - 1 ? config.name.size() : sched_name_capacity - 1;
    for (usize i = 0; i < n; ++i) t.name[i] = config.name[i];
    t.kind = config.kind;
    t.state = Task_state::paused;
    t.cpu = static_cast<u32>(__builtin_ctzll(usable));
    t.weight = config.weight;
    t.affinity = config.affinity;
    t.vruntime = cpus_[t.cpu].min_vruntime;
    t.context = config.context;
    return id;
  }
  return std::nullopt;
}

bool Scheduler::remove_task(Task_id id) {
  Spinlock_guard guard(lock_);
  Task& t = task_ref(id);
  if (t.state != Task_state::stopped) return false;
  t = Task{};
  return true;
}

void Scheduler::update_min_vruntime(u32 cpu) {
  Cpu& c = cpus_[cpu];
  bool any = false;
  u64 m = 0;
  if (c.has_current && c.current != idle_task) {
    m = tasks_[c.current].vruntime;
    any = true;
  }
  if (!c.queue.empty()) {
    const u64 q = c.queue.front().vruntime;
    m = any && m < q ? m : q;
    any = true;
  }
  if (any && m > c.min_vruntime) c.min_vruntime = m;
}

void Scheduler::enqueue(Task_id id, u32 cpu) {
  Task& t = tasks_[id];
  HV_ASSERT(allowed(t.affinity, cpu) && cpu < config_.cpu_count);
  t.cpu = cpu;
  t.state = Task_state::runnable;
  cpus_[cpu].queue.insert({t.vruntime, ++seq_, static_cast<u8>(id)});
}

void Scheduler::dequeue(Task_id id) {
  const bool found = cpus_[tasks_[id].cpu].queue.remove(static_cast<u8>(id));
  HV_ASSERT(found);
}

// Keeps the task's lag (how far it is ahead of or behind its CPU's minimum) across CPUs, whose
// virtual clocks are unrelated.
void Scheduler::move_vruntime(Task& t, u32 from, u32 to) {
  const i64 lag = static_cast<i64>(t.vruntime - cpus_[from].min_vruntime);
  const u64 base = cpus_[to].min_vruntime;
  t.vruntime = lag < 0 && static_cast<u64>(-lag) > base ? 0 : base + static_cast<u64>(lag);
  if (from != to) ++t.stats.migrations;
}

// A task that slept kept its old virtual runtime; without a floor it would run until it caught
// up with everyone else. The floor leaves it `credit` ahead of the CPU's minimum.
void Scheduler::clamp_for_wake(Task& t, u64 credit) {
  const u64 m = cpus_[t.cpu].min_vruntime;
  const u64 floor = m > credit ? m - credit : 0;
  if (t.vruntime < floor) t.vruntime = floor;
}

u32 Scheduler::choose_cpu(const Task& t) const {
  const u64 usable = t.affinity & cpu_mask();
  HV_ASSERT(usable != 0);
  const bool last_ok = allowed(usable, t.cpu);
  if (last_ok && cpu_idle(t.cpu)) return t.cpu;
  if (config_.balance) {
    for (u64 m = usable; m != 0; m &= m - 1) {
      const u32 cpu = static_cast<u32>(__builtin_ctzll(m));
      if (cpu_idle(cpu)) return cpu;
    }
  }
  if (last_ok) return t.cpu;
  u32 best = no_cpu;
  for (u64 m = usable; m != 0; m &= m - 1) {
    const u32 cpu = static_cast<u32>(__builtin_ctzll(m));
    if (best == no_cpu || load(cpu) < load(best)) best = cpu;
  }
  return best;
}

// Interrupt `cpu` if it idles, or if `queued` is far enough behind the task it runs that the
// running task should give way now rather than at the end of its slice (wakeup preemption).
Kick Scheduler::kick_for(u32 cpu, Task_id queued) const {
  const Cpu& c = cpus_[cpu];
  if (!c.has_current) return {};  // between end_slice and pick_next: it will look anyway
  if (c.current == idle_task) return {cpu};
  const u64 granularity = config_.quantum_ticks / 4;
  if (tasks_[queued].vruntime + granularity < tasks_[c.current].vruntime) return {cpu};
  return {};
}

Kick Scheduler::make_runnable(Task_id id, u64 credit) {
  Task& t = tasks_[id];
  const u32 from = t.cpu;
  const u32 to = choose_cpu(t);
  move_vruntime(t, from, to);
  t.cpu = to;
  clamp_for_wake(t, credit);
  enqueue(id, to);
  return kick_for(to, id);
}

bool Scheduler::pull(u32 cpu) {
  u32 source = no_cpu;
  u32 best_len = 0;
  for (u32 s = 0; s < config_.cpu_count; ++s) {
    const Run_queue& q = cpus_[s].queue;
    if (s == cpu || q.size() <= best_len) continue;
    for (u32 i = 0; i < q.size(); ++i) {
      if (allowed(tasks_[q[i].task].affinity, cpu)) {
        source = s;
        best_len = q.size();
        break;
      }
    }
  }
  if (source == no_cpu) return false;
  const Run_queue& q = cpus_[source].queue;
  Task_id id = idle_task;
  for (u32 i = q.size(); i-- > 0;) {  // from the back: the entry that would run soonest
    if (allowed(tasks_[q[i].task].affinity, cpu)) {
      id = q[i].task;
      break;
    }
  }
  dequeue(id);
  move_vruntime(tasks_[id], source, cpu);
  enqueue(id, cpu);
  ++cpus_[cpu].stats.pulls;
  return true;
}

Decision Scheduler::pick_next(u32 cpu) {
  Spinlock_guard guard(lock_);
  HV_ASSERT(cpu < config_.cpu_count);
  Cpu& c = cpus_[cpu];
  HV_ASSERT(!c.has_current);
  ++c.stats.decisions;
  if (c.queue.empty() && config_.balance) (void)pull(cpu);
  Decision d{idle_task, config_.quantum_ticks, nullptr};
  if (!c.queue.empty()) {
    d.task = c.queue.pop_front().task;
    Task& t = tasks_[d.task];
    t.state = Task_state::running;
    ++t.stats.slices;
    if (c.last != d.task) ++t.stats.switches;
    d.context = t.context;
  }
  if (c.last != d.task) ++c.stats.context_switches;
  c.current = d.task;
  c.has_current = true;
  update_min_vruntime(cpu);
  return d;
}

Kick Scheduler::end_slice(u32 cpu, u64 ran_ticks, Slice_end how) {
  Spinlock_guard guard(lock_);
  HV_ASSERT(cpu < config_.cpu_count);
  Cpu& c = cpus_[cpu];
  HV_ASSERT(c.has_current);
  c.has_current = false;
  c.last = c.current;
  const Task_id id = c.current;
  c.current = idle_task;
  if (id == idle_task) {
    c.stats.idle_ticks += ran_ticks;
    return {};
  }
  c.stats.busy_ticks += ran_ticks;
  Task& t = tasks_[id];
  t.stats.cpu_ticks += ran_ticks;
  t.vruntime += vruntime_delta(ran_ticks, t.weight);

  const bool blocks = how == Slice_end::blocked && !t.wake_pending;
  const bool pause = t.pause_pending;
  const bool stop = t.stop_pending || how == Slice_end::stopped;
  t.wake_pending = t.pause_pending = t.stop_pending = false;
  Kick kick{};
  if (stop) {
    t.state = Task_state::stopped;
  } else if (pause) {
    t.state = Task_state::paused;
    t.asleep = blocks;
  } else if (blocks) {
    t.state = Task_state::blocked;
  } else {
    // Yield: go behind the task that runs next, without losing more than that.
    if (how == Slice_end::yielded && !c.queue.empty() && t.vruntime < c.queue.front().vruntime)
      t.vruntime = c.queue.front().vruntime;
    u32 to = cpu;
    if (!allowed(t.affinity, cpu)) {
      to = choose_cpu(t);
    } else if (config_.balance && !c.queue.empty()) {
      // It would wait here. A CPU it may use with fewer tasks than this one (counting it) takes
      // it instead: an idle CPU gets work, and with more tasks than CPUs the tasks rotate, so
      // every one gets its share of all the CPUs rather than of the one it happened to start on.
      u32 best_load = c.queue.size() + 1;
      for (u64 m = t.affinity & cpu_mask() & ~(u64{1} << cpu); m != 0; m &= m - 1) {
        const u32 other = static_cast<u32>(__builtin_ctzll(m));
        if (load(other) < best_load) {
          best_load = load(other);
          to = other;
        }
      }
    }
    if (to != cpu) move_vruntime(t, cpu, to);
    enqueue(id, to);
    if (to != cpu) kick = kick_for(to, id);
  }
  update_min_vruntime(cpu);
  return kick;
}

Kick Scheduler::wake(Task_id id) {
  Spinlock_guard guard(lock_);
  Task& t = task_ref(id);
  switch (t.state) {
  case Task_state::blocked:
    ++t.stats.wakeups;
    return make_runnable(id, config_.quantum_ticks / 2);
  case Task_state::running: t.wake_pending = true; break;
  case Task_state::paused: t.asleep = false; break;
  default: break;
  }
  return {};
}

Kick Scheduler::pause(Task_id id) {
  Spinlock_guard guard(lock_);
  Task& t = task_ref(id);
  switch (t.state) {
  case Task_state::runnable:
    dequeue(id);
    t.state = Task_state::paused;
    t.asleep = false;
    break;
  case Task_state::blocked:
    t.state = Task_state::paused;
    t.asleep = true;
    break;
  case Task_state::running: t.pause_pending = true; return {t.cpu};
  default: break;
  }
  return {};
}

bool Scheduler::resume(Task_id id, Kick* kick) {
  Spinlock_guard guard(lock_);
  Task& t = task_ref(id);
  Kick k{};
  bool ok = true;
  if (t.state == Task_state::paused) {
    if (t.asleep) {
      t.asleep = false;
      t.state = Task_state::blocked;
    } else {
      k = make_runnable(id, 0);
    }
  } else if (t.state == Task_state::running && t.pause_pending) {
    t.pause_pending = false;  // paused and resumed within one slice
  } else {
    ok = false;
  }
  if (kick) *kick = k;
  return ok;
}

Kick Scheduler::stop(Task_id id) {
  Spinlock_guard guard(lock_);
  Task& t = task_ref(id);
  switch (t.state) {
  case Task_state::runnable: dequeue(id); [[fallthrough]];
  case Task_state::blocked:
  case Task_state::paused:
    t.state = Task_state::stopped;
    t.asleep = false;
    break;
  case Task_state::running: t.stop_pending = true; return {t.cpu};
  default: break;
  }
  return {};
}

bool Scheduler::set_affinity(Task_id id, u64 affinity, Kick* kick) {
  Spinlock_guard guard(lock_);
  Task& t = task_ref(id);
  if ((affinity & cpu_mask()) == 0) return false;
  t.affinity = affinity;
  Kick k{};
  if (t.state == Task_state::runnable && !allowed(affinity, t.cpu)) {
    dequeue(id);
    const u32 from = t.cpu;
    const u32 to = choose_cpu(t);
    move_vruntime(t, from, to);
    enqueue(id, to);
    k = kick_for(to, id);
  } else if (t.state == Task_state::running && !allowed(affinity, t.cpu)) {
    k = {t.cpu};  // end its slice early so it moves
  }
  if (kick) *kick = k;
  return true;
}

bool Scheduler::set_weight(Task_id id, u32 weight) {
  if (weight == 0 || weight > sched_max_weight) return false;
  Spinlock_guard guard(lock_);
  task_ref(id).weight = weight;
  return true;
}

std::optional<Task_info> Scheduler::task_info(Task_id id) const {
  Spinlock_guard guard(lock_);
  if (id >= sched_max_tasks || tasks_[id].state == Task_state::free) return std::nullopt;
  const Task& t = tasks_[id];
  Task_info info;
  info.name = t.name;
  info.kind = t.kind;
  info.state = t.state;
  info.cpu = t.cpu;
  info.weight = t.weight;
  info.affinity = t.affinity;
  info.vruntime = t.vruntime;
  info.stats = t.stats;
  return info;
}

Cpu_stats Scheduler::cpu_stats(u32 cpu) const {
  Spinlock_guard guard(lock_);
  HV_ASSERT(cpu < sched_max_cpus);
  return cpus_[cpu].stats;
}

Task_id Scheduler::current(u32 cpu) const {
  Spinlock_guard guard(lock_);
  HV_ASSERT(cpu < sched_max_cpus);
  return cpus_[cpu].has_current ? cpus_[cpu].current : idle_task;
}

u32 Scheduler::queue_length(u32 cpu) const {
  Spinlock_guard guard(lock_);
  HV_ASSERT(cpu < sched_max_cpus);
  return cpus_[cpu].queue.size();
}

const char* Scheduler::check_invariants() const {
  Spinlock_guard guard(lock_);
  std::array<u8, sched_max_tasks> queued{};
  std::array<u8, sched_max_tasks> running{};
  for (u32 cpu = 0; cpu < sched_max_cpus; ++cpu) {
    const Cpu& c = cpus_[cpu];
    if (cpu >= config_.cpu_count) {
      if (!c.queue.empty() || c.has_current) return "an unconfigured CPU has work";
      continue;
    }
    if (!c.queue.is_sorted()) return "a run queue is out of order";
    for (u32 i = 0; i < c.queue.size(); ++i) {
      const Run_queue_entry& e = c.queue[i];
      const Task& t = tasks_[e.task];
      if (t.state != Task_state::runnable) return "a queued task is not runnable";
      if (t.cpu != cpu) return "a queued task's cpu is not its queue's";
      if (!allowed(t.affinity, cpu)) return "a task is queued on a CPU outside its affinity";
      if (e.vruntime != t.vruntime) return "a queue key differs from its task's vruntime";
      ++queued[e.task];
    }
    if (c.has_current && c.current != idle_task) {
      if (c.current >= sched_max_tasks) return "a CPU runs a task id out of range";
      const Task& t = tasks_[c.current];
      if (t.state != Task_state::running) return "a CPU's current task is not running";
      if (t.cpu != cpu) return "a running task's cpu is not the CPU running it";
      ++running[c.current];
    }
  }
  for (u32 id = 0; id < sched_max_tasks; ++id) {
    const Task& t = tasks_[id];
    const bool is_runnable = t.state == Task_state::runnable;
    const bool is_running = t.state == Task_state::running;
    if (queued[id] != (is_runnable ? 1 : 0)) return "a task is on the wrong number of queues";
    if (running[id] != (is_running ? 1 : 0)) return "a task is current on the wrong number of CPUs";
    if (!is_running && (t.wake_pending || t.pause_pending || t.stop_pending))
      return "a task that is not running has a pending request";
    if (t.asleep && t.state != Task_state::paused) return "only a paused task can be asleep";
  }
  return nullptr;
}

} // namespace hv
