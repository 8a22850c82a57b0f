// core/vm_manager.cpp - see vm_manager.hpp. Both builds.
#include "core/vm_manager.hpp"
#include "lib/log.hpp"

namespace hv {

namespace {
constexpr u64 pages_per_mib = MiB / page_size_4k;
constexpr u64 min_pages(u64 a, u64 b) { return a < b ? a : b; }
} // namespace

Vm_manager::Vm_manager(Scheduler& scheduler, Frame_allocator& frames, u64 tsc_hz, Kick_fn kick)
    : scheduler_(scheduler), frames_(frames), tsc_per_us_(tsc_hz >= 1'000'000 ? tsc_hz / 1'000'000 : 1), kick_(kick) {}

void Vm_manager::kick(Kick k) const {
  if (k.needed() && kick_) kick_(k.cpu);
}

// A destroyed VM is found by nobody: it is gone from the monitor and the scheduler.
Vm_manager::Entry* Vm_manager::find(const Vm& vm) {
  for (usize i = 0; i < count_; ++i)
    if (entries_[i].vm == &vm && !entries_[i].destroyed) return &entries_[i];
  return nullptr;
}
const Vm_manager::Entry* Vm_manager::find(const Vm& vm) const {
  for (usize i = 0; i < count_; ++i)
    if (entries_[i].vm == &vm && !entries_[i].destroyed) return &entries_[i];
  return nullptr;
}
Vm_manager::Entry* Vm_manager::find(Vm_id id) {
  for (usize i = 0; i < count_; ++i)
    if (entries_[i].vm->id() == id && !entries_[i].destroyed) return &entries_[i];
  return nullptr;
}

bool Vm_manager::add(Vm& vm, u32 home_cpu) {
  Spinlock_guard guard(lock_);
  if (count_ == entries_.size() || home_cpu >= 64) return false;
  const std::optional<Task_id> task =
      scheduler_.add_task(Task_config{vm.name(), Task_kind::vcpu, u64{1} << home_cpu, sched_nominal_weight, &vm});
  if (!task) return false;
  Entry& e = entries_[count_++];
  e = Entry{};
  e.vm = &vm;
  e.task = *task;
  e.home_cpu = home_cpu;
  e.scheduled = true;
  return true;
}

bool Vm_manager::add_unstarted(Vm& vm) {
  Spinlock_guard guard(lock_);
  if (count_ == entries_.size()) return false;
  Entry& e = entries_[count_++];
  e = Entry{};
  e.vm = &vm;
  e.finished = true;
  return true;
}

void Vm_manager::start_all() {
  Spinlock_guard guard(lock_);
  for (usize i = 0; i < count_; ++i) {
    Entry& e = entries_[i];
    if (!e.scheduled || e.finished || e.vm->state() != Vm_state::ready) continue;
    e.vm->set_state(Vm_state::running);
    Kick k;
    if (scheduler_.resume(e.task, &k)) kick(k);
  }
}

std::optional<Task_id> Vm_manager::task_of(const Vm& vm) const {
  Spinlock_guard guard(lock_);
  const Entry* e = find(vm);
  if (!e || !e->scheduled) return std::nullopt;
  return e->task;
}

bool Vm_manager::starved(const Vm& vm) const {
  Spinlock_guard guard(lock_);
  const Entry* e = find(vm);
  return e && e->starved;
}

Slice_end Vm_manager::vm_out_of_memory(Vm& vm) {
  const Frame_stats s = frames_.stats();
  {
    Spinlock_guard guard(lock_);
    Entry* e = find(vm);
    HV_ASSERT(e != nullptr);
    if (!e->starved) {
      log_warn("mm", "{}: paused: out of memory: it has {} KiB of its {} MiB populated; the host has {} frames free ({} KiB); "
               "it resumes when frames return", vm.name(), vm.populated_bytes() / KiB, vm.config().memory_mib,
               s.free_frames, s.free_frames * 4);
    }
    e->starved = true;
  }
  return Slice_end::blocked;
}

void Vm_manager::frames_returned() {
  Spinlock_guard guard(lock_);
  for (usize i = 0; i < count_; ++i) {
    Entry& e = entries_[i];
    if (!e.starved || e.finished) continue;
    e.starved = false;
    log_info("mm", "{}: resumed: frames returned, {} free", e.vm->name(), frames_.stats().free_frames);
    kick(scheduler_.wake(e.task));
  }
}

void Vm_manager::vm_stopped(Vm& vm, Vm_executor& executor) {
  {
    Spinlock_guard guard(lock_);
    Entry* e = find(vm);
    HV_ASSERT(e != nullptr);
    if (e->finished) return;
    e->finished = true;
    e->starved = false;
    e->request = Vm_request::none;
  }
  executor.release(vm);
  vm.finish();
  frames_returned();
}

u32 Vm_manager::service(u32 cpu, Vm_executor& executor) {
  u32 handled = 0;
  for (usize i = 0; i < count_; ++i) {
    Vm* vm = nullptr;
    Vm_request request = Vm_request::none;
    bool resume = false;
    {
      Spinlock_guard guard(lock_);
      Entry& e = entries_[i];
      if (e.home_cpu != cpu || e.finished || e.request == Vm_request::none) continue;
      const std::optional<Task_info> t = scheduler_.task_info(e.task);
      if (!t || t->state == Task_state::running) continue;  // off the CPU at the end of its slice
      vm = e.vm;
      request = e.request;
      resume = e.resume_after_reset;
      e.request = Vm_request::none;
    }
    ++handled;
    if (request == Vm_request::stop) {
      kick(scheduler_.stop(entries_[i].task));
      if (vm->vcpu().stop.kind == Vcpu_stop_kind::none) vm->vcpu().stop = Vcpu_stop{Vcpu_stop_kind::requested, 0, 0};
      vm_stopped(*vm, executor);
      continue;
    }
    // Reset: guest memory goes back to the allocator and the image is loaded again.
    const bool ok = vm->reset() && executor.restart(*vm);
    if (!ok) {
      kick(scheduler_.stop(entries_[i].task));
      vm_stopped(*vm, executor);
      continue;
    }
    frames_returned();
    Spinlock_guard guard(lock_);
    Entry& e = entries_[i];
    e.starved = false;
    e.user_paused = !resume;
    vm->set_state(resume ? Vm_state::running : Vm_state::paused);
    if (resume) {
      Kick k;
      if (scheduler_.resume(e.task, &k)) kick(k);
    }
  }
  return handled;
}

bool Vm_manager::all_finished() const {
  Spinlock_guard guard(lock_);
  for (usize i = 0; i < count_; ++i)
    if (!entries_[i].finished) return false;
  return true;
}

Monitor_vm_state Vm_manager::state_of(const Entry& e) const {
  switch (e.vm->state()) {
  case Vm_state::created: return Monitor_vm_state::created;
  case Vm_state::ready: return Monitor_vm_state::ready;
  case Vm_state::stopped: return Monitor_vm_state::stopped;
  case Vm_state::failed: return Monitor_vm_state::failed;
  case Vm_state::paused: return Monitor_vm_state::paused;
  case Vm_state::running: break;
  }
  if (e.finished) return Monitor_vm_state::stopped;
  return e.starved || e.user_paused ? Monitor_vm_state::paused : Monitor_vm_state::running;
}

bool Vm_manager::vm_info(usize index, Monitor_vm_info& out) {
  Spinlock_guard guard(lock_);
  if (index >= count_ || entries_[index].destroyed) return false;
  const Entry& e = entries_[index];
  const Vm& vm = *e.vm;
  out = Monitor_vm_info{};
  out.id = vm.id();
  out.name = vm.name();
  out.state = state_of(e);
  out.memory_mib = vm.config().memory_mib;
  out.current_mib = out.memory_mib;
  if (!e.finished) {
    // What the guest has: its memory less the balloon (virsh dominfo's "Used memory").
    const Balloon_view b = vm.balloon().view();
    if (b.memory_pages != 0)
      out.current_mib = (b.memory_pages - min_pages(b.actual_pages, b.memory_pages)) / pages_per_mib;
  }
  out.populated_kib = vm.populated_bytes() / KiB;
  if (const Shadow_mmu* s = vm.shadow()) {
    const Shadow_stats st = s->stats();
    out.shadow_paging = true;
    out.shadow_table_pages = st.table_pages;
    out.shadow_table_peak = st.table_pages_peak;
    out.shadow_table_budget = s->config().max_table_pages;
  }
  out.exits = vm.vcpu().stats.total;
  if (merger_) out.merging_kib = merger_->merging_pages(vm.id()) * (page_size_4k / KiB);
  if (e.scheduled) {
    if (const std::optional<Task_info> t = scheduler_.task_info(e.task)) {
      out.cpu = t->cpu == no_cpu ? monitor_no_cpu : t->cpu;
      out.cpu_time_us = t->stats.cpu_ticks / tsc_per_us_;
    }
  }
  return true;
}

bool Vm_manager::vm_exit_counts(Vm_id id, Monitor_exit_counts& out) {
  Spinlock_guard guard(lock_);
  const Entry* e = find(id);
  if (!e) return false;
  for (u32 r = 0; r < exit_reason::COUNT; ++r) out.count[r] = e->vm->vcpu().stats.count[r];
  return true;
}

Frame_stats Vm_manager::frame_stats() { return frames_.stats(); }

bool Vm_manager::merge_info(Merge_knobs& knobs, Merge_stats& stats) {
  if (!merger_) return false;
  knobs = merger_->knobs();
  stats = merger_->stats();
  return true;
}

Merge_knob_status Vm_manager::set_merge_knob(std::string_view name, std::string_view value, const Merge_knob_info*& info) {
  if (!merger_) {
    info = nullptr;
    return Merge_knob_status::unknown_knob;
  }
  return merger_->set_knob(name, value, info);
}

u32 Vm_manager::cpu_count() { return scheduler_.cpu_count(); }

bool Vm_manager::cpu_info(u32 cpu, Monitor_cpu_info& out) {
  if (cpu >= scheduler_.cpu_count()) return false;
  Spinlock_guard guard(lock_);
  const Task_id current = scheduler_.current(cpu);
  out.running = "idle";
  if (current != idle_task) {
    if (const std::optional<Task_info> t = scheduler_.task_info(current)) {
      // The name is copied into a per-CPU buffer that stays valid until the next cpu_info call
      // for this CPU (the monitor formats one CPU at a time).
      static std::array<std::array<char, sched_name_capacity>, sched_max_cpus> names{};
      names[cpu] = t->name;
      out.running = std::string_view(names[cpu].data());
    }
  }
  out.queue_length = scheduler_.queue_length(cpu);
  out.context_switches = scheduler_.cpu_stats(cpu).context_switches;
  return true;
}

std::string_view Vm_manager::vm_action(Vm_id id, Vm_action action) {
  Spinlock_guard guard(lock_);
  Entry* e = find(id);
  if (!e) return "the VM went away meanwhile";
  if (e->request != Vm_request::none) return "a stop or reset of this VM is in progress";
  if (action == Vm_action::start || action == Vm_action::destroy) {
    if (!vm_action_allowed(action, state_of(*e))) return "the VM changed state meanwhile";
    return action == Vm_action::start ? start_again(*e) : destroy(*e);
  }
  if (!e->scheduled || e->finished) return "the VM is not running";
  if (e->request != Vm_request::none) return "a stop or reset of this VM is in progress";
  const Monitor_vm_state state = state_of(*e);
  if (!vm_action_allowed(action, state)) return "the VM changed state meanwhile";
  switch (action) {
  case Vm_action::pause:
    e->user_paused = true;
    e->vm->set_state(Vm_state::paused);
    kick(scheduler_.pause(e->task));
    return {};
  case Vm_action::resume:
    if (e->starved) {
      // Starved, not paused by hand: try again now (it waits again if frames are still short).
      e->starved = false;
      kick(scheduler_.wake(e->task));
    }
    if (e->user_paused) {
      e->user_paused = false;
      Kick k;
      if (!scheduler_.resume(e->task, &k)) return "the VM changed state meanwhile";
      kick(k);
    }
    e->vm->set_state(Vm_state::running);
    return {};
  case Vm_action::start:
  case Vm_action::destroy: break;  // above
  case Vm_action::stop:
  case Vm_action::reset:
    e->request = action == Vm_action::stop ? Vm_request::stop : Vm_request::reset;
    e->resume_after_reset = !e->user_paused;
    if (!e->user_paused) kick(scheduler_.pause(e->task));
    // The home CPU carries it out between slices; make it look now.
    if (kick_) kick_(e->home_cpu);
    return {};
  }
  return "unknown action";
}

// A stopped VM boots again (under lock_: nothing runs it, and no other request can start meanwhile).
// Its stopped scheduler task is replaced by a fresh one on the same home CPU; the VMCS is filled
// when it is first picked, as at the first start.
std::string_view Vm_manager::start_again(Entry& e) {
  if (!e.scheduled) return "the VM was never started: it cannot be started again";
  if (!e.vm->restart()) return "the VM could not be started again (the log says why)";
  (void)scheduler_.remove_task(e.task);
  const std::optional<Task_id> task = scheduler_.add_task(
      Task_config{e.vm->name(), Task_kind::vcpu, u64{1} << e.home_cpu, sched_nominal_weight, e.vm});
  if (!task) {
    // The slot just freed is taken by nothing else, so this cannot happen; stay consistent if it does.
    e.scheduled = false;
    e.vm->finish();
    return "no room in the scheduler";
  }
  e.task = *task;
  e.finished = false;
  e.starved = false;
  e.user_paused = false;
  e.vm->set_state(Vm_state::running);
  Kick k;
  if (scheduler_.resume(e.task, &k)) kick(k);
  return {};
}

// A finished VM leaves the list and the scheduler. Its guest memory and VMCS went back when it
// stopped; the small Vm record stays (boot/ judges every configured VM at the end).
std::string_view Vm_manager::destroy(Entry& e) {
  if (e.scheduled) (void)scheduler_.remove_task(e.task);
  e.scheduled = false;
  e.destroyed = true;
  log_info("vm", "{}: destroyed: removed from the list; its memory had gone back when it stopped", e.vm->name());
  return {};
}

Log_level Vm_manager::log_level() { return log_get_level(); }
void Vm_manager::set_log_level(Log_level level) { log_set_level(level); }

} // namespace hv
