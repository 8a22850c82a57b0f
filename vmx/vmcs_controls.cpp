// vmx/vmcs_controls.cpp - computing the VMX control fields from the capability MSRs.
// Both builds.
#include "vmx/vmcs_controls.hpp"
#include "lib/log.hpp"
#include <bit>

namespace hv {
namespace {

constexpr u32 allowed0_of(u64 capability) { return static_cast<u32>(capability); }  // must-be-one
constexpr u32 allowed1_of(u64 capability) { return static_cast<u32>(capability >> 32); }

constexpr u32 default1_of(Vmx_control_field field) {
  switch (field) {
  case Vmx_control_field::pin_based: return pin_based_ctl::DEFAULT1;
  case Vmx_control_field::proc_based: return proc_based_ctl::DEFAULT1;
  case Vmx_control_field::proc_based2: return proc_based_ctl2::DEFAULT1;
  case Vmx_control_field::vm_exit: return vm_exit_ctl::DEFAULT1;
  case Vmx_control_field::vm_entry: return vm_entry_ctl::DEFAULT1;
  }
  return 0;
}

struct Field_outcome {
  u32 value = 0;
  u32 forced = 0;
  u32 dropped = 0;
  u32 missing = 0;
};

// One field, following SDM 31.5.1 algorithm 3: a control fixed by the MSR takes its fixed
// value; a flexible one takes what the request says; a flexible one the request does not know
// of (an unnamed default1 bit) is set to 1.
Field_outcome compute_field(Vmx_control_field field, u64 capability, const Vmx_control_request& request) {
  const u32 must1 = allowed0_of(capability);
  const u32 may1 = allowed1_of(capability);
  const u32 wanted = request.required | request.optional;
  const u32 unknown_default1 = default1_of(field) & ~vmx_control_named_bits(field);
  Field_outcome o;
  o.value = (wanted | must1 | unknown_default1) & may1;
  o.forced = o.value & ~wanted;
  o.dropped = request.optional & ~request.required & ~may1;
  o.missing = request.required & ~may1;
  return o;
}

void store(Vmx_controls_result& r, Vmx_control_field field, const Field_outcome& o) {
  r.value[field] = o.value;
  r.forced[field] = o.forced;
  r.dropped[field] = o.dropped;
  r.missing[field] = o.missing;
}

constexpr Vmx_control_field all_fields[vmx_control_field_count] = {
    Vmx_control_field::pin_based, Vmx_control_field::proc_based, Vmx_control_field::proc_based2,
    Vmx_control_field::vm_exit, Vmx_control_field::vm_entry};

} // namespace

u32& Vmx_control_values::operator[](Vmx_control_field field) {
  switch (field) {
  case Vmx_control_field::pin_based: return pin_based;
  case Vmx_control_field::proc_based: return proc_based;
  case Vmx_control_field::proc_based2: return proc_based2;
  case Vmx_control_field::vm_exit: return vm_exit;
  case Vmx_control_field::vm_entry: return vm_entry;
  }
  return pin_based;
}

u32 Vmx_control_values::operator[](Vmx_control_field field) const {
  return const_cast<Vmx_control_values&>(*this)[field];
}

u64 vmx_control_capability(const Vmx_capability_msrs& m, Vmx_control_field field) {
  const bool true_ctls = vmx_uses_true_controls(m);
  switch (field) {
  case Vmx_control_field::pin_based: return true_ctls ? m.true_pinbased_ctls : m.pinbased_ctls;
  case Vmx_control_field::proc_based: return true_ctls ? m.true_procbased_ctls : m.procbased_ctls;
  case Vmx_control_field::proc_based2: {
    // IA32_VMX_PROCBASED_CTLS2 exists only if "activate secondary controls" may be 1.
    const u64 primary = vmx_control_capability(m, Vmx_control_field::proc_based);
    return (allowed1_of(primary) & proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS) ? m.procbased_ctls2 : 0;
  }
  case Vmx_control_field::vm_exit: return true_ctls ? m.true_exit_ctls : m.exit_ctls;
  case Vmx_control_field::vm_entry: return true_ctls ? m.true_entry_ctls : m.entry_ctls;
  }
  return 0;
}

Vmx_controls_result compute_vmx_controls(const Vmx_controls_request& request, const Vmx_capability_msrs& msrs) {
  Vmx_controls_result r;
  store(r, Vmx_control_field::pin_based,
        compute_field(Vmx_control_field::pin_based, vmx_control_capability(msrs, Vmx_control_field::pin_based),
                      request.pin_based));
  store(r, Vmx_control_field::proc_based,
        compute_field(Vmx_control_field::proc_based, vmx_control_capability(msrs, Vmx_control_field::proc_based),
                      request.proc_based));
  store(r, Vmx_control_field::vm_exit,
        compute_field(Vmx_control_field::vm_exit, vmx_control_capability(msrs, Vmx_control_field::vm_exit),
                      request.vm_exit));
  store(r, Vmx_control_field::vm_entry,
        compute_field(Vmx_control_field::vm_entry, vmx_control_capability(msrs, Vmx_control_field::vm_entry),
                      request.vm_entry));

  const u64 primary_cap = vmx_control_capability(msrs, Vmx_control_field::proc_based);
  const bool secondary_possible = allowed1_of(primary_cap) & proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS;
  const Vmx_control_request& want2 = request.proc_based2;
  if (secondary_possible) {
    store(r, Vmx_control_field::proc_based2,
          compute_field(Vmx_control_field::proc_based2, msrs.procbased_ctls2, want2));
    // The secondary field takes effect only through this primary control; the CPU allows it
    // here. It is left as the request had it when no secondary bit survives.
    const u32 activate = proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS;
    if (r.value.proc_based2 != 0 && !(r.value.proc_based & activate)) {
      r.value.proc_based |= activate;
      r.forced.proc_based |= activate;
    }
  } else {
    r.missing.proc_based2 = want2.required;
    r.dropped.proc_based2 = want2.optional & ~want2.required;
    r.secondary_controls_unavailable = (want2.required | want2.optional) != 0;
  }
  return r;
}

Vmx_control_bit Vmx_controls_result::first_missing() const {
  for (Vmx_control_field field : all_fields) {
    if (const u32 bits = missing[field]) return {field, static_cast<u8>(std::countr_zero(bits))};
  }
  return {};
}

usize list_vmx_control_bits(const Vmx_control_values& bits, std::span<Vmx_control_bit> out) {
  usize n = 0;
  for (Vmx_control_field field : all_fields) {
    for (u32 rest = bits[field]; rest != 0; rest &= rest - 1) {
      if (n < out.size()) out[n] = {field, static_cast<u8>(std::countr_zero(rest))};
      ++n;
    }
  }
  return n;
}

void format_vmx_controls_error(Text_writer& out, const Vmx_controls_result& result) {
  if (result.ok()) return;
  const Vmx_control_bit c = result.first_missing();
  format_to(out, "{} control '{}' (bit {}) is not supported by this CPU", vmx_control_field_name(c.field),
            vmx_control_name(c.field, c.bit), c.bit);
  if (c.field == Vmx_control_field::proc_based2 && result.secondary_controls_unavailable) {
    out.write(": it has no secondary processor-based controls (primary control 'activate secondary controls' "
              "(bit 31) may not be 1)");
  }
}

void log_vmx_controls(const Vmx_controls_result& result) {
  std::array<Vmx_control_bit, 32 * vmx_control_field_count> bits{};
  usize n = list_vmx_control_bits(result.missing, bits);
  for (usize i = 0; i < n; ++i) {
    log_error("vmx", "required {} control '{}' (bit {}) is not supported by this CPU",
              vmx_control_field_name(bits[i].field), vmx_control_name(bits[i].field, bits[i].bit), bits[i].bit);
  }
  if (result.secondary_controls_unavailable) {
    log_warn("vmx", "this CPU has no secondary processor-based controls (no EPT, VPID, unrestricted guest)");
  }
  n = list_vmx_control_bits(result.dropped, bits);
  for (usize i = 0; i < n; ++i) {
    log_warn("vmx", "optional {} control '{}' (bit {}) is not available; left off",
             vmx_control_field_name(bits[i].field), vmx_control_name(bits[i].field, bits[i].bit), bits[i].bit);
  }
  n = list_vmx_control_bits(result.forced, bits);
  for (usize i = 0; i < n; ++i) {
    log_debug("vmx", "{} control '{}' (bit {}) is forced on by this CPU", vmx_control_field_name(bits[i].field),
              vmx_control_name(bits[i].field, bits[i].bit), bits[i].bit);
  }
  if (result.ok()) {
    log_info("vmx", "controls: pin {:#x} proc {:#x} proc2 {:#x} exit {:#x} entry {:#x}", result.value.pin_based,
             result.value.proc_based, result.value.proc_based2, result.value.vm_exit, result.value.vm_entry);
  }
}

} // namespace hv
