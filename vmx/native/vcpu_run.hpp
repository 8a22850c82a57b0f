// vmx/native/vcpu_run.hpp - putting a vCPU on this CPU and running it: VMCLEAR/VMPTRLD, the
// VMCS filled from vmx/vmcs_setup, then the entry/exit loop around hv_vmx_enter
// (arch/x86/native/vmx_entry.S) and dispatch_exit. Freestanding build only.
#pragma once
#include "core/per_cpu.hpp"
#include "vmx/vcpu.hpp"
#include "vmx/vmcs_setup.hpp"

namespace hv {

// Makes the VMCS at `vmcs_region` (a zeroed, page-aligned 4 KiB frame) current on this CPU
// and fills it. False (logged) if a VMX instruction failed.
[[nodiscard]] bool vcpu_load_new(Vcpu& vcpu, void* vmcs_region, u32 vmcs_revision, const Vcpu_controls& controls,
                                 const Guest_start_state& start, Per_cpu& cpu);
// Runs the vCPU (its VMCS current on this CPU) until vcpu.stop is set. Returns the number of
// VM entries made.
u64 vcpu_run_until_stop(Vcpu& vcpu);
// VMCLEAR: the VMCS is no longer current or active anywhere (before its memory is freed).
void vcpu_unload(void* vmcs_region);

} // namespace hv
