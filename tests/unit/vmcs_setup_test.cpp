// tests/unit/vmcs_setup_test.cpp - the controls hv asks for, against Bochs and a real Intel CPU
// (what they contain, and that every exit they enable has a handler), and the host state's
// selectors. The guest-state area: vmcs_setup_guest_state_test.cpp.
#include "unit/support/vcpu_fixture.hpp"
#include <gtest/gtest.h>
#include <bit>
#include <string>
#include <vector>

namespace hv {
namespace {

using test::Cpu_profile;

std::vector<Cpu_profile> vmx_profiles() { return {test::bochs_skylake_x(), test::intel_core_i7_6700k()}; }

TEST(VmcsSetup, HvsControlsFitBochsAndARealCpuWithWhatHvNeeds) {
  for (const Cpu_profile& p : vmx_profiles()) {
    SCOPED_TRACE(p.name);
    const Vmx_controls_result r = compute_vmx_controls(hv_vmx_controls_request(), p.msrs);
    ASSERT_TRUE(r.ok());
    const Vmx_control_values& v = r.value;
    EXPECT_TRUE(v.pin_based & pin_based_ctl::EXTERNAL_INTERRUPT_EXITING);
    EXPECT_TRUE(v.proc_based & proc_based_ctl::HLT_EXITING);
    EXPECT_TRUE(v.proc_based & proc_based_ctl::UNCONDITIONAL_IO_EXITING);
    EXPECT_FALSE(v.proc_based & proc_based_ctl::USE_IO_BITMAPS) << "every port access must exit";
    EXPECT_FALSE(v.proc_based & proc_based_ctl::USE_MSR_BITMAPS) << "every MSR access must exit";
    EXPECT_TRUE(v.proc_based & proc_based_ctl::ACTIVATE_SECONDARY_CONTROLS);
    EXPECT_TRUE(v.proc_based2 & proc_based_ctl2::ENABLE_EPT);
    EXPECT_TRUE(v.proc_based2 & proc_based_ctl2::ENABLE_VPID);
    EXPECT_TRUE(v.vm_exit & vm_exit_ctl::ACKNOWLEDGE_INTERRUPT_ON_EXIT);
    EXPECT_TRUE(v.vm_exit & vm_exit_ctl::HOST_ADDRESS_SPACE_SIZE);
    EXPECT_TRUE(v.vm_exit & vm_exit_ctl::SAVE_IA32_EFER);
    EXPECT_TRUE(v.vm_exit & vm_exit_ctl::LOAD_IA32_EFER);
    EXPECT_TRUE(v.vm_entry & vm_entry_ctl::IA32E_MODE_GUEST);
    EXPECT_TRUE(v.vm_entry & vm_entry_ctl::LOAD_IA32_EFER);
    EXPECT_FALSE(v.proc_based & proc_based_ctl::CR3_LOAD_EXITING) << "the guest's CR3 loads stay in the guest";
    EXPECT_FALSE(v.proc_based & proc_based_ctl::CR3_STORE_EXITING);
  }
}

// Every exit the computed controls can cause has a handler: a guest never stops with
// "unhandled exit" just for running ordinary code under hv's own controls.
TEST(VmcsSetup, EveryExitTheControlsEnableHasAHandler) {
  struct Control_exit {
    Vmx_control_field field;
    u32 bit;
    u16 reason;
  };
  const Control_exit conditional[] = {
      {Vmx_control_field::pin_based, pin_based_ctl::ACTIVATE_VMX_PREEMPTION_TIMER, exit_reason::VMX_PREEMPTION_TIMER_EXPIRED},
      {Vmx_control_field::pin_based, pin_based_ctl::NMI_EXITING, exit_reason::EXCEPTION_OR_NMI},
      {Vmx_control_field::proc_based, proc_based_ctl::INTERRUPT_WINDOW_EXITING, exit_reason::INTERRUPT_WINDOW},
      {Vmx_control_field::proc_based, proc_based_ctl::INVLPG_EXITING, exit_reason::INVLPG},
      {Vmx_control_field::proc_based, proc_based_ctl::MWAIT_EXITING, exit_reason::MWAIT},
      {Vmx_control_field::proc_based, proc_based_ctl::RDPMC_EXITING, exit_reason::RDPMC},
      {Vmx_control_field::proc_based, proc_based_ctl::RDTSC_EXITING, exit_reason::RDTSC},
      {Vmx_control_field::proc_based, proc_based_ctl::NMI_WINDOW_EXITING, exit_reason::NMI_WINDOW},
      {Vmx_control_field::proc_based, proc_based_ctl::MOV_DR_EXITING, exit_reason::MOV_DR},
      {Vmx_control_field::proc_based, proc_based_ctl::MONITOR_TRAP_FLAG, exit_reason::MONITOR_TRAP_FLAG},
      {Vmx_control_field::proc_based, proc_based_ctl::MONITOR_EXITING, exit_reason::MONITOR},
      {Vmx_control_field::proc_based, proc_based_ctl::PAUSE_EXITING, exit_reason::PAUSE},
      {Vmx_control_field::proc_based2, proc_based_ctl2::DESCRIPTOR_TABLE_EXITING, exit_reason::GDTR_IDTR_ACCESS},
      {Vmx_control_field::proc_based2, proc_based_ctl2::RDRAND_EXITING, exit_reason::RDRAND},
      {Vmx_control_field::proc_based2, proc_based_ctl2::RDSEED_EXITING, exit_reason::RDSEED},
      {Vmx_control_field::proc_based2, proc_based_ctl2::ENABLE_PML, exit_reason::PAGE_MODIFICATION_LOG_FULL},
  };
  for (const Cpu_profile& p : vmx_profiles()) {
    const Vmx_controls_result r = compute_vmx_controls(hv_vmx_controls_request(), p.msrs);
    ASSERT_TRUE(r.ok());
    for (const Control_exit& c : conditional) {
      if (!(r.value[c.field] & c.bit)) continue;
      Fake_vmcs vmcs;
      Vcpu vcpu;
      vmcs.write(vmcs::VM_EXIT_REASON, c.reason);
      test::Scoped_log_capture quiet;
      (void)dispatch_exit(vcpu, vmcs);
      EXPECT_NE(vcpu.stop.kind, Vcpu_stop_kind::unhandled_exit)
          << p.name << ": " << vmx_control_name(c.field, static_cast<unsigned>(std::countr_zero(c.bit)))
          << " is on, but exit " << c.reason << " has no handler";
    }
  }
}

TEST(VmcsSetup, HostSelectorsLoseRplAndTiButKeepTheirIndex) {
  Fake_vmcs vmcs;
  Host_state h;
  h.cs = 0x0B;    // index 1, RPL 3
  h.ss = 0x14;    // index 2, TI
  h.ds = h.es = h.fs = h.gs = 0x10;
  h.tr = 0x1A3;   // index 0x34, RPL 3: a GDT with more than 32 entries
  h.cr3 = 0x1000;
  h.rip = 0xFFFF800000123456ull;
  write_host_state(vmcs, h);
  EXPECT_EQ(vmcs.read(vmcs::HOST_CS_SELECTOR), 0x08u);
  EXPECT_EQ(vmcs.read(vmcs::HOST_SS_SELECTOR), 0x10u);
  EXPECT_EQ(vmcs.read(vmcs::HOST_TR_SELECTOR), 0x1A0u);
  EXPECT_EQ(vmcs.read(vmcs::HOST_DS_SELECTOR), 0x10u);
  EXPECT_EQ(vmcs.read(vmcs::HOST_CR3), 0x1000u);
  EXPECT_EQ(vmcs.read(vmcs::HOST_RIP), 0xFFFF800000123456ull);
}

} // namespace
} // namespace hv
