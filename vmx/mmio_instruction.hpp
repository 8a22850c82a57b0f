// vmx/mmio_instruction.hpp - decoding the instruction behind an emulated-MMIO access: the MOV
// forms compilers emit for readb/readw/readl/readq and writeb/.../writeq (Linux's drivers, the
// local APIC, virtio-mmio), and their application to the guest's registers. Both builds; pure.
//
// Accepted (SDM Vol. 2, one memory operand, which must be the MMIO location):
//   88 /r  MOV r/m8, r8          89 /r  MOV r/m16/32/64, r      (stores of a register)
//   8A /r  MOV r8, r/m8          8B /r  MOV r16/32/64, r/m      (loads)
//   C6 /0 ib  MOV r/m8, imm8     C7 /0 iw/id  MOV r/m16/32/64, imm (sign-extended to 64 with REX.W)
//   0F B6 / B7  MOVZX r, r/m8 / r/m16     0F BE / BF  MOVSX r, r/m8 / r/m16
// with prefixes 66 (operand size), 67 (address size: 32-bit addressing in 64-bit mode), segment
// overrides (the exit's guest-physical address already says where), and REX in 64-bit mode.
// Anything else (a register operand, string instructions, LOCK'd read-modify-writes, 16-bit
// addressing) is refused: the caller stops the VM with the instruction bytes.
#pragma once
#include "arch/x86/types.hpp"
#include <span>

namespace hv {

inline constexpr usize x86_max_instruction_length = 15;

enum class Mmio_kind : u8 { load, store_register, store_immediate };
enum class Mmio_extend : u8 { none, zero, sign };  // MOVZX / MOVSX from the access size

struct Mmio_instruction {
  Mmio_kind kind = Mmio_kind::load;
  u8 size = 4;            // bytes accessed in MMIO: 1, 2, 4 or 8
  u8 register_size = 4;   // loads: the destination's operand size (MOVZX/MOVSX differ from size)
  u8 reg = 0;             // loads / register stores: GPR number (0 rax .. 15 r15), see high_byte
  bool high_byte = false; // 8-bit operand without REX, reg 4..7: AH, CH, DH, BH (of reg - 4)
  Mmio_extend extend = Mmio_extend::none;
  u64 immediate = 0;      // store_immediate: the value (already sign-extended to `size`)
  u8 length = 0;          // bytes of the whole instruction (RIP advances by it)
};

enum class Mmio_decode_error : u8 {
  none,
  truncated,            // the bytes end inside the instruction (or it is longer than 15)
  unsupported,          // an opcode or prefix outside the accepted forms
  register_operand,     // ModRM names a register, not memory: cannot be the MMIO access
  address_size_16,      // 16-bit addressing (67 outside 64-bit mode)
};
[[nodiscard]] const char* mmio_decode_error_message(Mmio_decode_error error);

// Decodes the instruction at the start of `bytes`. `long_mode` is CS.L = 1 (64-bit code): REX
// prefixes exist and 67 selects 32-bit addressing; otherwise 32-bit code (CS.D = 1) is assumed.
[[nodiscard]] Mmio_decode_error decode_mmio_instruction(std::span<const u8> bytes, bool long_mode,
                                                        Mmio_instruction& out);

// The register's new value after a load that read `data` (the low `size` bytes): 8 / 16-bit
// destinations keep the other bits (AH..BH: bits 15:8), 32-bit ones zero bits 63:32.
[[nodiscard]] u64 mmio_load_result(const Mmio_instruction& insn, u64 old_value, u64 data);
// The value a register store writes, from the register's full value (AH..BH: bits 15:8).
[[nodiscard]] u64 mmio_store_value(const Mmio_instruction& insn, u64 register_value);

} // namespace hv
