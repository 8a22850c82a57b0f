// arch/x86/vmcs_fields.hpp - VMCS field encodings (SDM Vol. 3D appendix B), the operands of
// VMREAD/VMWRITE. Both builds.
// Names are the upper-case spelling of the SDM's field names that Linux/KVM also use
// (GUEST_ES_SELECTOR, CPU_BASED_VM_EXEC_CONTROL, VM_EXIT_INTR_INFO, ...), so a field can be
// grepped against the SDM and against other hypervisors' sources alike.
// A 64-bit field also has a "high" encoding (encoding | 1) for access to bits 63:32 from
// 32-bit code; hv runs in 64-bit mode and always uses the full encoding.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

// Encoding layout (SDM Vol. 3C 25.11.2 "VMREAD, VMWRITE, and Encodings of VMCS Fields"):
//   bit 0      access type (0 full, 1 high half of a 64-bit field)
//   bits 9:1   index
//   bits 11:10 type (0 control, 1 VM-exit information, 2 guest state, 3 host state)
//   bit 12     reserved (0)
//   bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural width)
enum class Vmcs_field_width : u8 { bits16 = 0, bits64 = 1, bits32 = 2, natural = 3 };
enum class Vmcs_field_type : u8 { control = 0, exit_information = 1, guest_state = 2, host_state = 3 };

[[nodiscard]] constexpr Vmcs_field_width vmcs_field_width(u32 encoding) {
  return static_cast<Vmcs_field_width>((encoding >> 13) & 3);
}
[[nodiscard]] constexpr Vmcs_field_type vmcs_field_type(u32 encoding) {
  return static_cast<Vmcs_field_type>((encoding >> 10) & 3);
}
[[nodiscard]] constexpr bool vmcs_field_is_high_half(u32 encoding) { return encoding & 1; }
// VM-exit information fields are read-only unless IA32_VMX_MISC[29] says VMWRITE may write them.
[[nodiscard]] constexpr bool vmcs_field_is_read_only(u32 encoding) {
  return vmcs_field_type(encoding) == Vmcs_field_type::exit_information;
}
// Size in bytes of the value a field holds in 64-bit mode (a high-half access reads 4 bytes).
[[nodiscard]] constexpr unsigned vmcs_field_size(u32 encoding) {
  if (vmcs_field_is_high_half(encoding)) return 4;
  switch (vmcs_field_width(encoding)) {
  case Vmcs_field_width::bits16: return 2;
  case Vmcs_field_width::bits32: return 4;
  case Vmcs_field_width::bits64:
  case Vmcs_field_width::natural: return 8;
  }
  return 8;
}

namespace vmcs {

// --- 16-bit control fields (B.1.1)
inline constexpr u32 VIRTUAL_PROCESSOR_ID = 0x0000;
inline constexpr u32 POSTED_INTR_NV = 0x0002;
inline constexpr u32 EPTP_INDEX = 0x0004;

// --- 16-bit guest-state fields (B.1.2)
inline constexpr u32 GUEST_ES_SELECTOR = 0x0800;
inline constexpr u32 GUEST_CS_SELECTOR = 0x0802;
inline constexpr u32 GUEST_SS_SELECTOR = 0x0804;
inline constexpr u32 GUEST_DS_SELECTOR = 0x0806;
inline constexpr u32 GUEST_FS_SELECTOR = 0x0808;
inline constexpr u32 GUEST_GS_SELECTOR = 0x080A;
inline constexpr u32 GUEST_LDTR_SELECTOR = 0x080C;
inline constexpr u32 GUEST_TR_SELECTOR = 0x080E;
inline constexpr u32 GUEST_INTR_STATUS = 0x0810;
inline constexpr u32 GUEST_PML_INDEX = 0x0812;

// --- 16-bit host-state fields (B.1.3)
inline constexpr u32 HOST_ES_SELECTOR = 0x0C00;
inline constexpr u32 HOST_CS_SELECTOR = 0x0C02;
inline constexpr u32 HOST_SS_SELECTOR = 0x0C04;
inline constexpr u32 HOST_DS_SELECTOR = 0x0C06;
inline constexpr u32 HOST_FS_SELECTOR = 0x0C08;
inline constexpr u32 HOST_GS_SELECTOR = 0x0C0A;
inline constexpr u32 HOST_TR_SELECTOR = 0x0C0C;

// --- 64-bit control fields (B.2.1)
inline constexpr u32 IO_BITMAP_A = 0x2000;
inline constexpr u32 IO_BITMAP_B = 0x2002;
inline constexpr u32 MSR_BITMAP = 0x2004;
inline constexpr u32 VM_EXIT_MSR_STORE_ADDR = 0x2006;
inline constexpr u32 VM_EXIT_MSR_LOAD_ADDR = 0x2008;
inline constexpr u32 VM_ENTRY_MSR_LOAD_ADDR = 0x200A;
inline constexpr u32 EXECUTIVE_VMCS_POINTER = 0x200C;
inline constexpr u32 PML_ADDRESS = 0x200E;
inline constexpr u32 TSC_OFFSET = 0x2010;
inline constexpr u32 VIRTUAL_APIC_PAGE_ADDR = 0x2012;
inline constexpr u32 APIC_ACCESS_ADDR = 0x2014;
inline constexpr u32 POSTED_INTR_DESC_ADDR = 0x2016;
inline constexpr u32 VM_FUNCTION_CONTROL = 0x2018;
inline constexpr u32 EPT_POINTER = 0x201A;
inline constexpr u32 EOI_EXIT_BITMAP0 = 0x201C;
inline constexpr u32 EOI_EXIT_BITMAP1 = 0x201E;
inline constexpr u32 EOI_EXIT_BITMAP2 = 0x2020;
inline constexpr u32 EOI_EXIT_BITMAP3 = 0x2022;
inline constexpr u32 EPTP_LIST_ADDRESS = 0x2024;
inline constexpr u32 VMREAD_BITMAP = 0x2026;
inline constexpr u32 VMWRITE_BITMAP = 0x2028;
inline constexpr u32 VE_INFORMATION_ADDRESS = 0x202A;
inline constexpr u32 XSS_EXIT_BITMAP = 0x202C;
inline constexpr u32 ENCLS_EXITING_BITMAP = 0x202E;
inline constexpr u32 TSC_MULTIPLIER = 0x2032;

// --- 64-bit read-only data fields (B.2.2)
inline constexpr u32 GUEST_PHYSICAL_ADDRESS = 0x2400;

// --- 64-bit guest-state fields (B.2.3)
inline constexpr u32 VMCS_LINK_POINTER = 0x2800;
inline constexpr u32 GUEST_IA32_DEBUGCTL = 0x2802;
inline constexpr u32 GUEST_IA32_PAT = 0x2804;
inline constexpr u32 GUEST_IA32_EFER = 0x2806;
inline constexpr u32 GUEST_IA32_PERF_GLOBAL_CTRL = 0x2808;
inline constexpr u32 GUEST_PDPTR0 = 0x280A;
inline constexpr u32 GUEST_PDPTR1 = 0x280C;
inline constexpr u32 GUEST_PDPTR2 = 0x280E;
inline constexpr u32 GUEST_PDPTR3 = 0x2810;
inline constexpr u32 GUEST_BNDCFGS = 0x2812;

// --- 64-bit host-state fields (B.2.4)
inline constexpr u32 HOST_IA32_PAT = 0x2C00;
inline constexpr u32 HOST_IA32_EFER = 0x2C02;
inline constexpr u32 HOST_IA32_PERF_GLOBAL_CTRL = 0x2C04;

// --- 32-bit control fields (B.3.1)
inline constexpr u32 PIN_BASED_VM_EXEC_CONTROL = 0x4000;
inline constexpr u32 CPU_BASED_VM_EXEC_CONTROL = 0x4002;
inline constexpr u32 EXCEPTION_BITMAP = 0x4004;
inline constexpr u32 PAGE_FAULT_ERROR_CODE_MASK = 0x4006;
inline constexpr u32 PAGE_FAULT_ERROR_CODE_MATCH = 0x4008;
inline constexpr u32 CR3_TARGET_COUNT = 0x400A;
inline constexpr u32 VM_EXIT_CONTROLS = 0x400C;
inline constexpr u32 VM_EXIT_MSR_STORE_COUNT = 0x400E;
inline constexpr u32 VM_EXIT_MSR_LOAD_COUNT = 0x4010;
inline constexpr u32 VM_ENTRY_CONTROLS = 0x4012;
inline constexpr u32 VM_ENTRY_MSR_LOAD_COUNT = 0x4014;
inline constexpr u32 VM_ENTRY_INTR_INFO_FIELD = 0x4016;
inline constexpr u32 VM_ENTRY_EXCEPTION_ERROR_CODE = 0x4018;
inline constexpr u32 VM_ENTRY_INSTRUCTION_LEN = 0x401A;
inline constexpr u32 TPR_THRESHOLD = 0x401C;
inline constexpr u32 SECONDARY_VM_EXEC_CONTROL = 0x401E;
inline constexpr u32 PLE_GAP = 0x4020;
inline constexpr u32 PLE_WINDOW = 0x4022;

// --- 32-bit read-only data fields (B.3.2)
inline constexpr u32 VM_INSTRUCTION_ERROR = 0x4400;
inline constexpr u32 VM_EXIT_REASON = 0x4402;
inline constexpr u32 VM_EXIT_INTR_INFO = 0x4404;
inline constexpr u32 VM_EXIT_INTR_ERROR_CODE = 0x4406;
inline constexpr u32 IDT_VECTORING_INFO_FIELD = 0x4408;
inline constexpr u32 IDT_VECTORING_ERROR_CODE = 0x440A;
inline constexpr u32 VM_EXIT_INSTRUCTION_LEN = 0x440C;
inline constexpr u32 VMX_INSTRUCTION_INFO = 0x440E;

// --- 32-bit guest-state fields (B.3.3)
inline constexpr u32 GUEST_ES_LIMIT = 0x4800;
inline constexpr u32 GUEST_CS_LIMIT = 0x4802;
inline constexpr u32 GUEST_SS_LIMIT = 0x4804;
inline constexpr u32 GUEST_DS_LIMIT = 0x4806;
inline constexpr u32 GUEST_FS_LIMIT = 0x4808;
inline constexpr u32 GUEST_GS_LIMIT = 0x480A;
inline constexpr u32 GUEST_LDTR_LIMIT = 0x480C;
inline constexpr u32 GUEST_TR_LIMIT = 0x480E;
inline constexpr u32 GUEST_GDTR_LIMIT = 0x4810;
inline constexpr u32 GUEST_IDTR_LIMIT = 0x4812;
inline constexpr u32 GUEST_ES_AR_BYTES = 0x4814;
inline constexpr u32 GUEST_CS_AR_BYTES = 0x4816;
inline constexpr u32 GUEST_SS_AR_BYTES = 0x4818;
inline constexpr u32 GUEST_DS_AR_BYTES = 0x481A;
inline constexpr u32 GUEST_FS_AR_BYTES = 0x481C;
inline constexpr u32 GUEST_GS_AR_BYTES = 0x481E;
inline constexpr u32 GUEST_LDTR_AR_BYTES = 0x4820;
inline constexpr u32 GUEST_TR_AR_BYTES = 0x4822;
inline constexpr u32 GUEST_INTERRUPTIBILITY_INFO = 0x4824;
inline constexpr u32 GUEST_ACTIVITY_STATE = 0x4826;
inline constexpr u32 GUEST_SMBASE = 0x4828;
inline constexpr u32 GUEST_SYSENTER_CS = 0x482A;
inline constexpr u32 VMX_PREEMPTION_TIMER_VALUE = 0x482E;

// --- 32-bit host-state field (B.3.4)
inline constexpr u32 HOST_IA32_SYSENTER_CS = 0x4C00;

// --- natural-width control fields (B.4.1)
inline constexpr u32 CR0_GUEST_HOST_MASK = 0x6000;
inline constexpr u32 CR4_GUEST_HOST_MASK = 0x6002;
inline constexpr u32 CR0_READ_SHADOW = 0x6004;
inline constexpr u32 CR4_READ_SHADOW = 0x6006;
inline constexpr u32 CR3_TARGET_VALUE0 = 0x6008;
inline constexpr u32 CR3_TARGET_VALUE1 = 0x600A;
inline constexpr u32 CR3_TARGET_VALUE2 = 0x600C;
inline constexpr u32 CR3_TARGET_VALUE3 = 0x600E;

// --- natural-width read-only data fields (B.4.2)
inline constexpr u32 EXIT_QUALIFICATION = 0x6400;
inline constexpr u32 IO_RCX = 0x6402;
inline constexpr u32 IO_RSI = 0x6404;
inline constexpr u32 IO_RDI = 0x6406;
inline constexpr u32 IO_RIP = 0x6408;
inline constexpr u32 GUEST_LINEAR_ADDRESS = 0x640A;

// --- natural-width guest-state fields (B.4.3)
inline constexpr u32 GUEST_CR0 = 0x6800;
inline constexpr u32 GUEST_CR3 = 0x6802;
inline constexpr u32 GUEST_CR4 = 0x6804;
inline constexpr u32 GUEST_ES_BASE = 0x6806;
inline constexpr u32 GUEST_CS_BASE = 0x6808;
inline constexpr u32 GUEST_SS_BASE = 0x680A;
inline constexpr u32 GUEST_DS_BASE = 0x680C;
inline constexpr u32 GUEST_FS_BASE = 0x680E;
inline constexpr u32 GUEST_GS_BASE = 0x6810;
inline constexpr u32 GUEST_LDTR_BASE = 0x6812;
inline constexpr u32 GUEST_TR_BASE = 0x6814;
inline constexpr u32 GUEST_GDTR_BASE = 0x6816;
inline constexpr u32 GUEST_IDTR_BASE = 0x6818;
inline constexpr u32 GUEST_DR7 = 0x681A;
inline constexpr u32 GUEST_RSP = 0x681C;
inline constexpr u32 GUEST_RIP = 0x681E;
inline constexpr u32 GUEST_RFLAGS = 0x6820;
inline constexpr u32 GUEST_PENDING_DBG_EXCEPTIONS = 0x6822;
inline constexpr u32 GUEST_SYSENTER_ESP = 0x6824;
inline constexpr u32 GUEST_SYSENTER_EIP = 0x6826;

// --- natural-width host-state fields (B.4.4)
inline constexpr u32 HOST_CR0 = 0x6C00;
inline constexpr u32 HOST_CR3 = 0x6C02;
inline constexpr u32 HOST_CR4 = 0x6C04;
inline constexpr u32 HOST_FS_BASE = 0x6C06;
inline constexpr u32 HOST_GS_BASE = 0x6C08;
inline constexpr u32 HOST_TR_BASE = 0x6C0A;
inline constexpr u32 HOST_GDTR_BASE = 0x6C0C;
inline constexpr u32 HOST_IDTR_BASE = 0x6C0E;
inline constexpr u32 HOST_IA32_SYSENTER_ESP = 0x6C10;
inline constexpr u32 HOST_IA32_SYSENTER_EIP = 0x6C12;
inline constexpr u32 HOST_RSP = 0x6C14;
inline constexpr u32 HOST_RIP = 0x6C16;

} // namespace vmcs

// The encodings agree with their own width and type bits, as appendix B lays them out.
static_assert(vmcs_field_width(vmcs::VIRTUAL_PROCESSOR_ID) == Vmcs_field_width::bits16);
static_assert(vmcs_field_width(vmcs::EPT_POINTER) == Vmcs_field_width::bits64);
static_assert(vmcs_field_width(vmcs::VM_EXIT_REASON) == Vmcs_field_width::bits32);
static_assert(vmcs_field_width(vmcs::GUEST_RIP) == Vmcs_field_width::natural);
static_assert(vmcs_field_type(vmcs::GUEST_ES_SELECTOR) == Vmcs_field_type::guest_state);
static_assert(vmcs_field_type(vmcs::HOST_RIP) == Vmcs_field_type::host_state);
static_assert(vmcs_field_type(vmcs::EXIT_QUALIFICATION) == Vmcs_field_type::exit_information);
static_assert(vmcs_field_type(vmcs::SECONDARY_VM_EXEC_CONTROL) == Vmcs_field_type::control);
static_assert(vmcs_field_is_read_only(vmcs::VM_INSTRUCTION_ERROR) && !vmcs_field_is_read_only(vmcs::GUEST_CR0));
static_assert(vmcs_field_size(vmcs::GUEST_CS_SELECTOR) == 2 && vmcs_field_size(vmcs::VMCS_LINK_POINTER) == 8 &&
              vmcs_field_size(vmcs::GUEST_CS_AR_BYTES) == 4 && vmcs_field_size(vmcs::HOST_RSP) == 8 &&
              vmcs_field_size(vmcs::EPT_POINTER | 1) == 4);

} // namespace hv
