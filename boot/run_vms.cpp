// boot/run_vms.cpp - see run_vms.hpp. Freestanding build only.
// One vCPU per VM and no scheduler yet: each CPU runs the VMs assigned to it one after another,
// each until it stops. The BSP runs its own share, then waits for the APs.
#include "boot/memory_setup.hpp"
#include "boot/platform.hpp"
#include "boot/run_vms.hpp"
#include "arch/x86/native/vmx_instructions.hpp"
#include "core/config.hpp"
#include "core/cpu_work.hpp"
#include "core/log.hpp"
#include "core/vm.hpp"
#include "vmx/native/native_invept.hpp"
#include "vmx/native/vcpu_run.hpp"
#include <new>

namespace hv::boot {
namespace {

struct Cpu_queue {
  Vm* vms[config_max_vms] = {};
  u32 count = 0;
  std::atomic<bool> done{false};
};

constinit Config g_config{};
constinit Cpu_queue g_queues[max_cpus]{};
constinit Vm* g_vms[config_max_vms]{};
constinit char g_default_config[4096]{};
constinit Vcpu_controls g_controls{};
constinit u32 g_vmcs_revision = 0;
constinit bool g_vpid = false;
constinit bool g_invvpid_single = false;
constinit u32 g_timer_value = 0;

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

void run_one(Per_cpu& cpu, Vm& vm) {
  Frame_allocator& frames = frame_allocator();
  const std::optional<Hpa> vmcs = frames.alloc_zeroed_frames_on(no_cpu, order_4k, Frame_use::hypervisor, vm.id());
  if (!vmcs) {
    log_error("vm", "{}: no memory for its VMCS", vm.name());
    vm.vcpu().stop = Vcpu_stop{Vcpu_stop_kind::out_of_memory, 0, 0};
    vm.finish();
    return;
  }
  Vcpu_controls c = g_controls;
  c.eptp = vm.memory().eptp();
  c.vpid = g_vpid ? static_cast<u16>(vm.id()) : 0;
  void* region = reinterpret_cast<void*>(vmcs->value());
  vm.vcpu().preemption_timer_value = g_timer_value;
  if (vcpu_load_new(vm.vcpu(), region, g_vmcs_revision, c, vm.start_state(), cpu)) {
    if (g_vpid) {
      // A VPID may have been used by an earlier VM: its translations must not leak into this one.
      const x86::Invvpid_descriptor d{c.vpid, 0};
      (void)x86::invvpid(g_invvpid_single ? x86::INVVPID_SINGLE_CONTEXT : x86::INVVPID_ALL_CONTEXT, d);
    }
    vm.set_state(Vm_state::running);
    log_info("vm", "{}: running on cpu{}", vm.name(), cpu.index);
    const u64 entries = vcpu_run_until_stop(vm.vcpu());
    log_debug("vm", "{}: {} VM entries", vm.name(), entries);
    vcpu_unload(region);
  } else {
    vm.vcpu().stop = Vcpu_stop{Vcpu_stop_kind::entry_failure, 0, 0};
  }
  frames.free_frames(*vmcs, order_4k);
  vm.finish();
}

void run_queue(Per_cpu& cpu, void* arg) {
  Cpu_queue& q = *static_cast<Cpu_queue*>(arg);
  for (u32 i = 0; i < q.count; ++i) run_one(cpu, *q.vms[i]);
  q.done.store(true, std::memory_order_release);
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
  g_controls = Vcpu_controls{};
  g_controls.controls = r.value;
  g_controls.cr0_fixed = guest_cr0_fixed_bits(caps, false);
  g_controls.cr4_fixed = cr4_fixed_bits(caps);
  g_vmcs_revision = features.vmcs_revision;
  g_vpid = r.value.proc_based2 & proc_based_ctl2::ENABLE_VPID;
  g_invvpid_single = features.invvpid_single_context;
  // A slice of about 10 million TSC ticks (a few ms on hardware; the scheduler will turn the
  // configured quantum into ticks once the TSC is calibrated).
  g_timer_value = static_cast<u32>(10'000'000u >> features.preemption_timer_rate);
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
  Vm_host host{frame_allocator(), Direct_map(0), invalidator,
               Ept_hardware{features.ept_2m, features.ept_1g, features.ept_execute_only, features.ept_accessed_dirty,
                            features.ept_wb, id.physical_address_bits},
               default_paging_policy, platform_cpu(),
               Guest_msr_config{true, true, true, true, 48, id.physical_address_bits, 0}};

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
    if (!vc.valid) {
      log_error("vm", "{}: not started: its section of the configuration has errors", vc.name.view());
      vm->vcpu().stop = Vcpu_stop{Vcpu_stop_kind::not_started, 0, 0};
      vm->set_state(Vm_state::failed);
      continue;
    }
    const Esp_file* image = files.guest(vc.image.view());
    if (!image) {
      log_error("vm", "{}: not started: guest image '{}' is not in \\EFI\\hv\\guests on the ESP", vc.name.view(), vc.image.view());
      vm->vcpu().stop = Vcpu_stop{Vcpu_stop_kind::not_started, 0, 0};
      vm->set_state(Vm_state::failed);
      continue;
    }
    if (!vm->prepare(std::span<const u8>(image->data, image->size))) continue;
    const u32 cpu = pick_cpu(vc.cpu_affinity, turn++);
    if (cpu == max_cpus) {
      log_error("vm", "{}: not started: no CPU in its affinity is running", vc.name.view());
      vm->vcpu().stop = Vcpu_stop{Vcpu_stop_kind::not_started, 0, 0};
      vm->finish();
      continue;
    }
    Cpu_queue& q = g_queues[cpu];
    q.vms[q.count++] = vm;
  }

  // Hand each AP its queue, run the BSP's own, then wait for the APs to finish theirs.
  Cpu_set& set = cpu_set();
  for (u32 c = 1; c < set.count; ++c) {
    if (g_queues[c].count == 0) continue;
    if (!cpu_post_work(*set.cpus[c], run_queue, &g_queues[c])) log_error("vm", "cpu{} is busy: its VMs do not run", c);
  }
  run_queue(*set.cpus[0], &g_queues[0]);
  for (u32 c = 1; c < set.count; ++c) {
    while (g_queues[c].count != 0 && !g_queues[c].done.load(std::memory_order_acquire)) __builtin_ia32_pause();
  }

  for (u32 i = 0; i < summary.vms; ++i) {
    Vm& vm = *g_vms[i];
    const bool ok = vm.met_expectation();
    Fixed_text<96> expected;
    format_vm_expectation(expected, vm.config().expect);
    const Vcpu_stop& stop = vm.vcpu().stop;
    log_info("hv", "{}: {}: ended {} {} (expected {}); guest checks {} ok, {} not ok", vm.name(), ok ? "PASS" : "FAIL",
             vcpu_stop_kind_name(stop.kind), stop.value, expected.view(), vm.uart().checks_passed(), vm.uart().checks_failed());
    summary.passed += (ok ? 1 : 0) + vm.uart().checks_passed();
    summary.failed += (ok ? 0 : 1) + vm.uart().checks_failed();
    vm.~Vm();
    frame_allocator().free_frames(Hpa(reinterpret_cast<u64>(&vm)), order_for(sizeof(Vm)));
  }
  frame_allocator().drain_all_caches();
  log_info("mm", "after all VMs: {} frames free", frame_allocator().stats().free_frames);
  Fixed_text<64> closing;
  format_to(closing, "{} passed, {} failed", summary.passed, summary.failed);
  log_raw_line(closing.view());
  return summary;
}

} // namespace hv::boot
