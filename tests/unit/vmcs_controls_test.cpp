// tests/unit/vmcs_controls_test.cpp - VMX control fields from the capability MSRs (Bochs, real
// Intel CPUs, impossible combinations) and the CR0/CR4 fixed bits.
#include "lib/log.hpp"
#include "unit/support/cpu_profiles.hpp"
#include "vmx/control_register_fixed.hpp"
#include "vmx/vmcs_controls.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

// What hv's VMCS builder asks for: EPT is indispensable; VPID, unrestricted guest and the rest
// are welcome. VMCS shadowing and mode-based EPT execute control are optional extras here so
// that the CPUs below differ in what they drop.
Vmx_controls_request hv_request() {
  Vmx_controls_request r;
  r.pin_based.required = pin_based_ctl::EXTERNAL_INTERRUPT_EXITING | pin_based_ctl::NMI_EXITING;
  r.pin_based.optional = pin_based_ctl::VIRTUAL_NMIS | pin_based_ctl::ACTIVATE_VMX_PREEMPTION_TIMER;
  r.proc_based.required = proc_based_ctl::HLT_EXITING | proc_based_ctl::USE_IO_BITMAPS | proc_based_ctl::USE_MSR_BITMAPS;
  r.proc_based2.required = proc_based_ctl2::ENABLE_EPT;
  r.proc_based2.optional = proc_based_ctl2::ENABLE_VPID | proc_based_ctl2::UNRESTRICTED_GUEST |
                           proc_based_ctl2::ENABLE_RDTSCP | proc_based_ctl2::ENABLE_INVPCID |
                           proc_based_ctl2::ENABLE_XSAVES_XRSTORS | proc_based_ctl2::VMCS_SHADOWING |
                           proc_based_ctl2::MODE_BASED_EXECUTE_CONTROL_FOR_EPT;
  r.vm_exit.required = vm_exit_ctl::HOST_ADDRESS_SPACE_SIZE | vm_exit_ctl::ACKNOWLEDGE_INTERRUPT_ON_EXIT |
                       vm_exit_ctl::SAVE_IA32_EFER | vm_exit_ctl::LOAD_IA32_EFER;
  r.vm_exit.optional = vm_exit_ctl::SAVE_IA32_PAT | vm_exit_ctl::LOAD_IA32_PAT;
  r.vm_entry.required = vm_entry_ctl::IA32E_MODE_GUEST | vm_entry_ctl::LOAD_IA32_EFER;
  r.vm_entry.optional = vm_entry_ctl::LOAD_IA32_PAT;
  return r;
}

// Intel Core i7-9750H (Coffee Lake-H, CPUID.1:EAX 0x906EA, an MSI GS65 Stealth 9SE laptop), as
// printed by VirtualBox 6.1.16 in the VBox.log of the VirtualBox forum thread "Vbox 6.1 Black
// Screen on Startup Ubuntu 20.04" (2021-01-14): "HM: MSR_IA32_VMX_... = 0x..." lines.
// It lacks VMCS shadowing and has mode-based EPT execute control, unlike the 6700K and Bochs.
Vmx_capability_msrs core_i7_9750h() {
  Vmx_capability_msrs m;
  m.feature_control = 0x20005;
  m.basic = 0xda040000000004;
  m.pinbased_ctls = 0x7f00000016;
  m.procbased_ctls = 0xfff9fffe0401e172;
  m.procbased_ctls2 = 0x5fbcff00000000;
  m.entry_ctls = 0x3ffff000011ff;
  m.exit_ctls = 0x1ffffff00036dff;
  m.true_pinbased_ctls = 0x7f00000016;
  m.true_procbased_ctls = 0xfff9fffe04006172;
  m.true_entry_ctls = 0x3ffff000011fb;
  m.true_exit_ctls = 0x1ffffff00036dfb;
  m.misc = 0x7004c1e7;
  m.vmcs_enum = 0x2e;
  m.ept_vpid_cap = 0xf0106734141;
  m.vmfunc = 0x1;
  m.cr0_fixed0 = 0x80000021;
  m.cr0_fixed1 = 0xffffffff;
  m.cr4_fixed0 = 0x2000;
  m.cr4_fixed1 = 0x3727ff;
  m.has_feature_control = m.has_vmx_msrs = m.has_procbased_ctls2 = m.has_ept_vpid_cap = m.has_true_ctls =
      m.has_vmfunc = true;
  return m;
}

std::string error_text(const Vmx_controls_result& r) {
  Fixed_text<256> out;
  format_vmx_controls_error(out, r);
  return std::string(out.view());
}

std::vector<Vmx_control_bit> bits_of(const Vmx_control_values& v) {
  std::vector<Vmx_control_bit> out(160);
  out.resize(list_vmx_control_bits(v, out));
  return out;
}

// Hand-computed from the TRUE_* MSRs: must-be-one bits | wanted bits, within allowed-1.
constexpr u32 pin_expected = 0x16 | 0x01 | 0x08 | 0x20 | 0x40;                  // 0x7f
constexpr u32 proc_expected = 0x04006172 | 0x80 | 0x02000000 | 0x10000000 | 0x80000000;  // 0x960061f2
constexpr u32 exit_expected = 0x00036dfb | 0x200 | 0x8000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;
constexpr u32 entry_expected = 0x11fb | 0x200 | 0x4000 | 0x8000;
constexpr u32 proc2_common = 0x2 | 0x20 | 0x80 | 0x8 | 0x1000 | 0x100000;  // EPT VPID UG RDTSCP INVPCID XSAVES
static_assert(proc_expected == 0x960061f2 && exit_expected == 0x3feffb && entry_expected == 0xd3fb);

TEST(VmcsControls, BochsSkylakeXGetsEverythingButModeBasedExecute) {
  const Vmx_controls_result r = compute_vmx_controls(hv_request(), test::bochs_skylake_x().msrs);
  ASSERT_TRUE(r.ok()) << error_text(r);
  EXPECT_EQ(r.value.pin_based, pin_expected);
  EXPECT_EQ(r.value.proc_based, proc_expected);
  EXPECT_EQ(r.value.proc_based2, proc2_common | proc_based_ctl2::VMCS_SHADOWING);
  EXPECT_EQ(r.value.vm_exit, exit_expected);
  EXPECT_EQ(r.value.vm_entry, entry_expected);
  const Vmx_control_values dropped{0, 0, proc_based_ctl2::MODE_BASED_EXECUTE_CONTROL_FOR_EPT, 0, 0};
  EXPECT_EQ(r.dropped, dropped);
  EXPECT_FALSE(r.secondary_controls_unavailable);
}

TEST(VmcsControls, RealCoreI7_6700kMatchesBochsForHvsRequest) {
  const Vmx_controls_result r = compute_vmx_controls(hv_request(), test::intel_core_i7_6700k().msrs);
  ASSERT_TRUE(r.ok()) << error_text(r);
  EXPECT_EQ(r.value.pin_based, pin_expected);
  EXPECT_EQ(r.value.proc_based, proc_expected);
  EXPECT_EQ(r.value.proc_based2, proc2_common | proc_based_ctl2::VMCS_SHADOWING);
  EXPECT_EQ(r.value.vm_exit, exit_expected);
  EXPECT_EQ(r.value.vm_entry, entry_expected);
  EXPECT_EQ(r.dropped.proc_based2, proc_based_ctl2::MODE_BASED_EXECUTE_CONTROL_FOR_EPT);
}

TEST(VmcsControls, RealCoreI7_9750hDropsVmcsShadowingAndKeepsModeBasedExecute) {
  const Vmx_controls_result r = compute_vmx_controls(hv_request(), core_i7_9750h());
  ASSERT_TRUE(r.ok()) << error_text(r);
  EXPECT_EQ(r.value.proc_based2, proc2_common | proc_based_ctl2::MODE_BASED_EXECUTE_CONTROL_FOR_EPT);
  const std::vector<Vmx_control_bit> dropped = bits_of(r.dropped);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0], (Vmx_control_bit{Vmx_control_field::proc_based2, 14}));
  EXPECT_STREQ(vmx_control_name(dropped[0].field, dropped[0].bit), "VMCS shadowing");
}

TEST(VmcsControls, MustBeOneBitsTheRequestDidNotMentionAreForcedOnAndListed) {
  const Vmx_controls_result r = compute_vmx_controls({}, test::bochs_skylake_x().msrs);
  ASSERT_TRUE(r.ok());
  const Vmx_control_values expected{0x16, 0x04006172, 0, 0x36dfb, 0x11fb};
  EXPECT_EQ(r.value, expected);
  EXPECT_EQ(r.forced, expected);
  EXPECT_FALSE(r.dropped.any());
  // A required bit that is also must-be-one is not "forced": the request asked for it.
  Vmx_controls_request q;
  q.pin_based.required = 1u << 1;
  EXPECT_EQ(compute_vmx_controls(q, test::bochs_skylake_x().msrs).forced.pin_based, 0x14u);
}

TEST(VmcsControls, WithoutTrueMsrsTheDefault1ControlsStayForced) {
  Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  m.basic &= ~(1ull << 55);  // IA32_VMX_BASIC[55] = 0: the TRUE_* MSRs do not exist
  m.true_procbased_ctls = m.true_exit_ctls = m.true_entry_ctls = m.true_pinbased_ctls = 0;
  const Vmx_controls_result r = compute_vmx_controls(hv_request(), m);
  ASSERT_TRUE(r.ok()) << error_text(r);
  EXPECT_EQ(r.value.proc_based, proc_expected | proc_based_ctl::CR3_LOAD_EXITING | proc_based_ctl::CR3_STORE_EXITING);
  EXPECT_EQ(r.value.vm_exit, exit_expected | vm_exit_ctl::SAVE_DEBUG_CONTROLS);
  EXPECT_EQ(r.value.vm_entry, entry_expected | vm_entry_ctl::LOAD_DEBUG_CONTROLS);
  EXPECT_TRUE(r.forced.proc_based & proc_based_ctl::CR3_LOAD_EXITING);
}

TEST(VmcsControls, TrueMsrsLetTheCr3ExitingControlsBeZero) {
  const Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  EXPECT_TRUE(vmx_uses_true_controls(m));
  EXPECT_EQ(vmx_control_capability(m, Vmx_control_field::proc_based), m.true_procbased_ctls);
  const Vmx_controls_result r = compute_vmx_controls(hv_request(), m);
  EXPECT_EQ(r.value.proc_based & (proc_based_ctl::CR3_LOAD_EXITING | proc_based_ctl::CR3_STORE_EXITING), 0u);
}

TEST(VmcsControls, UnnamedDefault1BitsAreSetWhenTheTrueMsrLeavesThemFlexible) {
  // SDM 31.5.1: a flexible control software does not know (here reserved bit 1 of the
  // pin-based controls) is set to 1 if it is in the default1 class, left 0 otherwise (bit 8).
  Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  m.true_pinbased_ctls = 0x000001ff00000000ull;  // bits 0..8 allowed, none required
  const Vmx_controls_result r = compute_vmx_controls({}, m);
  EXPECT_EQ(r.value.pin_based, pin_based_ctl::DEFAULT1);
  EXPECT_EQ(r.forced.pin_based, pin_based_ctl::DEFAULT1);
}

TEST(VmcsControls, RequiredControlTheCpuCannotSetIsAnErrorNamingIt) {
  Vmx_controls_request q = hv_request();
  q.proc_based.required |= proc_based_ctl::MONITOR_TRAP_FLAG;  // Bochs 2.7 has no MTF (bit 27 of allowed-1 is 0)
  const Vmx_controls_result r = compute_vmx_controls(q, test::bochs_skylake_x().msrs);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing.proc_based, proc_based_ctl::MONITOR_TRAP_FLAG);
  EXPECT_EQ(r.first_missing(), (Vmx_control_bit{Vmx_control_field::proc_based, 27}));
  EXPECT_EQ(error_text(r), "primary processor-based control 'monitor trap flag' (bit 27) is not supported by this CPU");
}

TEST(VmcsControls, MissingEptIsReportedAsTheSecondaryControl) {
  const Vmx_controls_result r = compute_vmx_controls(hv_request(), test::vmx_without_ept().msrs);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.missing.proc_based2, proc_based_ctl2::ENABLE_EPT);
  EXPECT_EQ(error_text(r), "secondary processor-based control 'enable EPT' (bit 1) is not supported by this CPU");
  // The optional unrestricted guest went with EPT; VPID stayed.
  EXPECT_TRUE(r.dropped.proc_based2 & proc_based_ctl2::UNRESTRICTED_GUEST);
  EXPECT_TRUE(r.value.proc_based2 & proc_based_ctl2::ENABLE_VPID);
}

TEST(VmcsControls, SecondaryWantedButPrimaryActivationNotAllowedFails) {
  const Vmx_controls_result r = compute_vmx_controls(hv_request(), test::vmx_without_secondary_controls().msrs);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.secondary_controls_unavailable);
  EXPECT_EQ(r.missing.proc_based2, proc_based_ctl2::ENABLE_EPT);
  EXPECT_EQ(r.dropped.proc_based2, hv_request().proc_based2.optional);
  EXPECT_EQ(error_text(r),
            "secondary processor-based control 'enable EPT' (bit 1) is not supported by this CPU: it has no secondary "
            "processor-based controls (primary control 'activate secondary controls' (bit 31) may not be 1)");
  EXPECT_EQ(vmx_control_capability(test::vmx_without_secondary_controls().msrs, Vmx_control_field::proc_based2), 0u);
}

TEST(VmcsControls, OptionalSecondaryOnlyWithoutSecondaryControlsIsDroppedNotFatal) {
  Vmx_controls_request q = hv_request();
  q.proc_based2.optional |= q.proc_based2.required;
  q.proc_based2.required = 0;
  const Vmx_controls_result r = compute_vmx_controls(q, test::vmx_without_secondary_controls().msrs);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.proc_based2, 0u);
  EXPECT_EQ(r.value.proc_based & proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS, 0u);
  EXPECT_EQ(r.dropped.proc_based2, q.proc_based2.optional);
  EXPECT_TRUE(r.secondary_controls_unavailable);
}

TEST(VmcsControls, ActivateSecondaryIsSetExactlyWhenASecondaryBitSurvives) {
  Vmx_controls_request q;
  q.proc_based2.optional = proc_based_ctl2::ENABLE_VPID;
  Vmx_controls_result r = compute_vmx_controls(q, test::bochs_skylake_x().msrs);
  EXPECT_TRUE(r.value.proc_based & proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS);
  EXPECT_TRUE(r.forced.proc_based & proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS);
  // Every wanted secondary bit unavailable: the secondary field stays off.
  q.proc_based2.optional = proc_based_ctl2::ENABLE_ENCLS_EXITING;  // bit 15: not in Bochs' allowed-1
  r = compute_vmx_controls(q, test::bochs_skylake_x().msrs);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.value.proc_based2, 0u);
  EXPECT_EQ(r.value.proc_based & proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS, 0u);
  EXPECT_EQ(r.dropped.proc_based2, proc_based_ctl2::ENABLE_ENCLS_EXITING);
}

TEST(VmcsControls, EveryMissingControlIsListedInFieldThenBitOrder) {
  Vmx_controls_request q;
  q.vm_entry.required = 1u << 31 | vm_entry_ctl::LOAD_PKRS;  // neither allowed on Bochs (allowed-1 0xffff)
  q.pin_based.required = 1u << 30;
  const Vmx_controls_result r = compute_vmx_controls(q, test::bochs_skylake_x().msrs);
  const std::vector<Vmx_control_bit> missing = bits_of(r.missing);
  ASSERT_EQ(missing.size(), 3u);
  EXPECT_EQ(missing[0], (Vmx_control_bit{Vmx_control_field::pin_based, 30}));
  EXPECT_EQ(missing[1], (Vmx_control_bit{Vmx_control_field::vm_entry, 22}));
  EXPECT_EQ(missing[2], (Vmx_control_bit{Vmx_control_field::vm_entry, 31}));
  EXPECT_EQ(error_text(r), "pin-based control 'reserved' (bit 30) is not supported by this CPU");
}

TEST(VmcsControls, NamesFollowTheSdmTables) {
  EXPECT_STREQ(vmx_control_field_name(Vmx_control_field::proc_based2), "secondary processor-based");
  EXPECT_STREQ(vmx_control_field_name(Vmx_control_field::vm_exit), "VM-exit");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::proc_based2, 1), "enable EPT");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::proc_based2, 7), "unrestricted guest");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::pin_based, 6), "activate VMX-preemption timer");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::proc_based, 31), "activate secondary controls");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::vm_exit, 15), "acknowledge interrupt on exit");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::vm_entry, 9), "IA-32e mode guest");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::vm_entry, 1), "reserved");
  EXPECT_STREQ(vmx_control_name(Vmx_control_field::vm_entry, 32), "reserved");
}

class Capture_sink final : public Log_sink {
public:
  void write_line(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

TEST(VmcsControls, LogSaysWhatWasDroppedAndTheFinalValues) {
  Capture_sink sink;
  log_set_sink(&sink);
  log_set_level(Log_level::info);
  log_vmx_controls(compute_vmx_controls(hv_request(), core_i7_9750h()));
  log_set_sink(nullptr);
  ASSERT_EQ(sink.lines.size(), 2u);
  EXPECT_EQ(sink.lines[0], "[W vmx] optional secondary processor-based control 'VMCS shadowing' (bit 14) is not available; left off");
  EXPECT_EQ(sink.lines[1], "[I vmx] controls: pin 0x7f proc 0x960061f2 proc2 0x5010aa exit 0x3feffb entry 0xd3fb");
}

// --- CR0/CR4 fixed bits

std::string violation_text(const Cr_fixed_violation& v) {
  Fixed_text<128> out;
  format_cr_fixed_violation(out, v);
  return std::string(out.view());
}

TEST(ControlRegisterFixed, HostCr4WithoutVmxeIsNamedAndFixed) {
  const Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  const u64 cr4 = cr4_bit::PAE | cr4_bit::PGE | cr4_bit::OSFXSR;
  const Cr_fixed_violation v = check_fixed(Control_register::cr4, cr4, cr4_fixed_bits(m));
  EXPECT_EQ(v.kind, Cr_fixed_violation::Kind::must_be_one);
  EXPECT_EQ(violation_text(v), "CR4.VMXE (bit 13) must be 1 in VMX operation");
  const u64 fixed = apply_fixed(cr4, cr4_fixed_bits(m));
  EXPECT_EQ(fixed, cr4 | cr4_bit::VMXE);
  EXPECT_TRUE(check_fixed(Control_register::cr4, fixed, cr4_fixed_bits(m)).ok());
}

TEST(ControlRegisterFixed, Cr4BitsTheCpuLacksMustBeZero) {
  // Bochs' CR4_FIXED1 0x3727ff has no UMIP (11), LA57 (12) or SMXE (14).
  const Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  const u64 cr4 = cr4_bit::VMXE | cr4_bit::UMIP | cr4_bit::SMXE;
  const Cr_fixed_violation v = check_fixed(Control_register::cr4, cr4, cr4_fixed_bits(m));
  EXPECT_EQ(violation_text(v), "CR4.UMIP (bit 11) must be 0 in VMX operation");
  EXPECT_EQ(apply_fixed(cr4, cr4_fixed_bits(m)), cr4_bit::VMXE);
}

TEST(ControlRegisterFixed, HostCr0NeedsPeNeAndPg) {
  const Vmx_capability_msrs m = test::intel_core_i7_6700k().msrs;
  const u64 cr0 = cr0_bit::PE | cr0_bit::ET;
  EXPECT_EQ(violation_text(check_fixed(Control_register::cr0, cr0, cr0_fixed_bits(m))),
            "CR0.NE (bit 5) must be 1 in VMX operation");
  EXPECT_EQ(apply_fixed(cr0, cr0_fixed_bits(m)), cr0 | cr0_bit::NE | cr0_bit::PG);
  EXPECT_EQ(violation_text(check_fixed(Control_register::cr0, cr0 | cr0_bit::NE, cr0_fixed_bits(m))),
            "CR0.PG (bit 31) must be 1 in VMX operation");
  // Bits 63:32 of CR0 are reserved: FIXED1 says so by being 0 there.
  EXPECT_EQ(check_fixed(Control_register::cr0, 0x80000021ull | (1ull << 40), cr0_fixed_bits(m)).kind,
            Cr_fixed_violation::Kind::must_be_zero);
}

TEST(ControlRegisterFixed, UnrestrictedGuestMayRunWithoutPeAndPg) {
  const Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  const u64 real_mode = cr0_bit::ET | cr0_bit::NE;
  EXPECT_TRUE(check_guest_cr0(real_mode, m, true).ok());
  EXPECT_EQ(apply_fixed(real_mode, guest_cr0_fixed_bits(m, true)), real_mode);
  EXPECT_EQ(violation_text(check_guest_cr0(real_mode, m, false)), "CR0.PE (bit 0) must be 1 in VMX operation");
  EXPECT_EQ(apply_fixed(real_mode, guest_cr0_fixed_bits(m, false)), real_mode | cr0_bit::PE | cr0_bit::PG);
  // NE stays fixed even for an unrestricted guest.
  EXPECT_EQ(violation_text(check_guest_cr0(cr0_bit::ET, m, true)), "CR0.NE (bit 5) must be 1 in VMX operation");
}

TEST(ControlRegisterFixed, GuestPagingNeedsProtectedMode) {
  const Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  const Cr_fixed_violation v = check_guest_cr0(cr0_bit::PG | cr0_bit::NE, m, true);
  EXPECT_EQ(v.kind, Cr_fixed_violation::Kind::paging_without_pe);
  EXPECT_EQ(violation_text(v), "CR0.PE (bit 0) must be 1 when CR0.PG (bit 31) is 1");
}

TEST(ControlRegisterFixed, GuestCdAndNwAreNeverChecked) {
  Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  m.cr0_fixed1 = 0x9fffffff;  // a CPU that would want CD and NW clear
  const u64 cr0 = cr0_bit::PE | cr0_bit::NE | cr0_bit::PG | cr0_bit::CD | cr0_bit::NW;
  EXPECT_TRUE(check_guest_cr0(cr0, m, false).ok());
  EXPECT_EQ(violation_text(check_fixed(Control_register::cr0, cr0, cr0_fixed_bits(m))),
            "CR0.NW (bit 29) must be 0 in VMX operation");
}

TEST(ControlRegisterFixed, FixedMaskCoversEveryBitTheGuestMayNotChange) {
  const Vmx_capability_msrs m = test::bochs_skylake_x().msrs;
  const u64 mask = cr4_fixed_bits(m).fixed();
  EXPECT_TRUE(mask & cr4_bit::VMXE);
  EXPECT_TRUE(mask & cr4_bit::UMIP);
  EXPECT_FALSE(mask & cr4_bit::PAE);
  EXPECT_EQ(guest_cr0_fixed_bits(m, true).fixed() & 0xffffffffu, cr0_bit::NE);
}

} // namespace
} // namespace hv
