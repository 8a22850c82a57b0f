// vmx/vmcs_setup.hpp - filling a fresh VMCS: the controls hv asks for, the host-state area, and
// the guest-state area of a 64-bit guest at its entry point. Both builds: writes go through
// Vmcs_access, so the hosted tests check every field against the SDM's entry rules.
#pragma once
#include "vmx/control_register_fixed.hpp"
#include "vmx/vmcs.hpp"
#include "vmx/vmcs_controls.hpp"

namespace hv {

// What hv asks of the CPU for every guest (a required control missing is a clear error).
[[nodiscard]] Vmx_controls_request hv_vmx_controls_request();

// The host-state area: what the CPU loads on every VM exit (SDM Vol. 3C 25.5).
struct Host_state {
  u64 cr0 = 0, cr3 = 0, cr4 = 0;
  u16 cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0, tr = 0;
  u64 fs_base = 0, gs_base = 0, tr_base = 0, gdtr_base = 0, idtr_base = 0;
  u64 efer = 0, pat = 0;
  u64 rip = 0;  // the exit stub
};
void write_host_state(Vmcs_access& vmcs, const Host_state& host);

// A 64-bit guest at its first instruction (what the guest loader prepared).
struct Guest_start_state {
  u64 rip = 0, rsp = 0;
  u64 rsi = 0;     // not VMCS state: the loader's argument (boot info / boot_params), set in the vCPU's registers
  u64 rflags = 0x2;
  u64 cr0 = 0;     // as the guest should see it (PE|PG|... ); fixed bits are added for the CPU
  u64 cr3 = 0;
  u64 cr4 = 0;     // as the guest should see it (PAE ...); VMXE is added and hidden
  u64 efer = 0;    // LME|LMA (and NXE if wanted)
  u64 pat = 0x0007040600070406ull;  // the reset value
  u64 gdtr_base = 0;
  u16 gdtr_limit = 0;
  u16 code_selector = 0x08, data_selector = 0x10, tr_selector = 0x18;
};

// Per-vCPU controls: EPT pointer, VPID (0 = none), exception bitmap.
struct Vcpu_controls {
  Vmx_control_values controls;
  u64 eptp = 0;
  u16 vpid = 0;
  u32 exception_bitmap = 0;
  Cr_fixed_bits cr0_fixed;
  Cr_fixed_bits cr4_fixed;
  u64 cr4_trap = 0;   // more CR4 bits whose writes exit (shadow paging: the paging bits)
};

void write_controls(Vmcs_access& vmcs, const Vcpu_controls& c);
void write_guest_state_64(Vmcs_access& vmcs, const Guest_start_state& g, const Vcpu_controls& c);

// Segment access-rights values for the guest-state area (SDM Vol. 3C 25.4.1).
inline constexpr u32 ar_code64 = 0xA09B;     // P, DPL0, S, type 0xB (exec/read, accessed), L, G
inline constexpr u32 ar_data = 0xC093;       // P, DPL0, S, type 0x3 (read/write, accessed), D/B, G
inline constexpr u32 ar_tss64_busy = 0x008B; // P, type 0xB (busy 64-bit TSS)
inline constexpr u32 ar_unusable = 0x10000;

} // namespace hv
