// vmx/vmx_capabilities.cpp - reading and decoding the VMX capability MSRs. Both builds.
#include "vmx/vmx_capabilities.hpp"
#include "arch/x86/msr.hpp"

namespace hv {
namespace {
constexpr bool bit(u64 v, unsigned n) { return (v >> n) & 1; }
} // namespace

Vmx_capability_msrs read_vmx_capability_msrs(Cpu_access& cpu, const Cpu_identity& id) {
  Vmx_capability_msrs m;
  // IA32_FEATURE_CONTROL exists when CPUID enumerates VMX or SMX (SDM Vol. 4, table 2-2).
  if (id.vendor != Cpu_vendor::intel || !(id.has_vmx() || id.has_smx())) return m;
  m.has_feature_control = true;
  m.feature_control = cpu.rdmsr(msr::IA32_FEATURE_CONTROL);
  if (!id.has_vmx()) return m;

  m.has_vmx_msrs = true;
  m.basic = cpu.rdmsr(msr::IA32_VMX_BASIC);
  m.pinbased_ctls = cpu.rdmsr(msr::IA32_VMX_PINBASED_CTLS);
  m.procbased_ctls = cpu.rdmsr(msr::IA32_VMX_PROCBASED_CTLS);
  m.exit_ctls = cpu.rdmsr(msr::IA32_VMX_EXIT_CTLS);
  m.entry_ctls = cpu.rdmsr(msr::IA32_VMX_ENTRY_CTLS);
  m.misc = cpu.rdmsr(msr::IA32_VMX_MISC);
  m.cr0_fixed0 = cpu.rdmsr(msr::IA32_VMX_CR0_FIXED0);
  m.cr0_fixed1 = cpu.rdmsr(msr::IA32_VMX_CR0_FIXED1);
  m.cr4_fixed0 = cpu.rdmsr(msr::IA32_VMX_CR4_FIXED0);
  m.cr4_fixed1 = cpu.rdmsr(msr::IA32_VMX_CR4_FIXED1);
  m.vmcs_enum = cpu.rdmsr(msr::IA32_VMX_VMCS_ENUM);
  // IA32_VMX_PROCBASED_CTLS2 exists if "activate secondary controls" may be 1.
  if (vmx_control_allowed1(m.procbased_ctls, vmx_ctl::PROC_ACTIVATE_SECONDARY_CONTROLS)) {
    m.has_procbased_ctls2 = true;
    m.procbased_ctls2 = cpu.rdmsr(msr::IA32_VMX_PROCBASED_CTLS2);
    // IA32_VMX_EPT_VPID_CAP exists if "enable EPT" or "enable VPID" may be 1.
    if (vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_ENABLE_EPT) ||
        vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_ENABLE_VPID)) {
      m.has_ept_vpid_cap = true;
      m.ept_vpid_cap = cpu.rdmsr(msr::IA32_VMX_EPT_VPID_CAP);
    }
    if (vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_ENABLE_VM_FUNCTIONS)) {
      m.has_vmfunc = true;
      m.vmfunc = cpu.rdmsr(msr::IA32_VMX_VMFUNC);
    }
  }
  // The TRUE_* MSRs exist if IA32_VMX_BASIC[55] is 1.
  if (bit(m.basic, 55)) {
    m.has_true_ctls = true;
    m.true_pinbased_ctls = cpu.rdmsr(msr::IA32_VMX_TRUE_PINBASED_CTLS);
    m.true_procbased_ctls = cpu.rdmsr(msr::IA32_VMX_TRUE_PROCBASED_CTLS);
    m.true_exit_ctls = cpu.rdmsr(msr::IA32_VMX_TRUE_EXIT_CTLS);
    m.true_entry_ctls = cpu.rdmsr(msr::IA32_VMX_TRUE_ENTRY_CTLS);
  }
  return m;
}

Vmx_features decode_vmx_features(const Cpu_identity& id, const Vmx_capability_msrs& m) {
  Vmx_features f;
  if (id.vendor == Cpu_vendor::amd) {
    f.status = Vmx_status::not_intel;
    return f;
  }
  f.vmx = id.has_vmx() && m.has_vmx_msrs;
  if (m.has_feature_control) {
    f.feature_control_locked = bit(m.feature_control, 0);
    f.vmxon_outside_smx = bit(m.feature_control, 2);
  }
  if (!f.vmx) {
    f.status = Vmx_status::no_vmx;
    return f;
  }

  f.vmcs_revision = static_cast<u32>(m.basic & 0x7FFFFFFF);
  f.vmcs_region_size = static_cast<u32>((m.basic >> 32) & 0x1FFF);
  f.vmcs_32bit_addresses = bit(m.basic, 48);
  f.vmcs_memory_type = static_cast<u8>((m.basic >> 50) & 0xF);
  f.ins_outs_info = bit(m.basic, 54);
  f.true_controls = m.has_true_ctls;

  const u64 pin = m.has_true_ctls ? m.true_pinbased_ctls : m.pinbased_ctls;
  f.preemption_timer = vmx_control_allowed1(pin, vmx_ctl::PIN_ACTIVATE_VMX_PREEMPTION_TIMER);
  f.preemption_timer_rate = static_cast<u8>(m.misc & 0x1F);
  f.activity_hlt = bit(m.misc, 6);
  f.activity_shutdown = bit(m.misc, 7);
  f.activity_wait_for_sipi = bit(m.misc, 8);

  f.secondary_controls = m.has_procbased_ctls2;
  if (m.has_procbased_ctls2) {
    f.ept = vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_ENABLE_EPT);
    f.vpid = vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_ENABLE_VPID);
    f.unrestricted_guest = vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_UNRESTRICTED_GUEST);
    f.pml = vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_ENABLE_PML);
    f.vm_functions = vmx_control_allowed1(m.procbased_ctls2, vmx_ctl::PROC2_ENABLE_VM_FUNCTIONS);
  }
  if (m.has_ept_vpid_cap) {
    const u64 c = m.ept_vpid_cap;
    f.ept_execute_only = bit(c, 0);
    f.ept_4level = bit(c, 6);
    f.ept_5level = bit(c, 7);
    f.ept_uc = bit(c, 8);
    f.ept_wb = bit(c, 14);
    f.ept_2m = bit(c, 16);
    f.ept_1g = bit(c, 17);
    f.invept = bit(c, 20);
    f.ept_accessed_dirty = bit(c, 21);
    f.invept_single_context = bit(c, 25);
    f.invept_all_context = bit(c, 26);
    f.invvpid = bit(c, 32);
    f.invvpid_individual_address = bit(c, 40);
    f.invvpid_single_context = bit(c, 41);
    f.invvpid_all_context = bit(c, 42);
    f.invvpid_single_context_retaining_globals = bit(c, 43);
  }
  if (!f.ept) {
    // Without "enable EPT" the capability bits describe nothing usable.
    f.ept_4level = f.ept_5level = f.ept_2m = f.ept_1g = f.ept_accessed_dirty = f.ept_execute_only = false;
    f.ept_uc = f.ept_wb = f.invept = f.invept_single_context = f.invept_all_context = false;
  }
  if (!f.vpid) {
    f.invvpid = f.invvpid_individual_address = f.invvpid_single_context = f.invvpid_all_context =
        f.invvpid_single_context_retaining_globals = false;
  }

  if (f.feature_control_locked && !f.vmxon_outside_smx) f.status = Vmx_status::locked_off;
  else if (f.vmcs_32bit_addresses || (f.vmcs_memory_type != 6 && f.vmcs_memory_type != 0)) f.status = Vmx_status::unsupported_vmcs;
  else if (!(f.ept && f.ept_4level && f.ept_wb && f.invept)) f.status = Vmx_status::usable_no_ept;
  else f.status = Vmx_status::usable;
  return f;
}

const char* vmx_status_name(Vmx_status status) {
  switch (status) {
  case Vmx_status::usable: return "usable";
  case Vmx_status::usable_no_ept: return "usable without EPT";
  case Vmx_status::not_intel: return "not an Intel CPU";
  case Vmx_status::no_vmx: return "no VMX";
  case Vmx_status::locked_off: return "VMX locked off by firmware";
  case Vmx_status::unsupported_vmcs: return "unsupported VMCS layout";
  }
  return "?";
}

const char* vmx_status_advice(Vmx_status status) {
  switch (status) {
  case Vmx_status::usable: return "";
  case Vmx_status::usable_no_ept:
    return "EPT (4-level, write-back, INVEPT) is missing: guests need the shadow-paging fallback";
  case Vmx_status::not_intel:
    return "this is an AMD CPU; hv needs Intel VT-x (AMD-V/SVM is not supported)";
  case Vmx_status::no_vmx:
    return "CPUID.1:ECX.VMX[bit 5] is 0: this CPU or emulator offers no VT-x (QEMU TCG has none; use Bochs, or KVM with nested VMX)";
  case Vmx_status::locked_off:
    return "IA32_FEATURE_CONTROL is locked with 'VMXON outside SMX' clear: enable Intel Virtualization Technology in the firmware setup";
  case Vmx_status::unsupported_vmcs:
    return "IA32_VMX_BASIC asks for 32-bit VMCS addresses or an unknown memory type";
  }
  return "";
}

} // namespace hv
