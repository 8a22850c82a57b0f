// core/native/merge_thread.hpp - the same-page merge thread (our ksmd): a hypervisor thread pinned
// to CPU 0 that wakes every sleep_millisecs, has the Merger (mm/merge/) scan pages_to_scan pages,
// and leaves the CPU when its slice is up. At every wake-up (also with run = 0, every 100 ms) it
// runs the auto-balloon policy too (Vm_manager::balance_memory, mm/balloon_policy.hpp).
// Freestanding build only.
#pragma once
#include "core/native/cpu_loop.hpp"
#include "mm/merge/merger.hpp"

namespace hv {

// Starts the thread (registers its task, arms its wake-up poll). False (logged) if the scheduler
// has no room; the VMs then run without merging and without the auto-balloon policy.
// auto_balloon: hv.cfg's knob (off: the policy's limits are lifted and never set again).
[[nodiscard]] bool merge_thread_start(Cpu_loop_shared& shared, Merger& merger, u64 tsc_hz, bool auto_balloon);

} // namespace hv
