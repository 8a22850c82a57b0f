// vmx/vmcs_controls.hpp - the five 32-bit VMX control fields computed from what the hypervisor
// wants and what the CPU's capability MSRs allow (SDM Vol. 3C 31.5.1 "Algorithms for Determining
// VMX Capabilities", Vol. 3D appendix A). Both builds; pure: the MSR values are a parameter.
//
// A request names, per field, the bits the hypervisor cannot do without (`required`) and the bits
// it would like (`optional`). The result per field is
//     value = (wanted | must-be-one | unnamed default1 bits the CPU allows) & allowed-1
// and says what happened to each bit: a required bit the CPU cannot set is an error that names
// the control, an optional one is dropped and listed, a must-be-one bit the request did not
// mention is forced on and listed. A bit not named in the request is left 0 unless forced.
//
// Which MSRs are consulted: the IA32_VMX_TRUE_*_CTLS MSRs when IA32_VMX_BASIC[55] is 1, else the
// plain ones. The secondary processor-based controls exist only if the primary control "activate
// secondary controls" may be 1; hv then sets that control exactly when some secondary bit is set
// (or when the request requires it). The secondary VM-exit and tertiary controls are not
// computed here: requesting their "activate" bits gives a field hv does not fill.
#pragma once
#include "arch/x86/vmx_controls.hpp"
#include "lib/format.hpp"
#include "vmx/vmx_capabilities.hpp"
#include <span>

namespace hv {

enum class Vmx_control_field : u8 { pin_based, proc_based, proc_based2, vm_exit, vm_entry };
inline constexpr usize vmx_control_field_count = 5;

// One 32-bit value per control field: what to VMWRITE, or a set of bits (forced, dropped, ...).
struct Vmx_control_values {
  u32 pin_based = 0;    // PIN_BASED_VM_EXEC_CONTROL
  u32 proc_based = 0;   // CPU_BASED_VM_EXEC_CONTROL
  u32 proc_based2 = 0;  // SECONDARY_VM_EXEC_CONTROL
  u32 vm_exit = 0;      // VM_EXIT_CONTROLS
  u32 vm_entry = 0;     // VM_ENTRY_CONTROLS

  [[nodiscard]] u32& operator[](Vmx_control_field field);
  [[nodiscard]] u32 operator[](Vmx_control_field field) const;
  [[nodiscard]] bool any() const { return (pin_based | proc_based | proc_based2 | vm_exit | vm_entry) != 0; }
  constexpr bool operator==(const Vmx_control_values&) const = default;
};

struct Vmx_control_request {
  u32 required = 0;  // the hypervisor cannot run guests without these
  u32 optional = 0;  // used where the CPU has them
};

struct Vmx_controls_request {
  Vmx_control_request pin_based;
  Vmx_control_request proc_based;
  Vmx_control_request proc_based2;
  Vmx_control_request vm_exit;
  Vmx_control_request vm_entry;
};

// One control: which field and which bit.
struct Vmx_control_bit {
  Vmx_control_field field = Vmx_control_field::pin_based;
  u8 bit = 0;
  constexpr bool operator==(const Vmx_control_bit&) const = default;
};

struct Vmx_controls_result {
  Vmx_control_values value;    // the settings to write into the VMCS (meaningful only if ok())
  Vmx_control_values forced;   // set although the request did not mention them
  Vmx_control_values dropped;  // optional bits left 0: the CPU cannot set them
  Vmx_control_values missing;  // required bits the CPU cannot set: the request fails
  // Some secondary control was wanted but the CPU has no secondary controls at all.
  bool secondary_controls_unavailable = false;

  [[nodiscard]] bool ok() const { return !missing.any(); }
  // The first missing control (field order as in Vmx_control_field, then lowest bit).
  [[nodiscard]] Vmx_control_bit first_missing() const;
};

// Computes all five fields. Check ok() before using `value`.
[[nodiscard]] Vmx_controls_result compute_vmx_controls(const Vmx_controls_request& request,
                                                       const Vmx_capability_msrs& msrs);

// The capability MSR value that governs `field`: bits 31:0 allowed-0 (must-be-one), bits 63:32
// allowed-1. For proc_based2 this is 0 (nothing allowed) when the CPU has no secondary controls.
[[nodiscard]] u64 vmx_control_capability(const Vmx_capability_msrs& msrs, Vmx_control_field field);
[[nodiscard]] constexpr bool vmx_uses_true_controls(const Vmx_capability_msrs& msrs) {
  return (msrs.basic >> 55) & 1;
}

// Names, as in the SDM's tables: "pin-based", "secondary processor-based", "VM-entry", ...;
// a control's name such as "enable EPT" ("reserved" for a bit the SDM does not define).
[[nodiscard]] const char* vmx_control_field_name(Vmx_control_field field);
[[nodiscard]] const char* vmx_control_name(Vmx_control_field field, unsigned bit);
// The named bits of one field (a reserved bit is never "named").
[[nodiscard]] u32 vmx_control_named_bits(Vmx_control_field field);

// Lists the bits set in `bits` as controls, in field then bit order; returns how many there are
// (only the first out.size() are written).
usize list_vmx_control_bits(const Vmx_control_values& bits, std::span<Vmx_control_bit> out);

// "secondary processor-based control 'enable EPT' (bit 1) is not supported by this CPU", with
// the reason when the CPU has no secondary controls at all. Writes nothing if result.ok().
void format_vmx_controls_error(Text_writer& out, const Vmx_controls_result& result);

// Logs the outcome (subsystem "vmx"): an error line per missing control, a warning per dropped
// optional control, a debug line per forced control, and the final values.
void log_vmx_controls(const Vmx_controls_result& result);

} // namespace hv
