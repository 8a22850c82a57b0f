// tests/unit/local_apic_test.cpp - the emulated local APIC as a guest OS uses it: reset values,
// IA32_APIC_BASE transitions, xAPIC vs x2APIC views, priority (TPR/PPR/ISR, nested EOI), the
// x2APIC #GP rules, IPIs from the ICR, the timer in its three modes, and random-access invariants.
#include "devices/local_apic.hpp"
#include <gtest/gtest.h>
#include <random>

namespace hv {
namespace {
using namespace lapic;

constexpr u64 base_xapic = Local_apic::default_base | msr::APIC_BASE_EN | msr::APIC_BASE_BSP;
constexpr u64 base_x2apic = base_xapic | msr::APIC_BASE_EXTD;
constexpr u64 base_disabled = Local_apic::default_base | msr::APIC_BASE_BSP;
constexpr u64 none = ~0ull;
constexpr u32 lvt_offsets[] = {REG_LVT_CMCI, REG_LVT_TIMER, REG_LVT_THERMAL, REG_LVT_PERF,
                               REG_LVT_LINT0, REG_LVT_LINT1, REG_LVT_ERROR};

class LocalApic : public ::testing::Test {
protected:
  u32 rd(u32 offset) const { return apic.mmio_read(offset, 4, now); }
  Apic_write_effect wr(u32 offset, u32 value) { return apic.mmio_write(offset, 4, value, now); }
  void software_enable() { (void)wr(REG_SVR, SVR_ENABLE | 0xFF); }
  void to_x2apic() { ASSERT_TRUE(apic.set_apic_base(base_x2apic)); }
  bool mrd(u32 msr, u64& value) const { return apic.msr_read(msr, value, now); }
  bool mwr(u32 msr, u64 value) { Apic_write_effect e; return apic.msr_write(msr, value, now, e); }
  // Starts the timer: LVT timer = lvt, Divide Configuration = dcr, Initial Count = count, at `now`.
  void start_timer(u32 lvt, u32 dcr, u32 count) {
    (void)wr(REG_LVT_TIMER, lvt);
    (void)wr(REG_TIMER_DIVIDE, dcr);
    (void)wr(REG_TIMER_INITIAL, count);
  }

  Local_apic apic{3};
  u64 now = 1000;
};
using LocalApicPriority = LocalApic;
using LocalApicX2apic = LocalApic;
using LocalApicIpi = LocalApic;
using LocalApicTimer = LocalApic;

TEST_F(LocalApic, PowerUpValuesAreTheSdmOnes) {
  EXPECT_EQ(rd(REG_ID), 3u << 24);
  EXPECT_EQ(rd(REG_VERSION), 0x00060014u);  // version 0x14, max LVT entry 6 (7 LVTs)
  EXPECT_EQ(rd(REG_SVR), 0xFFu);
  EXPECT_EQ(rd(REG_TPR) | rd(REG_PPR) | rd(REG_LDR), 0u);
  EXPECT_EQ(rd(REG_DFR), 0xFFFFFFFFu);
  for (u32 offset : lvt_offsets) EXPECT_EQ(rd(offset), 0x10000u) << std::hex << offset;
  for (u32 i = 0; i < 8; ++i) EXPECT_EQ(rd(REG_ISR + 16 * i) | rd(REG_TMR + 16 * i) | rd(REG_IRR + 16 * i), 0u);
  EXPECT_EQ(rd(REG_TIMER_INITIAL) | rd(REG_TIMER_CURRENT) | rd(REG_TIMER_DIVIDE), 0u);
  EXPECT_EQ(apic.apic_base(), 0xFEE00900u);
  EXPECT_EQ(Local_apic(1, false).apic_base(), 0xFEE00800u);
  EXPECT_TRUE(apic.hardware_enabled());
  EXPECT_FALSE(apic.enabled());  // software-disabled until SVR bit 8 is set
  EXPECT_FALSE(apic.x2apic_mode());
  EXPECT_EQ(apic.next_timer_deadline(), none);
  EXPECT_EQ(apic.pending_vector(), -1);
}

TEST_F(LocalApic, ApicBaseLegalTransitions) {
  ASSERT_TRUE(apic.set_apic_base(base_disabled));  // xAPIC -> disabled
  EXPECT_FALSE(apic.hardware_enabled());
  EXPECT_EQ(apic.apic_base(), base_disabled);
  ASSERT_TRUE(apic.set_apic_base(base_xapic));  // disabled -> xAPIC
  EXPECT_EQ(apic.apic_base(), base_xapic);
  ASSERT_TRUE(apic.set_apic_base(base_x2apic));  // xAPIC -> x2APIC
  EXPECT_TRUE(apic.x2apic_mode());
  EXPECT_EQ(apic.apic_base(), base_x2apic);
  ASSERT_TRUE(apic.set_apic_base(base_x2apic));  // no change
  ASSERT_TRUE(apic.set_apic_base(base_disabled));  // x2APIC -> disabled
  EXPECT_FALSE(apic.x2apic_mode());
  ASSERT_TRUE(apic.set_apic_base(base_xapic));  // and back to xAPIC through disabled
  EXPECT_EQ(apic.apic_base(), base_xapic);
  // The BSP bit is read-only.
  ASSERT_TRUE(apic.set_apic_base(base_xapic & ~msr::APIC_BASE_BSP));
  EXPECT_EQ(apic.apic_base(), base_xapic);
}

TEST_F(LocalApic, ApicBaseIllegalTransitionsAreRefused) {
  ASSERT_TRUE(apic.set_apic_base(base_disabled));
  EXPECT_FALSE(apic.set_apic_base(base_disabled | msr::APIC_BASE_EXTD));  // EN=0, EXTD=1
  EXPECT_FALSE(apic.set_apic_base(base_x2apic));                          // disabled -> x2APIC
  EXPECT_FALSE(apic.hardware_enabled());
  ASSERT_TRUE(apic.set_apic_base(base_xapic));
  EXPECT_FALSE(apic.set_apic_base(base_disabled | msr::APIC_BASE_EXTD));
  ASSERT_TRUE(apic.set_apic_base(base_x2apic));
  EXPECT_FALSE(apic.set_apic_base(base_xapic));  // x2APIC -> xAPIC directly
  EXPECT_FALSE(apic.set_apic_base(base_disabled | msr::APIC_BASE_EXTD));
  EXPECT_TRUE(apic.x2apic_mode());
  for (u64 bit : {1ull << 0, 1ull << 7, 1ull << 9}) EXPECT_FALSE(apic.set_apic_base(base_x2apic | bit));
  EXPECT_FALSE(apic.set_apic_base((base_x2apic & 0xFFF) | 0xFEC00000));  // another base
  EXPECT_FALSE(apic.set_apic_base(base_x2apic | (1ull << 52)));           // above MAXPHYADDR
  EXPECT_EQ(apic.apic_base(), base_x2apic);
}

TEST_F(LocalApic, DisablingResetsEverythingButTheId) {
  software_enable();
  (void)wr(REG_TPR, 0x20);
  (void)wr(REG_LDR, 0x5A000000);
  (void)wr(REG_DFR, 0x0FFFFFFF);
  start_timer(0x40, 0, 100);
  apic.accept(0x50);
  apic.acknowledge(0x50);
  apic.accept(0x60);
  ASSERT_TRUE(apic.set_apic_base(base_disabled));
  EXPECT_EQ(rd(REG_TPR), 0u);  // the page is not decoded while disabled
  ASSERT_TRUE(apic.set_apic_base(base_xapic));
  EXPECT_EQ(rd(REG_ID), 3u << 24);
  EXPECT_EQ(rd(REG_SVR), 0xFFu);
  EXPECT_EQ(rd(REG_TPR) | rd(REG_LDR) | rd(REG_TIMER_INITIAL), 0u);
  EXPECT_EQ(rd(REG_DFR), 0xFFFFFFFFu);
  EXPECT_EQ(rd(REG_LVT_TIMER), 0x10000u);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  EXPECT_EQ(apic.highest_irr() + apic.highest_isr(), -2);
}

TEST_F(LocalApic, XapicIdIsInBits31To24AndLdrDfrAreWritable) {
  Local_apic big(0x12345);
  EXPECT_EQ(big.mmio_read(REG_ID, 4, 0), 0x45u << 24);  // xAPIC shows the low 8 bits
  (void)wr(REG_ID, 0x7F000000);                         // read-only in this model
  EXPECT_EQ(rd(REG_ID), 3u << 24);
  (void)wr(REG_LDR, 0xFFFFFFFF);
  EXPECT_EQ(rd(REG_LDR), 0xFF000000u);
  (void)wr(REG_DFR, 0);
  EXPECT_EQ(rd(REG_DFR), 0x0FFFFFFFu);  // cluster model; bits 27:0 stay ones
}

TEST_F(LocalApic, OnlyAlignedDwordWritesAndInRegisterReadsHaveAnEffect) {
  (void)apic.mmio_write(REG_TPR, 2, 0x30, now);      // wrong size
  (void)apic.mmio_write(REG_TPR + 4, 4, 0x30, now);  // not 16-byte aligned
  EXPECT_EQ(rd(REG_TPR), 0u);
  (void)wr(REG_TPR, 0x3C);
  EXPECT_EQ(apic.mmio_read(REG_ID + 3, 1, now), 3u);       // byte 3 of the ID register
  EXPECT_EQ(apic.mmio_read(REG_VERSION, 2, now), 0x14u);   // low half of the version
  EXPECT_EQ(apic.mmio_read(REG_VERSION + 2, 2, now), 6u);  // max LVT entry
  EXPECT_EQ(apic.mmio_read(REG_TPR + 4, 4, now), 0u);      // beyond the register's dword
  EXPECT_EQ(apic.mmio_read(REG_TPR + 3, 2, now), 0u);      // straddles the dword end
  EXPECT_EQ(apic.mmio_read(0x3F0, 4, now), 0u);            // no SELF IPI in xAPIC mode
  EXPECT_EQ(apic.mmio_read(0x1000, 4, now), 0u);           // outside the page
  EXPECT_EQ(rd(REG_TPR), 0x3Cu);
}

TEST_F(LocalApicPriority, PendingVectorIsTheHighestIrrVectorAboveThePprClass) {
  software_enable();
  for (u8 v : {0x31, 0x55, 0x52}) apic.accept(v);
  EXPECT_TRUE(apic.irr_bit(0x52));
  EXPECT_EQ(rd(REG_IRR + 16 * 2), (1u << (0x55 - 64)) | (1u << (0x52 - 64)));
  EXPECT_EQ(apic.pending_vector(), 0x55);
  (void)wr(REG_TPR, 0x50);  // class 5 is blocked: the vector must be in a higher class
  EXPECT_EQ(apic.pending_vector(), -1);
  (void)wr(REG_TPR, 0x4F);
  EXPECT_EQ(apic.pending_vector(), 0x55);
  (void)wr(REG_TPR, 0xF0);
  EXPECT_EQ(apic.pending_vector(), -1);
  (void)wr(REG_TPR, 0);
  apic.accept(0x55);  // coalesced with the pending one
  apic.acknowledge(0x55);
  EXPECT_EQ(apic.pending_vector(), -1);  // 0x52 is in the class in service
  EXPECT_FALSE(apic.irr_bit(0x55));
}

TEST_F(LocalApicPriority, PprIsTprOrTheInServiceClass) {
  software_enable();
  apic.accept(0x62);
  apic.acknowledge(0x62);
  (void)wr(REG_TPR, 0x35);
  EXPECT_EQ(rd(REG_PPR), 0x60u);
  (void)wr(REG_TPR, 0x65);  // same class as ISRV: TPR wins
  EXPECT_EQ(rd(REG_PPR), 0x65u);
  (void)wr(REG_TPR, 0x75);
  EXPECT_EQ(rd(REG_PPR), 0x75u);
  (void)wr(REG_PPR, 0);  // read-only
  EXPECT_EQ(rd(REG_PPR), 0x75u);
}

TEST_F(LocalApicPriority, NestedAcknowledgeAndEoiRunInPriorityOrder) {
  software_enable();
  apic.accept(0x40);
  ASSERT_EQ(apic.pending_vector(), 0x40);
  apic.acknowledge(0x40);
  EXPECT_EQ(rd(REG_ISR + 16 * 2), 1u);
  EXPECT_EQ(rd(REG_PPR), 0x40u);
  apic.accept(0x45);
  EXPECT_EQ(apic.pending_vector(), -1);  // same class as the one in service
  apic.accept(0x80);
  ASSERT_EQ(apic.pending_vector(), 0x80);  // a higher class nests
  apic.acknowledge(0x80);
  EXPECT_EQ(rd(REG_PPR), 0x80u);
  EXPECT_EQ(apic.pending_vector(), -1);
  (void)wr(REG_EOI, 0);  // ends 0x80, the highest in service
  EXPECT_EQ(apic.highest_isr(), 0x40);
  EXPECT_EQ(rd(REG_PPR), 0x40u);
  EXPECT_EQ(apic.pending_vector(), -1);
  (void)wr(REG_EOI, 0);  // ends 0x40
  ASSERT_EQ(apic.pending_vector(), 0x45);
  apic.acknowledge(0x45);
  (void)wr(REG_EOI, 0);
  EXPECT_EQ(apic.highest_isr() + apic.highest_irr(), -2);
  EXPECT_EQ(rd(REG_PPR), 0u);
  EXPECT_EQ(apic.eois(), 3u);
}

TEST_F(LocalApicPriority, VectorsBelow16AreDroppedAndLatchedInEsr) {
  software_enable();
  (void)wr(REG_LVT_ERROR, 0xE0);
  apic.accept(5);
  EXPECT_FALSE(apic.irr_bit(5));
  EXPECT_EQ(apic.illegal_vectors(), 1u);
  EXPECT_TRUE(apic.irr_bit(0xE0));  // the error LVT fired
  EXPECT_EQ(rd(REG_ESR), 0u);       // not visible until ESR is written
  (void)wr(REG_ESR, 0);
  EXPECT_EQ(rd(REG_ESR), ESR_RECEIVE_ILLEGAL_VECTOR);
  (void)wr(REG_ESR, 0);
  EXPECT_EQ(rd(REG_ESR), 0u);
}

TEST_F(LocalApicPriority, LevelTriggeredEoiIsReportedForTheIoApic) {
  software_enable();
  apic.accept(0x60, true);
  EXPECT_EQ(rd(REG_TMR + 16 * 3), 1u);
  apic.acknowledge(0x60);
  const Apic_write_effect e = wr(REG_EOI, 0);
  EXPECT_TRUE(e.level_eoi);
  EXPECT_EQ(e.eoi_vector, 0x60);
  apic.accept(0x61);
  apic.acknowledge(0x61);
  EXPECT_FALSE(wr(REG_EOI, 0).level_eoi);
}

TEST_F(LocalApicPriority, SoftwareDisabledApicMasksLvtsAndDropsInterrupts) {
  software_enable();
  (void)wr(REG_LVT_TIMER, 0x30);
  (void)wr(REG_LVT_LINT0, 0x700);  // ExtINT, unmasked
  EXPECT_EQ(rd(REG_LVT_TIMER), 0x30u);
  (void)wr(REG_SVR, 0xFF);  // software disable
  EXPECT_FALSE(apic.enabled());
  EXPECT_EQ(rd(REG_LVT_TIMER), 0x10030u);
  EXPECT_EQ(rd(REG_LVT_LINT0), 0x10700u);
  (void)wr(REG_LVT_TIMER, 0x31);  // the mask cannot be cleared
  EXPECT_EQ(rd(REG_LVT_TIMER), 0x10031u);
  apic.accept(0x40);
  EXPECT_FALSE(apic.irr_bit(0x40));
  EXPECT_EQ(apic.pending_vector(), -1);
  software_enable();  // the masks stay until software clears them
  EXPECT_EQ(rd(REG_LVT_TIMER), 0x10031u);
  (void)wr(REG_LVT_TIMER, 0x31);
  EXPECT_EQ(rd(REG_LVT_TIMER), 0x31u);
}

TEST_F(LocalApicX2apic, MsrsExistOnlyInX2apicModeAndMmioStopsThere) {
  u64 v = 0;
  EXPECT_FALSE(mrd(0x802, v));
  EXPECT_FALSE(mwr(0x808, 0));
  (void)wr(REG_TPR, 0x20);
  to_x2apic();
  ASSERT_TRUE(mrd(0x808, v));
  EXPECT_EQ(v, 0x20u);  // state survives the switch
  EXPECT_EQ(rd(REG_TPR), 0u);
  EXPECT_FALSE(mrd(0x1B, v));  // outside 0x800..0x8FF
}

TEST_F(LocalApicX2apic, IdIsTheFull32BitsAndLdrIsDerivedFromIt) {
  Local_apic a(0x12345);
  ASSERT_TRUE(a.set_apic_base(base_x2apic));
  u64 v = 0;
  ASSERT_TRUE(a.msr_read(0x802, v, 0));
  EXPECT_EQ(v, 0x12345u);
  ASSERT_TRUE(a.msr_read(0x80D, v, 0));
  EXPECT_EQ(v, (0x1234u << 16) | (1u << 5));
  to_x2apic();
  ASSERT_TRUE(mrd(0x80D, v));
  EXPECT_EQ(v, 1u << 3);
  ASSERT_TRUE(mrd(0x803, v));
  EXPECT_EQ(v, 0x00060014u);
}

TEST_F(LocalApicX2apic, GpRules) {
  to_x2apic();
  u64 v = 0;
  // DFR (0x80E) and the ICR's high half (0x831) do not exist; nor do APR, RRD and the gaps.
  for (u32 msr : {0x80Eu, 0x831u, 0x800u, 0x801u, 0x809u, 0x80Cu, 0x829u, 0x83Au, 0x840u, 0x8FFu}) {
    EXPECT_FALSE(mrd(msr, v)) << std::hex << msr;
    EXPECT_FALSE(mwr(msr, 0)) << std::hex << msr;
  }
  EXPECT_FALSE(mrd(0x80B, v) || mrd(0x83F, v));  // EOI and SELF IPI are write-only
  EXPECT_FALSE(mwr(0x80B, 1));  // EOI takes only zero
  EXPECT_TRUE(mwr(0x80B, 0));
  for (u32 msr : {0x802u, 0x803u, 0x80Au, 0x80Du, 0x810u, 0x818u, 0x820u, 0x827u, 0x839u})
    EXPECT_FALSE(mwr(msr, 0)) << std::hex << msr;  // read-only registers
  EXPECT_FALSE(mwr(0x828, 1));                     // ESR takes only zero
  EXPECT_TRUE(mwr(0x828, 0));
  EXPECT_FALSE(mwr(0x808, 0x100));                  // TPR bits 31:8 reserved
  EXPECT_FALSE(mwr(0x808, 1ull << 32));             // bits 63:32 reserved
  EXPECT_FALSE(mwr(0x80F, 0x1FF | (1u << 12)));     // no EOI-broadcast suppression
  EXPECT_FALSE(mwr(0x832, 0x40 | (1u << 20)));      // LVT timer reserved bit
  EXPECT_FALSE(mwr(0x83E, 4));                      // divide bit 2 reserved
  EXPECT_FALSE(mwr(0x83F, 0x140));                  // SELF IPI bits 31:8 reserved
  // Writing back what was read never faults.
  for (u32 msr : {0x808u, 0x80Fu, 0x82Fu, 0x832u, 0x833u, 0x834u, 0x835u, 0x836u, 0x837u, 0x838u, 0x83Eu}) {
    ASSERT_TRUE(mrd(msr, v)) << std::hex << msr;
    EXPECT_TRUE(mwr(msr, v)) << std::hex << msr;
  }
}

TEST_F(LocalApicX2apic, SelfIpiIsAcceptedWithoutAnEffect) {
  to_x2apic();
  ASSERT_TRUE(mwr(0x80F, 0x1FF));
  Apic_write_effect e;
  ASSERT_TRUE(apic.msr_write(0x83F, 0x66, now, e));
  EXPECT_FALSE(e.ipi);
  EXPECT_TRUE(apic.irr_bit(0x66));
  EXPECT_EQ(apic.pending_vector(), 0x66);
  ASSERT_TRUE(apic.msr_write(0x83F, 0x05, now, e));  // illegal vector: nothing is sent
  EXPECT_FALSE(apic.irr_bit(0x05));
  ASSERT_TRUE(mwr(0x828, 0));
  u64 esr = 0;
  ASSERT_TRUE(mrd(0x828, esr));
  EXPECT_EQ(esr, ESR_SEND_ILLEGAL_VECTOR);
}

TEST_F(LocalApicIpi, XapicIcrWriteReportsTheIpi) {
  software_enable();
  (void)wr(REG_ICR_HIGH, 0x03FFFFFF);
  EXPECT_EQ(rd(REG_ICR_HIGH), 0x03000000u);
  Apic_write_effect e = wr(REG_ICR_LOW, 0x4500 | ICR_LEVEL_ASSERT);  // INIT, assert
  EXPECT_TRUE(e.ipi);
  EXPECT_EQ(e.destination, 3u);
  EXPECT_EQ(e.delivery_mode, DELIVERY_INIT);
  EXPECT_EQ(e.shorthand, SHORTHAND_NONE);
  EXPECT_FALSE(e.logical);
  EXPECT_FALSE(wr(REG_ICR_LOW, 0x8500).ipi);  // INIT level de-assert: nothing to do
  e = wr(REG_ICR_LOW, 0x0612);                 // STARTUP at page 0x12
  EXPECT_TRUE(e.ipi);
  EXPECT_EQ(e.delivery_mode, DELIVERY_STARTUP);
  EXPECT_EQ(e.vector, 0x12);
  e = wr(REG_ICR_LOW, (3u << 18) | ICR_LOGICAL | 0x41);  // fixed, all excluding self
  EXPECT_TRUE(e.ipi);
  EXPECT_EQ(e.shorthand, SHORTHAND_OTHERS);
  EXPECT_TRUE(e.logical);
  EXPECT_EQ(e.vector, 0x41);
  EXPECT_EQ(rd(REG_ICR_LOW), (3u << 18) | ICR_LOGICAL | 0x41);  // delivery status reads idle
  EXPECT_FALSE(wr(REG_ICR_LOW, (1u << 18) | 0x77).ipi);        // self: accepted here
  EXPECT_TRUE(apic.irr_bit(0x77));
  EXPECT_FALSE(wr(REG_ICR_LOW, 0x08).ipi);  // fixed with an illegal vector
  (void)wr(REG_ESR, 0);
  EXPECT_EQ(rd(REG_ESR), ESR_SEND_ILLEGAL_VECTOR);
  EXPECT_EQ(apic.ipis_sent(), 4u);
}

TEST_F(LocalApicIpi, X2apicIcrIsOne64BitWrite) {
  to_x2apic();
  Apic_write_effect e;
  const u64 icr = (0x12345678ull << 32) | (6u << 8) | 0x9A;
  ASSERT_TRUE(apic.msr_write(0x830, icr, now, e));
  EXPECT_TRUE(e.ipi);
  EXPECT_EQ(e.destination, 0x12345678u);
  EXPECT_EQ(e.delivery_mode, DELIVERY_STARTUP);
  EXPECT_EQ(e.vector, 0x9A);
  u64 v = 0;
  ASSERT_TRUE(mrd(0x830, v));
  EXPECT_EQ(v, icr);
  EXPECT_FALSE(apic.msr_write(0x830, icr | (1u << 12), now, e));  // reserved in x2APIC mode
  EXPECT_FALSE(apic.msr_write(0x830, icr | (1u << 20), now, e));
  ASSERT_TRUE(apic.msr_write(0x830, (7ull << 32) | (4u << 8), now, e));  // NMI
  EXPECT_EQ(e.delivery_mode, DELIVERY_NMI);
  EXPECT_EQ(e.destination, 7u);
}

TEST_F(LocalApicTimer, OneShotFiresExactlyAfterInitialTimesDivisorTicks) {
  software_enable();
  start_timer(0x40, 0x3, 100);  // divide by 16
  EXPECT_EQ(apic.next_timer_deadline(), 1000u + 1600u);
  apic.update(2599);
  EXPECT_FALSE(apic.irr_bit(0x40));
  EXPECT_EQ(apic.mmio_read(REG_TIMER_CURRENT, 4, 2599), 1u);
  apic.update(2600);
  EXPECT_TRUE(apic.irr_bit(0x40));
  EXPECT_EQ(apic.next_timer_deadline(), none);
  EXPECT_EQ(apic.mmio_read(REG_TIMER_CURRENT, 4, 5000), 0u);
  EXPECT_EQ(apic.mmio_read(REG_TIMER_INITIAL, 4, 5000), 100u);
  EXPECT_EQ(apic.timer_interrupts(), 1u);
  start_timer(0x41, 0xB, 10);  // Initial Count 0 stops the count
  (void)wr(REG_TIMER_INITIAL, 0);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  apic.update(now + 100);
  EXPECT_FALSE(apic.irr_bit(0x41));
}

TEST_F(LocalApicTimer, CurrentCountDecreasesLinearlyAndReachesZero) {
  software_enable();
  start_timer(0x40, 0x0, 1000);  // divide by 2
  u32 last = 1000;
  for (u64 t = now; t <= now + 2100; ++t) {
    const u32 count = apic.mmio_read(REG_TIMER_CURRENT, 4, t);
    ASSERT_LE(count, last) << t;
    last = count;
    if ((t - now) % 2 == 0 && t - now <= 2000) {
      ASSERT_EQ(count, 1000 - (t - now) / 2) << t;
    }
  }
  EXPECT_EQ(last, 0u);
}

TEST_F(LocalApicTimer, PeriodicFiresEachPeriodAndKeepsItsPhase) {
  software_enable();
  start_timer(TIMER_PERIODIC | 0x40, 0xB, 100);  // divide by 1: period 100 from 1000
  apic.update(1100);
  ASSERT_EQ(apic.pending_vector(), 0x40);
  apic.acknowledge(0x40);
  (void)apic.mmio_write(REG_EOI, 4, 0, 1100);
  EXPECT_EQ(apic.next_timer_deadline(), 1200u);
  apic.update(1230);  // late: the next expiry is still on the phase
  EXPECT_TRUE(apic.irr_bit(0x40));
  EXPECT_EQ(apic.next_timer_deadline(), 1300u);
  EXPECT_EQ(apic.mmio_read(REG_TIMER_CURRENT, 4, 1230), 70u);
  apic.update(1999);  // seven periods passed: one more interrupt, phase kept
  EXPECT_EQ(apic.next_timer_deadline(), 2000u);
  EXPECT_EQ(apic.timer_interrupts(), 3u);
  EXPECT_EQ(apic.mmio_read(REG_TIMER_CURRENT, 4, 2050), 50u);  // before update: reloaded count
}

TEST_F(LocalApicTimer, MaskedTimerSetsNoIrrButOneShotStillExpires) {
  software_enable();
  start_timer(LVT_MASKED | 0x40, 0xB, 10);
  EXPECT_EQ(apic.next_timer_deadline(), 1010u);
  apic.update(1010);
  EXPECT_FALSE(apic.irr_bit(0x40));
  EXPECT_EQ(apic.next_timer_deadline(), none);
  EXPECT_EQ(apic.mmio_read(REG_TIMER_CURRENT, 4, 1010), 0u);
  EXPECT_EQ(apic.timer_interrupts(), 0u);
}

TEST_F(LocalApicTimer, DivideConfigurationTable) {
  software_enable();
  const std::pair<u32, u64> table[] = {{0x0, 2},  {0x1, 4},  {0x2, 8},   {0x3, 16},
                                       {0x8, 32}, {0x9, 64}, {0xA, 128}, {0xB, 1}};
  for (auto [dcr, divisor] : table) {
    start_timer(0x40, dcr, 10);
    EXPECT_EQ(rd(REG_TIMER_DIVIDE), dcr);
    EXPECT_EQ(Local_apic::divisor_of(dcr), divisor);
    EXPECT_EQ(apic.next_timer_deadline(), now + 10 * divisor) << dcr;
  }
  (void)wr(REG_TIMER_DIVIDE, 0xFFFFFFF4);  // bit 2 and 31:4 are not stored
  EXPECT_EQ(rd(REG_TIMER_DIVIDE), 0u);
}

TEST_F(LocalApicTimer, TscDeadlineFiresAtTheDeadline) {
  software_enable();
  (void)wr(REG_LVT_TIMER, TIMER_TSC_DEADLINE | 0x50);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  apic.set_tsc_deadline(5000, now);
  EXPECT_EQ(apic.tsc_deadline(), 5000u);
  EXPECT_EQ(apic.next_timer_deadline(), 5000u);
  apic.update(4999);
  EXPECT_FALSE(apic.irr_bit(0x50));
  apic.update(5000);
  EXPECT_TRUE(apic.irr_bit(0x50));
  EXPECT_EQ(apic.tsc_deadline(), 0u);  // cleared when it fires
  EXPECT_EQ(apic.next_timer_deadline(), none);
  apic.set_tsc_deadline(10, 6000);  // already past: fires at the next update
  EXPECT_EQ(apic.next_timer_deadline(), 10u);
  apic.acknowledge(0x50);
  apic.update(6000);
  EXPECT_TRUE(apic.irr_bit(0x50));
}

TEST_F(LocalApicTimer, TscDeadlineZeroDisarmsAndOtherModesIgnoreTheMsr) {
  software_enable();
  apic.set_tsc_deadline(5000, now);  // one-shot mode: ignored
  EXPECT_EQ(apic.tsc_deadline(), 0u);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  (void)wr(REG_LVT_TIMER, TIMER_TSC_DEADLINE | 0x50);
  apic.set_tsc_deadline(5000, now);
  apic.set_tsc_deadline(0, now);
  EXPECT_EQ(apic.tsc_deadline(), 0u);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  apic.update(6000);
  EXPECT_FALSE(apic.irr_bit(0x50));
}

TEST_F(LocalApicTimer, InitialCountIsIgnoredInTscDeadlineMode) {
  software_enable();
  (void)wr(REG_LVT_TIMER, TIMER_TSC_DEADLINE | 0x50);
  (void)wr(REG_TIMER_INITIAL, 100);
  EXPECT_EQ(rd(REG_TIMER_INITIAL), 0u);
  EXPECT_EQ(rd(REG_TIMER_CURRENT), 0u);
  EXPECT_EQ(apic.next_timer_deadline(), none);
}

TEST_F(LocalApicTimer, ChangingTheModeDisarmsTheTimer) {
  software_enable();
  start_timer(0x40, 0xB, 100);
  (void)wr(REG_LVT_TIMER, TIMER_PERIODIC | 0x40);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  EXPECT_EQ(rd(REG_TIMER_CURRENT), 0u);
  (void)wr(REG_LVT_TIMER, TIMER_TSC_DEADLINE | 0x40);
  apic.set_tsc_deadline(2000, now);
  (void)wr(REG_LVT_TIMER, TIMER_TSC_DEADLINE | 0x41);  // same mode, new vector: still armed
  EXPECT_EQ(apic.next_timer_deadline(), 2000u);
  (void)wr(REG_LVT_TIMER, TIMER_ONE_SHOT | 0x41);
  EXPECT_EQ(apic.tsc_deadline(), 0u);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  apic.update(3000);
  EXPECT_FALSE(apic.irr_bit(0x41));
}

TEST_F(LocalApicTimer, NextTimerDeadlineInEachMode) {
  software_enable();
  EXPECT_EQ(apic.next_timer_deadline(), none);  // stopped
  start_timer(0x40, 0x0, 50);                   // one-shot: start + 50 * 2
  EXPECT_EQ(apic.next_timer_deadline(), 1100u);
  now = 1040;
  (void)wr(REG_TIMER_DIVIDE, 0x1);  // 30 counts left, now at 4 ticks each
  EXPECT_EQ(apic.next_timer_deadline(), 1040u + 30 * 4);
  start_timer(TIMER_PERIODIC | 0x40, 0xB, 50);
  EXPECT_EQ(apic.next_timer_deadline(), 1090u);
  apic.update(1090);
  EXPECT_EQ(apic.next_timer_deadline(), 1140u);
  (void)wr(REG_LVT_TIMER, TIMER_TSC_DEADLINE | 0x40);
  EXPECT_EQ(apic.next_timer_deadline(), none);
  apic.set_tsc_deadline(7777, now);
  EXPECT_EQ(apic.next_timer_deadline(), 7777u);
}

// After every step: the PPR formula holds and pending_vector() is -1 or the highest IRR vector,
// of a class above the PPR's.
void expect_invariants(const Local_apic& a, u64 now, int step) {
  const int isrv = a.highest_isr();
  const u8 isr_class = isrv < 0 ? 0 : static_cast<u8>(isrv & 0xF0);
  const u8 expected_ppr = (a.tpr() >> 4) >= (isr_class >> 4) ? a.tpr() : isr_class;
  ASSERT_EQ(a.ppr(), expected_ppr) << "step " << step;
  const int p = a.pending_vector();
  if (p >= 0) {
    ASSERT_TRUE(a.enabled()) << step;
    ASSERT_EQ(p, a.highest_irr()) << step;
    ASSERT_GT(p >> 4, a.ppr() >> 4) << step;
  } else if (a.enabled() && a.highest_irr() >= 0) {
    ASSERT_LE(a.highest_irr() >> 4, a.ppr() >> 4) << step;
  }
  if (!a.x2apic_mode() && a.hardware_enabled()) {
    ASSERT_LE(a.mmio_read(REG_TIMER_CURRENT, 4, now), a.mmio_read(REG_TIMER_INITIAL, 4, now)) << step;
  }
}

TEST(LocalApicRandom, InvariantsHoldUnderRandomAccess) {
  std::mt19937_64 rng(20240611);
  Local_apic a(5);
  u64 now = 0;
  Apic_write_effect effect;
  const u32 offsets[] = {REG_ID, REG_TPR, REG_EOI, REG_LDR, REG_DFR, REG_SVR, REG_ESR, REG_ICR_LOW,
                         REG_ICR_HIGH, REG_LVT_TIMER, REG_LVT_ERROR, REG_LVT_LINT0, REG_TIMER_INITIAL,
                         REG_TIMER_DIVIDE, REG_ISR, REG_IRR + 0x30, REG_SELF_IPI, 0x3C0};
  const u64 bases[] = {base_xapic, base_x2apic, base_disabled, base_xapic | 1};
  usize fired = 0;
  for (int step = 0; step < 5000; ++step) {
    now += rng() % 300;
    const u64 r = rng();
    const u32 value = static_cast<u32>(rng());
    const u32 offset = offsets[r % (sizeof offsets / sizeof offsets[0])];
    switch ((r >> 8) % 12) {
    case 0: case 1: {
      // Mostly well-formed values so the APIC is enabled and the timer counts in small steps.
      u32 v = value;
      if (offset == REG_SVR) v |= (value & 0x10000) ? 0 : SVR_ENABLE;
      if (offset == REG_TIMER_INITIAL) v &= 0x3FF;
      if (offset == REG_TPR) v &= 0x7F;
      if (offset == REG_LVT_TIMER) v &= 0x000700FF & ~(value & 0x8000 ? 0 : LVT_MASKED);
      const u32 fits = offset == REG_SVR ? 0x3FF : 0x7F1FF;  // x2APIC: half the writes avoid RsvdZ bits
      if (a.x2apic_mode()) (void)a.msr_write(x2apic_msr(offset), value & 1 ? v : v & fits, now, effect);
      else (void)a.mmio_write(offset, 4, v, now);
      break;
    }
    case 2: (void)a.mmio_read(offset + (value & 0xF), static_cast<u8>(1 + (value >> 8) % 4), now); break;
    case 3: { u64 v = 0; (void)a.msr_read(0x800 + (value & 0xFF), v, now); break; }
    case 4: case 5: a.accept(static_cast<u8>(value), value & 0x100); break;
    case 6: case 7:
      if (const int p = a.pending_vector(); p >= 0) { a.acknowledge(static_cast<u8>(p)); ++fired; }
      break;
    case 8:
      if (a.x2apic_mode()) (void)a.msr_write(0x80B, 0, now, effect);
      else (void)a.mmio_write(REG_EOI, 4, 0, now);
      break;
    case 9:
      a.update(now);
      ASSERT_GT(a.next_timer_deadline(), now) << step;  // nothing left due
      break;
    case 10: a.set_tsc_deadline(value & 1 ? 0 : now + value % 2000, now); break;
    case 11:  // rare mode changes; a disabled APIC comes back soon
      if ((value & 0xF) == 0 || !a.hardware_enabled()) (void)a.set_apic_base(bases[(value >> 4) % 4]);
      break;
    }
    expect_invariants(a, now, step);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(fired, 100u);  // the walk did exercise delivery
}

} // namespace
} // namespace hv
