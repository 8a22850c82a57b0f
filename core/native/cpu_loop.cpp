// core/native/cpu_loop.cpp - see cpu_loop.hpp. Freestanding build only.
#include "core/native/cpu_loop.hpp"
#include "vmx/apic_delivery.hpp"
#include "arch/x86/host_vectors.hpp"
#include "arch/x86/native/host_interrupts.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/native/local_apic.hpp"
#include "arch/x86/native/vmx_instructions.hpp"
#include "lib/log.hpp"
#include "core/scheduler_fairness.hpp"
#include "vmx/guest_paging.hpp"
#include "vmx/native/vcpu_run.hpp"

namespace hv {
namespace {

constinit Cpu_loop_shared* g_shared = nullptr;

// The home CPU's hardware side of the VM life cycle.
class Native_executor final : public Vm_executor {
public:
  Native_executor(Cpu_loop_shared& shared, Vcpu_cpu_state& here) : shared_(shared), here_(here) {}
  void release(Vm& vm) override {
    Vcpu& v = vm.vcpu();
    if (!v.vmcs_pa) return;
    vcpu_unload(v, here_);
    shared_.frames->free_frames(Hpa(v.vmcs_pa), order_4k);
    v.vmcs_pa = 0;
  }
  bool restart(Vm& vm) override {
    // VMCLEAR now; the VMCS is filled again when the vCPU is picked next (fill_vmcs).
    vcpu_unload(vm.vcpu(), here_);
    return true;
  }

private:
  Cpu_loop_shared& shared_;
  Vcpu_cpu_state& here_;
};

struct Cpu_local {
  Vcpu_cpu_state here;
  x86::Host_interrupts irq;  // what this CPU's local APIC does for the loop (idle, kicks)
  std::atomic<bool> kickable{false};  // irq.apic, published for the other CPUs' cpu_loop_kick
  Vcpu* previous = nullptr;  // the vCPU of the slice just before (null after idle or a thread)
  u64 previous_end_tsc = 0;
};
constinit Cpu_local g_local[max_cpus]{};

// The VMCS of a vCPU that has none yet (first run, after a reset): allocate, fill, make current.
bool fill_vmcs(Vm& vm, Per_cpu& cpu, Cpu_loop_shared& s, Vcpu_cpu_state& here) {
  Vcpu& v = vm.vcpu();
  if (!v.vmcs_pa) {
    const std::optional<Hpa> frame = s.frames->alloc_zeroed_frames_on(no_cpu, order_4k, Frame_use::hypervisor, vm.id());
    if (!frame) {
      log_error("vm", "{}: no memory for its VMCS", vm.name());
      v.stop = Vcpu_stop{Vcpu_stop_kind::out_of_memory, 0, 0};
      return false;
    }
    v.vmcs_pa = frame->value();
  }
  Vcpu_controls c = s.controls;
  v.paging->adjust_controls(c);  // EPT pointer and VPID, or shadow paging's exits and masks
  // vcpu_load_new starts the paging too, which flushes the VPIDs it uses: a VPID may have been
  // used before (an earlier VM, this one before a reset), and its translations must not leak.
  if (!vcpu_load_new(v, s.vmcs_revision, c, vm.start_state(), cpu)) {
    v.stop = Vcpu_stop{Vcpu_stop_kind::entry_failure, 0, 0};
    return false;
  }
  here.loaded = &v;
  log_info("vm", "{}: running on cpu{} ({} paging)", vm.name(), cpu.index, paging_kind_name(v.paging->kind()));
  return true;
}

// Every VM finished: the verdict once, then (unless `stay`) all loops end.
void check_finished(Cpu_loop_shared& s) {
  if (s.all_finished_seen.load(std::memory_order_acquire) || !s.vms->all_finished()) return;
  if (s.all_finished_seen.exchange(true, std::memory_order_acq_rel)) return;
  if (s.on_all_finished) s.on_all_finished();
  if (s.stay) return;
  s.finished.store(true, std::memory_order_release);
  for (u32 c = 0; c < cpu_set().count; ++c) cpu_loop_kick(c);  // idle CPUs leave their HLT now
}

// The first time a vCPU homed on `cpu` stops while others competed with it there since the
// start: how evenly the CPU was shared among them (docs/performance.md). Only when each of them
// had at least two slices: a guest that ends inside its first slice says nothing about sharing.
void report_fairness(u32 cpu, Cpu_loop_shared& s) {
  Cpu_loop_stats& st = s.stats[cpu];
  if (st.fairness_reported) return;
  st.fairness_reported = true;
  u64 ticks[sched_max_tasks];
  u32 weights[sched_max_tasks];
  Fair_share shares[sched_max_tasks];
  std::string_view names[sched_max_tasks];
  u32 n = 0;
  for (usize i = 0; i < s.vms->size(); ++i) {
    const std::optional<Task_id> t = s.vms->task_of(s.vms->vm_at(i));
    if (!t) continue;
    const std::optional<Task_info> info = s.scheduler->task_info(*t);
    if (!info || info->affinity != (u64{1} << cpu)) continue;
    if (info->stats.slices < 2) return;
    ticks[n] = info->stats.cpu_ticks;
    weights[n] = info->weight;
    names[n] = s.vms->vm_at(i).name();
    ++n;
  }
  if (n < 2) return;
  const Fairness_report r = measure_fairness({ticks, n}, {weights, n}, {shares, n});
  Fixed_text<log_line_capacity> line;
  format_to(line, "cpu{} fairness until the first of its {} vCPUs stopped ({} ticks):", cpu, n, r.total_ticks);
  for (u32 i = 0; i < n; ++i)
    format_to(line, " {} {}.{}%", names[i], shares[i].share_ppm / 10'000, (shares[i].share_ppm / 1'000) % 10);
  format_to(line, "; fair {}.{}% each, max deviation {}.{}% of the fair share", shares[0].fair_ppm / 10'000,
            (shares[0].fair_ppm / 1'000) % 10, r.max_deviation_ppm / 10'000, (r.max_deviation_ppm / 1'000) % 10);
  log_info("sched", "{}", line.view());
}

// Nothing to run: wait at most one quantum (or the scheduler's shorter limit) for a kick. With a
// TSC-deadline timer the CPU sleeps in HLT until the deadline or a kick IPI; the loop polls the
// console when it comes back. Without one it spins on the kick flag, polling as it goes.
void idle(u32 cpu, Cpu_loop_shared& s, u64 ticks) {
  const u64 limit = ticks && ticks < s.quantum_ticks ? ticks : s.quantum_ticks;
  const u64 end = x86::rdtsc() + limit;
  if (g_local[cpu].irq.tsc_deadline) {
    x86::host_timer_arm(end);
    // Checked with interrupts disabled; a kick after the check is a pending IPI that ends the HLT.
    while (!s.kicked[cpu].load(std::memory_order_acquire) && !s.finished.load(std::memory_order_acquire) &&
           x86::rdtsc() < end)
      x86::wait_for_interrupt();
    x86::host_timer_arm(0);  // woken early: no stray timer interrupt in the next guest's slice
    return;
  }
  u32 spins = 0;
  while (!s.kicked[cpu].load(std::memory_order_acquire) && !s.finished.load(std::memory_order_acquire)) {
    if (x86::rdtsc() >= end) break;
    if ((++spins & 15) == 0) s.poll(cpu);
    x86::pause();
  }
}

} // namespace

std::optional<Task_id> add_thread(Cpu_loop_shared& shared, Hv_thread& thread, const char* name, Hv_thread::Entry entry,
                                  void* arg, u32 cpu, void (*poll)(u32 cpu)) {
  const std::optional<Task_id> task =
      shared.scheduler->add_task(Task_config{name, Task_kind::thread, u64{1} << cpu, sched_nominal_weight, &thread});
  if (!task) return std::nullopt;
  thread_prepare(thread, name, entry, arg);
  thread.task = *task;
  thread.cpu = cpu;
  shared.thread_of[*task] = &thread;
  if (poll) shared.add_poll(poll);
  return task;
}

bool start_thread(Cpu_loop_shared& shared, Task_id task) {
  Kick k;
  return shared.scheduler->resume(task, &k);
}

void cpu_loop_kick(u32 cpu) {
  if (!g_shared || cpu >= max_cpus) return;
  g_shared->kicked[cpu].store(true, std::memory_order_release);
  // Another CPU: an IPI ends its HLT, or its guest's slice (the exit handler ends the slice on
  // host_vector_kick). The calling CPU itself reads the flag at its next loop turn.
  const Per_cpu* target = cpu < cpu_set().count ? cpu_set().cpus[cpu] : nullptr;
  if (!target || !g_local[cpu].kickable.load(std::memory_order_acquire)) return;
  x86::Local_apic apic;
  if (target->apic_id != apic.id()) (void)x86::host_send_kick(target->apic_id);
}

void cpu_loop_run(Per_cpu& cpu, Cpu_loop_shared& s) {
  g_shared = &s;
  const u32 c = cpu.index;
  Cpu_local& me = g_local[c];
  me.irq = x86::host_interrupts_init_cpu();
  me.kickable.store(me.irq.apic, std::memory_order_release);
  if (me.irq.tsc_deadline)
    log_info("sched", "cpu{}: idle waits in HLT (TSC-deadline timer, vector {:#x}); kicks are IPIs on vector {:#x}", c,
             x86::host_vector_timer, x86::host_vector_kick);
  else
    log_info("sched", "cpu{}: no {}: idle polls; kicks {}", c, me.irq.apic ? "TSC-deadline timer" : "local APIC",
             me.irq.apic ? "are IPIs" : "wait for the slice end");
  me.here.cpu_index = c;
  Native_executor executor(s, me.here);
  Cpu_loop_stats& st = s.stats[c];
  st.start_tsc = x86::rdtsc();
  while (!s.finished.load(std::memory_order_acquire)) {
    s.kicked[c].store(false, std::memory_order_relaxed);
    s.poll(c);
    (void)s.vms->service(c, executor);
    check_finished(s);  // also true from the start when no VM could be started
    if (s.finished.load(std::memory_order_acquire)) break;
    const Decision d = s.scheduler->pick_next(c);
    const u64 t0 = x86::rdtsc();
    Slice_end how = Slice_end::expired;
    Vm* stopped = nullptr;
    if (d.idle()) {
      idle(c, s, d.slice_ticks);
      me.previous = nullptr;
      st.idle_ticks += x86::rdtsc() - t0;
    } else if (Hv_thread* thread = s.thread_of[d.task]) {
      how = thread_run(*thread, d.slice_ticks);
      me.previous = nullptr;
    } else {
      Vm& vm = *static_cast<Vm*>(d.context);
      Vcpu& v = vm.vcpu();
      Slice_outcome outcome = Slice_outcome::stopped;
      // A first slice (VMCS filled, "running on" logged) is no context switch to measure.
      const bool fresh = !v.vmcs_filled;
      if (fresh) me.previous = nullptr;
      if (!fresh || fill_vmcs(vm, cpu, s, me.here)) {
        const u64 timer = apic_slice_ticks(v, d.slice_ticks, x86::rdtsc()) >> s.timer_rate;
        outcome = vcpu_run_slice(v, me.here, timer == 0 ? 1 : timer > 0xFFFF'FFFFu ? 0xFFFF'FFFFu : static_cast<u32>(timer));
        if (me.previous && me.previous != &v) {
          ++st.vcpu_switches;
          st.vcpu_switch_ticks += me.here.entry_tsc - me.previous_end_tsc;
        } else if (me.previous == &v) {
          ++st.same_vcpu_slices;
          st.same_vcpu_ticks += me.here.entry_tsc - me.previous_end_tsc;
        }
      }
      switch (outcome) {
      case Slice_outcome::expired: how = Slice_end::expired; break;
      case Slice_outcome::blocked: how = Slice_end::blocked; break;
      case Slice_outcome::out_of_memory: how = s.vms->vm_out_of_memory(vm); break;
      case Slice_outcome::stopped: how = Slice_end::stopped; stopped = &vm; break;
      }
      me.previous = stopped ? nullptr : &v;
      me.previous_end_tsc = x86::rdtsc();
      ++st.vcpu_slices;
      st.vcpu_slice_ticks += me.previous_end_tsc - t0;
    }
    const Kick k = s.scheduler->end_slice(c, x86::rdtsc() - t0, how);
    if (k.needed()) cpu_loop_kick(k.cpu);
    if (stopped) {
      report_fairness(c, s);
      s.vms->vm_stopped(*stopped, executor);
      check_finished(s);
    }
  }
}

} // namespace hv
