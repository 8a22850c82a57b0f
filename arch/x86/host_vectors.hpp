// arch/x86/host_vectors.hpp - the interrupt vectors the hypervisor uses for itself in VMX root:
// its local APIC timer, the "look at your run queue" IPI one CPU sends another, and the APIC's
// spurious vector. Both builds: the exit handlers (hosted-tested) recognise the kick when it
// arrives while a guest runs. High vectors, so the APIC's priority classes (vector >> 4) put them
// above anything a device could be given.
#pragma once
#include "arch/x86/types.hpp"

namespace hv::x86 {

inline constexpr u8 host_vector_timer = 0xF0;     // idle wake-up (TSC-deadline timer)
inline constexpr u8 host_vector_kick = 0xF1;      // another CPU changed this CPU's run queue
inline constexpr u8 host_vector_spurious = 0xFF;  // APIC spurious vector (no EOI, SDM Vol. 3A 11.9)
inline constexpr u8 host_vector_first_external = 32;  // 0..31 are exceptions

} // namespace hv::x86
