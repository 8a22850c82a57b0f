// vmx/exit_qualification.cpp - exit-qualification decoders. Both builds.
#include "vmx/exit_qualification.hpp"

namespace hv {
namespace {
constexpr bool bit(u64 v, unsigned n) { return (v >> n) & 1; }
} // namespace

const char* gpr_name(Gpr gpr) {
  static constexpr const char* names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                             "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  const auto i = static_cast<unsigned>(gpr);
  return i < 16 ? names[i] : "?";
}

u64* guest_gpr(Guest_registers& r, Gpr gpr) {
  switch (gpr) {
  case Gpr::rax: return &r.rax;
  case Gpr::rcx: return &r.rcx;
  case Gpr::rdx: return &r.rdx;
  case Gpr::rbx: return &r.rbx;
  case Gpr::rsp: return nullptr;
  case Gpr::rbp: return &r.rbp;
  case Gpr::rsi: return &r.rsi;
  case Gpr::rdi: return &r.rdi;
  case Gpr::r8: return &r.r8;
  case Gpr::r9: return &r.r9;
  case Gpr::r10: return &r.r10;
  case Gpr::r11: return &r.r11;
  case Gpr::r12: return &r.r12;
  case Gpr::r13: return &r.r13;
  case Gpr::r14: return &r.r14;
  case Gpr::r15: return &r.r15;
  }
  return nullptr;
}

// Table 28-3: 3:0 CR number, 5:4 access type, 6 LMSW operand type, 11:8 GPR,
// 31:16 LMSW source data.
Cr_access decode_cr_access(u64 q) {
  Cr_access a;
  a.cr = static_cast<u8>(q & 0xF);
  a.type = static_cast<Cr_access_type>((q >> 4) & 3);
  a.lmsw_memory_operand = bit(q, 6);
  a.gpr = static_cast<Gpr>((q >> 8) & 0xF);
  a.lmsw_source_data = static_cast<u16>(q >> 16);
  return a;
}

const char* cr_access_type_name(Cr_access_type type) {
  switch (type) {
  case Cr_access_type::mov_to_cr: return "MOV to CR";
  case Cr_access_type::mov_from_cr: return "MOV from CR";
  case Cr_access_type::clts: return "CLTS";
  case Cr_access_type::lmsw: return "LMSW";
  }
  return "?";
}

// Table 28-5: 2:0 size (0 = 1 byte, 1 = 2 bytes, 3 = 4 bytes), 3 direction (1 = IN), 4 string,
// 5 REP, 6 operand encoding (1 = immediate), 31:16 port.
std::optional<Io_access> decode_io_access(u64 q) {
  Io_access a;
  switch (q & 7) {
  case 0: a.size = 1; break;
  case 1: a.size = 2; break;
  case 3: a.size = 4; break;
  default: return std::nullopt;
  }
  a.in = bit(q, 3);
  a.string = bit(q, 4);
  a.rep = bit(q, 5);
  a.immediate_port = bit(q, 6);
  a.port = static_cast<u16>(q >> 16);
  return a;
}

// Table 28-7: 0 read, 1 write, 2 fetch, 3..5 readable/writable/executable, 7 linear address
// valid, 8 translation (vs paging-structure access), 12 NMI unblocking due to IRET.

} // namespace hv
