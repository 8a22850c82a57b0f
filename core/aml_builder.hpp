// core/aml_builder.hpp - writes the few AML forms hv's guest DSDT needs (ACPI 6.5 chapter 20,
// "ACPI Machine Language Specification"): Scope, Device, Name, Package, Buffer, strings, integers,
// EISA ids, and the resource descriptors of _CRS (section 6.4). Both builds; a fixed buffer, no
// allocation. The bytes are what iasl would emit for the same ASL (minimal PkgLength encodings).
#pragma once
#include "arch/x86/types.hpp"
#include <cstring>
#include <span>
#include <string_view>

namespace hv {

namespace aml {
inline constexpr u8 zero_op = 0x00, one_op = 0x01, name_op = 0x08, byte_prefix = 0x0A, word_prefix = 0x0B,
                    dword_prefix = 0x0C, string_prefix = 0x0D, qword_prefix = 0x0E, scope_op = 0x10,
                    buffer_op = 0x11, package_op = 0x12, ext_op_prefix = 0x5B, device_op = 0x82, root_char = 0x5C;
// Resource descriptors (section 6.4): small items IRQ (2 bytes, edge, active high), I/O port,
// end tag; large items 32-bit fixed memory range and extended interrupt.
inline constexpr u8 small_irq_no_flags = 0x22, small_io = 0x47, small_end_tag = 0x79;
inline constexpr u8 large_memory32_fixed = 0x86, large_extended_interrupt = 0x89;
// Extended interrupt flags (Table 6.259): bit 0 consumer, bit 1 edge, bit 2 active low.
inline constexpr u8 interrupt_consumer = 1u << 0, interrupt_edge = 1u << 1, interrupt_active_low = 1u << 2;

// The 32-bit compressed EISA id of "PNP0501" (ASL's EisaId()): three letters in 5 bits each
// (big-endian), then four hex digits. Returns 0 for a malformed id.
[[nodiscard]] constexpr u32 eisa_id(std::string_view id) {
  if (id.size() != 7) return 0;
  auto hex = [](char c) -> int {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
  };
  u32 vendor = 0;
  for (usize i = 0; i < 3; ++i) {
    if (id[i] < 'A' || id[i] > 'Z') return 0;
    vendor = (vendor << 5) | static_cast<u32>(id[i] - 0x40);
  }
  u32 product = 0;
  for (usize i = 3; i < 7; ++i) {
    const int h = hex(id[i]);
    if (h < 0) return 0;
    product = (product << 4) | static_cast<u32>(h);
  }
  // Stored as bytes: vendor high, vendor low, product high, product low.
  return (vendor >> 8) | ((vendor & 0xFF) << 8) | ((product >> 8) << 16) | ((product & 0xFF) << 24);
}
} // namespace aml

class Aml_builder {
public:
  explicit Aml_builder(std::span<u8> out) : out_(out) {}

  // False once anything did not fit (the bytes written so far are then incomplete).
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] usize size() const { return size_; }

  void byte(u8 b) {
    if (size_ >= out_.size()) { ok_ = false; return; }
    out_[size_++] = b;
  }
  void bytes(std::span<const u8> b) { for (u8 x : b) byte(x); }
  void le16(u16 v) { byte(static_cast<u8>(v)); byte(static_cast<u8>(v >> 8)); }
  void le32(u32 v) { le16(static_cast<u16>(v)); le16(static_cast<u16>(v >> 16)); }

  // A NameSeg: exactly four characters ("_HID", "COM1"); shorter names are padded with '_'.
  void name_seg(std::string_view s) {
    for (usize i = 0; i < 4; ++i) byte(i < s.size() ? static_cast<u8>(s[i]) : '_');
  }
  // The smallest integer encoding (ZeroOp, OneOp, BytePrefix, WordPrefix, DWordPrefix, QWordPrefix).
  void integer(u64 v) {
    if (v <= 1) { byte(static_cast<u8>(v)); return; }
    if (v <= 0xFF) { byte(aml::byte_prefix); byte(static_cast<u8>(v)); return; }
    if (v <= 0xFFFF) { byte(aml::word_prefix); le16(static_cast<u16>(v)); return; }
    if (v <= 0xFFFFFFFF) { byte(aml::dword_prefix); le32(static_cast<u32>(v)); return; }
    byte(aml::qword_prefix);
    le32(static_cast<u32>(v));
    le32(static_cast<u32>(v >> 32));
  }
  void dword(u32 v) { byte(aml::dword_prefix); le32(v); }
  void string(std::string_view s) {
    byte(aml::string_prefix);
    for (char c : s) byte(static_cast<u8>(c));
    byte(0);
  }
  // Name(NAME, ...): the caller writes the value next.
  void name(std::string_view seg) { byte(aml::name_op); name_seg(seg); }

  // Opens a construct with a PkgLength (Scope, Device, Package, Buffer); close() with the value
  // returned writes its length. The length field is reserved at its largest useful size (2
  // bytes, up to 4095) and shrunk to 1 byte when the body is short, as iasl encodes it.
  [[nodiscard]] usize open(std::span<const u8> opcode) {
    bytes(opcode);
    const usize at = size_;
    byte(0);
    byte(0);
    return at;
  }
  void close(usize at) {
    if (!ok_) return;
    const usize body = size_ - (at + 2);
    if (body + 1 <= 63) {
      out_[at] = static_cast<u8>(body + 1);
      std::memmove(&out_[at + 1], &out_[at + 2], body);
      --size_;
    } else if (body + 2 <= 0xFFF) {
      const usize total = body + 2;
      out_[at] = static_cast<u8>(0x40 | (total & 0xF));
      out_[at + 1] = static_cast<u8>(total >> 4);
    } else {
      ok_ = false;  // hv's DSDT never needs a 3-byte PkgLength
    }
  }
  [[nodiscard]] usize scope(std::string_view rooted_seg) {  // Scope(\_SB)
    const usize at = open(std::span<const u8>(&aml::scope_op, 1));
    byte(aml::root_char);
    name_seg(rooted_seg);
    return at;
  }
  [[nodiscard]] usize device(std::string_view seg) {
    static constexpr u8 op[] = {aml::ext_op_prefix, aml::device_op};
    const usize at = open(op);
    name_seg(seg);
    return at;
  }
  [[nodiscard]] usize package(u8 elements) {
    const usize at = open(std::span<const u8>(&aml::package_op, 1));
    byte(elements);
    return at;
  }

  // Name(_CRS, ResourceTemplate() { ... }): the buffer opens with its size, which is known only
  // at the end; resource bodies are short, so the size is a BytePrefix patched in place.
  [[nodiscard]] usize resource_template() {
    const usize at = open(std::span<const u8>(&aml::buffer_op, 1));
    byte(aml::byte_prefix);
    byte(0);
    return at;
  }
  void end_resource_template(usize at) {
    byte(aml::small_end_tag);
    byte(0);  // checksum 0: "the resource data is treated as if the checksum operation succeeded"
    if (!ok_) return;
    const usize data = size_ - (at + 4);
    if (data > 0xFF) { ok_ = false; return; }
    out_[at + 3] = static_cast<u8>(data);
    close(at);
  }
  void io_port(u16 base, u8 length) {  // IO(Decode16, base, base, 1, length)
    byte(aml::small_io);
    byte(1);
    le16(base);
    le16(base);
    byte(1);
    byte(length);
  }
  void irq_no_flags(u8 irq) {  // IRQNoFlags() { irq }: edge, active high, exclusive
    byte(aml::small_irq_no_flags);
    le16(static_cast<u16>(1u << (irq & 15)));
  }
  void memory32_fixed(u32 base, u32 length, bool writable) {
    byte(aml::large_memory32_fixed);
    le16(9);
    byte(writable ? 1 : 0);
    le32(base);
    le32(length);
  }
  void extended_interrupt(u32 gsi, u8 flags) {
    byte(aml::large_extended_interrupt);
    le16(6);
    byte(flags);
    byte(1);
    le32(gsi);
  }

private:
  std::span<u8> out_;
  usize size_ = 0;
  bool ok_ = true;
};

} // namespace hv
