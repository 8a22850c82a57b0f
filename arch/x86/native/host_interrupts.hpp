// arch/x86/native/host_interrupts.hpp - interrupts in VMX root: how an idle CPU sleeps and how
// another CPU wakes it. Each CPU's local APIC is software-enabled with hv's spurious vector,
// LINT0 (the legacy PIC's ExtINT) masked, and its timer in TSC-deadline mode on
// host_vector_timer when the CPU has one (CPUID.01H:ECX[24]). An idle CPU arms the deadline and
// waits in HLT with interrupts enabled; a kick is a fixed IPI on host_vector_kick, which wakes
// HLT, or makes a running guest exit (external-interrupt exiting) so its CPU looks at its queue
// at once instead of at the end of the slice. Interrupts are enabled nowhere else in the
// hypervisor. Freestanding build only.
#pragma once
#include "arch/x86/types.hpp"
#include <atomic>

namespace hv::x86 {

// What this CPU can do; filled by host_interrupts_init_cpu.
struct Host_interrupts {
  bool apic = false;          // the local APIC is enabled and takes hv's vectors
  bool tsc_deadline = false;  // the timer can end an idle wait: HLT instead of a PAUSE loop
};

// Counted by the interrupt handler on all CPUs (shown by `info sched`).
struct Host_interrupt_counts {
  std::atomic<u64> timer{0};
  std::atomic<u64> kick{0};
  std::atomic<u64> spurious{0};
  std::atomic<u64> other{0};  // any other vector: nothing of hv's, acknowledged and ignored
};
[[nodiscard]] Host_interrupt_counts& host_interrupt_counts();

// On each CPU before it schedules (interrupts stay disabled).
[[nodiscard]] Host_interrupts host_interrupts_init_cpu();
// Arms the timer to fire at TSC value `deadline` (0 disarms). Needs tsc_deadline.
void host_timer_arm(u64 deadline);
// Sends the kick IPI to the CPU with this APIC ID.
bool host_send_kick(u32 apic_id);
// Waits for an interrupt with interrupts enabled only for the wait: STI's one-instruction shadow
// covers the HLT, so an interrupt that became pending after the caller's last check still ends
// the HLT instead of being taken before it. Returns with interrupts disabled.
inline void wait_for_interrupt() { asm volatile("sti; hlt; cli" ::: "memory"); }

} // namespace hv::x86
