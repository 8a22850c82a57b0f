// core/monitor_format.cpp - the output of `help` and of the `info` commands. Both builds.
// The layouts are documented in docs/monitor.md and tested line by line: change both together.
#include "core/monitor_output.hpp"
#include "vmx/exit_reason_names.hpp"

namespace hv {
namespace {

constexpr std::string_view vms_layout = "{:4} {:<16} {:<8} {:8} {:8} {:10} {:4} {:12} {:10} {:10}";
constexpr std::string_view sched_layout = "{:4} {:<16} {:6} {:10}";
constexpr u64 kib_per_frame = 4;

// "S.mmms" from microseconds.
Fixed_text<32> cpu_time_text(u64 us) {
  Fixed_text<32> t;
  format_to(t, "{}.{:03}s", us / 1'000'000, (us / 1000) % 1000);
  return t;
}

Fixed_text<12> cpu_text(u32 cpu) {
  Fixed_text<12> t;
  if (cpu == monitor_no_cpu) t.put('-');
  else format_to(t, "{}", cpu);
  return t;
}

// The name of VM `id` for `info mem`'s owner lines; empty if no such VM.
std::string_view vm_name(Monitor_host& host, Vm_id id, Monitor_vm_info& scratch) {
  const usize n = host.vm_count();
  for (usize i = 0; i < n; ++i) {
    if (host.vm_info(i, scratch) && scratch.id == id) return scratch.name;
  }
  return {};
}

} // namespace

void show_help(Monitor_out& out) {
  constexpr std::string_view layout = "{:<32} {}";
  out.line(layout, "help", "this list");
  out.line(layout, "info vms", "VMs: state, memory max, current and populated, CPU, CPU time, exits");
  out.line(layout, "info mem", "host frames: free and used, by order, use and owner; paging per VM; overcommit");
  out.line(layout, "info exits VM", "one VM's exits by reason, most frequent first");
  out.line(layout, "info sched", "per CPU: what runs, run queue length, context switches");
  out.line(layout, "info ksm", "same-page merging: every knob and statistic (Linux's names)");
  out.line(layout, "info balloon [VM]", "balloons: actual and max memory (MiB), target, driver, guest stats");
  out.line(layout, "ksm set KNOB VALUE", "change a merging knob (run 0|1|2, pages_to_scan, ...)");
  out.line(layout, "balloon VM MiB", "set the memory a VM's guest should keep (its balloon target)");
  out.line(layout, "vm pause|resume|stop|reset VM", "steer a VM (VM: its id or name)");
  out.line(layout, "vm start|destroy VM", "boot a stopped VM again; remove a finished one");
  out.line(layout, "log error|warn|info|debug|trace", "set the log level");
}

void show_vms(Monitor_host& host, Monitor_out& out) {
  out.line(vms_layout, "ID", "NAME", "STATE", "MAX-MIB", "CUR-MIB", "POP-KIB", "CPU", "CPU-TIME", "EXITS",
           "MERGED-KIB");
  const usize n = host.vm_count();
  usize shown = 0;
  for (usize i = 0; i < n; ++i) {
    Monitor_vm_info vm;
    if (!host.vm_info(i, vm)) continue;
    out.line(vms_layout, vm.id, vm.name, monitor_vm_state_name(vm.state), vm.memory_mib, vm.current_mib,
             vm.populated_kib, cpu_text(vm.cpu).view(), cpu_time_text(vm.cpu_time_us).view(), vm.exits, vm.merging_kib);
    ++shown;
  }
  if (shown == 0) out.line("no VMs");
}

void show_mem(Monitor_host& host, Monitor_out& out) {
  const Frame_stats s = host.frame_stats();
  out.line("frames: managed {} ({} MiB), metadata {}, free {} (cached {}), used {}", s.managed_frames,
           s.managed_frames * kib_per_frame / 1024, s.metadata_frames, s.free_frames, s.cached_frames,
           s.used_frames);
  constexpr unsigned half = 10; // orders 0..9 on one line, 10..18 on the next
  for (unsigned first = 0; first <= max_order; first += half) {
    const unsigned last = first + half - 1 < max_order ? first + half - 1 : max_order;
    Fixed_text<monitor_line_capacity> counts;
    for (unsigned k = first; k <= last; ++k) format_to(counts, " {}", s.free_blocks[k]);
    out.line("free blocks by order {}-{}:{}", first, last, counts.view());
  }
  const auto use = [&](Frame_use u) { return s.used_by_use[static_cast<u8>(u)]; };
  out.line("used by use: hypervisor {}, page-table {}, guest {}, shared {}, balloon {}", use(Frame_use::hypervisor),
           use(Frame_use::page_table), use(Frame_use::guest), use(Frame_use::shared), use(Frame_use::balloon));
  out.line("used by owner hv: {}", s.used_by_owner[no_vm]);
  for (u32 owner = 1; owner < frame_owner_slots; ++owner) {
    if (s.used_by_owner[owner] == 0) continue;
    Monitor_vm_info scratch;
    const std::string_view name = vm_name(host, static_cast<Vm_id>(owner), scratch);
    out.line("used by owner vm {} ({}): {}", owner, name.empty() ? "gone" : name, s.used_by_owner[owner]);
  }
  if (s.used_by_owner[frame_owner_slots] != 0) {
    out.line("used by owner vm {}+: {}", frame_owner_slots, s.used_by_owner[frame_owner_slots]);
  }

  u64 configured_mib = 0;
  const usize n = host.vm_count();
  for (usize i = 0; i < n; ++i) {
    Monitor_vm_info vm;
    if (host.vm_info(i, vm)) configured_mib += vm.memory_mib;
  }
  // Which paging each VM uses, and what shadow paging costs it.
  for (usize i = 0; i < n; ++i) {
    Monitor_vm_info vm;
    if (!host.vm_info(i, vm)) continue;
    if (vm.shadow_paging)
      out.line("paging vm {} ({}): shadow, {} shadow table pages (peak {}, budget {})", vm.id, vm.name,
               vm.shadow_table_pages, vm.shadow_table_peak, vm.shadow_table_budget);
    else
      out.line("paging vm {} ({}): ept", vm.id, vm.name);
  }
  const u64 host_kib = s.managed_frames * kib_per_frame;
  if (host_kib == 0) {
    out.line("overcommit: VM memory {} MiB on 0 MiB of host RAM: ratio -", configured_mib);
    return;
  }
  // Hundredths, rounded to nearest: no floating point in VMX root.
  const u64 ratio = (configured_mib * 1024 * 100 + host_kib / 2) / host_kib;
  out.line("overcommit: VM memory {} MiB on {} MiB of host RAM: ratio {}.{:02}", configured_mib, host_kib / 1024,
           ratio / 100, ratio % 100);
}

void show_ksm(Monitor_host& host, Monitor_out& out) {
  Merge_knobs k;
  Merge_stats s;
  if (!host.merge_info(k, s)) {
    out.line("ksm: no same-page merger in this run");
    return;
  }
  constexpr std::string_view layout = "{:<20} {:>14}  {}";
  out.line(layout, "KNOB", "VALUE", "MEANING");
  for (const Merge_knob_info& info : merge_knob_table()) out.line(layout, info.name, k.*(info.field), info.meaning);
  out.line(layout, "STATISTIC", "VALUE", "");
  struct Stat {
    std::string_view name;
    u64 Merge_stats::*field;
    std::string_view meaning;
  };
  static constexpr Stat before_profit[] = {
      {"pages_shared", &Merge_stats::pages_shared, "shared frames in use (4 KiB units)"},
      {"pages_sharing", &Merge_stats::pages_sharing, "guest pages mapping them beyond one each: pages saved"},
      {"pages_unshared", &Merge_stats::pages_unshared, "unique pages in the last full pass"},
      {"pages_volatile", &Merge_stats::pages_volatile, "pages that changed while compared, last full pass"},
      {"pages_scanned", &Merge_stats::pages_scanned, "4 KiB pages scanned"},
      {"full_scans", &Merge_stats::full_scans, "passes over all merging VMs"},
      {"ksm_zero_pages", &Merge_stats::ksm_zero_pages, "zero-filled pages given back"},
  };
  static constexpr Stat after_profit[] = {
      {"cow_breaks", &Merge_stats::cow_breaks, "writes to shared frames that copied"},
      {"cow_takebacks", &Merge_stats::cow_takebacks, "writes by a frame's last user (no copy)"},
      {"merges_4k", &Merge_stats::merges_4k, "4 KiB pages that joined a shared frame"},
      {"merges_2m", &Merge_stats::merges_2m, "2 MiB frames that joined a shared 2 MiB frame"},
      {"splits_2m", &Merge_stats::splits_2m, "2 MiB frames split because enough of them could merge"},
      {"unmerged", &Merge_stats::unmerged, "pages unshared by run=2 or merge=off"},
      {"out_of_memory", &Merge_stats::out_of_memory, "merges skipped for want of a frame"},
      {"metadata_bytes", &Merge_stats::metadata_bytes, "reverse map, indexes, candidate table"},
      {"vms", &Merge_stats::vms, "VMs attached"},
  };
  for (const Stat& st : before_profit) out.line(layout, st.name, s.*(st.field), st.meaning);
  Fixed_text<32> profit;  // the one signed figure
  format_to(profit, "{}", s.general_profit);
  out.line(layout, "general_profit", profit.view(), "bytes saved less the metadata");
  for (const Stat& st : after_profit) out.line(layout, st.name, s.*(st.field), st.meaning);
}

// "balloon: actual=N max=M" as QEMU's `info balloon` starts (MiB), then fixed key=value fields,
// then the guest's statistics that it has reported (each only once reported). docs/monitor.md.
void show_balloon(Monitor_out& out, const Monitor_vm_info& vm, const Balloon_view& b) {
  const auto mib = [](u64 pages) { return pages / balloon_pages_per_mib; };
  const u64 keep = b.memory_pages - (b.actual_pages < b.memory_pages ? b.actual_pages : b.memory_pages);
  const u64 target = b.memory_pages - (b.target_pages < b.memory_pages ? b.target_pages : b.memory_pages);
  Fixed_text<monitor_line_capacity> stats;
  struct Stat {
    u16 tag;
    std::string_view name;
    bool bytes;  // shown in MiB; otherwise a count
  };
  static constexpr Stat shown[] = {
      {balloon_tag::free_memory, "free", true},          {balloon_tag::total_memory, "total", true},
      {balloon_tag::available, "available", true},       {balloon_tag::major_faults, "major_faults", false},
      {balloon_tag::minor_faults, "minor_faults", false},
  };
  for (const Stat& st : shown) {
    if ((b.stats_valid >> st.tag & 1) == 0) continue;
    format_to(stats, " {}={}", st.name, st.bytes ? b.stats[st.tag] / MiB : b.stats[st.tag]);
  }
  out.line("balloon: actual={} max={} target={} requested={} vm={} name={} driver={} touched={}{}", mib(keep),
           mib(b.memory_pages), mib(target), mib(b.size_pages), vm.id, vm.name, b.driver ? "yes" : "no",
           b.touched_pages, stats.view());
}

void show_balloons(Monitor_host& host, Monitor_out& out) {
  const usize n = host.vm_count();
  usize shown = 0;
  for (usize i = 0; i < n; ++i) {
    Monitor_vm_info vm;
    Balloon_view b;
    if (!host.vm_info(i, vm) || !host.balloon_info(vm.id, b)) continue;
    show_balloon(out, vm, b);
    ++shown;
  }
  if (shown == 0) out.line("no VMs");
}

void show_exits(Monitor_out& out, const Monitor_vm_info& vm, const Monitor_exit_counts& counts) {
  u64 total = 0;
  for (u64 c : counts.count) total += c;
  out.line("exits of vm {} ({}): {} in total", vm.id, vm.name, total);
  out.line("{:12} {:3} {}", "COUNT", "NR", "REASON");
  // Most frequent first, ties by reason number: a selection over the 80 reasons, no sorting buffer.
  u64 above = ~u64{0};
  u32 above_reason = 0;
  bool first = true;
  for (;;) {
    u32 best = exit_reason::COUNT;
    for (u32 r = 0; r < exit_reason::COUNT; ++r) {
      const u64 c = counts.count[r];
      if (c == 0) continue;
      const bool after_previous = first || c < above || (c == above && r > above_reason);
      if (!after_previous) continue;
      if (best == exit_reason::COUNT || c > counts.count[best]) best = r;
    }
    if (best == exit_reason::COUNT) break;
    out.line("{:12} {:3} {}", counts.count[best], best, exit_reason_name(best));
    above = counts.count[best];
    above_reason = best;
    first = false;
  }
}

void show_sched(Monitor_host& host, Monitor_out& out) {
  out.line(sched_layout, "CPU", "RUNNING", "QUEUE", "SWITCHES");
  const u32 n = host.cpu_count();
  for (u32 cpu = 0; cpu < n; ++cpu) {
    Monitor_cpu_info info;
    if (!host.cpu_info(cpu, info)) continue;
    out.line(sched_layout, cpu, info.running, info.queue_length, info.context_switches);
  }
}

} // namespace hv
