// arch/x86/exception_vectors.hpp - the names of the architectural exception vectors 0..31
// (SDM Vol. 3A table 6-1), for reports. Pure values: both builds.
#pragma once
#include "arch/x86/types.hpp"

namespace hv::x86 {

constexpr const char* exception_name(u64 vector) {
  constexpr const char* names[32] = {
      "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
      "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
      "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
      "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check", "#MC machine check",
      "#XM SIMD error", "#VE virtualization exception", "#CP control protection", "reserved 22",
      "reserved 23", "reserved 24", "reserved 25", "reserved 26", "reserved 27", "#HV", "#VC", "#SX", "reserved 31"};
  return vector < 32 ? names[vector] : "interrupt";
}

} // namespace hv::x86
