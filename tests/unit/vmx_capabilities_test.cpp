// tests/unit/vmx_capabilities_test.cpp - reading and decoding the VMX capability MSRs and the
// boot feature report, over the CPU profiles in unit/support/cpu_profiles.hpp.
#include "arch/x86/fake/fake_cpu.hpp"
#include "arch/x86/msr.hpp"
#include "lib/log.hpp"
#include "unit/support/cpu_profiles.hpp"
#include "arch/x86/ept_entry.hpp"
#include "vmx/vmx_capabilities.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

using test::Cpu_profile;

void expect_same_msrs(const Vmx_capability_msrs& got, const Vmx_capability_msrs& want) {
  EXPECT_EQ(got.has_feature_control, want.has_feature_control);
  EXPECT_EQ(got.has_vmx_msrs, want.has_vmx_msrs);
  EXPECT_EQ(got.has_procbased_ctls2, want.has_procbased_ctls2);
  EXPECT_EQ(got.has_ept_vpid_cap, want.has_ept_vpid_cap);
  EXPECT_EQ(got.has_true_ctls, want.has_true_ctls);
  EXPECT_EQ(got.has_vmfunc, want.has_vmfunc);
  EXPECT_EQ(got.feature_control, want.feature_control);
  EXPECT_EQ(got.basic, want.basic);
  EXPECT_EQ(got.pinbased_ctls, want.pinbased_ctls);
  EXPECT_EQ(got.procbased_ctls, want.procbased_ctls);
  EXPECT_EQ(got.exit_ctls, want.exit_ctls);
  EXPECT_EQ(got.entry_ctls, want.entry_ctls);
  EXPECT_EQ(got.misc, want.misc);
  EXPECT_EQ(got.cr0_fixed0, want.cr0_fixed0);
  EXPECT_EQ(got.cr0_fixed1, want.cr0_fixed1);
  EXPECT_EQ(got.cr4_fixed0, want.cr4_fixed0);
  EXPECT_EQ(got.cr4_fixed1, want.cr4_fixed1);
  EXPECT_EQ(got.vmcs_enum, want.vmcs_enum);
  EXPECT_EQ(got.procbased_ctls2, want.procbased_ctls2);
  EXPECT_EQ(got.ept_vpid_cap, want.ept_vpid_cap);
  EXPECT_EQ(got.true_pinbased_ctls, want.true_pinbased_ctls);
  EXPECT_EQ(got.true_procbased_ctls, want.true_procbased_ctls);
  EXPECT_EQ(got.true_exit_ctls, want.true_exit_ctls);
  EXPECT_EQ(got.true_entry_ctls, want.true_entry_ctls);
  EXPECT_EQ(got.vmfunc, want.vmfunc);
}

struct Loaded {
  Fake_cpu cpu;
  Cpu_identity id;
  Vmx_capability_msrs msrs;
  Vmx_features features;
};

void load(Loaded& l, const Cpu_profile& p) {
  test::apply(l.cpu, p);
  l.id = read_cpu_identity(l.cpu);
  l.msrs = read_vmx_capability_msrs(l.cpu, l.id);
  l.features = decode_vmx_features(l.id, l.msrs);
}

class VmxProfiles : public ::testing::TestWithParam<Cpu_profile> {};

TEST_P(VmxProfiles, ReadsExactlyTheMsrsTheCpuHasAndDecodesTheExpectedStatus) {
  const Cpu_profile& p = GetParam();
  Loaded l;
  load(l, p);
  EXPECT_TRUE(l.cpu.missing_msr_reads.empty()) << "first missing MSR read: " << std::hex
                                               << (l.cpu.missing_msr_reads.empty() ? 0 : l.cpu.missing_msr_reads[0]);
  EXPECT_TRUE(l.cpu.msr_writes.empty()) << "reading capabilities must not write MSRs";
  expect_same_msrs(l.msrs, p.msrs);
  EXPECT_EQ(l.features.status, p.status) << vmx_status_name(l.features.status);
  EXPECT_EQ(l.id.vendor, p.vendor);
  EXPECT_EQ(l.id.family, p.family);
  EXPECT_EQ(l.id.model, p.model);
  EXPECT_EQ(l.id.stepping, p.stepping);
  EXPECT_EQ(l.id.physical_address_bits, p.physical_address_bits);
  EXPECT_EQ(std::string(l.id.brand_name()), p.brand);
}

TEST_P(VmxProfiles, StatusAdviceIsEmptyOnlyWhenUsable) {
  Loaded l;
  load(l, GetParam());
  EXPECT_EQ(std::string(vmx_status_advice(l.features.status)).empty(), l.features.status == Vmx_status::usable);
  EXPECT_STRNE(vmx_status_name(l.features.status), "?");
}

INSTANTIATE_TEST_SUITE_P(AllCpus, VmxProfiles, ::testing::ValuesIn(test::all_cpu_profiles()),
                         [](const ::testing::TestParamInfo<Cpu_profile>& info) { return info.param.name; });

TEST(VmxFeatures, BochsSkylakeXDecodesEveryFeatureTheHypervisorNeeds) {
  Loaded l;
  load(l, test::bochs_skylake_x());
  const Vmx_features& f = l.features;
  EXPECT_TRUE(f.vmx);
  EXPECT_FALSE(f.feature_control_locked);
  EXPECT_EQ(f.vmcs_revision, 0x2bu);
  EXPECT_EQ(f.vmcs_region_size, 4096u);
  EXPECT_EQ(f.vmcs_memory_type, 6u);
  EXPECT_FALSE(f.vmcs_32bit_addresses);
  EXPECT_TRUE(f.ins_outs_info);
  EXPECT_TRUE(f.true_controls);
  EXPECT_TRUE(f.secondary_controls);
  EXPECT_TRUE(f.ept);
  EXPECT_TRUE(f.ept_4level);
  EXPECT_FALSE(f.ept_5level);
  EXPECT_TRUE(f.ept_wb);
  EXPECT_TRUE(f.ept_uc);
  EXPECT_TRUE(f.ept_2m);
  EXPECT_TRUE(f.ept_1g);
  EXPECT_TRUE(f.ept_accessed_dirty);
  EXPECT_TRUE(f.ept_execute_only);
  EXPECT_TRUE(f.invept);
  EXPECT_TRUE(f.invept_single_context);
  EXPECT_TRUE(f.invept_all_context);
  EXPECT_TRUE(f.vpid);
  EXPECT_TRUE(f.invvpid);
  EXPECT_TRUE(f.invvpid_individual_address);
  EXPECT_TRUE(f.invvpid_single_context);
  EXPECT_TRUE(f.invvpid_all_context);
  EXPECT_TRUE(f.invvpid_single_context_retaining_globals);
  EXPECT_TRUE(f.unrestricted_guest);
  EXPECT_TRUE(f.preemption_timer);
  EXPECT_EQ(f.preemption_timer_rate, 0u);
  EXPECT_TRUE(f.activity_hlt);
  EXPECT_TRUE(f.activity_shutdown);
  EXPECT_TRUE(f.activity_wait_for_sipi);
  EXPECT_TRUE(f.pml);
  EXPECT_TRUE(f.vm_functions);
  EXPECT_EQ(f.status, Vmx_status::usable);
}

TEST(VmxFeatures, CoreI7_6700KPublishedValuesDecode) {
  Loaded l;
  load(l, test::intel_core_i7_6700k());
  const Vmx_features& f = l.features;
  EXPECT_TRUE(f.feature_control_locked);
  EXPECT_TRUE(f.vmxon_outside_smx);
  EXPECT_EQ(f.vmcs_revision, 4u);
  EXPECT_EQ(f.vmcs_region_size, 1024u);
  EXPECT_EQ(f.vmcs_memory_type, 6u);
  EXPECT_TRUE(f.ept && f.ept_4level && f.ept_wb && f.ept_2m && f.ept_1g && f.ept_accessed_dirty);
  EXPECT_TRUE(f.invept_single_context && f.invept_all_context);
  EXPECT_TRUE(f.vpid && f.invvpid);
  EXPECT_TRUE(f.unrestricted_guest);
  EXPECT_TRUE(f.preemption_timer);
  EXPECT_EQ(f.preemption_timer_rate, 7u);  // IA32_VMX_MISC 0x7004c1e7: bits 4:0
  EXPECT_TRUE(f.activity_hlt && f.activity_shutdown && f.activity_wait_for_sipi);
  EXPECT_EQ(f.status, Vmx_status::usable);
}

TEST(VmxFeatures, WithoutEptTheEptCapabilityBitsAreNotReported) {
  Loaded l;
  load(l, test::vmx_without_ept());
  const Vmx_features& f = l.features;
  EXPECT_TRUE(f.vmx);
  EXPECT_FALSE(f.ept);
  EXPECT_FALSE(f.ept_4level);
  EXPECT_FALSE(f.ept_2m);
  EXPECT_FALSE(f.ept_1g);
  EXPECT_FALSE(f.unrestricted_guest);
  EXPECT_TRUE(f.vpid);
  EXPECT_TRUE(f.invvpid);
  EXPECT_EQ(f.status, Vmx_status::usable_no_ept);
}

TEST(VmxFeatures, EptCapabilityBitsAreIgnoredWhenTheControlCannotBeSet) {
  // A CPU may report EPT capability bits although "enable EPT" is not allowed-1: EPT is unusable.
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.procbased_ctls2 &= ~(1ull << (32 + vmx_ctl::PROC2_ENABLE_EPT));
  Loaded l;
  load(l, p);
  EXPECT_FALSE(l.features.ept);
  EXPECT_FALSE(l.features.ept_4level);
  // The report must not claim EPT details (WB tables, INVEPT) for an EPT that cannot be enabled.
  EXPECT_FALSE(l.features.ept_wb);
  EXPECT_FALSE(l.features.ept_uc);
  EXPECT_FALSE(l.features.invept);
  EXPECT_FALSE(l.features.invept_single_context);
  EXPECT_FALSE(l.features.invept_all_context);
  EXPECT_TRUE(l.features.vpid);
  EXPECT_TRUE(l.features.invvpid);
  EXPECT_EQ(l.features.status, Vmx_status::usable_no_ept);
}

TEST(VmxFeatures, InvvpidBitsAreIgnoredWhenVpidCannotBeEnabled) {
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.procbased_ctls2 &= ~(1ull << (32 + vmx_ctl::PROC2_ENABLE_VPID));
  Loaded l;
  load(l, p);
  EXPECT_FALSE(l.features.vpid);
  EXPECT_FALSE(l.features.invvpid);
  EXPECT_FALSE(l.features.invvpid_single_context);
  EXPECT_TRUE(l.features.invept);  // EPT is unaffected
  EXPECT_EQ(l.features.status, Vmx_status::usable);
}

TEST(VmxFeatures, WithoutSecondaryControlsNothingBeyondThePrimaryMsrsIsRead) {
  Loaded l;
  load(l, test::vmx_without_secondary_controls());
  EXPECT_TRUE(l.cpu.missing_msr_reads.empty());
  EXPECT_FALSE(l.msrs.has_procbased_ctls2);
  EXPECT_FALSE(l.msrs.has_ept_vpid_cap);
  EXPECT_FALSE(l.msrs.has_vmfunc);
  EXPECT_FALSE(l.features.secondary_controls);
  EXPECT_FALSE(l.features.ept);
  EXPECT_FALSE(l.features.vpid);
  EXPECT_EQ(l.features.status, Vmx_status::usable_no_ept);
}

TEST(VmxFeatures, WithoutTrueControlsTheTrueMsrsAreNotRead) {
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.basic &= ~(1ull << 55);
  p.msrs.has_true_ctls = false;
  p.msrs.true_pinbased_ctls = p.msrs.true_procbased_ctls = p.msrs.true_exit_ctls = p.msrs.true_entry_ctls = 0;
  Loaded l;
  load(l, p);
  EXPECT_TRUE(l.cpu.missing_msr_reads.empty());
  EXPECT_FALSE(l.features.true_controls);
  EXPECT_EQ(l.features.status, Vmx_status::usable);
}

TEST(VmxFeatures, EptOnlyOrVpidOnlyEnumeratesTheEptVpidCapMsr) {
  for (unsigned keep : {vmx_ctl::PROC2_ENABLE_EPT, vmx_ctl::PROC2_ENABLE_VPID}) {
    Cpu_profile p = test::bochs_skylake_x();
    const unsigned drop = keep == vmx_ctl::PROC2_ENABLE_EPT ? vmx_ctl::PROC2_ENABLE_VPID : vmx_ctl::PROC2_ENABLE_EPT;
    p.msrs.procbased_ctls2 &= ~(1ull << (32 + drop));
    Loaded l;
    load(l, p);
    EXPECT_TRUE(l.msrs.has_ept_vpid_cap) << "keeping control bit " << keep;
    EXPECT_TRUE(l.cpu.missing_msr_reads.empty());
  }
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.procbased_ctls2 &= ~((1ull << (32 + vmx_ctl::PROC2_ENABLE_VPID)) | (1ull << (32 + vmx_ctl::PROC2_ENABLE_EPT)));
  p.msrs.has_ept_vpid_cap = false;  // the CPU does not have it: a read would #GP
  Loaded l;
  load(l, p);
  EXPECT_FALSE(l.msrs.has_ept_vpid_cap);
  EXPECT_TRUE(l.cpu.missing_msr_reads.empty());
}

TEST(VmxFeatures, WithoutVmFunctionsTheVmfuncMsrIsNotRead) {
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.procbased_ctls2 &= ~(1ull << (32 + vmx_ctl::PROC2_ENABLE_VM_FUNCTIONS));
  p.msrs.has_vmfunc = false;
  Loaded l;
  load(l, p);
  EXPECT_TRUE(l.cpu.missing_msr_reads.empty());
  EXPECT_FALSE(l.features.vm_functions);
}

TEST(VmxFeatures, SmxWithoutVmxReadsOnlyFeatureControl) {
  Cpu_profile p = test::qemu_tcg_no_vmx();
  p.cpuid[1].value.ecx |= cpuid::ECX_SMX;
  p.msrs.has_feature_control = true;
  p.msrs.feature_control = 0x3;
  Loaded l;
  load(l, p);
  EXPECT_TRUE(l.cpu.missing_msr_reads.empty());
  EXPECT_TRUE(l.msrs.has_feature_control);
  EXPECT_FALSE(l.msrs.has_vmx_msrs);
  EXPECT_EQ(l.features.status, Vmx_status::no_vmx);
}

TEST(VmxFeatures, AmdIsNotIntelEvenIfItsCpuidClaimedVmx) {
  Cpu_profile p = test::amd_ryzen_1800x();
  p.cpuid[1].value.ecx |= cpuid::ECX_VMX;
  Loaded l;
  load(l, p);
  EXPECT_TRUE(l.cpu.missing_msr_reads.empty()) << "Intel MSRs must not be read on AMD";
  EXPECT_EQ(l.features.status, Vmx_status::not_intel);
}

TEST(VmxFeatures, LockedWithVmxonOutsideSmxEnabledIsUsable) {
  Cpu_profile p = test::vmx_locked_off();
  p.msrs.feature_control = msr::FEATURE_CONTROL_LOCK | msr::FEATURE_CONTROL_VMXON_OUTSIDE_SMX;
  Loaded l;
  load(l, p);
  EXPECT_EQ(l.features.status, Vmx_status::usable);
  // Locked with only VMXON-inside-SMX: still off for a hypervisor started outside SMX.
  p.msrs.feature_control = msr::FEATURE_CONTROL_LOCK | msr::FEATURE_CONTROL_VMXON_INSIDE_SMX;
  Loaded l2;
  load(l2, p);
  EXPECT_EQ(l2.features.status, Vmx_status::locked_off);
}

TEST(VmxFeatures, UnlockedFeatureControlIsUsableWhateverItsOtherBits) {
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.feature_control = 0x0;  // hv will set lock + VMXON outside SMX itself
  Loaded l;
  load(l, p);
  EXPECT_EQ(l.features.status, Vmx_status::usable);
  EXPECT_FALSE(l.features.feature_control_locked);
}

TEST(VmxFeatures, VmcsWith32BitAddressesOrAnOddMemoryTypeIsUnsupported) {
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.basic |= 1ull << 48;
  Loaded l;
  load(l, p);
  EXPECT_EQ(l.features.status, Vmx_status::unsupported_vmcs);

  Cpu_profile q = test::bochs_skylake_x();
  q.msrs.basic = (q.msrs.basic & ~(0xFull << 50)) | (4ull << 50);  // WT: not a VMCS type
  Loaded l2;
  load(l2, q);
  EXPECT_EQ(l2.features.vmcs_memory_type, 4u);
  EXPECT_EQ(l2.features.status, Vmx_status::unsupported_vmcs);
}

TEST(VmxFeatures, EptWithoutWriteBackOrInveptIsNotEnough) {
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.ept_vpid_cap &= ~(1ull << 14);  // no WB paging structures
  Loaded l;
  load(l, p);
  EXPECT_EQ(l.features.status, Vmx_status::usable_no_ept);
  Cpu_profile q = test::bochs_skylake_x();
  q.msrs.ept_vpid_cap &= ~(1ull << 20);  // no INVEPT
  Loaded l2;
  load(l2, q);
  EXPECT_EQ(l2.features.status, Vmx_status::usable_no_ept);
  Cpu_profile r = test::bochs_skylake_x();
  r.msrs.ept_vpid_cap &= ~(1ull << 6);  // no 4-level walk
  Loaded l3;
  load(l3, r);
  EXPECT_EQ(l3.features.status, Vmx_status::usable_no_ept);
}

TEST(VmxFeatures, TrueControlsDecideThePreemptionTimer) {
  Cpu_profile p = test::bochs_skylake_x();
  p.msrs.true_pinbased_ctls &= ~(1ull << (32 + vmx_ctl::PIN_ACTIVATE_VMX_PREEMPTION_TIMER));
  Loaded l;
  load(l, p);
  EXPECT_FALSE(l.features.preemption_timer);
}

TEST(VmxControlBits, AllowedOneIsTheHighHalfRequiredOneTheLowHalf) {
  const u64 pin = 0x7f00000016;  // Bochs and Skylake: bits 1, 2, 4 required; 0..6 allowed
  EXPECT_TRUE(vmx_control_required1(pin, 1));
  EXPECT_TRUE(vmx_control_required1(pin, 2));
  EXPECT_TRUE(vmx_control_required1(pin, 4));
  EXPECT_FALSE(vmx_control_required1(pin, 0));
  EXPECT_TRUE(vmx_control_allowed1(pin, 0));
  EXPECT_TRUE(vmx_control_allowed1(pin, 6));
  EXPECT_FALSE(vmx_control_allowed1(pin, 7));
  EXPECT_FALSE(vmx_control_allowed1(pin, 31));
}

TEST(VmxNames, MemoryTypesAndStatuses) {
  // The VMCS memory type (IA32_VMX_BASIC[53:50]) uses the SDM's memory-type encodings.
  EXPECT_STREQ(cache_type_name(static_cast<Cache_type>(0)), "UC");
  EXPECT_STREQ(cache_type_name(static_cast<Cache_type>(6)), "WB");
  EXPECT_STREQ(cache_type_name(static_cast<Cache_type>(7)), "reserved");  // UC- exists only in the PAT
  EXPECT_STREQ(cache_type_name(static_cast<Cache_type>(2)), "reserved");
  EXPECT_STREQ(cache_type_name(static_cast<Cache_type>(15)), "reserved");
  EXPECT_STREQ(vmx_status_name(Vmx_status::locked_off), "VMX locked off by firmware");
  EXPECT_NE(std::string(vmx_status_advice(Vmx_status::no_vmx)).find("CPUID.1:ECX.VMX[bit 5] is 0"), std::string::npos);
}

// The report, captured through the log.
class Capture_sink final : public Log_sink {
public:
  void write_line(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

class VmxReport : public ::testing::Test {
protected:
  void SetUp() override {
    log_set_sink(&sink);
    log_set_level(Log_level::info);
  }
  void TearDown() override { log_set_sink(nullptr); }
  std::vector<std::string> report(const Cpu_profile& p) {
    Loaded l;
    load(l, p);
    log_vmx_report(l.id, l.msrs, l.features);
    return sink.lines;
  }
  // A line that starts with `prefix` and, after it, contains `then` (if given).
  static bool any_line_matches(const std::vector<std::string>& lines, std::string_view prefix,
                               std::string_view then = {}) {
    for (const auto& line : lines) {
      if (line.compare(0, prefix.size(), prefix) != 0) continue;
      if (then.empty() || line.find(then, prefix.size()) != std::string::npos) return true;
    }
    return false;
  }
  static bool any_line_ends_with(const std::vector<std::string>& lines, std::string_view tail) {
    for (const auto& line : lines)
      if (line.size() >= tail.size() && line.compare(line.size() - tail.size(), tail.size(), tail) == 0) return true;
    return false;
  }
  Capture_sink sink;
};

TEST_F(VmxReport, BochsReportMatchesTheIntegrationExpectations) {
  const auto lines = report(test::bochs_skylake_x());
  // The patterns of tests/integration/expect/boot_bochs.txt that log_vmx_report produces
  // (regular expressions there; a prefix and an optional later part here).
  const std::pair<const char*, const char*> expected[] = {
      {"[I cpu] GenuineIntel family 6 model 85", ""},
      {"[I vmx] VMX: yes; IA32_FEATURE_CONTROL 0x0: unlocked", ""},
      {"[I vmx] VMCS: revision 0x2b, region 4096 bytes, memory type WB, true controls yes, INS/OUTS info yes", ""},
      {"[I vmx] EPT: yes, 4-level walk yes, WB tables yes, 2MiB pages yes, 1GiB pages yes, accessed/dirty yes, execute-only yes", ""},
      {"[I vmx] INVEPT: yes (single-context yes, all-context yes)", ""},
      {"[I vmx] VPID: yes, INVVPID yes (individual-address yes, single-context yes, all-context yes, single-context-retaining-globals yes)", ""},
      {"[I vmx] unrestricted guest yes, VMX preemption timer yes", ""},
      {"[I vmx] raw: basic=0xd810000000002b", ""},
      {"[I vmx] raw: exit=", " ept_vpid=0xf0106334141"},
  };
  for (const auto& [prefix, then] : expected) {
    EXPECT_TRUE(any_line_matches(lines, prefix, then)) << "no line matches " << prefix << "..." << then;
  }
  EXPECT_EQ(lines.at(0), "[I cpu] GenuineIntel family 6 model 85 stepping 4, 40-bit physical addresses");
  EXPECT_EQ(lines.at(1), "[I cpu] brand: Intel(R) Core(TM) i7-7800X CPU @ 3.50GHz");
  for (const auto& line : lines) EXPECT_LT(line.size(), log_line_capacity) << "cut line: " << line;
}

TEST_F(VmxReport, RawLinesReplayTheMsrValues) {
  const auto lines = report(test::intel_core_i7_6700k());
  EXPECT_TRUE(any_line_ends_with(lines, "raw: basic=0xda040000000004 pin=0x7f00000016 proc=0xfff9fffe0401e172 proc2=0x1ffcff00000000"));
  EXPECT_TRUE(any_line_ends_with(lines, "raw: exit=0x1ffffff00036dff entry=0x3ffff000011ff misc=0x7004c1e7 ept_vpid=0xf0106334141 vmfunc=0x1"));
  EXPECT_TRUE(any_line_ends_with(lines, "raw: true_pin=0x7f00000016 true_proc=0xfff9fffe04006172 true_exit=0x1ffffff00036dfb true_entry=0x3ffff000011fb"));
  EXPECT_TRUE(any_line_ends_with(lines, "raw: cr0_fixed0=0x80000021 cr0_fixed1=0xffffffff cr4_fixed0=0x2000 cr4_fixed1=0x3727ff vmcs_enum=0x2e"));
  EXPECT_TRUE(any_line_ends_with(lines, "VMX: yes; IA32_FEATURE_CONTROL 0x5: locked, VMXON outside SMX enabled"));
}

TEST_F(VmxReport, LockedOffSaysDisabled) {
  const auto lines = report(test::vmx_locked_off());
  EXPECT_TRUE(any_line_ends_with(lines, "[I vmx] VMX: yes; IA32_FEATURE_CONTROL 0x1: locked, VMXON outside SMX DISABLED"));
}

TEST_F(VmxReport, NoVmxIsOneLineWithTheFeatureBits) {
  const auto lines = report(test::qemu_tcg_no_vmx());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "[I cpu] GenuineIntel family 6 model 6 stepping 3, 40-bit physical addresses, under a hypervisor");
  EXPECT_EQ(lines[1], "[I cpu] brand: QEMU Virtual CPU version 2.5+");
  EXPECT_EQ(lines[2], "[I vmx] VMX: no (CPUID.1:ECX = 0x80802001)");
}

TEST_F(VmxReport, AmdReportsNoVmx) {
  const auto lines = report(test::amd_ryzen_1800x());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "[I cpu] AuthenticAMD family 23 model 1 stepping 1, 48-bit physical addresses");
  EXPECT_EQ(lines[1], "[I cpu] brand: AMD Ryzen 7 1800X Eight-Core Processor");
  EXPECT_TRUE(any_line_matches(lines, "[I vmx] VMX: no"));
}

} // namespace
} // namespace hv
