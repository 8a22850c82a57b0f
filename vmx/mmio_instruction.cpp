// vmx/mmio_instruction.cpp - see mmio_instruction.hpp. Both builds.
#include "vmx/mmio_instruction.hpp"

namespace hv {

const char* mmio_decode_error_message(Mmio_decode_error error) {
  switch (error) {
  case Mmio_decode_error::none: return "decoded";
  case Mmio_decode_error::truncated: return "the instruction is cut off (or longer than 15 bytes)";
  case Mmio_decode_error::unsupported: return "an instruction hv does not emulate on MMIO (only MOV, MOVZX, MOVSX)";
  case Mmio_decode_error::register_operand: return "the instruction has no memory operand";
  case Mmio_decode_error::address_size_16: return "16-bit addressing is not emulated";
  }
  return "?";
}

namespace {

constexpr u64 size_mask(u8 size) { return size >= 8 ? ~u64{0} : (u64{1} << (8 * size)) - 1; }

// Bytes of ModRM + SIB + displacement starting at bytes[i] (32/64-bit addressing, SDM Vol. 2
// tables 2-2 and 2-3). 0 if cut off.
usize modrm_length(std::span<const u8> b, usize i) {
  if (i >= b.size()) return 0;
  const u8 mod = b[i] >> 6, rm = b[i] & 7;
  usize n = 1;
  if (mod != 3 && rm == 4) {
    if (i + 1 >= b.size()) return 0;
    const u8 base = b[i + 1] & 7;
    n += 1;
    if (mod == 0 && base == 5) n += 4;
  }
  if (mod == 0 && rm == 5) n += 4;  // disp32 (RIP-relative in 64-bit mode)
  if (mod == 1) n += 1;
  if (mod == 2) n += 4;
  return i + n <= b.size() ? n : 0;
}

} // namespace

Mmio_decode_error decode_mmio_instruction(std::span<const u8> bytes, bool long_mode, Mmio_instruction& out) {
  out = Mmio_instruction{};
  const std::span<const u8> b = bytes.size() > x86_max_instruction_length ? bytes.first(x86_max_instruction_length) : bytes;
  usize i = 0;
  bool opsize16 = false;
  u8 rex = 0;
  // Legacy prefixes (any order), then at most one REX immediately before the opcode.
  for (;; ++i) {
    if (i >= b.size()) return Mmio_decode_error::truncated;
    const u8 p = b[i];
    if (p == 0x66) { opsize16 = true; continue; }
    if (p == 0x67) {
      if (!long_mode) return Mmio_decode_error::address_size_16;
      continue;
    }
    if (p == 0x26 || p == 0x2E || p == 0x36 || p == 0x3E || p == 0x64 || p == 0x65) continue;
    if (p == 0xF0 || p == 0xF2 || p == 0xF3) return Mmio_decode_error::unsupported;
    break;
  }
  if (long_mode && (b[i] & 0xF0) == 0x40) {
    rex = b[i++];
    if (i >= b.size()) return Mmio_decode_error::truncated;
  }
  const bool rex_w = rex & 8;
  const u8 full_size = rex_w ? 8 : opsize16 ? 2 : 4;

  u8 opcode = b[i++];
  bool two_byte = false;
  if (opcode == 0x0F) {
    if (i >= b.size()) return Mmio_decode_error::truncated;
    opcode = b[i++];
    two_byte = true;
  }
  const bool known = two_byte ? (opcode == 0xB6 || opcode == 0xB7 || opcode == 0xBE || opcode == 0xBF)
                              : (opcode >= 0x88 && opcode <= 0x8B) || opcode == 0xC6 || opcode == 0xC7;
  if (!known) return Mmio_decode_error::unsupported;
  if (i >= b.size()) return Mmio_decode_error::truncated;
  const u8 modrm = b[i];
  if ((modrm >> 6) == 3) return Mmio_decode_error::register_operand;
  const u8 reg = static_cast<u8>(((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0));
  const usize m = modrm_length(b, i);
  if (m == 0) return Mmio_decode_error::truncated;
  i += m;
  // An 8-bit register operand without REX: 4..7 are AH, CH, DH, BH.
  auto byte_register = [&](Mmio_instruction& o) {
    o.reg = reg;
    if (rex == 0 && reg >= 4 && reg <= 7) { o.high_byte = true; o.reg = static_cast<u8>(reg - 4); }
  };

  if (two_byte) {
    out.kind = Mmio_kind::load;
    out.size = (opcode & 1) ? 2 : 1;
    out.register_size = full_size;
    out.reg = reg;
    out.extend = opcode < 0xBE ? Mmio_extend::zero : Mmio_extend::sign;
  } else {
    switch (opcode) {
    case 0x88: out.kind = Mmio_kind::store_register; out.size = 1; out.register_size = 1; byte_register(out); break;
    case 0x89: out.kind = Mmio_kind::store_register; out.size = out.register_size = full_size; out.reg = reg; break;
    case 0x8A: out.kind = Mmio_kind::load; out.size = 1; out.register_size = 1; byte_register(out); break;
    case 0x8B: out.kind = Mmio_kind::load; out.size = out.register_size = full_size; out.reg = reg; break;
    case 0xC6:
    case 0xC7: {
      if (((modrm >> 3) & 7) != 0) return Mmio_decode_error::unsupported;  // /0 only
      out.kind = Mmio_kind::store_immediate;
      out.size = out.register_size = opcode == 0xC6 ? 1 : full_size;
      const usize imm_bytes = opcode == 0xC6 ? 1 : opsize16 && !rex_w ? 2 : 4;
      if (i + imm_bytes > b.size()) return Mmio_decode_error::truncated;
      u64 imm = 0;
      for (usize k = 0; k < imm_bytes; ++k) imm |= u64{b[i + k]} << (8 * k);
      i += imm_bytes;
      if (imm_bytes == 4 && out.size == 8 && (imm & 0x80000000u)) imm |= 0xFFFFFFFF00000000ull;  // sign-extended
      out.immediate = imm & size_mask(out.size);
      break;
    }
    default: return Mmio_decode_error::unsupported;
    }
  }
  out.length = static_cast<u8>(i);
  return Mmio_decode_error::none;
}

u64 mmio_load_result(const Mmio_instruction& insn, u64 old_value, u64 data) {
  u64 v = data & size_mask(insn.size);
  if (insn.extend == Mmio_extend::sign) {
    const u64 sign = u64{1} << (8 * insn.size - 1);
    if (v & sign) v |= ~size_mask(insn.size);
  }
  if (insn.high_byte) return (old_value & ~u64{0xFF00}) | ((v & 0xFF) << 8);
  switch (insn.register_size) {
  case 1: return (old_value & ~u64{0xFF}) | (v & 0xFF);
  case 2: return (old_value & ~u64{0xFFFF}) | (v & 0xFFFF);
  case 4: return v & 0xFFFFFFFFu;  // a 32-bit destination zeroes bits 63:32
  default: return v;
  }
}

u64 mmio_store_value(const Mmio_instruction& insn, u64 register_value) {
  if (insn.kind == Mmio_kind::store_immediate) return insn.immediate;
  if (insn.high_byte) return (register_value >> 8) & 0xFF;
  return register_value & size_mask(insn.size);
}

} // namespace hv
