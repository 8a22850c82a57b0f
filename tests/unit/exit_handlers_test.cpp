// tests/unit/exit_handlers_test.cpp - the small exit handlers: HLT, VMCALL, XSETBV, VMX
// instructions, INVD/WBINVD, external interrupts, triple fault, INIT and SIPI.
#include "arch/x86/host_vectors.hpp"
#include "arch/x86/vmx_interruption.hpp"
#include "devices/hypercall.hpp"
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>

namespace hv {
namespace {

namespace r = exit_reason;
using ExitHandlers = test::Vcpu_test;

// --- HLT
TEST_F(ExitHandlers, HltWithInterruptsOffEndsTheGuest) {
  set_rflags(0x2);
  EXPECT_EQ(exit_with(r::HLT, 0, 1), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::halted);
  EXPECT_TRUE(log.capture.contains("halted"));
}

TEST_F(ExitHandlers, HltWithInterruptsOnWaitsPastTheHlt) {
  set_rflags(0x2 | test::rflags_if);
  EXPECT_EQ(exit_with(r::HLT, 0, 1), Exit_action::advance_rip);
  EXPECT_TRUE(vcpu.halted);
  EXPECT_EQ(vcpu.yield, Vcpu_yield::blocked) << "the vCPU gives its CPU up";
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
  EXPECT_EQ(rip(), test::test_guest_entry + 1) << "the interrupt returns after the HLT";
  vcpu.pending_event = external_interrupt(0x30);
  inject_pending_event(vcpu, vmcs);
  EXPECT_FALSE(vcpu.halted);
}

// --- VMCALL
TEST_F(ExitHandlers, VmcallRunsTheHypercallAndPutsTheResultInRax) {
  vcpu.regs.rax = hc::VERSION;
  EXPECT_EQ(exit_with(r::VMCALL, 0, 3), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.regs.rax, 1u);
  EXPECT_EQ(rip(), test::test_guest_entry + 3);
  vcpu.regs.rax = hc::FEATURES;
  (void)exit_with(r::VMCALL, 0, 3);
  EXPECT_EQ(vcpu.regs.rax, hc_feature::NOP | hc_feature::VERSION);
  vcpu.regs.rax = 0x77;
  (void)exit_with(r::VMCALL, 0, 3);
  EXPECT_EQ(static_cast<i64>(vcpu.regs.rax), HC_ENOSYS);
  EXPECT_EQ(vcpu.hypercalls.calls, 3u);
  EXPECT_EQ(vcpu.hypercalls.unknown, 1u);
}

TEST_F(ExitHandlers, VmcallFromRing3IsRefusedWithEperm) {
  set_cpl(3);
  vcpu.regs.rax = hc::VERSION;
  EXPECT_EQ(exit_with(r::VMCALL, 0, 3), Exit_action::advance_rip);
  EXPECT_EQ(static_cast<i64>(vcpu.regs.rax), HC_EPERM);
  EXPECT_EQ(vcpu.hypercalls.refused_cpl, 1u);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
  set_cpl(0);
  vcpu.regs.rax = hc::VERSION;
  (void)exit_with(r::VMCALL, 0, 3);
  EXPECT_EQ(vcpu.regs.rax, 1u);
}

TEST_F(ExitHandlers, VmcallCplComesFromSsDplNotTheSelector) {
  // SS selector RPL 3 but DPL 0 in the access rights: the CPL is SS.DPL.
  vmcs.write(vmcs::GUEST_SS_SELECTOR, 0x13);
  set_cpl(0);
  vcpu.regs.rax = hc::NOP;
  (void)exit_with(r::VMCALL, 0, 3);
  EXPECT_EQ(vcpu.regs.rax, 0u);
  EXPECT_EQ(vcpu.hypercalls.refused_cpl, 0u);
}

// --- XSETBV
class ExitXsetbv : public test::Vcpu_test {
protected:
  ExitXsetbv() { vcpu.xcr0_supported = 0x7; }  // x87, SSE, AVX
  Exit_action xsetbv(u64 value, u64 xcr = 0) {
    vcpu.regs.rcx = xcr;
    vcpu.regs.rax = 0xFFFFFFFF00000000ull | (value & 0xFFFFFFFF);  // upper halves ignored
    vcpu.regs.rdx = 0xFFFFFFFF00000000ull | (value >> 32);
    return exit_with(r::XSETBV, 0, 3);
  }
  // #GP(0) pending; XCR0 and RIP as before the XSETBV.
  void expect_gp(u64 xcr0_before = 1, u64 rip_before = test::test_guest_entry) {
    EXPECT_TRUE(gp_pending());
    EXPECT_EQ(vcpu.xcr0, xcr0_before) << "XCR0 unchanged";
    EXPECT_EQ(rip(), rip_before);
    vcpu.pending_event.reset();
  }
};

TEST_F(ExitXsetbv, AValidValueBecomesTheGuestsXcr0) {
  EXPECT_EQ(xsetbv(0x7), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.xcr0, 0x7u);
  EXPECT_EQ(rip(), test::test_guest_entry + 3);
  EXPECT_EQ(xsetbv(0x3), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.xcr0, 0x3u);
}

TEST_F(ExitXsetbv, InvalidValuesAreGp) {
  EXPECT_EQ(xsetbv(0x0), Exit_action::resume);  // x87 must stay on
  expect_gp();
  xsetbv(0x5);  // AVX without SSE
  expect_gp();
  xsetbv(0x1F);  // MPX: not offered
  expect_gp();
  xsetbv(0x1ull | (1ull << 32));  // a bit in EDX
  expect_gp();
}

TEST_F(ExitXsetbv, OnlyXcr0ExistsAndOnlyRing0MayWriteIt) {
  xsetbv(0x3, 1);
  expect_gp();
  set_cpl(3);
  xsetbv(0x3);
  expect_gp();
}

TEST_F(ExitXsetbv, TheGuestMaySetWhatItsCpuidModelOffers) {
  // The 6700K offers x87|SSE|AVX once MPX is hidden: exactly what XSETBV then accepts.
  Fake_cpu host;
  test::apply(host, test::intel_core_i7_6700k());
  Guest_cpuid model;
  model.build(host, {});
  ASSERT_EQ(model.supported_xcr0(), 0x7u);
  vcpu.xcr0_supported = model.supported_xcr0();
  EXPECT_EQ(xsetbv(model.supported_xcr0()), Exit_action::advance_rip);
  EXPECT_EQ(vcpu.xcr0, 0x7u);
  xsetbv(0x1F);
  expect_gp(0x7, test::test_guest_entry + 3);
}

TEST(Xcr0Rules, FollowTheSdm) {
  const u64 all = 0xFF;  // x87 SSE AVX BNDREGS BNDCSR opmask ZMM_Hi256 Hi16_ZMM
  EXPECT_TRUE(xcr0_valid(0x1, all));
  EXPECT_TRUE(xcr0_valid(0x3, all));
  EXPECT_TRUE(xcr0_valid(0x7, all));
  EXPECT_FALSE(xcr0_valid(0x2, all)) << "x87 is always on";
  EXPECT_FALSE(xcr0_valid(0x5, all)) << "AVX needs SSE";
  EXPECT_TRUE(xcr0_valid(0x1B, all)) << "BNDREGS and BNDCSR together";
  EXPECT_FALSE(xcr0_valid(0x0B, all));
  EXPECT_FALSE(xcr0_valid(0x13, all));
  EXPECT_TRUE(xcr0_valid(0xE7, all)) << "the AVX-512 triple with AVX";
  EXPECT_FALSE(xcr0_valid(0x67, all)) << "part of the triple";
  EXPECT_FALSE(xcr0_valid(0xE3, all)) << "AVX-512 without AVX";
  EXPECT_FALSE(xcr0_valid(0x7, 0x3)) << "nothing the CPU lacks";
}

// --- VMX instructions: VMX is hidden, so they are invalid opcodes.
TEST_F(ExitHandlers, VmxInstructionsRaiseUdAndStayOnTheInstruction) {
  for (u32 reason : {r::VMCLEAR, r::VMLAUNCH, r::VMPTRLD, r::VMPTRST, r::VMREAD, r::VMRESUME, r::VMWRITE, r::VMXOFF,
                     r::VMXON, r::INVEPT, r::INVVPID, r::VMFUNC, r::GETSEC}) {
    vcpu.pending_event.reset();
    EXPECT_EQ(exit_with(reason, 0, 3), Exit_action::resume) << reason;
    EXPECT_TRUE(ud_pending()) << reason;
  }
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

// --- The rest
TEST_F(ExitHandlers, CacheFlushesAreSkipped) {
  EXPECT_EQ(exit_with(r::INVD, 0, 2), Exit_action::advance_rip);
  EXPECT_EQ(exit_with(r::WBINVD_OR_WBNOINVD, 0, 2), Exit_action::advance_rip);
  EXPECT_EQ(rip(), test::test_guest_entry + 4);
}

TEST_F(ExitHandlers, ExternalInterruptsResumeTheGuestWhereItWas) {
  vmcs.write(vmcs::VM_EXIT_INTR_INFO,
             Interruption_info::make(x86::host_vector_timer, Interruption_type::external_interrupt, false).raw);
  EXPECT_EQ(exit_with(r::EXTERNAL_INTERRUPT, 0, 0), Exit_action::resume);
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_FALSE(vcpu.pending_event.has_value()) << "the host's interrupt is not the guest's";
  EXPECT_EQ(vcpu.yield, Vcpu_yield::none) << "a late idle timer is no reason to end the slice";
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

TEST_F(ExitHandlers, AKickFromAnotherCpuEndsTheSliceWithTheGuestUntouched) {
  vmcs.write(vmcs::VM_EXIT_INTR_INFO,
             Interruption_info::make(x86::host_vector_kick, Interruption_type::external_interrupt, false).raw);
  EXPECT_EQ(exit_with(r::EXTERNAL_INTERRUPT, 0, 0), Exit_action::resume);
  EXPECT_EQ(vcpu.yield, Vcpu_yield::expired) << "the loop must look at its run queue now";
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_FALSE(vcpu.pending_event.has_value());
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

TEST_F(ExitHandlers, TheEndOfASliceLeavesTheGuestWhereItWasForTheScheduler) {
  vmcs.write(vmcs::VMX_PREEMPTION_TIMER_VALUE, 0);  // what the CPU saved: expired
  EXPECT_EQ(exit_with(r::VMX_PREEMPTION_TIMER_EXPIRED, 0, 0), Exit_action::resume);
  EXPECT_EQ(vcpu.slices, 1u);
  EXPECT_EQ(vcpu.yield, Vcpu_yield::expired) << "the exit path must leave the guest, not resume it";
  EXPECT_EQ(rip(), test::test_guest_entry);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::none);
}

TEST_F(ExitHandlers, TripleFaultStopsTheVmWithItsState) {
  vcpu.regs.r15 = 0xFEEDFACE;
  EXPECT_EQ(exit_with(r::TRIPLE_FAULT, 0, 0), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::triple_fault);
  EXPECT_TRUE(log.capture.contains("triple-fault"));
  EXPECT_TRUE(log.capture.contains("r15=00000000feedface"));
}

TEST_F(ExitHandlers, InitStopsASingleVcpuVm) {
  EXPECT_EQ(exit_with(r::INIT_SIGNAL, 0, 0), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::init_signal);
}

TEST_F(ExitHandlers, SipiStopsAsUnsupportedWithItsVector) {
  EXPECT_EQ(exit_with(r::SIPI, 0x9A, 0), Exit_action::stop);
  EXPECT_EQ(vcpu.stop.kind, Vcpu_stop_kind::unsupported);
  EXPECT_EQ(vcpu.stop.value, 0x9Au);
}

} // namespace
} // namespace hv
