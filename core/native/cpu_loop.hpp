// core/native/cpu_loop.hpp - what every CPU does once guests run: ask the scheduler what runs
// next, run it (a vCPU for one slice bounded by the VMX-preemption timer, a hypervisor thread
// until it gives the CPU up, or idle), report how the slice ended, carry out life-cycle requests
// for the VMs homed here. Freestanding build only. docs/scheduler.md "The native loop".
#pragma once
#include "core/native/hv_thread.hpp"
#include "lib/per_cpu.hpp"
#include "core/vm_manager.hpp"
#include "vmx/vmcs_setup.hpp"
#include <atomic>

namespace hv {

// Per CPU: what the loop measured (reported at the end of a run and by the figures in docs/).
struct Cpu_loop_stats {
  u64 vcpu_switches = 0;      // a slice of one vCPU directly followed by a slice of another
  u64 vcpu_switch_ticks = 0;  // summed: from the first one's return to the second one's VM entry
  u64 same_vcpu_slices = 0;   // the same vCPU again (no VMPTRLD, no FPU switch)
  u64 same_vcpu_ticks = 0;
  u64 idle_ticks = 0;
  u64 start_tsc = 0;          // when the loop started on this CPU
  u64 vcpu_slices = 0;        // slices given to vCPUs, and their length in TSC ticks summed
  u64 vcpu_slice_ticks = 0;
  bool fairness_reported = false;
};

// Shared by all CPUs' loops for one run; filled by boot/ before the loops start.
struct Cpu_loop_shared {
  Scheduler* scheduler = nullptr;
  Vm_manager* vms = nullptr;
  Frame_allocator* frames = nullptr;
  Vcpu_controls controls{};        // eptp and vpid are filled per VM
  u32 vmcs_revision = 0;
  bool vpid = false;
  bool invvpid_single = false;
  u32 timer_rate = 0;              // IA32_VMX_MISC[4:0]: the timer ticks every 2^rate TSC ticks
  u64 quantum_ticks = 0;
  bool stay = false;               // keep running (the monitor) after every VM finished
  std::atomic<bool> finished{false};
  std::atomic<bool> kicked[max_cpus] = {};
  Hv_thread* thread_of[sched_max_tasks] = {};  // by task id: the thread, or null for a vCPU
  // Between slices and while idle: the console's input, the merge thread's wake-up time.
  static constexpr u32 max_polls = 4;
  void (*polls[max_polls])(u32 cpu) = {};
  void add_poll(void (*fn)(u32 cpu)) {
    for (auto& p : polls)
      if (!p) {
        p = fn;
        return;
      }
  }
  void poll(u32 cpu) const {
    for (auto* p : polls)
      if (p) p(cpu);
  }
  void (*on_all_finished)() = nullptr;         // once, by the CPU that sees every VM finished
  std::atomic<bool> all_finished_seen{false};
  Cpu_loop_stats stats[max_cpus] = {};
};

// A hypervisor thread pinned to `cpu`: registers its scheduler task, prepares its stack so that it
// enters entry(thread) with thread.arg = arg, and arms `poll` (which wakes it; may be null). The
// task starts paused; start_thread() lets it run. Nullopt when the scheduler has no room.
[[nodiscard]] std::optional<Task_id> add_thread(Cpu_loop_shared& shared, Hv_thread& thread, const char* name,
                                                Hv_thread::Entry entry, void* arg, u32 cpu, void (*poll)(u32 cpu));
[[nodiscard]] bool start_thread(Cpu_loop_shared& shared, Task_id task);

// Runs the loop on `cpu` until shared.finished (never, when shared.stay).
void cpu_loop_run(Per_cpu& cpu, Cpu_loop_shared& shared);
// Makes `cpu` look at its queue now: a flag, and for another CPU a kick IPI that ends its idle
// HLT or the slice of the guest running there (host_interrupts.hpp).
void cpu_loop_kick(u32 cpu);

} // namespace hv
