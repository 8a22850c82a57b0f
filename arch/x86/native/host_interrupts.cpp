// arch/x86/native/host_interrupts.cpp - see host_interrupts.hpp. Freestanding build only.
#include "arch/x86/native/host_interrupts.hpp"
#include "arch/x86/host_vectors.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/native/local_apic.hpp"

namespace hv::x86 {
namespace {
constinit Host_interrupt_counts g_counts{};
constexpr u32 cpuid1_ecx_tsc_deadline = 1u << 24;
} // namespace

Host_interrupt_counts& host_interrupt_counts() { return g_counts; }

Host_interrupts host_interrupts_init_cpu() {
  Host_interrupts r;
  if (!(rdmsr(msr::IA32_APIC_BASE) & msr::APIC_BASE_EN)) return r;
  Local_apic apic;
  apic.write(APIC_TPR, 0);                         // accept every priority class
  apic.write(APIC_LVT_LINT0, LVT_MASKED);          // the 8259 PIC is not hv's: no ExtINT
  apic.write(APIC_LVT_ERROR, LVT_MASKED);
  apic.write(APIC_SVR, SVR_APIC_ENABLE | host_vector_spurious);
  r.apic = true;
  if (cpuid(1).ecx & cpuid1_ecx_tsc_deadline) {
    wrmsr(msr::IA32_TSC_DEADLINE, 0);
    apic.write(APIC_LVT_TIMER, LVT_TIMER_TSC_DEADLINE | host_vector_timer);
    // In xAPIC mode the LVT write is a memory write: order it before the deadline WRMSR
    // (SDM Vol. 3A 11.5.4.1).
    asm volatile("mfence" ::: "memory");
    r.tsc_deadline = true;
  } else {
    apic.write(APIC_LVT_TIMER, LVT_MASKED | host_vector_timer);
  }
  return r;
}

void host_timer_arm(u64 deadline) { wrmsr(msr::IA32_TSC_DEADLINE, deadline); }

bool host_send_kick(u32 apic_id) {
  Local_apic apic;
  return apic.send_fixed_ipi(apic_id, host_vector_kick);
}

} // namespace hv::x86

// Called by interrupt_entry.S with interrupts disabled. The wake-up itself is the point: the
// interrupted HLT returns and the scheduler loop looks at its flags.
extern "C" void hv_host_interrupt(hv::u64 vector) {
  using namespace hv::x86;
  Host_interrupt_counts& c = g_counts;
  if (vector == host_vector_spurious) {  // never in service: no EOI (SDM Vol. 3A 11.9)
    c.spurious.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (vector == host_vector_timer) c.timer.fetch_add(1, std::memory_order_relaxed);
  else if (vector == host_vector_kick) c.kick.fetch_add(1, std::memory_order_relaxed);
  else c.other.fetch_add(1, std::memory_order_relaxed);
  Local_apic apic;
  apic.eoi();
}
