// vmx/exit_qualification.hpp - decoders for the exit qualification of the exits whose handlers
// need its fields: control-register accesses (SDM Vol. 3C table 28-3), I/O instructions (table
// 28-5). EPT violations are decoded in mm/ept_violation.hpp. Both builds; pure.
#pragma once
#include "arch/x86/types.hpp"
#include "vmx/guest_registers.hpp"
#include <optional>

namespace hv {

// General-purpose registers in the x86 encoding used by exit qualifications and instruction
// information fields (SDM Vol. 3C table 28-3, "General-purpose register").
enum class Gpr : u8 { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15 };

[[nodiscard]] const char* gpr_name(Gpr gpr);
// Where the exit stub saved `gpr`; nullptr for RSP, which lives in the VMCS (GUEST_RSP).
[[nodiscard]] u64* guest_gpr(Guest_registers& regs, Gpr gpr);

// --- Control-register accesses (exit reason CR_ACCESS)
enum class Cr_access_type : u8 { mov_to_cr = 0, mov_from_cr = 1, clts = 2, lmsw = 3 };

struct Cr_access {
  u8 cr = 0;                            // 0, 3, 4 or 8 for MOV; 0 for CLTS and LMSW
  Cr_access_type type = Cr_access_type::mov_to_cr;
  Gpr gpr = Gpr::rax;                   // MOV CR: the source (to CR) or destination (from CR)
  bool lmsw_memory_operand = false;     // LMSW: the operand was in memory (else a register)
  u16 lmsw_source_data = 0;             // LMSW: the 16-bit operand
  constexpr bool operator==(const Cr_access&) const = default;
};

[[nodiscard]] Cr_access decode_cr_access(u64 qualification);
[[nodiscard]] const char* cr_access_type_name(Cr_access_type type);

// --- I/O instructions (exit reason IO_INSTRUCTION)
struct Io_access {
  u8 size = 1;                 // bytes: 1, 2 or 4
  bool in = false;             // IN/INS (else OUT/OUTS)
  bool string = false;         // INS/OUTS
  bool rep = false;            // REP prefix (string instructions only)
  bool immediate_port = false; // the port was an imm8 operand (else DX)
  u16 port = 0;
  constexpr bool operator==(const Io_access&) const = default;
};

// nullopt for a size encoding the SDM does not define (2 or above 3 in bits 2:0).
[[nodiscard]] std::optional<Io_access> decode_io_access(u64 qualification);

// EPT violations: mm/ept_violation.hpp (decode_ept_exit_qualification), next to the EPT.

} // namespace hv
