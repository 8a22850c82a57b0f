// core/monitor.hpp - the monitor: commands typed on the serial console (in the spirit of QEMU's
// HMP and virsh) that look inside the running hypervisor and steer its VMs. Both builds; no heap.
//
// The monitor only parses, checks and formats. What it shows and does comes from a Monitor_host
// that the hypervisor implements (tests give it a fake). Output leaves as whole lines through a
// Log_sink (the Serial_console is one), so it never interleaves with other CPUs' lines.
//
// Commands (docs/monitor.md has the output formats, which are stable):
//   help | info vms | info mem | info exits VM | info sched | info ksm | info balloon [VM] |
//   ksm set KNOB VALUE | balloon VM MiB | vm pause|resume|stop|reset|start|destroy VM |
//   log error|warn|info|debug|trace
// VM is a VM's id (decimal) or its name; an id is tried first, as virsh does.
// A bad command prints exactly one line starting with "error: " and calls nothing on the host
// that changes state.
#pragma once
#include "arch/x86/vmx_exit_reason.hpp"
#include "core/line_editor.hpp"
#include "lib/log.hpp"
#include "mm/balloon.hpp"
#include "mm/frame_allocator.hpp"
#include "mm/merge/merger.hpp"
#include <string_view>

namespace hv {

inline constexpr usize monitor_line_capacity = 240;
// The prompt the console shows before a command; not printed by Monitor itself.
inline constexpr std::string_view monitor_prompt = "hv> ";

// A VM's state as the monitor sees it. The life cycle of issue #5 adds `paused` to Vm_state.
enum class Monitor_vm_state : u8 { created, ready, running, paused, stopped, failed };
[[nodiscard]] const char* monitor_vm_state_name(Monitor_vm_state state);

enum class Vm_action : u8 { pause, resume, stop, reset, start, destroy };
[[nodiscard]] const char* vm_action_name(Vm_action action);
// Whether `action` makes sense for a VM in `state`: pause a running VM, resume a paused one,
// stop a ready, running or paused one, reset a running or paused one.
[[nodiscard]] bool vm_action_allowed(Vm_action action, Monitor_vm_state state);

inline constexpr u32 monitor_no_cpu = ~u32{0};

// One VM, as `info vms` shows it. `name` must stay valid until the command has finished.
struct Monitor_vm_info {
  Vm_id id = no_vm;
  std::string_view name;
  Monitor_vm_state state = Monitor_vm_state::created;
  u64 memory_mib = 0;     // configured (a limit, not an allocation)
  u64 populated_kib = 0;  // guest RAM backed by host frames now
  u32 cpu = monitor_no_cpu; // the CPU it runs or queues on; monitor_no_cpu: none
  u64 cpu_time_us = 0;    // time spent in the guest, microseconds
  u64 exits = 0;          // VM exits in total
  u64 merging_kib = 0;    // guest RAM that maps shared frames (same-page merging)
  u64 current_mib = 0;    // memory less the balloon (virsh dominfo's "Used memory")
  bool shadow_paging = false;   // shadow page tables (else EPT)
  u64 shadow_table_pages = 0;   // shadow paging: its shadow tables now, the peak and the budget
  u64 shadow_table_peak = 0;
  u64 shadow_table_budget = 0;
};

// VM exits of one VM, by basic exit reason (vmx/vcpu.hpp's Exit_stats has the same shape).
struct Monitor_exit_counts {
  u64 count[exit_reason::COUNT] = {};
};

// One CPU, as `info sched` shows it. `running` names what runs there now: a VM's name, a
// hypervisor thread ("monitor", "idle", ...); it must stay valid until the command has finished.
struct Monitor_cpu_info {
  std::string_view running;
  u32 queue_length = 0;      // runnable vCPUs and threads waiting on this CPU
  u64 context_switches = 0;  // since boot
};

// What the hypervisor provides. Queries must not change anything; vm_action, set_log_level and
// set_balloon_size are called only after the monitor has checked the command (the VM exists, the
// action fits its state, the size is in range), never for a bad command.
class Monitor_host {
public:
  // VMs in a stable order (ascending id). vm_info(i) for i < vm_count() fills `out`; false if the
  // VM went away meanwhile (it is then skipped).
  [[nodiscard]] virtual usize vm_count() = 0;
  [[nodiscard]] virtual bool vm_info(usize index, Monitor_vm_info& out) = 0;
  // False if there is no VM `id`.
  [[nodiscard]] virtual bool vm_exit_counts(Vm_id id, Monitor_exit_counts& out) = 0;
  // The page-frame allocator's statistics (Frame_allocator::stats()).
  [[nodiscard]] virtual Frame_stats frame_stats() = 0;
  [[nodiscard]] virtual u32 cpu_count() = 0;
  [[nodiscard]] virtual bool cpu_info(u32 cpu, Monitor_cpu_info& out) = 0;
  // Does the action. An empty result means done; otherwise it says why not (e.g. "the VM stopped
  // meanwhile"), and the host promises it changed nothing.
  [[nodiscard]] virtual std::string_view vm_action(Vm_id id, Vm_action action) = 0;
  [[nodiscard]] virtual Log_level log_level() = 0;
  virtual void set_log_level(Log_level level) = 0;
  // The same-page merger's knobs and statistics; false when hv runs without a merger.
  [[nodiscard]] virtual bool merge_info(Merge_knobs& knobs, Merge_stats& stats) = 0;
  // Sets one knob by its sysfs name (mm/merge/merge_knobs.hpp); on an error nothing changed.
  [[nodiscard]] virtual Merge_knob_status set_merge_knob(std::string_view name, std::string_view value,
                                                         const Merge_knob_info*& info) = 0;
  // VM `id`'s balloon (mm/balloon.hpp); false if there is no VM `id`.
  [[nodiscard]] virtual bool balloon_info(Vm_id id, Balloon_view& out) = 0;
  // Sets VM `id`'s target size in 4 KiB pages (Balloon::set_size); the monitor checked the range
  // against balloon_info first, the host checks again (the VM may have gone: not_found).
  enum class Balloon_set_result : u8 { ok, not_found, above_memory, below_floor };
  [[nodiscard]] virtual Balloon_set_result set_balloon_size(Vm_id id, u64 size_pages) = 0;

protected:
  ~Monitor_host() = default;
};

class Monitor {
public:
  constexpr explicit Monitor(Monitor_host& host) : host_(host) {}

  // Runs one command line and writes its output to `out`, line by line (no trailing newlines).
  // A line of only spaces prints nothing.
  void execute(std::string_view line, Log_sink& out);

  // One byte received on the console: its echo goes to `echo` (raw bytes for the terminal), a
  // finished line is run with its output to `out`. A line too long for the editor prints one
  // error line and runs nothing. True when a line ended (run, cancelled or refused): the console
  // shows the prompt again.
  bool feed(u8 byte, Text_writer& echo, Log_sink& out);

private:
  Monitor_host& host_;
  Line_editor editor_;
};

} // namespace hv
