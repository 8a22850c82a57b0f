// tests/unit/io_bus_test.cpp - a VM's port I/O space: which device answers which port, what an
// empty port looks like, and the debug-exit port.
#include "devices/debug_exit.hpp"
#include "devices/io_bus.hpp"
#include <gtest/gtest.h>
#include <vector>

namespace hv {
namespace {

// Records every access it receives; reads answer `read_value`.
class Recording_device final : public Io_device {
public:
  struct Access {
    bool write;
    u16 offset;
    u8 size;
    u32 value;
    bool operator==(const Access&) const = default;
  };
  u32 io_read(u16 offset, u8 size) override {
    accesses.push_back({false, offset, size, 0});
    return read_value;
  }
  Io_effect io_write(u16 offset, u8 size, u32 value) override {
    accesses.push_back({true, offset, size, value});
    return {};
  }
  u32 read_value = 0;
  std::vector<Access> accesses;
};

TEST(IoBus, AClaimedRangeSeesOffsetsFromItsFirstPort) {
  Io_bus bus;
  Recording_device uart;
  ASSERT_TRUE(bus.attach(0x3F8, 8, uart));
  uart.read_value = 0x60;
  u32 value = 0;
  (void)bus.read(0x3FD, 1, value);
  EXPECT_EQ(value, 0x60u);
  (void)bus.write(0x3F8, 1, 'h');
  (void)bus.write(0x3FF, 1, 0x55);
  const std::vector<Recording_device::Access> expected = {
      {false, 5, 1, 0}, {true, 0, 1, 'h'}, {true, 7, 1, 0x55}};
  EXPECT_EQ(uart.accesses, expected);
  EXPECT_EQ(bus.unclaimed_reads(), 0u);
  EXPECT_EQ(bus.unclaimed_writes(), 0u);
}

TEST(IoBus, PortsJustOutsideARangeAreNotItsOwn) {
  Io_bus bus;
  Recording_device uart;
  ASSERT_TRUE(bus.attach(0x3F8, 8, uart));
  u32 value = 0;
  (void)bus.read(0x3F7, 1, value);
  (void)bus.read(0x400, 1, value);
  EXPECT_TRUE(uart.accesses.empty());
  EXPECT_EQ(bus.unclaimed_reads(), 2u);
}

TEST(IoBus, OverlappingClaimsAreRefusedAndAdjacentOnesAccepted) {
  Io_bus bus;
  Recording_device a, b;
  ASSERT_TRUE(bus.attach(0x3F8, 8, a));
  EXPECT_FALSE(bus.attach(0x3F8, 8, b));   // the same range
  EXPECT_FALSE(bus.attach(0x3FF, 1, b));   // its last port
  EXPECT_FALSE(bus.attach(0x3F0, 9, b));   // reaches its first port
  EXPECT_FALSE(bus.attach(0x3FA, 2, b));   // inside it
  EXPECT_FALSE(bus.attach(0x300, 0x200, b));  // around it
  EXPECT_TRUE(bus.attach(0x3F0, 8, b));    // ends just before it
  EXPECT_TRUE(bus.attach(0x400, 1, b));    // starts just after it
  // The refused claims changed nothing: 0x3F8..0x3FF still belong to `a`.
  (void)bus.write(0x3FA, 1, 1);
  EXPECT_EQ(a.accesses.size(), 1u);
  EXPECT_EQ(b.accesses.size(), 0u);
}

TEST(IoBus, EmptyRangesAndRangesPastPortFfffAreRefused) {
  Io_bus bus;
  Recording_device d;
  EXPECT_FALSE(bus.attach(0x80, 0, d));
  EXPECT_FALSE(bus.attach(0xFFFF, 2, d));
  EXPECT_TRUE(bus.attach(0xFFFF, 1, d));
  u32 value = 0;
  d.read_value = 0xAB;
  (void)bus.read(0xFFFF, 1, value);
  EXPECT_EQ(value, 0xABu);
}

TEST(IoBus, AFullTableRefusesMoreClaims) {
  Io_bus bus;
  Recording_device d;
  for (usize i = 0; i < Io_bus::max_ranges; ++i) ASSERT_TRUE(bus.attach(static_cast<u16>(0x100 + 4 * i), 4, d)) << i;
  EXPECT_FALSE(bus.attach(0x800, 1, d));
  u32 value = 0;
  (void)bus.read(0x800, 1, value);
  EXPECT_TRUE(d.accesses.empty());
}

TEST(IoBus, UnclaimedPortsReadAllOnesOfTheAccessSizeAndAreCounted) {
  Io_bus bus;
  u32 value = 0x12345678;
  EXPECT_EQ(bus.read(0x80, 1, value).kind, Io_effect::Kind::none);
  EXPECT_EQ(value, 0xFFu);
  value = 0;
  (void)bus.read(0x82, 2, value);
  EXPECT_EQ(value, 0xFFFFu);
  value = 0;
  (void)bus.read(0xCFC, 4, value);
  EXPECT_EQ(value, 0xFFFFFFFFu);
  EXPECT_EQ(bus.unclaimed_reads(), 3u);
  EXPECT_EQ(bus.last_unclaimed_port(), 0xCFC);

  EXPECT_EQ(bus.write(0x70, 1, 0x8F).kind, Io_effect::Kind::none);
  EXPECT_EQ(bus.write(0x71, 1, 0).kind, Io_effect::Kind::none);
  EXPECT_EQ(bus.unclaimed_writes(), 2u);
  EXPECT_EQ(bus.unclaimed_reads(), 3u);
  EXPECT_EQ(bus.last_unclaimed_port(), 0x71);
}

TEST(IoBus, DataIsMaskedToTheAccessSizeBothWays) {
  Io_bus bus;
  Recording_device d;
  ASSERT_TRUE(bus.attach(0x500, 4, d));
  d.read_value = 0xAABBCCDD;  // a sloppy device answering more than was asked
  u32 value = 0;
  (void)bus.read(0x500, 1, value);
  EXPECT_EQ(value, 0xDDu);
  (void)bus.read(0x500, 2, value);
  EXPECT_EQ(value, 0xCCDDu);
  (void)bus.read(0x500, 4, value);
  EXPECT_EQ(value, 0xAABBCCDDu);

  (void)bus.write(0x501, 1, 0x12345678);
  (void)bus.write(0x502, 2, 0x12345678);
  (void)bus.write(0x500, 4, 0x12345678);
  ASSERT_EQ(d.accesses.size(), 6u);
  EXPECT_EQ(d.accesses[3], (Recording_device::Access{true, 1, 1, 0x78}));
  EXPECT_EQ(d.accesses[4], (Recording_device::Access{true, 2, 2, 0x5678}));
  EXPECT_EQ(d.accesses[5], (Recording_device::Access{true, 0, 4, 0x12345678}));
}

TEST(IoBus, SizeMaskPerAccessWidth) {
  EXPECT_EQ(io_size_mask(1), 0xFFu);
  EXPECT_EQ(io_size_mask(2), 0xFFFFu);
  EXPECT_EQ(io_size_mask(4), 0xFFFFFFFFu);
}

TEST(DebugExit, AWriteAsksToStopTheVmWithThatStatus) {
  Io_bus bus;
  Debug_exit port;
  ASSERT_TRUE(bus.attach(debug_exit_port, 1, port));
  const Io_effect e = bus.write(0xF4, 1, 0x31);
  EXPECT_EQ(e.kind, Io_effect::Kind::stop_vm);
  EXPECT_EQ(e.status, 0x31u);
  // A 32-bit OUT carries a 32-bit status; an 8-bit OUT of a wide register only its low byte.
  EXPECT_EQ(bus.write(0xF4, 4, 0xDEAD0001).status, 0xDEAD0001u);
  EXPECT_EQ(bus.write(0xF4, 1, 0x1FF).status, 0xFFu);
  u32 value = 0xFF;
  EXPECT_EQ(bus.read(0xF4, 1, value).kind, Io_effect::Kind::none);
  EXPECT_EQ(value, 0u);
  // Its neighbours are empty ports.
  EXPECT_EQ(bus.write(0xF5, 1, 1).kind, Io_effect::Kind::none);
  EXPECT_EQ(bus.unclaimed_writes(), 1u);
}

} // namespace
} // namespace hv
