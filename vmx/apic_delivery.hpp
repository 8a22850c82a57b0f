// vmx/apic_delivery.hpp - interrupts from a vCPU's emulated local APIC into the guest: before
// each VM entry the APIC's timer is brought up to date and its highest deliverable vector is
// injected as an external interrupt when the guest can take it (RFLAGS.IF, no STI / MOV SS
// blocking, no other event being injected); otherwise interrupt-window exiting asks the CPU to
// exit as soon as it can. A halted vCPU (activity state HLT) becomes active with the injection.
// Both builds.
#pragma once
#include "vmx/vcpu.hpp"
#include "vmx/vmcs.hpp"

namespace hv {

inline constexpr u32 activity_active = 0, activity_hlt = 1;

// Before VM entry, after inject_pending_event: nothing without vcpu.apic.
void apic_before_entry(Vcpu& vcpu, Vmcs_access& vmcs, u64 now_tsc);

// The TSC ticks until the APIC needs the vCPU to exit (its timer's next expiry), capped at
// `slice_ticks`; slice_ticks without an APIC or an armed timer.
[[nodiscard]] u64 apic_slice_ticks(const Vcpu& vcpu, u64 slice_ticks, u64 now_tsc);

} // namespace hv
