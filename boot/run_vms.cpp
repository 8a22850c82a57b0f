// boot/run_vms.cpp - see run_vms.hpp. Freestanding build only.
// Builds the VMs of the configuration, gives each a home CPU, starts the monitor thread and the
// scheduler loop on every CPU (core/native/cpu_loop.cpp), and when every VM has finished (and
// the configuration does not say `on_all_stopped = stay`) judges them and prints the verdict.
#include "boot/memory_setup.hpp"
#include "boot/platform.hpp"
#include "boot/run_vms.hpp"
#include "arch/x86/native/host_interrupts.hpp"
#include "arch/x86/native/vmx_instructions.hpp"
#include "core/config.hpp"
#include "core/cpu_work.hpp"
#include "lib/log.hpp"
#include "core/native/cpu_loop.hpp"
#include "core/native/merge_thread.hpp"
#include "core/native/monitor_console.hpp"
#include "core/vm.hpp"
#include "core/vm_manager.hpp"
#include "arch/x86/native/instructions.hpp"
#include "vmx/native/native_invept.hpp"
#include "vmx/native/vcpu_run.hpp"
#include <new>

namespace hv::boot {
namespace {

constinit Config g_config{};
constinit Vm* g_vms[config_max_vms]{};
constinit char g_default_config[4096]{};
constinit Scheduler g_scheduler{};
constinit Cpu_loop_shared g_shared{};
struct Ap_loop {
  std::atomic<bool> done{false};
};
constinit Ap_loop g_ap_loops[max_cpus]{};
constinit Run_summary g_summary{};
constinit Merger* g_merger = nullptr;
constinit u64 g_free_before_vms = 0;  // free frames just before the VMs were built

unsigned order_for(usize bytes) {
  unsigned order = 0;
  while ((page_size_4k << order) < bytes) ++order;
  return order;
}

// Without hv.cfg: one VM per guest image, 64 MiB each, named after the file.
std::string_view make_default_config(const Esp_files& files) {
  Fixed_text<sizeof g_default_config> text;
  for (usize i = 0; i < files.guest_count; ++i) {
    std::string_view file = files.guests[i].name;
    std::string_view stem = file.substr(0, file.rfind('.'));
    text.write("[vm ");
    for (char c : stem.substr(0, vm_name_max)) text.put((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '-');
    format_to(text, "]\nmemory = 64\nimage = {}\n", file);
  }
  for (usize i = 0; i < text.size(); ++i) g_default_config[i] = text.view()[i];
  return std::string_view(g_default_config, text.size());
}

// Once every VM has finished (called by the CPU loop that sees it first, in both modes): the
// scheduler figures, each VM judged against its expectation, the closing "N passed, N failed".
void print_verdict() {
  const Cpu_set& set = cpu_set();
  for (u32 c = 0; c < set.count; ++c) {
    const Cpu_loop_stats& st = g_shared.stats[c];
    if (st.vcpu_slices)
      log_info("sched", "cpu{}: {} vCPU slices of {} TSC ticks on average; {} switches between vCPUs, {} TSC ticks each "
               "(return from one guest's slice to the next guest's VM entry); {} times the same vCPU again, {} each", c,
               st.vcpu_slices, st.vcpu_slice_ticks / st.vcpu_slices, st.vcpu_switches,
               st.vcpu_switches ? st.vcpu_switch_ticks / st.vcpu_switches : 0, st.same_vcpu_slices,
               st.same_vcpu_slices ? st.same_vcpu_ticks / st.same_vcpu_slices : 0);
    const u64 ran = x86::rdtsc() - st.start_tsc;
    log_info("sched", "cpu{}: idle {}% of {} TSC ticks", c, ran ? st.idle_ticks * 100 / ran : 0, ran);
  }
  // A byte the UART never took within its bounded wait is lost; say so rather than hide it.
  if (const u32 dropped = platform_com1().dropped())
    log_warn("console", "{} bytes were dropped on COM1 (the transmitter stayed busy past its bounded wait)", dropped);
  const x86::Host_interrupt_counts& irq = x86::host_interrupt_counts();
  log_info("sched", "interrupts in VMX root (idle CPUs): {} timer, {} kick IPIs, {} spurious, {} other",
           irq.timer.load(std::memory_order_relaxed), irq.kick.load(std::memory_order_relaxed),
           irq.spurious.load(std::memory_order_relaxed), irq.other.load(std::memory_order_relaxed));
  for (u32 i = 0; i < g_summary.vms; ++i) {
    const Vm& vm = *g_vms[i];
    const bool ok = vm.met_expectation();
    Fixed_text<96> expected;
    format_vm_expectation(expected, vm.config().expect);
    const Vcpu_stop& stop = vm.vcpu().stop;
    log_info("hv", "{}: {}: ended {} {} (expected {}); guest checks {} ok, {} not ok", vm.name(), ok ? "PASS" : "FAIL",
             vcpu_stop_kind_name(stop.kind), stop.value, expected.view(), vm.uart().checks_passed(), vm.uart().checks_failed());
    g_summary.passed += (ok ? 1 : 0) + vm.uart().checks_passed();
    g_summary.failed += (ok ? 0 : 1) + vm.uart().checks_failed();
  }
  if (g_merger) {
    const Merge_stats m = g_merger->stats();
    log_info("merge", "after all VMs: pages_shared {} pages_sharing {}, {} pages merged and {} zero pages given back "
             "in {} full scans, {} copy-on-write breaks", m.pages_shared, m.pages_sharing, m.merges_4k + 512 * m.merges_2m,
             m.ksm_zero_pages, m.full_scans, m.cow_breaks);
  }
  // Density (docs/balloon.md): the VMs' configured memory and the peaks of what backed it, against
  // the RAM hv manages. Ratios in hundredths.
  {
    u64 configured_mib = 0;
    for (u32 i = 0; i < g_summary.vms; ++i) configured_mib += g_vms[i]->config().memory_mib;
    const u64 host_mib = frame_allocator().stats().managed_frames / balloon_pages_per_mib;
    const Vm_manager::Memory_peak peak = g_shared.vms->memory_peak();
    const auto ratio = [&](u64 mib) { return host_mib ? mib * 100 / host_mib : 0; };
    log_info("mm", "density: VMs' memory {} MiB on {} MiB of host RAM ({}.{:02}x); peak populated guest memory {} MiB "
             "({}.{:02}x), peak host frames for guest RAM {} MiB ({}.{:02}x)", configured_mib, host_mib,
             ratio(configured_mib) / 100, ratio(configured_mib) % 100, peak.populated_pages / balloon_pages_per_mib,
             ratio(peak.populated_pages / balloon_pages_per_mib) / 100, ratio(peak.populated_pages / balloon_pages_per_mib) % 100, peak.guest_frames / balloon_pages_per_mib,
             ratio(peak.guest_frames / balloon_pages_per_mib) / 100, ratio(peak.guest_frames / balloon_pages_per_mib) % 100);
  }
  frame_allocator().drain_all_caches();
  const u64 free_now = frame_allocator().stats().free_frames;
  // What the VMs took is back once the free count is what it was before them, less their own
  // records (kept for the verdict and the monitor).
  const u64 records = u64{g_summary.vms} << order_for(sizeof(Vm));
  if (free_now + records == g_free_before_vms)
    log_info("mm", "after all VMs: {} frames free: every frame the VMs and the merger used is back", free_now);
  else
    log_warn("mm", "after all VMs: {} frames free, {} before the VMs less {} for their records: {} frames not back",
             free_now, g_free_before_vms, records, static_cast<i64>(g_free_before_vms - records) - static_cast<i64>(free_now));
  Fixed_text<64> closing;
  format_to(closing, "{} passed, {} failed", g_summary.passed, g_summary.failed);
  log_raw_line(closing.view());
  if (g_shared.stay) log_info("hv", "on_all_stopped = stay: hv keeps running; the monitor answers on COM1");
}

void ap_loop(Per_cpu& cpu, void*) {
  cpu_loop_run(cpu, g_shared);
  g_ap_loops[cpu.index].done.store(true, std::memory_order_release);
}

// TSC ticks per second: CPUID leaf 0x15 (TSC/crystal ratio and crystal clock), else leaf 0x16's
// base frequency, else an assumed 1 GHz (said in the log). Only slices and the monitor's CPU
// times depend on it.
u64 tsc_frequency() {
  const auto max = x86::cpuid(0);
  if (max.eax >= 0x15) {
    const auto r = x86::cpuid(0x15);
    if (r.eax && r.ebx && r.ecx) return u64{r.ecx} * r.ebx / r.eax;
  }
  if (max.eax >= 0x16) {
    const auto r = x86::cpuid(0x16);
    if (r.eax & 0xFFFF) return u64{r.eax & 0xFFFF} * 1'000'000;
  }
  return 0;
}

// The CPUs in `affinity` that are in VMX root, in the order VMs are handed out: 1, 2, ..., 0.
u32 pick_cpu(u64 affinity, u32 turn) {
  const Cpu_set& set = cpu_set();
  u32 candidates[max_cpus];
  u32 n = 0;
  for (u32 k = 1; k <= set.count; ++k) {
    const u32 i = k % set.count;
    if (i < 64 && (affinity >> i) & 1 && set.cpus[i]->state.load() == Cpu_state::vmx_root) candidates[n++] = i;
  }
  return n == 0 ? max_cpus : candidates[turn % n];
}

bool prepare_controls(const Vmx_capability_msrs& caps, const Vmx_features& features) {
  const Vmx_controls_result r = compute_vmx_controls(hv_vmx_controls_request(), caps);
  if (!r.ok()) {
    Fixed_text<log_line_capacity> line;
    format_vmx_controls_error(line, r);
    log_error("vmx", "cannot run guests: {}", line.view());
    return false;
  }
  log_vmx_controls(r);
  g_shared.controls = Vcpu_controls{};
  g_shared.controls.controls = r.value;
  g_shared.controls.cr0_fixed = guest_cr0_fixed_bits(caps, false);
  g_shared.controls.cr4_fixed = cr4_fixed_bits(caps);
  g_shared.vmcs_revision = features.vmcs_revision;
  g_shared.vpid = r.value.proc_based2 & proc_based_ctl2::ENABLE_VPID;
  g_shared.invvpid_single = features.invvpid_single_context;
  g_shared.timer_rate = features.preemption_timer_rate;
  if (!(r.value.pin_based & pin_based_ctl::ACTIVATE_VMX_PREEMPTION_TIMER))
    log_warn("sched", "no VMX-preemption timer: a guest keeps its CPU until it exits for another reason");
  return true;
}

} // namespace

Run_summary run_configured_vms(const Esp_files& files, const Cpu_identity& id, const Vmx_capability_msrs& caps,
                               const Vmx_features& features) {
  Run_summary summary;
  const std::string_view text = files.has_config
                                    ? std::string_view(reinterpret_cast<const char*>(files.config.data), files.config.size)
                                    : make_default_config(files);
  const bool clean = parse_config(text, files.has_config ? "hv.cfg" : "(default config)", g_config);
  for (const Config_diagnostic& d : g_config.diagnostic_list()) {
    Fixed_text<log_line_capacity> line;
    format_config_diagnostic(line, g_config, d);
    log_error("config", "{}", line.view());
  }
  if (!clean && g_config.diagnostics_dropped) log_error("config", "... and {} more problems", g_config.diagnostics_dropped);
  log_set_level(g_config.globals.log_level);
  log_info("config", "{}: {} VMs configured", files.has_config ? "hv.cfg" : "no hv.cfg, one VM per guest image", g_config.vm_count);
  if (!prepare_controls(caps, features)) return summary;

  static Native_invept invalidator(features.invept_single_context);
  vcpu_run_set_invept(invalidator, features.invvpid_single_context, features.invvpid_individual_address);
  Vm_host host{frame_allocator(), Direct_map(0), invalidator,
               Ept_hardware{features.ept_2m, features.ept_1g, features.ept_execute_only, features.ept_accessed_dirty,
                            features.ept_wb, id.physical_address_bits},
               default_paging_policy, platform_cpu(),
               Guest_msr_config{true, true, true, true, 48, id.physical_address_bits, 0}};
  host.ept = g_shared.controls.controls.proc_based2 & proc_based_ctl2::ENABLE_EPT;
  host.vpid = g_shared.vpid;
  host.force_shadow = g_config.globals.shadow_paging;
  host.shadow_pages = g_config.globals.shadow_pages;
  if (!host.ept)
    log_warn("vmx", "this CPU has no EPT: every VM runs with shadow paging (hv walks the guests' page tables)");
  else if (host.force_shadow)
    log_info("vmx", "shadow_paging = on: every VM runs with shadow paging, although the CPU has EPT");
  host.kick_cpu = &cpu_loop_kick;  // an EPT change made on another CPU reaches the VM's CPU
  host.relax = [] { x86::pause(); };
  host.read_tsc = [] { return x86::rdtsc(); };  // guests see the host's TSC (no offsetting)

  // The host's x87/SSE state is switched per vCPU with FXSAVE/FXRSTOR, which needs CR4.OSFXSR.
  if (!(x86::read_cr4() & (1u << 9))) x86::write_cr4(x86::read_cr4() | (1u << 9));

  u64 tsc_hz = tsc_frequency();
  if (tsc_hz == 0) {
    tsc_hz = 1'000'000'000;
    log_info("sched", "TSC frequency not reported by CPUID: assuming 1 GHz for time slices");
  }
  const Cpu_set& cpus = cpu_set();
  const u64 quantum = tsc_hz / 1'000'000 * g_config.globals.quantum_us;
  if (!g_scheduler.init(Scheduler_config{cpus.count, quantum, false})) {
    log_error("sched", "cannot set up the scheduler for {} CPUs", cpus.count);
    return summary;
  }
  static Vm_manager manager(g_scheduler, frame_allocator(), tsc_hz, &cpu_loop_kick);
  // Same-page merging (docs/merge.md): the reverse map every VM's memory shares, the merger and
  // its knobs from hv.cfg; the merge thread starts with the monitor.
  // Built in place and never destroyed: a static with a destructor would need atexit, which a
  // UEFI application does not have (and hv powers off instead of returning).
  alignas(Shared_pages) static u8 sharing_storage[sizeof(Shared_pages)];
  alignas(Merger) static u8 merger_storage[sizeof(Merger)];
  Shared_pages& sharing = *new (sharing_storage) Shared_pages(frame_allocator());
  Merger& merger = *new (merger_storage) Merger(sharing, frame_allocator());
  merger.set_knobs(g_config.globals.ksm);
  g_merger = &merger;
  frame_allocator().drain_all_caches();
  g_free_before_vms = frame_allocator().stats().free_frames;
  host.merger = &merger;
  manager.set_merger(&merger);
  g_shared.scheduler = &g_scheduler;
  g_shared.vms = &manager;
  g_shared.frames = &frame_allocator();
  g_shared.quantum_ticks = quantum;
  g_shared.stay = g_config.globals.on_all_stopped == On_all_stopped::stay;
  log_info("sched", "{} CPUs, time slice {} us ({} TSC ticks at {} MHz), VMX-preemption timer rate 2^{}", cpus.count,
           g_config.globals.quantum_us, quantum, tsc_hz / 1'000'000, g_shared.timer_rate);

  u32 turn = 0;
  for (u32 i = 0; i < g_config.vm_count; ++i) {
    const Vm_config& vc = g_config.vms[i];
    if (!vc.autostart) continue;
    const unsigned order = order_for(sizeof(Vm));
    const std::optional<Hpa> mem = frame_allocator().alloc_frames(order, Frame_use::hypervisor, static_cast<Vm_id>(i + 1));
    if (!mem) {
      log_error("vm", "{}: no memory for the VM itself", vc.name.view());
      continue;
    }
    Vm* vm = new (reinterpret_cast<void*>(mem->value())) Vm(static_cast<Vm_id>(i + 1), vc, host);
    g_vms[summary.vms++] = vm;
    auto not_started = [&](Vm_state state) {
      vm->vcpu().stop = Vcpu_stop{Vcpu_stop_kind::not_started, 0, 0};
      vm->set_state(state);
      (void)manager.add_unstarted(*vm);
    };
    if (!vc.valid) {
      log_error("vm", "{}: not started: its section of the configuration has errors", vc.name.view());
      not_started(Vm_state::failed);
      continue;
    }
    const Esp_file* image = files.guest(vc.image.view());
    if (!image) {
      log_error("vm", "{}: not started: {} '{}' is not in \\EFI\\hv\\guests on the ESP", vc.name.view(),
                vc.boots_kernel ? "kernel" : "guest image", vc.image.view());
      not_started(Vm_state::failed);
      continue;
    }
    std::span<const u8> initrd;
    if (!vc.initrd.view().empty()) {
      const Esp_file* f = files.guest(vc.initrd.view());
      if (!f) {
        log_error("vm", "{}: not started: initrd '{}' is not in \\EFI\\hv\\guests on the ESP", vc.name.view(), vc.initrd.view());
        not_started(Vm_state::failed);
        continue;
      }
      initrd = std::span<const u8>(f->data, f->size);
    }
    if (!vm->prepare(std::span<const u8>(image->data, image->size), initrd)) {
      (void)manager.add_unstarted(*vm);
      continue;
    }
    const u32 cpu = pick_cpu(vc.cpu_affinity, turn++);
    if (cpu == max_cpus) {
      log_error("vm", "{}: not started: no CPU in its affinity is running", vc.name.view());
      vm->finish();
      not_started(Vm_state::failed);
      continue;
    }
    if (!manager.add(*vm, cpu)) {
      log_error("vm", "{}: not started: no room in the scheduler", vc.name.view());
      vm->finish();
      not_started(Vm_state::failed);
      continue;
    }
    log_info("vm", "{}: home cpu{}", vm->name(), cpu);
  }

  (void)monitor_console_start(g_shared, manager, platform_com1(), platform_console());
  (void)merge_thread_start(g_shared, merger, tsc_hz, g_config.globals.auto_balloon);
  g_summary.vms = summary.vms;
  g_shared.on_all_finished = print_verdict;
  manager.start_all();
  // Every AP that reached VMX root runs the loop; the BSP too. They return when all VMs finished.
  Cpu_set& set = cpu_set();
  for (u32 c = 1; c < set.count; ++c) {
    if (set.cpus[c]->state.load() != Cpu_state::vmx_root) {
      g_ap_loops[c].done.store(true);
      continue;
    }
    if (!cpu_post_work(*set.cpus[c], ap_loop, nullptr)) {
      log_error("sched", "cpu{} is busy: it takes no part", c);
      g_ap_loops[c].done.store(true);
    }
  }
  cpu_loop_run(*set.cpus[0], g_shared);
  for (u32 c = 1; c < set.count; ++c) {
    while (!g_ap_loops[c].done.load(std::memory_order_acquire)) __builtin_ia32_pause();
  }
  summary = g_summary;
  // Powering off: the VMs' own records go back too (with `stay` they stay for the monitor).
  for (u32 i = 0; i < summary.vms; ++i) {
    Vm& vm = *g_vms[i];
    vm.~Vm();
    frame_allocator().free_frames(Hpa(reinterpret_cast<u64>(&vm)), order_for(sizeof(Vm)));
  }
  return summary;
}

} // namespace hv::boot
