// core/scheduler.hpp - who runs next on each physical CPU: vCPUs and hypervisor threads under a
// fair, weighted policy in the spirit of Linux CFS. Both builds. This is the policy and the queue
// logic only: no context switch, no timer, no IPI. The native side asks "what runs next on CPU n"
// (pick_next), runs it for at most the slice it was given (the VMX-preemption timer for a vCPU),
// and reports how it went (end_slice). Time is in TSC ticks throughout. docs/scheduler.md.
//
// Policy: each task has a virtual runtime that grows by ran * nominal_weight / weight; each CPU
// runs the queued task with the least virtual runtime. A task that wakes or resumes has its
// virtual runtime clamped near the CPU's minimum, so a long sleeper gets prompt service (at most
// half a quantum of credit) but cannot monopolise the CPU to "catch up".
//
// Concurrency: every public member takes one spin lock, so any CPU may call any operation (a
// wake from another CPU, a pause from the monitor). Operations that make work appear on another
// CPU return a Kick: the caller must interrupt that CPU (IPI) so it calls end_slice/pick_next.
#pragma once
#include "core/run_queue.hpp"
#include "lib/spinlock.hpp"
#include <optional>
#include <string_view>

namespace hv {

inline constexpr u32 sched_max_cpus = 64;          // affinity is a u64 bit mask of CPU indices
inline constexpr u32 sched_nominal_weight = 1024;  // CFS's weight of nice 0
inline constexpr u32 sched_max_weight = 1u << 16;
inline constexpr usize sched_name_capacity = 24;

using Task_id = u32;
inline constexpr Task_id idle_task = 0xFFFF'FFFEu;  // "the CPU's idle thread": not in the table

enum class Task_kind : u8 { vcpu, thread };
enum class Task_state : u8 { free, runnable, running, blocked, paused, stopped };
[[nodiscard]] const char* task_state_name(Task_state state);
[[nodiscard]] const char* task_kind_name(Task_kind kind);

// How a slice ended, as the native side saw it.
enum class Slice_end : u8 {
  expired,  // the slice was used up (VMX-preemption timer) or a kick preempted it
  blocked,  // the task has nothing to do until woken (a guest's HLT, a thread's wait)
  yielded,  // the task gave the CPU up but can run again (PAUSE-loop exit, a thread's yield)
  stopped,  // the task is finished (the VM stopped); its slot stays until remove_task
};

struct Scheduler_config {
  u32 cpu_count = 1;           // CPUs 0..cpu_count-1 take part
  u64 quantum_ticks = 1'000'000;  // the longest slice (e.g. 10 ms of TSC)
  bool balance = true;         // move waiting tasks to idle CPUs they may run on
};

struct Task_config {
  std::string_view name;      // cut to sched_name_capacity - 1 characters
  Task_kind kind = Task_kind::vcpu;
  u64 affinity = ~u64{0};     // bit n: may run on CPU n; must meet the configured CPUs
  u32 weight = sched_nominal_weight;  // 1..sched_max_weight; CPU share is proportional to it
  void* context = nullptr;    // the native side's object (a Vcpu, a thread), handed back by pick_next
};

struct Task_stats {
  u64 cpu_ticks = 0;    // time spent running
  u64 slices = 0;       // times pick_next chose it
  u64 switches = 0;     // times it was switched in after something else ran on that CPU
  u64 wakeups = 0;
  u64 migrations = 0;   // moves from one CPU's queue to another's
};

struct Cpu_stats {
  u64 context_switches = 0;  // pick_next chose something other than what ran before (idle counts)
  u64 busy_ticks = 0;
  u64 idle_ticks = 0;
  u64 decisions = 0;         // pick_next calls
  u64 pulls = 0;             // tasks this CPU took from another CPU's queue when it had none
};

struct Task_info {
  std::array<char, sched_name_capacity> name{};
  Task_kind kind = Task_kind::vcpu;
  Task_state state = Task_state::free;
  u32 cpu = no_cpu;       // the CPU it runs or waits on, or ran on last
  u32 weight = 0;
  u64 affinity = 0;
  u64 vruntime = 0;
  Task_stats stats;
  [[nodiscard]] std::string_view name_view() const { return {name.data()}; }
};

struct Decision {
  Task_id task = idle_task;
  u64 slice_ticks = 0;       // run at most this long, then call end_slice
  void* context = nullptr;   // Task_config::context; null for idle
  [[nodiscard]] bool idle() const { return task == idle_task; }
};

// A CPU that must be interrupted so it reschedules (it is idle and got work, or should preempt).
struct Kick {
  u32 cpu = no_cpu;
  [[nodiscard]] bool needed() const { return cpu != no_cpu; }
};

class Scheduler {
public:
  constexpr Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Forgets all tasks. cpu_count must be 1..sched_max_cpus and quantum_ticks > 0.
  [[nodiscard]] bool init(const Scheduler_config& config);

  // A new task, paused (created, not started): resume() starts it. nullopt when the table is
  // full or the config is invalid (weight out of range, affinity meets no configured CPU).
  [[nodiscard]] std::optional<Task_id> add_task(const Task_config& config);
  // Frees the slot of a stopped task; false in any other state.
  [[nodiscard]] bool remove_task(Task_id id);

  // ---- the native side's two calls, made on CPU `cpu` itself ----
  // Chooses what runs next; the CPU must have no current task (end_slice first).
  [[nodiscard]] Decision pick_next(u32 cpu);
  // The current task (or idle) of `cpu` ran `ran_ticks` and ended as `how` (ignored for idle).
  Kick end_slice(u32 cpu, u64 ran_ticks, Slice_end how);

  // ---- from any CPU ----
  // Blocked -> runnable. A wake that reaches a running task is remembered, so a block it
  // reports at the end of this slice does not lose it. No effect on runnable or stopped tasks.
  Kick wake(Task_id id);
  // A paused task never runs. Pausing a running task takes effect when its slice ends: kick.
  Kick pause(Task_id id);
  // Paused -> what it was (runnable, or blocked if it was blocked or blocked meanwhile).
  // false if the task is not paused.
  [[nodiscard]] bool resume(Task_id id, Kick* kick = nullptr);
  // Any state -> stopped (a running task at the end of its slice: kick). Final.
  Kick stop(Task_id id);
  // false if the mask meets no configured CPU. A queued task on a now-forbidden CPU moves;
  // a running one moves when its slice ends.
  [[nodiscard]] bool set_affinity(Task_id id, u64 affinity, Kick* kick = nullptr);
  [[nodiscard]] bool set_weight(Task_id id, u32 weight);

  // ---- observation ----
  [[nodiscard]] std::optional<Task_info> task_info(Task_id id) const;
  [[nodiscard]] Cpu_stats cpu_stats(u32 cpu) const;
  [[nodiscard]] Task_id current(u32 cpu) const;
  [[nodiscard]] u32 queue_length(u32 cpu) const;
  [[nodiscard]] u32 cpu_count() const { return config_.cpu_count; }
  [[nodiscard]] u64 quantum() const { return config_.quantum_ticks; }
  // Null when every invariant holds, else a description of the first one broken (tests,
  // the monitor's self-check). See docs/scheduler.md "Invariants".
  [[nodiscard]] const char* check_invariants() const;

private:
  struct Task {
    std::array<char, sched_name_capacity> name{};
    Task_kind kind = Task_kind::vcpu;
    Task_state state = Task_state::free;
    bool wake_pending = false;   // woken while running: a block at slice end becomes runnable
    bool pause_pending = false;  // paused while running
    bool stop_pending = false;   // stopped while running
    bool asleep = false;         // paused while blocked (or blocked meanwhile): resume -> blocked
    u32 cpu = 0;
    u32 weight = sched_nominal_weight;
    u64 affinity = 0;
    u64 vruntime = 0;
    void* context = nullptr;
    Task_stats stats;
  };
  struct Cpu {
    Run_queue queue;
    Task_id current = idle_task;
    Task_id last = idle_task;  // what ran before the current decision (switch counting)
    bool has_current = false;  // between pick_next and end_slice (idle included)
    u64 min_vruntime = 0;      // never decreases
    Cpu_stats stats;
  };

  Task& task_ref(Task_id id);
  const Task& task_ref(Task_id id) const;
  [[nodiscard]] u64 cpu_mask() const;
  [[nodiscard]] bool cpu_idle(u32 cpu) const;
  [[nodiscard]] u32 load(u32 cpu) const;
  void update_min_vruntime(u32 cpu);
  void enqueue(Task_id id, u32 cpu);
  void dequeue(Task_id id);
  void move_vruntime(Task& t, u32 from, u32 to);
  void clamp_for_wake(Task& t, u64 credit);
  [[nodiscard]] u32 choose_cpu(const Task& t) const;
  Kick make_runnable(Task_id id, u64 credit);
  [[nodiscard]] Kick kick_for(u32 cpu, Task_id queued) const;
  [[nodiscard]] bool pull(u32 cpu);

  mutable Spinlock lock_;
  Scheduler_config config_{};
  std::array<Task, sched_max_tasks> tasks_{};
  std::array<Cpu, sched_max_cpus> cpus_{};
  u64 seq_ = 0;
};

} // namespace hv
