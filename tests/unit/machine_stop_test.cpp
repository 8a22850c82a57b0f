// tests/unit/machine_stop_test.cpp - the power-off sequence: ACPI S5 first, then QEMU's
// isa-debug-exit, then Bochs' shutdown port, through a fake port space.
#include "arch/x86/fake/fake_cpu.hpp"
#include "lib/log.hpp"
#include "core/machine_stop.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

using W = Fake_port_io::Write;

class Capture_sink final : public Log_sink {
public:
  void write_line(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

class MachineStop : public ::testing::Test {
protected:
  void SetUp() override {
    log_set_sink(&sink);
    log_set_level(Log_level::info);
  }
  void TearDown() override { log_set_sink(nullptr); }
  static std::vector<W> emulator_exit_writes(u8 code) {
    std::vector<W> w = {{qemu_debug_exit_port, code, 4}};
    for (char c : std::string("Shutdown")) w.push_back({bochs_shutdown_port, static_cast<u8>(c), 1});
    return w;
  }
  Capture_sink sink;
  Fake_port_io io;
};

TEST_F(MachineStop, AcpiFirstThenQemuThenBochsInOrder) {
  Acpi_power_off acpi;
  acpi.available = true;
  acpi.pm1a_control = 0x604;
  acpi.sleep_type_a = 5;
  io.default_reads[0x604] = 1;  // SCI_EN: kept
  machine_power_off(io, acpi, 0x21, 0);
  std::vector<W> want = {{0x604, (5u << 10) | (1u << 13) | 1u, 2}};
  for (const auto& w : emulator_exit_writes(0x21)) want.push_back(w);
  EXPECT_EQ(io.writes, want);
  ASSERT_FALSE(sink.lines.empty());
  EXPECT_EQ(sink.lines.front().rfind("[I core] power off: ACPI S5", 0), 0u) << sink.lines.front();
  EXPECT_EQ(sink.lines.back(), "[W core] the machine did not power off; halting this CPU");
}

TEST_F(MachineStop, BothPm1BlocksAreWrittenWithTheirOwnSleepTypes) {
  Acpi_power_off acpi;
  acpi.available = true;
  acpi.pm1a_control = 0xB004;
  acpi.pm1b_control = 0xB104;
  acpi.sleep_type_a = 7;
  acpi.sleep_type_b = 3;
  io.default_reads[0xB004] = 1;  // SCI_EN: kept
  io.default_reads[0xB104] = 0;
  machine_power_off(io, acpi, 0, 0);
  ASSERT_GE(io.writes.size(), 2u);
  EXPECT_EQ(io.writes[0], (W{0xB004, (7u << 10) | (1u << 13) | 1u, 2}));
  EXPECT_EQ(io.writes[1], (W{0xB104, (3u << 10) | (1u << 13), 2}));
  EXPECT_EQ(io.writes.size(), 2u + 9u);
}

TEST_F(MachineStop, WithoutAcpiOnlyTheEmulatorPortsAreWritten) {
  Acpi_power_off acpi;  // unavailable: "no RSDP"
  machine_power_off(io, acpi, 3, 0);
  EXPECT_EQ(io.writes, emulator_exit_writes(3));
  ASSERT_FALSE(sink.lines.empty());
  EXPECT_EQ(sink.lines.front(), "[I core] power off: ACPI unavailable (no RSDP); trying emulator exit ports");
}

TEST_F(MachineStop, AcpiPowerOffAloneWritesNothingWhenUnavailable) {
  Acpi_power_off acpi;
  acpi.pm1a_control = 0x604;  // stale values must not be used
  acpi_power_off(io, acpi);
  EXPECT_TRUE(io.writes.empty());
}

} // namespace
} // namespace hv
