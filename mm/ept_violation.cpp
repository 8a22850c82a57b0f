// mm/ept_violation.cpp - the log description of an EPT violation. Both builds.
#include "mm/ept_violation.hpp"

namespace hv {

void describe_ept_exit_qualification(Text_writer& out, const Ept_exit_qualification& v, u64 gpa) {
  const char* sep = "";
  auto access = [&](bool on, const char* word) {
    if (!on) return;
    format_to(out, "{}{}", sep, word);
    sep = "+";
  };
  access(v.read, "read");
  access(v.write, "write");
  access(v.fetch, "fetch");
  if (!v.read && !v.write && !v.fetch) out.write("access");
  format_to(out, " at GPA {:#x} (entry ", gpa);
  if (v.entry_present()) {
    out.put(v.readable ? 'r' : '-');
    out.put(v.writable ? 'w' : '-');
    out.put(v.executable ? 'x' : '-');
    out.put(v.user_executable ? 'u' : '-');
  } else {
    out.write("not present");
  }
  if (!v.gla_valid) out.write(", no linear address");
  else if (v.translated_access) out.write(", final translation");
  else out.write(", guest page walk");
  if (v.advanced_info) {
    out.write(v.user_mode_linear ? ", user" : ", supervisor");
    if (v.writable_linear) out.write(" writable");
    if (v.execute_disable_linear) out.write(" XD");
  }
  if (v.nmi_unblocking_due_to_iret) out.write(", NMI unblocked by IRET");
  if (v.shadow_stack_access) out.write(", shadow-stack access");
  if (v.supervisor_shadow_stack) out.write(", supervisor shadow stack");
  if (v.guest_paging_verification) out.write(", guest-paging verification");
  if (v.asynchronous) out.write(", asynchronous");
  if (v.reserved_bits_set) format_to(out, ", reserved bits {:#x}", v.raw & ~ept_violation_bits::DEFINED_MASK);
  out.put(')');
}

} // namespace hv
