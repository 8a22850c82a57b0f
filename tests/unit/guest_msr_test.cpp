// tests/unit/guest_msr_test.cpp - the guest MSR allow-list: values, validation, #GP decisions,
// statistics.
#include "vmx/guest_msr.hpp"
#include <gtest/gtest.h>
#include <random>

namespace hv {
namespace {

using R = Msr_access_result;
constexpr Guest_msr_context paging_off{0x10};                       // CR0.ET only
constexpr Guest_msr_context paging_on{0x80000011};                  // PG | ET | PE

class GuestMsrs : public ::testing::Test {
protected:
  Guest_msrs msrs{Guest_msr_config{}, 0};
};

TEST_F(GuestMsrs, UnlistedMsrsInjectGpAndAreCounted) {
  for (u32 m : {0x10u, msr::IA32_SPEC_CTRL, msr::IA32_PRED_CMD, msr::IA32_ARCH_CAPABILITIES, 0x480u, 0x802u, 0x6E0u,
                0xC0000104u, 0x200u, 0xFFFFFFFFu}) {
    EXPECT_TRUE(msrs.read(m).injects_gp()) << std::hex << m;
    EXPECT_TRUE(msrs.write(m, 0, paging_off).injects_gp()) << std::hex << m;
    EXPECT_FALSE(Guest_msrs::allowed(m));
  }
  EXPECT_EQ(msrs.unlisted_counts().reads, 10u);
  EXPECT_EQ(msrs.unlisted_counts().writes, 10u);
  EXPECT_EQ(msrs.unlisted_counts().faults, 20u);
  EXPECT_EQ(msrs.last_unlisted_msr(), 0xFFFFFFFFu);
  EXPECT_STREQ(Guest_msrs::msr_name(0x10), "unlisted");
}

TEST_F(GuestMsrs, DefaultsAreWhatAFreshCpuShows) {
  EXPECT_EQ(msrs.read(msr::IA32_EFER), R::done(0));
  EXPECT_EQ(msrs.read(msr::IA32_PAT), R::done(0x0007040600070406));
  EXPECT_EQ(msrs.read(msr::IA32_APIC_BASE), R::done(0xFEE00900));  // EN | BSP
  EXPECT_EQ(msrs.read(msr::IA32_FEATURE_CONTROL), R::done(1));   // locked, VMX off
  EXPECT_EQ(msrs.read(msr::IA32_MTRRCAP), R::done(0x500));
  EXPECT_EQ(msrs.read(msr::IA32_MTRR_DEF_TYPE), R::done(0xC06));
  for (u32 m : {0x250u, 0x258u, 0x259u, 0x268u, 0x26Fu}) EXPECT_EQ(msrs.read(m), R::done(0x0606060606060606));
  EXPECT_EQ(msrs.read(msr::IA32_MISC_ENABLE), R::done(0x1801));
  EXPECT_EQ(msrs.read(msr::IA32_BIOS_SIGN_ID), R::done(0));
  Guest_msrs ap(Guest_msr_config{}, 1);
  EXPECT_EQ(ap.read(msr::IA32_APIC_BASE), R::done(0xFEE00800));  // not the BSP
  Guest_msr_config c;
  c.microcode_revision = 0xf0;
  Guest_msrs with_ucode(c, 0);
  EXPECT_EQ(with_ucode.read(msr::IA32_BIOS_SIGN_ID), R::done(0xf000000000));
}

TEST_F(GuestMsrs, EferAcceptsItsFeatureBitsOnly) {
  EXPECT_EQ(msrs.write(msr::IA32_EFER, msr::EFER_SCE | msr::EFER_LME | msr::EFER_NXE, paging_off),
            R::done(msr::EFER_SCE | msr::EFER_LME | msr::EFER_NXE));
  EXPECT_EQ(msrs.read(msr::IA32_EFER).value, msr::EFER_SCE | msr::EFER_LME | msr::EFER_NXE);
  for (unsigned bit : {1u, 7u, 9u, 12u, 13u, 14u, 15u, 16u, 63u}) {
    EXPECT_TRUE(msrs.write(msr::IA32_EFER, (1ull << bit) | msr::EFER_LME, paging_off).injects_gp()) << bit;
  }
  EXPECT_EQ(msrs.value(msr::IA32_EFER), msr::EFER_SCE | msr::EFER_LME | msr::EFER_NXE);  // unchanged by faults
}

TEST_F(GuestMsrs, EferFeatureBitsFollowTheCpuModel) {
  Guest_msr_config c;
  c.nx = false;
  c.syscall = false;
  Guest_msrs m(c, 0);
  EXPECT_TRUE(m.write(msr::IA32_EFER, msr::EFER_NXE, paging_off).injects_gp());
  EXPECT_TRUE(m.write(msr::IA32_EFER, msr::EFER_SCE, paging_off).injects_gp());
  EXPECT_FALSE(m.write(msr::IA32_EFER, msr::EFER_LME, paging_off).injects_gp());
  Guest_msr_config legacy;
  legacy.long_mode = legacy.nx = legacy.syscall = false;
  Guest_msrs old(legacy, 0);
  EXPECT_TRUE(old.read(msr::IA32_EFER).injects_gp());  // no EFER at all
  EXPECT_TRUE(old.read(msr::IA32_LSTAR).injects_gp());
}

TEST_F(GuestMsrs, EferLmeCannotChangeWhilePagingAndLmaIsReadOnly) {
  EXPECT_TRUE(msrs.write(msr::IA32_EFER, msr::EFER_LME, paging_on).injects_gp());
  ASSERT_FALSE(msrs.write(msr::IA32_EFER, msr::EFER_LME, paging_off).injects_gp());
  // NXE may change with paging on, LME staying the same.
  EXPECT_FALSE(msrs.write(msr::IA32_EFER, msr::EFER_LME | msr::EFER_NXE, paging_on).injects_gp());
  // LMA written by the guest is ignored: the value in effect keeps the current LMA.
  EXPECT_EQ(msrs.write(msr::IA32_EFER, msr::EFER_LME | msr::EFER_LMA, paging_off), R::done(msr::EFER_LME));
  msrs.refresh(msr::IA32_EFER, msr::EFER_LME | msr::EFER_LMA);  // the CPU entered long mode
  EXPECT_EQ(msrs.write(msr::IA32_EFER, msr::EFER_LME | msr::EFER_NXE, paging_on),
            R::done(msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE));
}

TEST_F(GuestMsrs, AddressMsrsMustBeCanonical) {
  for (u32 m : {msr::IA32_LSTAR, msr::IA32_CSTAR, msr::IA32_FS_BASE, msr::IA32_GS_BASE, msr::IA32_KERNEL_GS_BASE,
                msr::IA32_SYSENTER_ESP, msr::IA32_SYSENTER_EIP}) {
    EXPECT_EQ(msrs.write(m, 0xFFFF800000001000, paging_on), R::done(0xFFFF800000001000)) << Guest_msrs::msr_name(m);
    EXPECT_EQ(msrs.write(m, 0x00007FFFFFFFF000, paging_on), R::done(0x00007FFFFFFFF000)) << Guest_msrs::msr_name(m);
    EXPECT_TRUE(msrs.write(m, 0x0000800000000000, paging_on).injects_gp()) << Guest_msrs::msr_name(m);
    EXPECT_TRUE(msrs.write(m, 0xFFFF7FFFFFFFFFFF, paging_on).injects_gp()) << Guest_msrs::msr_name(m);
    EXPECT_TRUE(msrs.write(m, 0x8000000000000000, paging_on).injects_gp()) << Guest_msrs::msr_name(m);
    EXPECT_EQ(msrs.read(m).value, 0x00007FFFFFFFF000u);
  }
  Guest_msr_config la57;
  la57.linear_address_bits = 57;
  Guest_msrs five(la57, 0);
  EXPECT_FALSE(five.write(msr::IA32_LSTAR, 0x0000800000000000, paging_on).injects_gp());
  EXPECT_TRUE(five.write(msr::IA32_LSTAR, 0x0100000000000000, paging_on).injects_gp());
}

TEST_F(GuestMsrs, SyscallAndSysenterMsrsKeepWhatIsWritten) {
  EXPECT_EQ(msrs.write(msr::IA32_STAR, 0x0023001000000000, paging_on), R::done(0x0023001000000000));
  EXPECT_EQ(msrs.write(msr::IA32_FMASK, 0x47700, paging_on), R::done(0x47700));
  EXPECT_EQ(msrs.write(msr::IA32_SYSENTER_CS, 0xDEAD000000000010, paging_on), R::done(0x10));  // 32-bit field
  EXPECT_EQ(msrs.read(msr::IA32_STAR).value, 0x0023001000000000u);
  EXPECT_EQ(msrs.read(msr::IA32_SYSENTER_CS).value, 0x10u);
}

TEST_F(GuestMsrs, PatBytesMustBeMemoryTypes) {
  EXPECT_EQ(msrs.write(msr::IA32_PAT, 0x0007010600070106, paging_on), R::done(0x0007010600070106));  // Linux's
  for (u8 bad : {2, 3, 8, 0x10, 0xFF}) {
    for (int byte = 0; byte < 8; ++byte) {
      const u64 v = (0x0606060606060606ull & ~(0xFFull << (8 * byte))) | (u64{bad} << (8 * byte));
      EXPECT_TRUE(msrs.write(msr::IA32_PAT, v, paging_on).injects_gp()) << std::hex << v;
    }
  }
  EXPECT_EQ(msrs.value(msr::IA32_PAT), 0x0007010600070106u);
}

TEST_F(GuestMsrs, TscAuxNeedsRdtscpAndAZeroHighHalf) {
  EXPECT_EQ(msrs.write(msr::IA32_TSC_AUX, 3, paging_on), R::done(3));
  EXPECT_TRUE(msrs.write(msr::IA32_TSC_AUX, 1ull << 32, paging_on).injects_gp());
  EXPECT_EQ(msrs.read(msr::IA32_TSC_AUX), R::done(3));
  Guest_msr_config c;
  c.tsc_aux = false;
  Guest_msrs no(c, 0);
  EXPECT_TRUE(no.read(msr::IA32_TSC_AUX).injects_gp());
  EXPECT_TRUE(no.write(msr::IA32_TSC_AUX, 0, paging_on).injects_gp());
}

TEST_F(GuestMsrs, MiscEnableAcceptsOnlyItsCurrentValue) {
  EXPECT_EQ(msrs.write(msr::IA32_MISC_ENABLE, guest_misc_enable_value, paging_on), R::done(guest_misc_enable_value));
  EXPECT_TRUE(msrs.write(msr::IA32_MISC_ENABLE, guest_misc_enable_value | (1ull << 18), paging_on).injects_gp());
  EXPECT_TRUE(msrs.write(msr::IA32_MISC_ENABLE, 0, paging_on).injects_gp());
}

TEST_F(GuestMsrs, ApicBaseEnableIsVirtualAndTheRestIsGuarded) {
  // Disabling the APIC is remembered (never reaches the host's APIC) and can be undone.
  EXPECT_EQ(msrs.write(msr::IA32_APIC_BASE, 0xFEE00000, paging_on), R::done(0xFEE00100));  // BSP kept
  EXPECT_EQ(msrs.read(msr::IA32_APIC_BASE), R::done(0xFEE00100));
  EXPECT_EQ(msrs.write(msr::IA32_APIC_BASE, 0xFEE00800, paging_on), R::done(0xFEE00900));
  EXPECT_TRUE(msrs.write(msr::IA32_APIC_BASE, 0xFEE00C00, paging_on).injects_gp());   // x2APIC
  EXPECT_TRUE(msrs.write(msr::IA32_APIC_BASE, 0xFED00800, paging_on).injects_gp());   // relocation
  EXPECT_TRUE(msrs.write(msr::IA32_APIC_BASE, 0xFEE00801, paging_on).injects_gp());   // reserved bit 0
  EXPECT_TRUE(msrs.write(msr::IA32_APIC_BASE, 0xFEE00A00, paging_on).injects_gp());   // reserved bit 9
  EXPECT_TRUE(msrs.write(msr::IA32_APIC_BASE, 0x10FEE00800, paging_on).injects_gp()); // above MAXPHYADDR 36
  EXPECT_EQ(msrs.read(msr::IA32_APIC_BASE), R::done(0xFEE00900));
  // A non-BSP cannot make itself the BSP.
  Guest_msrs ap(Guest_msr_config{}, 2);
  EXPECT_EQ(ap.write(msr::IA32_APIC_BASE, 0xFEE00900, paging_on), R::done(0xFEE00800));
}

TEST_F(GuestMsrs, ReadOnlyMsrs) {
  EXPECT_TRUE(msrs.write(msr::IA32_FEATURE_CONTROL, 0x5, paging_on).injects_gp());
  EXPECT_TRUE(msrs.write(msr::IA32_FEATURE_CONTROL, 0x1, paging_on).injects_gp());
  EXPECT_TRUE(msrs.write(msr::IA32_MTRRCAP, 0x500, paging_on).injects_gp());
  EXPECT_EQ(msrs.value(msr::IA32_FEATURE_CONTROL), 1u);
  // BIOS_SIGN_ID: writes accepted and ignored.
  EXPECT_EQ(msrs.write(msr::IA32_BIOS_SIGN_ID, 0, paging_on), R::done(0));
  EXPECT_EQ(msrs.write(msr::IA32_BIOS_SIGN_ID, 0x1234ull << 32, paging_on), R::done(0));
}

TEST_F(GuestMsrs, MtrrWritesAreValidatedAndKept) {
  EXPECT_EQ(msrs.write(msr::IA32_MTRR_DEF_TYPE, 0x806, paging_on), R::done(0x806));  // FE off
  EXPECT_EQ(msrs.write(msr::IA32_MTRR_DEF_TYPE, 0x000, paging_on), R::done(0));      // disabled, UC
  EXPECT_TRUE(msrs.write(msr::IA32_MTRR_DEF_TYPE, 0xC07, paging_on).injects_gp());   // UC- is not an MTRR type
  EXPECT_TRUE(msrs.write(msr::IA32_MTRR_DEF_TYPE, 0xD06, paging_on).injects_gp());   // reserved bit 8
  EXPECT_TRUE(msrs.write(msr::IA32_MTRR_DEF_TYPE, 0x1C06, paging_on).injects_gp());  // reserved bit 12
  EXPECT_EQ(msrs.write(0x259, 0x0101010101010101, paging_on), R::done(0x0101010101010101));
  EXPECT_TRUE(msrs.write(0x26B, 0x0606060606060602, paging_on).injects_gp());
  EXPECT_EQ(msrs.read(0x259).value, 0x0101010101010101u);
  EXPECT_EQ(msrs.read(0x26B).value, 0x0606060606060606u);
}

TEST_F(GuestMsrs, VmcsResidentMsrsAreNamedAndRefreshed) {
  for (u32 m : {msr::IA32_EFER, msr::IA32_PAT, msr::IA32_FS_BASE, msr::IA32_GS_BASE, msr::IA32_SYSENTER_CS,
                msr::IA32_SYSENTER_ESP, msr::IA32_SYSENTER_EIP})
    EXPECT_TRUE(Guest_msrs::lives_in_vmcs(m)) << Guest_msrs::msr_name(m);
  for (u32 m : {msr::IA32_STAR, msr::IA32_LSTAR, msr::IA32_KERNEL_GS_BASE, msr::IA32_TSC_AUX, msr::IA32_APIC_BASE, 0x10u})
    EXPECT_FALSE(Guest_msrs::lives_in_vmcs(m)) << Guest_msrs::msr_name(m);
  msrs.refresh(msr::IA32_FS_BASE, 0x7000);  // WRFSBASE in the guest
  EXPECT_EQ(msrs.read(msr::IA32_FS_BASE), R::done(0x7000));
  msrs.refresh(msr::IA32_LSTAR, 0x1234);  // not VMCS-resident: ignored
  EXPECT_EQ(msrs.value(msr::IA32_LSTAR), 0u);
}

TEST_F(GuestMsrs, CountsPerMsr) {
  (void)msrs.read(msr::IA32_EFER);
  (void)msrs.read(msr::IA32_EFER);
  (void)msrs.write(msr::IA32_EFER, msr::EFER_LME, paging_off);
  (void)msrs.write(msr::IA32_EFER, 1ull << 3, paging_off);
  const auto c = msrs.counts(msr::IA32_EFER);
  EXPECT_EQ(c.reads, 2u);
  EXPECT_EQ(c.writes, 2u);
  EXPECT_EQ(c.faults, 1u);
  EXPECT_EQ(msrs.counts(msr::IA32_STAR).reads, 0u);
  EXPECT_EQ(msrs.counts(0x10).reads, 0u);  // unlisted: see unlisted_counts()
}

TEST(GuestMsrTable, SlotsAndNamesAgree) {
  for (usize s = 0; s < Guest_msrs::slot_count; ++s) {
    const u32 m = Guest_msrs::msr_of_slot(s);
    EXPECT_TRUE(Guest_msrs::allowed(m)) << s;
    EXPECT_STRNE(Guest_msrs::msr_name(m), "unlisted") << s;
    for (usize t = 0; t < s; ++t) EXPECT_NE(Guest_msrs::msr_of_slot(t), m);
  }
  EXPECT_STREQ(Guest_msrs::msr_name(0x26A), "IA32_MTRR_FIX4K_D0000");
  EXPECT_STREQ(Guest_msrs::msr_name(msr::IA32_KERNEL_GS_BASE), "IA32_KERNEL_GS_BASE");
}

// Whatever a guest writes, the values that stick obey the rules (random writes, fixed seed).
TEST(GuestMsrTable, RandomWritesNeverLeaveAnInvalidValue) {
  Guest_msrs msrs(Guest_msr_config{}, 0);
  std::mt19937_64 rng(4242);
  for (int i = 0; i < 50000; ++i) {
    const u32 m = Guest_msrs::msr_of_slot(rng() % Guest_msrs::slot_count);
    u64 v = rng();
    if (rng() % 2) v &= 0xFFF;  // small values pass more checks
    if (rng() % 4 == 0) v = 0x0606060606060606 ^ (u64{rng() % 8} << (8 * (rng() % 8)));
    (void)msrs.write(m, v, rng() % 2 ? paging_on : paging_off);
  }
  const u64 efer = msrs.value(msr::IA32_EFER);
  EXPECT_EQ(efer & ~(msr::EFER_SCE | msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE), 0u);
  EXPECT_EQ(efer & msr::EFER_LMA, 0u);  // only refresh() sets it
  for (u32 m : {msr::IA32_LSTAR, msr::IA32_FS_BASE, msr::IA32_KERNEL_GS_BASE}) {
    const u64 a = msrs.value(m);
    EXPECT_TRUE(a < 0x0000800000000000 || a >= 0xFFFF800000000000) << std::hex << a;
  }
  EXPECT_EQ(msrs.value(msr::IA32_TSC_AUX) >> 32, 0u);
  EXPECT_EQ(msrs.value(msr::IA32_APIC_BASE) & ~0x900ull, 0xFEE00000u);
  EXPECT_EQ(msrs.value(msr::IA32_FEATURE_CONTROL), 1u);
  EXPECT_EQ(msrs.value(msr::IA32_MISC_ENABLE), guest_misc_enable_value);
}

} // namespace
} // namespace hv
