// mm/ept_violation.hpp - decoding the exit qualification of an EPT violation (Intel SDM Vol. 3C
// 28.2.1, table "Exit Qualification for EPT Violations"). Both builds. Pure: the VMX side reads
// the qualification, the guest-physical address and the guest linear address from the VMCS.
//   bit 0   the access was a data read          bit 1   a data write
//   bit 2   an instruction fetch
//   bit 3   the GPA was readable   (AND of bit 0 of the EPT entries on the walk)
//   bit 4   ... writable           (AND of bit 1)
//   bit 5   ... executable         (AND of bit 2; supervisor-mode executable with MBEC)
//   bit 6   ... user-mode executable (AND of bit 10, with mode-based execute control)
//   bit 7   the guest linear-address field is valid
//   bit 8   (bit 7 set) 1: the access was to the translation of a linear address;
//           0: to a guest paging-structure entry during a page walk or an A/D update
//   bit 9   (bits 7 and 8 set, advanced VM-exit information) the linear address is user-mode
//   bit 10  ... the linear address is writable     bit 11 ... it is execute-disable
//   bit 12  NMI unblocking due to IRET
//   bit 13  shadow-stack access                    bit 14 the EPT leaf was a supervisor shadow stack
//   bit 15  caused by guest-paging verification    bit 16 asynchronous to instruction execution
//           (for example an Intel PT trace-output write)
//   bits 63:17 reserved (cleared)
#pragma once
#include "arch/x86/types.hpp"
#include "lib/format.hpp"

namespace hv {

namespace ept_violation_bits {
inline constexpr u64 DATA_READ = 1ull << 0;
inline constexpr u64 DATA_WRITE = 1ull << 1;
inline constexpr u64 INSTRUCTION_FETCH = 1ull << 2;
inline constexpr u64 GPA_READABLE = 1ull << 3;
inline constexpr u64 GPA_WRITABLE = 1ull << 4;
inline constexpr u64 GPA_EXECUTABLE = 1ull << 5;
inline constexpr u64 GPA_USER_EXECUTABLE = 1ull << 6;
inline constexpr u64 GUEST_LINEAR_ADDRESS_VALID = 1ull << 7;
inline constexpr u64 TRANSLATED_ACCESS = 1ull << 8;
inline constexpr u64 USER_MODE_LINEAR_ADDRESS = 1ull << 9;
inline constexpr u64 WRITABLE_LINEAR_ADDRESS = 1ull << 10;
inline constexpr u64 EXECUTE_DISABLE_LINEAR_ADDRESS = 1ull << 11;
inline constexpr u64 NMI_UNBLOCKING_DUE_TO_IRET = 1ull << 12;
inline constexpr u64 SHADOW_STACK_ACCESS = 1ull << 13;
inline constexpr u64 SUPERVISOR_SHADOW_STACK = 1ull << 14;
inline constexpr u64 GUEST_PAGING_VERIFICATION = 1ull << 15;
inline constexpr u64 ASYNCHRONOUS_ACCESS = 1ull << 16;
inline constexpr u64 DEFINED_MASK = (1ull << 17) - 1;
} // namespace ept_violation_bits

struct Ept_exit_qualification {
  u64 raw = 0;
  bool read = false;
  bool write = false;
  bool fetch = false;
  bool readable = false;          // what the EPT allowed for this GPA when the access happened
  bool writable = false;
  bool executable = false;
  bool user_executable = false;   // meaningful only with mode-based execute control
  bool gla_valid = false;
  // Meaningful only when gla_valid: the access was to the final translation of the linear
  // address (false: to a guest paging-structure entry during the guest's own page walk).
  bool translated_access = false;
  bool advanced_info = false;     // bits 9..11 hold data (gla_valid, translated, CPU supports it)
  bool user_mode_linear = false;
  bool writable_linear = false;
  bool execute_disable_linear = false;
  bool nmi_unblocking_due_to_iret = false;  // the VMM must re-block NMIs before resuming
  bool shadow_stack_access = false;
  bool supervisor_shadow_stack = false;
  bool guest_paging_verification = false;
  bool asynchronous = false;
  bool reserved_bits_set = false;  // bits 63:17 nonzero: a newer CPU or a corrupted value

  // The EPT entry was present (allowed something) and still refused: a permission violation,
  // as opposed to a not-present one.
  [[nodiscard]] constexpr bool entry_present() const { return readable || writable || executable || user_executable; }
};

// `advanced_exit_info` is IA32_VMX_EPT_VPID_CAP bit 22 ("advanced VM-exit information for EPT
// violations"); without it bits 9..11 are not defined and are reported false.
[[nodiscard]] constexpr Ept_exit_qualification decode_ept_exit_qualification(u64 q, bool advanced_exit_info = true) {
  using namespace ept_violation_bits;
  Ept_exit_qualification v;
  v.raw = q;
  v.read = q & DATA_READ;
  v.write = q & DATA_WRITE;
  v.fetch = q & INSTRUCTION_FETCH;
  v.readable = q & GPA_READABLE;
  v.writable = q & GPA_WRITABLE;
  v.executable = q & GPA_EXECUTABLE;
  v.user_executable = q & GPA_USER_EXECUTABLE;
  v.gla_valid = q & GUEST_LINEAR_ADDRESS_VALID;
  v.translated_access = v.gla_valid && (q & TRANSLATED_ACCESS);
  v.advanced_info = advanced_exit_info && v.gla_valid && v.translated_access;
  v.user_mode_linear = v.advanced_info && (q & USER_MODE_LINEAR_ADDRESS);
  v.writable_linear = v.advanced_info && (q & WRITABLE_LINEAR_ADDRESS);
  v.execute_disable_linear = v.advanced_info && (q & EXECUTE_DISABLE_LINEAR_ADDRESS);
  v.nmi_unblocking_due_to_iret = q & NMI_UNBLOCKING_DUE_TO_IRET;
  v.shadow_stack_access = q & SHADOW_STACK_ACCESS;
  v.supervisor_shadow_stack = q & SUPERVISOR_SHADOW_STACK;
  v.guest_paging_verification = q & GUEST_PAGING_VERIFICATION;
  v.asynchronous = q & ASYNCHRONOUS_ACCESS;
  v.reserved_bits_set = (q & ~DEFINED_MASK) != 0;
  return v;
}

// One line for logs, e.g. "write at GPA 0x1000 (entry r-x-, linear address valid, final
// translation)". The GPA is passed in because it is a separate VMCS field.
void describe_ept_exit_qualification(Text_writer& out, const Ept_exit_qualification& v, u64 gpa);

} // namespace hv
