// vmx/exit_reason_names.cpp - names of VM-exit reasons (SDM Vol. 3D table C-1). Both builds.
#include "vmx/exit_reason_names.hpp"
#include <array>

namespace hv {
namespace {

constexpr std::array<const char*, exit_reason::COUNT> make_names() {
  namespace r = exit_reason;
  std::array<const char*, r::COUNT> n{};
  n[r::EXCEPTION_OR_NMI] = "exception or NMI";
  n[r::EXTERNAL_INTERRUPT] = "external interrupt";
  n[r::TRIPLE_FAULT] = "triple fault";
  n[r::INIT_SIGNAL] = "INIT signal";
  n[r::SIPI] = "SIPI";
  n[r::IO_SMI] = "I/O SMI";
  n[r::OTHER_SMI] = "other SMI";
  n[r::INTERRUPT_WINDOW] = "interrupt window";
  n[r::NMI_WINDOW] = "NMI window";
  n[r::TASK_SWITCH] = "task switch";
  n[r::CPUID] = "CPUID";
  n[r::GETSEC] = "GETSEC";
  n[r::HLT] = "HLT";
  n[r::INVD] = "INVD";
  n[r::INVLPG] = "INVLPG";
  n[r::RDPMC] = "RDPMC";
  n[r::RDTSC] = "RDTSC";
  n[r::RSM] = "RSM";
  n[r::VMCALL] = "VMCALL";
  n[r::VMCLEAR] = "VMCLEAR";
  n[r::VMLAUNCH] = "VMLAUNCH";
  n[r::VMPTRLD] = "VMPTRLD";
  n[r::VMPTRST] = "VMPTRST";
  n[r::VMREAD] = "VMREAD";
  n[r::VMRESUME] = "VMRESUME";
  n[r::VMWRITE] = "VMWRITE";
  n[r::VMXOFF] = "VMXOFF";
  n[r::VMXON] = "VMXON";
  n[r::CR_ACCESS] = "control-register access";
  n[r::MOV_DR] = "MOV DR";
  n[r::IO_INSTRUCTION] = "I/O instruction";
  n[r::RDMSR] = "RDMSR";
  n[r::WRMSR] = "WRMSR";
  n[r::ENTRY_FAILURE_INVALID_GUEST_STATE] = "VM-entry failure due to invalid guest state";
  n[r::ENTRY_FAILURE_MSR_LOADING] = "VM-entry failure due to MSR loading";
  n[r::MWAIT] = "MWAIT";
  n[r::MONITOR_TRAP_FLAG] = "monitor trap flag";
  n[r::MONITOR] = "MONITOR";
  n[r::PAUSE] = "PAUSE";
  n[r::ENTRY_FAILURE_MACHINE_CHECK] = "VM-entry failure due to machine-check event";
  n[r::TPR_BELOW_THRESHOLD] = "TPR below threshold";
  n[r::APIC_ACCESS] = "APIC access";
  n[r::VIRTUALIZED_EOI] = "virtualized EOI";
  n[r::GDTR_IDTR_ACCESS] = "access to GDTR or IDTR";
  n[r::LDTR_TR_ACCESS] = "access to LDTR or TR";
  n[r::EPT_VIOLATION] = "EPT violation";
  n[r::EPT_MISCONFIGURATION] = "EPT misconfiguration";
  n[r::INVEPT] = "INVEPT";
  n[r::RDTSCP] = "RDTSCP";
  n[r::VMX_PREEMPTION_TIMER_EXPIRED] = "VMX-preemption timer expired";
  n[r::INVVPID] = "INVVPID";
  n[r::WBINVD_OR_WBNOINVD] = "WBINVD or WBNOINVD";
  n[r::XSETBV] = "XSETBV";
  n[r::APIC_WRITE] = "APIC write";
  n[r::RDRAND] = "RDRAND";
  n[r::INVPCID] = "INVPCID";
  n[r::VMFUNC] = "VMFUNC";
  n[r::ENCLS] = "ENCLS";
  n[r::RDSEED] = "RDSEED";
  n[r::PAGE_MODIFICATION_LOG_FULL] = "page-modification log full";
  n[r::XSAVES] = "XSAVES";
  n[r::XRSTORS] = "XRSTORS";
  n[r::PCONFIG] = "PCONFIG";
  n[r::SPP_RELATED_EVENT] = "SPP-related event";
  n[r::UMWAIT] = "UMWAIT";
  n[r::TPAUSE] = "TPAUSE";
  n[r::LOADIWKEY] = "LOADIWKEY";
  n[r::ENCLV] = "ENCLV";
  n[r::ENQCMD_PASID_TRANSLATION_FAILURE] = "ENQCMD PASID translation failure";
  n[r::ENQCMDS_PASID_TRANSLATION_FAILURE] = "ENQCMDS PASID translation failure";
  n[r::BUS_LOCK] = "bus lock";
  n[r::INSTRUCTION_TIMEOUT] = "instruction timeout";
  n[r::SEAMCALL] = "SEAMCALL";
  n[r::TDCALL] = "TDCALL";
  n[r::RDMSRLIST] = "RDMSRLIST";
  n[r::WRMSRLIST] = "WRMSRLIST";
  return n;
}

constexpr std::array<const char*, exit_reason::COUNT> names = make_names();

} // namespace

bool exit_reason_is_defined(u32 basic_reason) {
  return basic_reason < names.size() && names[basic_reason] != nullptr;
}

const char* exit_reason_name(u32 basic_reason) {
  return exit_reason_is_defined(basic_reason) ? names[basic_reason] : "unknown";
}

const char* entry_failure_qualification_name(u64 qualification) {
  switch (qualification) {
  case entry_failure_qualification::DEFAULT: return "invalid guest state";
  case entry_failure_qualification::PDPTE_LOADING: return "PDPTE loading failed";
  case entry_failure_qualification::NMI_INJECTION_BLOCKED:
    return "NMI injection into a guest blocking events by STI";
  case entry_failure_qualification::INVALID_VMCS_LINK_POINTER: return "invalid VMCS link pointer";
  }
  return "unknown";
}

} // namespace hv
