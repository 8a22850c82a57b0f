// vmx/native/vcpu_run.hpp - putting a vCPU on this CPU and running it for one slice: VMCLEAR/
// VMPTRLD, the VMCS filled from vmx/vmcs_setup, the guest's FPU state switched, then VM entries
// until the slice ends. The exits in between are handled on the exit stub's stack without coming
// back here (arch/x86/native/vmx_entry.S, hv_exit_fast). Freestanding build only.
#pragma once
#include "lib/per_cpu.hpp"
#include "vmx/vcpu.hpp"
#include "vmx/vmcs_setup.hpp"

namespace hv {

// Makes the VMCS at vcpu.vmcs_pa (a page-aligned 4 KiB frame) current on this CPU and fills it
// for a fresh start (also after a reset). False (logged) if a VMX instruction failed.
[[nodiscard]] bool vcpu_load_new(Vcpu& vcpu, u32 vmcs_revision, const Vcpu_controls& controls,
                                 const Guest_start_state& start, Per_cpu& cpu);

// How a slice ended.
enum class Slice_outcome : u8 {
  expired,        // the preemption timer ran out
  blocked,        // HLT with interrupts on
  out_of_memory,  // demand population found no free frame; the access is retried later
  stopped,        // vcpu.stop says why (incl. a failed VM entry)
};

// Per CPU: which vCPU's VMCS and FPU state are in the hardware.
struct Vcpu_cpu_state {
  Vcpu* loaded = nullptr;     // VMCS current on this CPU
  Vcpu* fpu_owner = nullptr;  // whose x87/SSE state the registers hold
  u64 entry_tsc = 0;          // TSC just before the latest VM entry (context-switch figures)
  u32 cpu_index = 0;          // this CPU (Per_cpu::index): where vCPUs entering here are kicked
};

// INVEPT on this CPU for a vCPU's own entry path (vmx/ept_tlb_sync.hpp). Set once by boot/.
// The CPU's INVEPT, and which INVVPID types it has (for shadow paging's roots).
void vcpu_run_set_invept(Ept_invalidator& local, bool invvpid_single, bool invvpid_address);

// Runs `vcpu` (whose VMCS was filled on this CPU by vcpu_load_new) for at most `timer_value`
// VMX-preemption-timer ticks (0: no timer). VMPTRLD and the FPU switch happen only when another
// vCPU ran here in between.
Slice_outcome vcpu_run_slice(Vcpu& vcpu, Vcpu_cpu_state& here, u32 timer_value);

// VMCLEAR: the VMCS is no longer current or active on this CPU (before it is freed or refilled).
void vcpu_unload(Vcpu& vcpu, Vcpu_cpu_state& here);

} // namespace hv
