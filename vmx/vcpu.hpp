// vmx/vcpu.hpp - one virtual CPU: its registers while hv handles an exit, what it is connected
// to (the VM's memory, I/O bus, CPUID model, MSRs), its exit statistics, and why it stopped.
// Both builds. The VMCS itself is reached through Vmcs_access while the vCPU is loaded.
#pragma once
#include "arch/x86/vmx_exit_reason.hpp"
#include "devices/hypercall.hpp"
#include "devices/io_bus.hpp"
#include "devices/mmio_bus.hpp"
#include "vmx/control_register_fixed.hpp"
#include "vmx/ept_tlb_sync.hpp"
#include "vmx/event_injection.hpp"
#include "vmx/guest_registers.hpp"
#include <optional>

namespace hv {

class Guest_memory;
class Local_apic;
class Guest_paging;
class Merger;
class Guest_cpuid;
class Guest_msrs;

// Why a vCPU (and, with one vCPU, its VM) stopped.
enum class Vcpu_stop_kind : u8 {
  none = 0,
  exit_status,        // the guest wrote its status to the debug-exit port
  halted,             // HLT with interrupts disabled: nothing can ever wake it
  triple_fault,
  ept_outside_slot,   // an access to guest-physical memory no slot covers
  out_of_memory,      // no host frame for the guest's memory
  unhandled_exit,     // an exit reason hv has no handler for
  entry_failure,      // VM entry failed (invalid guest state, MSR loading, machine check)
  init_signal,        // INIT (a reset request) reached this single-vCPU VM
  unsupported,        // an instruction hv does not emulate (string I/O, ...)
  requested,          // the host (monitor, shutdown) stopped it
  not_started,        // the VM could not be built (bad image, no memory): it never ran
  powered_off,        // the guest powered off through ACPI (S5)
  reset,              // the guest asked for a reset (ACPI reset register)
};
[[nodiscard]] const char* vcpu_stop_kind_name(Vcpu_stop_kind kind);

// Why a vCPU's slice ends early although it did not stop: a handler sets Vcpu::yield and the
// exit path leaves the guest instead of resuming it (vmx/native/vcpu_run.cpp).
enum class Vcpu_yield : u8 {
  none = 0,
  expired,        // the VMX-preemption timer ran out: the slice is used up
  blocked,        // HLT with interrupts enabled: nothing to do until an event arrives
  out_of_memory,  // no host frame for guest memory: wait until frames return (overcommit)
};

struct Vcpu_stop {
  Vcpu_stop_kind kind = Vcpu_stop_kind::none;
  u64 value = 0;        // exit status, exit reason, or error number
  u64 address = 0;      // faulting GPA where it applies
};

struct Exit_stats {
  u64 count[exit_reason::COUNT] = {};
  u64 other = 0;        // reasons beyond the table
  u64 total = 0;
};

// The FXSAVE image of a vCPU's x87/SSE state (512 bytes, 16-byte aligned), switched when
// another vCPU takes the CPU.
struct alignas(16) Fpu_state {
  u8 bytes[512] = {};
};

struct Vcpu {
  Guest_registers regs;  // must stay first: the exit stub finds the Vcpu from &regs
  u32 vm_id = 0;
  u32 index = 0;
  const char* vm_name = "vm";
  Guest_memory* memory = nullptr;
  // What the out-of-line hypercalls work on (memory, merger, VM id); filled once when the VM is
  // built, so that VMCALL's exit path passes a reference instead of building it per call.
  Hypercall_env hypercall_env;
  // Invalidations of this vCPU's EPT asked for from other CPUs (vmx/ept_tlb_sync.hpp), and the
  // CPU the vCPU enters the guest on (set each slice by the native loop).
  Ept_tlb_sync tlb;
  u32 tlb_cpu = 0;
  // EPT or shadow paging (vmx/guest_paging.hpp), chosen when the VM is built.
  Guest_paging* paging = nullptr;
  // CR2 for an injected #PF (shadow paging): written to the CPU's CR2 just before the entry that
  // delivers it (VMX does not switch CR2; the CPU would set it when delivering a real #PF).
  u64 pending_cr2 = 0;
  bool cr2_pending = false;
  Io_bus* io = nullptr;
  Mmio_bus* mmio = nullptr;     // emulated-MMIO devices (vmx/exit_mmio.cpp); null: none
  Local_apic* apic = nullptr;   // its emulated local APIC (x2APIC MSRs, APIC base, TSC deadline); null: none
  u64 (*read_tsc)() = nullptr;  // the guest's TSC (= the host's: no offsetting); null: 0 (hosted tests)
  Guest_cpuid* cpuid = nullptr;
  Guest_msrs* msrs = nullptr;
  Hypercall_counters hypercalls;
  u64 mmio_accesses = 0;       // emulated MMIO loads and stores
  u64 apic_ipis_dropped = 0;   // IPIs its APIC sent that had no vCPU to go to
  u64 apic_interrupts = 0;     // vectors its APIC delivered (injected)
  Cr_fixed_bits cr0_fixed;    // what VMX forces in the guest's real CR0 / CR4 (the guest
  Cr_fixed_bits cr4_fixed;    // sees its own values through the read shadows)
  u64 xcr0 = 1;               // the guest's XCR0 (x87 always on)
  u64 xcr0_supported = 1;     // what the host CPU allows (CPUID.(EAX=0DH,ECX=0):EDX:EAX)
  Exit_stats stats;
  u32 last_exit_reason = 0;  // basic reason of the latest exit
  Vcpu_stop stop;
  std::optional<Vmx_event> pending_event;  // injected on the next VM entry
  // An interrupted external interrupt or NMI still owed to the guest after an exception took its
  // place. hv injects no interrupts yet, so only hardware ones exiting mid-delivery can land here.
  std::optional<Vmx_event> deferred_event;
  u64 slices = 0;                  // preemption-timer expiries
  Vcpu_yield yield = Vcpu_yield::none;  // set by a handler: leave the guest after this exit
  u64 vmcs_pa = 0;                 // its VMCS region (0: none yet)
  Fpu_state fpu;                   // the guest's x87/SSE registers while another vCPU runs
  bool fpu_valid = false;
  bool vmcs_filled = false;        // the VMCS holds this vCPU's start state (vcpu_load_new)          // fpu holds the guest's state (it ran and was switched out)
  bool launched = false;
  bool msr_hardware_dirty = false;  // a guest MSR that lives in hardware changed: reload it
  bool halted = false;        // HLT with interrupts enabled: waits for an event
};

} // namespace hv
