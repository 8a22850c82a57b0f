// boot/run_vms.hpp - from configuration to running guests on every CPU and the closing verdict.
// Freestanding build only.
#pragma once
#include "boot/esp_files.hpp"
#include "vmx/vmx_capabilities.hpp"

namespace hv::boot {

struct Run_summary {
  u32 vms = 0;
  u64 passed = 0;   // guest checks that passed + VMs that ended as expected
  u64 failed = 0;
};

// Parses hv.cfg (or, without one, makes a VM of every guest image), builds the VMs, runs them
// on the CPUs their affinity allows (the first on the second CPU where there is one), waits
// for all to stop, frees them, and prints the verdict ending in "N passed, N failed".
Run_summary run_configured_vms(const Esp_files& files, const Cpu_identity& id, const Vmx_capability_msrs& caps,
                               const Vmx_features& features);

} // namespace hv::boot
