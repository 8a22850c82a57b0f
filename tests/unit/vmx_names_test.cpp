// tests/unit/vmx_names_test.cpp - exit-reason names and decoding, VM-instruction errors, and the
// VMCS field encodings' width/type bits.
#include "arch/x86/vmcs_fields.hpp"
#include "vmx/exit_reason_names.hpp"
#include "vmx/vm_instruction_error.hpp"
#include <gtest/gtest.h>
#include <set>
#include <string>
#include <vector>

namespace hv {
namespace {

namespace r = exit_reason;

// Every basic exit reason the header defines, in table C-1 order.
const std::vector<u16> defined_reasons = {
    r::EXCEPTION_OR_NMI, r::EXTERNAL_INTERRUPT, r::TRIPLE_FAULT, r::INIT_SIGNAL, r::SIPI, r::IO_SMI, r::OTHER_SMI,
    r::INTERRUPT_WINDOW, r::NMI_WINDOW, r::TASK_SWITCH, r::CPUID, r::GETSEC, r::HLT, r::INVD, r::INVLPG, r::RDPMC,
    r::RDTSC, r::RSM, r::VMCALL, r::VMCLEAR, r::VMLAUNCH, r::VMPTRLD, r::VMPTRST, r::VMREAD, r::VMRESUME, r::VMWRITE,
    r::VMXOFF, r::VMXON, r::CR_ACCESS, r::MOV_DR, r::IO_INSTRUCTION, r::RDMSR, r::WRMSR,
    r::ENTRY_FAILURE_INVALID_GUEST_STATE, r::ENTRY_FAILURE_MSR_LOADING, r::MWAIT, r::MONITOR_TRAP_FLAG, r::MONITOR,
    r::PAUSE, r::ENTRY_FAILURE_MACHINE_CHECK, r::TPR_BELOW_THRESHOLD, r::APIC_ACCESS, r::VIRTUALIZED_EOI,
    r::GDTR_IDTR_ACCESS, r::LDTR_TR_ACCESS, r::EPT_VIOLATION, r::EPT_MISCONFIGURATION, r::INVEPT, r::RDTSCP,
    r::VMX_PREEMPTION_TIMER_EXPIRED, r::INVVPID, r::WBINVD_OR_WBNOINVD, r::XSETBV, r::APIC_WRITE, r::RDRAND,
    r::INVPCID, r::VMFUNC, r::ENCLS, r::RDSEED, r::PAGE_MODIFICATION_LOG_FULL, r::XSAVES, r::XRSTORS, r::PCONFIG,
    r::SPP_RELATED_EVENT, r::UMWAIT, r::TPAUSE, r::LOADIWKEY, r::ENCLV, r::ENQCMD_PASID_TRANSLATION_FAILURE,
    r::ENQCMDS_PASID_TRANSLATION_FAILURE, r::BUS_LOCK, r::INSTRUCTION_TIMEOUT, r::SEAMCALL, r::TDCALL, r::RDMSRLIST,
    r::WRMSRLIST};

TEST(ExitReasonNames, EveryDefinedReasonHasItsOwnName) {
  std::set<std::string> names;
  for (u16 reason : defined_reasons) {
    EXPECT_TRUE(exit_reason_is_defined(reason)) << reason;
    const std::string name = exit_reason_name(reason);
    EXPECT_NE(name, "unknown") << reason;
    EXPECT_FALSE(name.empty()) << reason;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_LT(reason, r::COUNT);
  }
  EXPECT_EQ(defined_reasons.size(), 76u);  // 0..79 without the unused 35, 38, 42 and 71
}

TEST(ExitReasonNames, UnusedAndOutOfRangeNumbersAreUnknown) {
  for (u32 reason : {35u, 38u, 42u, 71u, 80u, 255u, 0xFFFFu, 0x80000021u}) {
    EXPECT_FALSE(exit_reason_is_defined(reason)) << reason;
    EXPECT_STREQ(exit_reason_name(reason), "unknown") << reason;
  }
}

TEST(ExitReasonNames, TheOnesHvHandlesReadAsInTheSdm) {
  EXPECT_STREQ(exit_reason_name(r::CPUID), "CPUID");
  EXPECT_STREQ(exit_reason_name(r::CR_ACCESS), "control-register access");
  EXPECT_STREQ(exit_reason_name(r::IO_INSTRUCTION), "I/O instruction");
  EXPECT_STREQ(exit_reason_name(r::EPT_VIOLATION), "EPT violation");
  EXPECT_STREQ(exit_reason_name(r::EPT_MISCONFIGURATION), "EPT misconfiguration");
  EXPECT_STREQ(exit_reason_name(r::ENTRY_FAILURE_INVALID_GUEST_STATE), "VM-entry failure due to invalid guest state");
  EXPECT_STREQ(exit_reason_name(r::TRIPLE_FAULT), "triple fault");
  EXPECT_STREQ(exit_reason_name(r::VMX_PREEMPTION_TIMER_EXPIRED), "VMX-preemption timer expired");
}

TEST(ExitReasonField, DecodesBasicReasonAndFlags) {
  const Vmx_exit_reason entry_failure{0x80000021};
  EXPECT_TRUE(entry_failure.entry_failure());
  EXPECT_EQ(entry_failure.basic(), r::ENTRY_FAILURE_INVALID_GUEST_STATE);
  const Vmx_exit_reason hlt_with_mtf{0x1000000C};
  EXPECT_EQ(hlt_with_mtf.basic(), r::HLT);
  EXPECT_TRUE(hlt_with_mtf.pending_mtf());
  EXPECT_FALSE(hlt_with_mtf.entry_failure());
  EXPECT_TRUE(Vmx_exit_reason{0x08000000}.enclave_mode());
  EXPECT_TRUE(Vmx_exit_reason{0x0400001E}.bus_lock_asserted());
  EXPECT_EQ(Vmx_exit_reason{0x0400001E}.basic(), r::IO_INSTRUCTION);
  EXPECT_TRUE(Vmx_exit_reason{0x20000006}.from_vmx_root());
  const Vmx_exit_reason plain{r::EPT_VIOLATION};
  EXPECT_FALSE(plain.entry_failure() || plain.pending_mtf() || plain.enclave_mode() || plain.from_vmx_root() ||
               plain.bus_lock_asserted());
}

TEST(ExitReasonField, EntryFailureQualifications) {
  EXPECT_STREQ(entry_failure_qualification_name(4), "invalid VMCS link pointer");
  EXPECT_STREQ(entry_failure_qualification_name(2), "PDPTE loading failed");
  EXPECT_STREQ(entry_failure_qualification_name(0), "invalid guest state");
  EXPECT_STREQ(entry_failure_qualification_name(1), "unknown");
}

TEST(VmInstructionError, MessagesFollowTable31_1) {
  EXPECT_STREQ(vm_instruction_error_message(4), "VMLAUNCH with non-clear VMCS");
  EXPECT_STREQ(vm_instruction_error_message(5), "VMRESUME with non-launched VMCS");
  EXPECT_STREQ(vm_instruction_error_message(7), "VM entry with invalid control field(s)");
  EXPECT_STREQ(vm_instruction_error_message(8), "VM entry with invalid host-state field(s)");
  EXPECT_STREQ(vm_instruction_error_message(12), "VMREAD/VMWRITE from/to unsupported VMCS component");
  EXPECT_STREQ(vm_instruction_error_message(26), "VM entry with events blocked by MOV SS");
  EXPECT_STREQ(vm_instruction_error_message(28), "invalid operand to INVEPT/INVVPID");
}

TEST(VmInstructionError, DefinedNumbersHaveDistinctMessagesAndTheRestAreUnknown) {
  const std::set<u32> undefined = {0, 14, 21, 27};
  std::set<std::string> messages;
  for (u32 n = 0; n <= 40; ++n) {
    const std::string m = vm_instruction_error_message(n);
    if (undefined.count(n) || n > 28) {
      EXPECT_EQ(m, "unknown VM-instruction error") << n;
    } else {
      EXPECT_NE(m, "unknown VM-instruction error") << n;
      EXPECT_TRUE(messages.insert(m).second) << n;
    }
  }
  EXPECT_EQ(messages.size(), 25u);
}

TEST(VmInstructionError, StatusFromRflags) {
  EXPECT_EQ(vmx_instruction_status(0x2), Vmx_instruction_status::succeed);           // bit 1 is always 1
  EXPECT_EQ(vmx_instruction_status(0x3), Vmx_instruction_status::fail_invalid);      // CF
  EXPECT_EQ(vmx_instruction_status(0x42), Vmx_instruction_status::fail_valid);       // ZF
  EXPECT_EQ(vmx_instruction_status(0x246 & ~0x40ull), Vmx_instruction_status::succeed);
  EXPECT_EQ(vmx_instruction_status(0x43), Vmx_instruction_status::fail_invalid);
  EXPECT_STREQ(vmx_instruction_status_name(Vmx_instruction_status::fail_valid), "VMfailValid");
}

struct Field_group {
  std::vector<u32> fields;
  Vmcs_field_width width;
  Vmcs_field_type type;
};

TEST(VmcsFields, EncodingsCarryTheWidthAndTypeOfTheirGroup) {
  namespace f = vmcs;
  using W = Vmcs_field_width;
  using T = Vmcs_field_type;
  const std::vector<Field_group> groups = {
      {{f::VIRTUAL_PROCESSOR_ID, f::POSTED_INTR_NV, f::EPTP_INDEX}, W::bits16, T::control},
      {{f::GUEST_ES_SELECTOR, f::GUEST_CS_SELECTOR, f::GUEST_SS_SELECTOR, f::GUEST_DS_SELECTOR, f::GUEST_FS_SELECTOR,
        f::GUEST_GS_SELECTOR, f::GUEST_LDTR_SELECTOR, f::GUEST_TR_SELECTOR},
       W::bits16, T::guest_state},
      {{f::HOST_ES_SELECTOR, f::HOST_CS_SELECTOR, f::HOST_TR_SELECTOR}, W::bits16, T::host_state},
      {{f::IO_BITMAP_A, f::IO_BITMAP_B, f::MSR_BITMAP, f::TSC_OFFSET, f::EPT_POINTER}, W::bits64, T::control},
      {{f::GUEST_PHYSICAL_ADDRESS}, W::bits64, T::exit_information},
      {{f::VMCS_LINK_POINTER, f::GUEST_IA32_DEBUGCTL, f::GUEST_IA32_PAT, f::GUEST_IA32_EFER}, W::bits64,
       T::guest_state},
      {{f::HOST_IA32_PAT, f::HOST_IA32_EFER}, W::bits64, T::host_state},
      {{f::PIN_BASED_VM_EXEC_CONTROL, f::CPU_BASED_VM_EXEC_CONTROL, f::EXCEPTION_BITMAP, f::VM_EXIT_CONTROLS,
        f::VM_ENTRY_CONTROLS, f::VM_ENTRY_INTR_INFO_FIELD, f::VM_ENTRY_EXCEPTION_ERROR_CODE,
        f::VM_ENTRY_INSTRUCTION_LEN, f::SECONDARY_VM_EXEC_CONTROL},
       W::bits32, T::control},
      {{f::VM_INSTRUCTION_ERROR, f::VM_EXIT_REASON, f::VM_EXIT_INTR_INFO, f::VM_EXIT_INTR_ERROR_CODE,
        f::IDT_VECTORING_INFO_FIELD, f::IDT_VECTORING_ERROR_CODE, f::VM_EXIT_INSTRUCTION_LEN, f::VMX_INSTRUCTION_INFO},
       W::bits32, T::exit_information},
      {{f::GUEST_ES_LIMIT, f::GUEST_GDTR_LIMIT, f::GUEST_IDTR_LIMIT, f::GUEST_ES_AR_BYTES, f::GUEST_TR_AR_BYTES,
        f::GUEST_INTERRUPTIBILITY_INFO, f::GUEST_ACTIVITY_STATE, f::GUEST_SYSENTER_CS, f::VMX_PREEMPTION_TIMER_VALUE},
       W::bits32, T::guest_state},
      {{f::HOST_IA32_SYSENTER_CS}, W::bits32, T::host_state},
      {{f::CR0_GUEST_HOST_MASK, f::CR4_GUEST_HOST_MASK, f::CR0_READ_SHADOW, f::CR4_READ_SHADOW}, W::natural,
       T::control},
      {{f::EXIT_QUALIFICATION, f::GUEST_LINEAR_ADDRESS}, W::natural, T::exit_information},
      {{f::GUEST_CR0, f::GUEST_CR3, f::GUEST_CR4, f::GUEST_ES_BASE, f::GUEST_GDTR_BASE, f::GUEST_IDTR_BASE,
        f::GUEST_DR7, f::GUEST_RSP, f::GUEST_RIP, f::GUEST_RFLAGS, f::GUEST_PENDING_DBG_EXCEPTIONS,
        f::GUEST_SYSENTER_ESP, f::GUEST_SYSENTER_EIP},
       W::natural, T::guest_state},
      {{f::HOST_CR0, f::HOST_CR3, f::HOST_CR4, f::HOST_FS_BASE, f::HOST_GS_BASE, f::HOST_TR_BASE, f::HOST_GDTR_BASE,
        f::HOST_IDTR_BASE, f::HOST_IA32_SYSENTER_ESP, f::HOST_IA32_SYSENTER_EIP, f::HOST_RSP, f::HOST_RIP},
       W::natural, T::host_state},
  };
  std::set<u32> seen;
  for (const Field_group& g : groups) {
    for (u32 field : g.fields) {
      EXPECT_EQ(vmcs_field_width(field), g.width) << std::hex << field;
      EXPECT_EQ(vmcs_field_type(field), g.type) << std::hex << field;
      EXPECT_FALSE(vmcs_field_is_high_half(field)) << std::hex << field;
      EXPECT_EQ(vmcs_field_is_read_only(field), g.type == T::exit_information) << std::hex << field;
      EXPECT_TRUE(seen.insert(field).second) << "two names for " << std::hex << field;
    }
  }
  EXPECT_EQ(vmcs_field_size(vmcs::GUEST_IA32_EFER | 1), 4u);  // the high half of a 64-bit field
}

} // namespace
} // namespace hv
