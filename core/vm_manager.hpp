// core/vm_manager.hpp - the VMs hv runs, tied to the scheduler: their life cycle (start, pause,
// resume, stop, reset, start again, destroy), the overcommit wait for frames, and what the
// monitor sees (it is the Monitor_host). Both builds; the hardware is a parameter (Vm_executor), so tests drive it with a
// fake scheduler loop.
//
// Threads and CPUs: requests (the monitor's vm_action) may come from any CPU. Whatever needs the
// VM's VMCS (tearing a stopped VM down, refilling it after a reset) is done by its home CPU in
// service(), between slices, while the VM is not running. A request first pauses the VM's task
// in the scheduler, so by the time the home CPU sees the request the vCPU is off the CPU (or will
// be at the end of its slice). One spin lock covers the table; it is taken before the scheduler's.
//
// Overcommit: a vCPU whose demand population found no free frame ends its slice as
// out_of_memory; vm_out_of_memory() prints who is starved and blocks it (state `paused`, reason
// memory). Whenever frames go back to the allocator (a VM stopped, was reset), frames_returned()
// wakes every starved VM; each retries its faulting access and, if still short, waits again.
//
// Balloons (mm/balloon.hpp): the monitor's `balloon VM MiB` sets a VM's target size; the merge
// thread calls balance_memory() at every wake-up, which runs the auto-balloon policy
// (mm/balloon_policy.hpp) over the VMs. A Balloon has its own lock, always taken after the table's.
#pragma once
#include "core/monitor.hpp"
#include "core/scheduler.hpp"
#include "lib/spinlock.hpp"
#include "core/vm.hpp"

namespace hv {

inline constexpr usize vm_manager_capacity = config_max_vms;

// The home CPU's hardware side of the life cycle.
class Vm_executor {
public:
  // The VM's vCPU stopped for good: make its VMCS inactive and give it back.
  virtual void release(Vm& vm) = 0;
  // After Vm::reset(): fill the VMCS again for a fresh start. False: the VM cannot run (logged).
  [[nodiscard]] virtual bool restart(Vm& vm) = 0;

protected:
  ~Vm_executor() = default;
};

enum class Vm_request : u8 { none, stop, reset };

class Vm_manager final : public Monitor_host {
public:
  using Kick_fn = void (*)(u32 cpu);

  // tsc_hz converts the scheduler's ticks into the monitor's microseconds. kick (may be null) is
  // called for every Kick the scheduler returns.
  Vm_manager(Scheduler& scheduler, Frame_allocator& frames, u64 tsc_hz, Kick_fn kick);

  // Registers a prepared VM (state ready) to run on home_cpu; its scheduler task stays paused
  // until start_all(). False if the table or the scheduler is full (the VM is then not listed).
  [[nodiscard]] bool add(Vm& vm, u32 home_cpu);
  // Registers a VM that could not be built (state failed): listed, judged, never scheduled.
  [[nodiscard]] bool add_unstarted(Vm& vm);
  // Lets every registered ready VM run.
  void start_all();

  // ---- the home CPU, between slices ----
  // The VM's vCPU ended its slice as out of memory: logs it, marks it starved, returns
  // Slice_end::blocked for the scheduler (frames_returned() wakes it).
  [[nodiscard]] Slice_end vm_out_of_memory(Vm& vm);
  // The VM's vCPU stopped (its task is now stopped in the scheduler): finish the VM (log, free its
  // memory), release its VMCS, wake starved VMs.
  void vm_stopped(Vm& vm, Vm_executor& executor);
  // Carries out pending stop/reset requests of VMs homed on `cpu` whose vCPU is off the CPU.
  // Returns how many it handled.
  u32 service(u32 cpu, Vm_executor& executor);
  // Frames went back to the allocator: every starved VM tries again.
  void frames_returned();

  // Every registered VM has finished (stopped or never started)?
  [[nodiscard]] bool all_finished() const;
  [[nodiscard]] usize size() const { return count_; }
  [[nodiscard]] Vm& vm_at(usize index) { return *entries_[index].vm; }
  [[nodiscard]] std::optional<Task_id> task_of(const Vm& vm) const;
  [[nodiscard]] bool starved(const Vm& vm) const;

  // ---- Monitor_host ----
  usize vm_count() override { return count_; }
  bool vm_info(usize index, Monitor_vm_info& out) override;
  bool vm_exit_counts(Vm_id id, Monitor_exit_counts& out) override;
  Frame_stats frame_stats() override;
  u32 cpu_count() override;
  bool cpu_info(u32 cpu, Monitor_cpu_info& out) override;
  std::string_view vm_action(Vm_id id, Vm_action action) override;
  Log_level log_level() override;
  void set_log_level(Log_level level) override;
  bool merge_info(Merge_knobs& knobs, Merge_stats& stats) override;
  Merge_knob_status set_merge_knob(std::string_view name, std::string_view value, const Merge_knob_info*& info) override;
  // A VM that never got guest memory (it failed to build) shows its configured memory, an empty balloon.
  bool balloon_info(Vm_id id, Balloon_view& out) override;
  // not_found also for a VM that is not running (stopped, failed): its balloon starts afresh at start.
  Balloon_set_result set_balloon_size(Vm_id id, u64 size_pages) override;

  // The auto-balloon policy (hv.cfg auto_balloon) over the VMs that are running or paused: with
  // auto_on it applies balloon_policy()'s new limits (a paused or starved VM counts as having no
  // driver: it cannot follow now); without, it lifts every limit the policy had set. Logs one line
  // per VM whose limit changed and returns how many changed (0 in a steady state). When the host's
  // free frames rose since the last call (balloons gave frames back), starved VMs try again
  // (frames_returned()).
  u32 balance_memory(bool auto_on);
  // The highest figures balance_memory() has seen (sampled at every policy check): the VMs' guest
  // RAM backed by frames, summed over VMs (a merged page counts in every VM that maps it), and the
  // host frames that back guest RAM (private plus shared, each once).
  struct Memory_peak {
    u64 populated_pages = 0;
    u64 guest_frames = 0;
  };
  [[nodiscard]] Memory_peak memory_peak() const;

  // The same-page merger the VMs are attached to (null: none); for the monitor.
  void set_merger(Merger* merger) { merger_ = merger; }

private:
  struct Entry {
    Vm* vm = nullptr;
    Task_id task = 0;
    u32 home_cpu = 0;
    bool scheduled = false;     // has a scheduler task
    bool finished = false;      // stopped (or never started) and torn down
    bool starved = false;       // waiting for frames
    bool user_paused = false;   // paused by the monitor
    bool resume_after_reset = false;
    bool destroyed = false;     // `vm destroy`: hidden from everything, its task slot freed
    Vm_request request = Vm_request::none;
    std::array<char, sched_name_capacity> cpu_name{};
  };

  Entry* find(const Vm& vm);
  const Entry* find(const Vm& vm) const;
  Entry* find(Vm_id id);
  [[nodiscard]] Monitor_vm_state state_of(const Entry& e) const;
  std::string_view start_again(Entry& e);
  std::string_view destroy(Entry& e);
  u32 balance_locked(bool auto_on, const Frame_stats& s, bool& rose);
  void kick(Kick k) const;

  Scheduler& scheduler_;
  Frame_allocator& frames_;
  u64 tsc_per_us_;
  Kick_fn kick_;
  Merger* merger_ = nullptr;
  mutable Spinlock lock_;
  std::array<Entry, vm_manager_capacity> entries_{};
  usize count_ = 0;
  u64 last_free_ = 0;  // free frames at the last balance_memory()
  Memory_peak peak_;
};

} // namespace hv
