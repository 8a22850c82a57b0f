// vmx/vmcs_control_names.cpp - the SDM's names of the VMX controls, for error messages and the
// log (SDM Vol. 3C tables 25-5, 25-6, 25-7, 25-13, 25-15). Both builds.
#include "vmx/vmcs_controls.hpp"
#include <array>

namespace hv {
namespace {

using Names = std::array<const char*, 32>;

constexpr Names pin_based_names() {
  Names n{};
  n[0] = "external-interrupt exiting";
  n[3] = "NMI exiting";
  n[5] = "virtual NMIs";
  n[6] = "activate VMX-preemption timer";
  n[7] = "process posted interrupts";
  return n;
}

constexpr Names proc_based_names() {
  Names n{};
  n[2] = "interrupt-window exiting";
  n[3] = "use TSC offsetting";
  n[7] = "HLT exiting";
  n[9] = "INVLPG exiting";
  n[10] = "MWAIT exiting";
  n[11] = "RDPMC exiting";
  n[12] = "RDTSC exiting";
  n[15] = "CR3-load exiting";
  n[16] = "CR3-store exiting";
  n[17] = "activate tertiary controls";
  n[19] = "CR8-load exiting";
  n[20] = "CR8-store exiting";
  n[21] = "use TPR shadow";
  n[22] = "NMI-window exiting";
  n[23] = "MOV-DR exiting";
  n[24] = "unconditional I/O exiting";
  n[25] = "use I/O bitmaps";
  n[27] = "monitor trap flag";
  n[28] = "use MSR bitmaps";
  n[29] = "MONITOR exiting";
  n[30] = "PAUSE exiting";
  n[31] = "activate secondary controls";
  return n;
}

constexpr Names proc_based2_names() {
  Names n{};
  n[0] = "virtualize APIC accesses";
  n[1] = "enable EPT";
  n[2] = "descriptor-table exiting";
  n[3] = "enable RDTSCP";
  n[4] = "virtualize x2APIC mode";
  n[5] = "enable VPID";
  n[6] = "WBINVD exiting";
  n[7] = "unrestricted guest";
  n[8] = "APIC-register virtualization";
  n[9] = "virtual-interrupt delivery";
  n[10] = "PAUSE-loop exiting";
  n[11] = "RDRAND exiting";
  n[12] = "enable INVPCID";
  n[13] = "enable VM functions";
  n[14] = "VMCS shadowing";
  n[15] = "enable ENCLS exiting";
  n[16] = "RDSEED exiting";
  n[17] = "enable PML";
  n[18] = "EPT-violation #VE";
  n[19] = "conceal VMX from PT";
  n[20] = "enable XSAVES/XRSTORS";
  n[21] = "PASID translation";
  n[22] = "mode-based execute control for EPT";
  n[23] = "sub-page write permissions for EPT";
  n[24] = "Intel PT uses guest physical addresses";
  n[25] = "use TSC scaling";
  n[26] = "enable user wait and pause";
  n[27] = "enable PCONFIG";
  n[28] = "enable ENCLV exiting";
  n[30] = "VMM bus-lock detection";
  n[31] = "instruction timeout";
  return n;
}

constexpr Names vm_exit_names() {
  Names n{};
  n[2] = "save debug controls";
  n[9] = "host address-space size";
  n[12] = "load IA32_PERF_GLOBAL_CTRL";
  n[15] = "acknowledge interrupt on exit";
  n[18] = "save IA32_PAT";
  n[19] = "load IA32_PAT";
  n[20] = "save IA32_EFER";
  n[21] = "load IA32_EFER";
  n[22] = "save VMX-preemption timer value";
  n[23] = "clear IA32_BNDCFGS";
  n[24] = "conceal VMX from PT";
  n[25] = "clear IA32_RTIT_CTL";
  n[26] = "clear IA32_LBR_CTL";
  n[27] = "clear UINV";
  n[28] = "load CET state";
  n[29] = "load PKRS";
  n[30] = "save IA32_PERF_GLOBAL_CTL";
  n[31] = "activate secondary controls";
  return n;
}

constexpr Names vm_entry_names() {
  Names n{};
  n[2] = "load debug controls";
  n[9] = "IA-32e mode guest";
  n[10] = "entry to SMM";
  n[11] = "deactivate dual-monitor treatment";
  n[13] = "load IA32_PERF_GLOBAL_CTRL";
  n[14] = "load IA32_PAT";
  n[15] = "load IA32_EFER";
  n[16] = "load IA32_BNDCFGS";
  n[17] = "conceal VMX from PT";
  n[18] = "load IA32_RTIT_CTL";
  n[19] = "load UINV";
  n[20] = "load CET state";
  n[21] = "load guest IA32_LBR_CTL";
  n[22] = "load PKRS";
  return n;
}

constexpr std::array<Names, vmx_control_field_count> names = {
    pin_based_names(), proc_based_names(), proc_based2_names(), vm_exit_names(), vm_entry_names()};

constexpr u32 named_bits(const Names& n) {
  u32 bits = 0;
  for (unsigned i = 0; i < 32; ++i) {
    if (n[i] != nullptr) bits |= 1u << i;
  }
  return bits;
}

// The name tables and the masks of arch/x86/vmx_controls.hpp describe the same bits.
static_assert(named_bits(pin_based_names()) ==
              (pin_based_ctl::EXTERNAL_INTERRUPT_EXITING | pin_based_ctl::NMI_EXITING | pin_based_ctl::VIRTUAL_NMIS |
               pin_based_ctl::ACTIVATE_VMX_PREEMPTION_TIMER | pin_based_ctl::PROCESS_POSTED_INTERRUPTS));
static_assert((named_bits(proc_based_names()) & proc_based_ctl::DEFAULT1) ==
              (proc_based_ctl::CR3_LOAD_EXITING | proc_based_ctl::CR3_STORE_EXITING));
static_assert(named_bits(proc_based2_names()) == ~(1u << 29));
static_assert((named_bits(vm_exit_names()) & vm_exit_ctl::DEFAULT1) == vm_exit_ctl::SAVE_DEBUG_CONTROLS);
static_assert((named_bits(vm_entry_names()) & vm_entry_ctl::DEFAULT1) == vm_entry_ctl::LOAD_DEBUG_CONTROLS);

} // namespace

const char* vmx_control_field_name(Vmx_control_field field) {
  switch (field) {
  case Vmx_control_field::pin_based: return "pin-based";
  case Vmx_control_field::proc_based: return "primary processor-based";
  case Vmx_control_field::proc_based2: return "secondary processor-based";
  case Vmx_control_field::vm_exit: return "VM-exit";
  case Vmx_control_field::vm_entry: return "VM-entry";
  }
  return "?";
}

const char* vmx_control_name(Vmx_control_field field, unsigned bit) {
  const auto index = static_cast<usize>(field);
  if (index >= names.size() || bit >= 32 || names[index][bit] == nullptr) return "reserved";
  return names[index][bit];
}

u32 vmx_control_named_bits(Vmx_control_field field) {
  const auto index = static_cast<usize>(field);
  return index < names.size() ? named_bits(names[index]) : 0;
}

} // namespace hv
