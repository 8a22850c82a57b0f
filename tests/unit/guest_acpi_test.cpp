// tests/unit/guest_acpi_test.cpp - the ACPI tables a Linux VM gets (core/guest_acpi.hpp): every
// checksum, the pointers between tables, the FADT's hardware-reduced sleep registers, the MADT's
// entries, and the DSDT's AML decoded by an independent walker (PkgLengths must nest exactly).
#include "core/acpi.hpp"
#include "core/aml_builder.hpp"
#include "core/guest_acpi.hpp"
#include <gtest/gtest.h>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace hv {
namespace {

constexpr u64 base = guest_acpi::tables_base;

struct Built {
  std::vector<u8> bytes = std::vector<u8>(guest_acpi::tables_max);
  Guest_acpi_tables t;
  const u8* at(u64 gpa) const { return bytes.data() + (gpa - base); }
  template <typename T> T load(u64 gpa) const { T v; std::memcpy(&v, at(gpa), sizeof v); return v; }
};

Built build(const Guest_acpi_config& c) {
  Built b;
  b.t = build_guest_acpi(c, base, b.bytes);
  return b;
}

u8 sum(const u8* p, usize n) {
  u8 s = 0;
  for (usize i = 0; i < n; ++i) s = static_cast<u8>(s + p[i]);
  return s;
}

void expect_table(const Built& b, u64 gpa, const char* sig) {
  ASSERT_GE(gpa, base);
  EXPECT_EQ(std::memcmp(b.at(gpa), sig, 4), 0) << sig;
  const u32 len = b.load<u32>(gpa + 4);
  ASSERT_LE(gpa - base + len, b.t.size) << sig;
  EXPECT_EQ(sum(b.at(gpa), len), 0) << sig << " checksum";
}

// ---- an AML walker of its own: the forms hv emits, nothing more ----
struct Aml_device {
  std::string hid;
  u64 hid_eisa = 0;
  u64 uid = ~0ull;
  std::vector<u8> crs;
};
struct Aml_walk {
  const u8* p;
  const u8* end;
  bool ok = true;
  std::map<std::string, Aml_device> devices;
  std::vector<u64> s5;

  usize pkg_length(const u8*& q) {
    const u8 lead = *q;
    const usize extra = lead >> 6;
    usize len = extra ? lead & 0xF : lead & 0x3F;
    for (usize i = 0; i < extra; ++i) len |= usize{q[1 + i]} << (4 + 8 * i);
    q += 1 + extra;
    return len;
  }
  std::string name_string(const u8*& q) {
    std::string n;
    if (*q == 0x5C) { n = "\\"; ++q; }
    n.append(reinterpret_cast<const char*>(q), 4);
    q += 4;
    return n;
  }
  bool integer(const u8*& q, u64& v) {
    switch (*q) {
    case 0x00: case 0x01: v = *q++; return true;
    case 0x0A: v = q[1]; q += 2; return true;
    case 0x0B: v = q[1] | (q[2] << 8); q += 3; return true;
    case 0x0C: { u32 x; std::memcpy(&x, q + 1, 4); v = x; q += 5; return true; }
    default: return false;
    }
  }
  // One TermList [q, stop) inside device `dev` (empty: not in a device).
  void term_list(const u8* q, const u8* stop, const std::string& dev) {
    while (ok && q < stop) {
      if (*q == 0x10) {  // Scope
        const u8* s = q + 1;
        const usize len = pkg_length(s);
        const u8* body_end = q + 1 + len;
        if (body_end > stop) { ok = false; return; }
        name_string(s);
        term_list(s, body_end, dev);
        q = body_end;
      } else if (q[0] == 0x5B && q[1] == 0x82) {  // Device
        const u8* s = q + 2;
        const usize len = pkg_length(s);
        const u8* body_end = q + 2 + len;
        if (body_end > stop) { ok = false; return; }
        const std::string n = name_string(s);
        devices[n];
        term_list(s, body_end, n);
        q = body_end;
      } else if (*q == 0x08) {  // Name
        ++q;
        const std::string n = name_string(q);
        Aml_device* d = dev.empty() ? nullptr : &devices[dev];
        u64 v = 0;
        if (*q == 0x0D) {
          const char* str = reinterpret_cast<const char*>(q + 1);
          const usize sl = strnlen(str, stop - q - 1);
          if (d && n == "_HID") d->hid = std::string(str, sl);
          q += 2 + sl;
        } else if (*q == 0x11 || *q == 0x12) {
          const u8 op = *q;
          const u8* s = q + 1;
          const usize len = pkg_length(s);
          const u8* body_end = q + 1 + len;
          if (body_end > stop) { ok = false; return; }
          if (op == 0x12) {
            const u8 count = *s++;
            for (u8 i = 0; i < count; ++i) {
              if (!integer(s, v)) { ok = false; return; }
              if (n == "\\_S5_") s5.push_back(v);
            }
            if (s != body_end) { ok = false; return; }
          } else {
            if (!integer(s, v) || s + v != body_end) { ok = false; return; }
            if (d && n == "_CRS") d->crs.assign(s, body_end);
          }
          q = body_end;
        } else if (integer(q, v)) {
          if (d && n == "_UID") d->uid = v;
          if (d && n == "_HID") d->hid_eisa = v;
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    if (q != stop) ok = false;
  }
};

Aml_walk walk_dsdt(const Built& b) {
  const u32 len = b.load<u32>(b.t.dsdt + 4);
  Aml_walk w{b.at(b.t.dsdt + 36), b.at(b.t.dsdt + len)};
  w.term_list(w.p, w.end, "");
  return w;
}

TEST(GuestAcpi, EisaIdsEncodeAsAslDoes) {
  EXPECT_EQ(aml::eisa_id("PNP0A03"), 0x030AD041u);
  EXPECT_EQ(aml::eisa_id("PNP0501"), 0x0105D041u);
  EXPECT_EQ(aml::eisa_id("pnp0501"), 0u);
  EXPECT_EQ(aml::eisa_id("PNP05"), 0u);
  EXPECT_EQ(aml::eisa_id("PNP05G1"), 0u);
}

TEST(GuestAcpi, RsdpPointsToAnXsdtListingFadtAndMadtAllChecksummed) {
  const Built b = build({});
  ASSERT_EQ(b.t.error, nullptr);
  ASSERT_GT(b.t.size, 0u);
  EXPECT_EQ(b.t.rsdp, base);
  EXPECT_EQ(std::memcmp(b.at(b.t.rsdp), "RSD PTR ", 8), 0);
  EXPECT_EQ(sum(b.at(b.t.rsdp), 20), 0);
  EXPECT_EQ(sum(b.at(b.t.rsdp), 36), 0);
  EXPECT_EQ(b.at(b.t.rsdp)[15], 2);
  EXPECT_EQ(b.load<u32>(b.t.rsdp + 20), 36u);
  EXPECT_EQ(b.load<u64>(b.t.rsdp + 24), b.t.xsdt);
  expect_table(b, b.t.xsdt, "XSDT");
  EXPECT_EQ(b.load<u32>(b.t.xsdt + 4), 36u + 16);
  EXPECT_EQ(b.load<u64>(b.t.xsdt + 36), b.t.fadt);
  EXPECT_EQ(b.load<u64>(b.t.xsdt + 44), b.t.madt);
  expect_table(b, b.t.fadt, "FACP");
  expect_table(b, b.t.madt, "APIC");
  expect_table(b, b.t.dsdt, "DSDT");
  for (u64 t : {b.t.rsdp, b.t.xsdt, b.t.fadt, b.t.madt, b.t.dsdt}) EXPECT_EQ(t % 16, 0u);
  EXPECT_LE(b.t.size, guest_acpi::tables_max);
}

TEST(GuestAcpi, FadtIsHardwareReducedWithSleepAndResetRegistersAtHvsPorts) {
  const Built b = build({});
  const u64 f = b.t.fadt;
  EXPECT_EQ(b.load<u32>(f + 4), 276u);
  EXPECT_EQ(b.at(f)[8], 6);
  const u32 flags = b.load<u32>(f + 112);
  EXPECT_TRUE(flags & (1u << 20)) << "HW_REDUCED_ACPI";
  EXPECT_TRUE(flags & (1u << 10)) << "RESET_REG_SUP";
  EXPECT_EQ(b.load<u64>(f + 140), b.t.dsdt);
  EXPECT_EQ(b.load<u32>(f + 40), b.t.dsdt);
  EXPECT_EQ(b.load<u32>(f + 64), 0u) << "no PM1a control block";
  EXPECT_EQ(b.at(f + 244)[0], 1) << "sleep control in I/O space";
  EXPECT_EQ(b.load<u64>(f + 248), guest_acpi::sleep_control_port);
  EXPECT_EQ(b.load<u64>(f + 260), guest_acpi::sleep_status_port);
  EXPECT_EQ(b.load<u64>(f + 120), guest_acpi::reset_port);
  EXPECT_EQ(b.at(f)[128], guest_acpi::reset_value);
  EXPECT_EQ(b.load<u16>(f + 109) & (1u << 5), 0u) << "the RTC is present";
  EXPECT_EQ(b.at(f)[108], 0x32);
  Guest_acpi_config no_rtc;
  no_rtc.rtc = false;
  const Built c = build(no_rtc);
  EXPECT_NE(c.load<u16>(c.t.fadt + 109) & (1u << 5), 0u) << "CMOS RTC not present";
}

TEST(GuestAcpi, MadtListsEveryVcpuTheIoApicAndLint1AsNmi) {
  Guest_acpi_config c;
  c.cpus = 4;
  const Built b = build(c);
  const u64 m = b.t.madt;
  EXPECT_EQ(b.load<u32>(m + 36), 0xFEE00000u);
  EXPECT_EQ(b.load<u32>(m + 40) & 1, 0u) << "no PCAT_COMPAT: no 8259";
  const u32 len = b.load<u32>(m + 4);
  std::vector<u8> apic_ids;
  int ioapics = 0, nmis = 0;
  for (u64 at = m + 44; at < m + len;) {
    const u8 type = b.at(at)[0], elen = b.at(at)[1];
    ASSERT_GE(elen, 2);
    if (type == 0) {
      EXPECT_EQ(b.load<u32>(at + 4), 1u);
      EXPECT_EQ(b.at(at)[2], b.at(at)[3]) << "UID = APIC id";
      apic_ids.push_back(b.at(at)[3]);
    } else if (type == 1) {
      ++ioapics;
      EXPECT_EQ(b.load<u32>(at + 4), 0xFEC00000u);
      EXPECT_EQ(b.load<u32>(at + 8), 0u);
    } else if (type == 4) {
      ++nmis;
      EXPECT_EQ(b.at(at)[5], 1) << "LINT1";
    }
    at += elen;
    ASSERT_LE(at, m + len);
  }
  EXPECT_EQ(apic_ids, (std::vector<u8>{0, 1, 2, 3}));
  EXPECT_EQ(ioapics, 1);
  EXPECT_EQ(nmis, 1);
}

TEST(GuestAcpi, DsdtDecodesToS5Com1ProcessorsAndVirtioDevices) {
  const Guest_acpi_virtio v[2] = {{0xD0000000, 0x200, 5}, {0xD0001000, 0x200, 6}};
  Guest_acpi_config c;
  c.cpus = 2;
  c.virtio = v;
  const Built b = build(c);
  ASSERT_EQ(b.t.error, nullptr);
  const Aml_walk w = walk_dsdt(b);
  ASSERT_TRUE(w.ok) << "the AML does not decode";
  EXPECT_EQ(w.s5, (std::vector<u64>{5, 0, 0, 0}));
  u8 a = 0, bb = 0;
  const u32 len = b.load<u32>(b.t.dsdt + 4);
  ASSERT_TRUE(find_s5_sleep_types(b.at(b.t.dsdt + 36), len - 36, a, bb)) << "hv's own _S5 reader finds it";
  EXPECT_EQ(a, guest_acpi::s5_sleep_type);
  ASSERT_EQ(w.devices.size(), 5u);
  EXPECT_EQ(w.devices.at("C000").hid, "ACPI0007");
  EXPECT_EQ(w.devices.at("C001").uid, 1u);
  const Aml_device& com = w.devices.at("COM1");
  EXPECT_EQ(com.hid_eisa, 0x0105D041u);
  EXPECT_EQ(com.crs, (std::vector<u8>{0x47, 1, 0xF8, 3, 0xF8, 3, 1, 8, 0x22, 0x10, 0x00, 0x79, 0}));
  const Aml_device& vr1 = w.devices.at("VR01");
  EXPECT_EQ(vr1.hid, "LNRO0005");
  EXPECT_EQ(vr1.uid, 1u);
  EXPECT_EQ(vr1.crs, (std::vector<u8>{0x86, 9, 0, 1, 0x00, 0x10, 0x00, 0xD0, 0x00, 0x02, 0, 0, 0x89, 6, 0, 3, 1, 6,
                                      0, 0, 0, 0x79, 0}));
}

TEST(GuestAcpi, SixteenVcpusAndFourVirtioDevicesStillDecodeWithTwoBytePkgLengths) {
  Guest_acpi_virtio v[4];
  for (u32 i = 0; i < 4; ++i) v[i] = {0xD0000000 + i * 0x1000, 0x200, 5 + i};
  Guest_acpi_config c;
  c.cpus = 16;
  c.virtio = v;
  const Built b = build(c);
  ASSERT_EQ(b.t.error, nullptr);
  const Aml_walk w = walk_dsdt(b);
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.devices.size(), 16u + 1 + 4);
  EXPECT_GT(b.load<u32>(b.t.dsdt + 4), 36u + 64) << "the \\_SB scope needs a 2-byte PkgLength";
}

TEST(GuestAcpi, RefusesWhatItCannotDescribe) {
  Guest_acpi_config c;
  c.cpus = 0;
  EXPECT_EQ(build(c).t.size, 0u);
  c.cpus = 17;
  EXPECT_NE(build(c).t.error, nullptr);
  c.cpus = 1;
  Guest_acpi_virtio v[5] = {};
  for (auto& x : v) x = {0xD0000000, 0x200, 5};
  c.virtio = v;
  EXPECT_NE(build(c).t.error, nullptr);
  c.virtio = std::span<const Guest_acpi_virtio>(v, 1);
  v[0].base = 0xFFFFFF00;
  EXPECT_NE(build(c).t.error, nullptr) << "a window across 4 GiB";
  v[0].base = 0xD0000000;
  std::vector<u8> small(100);
  EXPECT_EQ(build_guest_acpi(c, base, small).size, 0u);
}

TEST(GuestAcpi, AmlBuilderReportsOverflowInsteadOfWritingPastItsBuffer) {
  u8 buf[8] = {};
  Aml_builder a{std::span<u8>(buf, 6)};
  a.name("_HID");
  a.string("LNRO0005");
  EXPECT_FALSE(a.ok());
  EXPECT_EQ(a.size(), 6u);
  EXPECT_EQ(buf[6], 0);
}

} // namespace
} // namespace hv
