// core/acpi.cpp - see acpi.hpp. Both builds.
#include "core/acpi.hpp"
#include <cstring>

namespace hv {
namespace {

constexpr usize sdt_header_size = 36;
constexpr u32 max_table_bytes = 4 * 1024 * 1024;  // far beyond any real DSDT; bounds hostile input

u8 checksum(const u8* p, usize n) {
  u8 sum = 0;
  for (usize i = 0; i < n; ++i) sum = static_cast<u8>(sum + p[i]);
  return sum;
}

template <typename T>
T load(const u8* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// A whole table copied out of physical memory into a bounded local buffer.
struct Table {
  static constexpr usize capacity = 64 * 1024;
  u8 bytes[capacity];
  u32 length = 0;
};

// Reads and validates the table at `address` (signature, length, checksum). The body beyond
// `Table::capacity` is not copied, but the checksum is verified over the whole table in chunks.
bool read_table(Physical_reader& memory, Hpa address, const char* signature, Table& table) {
  u8 header[sdt_header_size];
  if (address.value() == 0 || !memory.read(address, header, sizeof header)) return false;
  if (std::memcmp(header, signature, 4) != 0) return false;
  const u32 length = load<u32>(header + 4);
  if (length < sdt_header_size || length > max_table_bytes) return false;
  u8 sum = 0;
  u8 chunk[512];
  for (u32 off = 0; off < length; off += sizeof chunk) {
    const u32 n = length - off < sizeof chunk ? length - off : static_cast<u32>(sizeof chunk);
    if (!memory.read(address + off, chunk, n)) return false;
    sum = static_cast<u8>(sum + checksum(chunk, n));
    if (off < Table::capacity) {
      const u32 keep = off + n <= Table::capacity ? n : static_cast<u32>(Table::capacity - off);
      std::memcpy(table.bytes + off, chunk, keep);
    }
  }
  if (sum != 0) return false;
  table.length = length;
  return true;
}

// Decodes an AML integer constant at p (ZeroOp, OneOp, BytePrefix n). Returns bytes consumed, 0 if
// it is something else.
usize aml_small_integer(const u8* p, const u8* end, u8& value) {
  if (p >= end) return 0;
  if (*p == 0x00 || *p == 0x01) { value = *p; return 1; }        // ZeroOp, OneOp
  if (*p == 0x0A && p + 1 < end) { value = p[1]; return 2; }     // BytePrefix
  return 0;
}

// Scans a DSDT (and, if needed, SSDTs) by physical address for \_S5_.
bool s5_from_table(Physical_reader& memory, Hpa address, const char* signature, u8& a, u8& b) {
  static Table table;  // one at a time: only the boot CPU powers off at boot or shutdown
  if (!read_table(memory, address, signature, table)) return false;
  const usize body = table.length < Table::capacity ? table.length : Table::capacity;
  return find_s5_sleep_types(table.bytes + sdt_header_size, body - sdt_header_size, a, b);
}

} // namespace

bool find_s5_sleep_types(const u8* aml, usize length, u8& type_a, u8& type_b) {
  const u8* end = aml + length;
  for (const u8* p = aml; p + 4 <= end; ++p) {
    if (std::memcmp(p, "_S5_", 4) != 0) continue;
    // Must be a NameOp (0x08) declaration, optionally rooted ("\\" = 0x5C) before the name.
    const bool named = (p > aml && p[-1] == 0x08) || (p - aml >= 2 && p[-1] == 0x5C && p[-2] == 0x08);
    if (!named) continue;
    const u8* q = p + 4;
    if (q >= end || *q != 0x12) continue;  // PackageOp
    ++q;
    if (q >= end) return false;
    const usize pkg_length_bytes = 1 + (*q >> 6);  // PkgLength: lead byte bits 7:6 = extra bytes
    q += pkg_length_bytes;
    if (q >= end) return false;
    const u8 elements = *q++;
    if (elements < 1) return false;
    const usize used_a = aml_small_integer(q, end, type_a);
    if (used_a == 0) return false;
    q += used_a;
    if (elements >= 2) {
      if (aml_small_integer(q, end, type_b) == 0) return false;
    } else {
      type_b = type_a;
    }
    return true;
  }
  return false;
}

Acpi_power_off find_acpi_power_off(Physical_reader& memory, Hpa rsdp_address) {
  Acpi_power_off plan;
  u8 rsdp[36];
  if (rsdp_address.value() == 0 || !memory.read(rsdp_address, rsdp, 20)) return plan;
  if (std::memcmp(rsdp, "RSD PTR ", 8) != 0 || checksum(rsdp, 20) != 0) {
    plan.unavailable_reason = "RSDP signature or checksum is bad";
    return plan;
  }
  const u8 revision = rsdp[15];
  u64 xsdt = 0;
  if (revision >= 2 && memory.read(rsdp_address, rsdp, 36) && checksum(rsdp, 36) == 0) xsdt = load<u64>(rsdp + 24);
  const u32 rsdt = load<u32>(rsdp + 16);

  static Table root;
  const bool use_xsdt = xsdt != 0 && read_table(memory, Hpa(xsdt), "XSDT", root);
  if (!use_xsdt && !read_table(memory, Hpa(rsdt), "RSDT", root)) {
    plan.unavailable_reason = "no valid XSDT or RSDT";
    return plan;
  }
  const usize entry_size = use_xsdt ? 8 : 4;
  const usize root_body = (root.length < Table::capacity ? root.length : Table::capacity) - sdt_header_size;
  static Table fadt;
  bool have_fadt = false;
  for (usize off = 0; off + entry_size <= root_body && !have_fadt; off += entry_size) {
    const u8* e = root.bytes + sdt_header_size + off;
    const u64 address = use_xsdt ? load<u64>(e) : load<u32>(e);
    have_fadt = read_table(memory, Hpa(address), "FACP", fadt);
  }
  if (!have_fadt) {
    plan.unavailable_reason = "no valid FADT";
    return plan;
  }
  const u8* f = fadt.bytes;
  if (fadt.length >= 116 && (load<u32>(f + 112) & (1u << 20))) {
    plan.unavailable_reason = "hardware-reduced ACPI (sleep registers) is not supported";
    return plan;
  }
  if (fadt.length < 90) {
    plan.unavailable_reason = "FADT too short";
    return plan;
  }
  u64 pm1a = load<u32>(f + 64);
  u64 pm1b = load<u32>(f + 68);
  u64 dsdt = load<u32>(f + 40);
  if (fadt.length >= 148 && load<u64>(f + 140) != 0) dsdt = load<u64>(f + 140);
  // X_PM1a/b_CNT_BLK (generic address structures) win when present and in I/O space (id 1).
  if (fadt.length >= 184 && load<u64>(f + 172 + 4) != 0) {
    if (f[172] != 1) {
      plan.unavailable_reason = "PM1a control block is not in I/O space";
      return plan;
    }
    pm1a = load<u64>(f + 172 + 4);
  }
  if (fadt.length >= 196 && load<u64>(f + 184 + 4) != 0 && f[184] == 1) pm1b = load<u64>(f + 184 + 4);
  if (pm1a == 0 || pm1a > 0xFFFF || pm1b > 0xFFFF) {
    plan.unavailable_reason = "no usable PM1a control port";
    return plan;
  }
  u8 a = 0, b = 0;
  if (!s5_from_table(memory, Hpa(dsdt), "DSDT", a, b)) {
    plan.unavailable_reason = "no \\_S5 package in the DSDT";
    return plan;
  }
  plan.available = true;
  plan.unavailable_reason = "";
  plan.pm1a_control = static_cast<u16>(pm1a);
  plan.pm1b_control = static_cast<u16>(pm1b);
  plan.sleep_type_a = a & 7;
  plan.sleep_type_b = b & 7;
  return plan;
}

namespace {
// PM1 control register bits (ACPI 6.5, 4.8 "PM1 Control Registers"): SCI_EN (0), BM_RLD (1),
// GBL_RLS (2) and the rest keep what the register holds; only the sleep type and enable are ours.
constexpr u16 pm1_slp_typ_shift = 10;
constexpr u16 pm1_slp_typ_mask = 7u << pm1_slp_typ_shift;  // SLP_TYPx, bits 12:10
constexpr u16 pm1_slp_en = 1u << 13;

// Read-modify-write of one PM1 control block: clearing SCI_EN would hand the machine back to
// legacy (SMI) mode just as we ask it to sleep.
void enter_sleep_state(Port_io& io, u16 port, u8 sleep_type) {
  const u16 kept = static_cast<u16>(io.in16(port) & ~(pm1_slp_typ_mask | pm1_slp_en));
  const u16 sleep = static_cast<u16>(((sleep_type & 7u) << pm1_slp_typ_shift) | pm1_slp_en);
  io.out16(port, static_cast<u16>(kept | sleep));
}
} // namespace

void acpi_power_off(Port_io& io, const Acpi_power_off& plan) {
  if (!plan.available) return;
  enter_sleep_state(io, plan.pm1a_control, plan.sleep_type_a);
  if (plan.pm1b_control != 0) enter_sleep_state(io, plan.pm1b_control, plan.sleep_type_b);
}

} // namespace hv
