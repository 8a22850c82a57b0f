// tests/unit/vmcs_setup_guest_state_test.cpp - a fresh VMCS (hv's controls and the 64-bit guest
// state the loader starts guests in) checked against the VM-entry rules of SDM Vol. 3C 27.2 and
// 27.3.1 that can be expressed on field values, on Bochs and on a real Intel CPU.
#include "arch/x86/vmx_interruption.hpp"
#include "core/guest_loader.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace hv {
namespace {

using test::Cpu_profile;

std::vector<Cpu_profile> vmx_profiles() { return {test::bochs_skylake_x(), test::intel_core_i7_6700k()}; }

// --- Guest-state checks (SDM Vol. 3C 27.3.1), on values as written.
bool canonical(u64 a) {
  const i64 s = static_cast<i64>(a << 16) >> 16;
  return static_cast<u64>(s) == a;
}

// Segment access rights fields (SDM 25.4.1).
struct Ar {
  u32 raw;
  u32 type() const { return raw & 0xF; }
  bool s() const { return raw & 0x10; }
  u32 dpl() const { return (raw >> 5) & 3; }
  bool p() const { return raw & 0x80; }
  bool l() const { return raw & 0x2000; }
  bool db() const { return raw & 0x4000; }
  bool g() const { return raw & 0x8000; }
  bool unusable() const { return raw & 0x10000; }
  bool reserved_clear() const { return (raw & 0xF00) == 0 && (raw >> 17) == 0; }
};

// Limit and granularity agree (SDM 27.3.1.2): if any of bits 11:0 of the limit is 0, G must be 0;
// if any of bits 31:20 is 1, G must be 1.
bool limit_matches_granularity(u64 limit, Ar ar) {
  if ((limit & 0xFFF) != 0xFFF && ar.g()) return false;
  if ((limit >> 20) != 0 && !ar.g()) return false;
  return true;
}

std::vector<std::string> guest_state_problems(Fake_vmcs& v, const Vmx_capability_msrs& m) {
  std::vector<std::string> out;
  auto check = [&out](bool ok, const char* what) {
    if (!ok) out.emplace_back(what);
  };
  using namespace vmcs;
  const u32 entry = static_cast<u32>(v.read(VM_ENTRY_CONTROLS));
  const u32 proc2 = static_cast<u32>(v.read(SECONDARY_VM_EXEC_CONTROL));
  const bool ia32e = entry & vm_entry_ctl::IA32E_MODE_GUEST;
  const bool unrestricted = proc2 & proc_based_ctl2::UNRESTRICTED_GUEST;
  const u64 cr0 = v.read(GUEST_CR0), cr4 = v.read(GUEST_CR4);

  // 27.3.1.1 control registers, debug registers, MSRs
  check(check_guest_cr0(cr0, m, unrestricted).ok(), "CR0 breaks IA32_VMX_CR0_FIXED0/1");
  check(check_fixed(Control_register::cr4, cr4, cr4_fixed_bits(m)).ok(), "CR4 breaks IA32_VMX_CR4_FIXED0/1");
  if (ia32e) {
    check(cr0 & cr0_bit::PG, "IA-32e mode guest needs CR0.PG");
    check(cr4 & cr4_bit::PAE, "IA-32e mode guest needs CR4.PAE");
  } else {
    check(!(cr4 & cr4_bit::PCIDE), "CR4.PCIDE outside IA-32e mode");
  }
  check((v.read(GUEST_CR3) >> 40) == 0, "CR3 beyond the physical-address width");
  check((v.read(GUEST_DR7) >> 32) == 0, "DR7 bits 63:32");
  if (entry & vm_entry_ctl::LOAD_IA32_EFER) {
    const u64 efer = v.read(GUEST_IA32_EFER);
    check((efer & ~(msr::EFER_SCE | msr::EFER_LME | msr::EFER_LMA | msr::EFER_NXE)) == 0, "EFER reserved bits");
    check(((efer & msr::EFER_LMA) != 0) == ia32e, "EFER.LMA must equal the IA-32e mode guest control");
    if (cr0 & cr0_bit::PG) check(((efer & msr::EFER_LME) != 0) == ((efer & msr::EFER_LMA) != 0), "EFER.LME != LMA");
  }
  if (entry & vm_entry_ctl::LOAD_IA32_PAT) {
    const u64 pat = v.read(GUEST_IA32_PAT);
    for (int i = 0; i < 8; ++i) {
      const u64 t = (pat >> (8 * i)) & 0xFF;
      check(t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || t == 7, "PAT entry not a memory type");
    }
  }

  // 27.3.1.2 segment registers (not virtual-8086 mode, unrestricted guest or not)
  const Ar cs{static_cast<u32>(v.read(GUEST_CS_AR_BYTES))};
  const Ar ss{static_cast<u32>(v.read(GUEST_SS_AR_BYTES))};
  const Ar tr{static_cast<u32>(v.read(GUEST_TR_AR_BYTES))};
  const Ar ldtr{static_cast<u32>(v.read(GUEST_LDTR_AR_BYTES))};
  const u64 cs_sel = v.read(GUEST_CS_SELECTOR), ss_sel = v.read(GUEST_SS_SELECTOR);
  check((v.read(GUEST_TR_SELECTOR) & 4) == 0, "TR.TI must be 0");
  if (!ldtr.unusable()) check((v.read(GUEST_LDTR_SELECTOR) & 4) == 0, "LDTR.TI must be 0");
  check((ss_sel & 3) == (cs_sel & 3), "SS.RPL must equal CS.RPL");
  check(canonical(v.read(GUEST_TR_BASE)) && canonical(v.read(GUEST_FS_BASE)) && canonical(v.read(GUEST_GS_BASE)),
        "TR/FS/GS base not canonical");
  check((v.read(GUEST_CS_BASE) >> 32) == 0, "CS base bits 63:32");
  check((v.read(GUEST_SS_BASE) >> 32) == 0 && (v.read(GUEST_DS_BASE) >> 32) == 0 &&
            (v.read(GUEST_ES_BASE) >> 32) == 0,
        "SS/DS/ES base bits 63:32");
  // CS
  check(cs.type() == 9 || cs.type() == 11 || cs.type() == 13 || cs.type() == 15 || (unrestricted && cs.type() == 3),
        "CS type must be accessed code");
  check(cs.s() && cs.p() && cs.reserved_clear() && !cs.unusable(), "CS S/P/reserved bits");
  if (cs.type() == 9 || cs.type() == 11) check(cs.dpl() == ss.dpl(), "CS.DPL must equal SS.DPL (non-conforming)");
  check(limit_matches_granularity(v.read(GUEST_CS_LIMIT), cs), "CS limit vs G");
  if (ia32e && cs.l()) check(!cs.db(), "CS.L = 1 needs CS.D = 0");
  // SS
  if (!ss.unusable()) {
    check(ss.type() == 3 || ss.type() == 7, "SS type must be read/write accessed data");
    check(ss.s() && ss.p() && ss.reserved_clear(), "SS S/P/reserved bits");
    check(ss.dpl() == (ss_sel & 3), "SS.DPL must equal SS.RPL");
    check(limit_matches_granularity(v.read(GUEST_SS_LIMIT), ss), "SS limit vs G");
  }
  // DS, ES, FS, GS
  const u32 data[][3] = {{GUEST_DS_AR_BYTES, GUEST_DS_SELECTOR, GUEST_DS_LIMIT},
                         {GUEST_ES_AR_BYTES, GUEST_ES_SELECTOR, GUEST_ES_LIMIT},
                         {GUEST_FS_AR_BYTES, GUEST_FS_SELECTOR, GUEST_FS_LIMIT},
                         {GUEST_GS_AR_BYTES, GUEST_GS_SELECTOR, GUEST_GS_LIMIT}};
  for (const auto& d : data) {
    const Ar ar{static_cast<u32>(v.read(d[0]))};
    if (ar.unusable()) continue;
    check(ar.type() & 1, "data segment type must be accessed");
    if (ar.type() & 8) check(ar.type() & 2, "code segment in a data register must be readable");
    check(ar.s() && ar.p() && ar.reserved_clear(), "data segment S/P/reserved bits");
    if (ar.type() <= 11) check(ar.dpl() >= (v.read(d[1]) & 3), "data segment DPL below RPL");
    check(limit_matches_granularity(v.read(d[2]), ar), "data segment limit vs G");
  }
  // TR
  check(ia32e ? tr.type() == 11 : (tr.type() == 3 || tr.type() == 11), "TR must be a busy TSS (64-bit in IA-32e)");
  check(!tr.s() && tr.p() && tr.reserved_clear() && !tr.unusable(), "TR S/P/unusable/reserved bits");
  check(limit_matches_granularity(v.read(GUEST_TR_LIMIT), tr), "TR limit vs G");
  // LDTR
  if (!ldtr.unusable()) {
    check(ldtr.type() == 2 && !ldtr.s() && ldtr.p() && ldtr.reserved_clear(), "LDTR descriptor");
    check(canonical(v.read(GUEST_LDTR_BASE)), "LDTR base");
  }

  // 27.3.1.3 descriptor-table registers
  check(canonical(v.read(GUEST_GDTR_BASE)) && canonical(v.read(GUEST_IDTR_BASE)), "GDTR/IDTR base");
  check((v.read(GUEST_GDTR_LIMIT) >> 16) == 0 && (v.read(GUEST_IDTR_LIMIT) >> 16) == 0, "GDTR/IDTR limit");

  // 27.3.1.4 RIP and RFLAGS
  const u64 rip = v.read(GUEST_RIP), rflags = v.read(GUEST_RFLAGS);
  if (ia32e && cs.l()) check(canonical(rip), "RIP not canonical");
  else check((rip >> 32) == 0, "RIP bits 63:32 outside 64-bit mode");
  check((rflags & 2) != 0, "RFLAGS bit 1 must be 1");
  check((rflags & ((~0ull << 22) | (1ull << 15) | (1ull << 5) | (1ull << 3))) == 0, "RFLAGS reserved bits");
  if (ia32e) check(!(rflags & (1ull << 17)), "RFLAGS.VM in IA-32e mode");

  // 27.3.1.5 non-register state
  check(v.read(GUEST_ACTIVITY_STATE) == 0, "activity state not active");
  const u64 intr = v.read(GUEST_INTERRUPTIBILITY_INFO);
  check((intr >> 5) == 0, "interruptibility reserved bits");
  check((intr & 3) != 3, "STI and MOV-SS blocking together");
  if (!(rflags & (1ull << 9))) check(!(intr & 1), "STI blocking with IF = 0");
  check((v.read(GUEST_PENDING_DBG_EXCEPTIONS) & ~0x1500Full) == 0, "pending debug exceptions reserved bits");
  check(v.read(VMCS_LINK_POINTER) == ~0ull, "VMCS link pointer must be ~0 (no shadow VMCS)");
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "; ";
  return s;
}

// A fresh VMCS the way the native loop fills it, with the start state the loader produces.
class VmcsSetupGuest : public ::testing::TestWithParam<int> {
protected:
  Cpu_profile profile() const { return GetParam() == 0 ? test::bochs_skylake_x() : test::intel_core_i7_6700k(); }
};

TEST_P(VmcsSetupGuest, AFreshVmcsPassesTheGuestStateChecks) {
  const Cpu_profile p = profile();
  const Vcpu_controls c = test::vcpu_controls_for(p);
  Fake_vmcs vmcs;
  write_controls(vmcs, c);
  write_guest_state_64(vmcs, test::test_guest_start_state(), c);
  EXPECT_EQ(join(guest_state_problems(vmcs, p.msrs)), "");
  // Every field the checks looked at was written: nothing is left to an uninitialised VMCS.
  EXPECT_TRUE(vmcs.unwritten_reads.empty()) << std::hex << vmcs.unwritten_reads.front();
}

TEST_P(VmcsSetupGuest, TheGuestSeesItsOwnCr0AndCr4WhileTheCpuGetsTheFixedBits) {
  const Cpu_profile p = profile();
  const Vcpu_controls c = test::vcpu_controls_for(p);
  Fake_vmcs vmcs;
  write_controls(vmcs, c);
  Guest_start_state s = test::test_guest_start_state();
  s.cr0 &= ~cr0_bit::NE;  // a guest that wants NE clear
  write_guest_state_64(vmcs, s, c);
  EXPECT_EQ(vmcs.read(vmcs::CR0_READ_SHADOW), s.cr0);
  EXPECT_EQ(vmcs.read(vmcs::GUEST_CR0), s.cr0 | cr0_bit::NE);
  EXPECT_EQ(vmcs.read(vmcs::CR4_READ_SHADOW), s.cr4);
  EXPECT_EQ(vmcs.read(vmcs::GUEST_CR4), s.cr4 | cr4_bit::VMXE);
  // The fixed bits are owned by the host: a guest write to them traps.
  const u64 cr0_mask = vmcs.read(vmcs::CR0_GUEST_HOST_MASK), cr4_mask = vmcs.read(vmcs::CR4_GUEST_HOST_MASK);
  EXPECT_EQ(cr0_mask & (cr0_bit::PE | cr0_bit::NE | cr0_bit::PG), cr0_bit::PE | cr0_bit::NE | cr0_bit::PG);
  EXPECT_TRUE(cr4_mask & cr4_bit::VMXE);
  EXPECT_EQ(cr4_mask & ~c.cr4_fixed.may_be_one, ~c.cr4_fixed.may_be_one) << "bits the CPU lacks trap too";
}

TEST_P(VmcsSetupGuest, SixtyFourBitSegmentsAndTheTaskRegister) {
  const Cpu_profile p = profile();
  const Vcpu_controls c = test::vcpu_controls_for(p);
  Fake_vmcs vmcs;
  write_controls(vmcs, c);
  write_guest_state_64(vmcs, test::test_guest_start_state(), c);
  const Ar cs{static_cast<u32>(vmcs.read(vmcs::GUEST_CS_AR_BYTES))};
  EXPECT_TRUE(cs.l());
  EXPECT_FALSE(cs.db());
  const Ar tr{static_cast<u32>(vmcs.read(vmcs::GUEST_TR_AR_BYTES))};
  EXPECT_EQ(tr.type(), 11u) << "busy 64-bit TSS";
  EXPECT_FALSE(tr.unusable());
  EXPECT_TRUE(Ar{static_cast<u32>(vmcs.read(vmcs::GUEST_LDTR_AR_BYTES))}.unusable());
  EXPECT_EQ(vmcs.read(vmcs::VMCS_LINK_POINTER), ~0ull);
  EXPECT_EQ(vmcs.read(vmcs::GUEST_RFLAGS) & 2, 2u);
  EXPECT_EQ((vmcs.read(vmcs::GUEST_IA32_EFER) & msr::EFER_LMA) != 0,
            (vmcs.read(vmcs::VM_ENTRY_CONTROLS) & vm_entry_ctl::IA32E_MODE_GUEST) != 0);
  EXPECT_EQ(vmcs.read(vmcs::GUEST_CS_SELECTOR), 0x08u);
  EXPECT_EQ(vmcs.read(vmcs::GUEST_SS_SELECTOR), 0x10u);
  EXPECT_EQ(vmcs.read(vmcs::GUEST_TR_SELECTOR), 0x18u);
}

TEST_P(VmcsSetupGuest, RflagsBit1IsSetEvenWhenTheCallerForgotIt) {
  const Cpu_profile p = profile();
  const Vcpu_controls c = test::vcpu_controls_for(p);
  Fake_vmcs vmcs;
  Guest_start_state s = test::test_guest_start_state();
  s.rflags = 0;
  write_guest_state_64(vmcs, s, c);
  EXPECT_EQ(vmcs.read(vmcs::GUEST_RFLAGS), 2u);
}

TEST_P(VmcsSetupGuest, EveryValueFitsItsFieldAndNoReadOnlyFieldIsWritten) {
  const Cpu_profile p = profile();
  const Vcpu_controls c = test::vcpu_controls_for(p);
  Fake_vmcs vmcs;
  write_controls(vmcs, c);
  write_guest_state_64(vmcs, test::test_guest_start_state(), c);
  Host_state h;
  h.cs = 0x08;
  h.ss = h.ds = h.es = h.fs = h.gs = 0x10;
  h.tr = 0x28;
  write_host_state(vmcs, h);
  for (const auto& [field, value] : vmcs.fields) {
    EXPECT_FALSE(vmcs_field_is_read_only(field)) << std::hex << field;
    const unsigned size = vmcs_field_size(field);
    if (size < 8) {
      EXPECT_EQ(value >> (8 * size), 0u) << std::hex << "field " << field << " = " << value;
    }
  }
}

TEST_P(VmcsSetupGuest, ControlsAreWrittenAsComputedAndVpidIsNonZero) {
  const Cpu_profile p = profile();
  const Vcpu_controls c = test::vcpu_controls_for(p);
  Fake_vmcs vmcs;
  write_controls(vmcs, c);
  EXPECT_EQ(vmcs.read(vmcs::PIN_BASED_VM_EXEC_CONTROL), c.controls.pin_based);
  EXPECT_EQ(vmcs.read(vmcs::CPU_BASED_VM_EXEC_CONTROL), c.controls.proc_based);
  EXPECT_EQ(vmcs.read(vmcs::SECONDARY_VM_EXEC_CONTROL), c.controls.proc_based2);
  EXPECT_EQ(vmcs.read(vmcs::VM_EXIT_CONTROLS), c.controls.vm_exit);
  EXPECT_EQ(vmcs.read(vmcs::VM_ENTRY_CONTROLS), c.controls.vm_entry);
  EXPECT_EQ(vmcs.read(vmcs::EPT_POINTER), c.eptp);
  // SDM 27.2.1.1: with "enable VPID" the VPID must not be 0.
  if (c.controls.proc_based2 & proc_based_ctl2::ENABLE_VPID) {
    EXPECT_NE(vmcs.read(vmcs::VIRTUAL_PROCESSOR_ID), 0u);
  }
  EXPECT_FALSE(Interruption_info{static_cast<u32>(vmcs.read(vmcs::VM_ENTRY_INTR_INFO_FIELD))}.valid())
      << "nothing injected on the first entry";
  EXPECT_EQ(vmcs.read(vmcs::CR3_TARGET_COUNT), 0u);
  EXPECT_EQ(vmcs.read(vmcs::VM_ENTRY_MSR_LOAD_COUNT), 0u);
}

INSTANTIATE_TEST_SUITE_P(Cpus, VmcsSetupGuest, ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(i.param == 0 ? "BochsSkylakeX" : "CoreI7_6700k");
                         });

TEST(VmcsSetup, TheLoadersStartStateIsWhatTheVmcsChecksAccept) {
  // The loader's own output (not the fixture's copy of it) goes into the VMCS.
  struct Sparse_memory final : Guest_physical_writer {
    bool write(Gpa, std::span<const u8>) override { return true; }
  } memory;
  const std::vector<u8> code = {0xF4};  // HLT
  const std::vector<u8> image = test::make_elf64(0x100000, {{0x100000, 0, code}});
  const Guest_load_result loaded = load_guest({image, 16 * MiB, 1, "vm1", ""}, memory);
  ASSERT_EQ(loaded.error, Load_error::none) << load_error_message(loaded.error);
  for (const Cpu_profile& p : vmx_profiles()) {
    const Vcpu_controls c = test::vcpu_controls_for(p);
    Fake_vmcs vmcs;
    write_controls(vmcs, c);
    write_guest_state_64(vmcs, loaded.start, c);
    EXPECT_EQ(join(guest_state_problems(vmcs, p.msrs)), "") << p.name;
  }
}

} // namespace
} // namespace hv
