// core/monitor.cpp - the monitor's command parser and the commands that change something (vm,
// log, ksm set, balloon). Both builds. Every check happens before the host is asked to act, so a
// bad command changes nothing.
#include "core/monitor.hpp"
#include "core/monitor_output.hpp"

namespace hv {
namespace {

constexpr std::string_view info_usage = "info vms|mem|exits VM|sched|ksm|balloon [VM]";
constexpr std::string_view ksm_usage = "ksm set KNOB VALUE";
constexpr std::string_view balloon_usage = "balloon VM MiB";
constexpr std::string_view vm_usage = "vm pause|resume|stop|reset|start|destroy VM";
constexpr std::string_view log_usage = "log error|warn|info|debug|trace";

// The words of a command line, split at spaces and tabs. Only the first few are kept; `count`
// counts them all, so extra words are still noticed.
struct Words {
  static constexpr usize kept = 4;
  std::array<std::string_view, kept> word{};
  usize count = 0;

  [[nodiscard]] std::string_view operator[](usize i) const { return i < kept && i < count ? word[i] : std::string_view{}; }
};

constexpr bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

Words split(std::string_view line) {
  Words w;
  usize i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size()) break;
    const usize start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (w.count < Words::kept) w.word[w.count] = std::string_view(line.data() + start, i - start);
    ++w.count;
  }
  return w;
}

// Words after the first `expected` ones are a mistake: says which and what was expected.
bool no_extra_words(const Words& w, usize expected, std::string_view command, std::string_view usage,
                    Monitor_out& out) {
  if (w.count <= expected) return true;
  out.error("{}: unexpected {}; expected: {}", command, Shown_word(w[expected]), usage);
  return false;
}

std::optional<u64> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  u64 v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<u64>(c - '0');
  }
  return v;
}

// Finds a VM by id (when the word is a number) or else by name.
bool find_vm(Monitor_host& host, std::string_view word, Monitor_vm_info& out) {
  const auto id = parse_decimal(word);
  const usize n = host.vm_count();
  if (id) {
    for (usize i = 0; i < n; ++i) {
      if (host.vm_info(i, out) && out.id == *id) return true;
    }
  }
  for (usize i = 0; i < n; ++i) {
    if (host.vm_info(i, out) && out.name == word) return true;
  }
  return false;
}

bool parse_action(std::string_view word, Vm_action& out) {
  for (auto a : {Vm_action::pause, Vm_action::resume, Vm_action::stop, Vm_action::reset, Vm_action::start,
                 Vm_action::destroy}) {
    if (word == vm_action_name(a)) {
      out = a;
      return true;
    }
  }
  return false;
}

const char* action_done(Vm_action action) {
  switch (action) {
  case Vm_action::pause: return "paused";
  case Vm_action::resume: return "resumed";
  case Vm_action::stop: return "stopped";
  case Vm_action::reset: return "reset";
  case Vm_action::start: return "started";
  case Vm_action::destroy: return "destroyed";
  }
  return "?";
}

const char* action_needs(Vm_action action) {
  switch (action) {
  case Vm_action::pause: return "a running VM";
  case Vm_action::resume: return "a paused VM";
  case Vm_action::stop: return "a ready, running or paused VM";
  case Vm_action::reset: return "a running or paused VM";
  case Vm_action::start: return "a stopped VM";
  case Vm_action::destroy: return "a stopped or failed VM";
  }
  return "?";
}

void run_info(Monitor_host& host, const Words& w, Monitor_out& out) {
  const std::string_view what = w[1];
  if (what.empty()) return out.error("info: missing what to show; expected: {}", info_usage);
  if (what == "balloon") {
    if (!no_extra_words(w, 3, "info balloon", "info balloon [VM]", out)) return;
    if (w.count == 2) return show_balloons(host, out);
    Monitor_vm_info vm;
    Balloon_view balloon;
    if (!find_vm(host, w[2], vm) || !host.balloon_info(vm.id, balloon)) {
      return out.error("info balloon: no VM {}; expected a VM's id or name (see \"info vms\")", Shown_word(w[2]));
    }
    return show_balloon(out, vm, balloon);
  }
  if (what == "exits") {
    if (w.count < 3) return out.error("info exits: missing VM; expected: info exits VM (a VM's id or name)");
    if (!no_extra_words(w, 3, "info exits", "info exits VM", out)) return;
    Monitor_vm_info vm;
    Monitor_exit_counts counts;
    if (!find_vm(host, w[2], vm) || !host.vm_exit_counts(vm.id, counts)) {
      return out.error("info exits: no VM {}; expected a VM's id or name (see \"info vms\")", Shown_word(w[2]));
    }
    return show_exits(out, vm, counts);
  }
  void (*show)(Monitor_host&, Monitor_out&) = nullptr;
  std::string_view usage;
  if (what == "vms") show = show_vms, usage = "info vms";
  else if (what == "mem") show = show_mem, usage = "info mem";
  else if (what == "sched") show = show_sched, usage = "info sched";
  else if (what == "ksm") show = show_ksm, usage = "info ksm";
  else return out.error("info: unknown {}; expected: {}", Shown_word(what), info_usage);
  if (!no_extra_words(w, 2, usage, usage, out)) return;
  show(host, out);
}

void run_vm(Monitor_host& host, const Words& w, Monitor_out& out) {
  if (w.count < 2) return out.error("vm: missing action; expected: {}", vm_usage);
  Vm_action action;
  if (!parse_action(w[1], action)) return out.error("vm: unknown action {}; expected: {}", Shown_word(w[1]), vm_usage);
  const char* name = vm_action_name(action);
  if (w.count < 3) return out.error("vm {}: missing VM; expected: vm {} VM (a VM's id or name)", name, name);
  Fixed_text<16> command;
  format_to(command, "vm {}", name);
  if (!no_extra_words(w, 3, command.view(), vm_usage, out)) return;
  Monitor_vm_info vm;
  if (!find_vm(host, w[2], vm)) {
    return out.error("vm {}: no VM {}; expected a VM's id or name (see \"info vms\")", name, Shown_word(w[2]));
  }
  if (!vm_action_allowed(action, vm.state)) {
    return out.error("vm {}: vm {} ({}) is {}; {} needs {}", name, vm.id, vm.name, monitor_vm_state_name(vm.state),
                     name, action_needs(action));
  }
  const std::string_view refused = host.vm_action(vm.id, action);
  if (!refused.empty()) return out.error("vm {}: vm {} ({}): {}", name, vm.id, vm.name, refused);
  out.line("vm {} ({}): {}", vm.id, vm.name, action_done(action));
}

void run_ksm(Monitor_host& host, const Words& w, Monitor_out& out) {
  if (w.count < 2 || w[1] != "set") return out.error("ksm: expected: {} (\"info ksm\" lists the knobs)", ksm_usage);
  if (w.count < 4) return out.error("ksm set: missing knob or value; expected: {}", ksm_usage);
  if (!no_extra_words(w, 4, "ksm set", ksm_usage, out)) return;
  Merge_knobs before;
  Merge_stats stats;
  if (!host.merge_info(before, stats)) return out.error("ksm set: no same-page merger in this run");
  const Merge_knob_info* info = nullptr;
  const Merge_knob_status s = host.set_merge_knob(w[2], w[3], info);
  switch (s) {
  case Merge_knob_status::ok: break;
  case Merge_knob_status::unknown_knob:
    return out.error("ksm set: unknown knob {}; expected one of: run, pages_to_scan, sleep_millisecs, max_page_sharing, "
                     "merge_across_vms, split_2m_min_pages, release_zero_pages",
                     Shown_word(w[2]));
  case Merge_knob_status::busy:
    return out.error("ksm set: {} {}", info->name, merge_knob_status_name(s));
  default:
    return out.error("ksm set: {} must be a decimal number {}..{} ({}), got {}", info->name, info->min, info->max,
                     info->meaning, Shown_word(w[3]));
  }
  out.line("ksm: {} = {} (was {})", info->name, w[3], before.*(info->field));
}

// A balloon's size only means something while the VM has guest memory: between prepare and stop.
bool balloon_state_ok(Monitor_vm_state state) {
  return state == Monitor_vm_state::ready || state == Monitor_vm_state::running || state == Monitor_vm_state::paused;
}

// `balloon VM MiB`: the target size, QEMU's HMP `balloon` (the memory the guest should keep). Every
// check against the VM's balloon_info comes first; the host checks again (it may have changed).
void run_balloon(Monitor_host& host, const Words& w, Monitor_out& out) {
  if (w.count < 3) {
    return out.error("balloon: missing {}; expected: {} (the memory the guest should keep)",
                     w.count < 2 ? "VM and size" : "size", balloon_usage);
  }
  if (!no_extra_words(w, 3, "balloon", balloon_usage, out)) return;
  Monitor_vm_info vm;
  Balloon_view b;
  if (!find_vm(host, w[1], vm) || !host.balloon_info(vm.id, b)) {
    return out.error("balloon: no VM {}; expected a VM's id or name (see \"info vms\")", Shown_word(w[1]));
  }
  if (!balloon_state_ok(vm.state)) {
    return out.error("balloon: vm {} ({}) is {}; balloon needs a ready, running or paused VM", vm.id, vm.name,
                     monitor_vm_state_name(vm.state));
  }
  const std::optional<u64> mib = parse_decimal(w[2]);
  if (!mib) return out.error("balloon: expected a size in MiB (a decimal number), got {}", Shown_word(w[2]));
  const u64 memory_mib = b.memory_pages / balloon_pages_per_mib;
  if (*mib > memory_mib) {
    return out.error("balloon: vm {} ({}): {} MiB is above its memory ({} MiB)", vm.id, vm.name, *mib, memory_mib);
  }
  const u64 size_pages = *mib * balloon_pages_per_mib;
  if (size_pages < b.floor_pages) {
    return out.error("balloon: vm {} ({}): {} MiB is below its floor ({} MiB: 1/16 of its memory, at least 4 MiB; "
                     "docs/balloon.md)",
                     vm.id, vm.name, *mib, pages_to_mib_up(b.floor_pages));
  }
  switch (host.set_balloon_size(vm.id, size_pages)) {
  case Monitor_host::Balloon_set_result::ok: break;
  case Monitor_host::Balloon_set_result::not_found:
    return out.error("balloon: vm {} ({}): the VM stopped or went away meanwhile", vm.id, vm.name);
  case Monitor_host::Balloon_set_result::above_memory:
  case Monitor_host::Balloon_set_result::below_floor:
    return out.error("balloon: vm {} ({}): {} MiB is out of range ({}..{} MiB) now", vm.id, vm.name, *mib,
                     pages_to_mib_up(b.floor_pages), memory_mib);
  }
  // The policy's limit may hold the target lower for now (host memory pressure): say so.
  Balloon_view after = b;
  (void)host.balloon_info(vm.id, after);
  Fixed_text<80> held;
  if (after.auto_limit_pages < size_pages) {
    format_to(held, ", held at {} MiB by auto_balloon for now", after.auto_limit_pages / balloon_pages_per_mib);
  }
  out.line("balloon: {} target {} MiB (was {} MiB){}; {}", vm.name, *mib, b.size_pages / balloon_pages_per_mib,
           held.view(), after.driver ? "the guest's driver follows" : "no balloon driver seen yet");
}

void run_log(Monitor_host& host, const Words& w, Monitor_out& out) {
  if (w.count < 2) return out.error("log: missing level; expected: {}", log_usage);
  if (!no_extra_words(w, 2, "log", log_usage, out)) return;
  Log_level level;
  if (!log_parse_level(w[1], level)) return out.error("log: unknown level {}; expected: {}", Shown_word(w[1]), log_usage);
  const Log_level before = host.log_level();
  host.set_log_level(level);
  out.line("log level: {} (was {})", log_level_name(level), log_level_name(before));
}

} // namespace

const char* monitor_vm_state_name(Monitor_vm_state state) {
  switch (state) {
  case Monitor_vm_state::created: return "created";
  case Monitor_vm_state::ready: return "ready";
  case Monitor_vm_state::running: return "running";
  case Monitor_vm_state::paused: return "paused";
  case Monitor_vm_state::stopped: return "stopped";
  case Monitor_vm_state::failed: return "failed";
  }
  return "?";
}

const char* vm_action_name(Vm_action action) {
  switch (action) {
  case Vm_action::pause: return "pause";
  case Vm_action::resume: return "resume";
  case Vm_action::stop: return "stop";
  case Vm_action::reset: return "reset";
  case Vm_action::start: return "start";
  case Vm_action::destroy: return "destroy";
  }
  return "?";
}

bool vm_action_allowed(Vm_action action, Monitor_vm_state state) {
  using S = Monitor_vm_state;
  switch (action) {
  case Vm_action::pause: return state == S::running;
  case Vm_action::resume: return state == S::paused;
  case Vm_action::stop: return state == S::ready || state == S::running || state == S::paused;
  case Vm_action::reset: return state == S::running || state == S::paused;
  case Vm_action::start: return state == S::stopped;
  case Vm_action::destroy: return state == S::stopped || state == S::failed;
  }
  return false;
}

void Monitor::execute(std::string_view line, Log_sink& sink) {
  Monitor_out out(sink);
  const Words w = split(line);
  if (w.count == 0) return;
  const std::string_view command = w[0];
  if (command == "help") {
    if (no_extra_words(w, 1, "help", "help", out)) show_help(out);
  } else if (command == "info") {
    run_info(host_, w, out);
  } else if (command == "vm") {
    run_vm(host_, w, out);
  } else if (command == "log") {
    run_log(host_, w, out);
  } else if (command == "ksm") {
    run_ksm(host_, w, out);
  } else if (command == "balloon") {
    run_balloon(host_, w, out);
  } else {
    out.error("unknown command {}; expected one of: help, info, vm, ksm, balloon, log (\"help\" lists them)",
              Shown_word(command));
  }
}

bool Monitor::feed(u8 byte, Text_writer& echo, Log_sink& out) {
  const Line_step step = editor_.feed(byte);
  echo.write(step.echo);
  switch (step.event) {
  case Line_event::none: return false;
  case Line_event::line: execute(editor_.line(), out); return true;
  case Line_event::cancelled: return true;
  case Line_event::too_long:
    Monitor_out(out).error("line too long (more than {} characters); nothing was run", line_editor_capacity);
    return true;
  }
  return false;
}

} // namespace hv
