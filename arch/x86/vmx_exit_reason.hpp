// arch/x86/vmx_exit_reason.hpp - VM-exit reasons: the basic exit reason numbers (SDM Vol. 3D
// appendix C, table C-1) and the layout of the exit-reason VMCS field (SDM Vol. 3C 25.9.1,
// table "Format of Exit Reason"). Both builds. Names for logs: vmx/exit_reason_names.hpp.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

namespace exit_reason {
inline constexpr u16 EXCEPTION_OR_NMI = 0;
inline constexpr u16 EXTERNAL_INTERRUPT = 1;
inline constexpr u16 TRIPLE_FAULT = 2;
inline constexpr u16 INIT_SIGNAL = 3;
inline constexpr u16 SIPI = 4;
inline constexpr u16 IO_SMI = 5;
inline constexpr u16 OTHER_SMI = 6;
inline constexpr u16 INTERRUPT_WINDOW = 7;
inline constexpr u16 NMI_WINDOW = 8;
inline constexpr u16 TASK_SWITCH = 9;
inline constexpr u16 CPUID = 10;
inline constexpr u16 GETSEC = 11;
inline constexpr u16 HLT = 12;
inline constexpr u16 INVD = 13;
inline constexpr u16 INVLPG = 14;
inline constexpr u16 RDPMC = 15;
inline constexpr u16 RDTSC = 16;
inline constexpr u16 RSM = 17;
inline constexpr u16 VMCALL = 18;
inline constexpr u16 VMCLEAR = 19;
inline constexpr u16 VMLAUNCH = 20;
inline constexpr u16 VMPTRLD = 21;
inline constexpr u16 VMPTRST = 22;
inline constexpr u16 VMREAD = 23;
inline constexpr u16 VMRESUME = 24;
inline constexpr u16 VMWRITE = 25;
inline constexpr u16 VMXOFF = 26;
inline constexpr u16 VMXON = 27;
inline constexpr u16 CR_ACCESS = 28;
inline constexpr u16 MOV_DR = 29;
inline constexpr u16 IO_INSTRUCTION = 30;
inline constexpr u16 RDMSR = 31;
inline constexpr u16 WRMSR = 32;
inline constexpr u16 ENTRY_FAILURE_INVALID_GUEST_STATE = 33;
inline constexpr u16 ENTRY_FAILURE_MSR_LOADING = 34;
// 35 is not used
inline constexpr u16 MWAIT = 36;
inline constexpr u16 MONITOR_TRAP_FLAG = 37;
// 38 is not used
inline constexpr u16 MONITOR = 39;
inline constexpr u16 PAUSE = 40;
inline constexpr u16 ENTRY_FAILURE_MACHINE_CHECK = 41;
// 42 is not used
inline constexpr u16 TPR_BELOW_THRESHOLD = 43;
inline constexpr u16 APIC_ACCESS = 44;
inline constexpr u16 VIRTUALIZED_EOI = 45;
inline constexpr u16 GDTR_IDTR_ACCESS = 46;
inline constexpr u16 LDTR_TR_ACCESS = 47;
inline constexpr u16 EPT_VIOLATION = 48;
inline constexpr u16 EPT_MISCONFIGURATION = 49;
inline constexpr u16 INVEPT = 50;
inline constexpr u16 RDTSCP = 51;
inline constexpr u16 VMX_PREEMPTION_TIMER_EXPIRED = 52;
inline constexpr u16 INVVPID = 53;
inline constexpr u16 WBINVD_OR_WBNOINVD = 54;
inline constexpr u16 XSETBV = 55;
inline constexpr u16 APIC_WRITE = 56;
inline constexpr u16 RDRAND = 57;
inline constexpr u16 INVPCID = 58;
inline constexpr u16 VMFUNC = 59;
inline constexpr u16 ENCLS = 60;
inline constexpr u16 RDSEED = 61;
inline constexpr u16 PAGE_MODIFICATION_LOG_FULL = 62;
inline constexpr u16 XSAVES = 63;
inline constexpr u16 XRSTORS = 64;
inline constexpr u16 PCONFIG = 65;
inline constexpr u16 SPP_RELATED_EVENT = 66;
inline constexpr u16 UMWAIT = 67;
inline constexpr u16 TPAUSE = 68;
inline constexpr u16 LOADIWKEY = 69;
inline constexpr u16 ENCLV = 70;
// 71 is not used
inline constexpr u16 ENQCMD_PASID_TRANSLATION_FAILURE = 72;
inline constexpr u16 ENQCMDS_PASID_TRANSLATION_FAILURE = 73;
inline constexpr u16 BUS_LOCK = 74;
inline constexpr u16 INSTRUCTION_TIMEOUT = 75;
inline constexpr u16 SEAMCALL = 76;
inline constexpr u16 TDCALL = 77;
inline constexpr u16 RDMSRLIST = 78;
inline constexpr u16 WRMSRLIST = 79;

// Size of a table indexed by basic exit reason (per-VM statistics, the dispatcher).
inline constexpr u16 COUNT = 80;
} // namespace exit_reason

// The 32-bit exit-reason field (VMCS VM_EXIT_REASON).
struct Vmx_exit_reason {
  u32 raw = 0;

  static constexpr u32 BASIC_MASK = 0xFFFF;
  static constexpr u32 BUS_LOCK_ASSERTED = 1u << 26;  // a bus lock was asserted ("bus-lock detection")
  static constexpr u32 ENCLAVE_MODE = 1u << 27;       // the exit was incident to enclave mode
  static constexpr u32 PENDING_MTF = 1u << 28;        // a monitor-trap-flag exit is pending
  static constexpr u32 FROM_VMX_ROOT = 1u << 29;      // SMM VM exit from VMX root operation
  static constexpr u32 ENTRY_FAILURE = 1u << 31;      // VM-entry failure, not a true VM exit

  [[nodiscard]] constexpr u16 basic() const { return static_cast<u16>(raw & BASIC_MASK); }
  [[nodiscard]] constexpr bool bus_lock_asserted() const { return raw & BUS_LOCK_ASSERTED; }
  [[nodiscard]] constexpr bool enclave_mode() const { return raw & ENCLAVE_MODE; }
  [[nodiscard]] constexpr bool pending_mtf() const { return raw & PENDING_MTF; }
  [[nodiscard]] constexpr bool from_vmx_root() const { return raw & FROM_VMX_ROOT; }
  // With this bit set the basic reason is one of the ENTRY_FAILURE_* reasons, the guest never ran
  // and the VMCS guest state is the one VM entry rejected (SDM Vol. 3C 27.8).
  [[nodiscard]] constexpr bool entry_failure() const { return raw & ENTRY_FAILURE; }
};

static_assert(Vmx_exit_reason{0x80000021}.entry_failure() &&
              Vmx_exit_reason{0x80000021}.basic() == exit_reason::ENTRY_FAILURE_INVALID_GUEST_STATE);
static_assert(!Vmx_exit_reason{exit_reason::CPUID}.entry_failure());

// Exit qualification of a VM-entry failure with basic reason ENTRY_FAILURE_INVALID_GUEST_STATE
// (SDM Vol. 3C 27.8). For ENTRY_FAILURE_MSR_LOADING it is instead the 1-based index of the
// VM-entry MSR-load entry that failed.
namespace entry_failure_qualification {
inline constexpr u64 DEFAULT = 0;
inline constexpr u64 PDPTE_LOADING = 2;
inline constexpr u64 NMI_INJECTION_BLOCKED = 3;
inline constexpr u64 INVALID_VMCS_LINK_POINTER = 4;
} // namespace entry_failure_qualification

} // namespace hv
