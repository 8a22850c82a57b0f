// vmx/guest_msr.hpp - the guest's MSRs: an allow-list with virtualised values, one Guest_msrs per
// vCPU, consulted by the RDMSR/WRMSR exit handlers. Both builds; pure (no hardware access).
//
// Every RDMSR/WRMSR a guest executes exits (the hypervisor runs without MSR bitmaps, or with all
// bits set). read()/write() return a decision: complete the instruction (RDMSR: with `value` in
// EDX:EAX) and advance RIP, or inject #GP(0) without advancing. MSRs that are not listed
// below do not exist for the guest: #GP, counted, as on a CPU without them.
//
// The allow-list (SDM Vol. 4 names; what the guest can do with each):
//   IA32_EFER            r/w; SCE (if SYSCALL), LME/LMA (if long mode), NXE (if NX); any other bit
//                        set -> #GP; changing LME while CR0.PG = 1 -> #GP; LMA is read-only here
//                        (writes keep the current LMA: the CR0 handler owns it).
//   IA32_STAR, IA32_FMASK                       r/w, any value (long-mode CPUs only)
//   IA32_LSTAR, IA32_CSTAR, IA32_KERNEL_GS_BASE,
//   IA32_FS_BASE, IA32_GS_BASE,
//   IA32_SYSENTER_ESP, IA32_SYSENTER_EIP       r/w, canonical addresses only (else #GP)
//   IA32_SYSENTER_CS     r/w, bits 31:0 kept (the VMCS field is 32 bits)
//   IA32_PAT             r/w; each byte must be a memory type (0, 1, 4, 5, 6, 7), else #GP
//   IA32_TSC_AUX         r/w when RDTSCP is offered; bits 63:32 must be 0
//   IA32_MISC_ENABLE     read: fast strings on, BTS and PEBS unavailable, everything else off
//                        (no MONITOR, no EIST, no limit-CPUID); a write of the current value is
//                        accepted, any other write -> #GP
//   IA32_APIC_BASE       read: 0xFEE00000 | EN | BSP (vCPU 0). Writes: the EN bit is virtual
//                        (a guest may disable and re-enable its APIC; the host's APIC is never
//                        touched, which matters on Bochs where clearing EN is for good); BSP is
//                        read-only (ignored); EXTD (x2APIC, not offered), reserved bits, or a new
//                        base address (relocation is not supported) -> #GP
//   IA32_MTRRCAP         read: no variable ranges, fixed ranges and WC supported
//   IA32_MTRR_DEF_TYPE, IA32_MTRR_FIX64K/16K/4K_*   r/w, defaults: enabled, everything WB; writes
//                        are validated (MTRR types 0, 1, 4, 5, 6) and kept, but do not change how
//                        guest memory is mapped (EPT maps RAM write-back)
//   IA32_FEATURE_CONTROL read: 0x1 (locked, VMX off: the guest sees no VMX); writes -> #GP
//   IA32_BIOS_SIGN_ID    read: the configured microcode revision in bits 63:32; writes ignored
//                        (Linux writes 0 before reading the revision)
// Deliberately absent (#GP): IA32_SPEC_CTRL, IA32_PRED_CMD, IA32_ARCH_CAPABILITIES (vmx/guest_cpuid
// hides the CPUID bits that enumerate them), x2APIC MSRs, IA32_TSC_DEADLINE, performance and
// thermal MSRs, the VMX capability MSRs.
//
// Values of MSRs that live in the VMCS guest-state area (EFER, PAT, FS/GS base, SYSENTER_*; see
// lives_in_vmcs()) can change without an exit (WRFSBASE, VM exits saving EFER.LMA). The exit
// handler calls refresh() with the VMCS value before read(), and writes the accepted value of a
// write() back to the VMCS. The others (STAR, LSTAR, CSTAR, FMASK, KERNEL_GS_BASE, TSC_AUX) are
// loaded into the hardware MSRs around guest execution by the vCPU switch code.
#pragma once
#include "arch/x86/msr.hpp"
#include "arch/x86/types.hpp"
#include <array>

namespace hv {

inline constexpr u64 guest_apic_base_default = 0xFEE00000;
inline constexpr u64 guest_pat_default = 0x0007040600070406;   // the PAT's power-on value
inline constexpr u64 guest_misc_enable_value =
    msr::MISC_ENABLE_FAST_STRINGS | msr::MISC_ENABLE_BTS_UNAVAILABLE | msr::MISC_ENABLE_PEBS_UNAVAILABLE;
inline constexpr u64 guest_mtrrcap_value = msr::MTRRCAP_FIX | msr::MTRRCAP_WC;  // VCNT = 0
inline constexpr u64 guest_mtrr_def_type_default = msr::MTRR_DEF_TYPE_E | msr::MTRR_DEF_TYPE_FE | 6;  // WB
inline constexpr u64 guest_mtrr_fixed_default = 0x0606060606060606;                // all WB
inline constexpr u64 guest_feature_control_value = msr::FEATURE_CONTROL_LOCK;

// The decision for one RDMSR/WRMSR exit.
struct Msr_access_result {
  enum class Action : u8 { complete, inject_gp };
  Action action = Action::complete;
  u64 value = 0;  // RDMSR: the value for EDX:EAX; WRMSR: the value now in effect

  [[nodiscard]] static constexpr Msr_access_result done(u64 v = 0) { return {Action::complete, v}; }
  [[nodiscard]] static constexpr Msr_access_result gp() { return {Action::inject_gp, 0}; }
  [[nodiscard]] constexpr bool injects_gp() const { return action == Action::inject_gp; }
  constexpr bool operator==(const Msr_access_result&) const = default;
};

// What the guest's CPU model offers (vmx/guest_cpuid answers the same facts through CPUID).
struct Guest_msr_config {
  bool long_mode = true;            // CPUID.80000001:EDX.LM
  bool syscall = true;              // CPUID.80000001:EDX.SYSCALL
  bool nx = true;                   // CPUID.80000001:EDX.NX
  bool tsc_aux = true;              // CPUID.80000001:EDX.RDTSCP or CPUID.7:ECX.RDPID
  u8 linear_address_bits = 48;      // canonical addresses: bits 63:(n-1) equal
  u8 physical_address_bits = 36;    // IA32_APIC_BASE bits above this are reserved
  u32 microcode_revision = 0;       // IA32_BIOS_SIGN_ID[63:32]
};

// The guest's state at the access, as far as the rules above depend on it.
struct Guest_msr_context {
  u64 cr0 = 0;
};

class Guest_msrs {
public:
  // Allow-listed MSRs, one slot each (statistics and values are indexed by slot).
  static constexpr usize slot_count = 30;

  struct Counts {
    u64 reads = 0;
    u64 writes = 0;
    u64 faults = 0;  // #GP injected (for unlisted MSRs: every access)
  };

  Guest_msrs(const Guest_msr_config& config, u32 vcpu_index);

  [[nodiscard]] Msr_access_result read(u32 msr);
  [[nodiscard]] Msr_access_result write(u32 msr, u64 value, const Guest_msr_context& context);

  // EFER, PAT, FS_BASE, GS_BASE, SYSENTER_CS/ESP/EIP: the VMCS holds the live value.
  [[nodiscard]] static bool lives_in_vmcs(u32 msr);
  // Takes the live value of a VMCS-resident MSR (no validation: the CPU already checked it).
  void refresh(u32 msr, u64 value);
  // The current virtual value (0 for MSRs that are not on the allow-list).
  [[nodiscard]] u64 value(u32 msr) const;
  [[nodiscard]] static bool allowed(u32 msr) { return slot_of(msr) < slot_count; }

  // Statistics: per allowed MSR, and for all unlisted ones together.
  [[nodiscard]] Counts counts(u32 msr) const;
  [[nodiscard]] const Counts& unlisted_counts() const { return unlisted_; }
  [[nodiscard]] u32 last_unlisted_msr() const { return last_unlisted_; }
  // The MSR number of slot i (for printing the statistics table).
  [[nodiscard]] static u32 msr_of_slot(usize slot);
  [[nodiscard]] static const char* msr_name(u32 msr);

private:
  [[nodiscard]] static usize slot_of(u32 msr);
  [[nodiscard]] bool exists(usize slot) const;
  [[nodiscard]] bool canonical(u64 address) const;
  [[nodiscard]] bool validate_write(usize slot, u64& value, const Guest_msr_context& context) const;

  Guest_msr_config config_;
  std::array<u64, slot_count> values_{};
  std::array<Counts, slot_count> counts_{};
  Counts unlisted_;
  u32 last_unlisted_ = 0;
};

} // namespace hv
