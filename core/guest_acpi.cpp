// core/guest_acpi.cpp - see guest_acpi.hpp. Field offsets are ACPI 6.5's (tables 5.3, 5.9,
// 5.19 and 5.20, 5.24, 5.28); every table ends checksummed.
#include "core/guest_acpi.hpp"
#include "core/aml_builder.hpp"
#include <cstring>

namespace hv {
namespace {

constexpr usize header_size = 36;
constexpr usize fadt_size = 276;  // FADT revision 6

void put8(std::span<u8> t, usize at, u8 v) { t[at] = v; }
void put16(std::span<u8> t, usize at, u16 v) { std::memcpy(&t[at], &v, 2); }
void put32(std::span<u8> t, usize at, u32 v) { std::memcpy(&t[at], &v, 4); }
void put64(std::span<u8> t, usize at, u64 v) { std::memcpy(&t[at], &v, 8); }

void checksum(std::span<u8> t, usize at) {
  u8 sum = 0;
  for (u8 b : t) sum = static_cast<u8>(sum + b);
  t[at] = static_cast<u8>(t[at] - sum);
}

// The common System Description Table header (table 5.4); the checksum is set by finish().
void header(std::span<u8> t, const char* signature, u8 revision) {
  std::memcpy(&t[0], signature, 4);
  put32(t, 4, static_cast<u32>(t.size()));
  put8(t, 8, revision);
  std::memcpy(&t[10], "HV    ", 6);    // OEMID
  std::memcpy(&t[16], "HV", 2);        // OEM table id: "HV" and the signature ("HVFACP  ")
  std::memcpy(&t[18], signature, 4);
  std::memcpy(&t[22], "  ", 2);
  put32(t, 24, 1);                     // OEM revision
  std::memcpy(&t[28], "HV  ", 4);      // creator id
  put32(t, 32, 1);                     // creator revision
}
void finish(std::span<u8> t) { checksum(t, 9); }

// A Generic Address Structure (table 5.1) for a one-byte I/O port.
void gas_io_byte(std::span<u8> t, usize at, u16 port) {
  put8(t, at, 1);       // system I/O space
  put8(t, at + 1, 8);   // register bit width
  put8(t, at + 2, 0);   // bit offset
  put8(t, at + 3, 1);   // access size: byte
  put64(t, at + 4, port);
}

void write_fadt(std::span<u8> t, const Guest_acpi_config& c, u64 dsdt) {
  header(t, "FACP", 6);
  put32(t, 40, static_cast<u32>(dsdt));  // DSDT (32-bit; X_DSDT below wins)
  put16(t, 46, 9);                       // SCI_INT: unused with hardware-reduced ACPI
  u16 boot_arch = 1u << 2;               // IAPC_BOOT_ARCH: VGA not present; no 8042 (bit 1 clear)
  if (!c.rtc) boot_arch |= 1u << 5;      // CMOS RTC not present
  put16(t, 109, boot_arch);
  if (c.rtc) put8(t, 108, 0x32);         // CENTURY: the RTC's century byte
  // Flags: WBINVD (0), PWR_BUTTON (4) and SLP_BUTTON (5) = no fixed buttons, RESET_REG_SUP (10),
  // HW_REDUCED_ACPI (20): no PM1 blocks, no PM timer, no GPEs, no FACS; sleep through the
  // sleep control register.
  put32(t, 112, (1u << 0) | (1u << 4) | (1u << 5) | (1u << 10) | (1u << 20));
  gas_io_byte(t, 116, guest_acpi::reset_port);  // RESET_REG
  put8(t, 128, guest_acpi::reset_value);        // RESET_VALUE
  put8(t, 131, 5);                              // FADT minor version (6.5)
  put64(t, 140, dsdt);                          // X_DSDT
  gas_io_byte(t, 244, guest_acpi::sleep_control_port);  // SLEEP_CONTROL_REG
  gas_io_byte(t, 256, guest_acpi::sleep_status_port);   // SLEEP_STATUS_REG
  std::memcpy(&t[268], "HVHVHVHV", 8);                  // hypervisor vendor identity
  finish(t);
}

// The DSDT's AML, as this ASL would compile:
//   Name (\_S5, Package () { 5, 0, 0, 0 })
//   Scope (\_SB) {
//     Device (C000) { Name (_HID, "ACPI0007") Name (_UID, 0) }   ... one per vCPU
//     Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, 1)
//                     Name (_CRS, ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} }) }
//     Device (VR00) { Name (_HID, "LNRO0005") Name (_UID, 0)      ... virtio-mmio, one per device
//                     Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, base, size)
//                       Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } }) }
//   }
// "LNRO0005" is the id Linux's virtio_mmio driver matches in ACPI (drivers/virtio/virtio_mmio.c).
bool write_dsdt_body(Aml_builder& a, const Guest_acpi_config& c) {
  a.byte(aml::name_op);
  a.byte(aml::root_char);
  a.name_seg("_S5_");
  const usize s5 = a.package(4);
  a.integer(guest_acpi::s5_sleep_type);
  a.integer(0);
  a.integer(0);
  a.integer(0);
  a.close(s5);

  const usize sb = a.scope("_SB_");
  for (u32 i = 0; i < c.cpus; ++i) {
    const char seg[4] = {'C', static_cast<char>('0' + i / 100 % 10), static_cast<char>('0' + i / 10 % 10),
                         static_cast<char>('0' + i % 10)};
    const usize d = a.device(std::string_view(seg, 4));
    a.name("_HID");
    a.string("ACPI0007");
    a.name("_UID");
    a.integer(i);
    a.close(d);
  }
  if (c.uart) {
    const usize d = a.device("COM1");
    a.name("_HID");
    a.dword(aml::eisa_id("PNP0501"));
    a.name("_UID");
    a.integer(1);
    a.name("_CRS");
    const usize r = a.resource_template();
    a.io_port(0x3F8, 8);
    a.irq_no_flags(4);
    a.end_resource_template(r);
    a.close(d);
  }
  for (usize i = 0; i < c.virtio.size(); ++i) {
    const Guest_acpi_virtio& v = c.virtio[i];
    const char seg[4] = {'V', 'R', static_cast<char>('0' + i / 10), static_cast<char>('0' + i % 10)};
    const usize d = a.device(std::string_view(seg, 4));
    a.name("_HID");
    a.string("LNRO0005");
    a.name("_UID");
    a.integer(i);
    a.name("_CRS");
    const usize r = a.resource_template();
    a.memory32_fixed(static_cast<u32>(v.base), v.size, true);
    a.extended_interrupt(v.gsi, aml::interrupt_consumer | aml::interrupt_edge);
    a.end_resource_template(r);
    a.close(d);
  }
  a.close(sb);
  return a.ok();
}

usize write_madt(std::span<u8> t, const Guest_acpi_config& c) {
  usize at = header_size;
  put32(t, at, static_cast<u32>(c.local_apic_address));
  put32(t, at + 4, 0);  // flags: no PCAT_COMPAT (there is no 8259 pair)
  at += 8;
  for (u32 i = 0; i < c.cpus; ++i) {  // Processor Local APIC (table 5.22)
    put8(t, at, 0);
    put8(t, at + 1, 8);
    put8(t, at + 2, static_cast<u8>(i));  // ACPI processor UID (the DSDT's _UID)
    put8(t, at + 3, static_cast<u8>(i));  // APIC id
    put32(t, at + 4, 1);                  // enabled
    at += 8;
  }
  if (c.io_apic_address) {  // I/O APIC (table 5.24): GSIs from 0
    put8(t, at, 1);
    put8(t, at + 1, 12);
    put8(t, at + 2, c.io_apic_id);
    put32(t, at + 4, static_cast<u32>(c.io_apic_address));
    put32(t, at + 8, 0);
    at += 12;
  }
  // Local APIC NMI (table 5.30): LINT1 of every processor is the NMI input, as on a PC.
  put8(t, at, 4);
  put8(t, at + 1, 6);
  put8(t, at + 2, 0xFF);
  put16(t, at + 3, 0);
  put8(t, at + 5, 1);
  return at + 6;
}

} // namespace

Guest_acpi_tables build_guest_acpi(const Guest_acpi_config& c, u64 base, std::span<u8> out) {
  Guest_acpi_tables r;
  if (c.cpus == 0 || c.cpus > guest_acpi::max_cpus) { r.error = "vCPU count outside 1..16"; return r; }
  if (c.virtio.size() > guest_acpi::max_virtio) { r.error = "more than 4 virtio devices"; return r; }
  for (const Guest_acpi_virtio& v : c.virtio)
    if (v.base > 0xFFFFFFFF - v.size || v.size == 0) { r.error = "a virtio window is not below 4 GiB"; return r; }
  if (out.size() < guest_acpi::tables_max) { r.error = "table buffer too small"; return r; }
  std::memset(out.data(), 0, guest_acpi::tables_max);

  // Layout: RSDP (36 bytes, 16-aligned) | XSDT | FADT | MADT | DSDT, each 16-byte aligned.
  auto align16 = [](usize v) { return (v + 15) & ~usize{15}; };
  const usize rsdp_at = 0, xsdt_at = 48, xsdt_size = header_size + 2 * 8;
  const usize fadt_at = align16(xsdt_at + xsdt_size);
  const usize madt_at = align16(fadt_at + fadt_size);
  std::span<u8> scratch = out.subspan(madt_at, 1024);
  const usize madt_size = write_madt(scratch, c);
  std::span<u8> madt = out.subspan(madt_at, madt_size);
  const usize dsdt_at = align16(madt_at + madt_size);
  if (dsdt_at + header_size >= guest_acpi::tables_max) { r.error = "tables do not fit a page"; return r; }
  Aml_builder aml(out.subspan(dsdt_at + header_size, guest_acpi::tables_max - dsdt_at - header_size));
  if (!write_dsdt_body(aml, c)) { r.error = "DSDT does not fit a page"; return r; }
  std::span<u8> dsdt = out.subspan(dsdt_at, header_size + aml.size());

  r.rsdp = base + rsdp_at;
  r.xsdt = base + xsdt_at;
  r.fadt = base + fadt_at;
  r.madt = base + madt_at;
  r.dsdt = base + dsdt_at;

  header(dsdt, "DSDT", 2);
  finish(dsdt);
  header(madt, "APIC", 5);
  finish(madt);
  write_fadt(out.subspan(fadt_at, fadt_size), c, r.dsdt);
  std::span<u8> xsdt = out.subspan(xsdt_at, xsdt_size);
  header(xsdt, "XSDT", 1);
  put64(xsdt, header_size, r.fadt);
  put64(xsdt, header_size + 8, r.madt);
  finish(xsdt);

  // RSDP (table 5.3), revision 2: the first 20 bytes have their own checksum, all 36 another.
  std::span<u8> rsdp = out.subspan(rsdp_at, 36);
  std::memcpy(&rsdp[0], "RSD PTR ", 8);
  std::memcpy(&rsdp[9], "HV    ", 6);
  put8(rsdp, 15, 2);
  put32(rsdp, 16, 0);  // no RSDT: the XSDT is the root
  put32(rsdp, 20, 36);
  put64(rsdp, 24, r.xsdt);
  checksum(rsdp.first(20), 8);
  checksum(rsdp, 32);
  r.size = dsdt_at + dsdt.size();
  return r;
}

} // namespace hv
