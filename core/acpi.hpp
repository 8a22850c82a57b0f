// core/acpi.hpp - just enough ACPI to power the machine off: RSDP -> XSDT/RSDT -> FADT for the
// PM1 control blocks, and the \_S5 package in the DSDT for the sleep-type values (ACPI 6.5
// sections 5.2 and 7.4.2). Both builds: tables are read through Physical_reader, so unit tests
// hand in synthetic tables. Tables are validated (signatures, lengths, checksums) before use.
#pragma once
#include "arch/x86/address.hpp"
#include "arch/x86/port_io.hpp"

namespace hv {

// Reads host physical memory. Returns false where nothing may be read (outside RAM/tables).
class Physical_reader {
public:
  virtual bool read(Hpa address, void* destination, usize length) = 0;

protected:
  ~Physical_reader() = default;
};

struct Acpi_power_off {
  bool available = false;
  const char* unavailable_reason = "no RSDP";
  u16 pm1a_control = 0;  // I/O port of PM1a_CNT
  u16 pm1b_control = 0;  // 0 when the machine has no PM1b block
  u8 sleep_type_a = 0;   // SLP_TYPa for S5
  u8 sleep_type_b = 0;
};

[[nodiscard]] Acpi_power_off find_acpi_power_off(Physical_reader& memory, Hpa rsdp);

// Parses the \_S5_ package out of AML bytes (a DSDT or SSDT body). False if absent/malformed.
[[nodiscard]] bool find_s5_sleep_types(const u8* aml, usize length, u8& type_a, u8& type_b);

// Sets SLP_TYP and SLP_EN in the PM1 control blocks (PM1a, then PM1b if present), each by
// read-modify-write: every other bit (SCI_EN above all) keeps the value read. Returns only if
// the machine did not stop.
void acpi_power_off(Port_io& io, const Acpi_power_off& plan);

} // namespace hv
