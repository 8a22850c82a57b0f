// tests/unit/acpi_test.cpp - finding the ACPI S5 power-off plan in synthetic tables: RSDP v1/v2,
// RSDT/XSDT, FADT (legacy and extended PM1 blocks, hardware-reduced), DSDT with \_S5 in its
// AML encodings, and broken or hostile tables. Tables live in a fake physical memory (a map of
// address -> bytes; a read must lie inside one block, as reads past a table do on hardware).
#include "arch/x86/fake/fake_cpu.hpp"
#include "core/acpi.hpp"
#include <gtest/gtest.h>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace hv {
namespace {

using Bytes = std::vector<u8>;

class Fake_physical final : public Physical_reader {
public:
  bool read(Hpa address, void* destination, usize length) override {
    ++reads;
    auto it = blocks.upper_bound(address.value());
    if (it == blocks.begin()) return false;
    --it;
    const u64 offset = address.value() - it->first;
    if (offset > it->second.size() || length > it->second.size() - offset) return false;
    std::memcpy(destination, it->second.data() + offset, length);
    return true;
  }
  std::map<u64, Bytes> blocks;
  u64 reads = 0;
};

template <typename T>
void put(Bytes& b, usize offset, T value) {
  if (b.size() < offset + sizeof value) b.resize(offset + sizeof value);
  std::memcpy(b.data() + offset, &value, sizeof value);
}

u8 sum(const Bytes& b, usize from, usize n) {
  u8 s = 0;
  for (usize i = from; i < from + n; ++i) s = static_cast<u8>(s + b[i]);
  return s;
}

// A table: 36-byte header with signature and length, body, checksum fixed up.
Bytes sdt(const char* signature, const Bytes& body) {
  Bytes t(36, 0);
  std::memcpy(t.data(), signature, 4);
  t[8] = 2;  // revision
  std::memcpy(t.data() + 10, "HVTEST", 6);
  t.insert(t.end(), body.begin(), body.end());
  put<u32>(t, 4, static_cast<u32>(t.size()));
  t[9] = static_cast<u8>(-sum(t, 0, t.size()));
  return t;
}

Bytes rsdp_v1(u32 rsdt) {
  Bytes r(20, 0);
  std::memcpy(r.data(), "RSD PTR ", 8);
  std::memcpy(r.data() + 9, "HVTEST", 6);
  r[15] = 0;
  put<u32>(r, 16, rsdt);
  r[8] = static_cast<u8>(-sum(r, 0, 20));
  return r;
}

Bytes rsdp_v2(u32 rsdt, u64 xsdt) {
  Bytes r(36, 0);
  std::memcpy(r.data(), "RSD PTR ", 8);
  std::memcpy(r.data() + 9, "HVTEST", 6);
  r[15] = 2;
  put<u32>(r, 16, rsdt);
  put<u32>(r, 20, 36);
  put<u64>(r, 24, xsdt);
  r[8] = static_cast<u8>(-sum(r, 0, 20));
  r[32] = static_cast<u8>(-sum(r, 0, 36));
  return r;
}

Bytes rsdt(std::vector<u32> entries) {
  Bytes body;
  for (u32 e : entries) put<u32>(body, body.size(), e);
  return sdt("RSDT", body);
}

Bytes xsdt(std::vector<u64> entries) {
  Bytes body;
  for (u64 e : entries) put<u64>(body, body.size(), e);
  return sdt("XSDT", body);
}

struct Fadt_spec {
  u32 dsdt = 0;
  u64 x_dsdt = 0;
  u32 pm1a = 0;
  u32 pm1b = 0;
  u32 flags = 0;
  u64 x_pm1a = 0;
  u8 x_pm1a_space = 1;  // 1 = system I/O
  u64 x_pm1b = 0;
  usize length = 276;  // ACPI 6.x
};

Bytes fadt(const Fadt_spec& s) {
  Bytes body(s.length - 36, 0);
  auto at = [&](usize table_offset) { return table_offset - 36; };
  put<u32>(body, at(40), s.dsdt);
  put<u32>(body, at(64), s.pm1a);
  put<u32>(body, at(68), s.pm1b);
  if (s.length >= 116) put<u32>(body, at(112), s.flags);
  if (s.length >= 148) put<u64>(body, at(140), s.x_dsdt);
  if (s.length >= 184) {
    body[at(172)] = s.x_pm1a_space;
    body[at(173)] = 16;
    put<u64>(body, at(176), s.x_pm1a);
  }
  if (s.length >= 196) {
    body[at(184)] = 1;
    body[at(185)] = 16;
    put<u64>(body, at(188), s.x_pm1b);
  }
  body.resize(s.length - 36);
  return sdt("FACP", body);
}

// Name (_S5, Package (4) {a, b, 0, 0}) with BytePrefix values, as iasl emits it.
Bytes s5_aml(u8 a, u8 b) { return {0x08, '_', 'S', '5', '_', 0x12, 0x0A, 0x04, 0x0A, a, 0x0A, b, 0x00, 0x00}; }

Bytes dsdt(const Bytes& aml) { return sdt("DSDT", aml); }

constexpr u64 rsdp_at = 0xE0000, rsdt_at = 0x7FE0000, xsdt_at = 0x7FE1000, fadt_at = 0x7FE2000,
              dsdt_at = 0x7FE3000, other_at = 0x7FE8000;

// QEMU's q35 layout, more or less: PM1a_CNT at 0x604, \_S5 = {0, 0}... here {5, 5}.
struct Machine {
  Fake_physical memory;
  Machine(bool v2 = true) {
    memory.blocks[rsdp_at] = v2 ? rsdp_v2(rsdt_at, xsdt_at) : rsdp_v1(rsdt_at);
    memory.blocks[rsdt_at] = rsdt({0x7FE7000, fadt_at});
    if (v2) memory.blocks[xsdt_at] = xsdt({0x7FE7000, fadt_at});
    memory.blocks[0x7FE7000] = sdt("APIC", Bytes(44, 0));
    Fadt_spec f;
    f.dsdt = dsdt_at;
    f.pm1a = 0x604;
    memory.blocks[fadt_at] = fadt(f);
    memory.blocks[dsdt_at] = dsdt(s5_aml(5, 5));
  }
  Acpi_power_off find() { return find_acpi_power_off(memory, Hpa(rsdp_at)); }
};

TEST(AcpiPowerOff, RsdpV1ThroughRsdtFadtAndDsdt) {
  Machine m(false);
  const Acpi_power_off p = m.find();
  ASSERT_TRUE(p.available) << p.unavailable_reason;
  EXPECT_EQ(p.pm1a_control, 0x604);
  EXPECT_EQ(p.pm1b_control, 0);
  EXPECT_EQ(p.sleep_type_a, 5);
  EXPECT_EQ(p.sleep_type_b, 5);
  EXPECT_STREQ(p.unavailable_reason, "");
}

TEST(AcpiPowerOff, RsdpV2PrefersTheXsdt) {
  Machine m;
  Fadt_spec other;
  other.dsdt = dsdt_at;
  other.pm1a = 0x1004;
  m.memory.blocks[other_at] = fadt(other);
  m.memory.blocks[xsdt_at] = xsdt({other_at});
  const Acpi_power_off p = m.find();
  ASSERT_TRUE(p.available) << p.unavailable_reason;
  EXPECT_EQ(p.pm1a_control, 0x1004);
}

TEST(AcpiPowerOff, ABadXsdtFallsBackToTheRsdt) {
  Machine m;
  m.memory.blocks[xsdt_at][9] ^= 1;  // checksum
  const Acpi_power_off p = m.find();
  ASSERT_TRUE(p.available) << p.unavailable_reason;
  EXPECT_EQ(p.pm1a_control, 0x604);
}

TEST(AcpiPowerOff, ABadExtendedRsdpChecksumFallsBackToTheRsdt) {
  Machine m;
  Fadt_spec other;
  other.dsdt = dsdt_at;
  other.pm1a = 0x1004;
  m.memory.blocks[other_at] = fadt(other);
  m.memory.blocks[xsdt_at] = xsdt({other_at});
  m.memory.blocks[rsdp_at][32] ^= 0xFF;  // extended checksum only: the v1 part stays valid
  const Acpi_power_off p = m.find();
  ASSERT_TRUE(p.available) << p.unavailable_reason;
  EXPECT_EQ(p.pm1a_control, 0x604);
}

TEST(AcpiPowerOff, NoRsdpOrABrokenOneIsReported) {
  Fake_physical empty;
  EXPECT_FALSE(find_acpi_power_off(empty, Hpa(0)).available);
  EXPECT_STREQ(find_acpi_power_off(empty, Hpa(0)).unavailable_reason, "no RSDP");
  EXPECT_FALSE(find_acpi_power_off(empty, Hpa(rsdp_at)).available);

  Machine bad_sum;
  bad_sum.memory.blocks[rsdp_at][8] ^= 1;
  EXPECT_STREQ(bad_sum.find().unavailable_reason, "RSDP signature or checksum is bad");
  Machine bad_sig;
  bad_sig.memory.blocks[rsdp_at][0] = 'X';
  EXPECT_FALSE(bad_sig.find().available);
}

TEST(AcpiPowerOff, NoValidRootTable) {
  Machine m;
  m.memory.blocks.erase(xsdt_at);
  m.memory.blocks[rsdt_at][0] = 'X';  // signature
  const Acpi_power_off p = m.find();
  EXPECT_FALSE(p.available);
  EXPECT_STREQ(p.unavailable_reason, "no valid XSDT or RSDT");
}

TEST(AcpiPowerOff, AFadtWithABadChecksumIsNotUsed) {
  Machine m;
  m.memory.blocks[fadt_at][100] ^= 0x10;
  const Acpi_power_off p = m.find();
  EXPECT_FALSE(p.available);
  EXPECT_STREQ(p.unavailable_reason, "no valid FADT");
}

TEST(AcpiPowerOff, TruncatedTablesAreRejected) {
  // The FADT says 276 bytes but memory ends earlier (a table cut by a bad map): not read.
  for (usize keep : {usize{0}, usize{10}, usize{36}, usize{200}, usize{275}}) {
    Machine m;
    m.memory.blocks[fadt_at].resize(keep);
    EXPECT_FALSE(m.find().available) << "FADT cut to " << keep;
  }
  Machine m;
  m.memory.blocks[dsdt_at].resize(m.memory.blocks[dsdt_at].size() - 1);
  const Acpi_power_off p = m.find();
  EXPECT_FALSE(p.available);
  EXPECT_STREQ(p.unavailable_reason, "no \\_S5 package in the DSDT");
}

TEST(AcpiPowerOff, HostileLengthsAreBoundedAndRejected) {
  for (u32 length : {0u, 35u, 0xFFFFFFFFu, 0x80000000u, 64u * 1024 * 1024}) {
    Machine m;
    put<u32>(m.memory.blocks[fadt_at], 4, length);
    const u64 reads_before = m.memory.reads;
    EXPECT_FALSE(m.find().available) << "FADT length " << length;
    EXPECT_LT(m.memory.reads - reads_before, 1000u) << "hostile length must not drive a long scan";
  }
  // A root table whose length claims more entries than memory holds.
  Machine m;
  put<u32>(m.memory.blocks[xsdt_at], 4, 0x100000);
  m.memory.blocks.erase(rsdt_at);
  EXPECT_FALSE(m.find().available);
}

TEST(AcpiPowerOff, ShortFadtWithoutExtendedFieldsStillWorks) {
  Machine m;
  Fadt_spec f;
  f.dsdt = dsdt_at;
  f.pm1a = 0x4004;
  f.pm1b = 0x4104;
  f.length = 116;  // ACPI 1.0
  m.memory.blocks[fadt_at] = fadt(f);
  const Acpi_power_off p = m.find();
  ASSERT_TRUE(p.available) << p.unavailable_reason;
  EXPECT_EQ(p.pm1a_control, 0x4004);
  EXPECT_EQ(p.pm1b_control, 0x4104);
}

TEST(AcpiPowerOff, AFadtTooShortForThePm1BlocksIsRejected) {
  Machine m;
  Fadt_spec f;
  f.dsdt = dsdt_at;
  f.pm1a = 0x604;
  f.length = 72;
  m.memory.blocks[fadt_at] = fadt(f);
  const Acpi_power_off p = m.find();
  EXPECT_FALSE(p.available);
  EXPECT_STREQ(p.unavailable_reason, "FADT too short");
}

TEST(AcpiPowerOff, HardwareReducedAcpiIsReported) {
  Machine m;
  Fadt_spec f;
  f.dsdt = dsdt_at;
  f.flags = 1u << 20;  // HW_REDUCED_ACPI
  m.memory.blocks[fadt_at] = fadt(f);
  const Acpi_power_off p = m.find();
  EXPECT_FALSE(p.available);
  EXPECT_STREQ(p.unavailable_reason, "hardware-reduced ACPI (sleep registers) is not supported");
}

TEST(AcpiPowerOff, ExtendedPm1BlocksAndXDsdtWin) {
  Machine m;
  Fadt_spec f;
  f.dsdt = 0x1234000;  // nothing there
  f.x_dsdt = dsdt_at;
  f.pm1a = 0x604;
  f.x_pm1a = 0x1804;
  f.x_pm1b = 0x1904;
  m.memory.blocks[fadt_at] = fadt(f);
  const Acpi_power_off p = m.find();
  ASSERT_TRUE(p.available) << p.unavailable_reason;
  EXPECT_EQ(p.pm1a_control, 0x1804);
  EXPECT_EQ(p.pm1b_control, 0x1904);
}

TEST(AcpiPowerOff, Pm1aInMemorySpaceOrBeyondPortSpaceIsRefused) {
  Machine m;
  Fadt_spec f;
  f.dsdt = dsdt_at;
  f.x_pm1a = 0xFED00000;
  f.x_pm1a_space = 0;  // system memory
  m.memory.blocks[fadt_at] = fadt(f);
  EXPECT_STREQ(m.find().unavailable_reason, "PM1a control block is not in I/O space");

  Machine n;
  Fadt_spec g;
  g.dsdt = dsdt_at;
  g.x_pm1a = 0x10000;  // I/O space, but ports are 16-bit
  n.memory.blocks[fadt_at] = fadt(g);
  EXPECT_STREQ(n.find().unavailable_reason, "no usable PM1a control port");

  Machine z;
  Fadt_spec h;
  h.dsdt = dsdt_at;  // no PM1a at all
  z.memory.blocks[fadt_at] = fadt(h);
  EXPECT_STREQ(z.find().unavailable_reason, "no usable PM1a control port");
}

TEST(AcpiPowerOff, SleepTypesAreCutToThreeBits) {
  Machine m;
  m.memory.blocks[dsdt_at] = dsdt(s5_aml(0x0F, 0x1D));
  const Acpi_power_off p = m.find();
  ASSERT_TRUE(p.available);
  EXPECT_EQ(p.sleep_type_a, 7);
  EXPECT_EQ(p.sleep_type_b, 5);
}

TEST(AcpiPowerOff, ADsdtLargerThanTheCopyBufferIsCheckedWhole) {
  Bytes aml = s5_aml(5, 5);
  aml.resize(200 * 1024, 0xA3);  // 200 KiB of other AML after \_S5
  constexpr u64 big_dsdt_at = 0x9000000;  // clear of the other tables
  Machine m;
  m.memory.blocks[big_dsdt_at] = dsdt(aml);
  Fadt_spec f;
  f.dsdt = big_dsdt_at;
  f.pm1a = 0x604;
  m.memory.blocks[fadt_at] = fadt(f);
  EXPECT_TRUE(m.find().available) << m.find().unavailable_reason;
  m.memory.blocks[big_dsdt_at][150 * 1024] ^= 1;  // a checksum error far beyond the copied part
  EXPECT_FALSE(m.find().available);
}

// S5 through PM1a at 0x604 (SLP_TYPa 5) and PM1b at 0x704 (SLP_TYPb 2).
Acpi_power_off two_block_plan() {
  Acpi_power_off plan;
  plan.available = true;
  plan.pm1a_control = 0x604;
  plan.pm1b_control = 0x704;
  plan.sleep_type_a = 5;
  plan.sleep_type_b = 2;
  return plan;
}

TEST(AcpiPowerOff, WritesSleepTypeAndEnableToEachPm1Block) {
  const Acpi_power_off plan = two_block_plan();
  Fake_port_io io;
  io.default_reads[0x604] = 0;
  io.default_reads[0x704] = 0;
  acpi_power_off(io, plan);
  const std::vector<Fake_port_io::Write> want = {{0x604, 0x3400, 2}, {0x704, 0x2800, 2}};
  EXPECT_EQ(io.writes, want);
}

// Each PM1 control block is read first; SCI_EN and every other bit but SLP_TYPx (12:10) and
// SLP_EN (13) are written back as read, so the machine stays in ACPI mode while it sleeps.
TEST(AcpiPowerOff, KeepsSciEnAndTheOtherPm1ControlBits) {
  const Acpi_power_off plan = two_block_plan();
  Fake_port_io io;
  io.scripted_reads[0x604] = {0x0001};             // SCI_EN
  io.scripted_reads[0x704] = {0xC203 | (7u << 10)};  // SCI_EN, BM_RLD, bit 9, bits 15:14, a stale SLP_TYP
  acpi_power_off(io, plan);
  const std::vector<Fake_port_io::Write> want = {{0x604, 0x3401, 2}, {0x704, 0xEA03, 2}};
  EXPECT_EQ(io.writes, want);
  EXPECT_EQ(io.reads, 2u);
  EXPECT_TRUE(io.scripted_reads[0x604].empty());
  EXPECT_TRUE(io.scripted_reads[0x704].empty());
}

TEST(AcpiPowerOff, WithoutPm1bOnlyPm1aIsReadAndWritten) {
  Acpi_power_off plan;
  plan.available = true;
  plan.pm1a_control = 0xB004;
  plan.sleep_type_a = 4;
  Fake_port_io io;
  io.default_reads[0xB004] = 0x0001 | (3u << 10);  // SCI_EN and an old SLP_TYP, which is replaced
  acpi_power_off(io, plan);
  const std::vector<Fake_port_io::Write> want = {{0xB004, 0x3001, 2}};
  EXPECT_EQ(io.writes, want);
  EXPECT_EQ(io.reads, 1u);
}

// \_S5 in its AML encodings.
bool s5(const Bytes& aml, u8& a, u8& b) {
  // An exact-size heap copy: ASan flags any read past the end.
  std::vector<u8> copy(aml);
  return find_s5_sleep_types(copy.data(), copy.size(), a, b);
}

TEST(AcpiS5, ZeroOneAndBytePrefixIntegers) {
  u8 a = 9, b = 9;
  ASSERT_TRUE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00}, a, b));  // Zero, Zero
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 0);
  ASSERT_TRUE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x01, 0x0A, 0x07}, a, b));  // One, Byte 7
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 7);
}

TEST(AcpiS5, RootedName) {
  u8 a = 0, b = 0;
  ASSERT_TRUE(s5({0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x06, 0x00, 0x00}, a, b));
  EXPECT_EQ(a, 5);
  EXPECT_EQ(b, 6);
}

TEST(AcpiS5, MultiBytePackageLengths) {
  u8 a = 0, b = 0;
  // Two-byte PkgLength (lead 0x4N): as emitted for a package padded past 63 bytes.
  ASSERT_TRUE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x41, 0x01, 0x02, 0x0A, 0x03, 0x0A, 0x04}, a, b));
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, 4);
  // Three- and four-byte PkgLength.
  ASSERT_TRUE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x80, 0x00, 0x01, 0x02, 0x01, 0x00}, a, b));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  ASSERT_TRUE(s5({0x08, '_', 'S', '5', '_', 0x12, 0xC0, 0x00, 0x00, 0x01, 0x02, 0x0A, 0x02, 0x01}, a, b));
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 1);
}

TEST(AcpiS5, ASingleElementPackageGivesBothBlocksTheSameType) {
  u8 a = 0, b = 0;
  ASSERT_TRUE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0A, 0x05}, a, b));
  EXPECT_EQ(a, 5);
  EXPECT_EQ(b, 5);
}

TEST(AcpiS5, TheNameMustBeDeclaredNotJustMentioned) {
  u8 a = 0, b = 0;
  // "_S5_" inside a string (0x0D StringPrefix) and as a method reference, then the real one.
  Bytes aml = {0x0D, '_', 'S', '5', '_', 0x00, 0x70, '_', 'S', '5', '_', 0x60};
  EXPECT_FALSE(s5(aml, a, b));
  const Bytes real = s5_aml(5, 6);
  aml.insert(aml.end(), real.begin(), real.end());
  ASSERT_TRUE(s5(aml, a, b));
  EXPECT_EQ(a, 5);
  EXPECT_EQ(b, 6);
}

TEST(AcpiS5, NonIntegerElementsOrEmptyPackagesAreRejected) {
  u8 a = 0, b = 0;
  EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x02, 0x00}, a, b));                    // no elements
  EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x0D, 'x', 0x00}, a, b));    // a string
  EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x0A, 0x05}, a, b));                          // not a package
  EXPECT_FALSE(s5({0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x0A, 0x05, 0x0D}, a, b));  // b is a string
}

TEST(AcpiS5, EveryTruncationOfAValidPackageFailsCleanly) {
  const std::vector<Bytes> encodings = {
      s5_aml(5, 5),
      {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x41, 0x01, 0x02, 0x0A, 0x03, 0x0A, 0x04},
      {0x08, '_', 'S', '5', '_', 0x12, 0xC0, 0x00, 0x00, 0x01, 0x02, 0x0A, 0x02, 0x01},
  };
  for (const Bytes& full : encodings) {
    // Where the second integer ends, the package is complete; any shorter prefix is not.
    usize complete = full.size();
    if (full == encodings[0]) complete = 12;
    for (usize n = 0; n < full.size(); ++n) {
      u8 a = 0, b = 0;
      const Bytes prefix(full.begin(), full.begin() + static_cast<long>(n));
      if (n < complete) {
        EXPECT_FALSE(s5(prefix, a, b)) << "prefix of " << n << " bytes";
      }
    }
  }
}

} // namespace
} // namespace hv
