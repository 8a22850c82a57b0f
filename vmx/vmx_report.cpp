// vmx/vmx_report.cpp - the feature report printed at boot: what the CPU is and which VMX
// features the hypervisor will use. Both builds. Line formats are read by the integration
// tests (tests/integration/expect/) and documented in docs/console.md.
#include "arch/x86/ept_entry.hpp"
#include "lib/log.hpp"
#include "vmx/vmx_capabilities.hpp"

namespace hv {

void log_vmx_report(const Cpu_identity& id, const Vmx_capability_msrs& m, const Vmx_features& f) {
  log_info("cpu", "{} family {} model {} stepping {}, {}-bit physical addresses{}", id.vendor_name(), id.family,
           id.model, id.stepping, id.physical_address_bits, id.under_hypervisor() ? ", under a hypervisor" : "");
  if (!id.brand_name().empty()) log_info("cpu", "brand: {}", id.brand_name());
  if (id.vendor == Cpu_vendor::amd || !f.vmx) {
    log_info("vmx", "VMX: no (CPUID.1:ECX = {:#x})", id.features_ecx);
    return;
  }
  if (m.has_feature_control) {
    log_info("vmx", "VMX: yes; IA32_FEATURE_CONTROL {:#x}: {}", m.feature_control,
             !f.feature_control_locked ? "unlocked (hv sets lock + VMXON outside SMX)"
             : f.vmxon_outside_smx   ? "locked, VMXON outside SMX enabled"
                                     : "locked, VMXON outside SMX DISABLED");
  }
  log_info("vmx", "VMCS: revision {:#x}, region {} bytes, memory type {}, true controls {}, INS/OUTS info {}",
           f.vmcs_revision, f.vmcs_region_size, cache_type_name(static_cast<Cache_type>(f.vmcs_memory_type)), f.true_controls,
           f.ins_outs_info);
  log_info("vmx", "EPT: {}, 4-level walk {}, WB tables {}, 2MiB pages {}, 1GiB pages {}, accessed/dirty {}, execute-only {}",
           f.ept, f.ept_4level, f.ept_wb, f.ept_2m, f.ept_1g, f.ept_accessed_dirty, f.ept_execute_only);
  log_info("vmx", "INVEPT: {} (single-context {}, all-context {})", f.invept, f.invept_single_context,
           f.invept_all_context);
  log_info("vmx", "VPID: {}, INVVPID {} (individual-address {}, single-context {}, all-context {}, single-context-retaining-globals {})",
           f.vpid, f.invvpid, f.invvpid_individual_address, f.invvpid_single_context, f.invvpid_all_context,
           f.invvpid_single_context_retaining_globals);
  log_info("vmx", "unrestricted guest {}, VMX preemption timer {} (TSC/2^{}), PML {}, VM functions {}",
           f.unrestricted_guest, f.preemption_timer, f.preemption_timer_rate, f.pml, f.vm_functions);
  log_info("vmx", "activity states: HLT {}, shutdown {}, wait-for-SIPI {}", f.activity_hlt, f.activity_shutdown,
           f.activity_wait_for_sipi);
  // The raw values, so a user's report can be replayed in a unit test.
  log_info("vmx", "raw: basic={:#x} pin={:#x} proc={:#x} proc2={:#x}", m.basic, m.pinbased_ctls, m.procbased_ctls,
           m.procbased_ctls2);
  log_info("vmx", "raw: exit={:#x} entry={:#x} misc={:#x} ept_vpid={:#x} vmfunc={:#x}", m.exit_ctls, m.entry_ctls,
           m.misc, m.ept_vpid_cap, m.vmfunc);
  log_info("vmx", "raw: true_pin={:#x} true_proc={:#x} true_exit={:#x} true_entry={:#x}", m.true_pinbased_ctls,
           m.true_procbased_ctls, m.true_exit_ctls, m.true_entry_ctls);
  log_info("vmx", "raw: cr0_fixed0={:#x} cr0_fixed1={:#x} cr4_fixed0={:#x} cr4_fixed1={:#x} vmcs_enum={:#x}",
           m.cr0_fixed0, m.cr0_fixed1, m.cr4_fixed0, m.cr4_fixed1, m.vmcs_enum);
}

} // namespace hv
