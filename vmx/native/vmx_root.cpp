// vmx/native/vmx_root.cpp - see vmx_root.hpp. Freestanding build only.
#include "vmx/native/vmx_root.hpp"
#include "arch/x86/msr.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/native/vmx_instructions.hpp"
#include "lib/log.hpp"
#include <cstring>

namespace hv {

bool vmx_enter_root(Per_cpu& cpu, const Vmx_capability_msrs& caps) {
  u64 fc = x86::rdmsr(msr::IA32_FEATURE_CONTROL);
  if (!(fc & msr::FEATURE_CONTROL_LOCK)) {
    fc |= msr::FEATURE_CONTROL_LOCK | msr::FEATURE_CONTROL_VMXON_OUTSIDE_SMX;
    x86::wrmsr(msr::IA32_FEATURE_CONTROL, fc);
  } else if (!(fc & msr::FEATURE_CONTROL_VMXON_OUTSIDE_SMX)) {
    log_error("vmx", "cpu{}: IA32_FEATURE_CONTROL {:#x} is locked with VMXON outside SMX disabled", cpu.index, fc);
    cpu.state.store(Cpu_state::failed);
    return false;
  }
  constexpr u64 CR4_VMXE = 1ull << 13;
  const u64 cr0 = (x86::read_cr0() | caps.cr0_fixed0) & caps.cr0_fixed1;
  const u64 cr4 = (x86::read_cr4() | caps.cr4_fixed0 | CR4_VMXE) & caps.cr4_fixed1;
  x86::write_cr0(cr0);
  x86::write_cr4(cr4);

  std::memset(cpu.vmxon_region, 0, sizeof cpu.vmxon_region);
  const u32 revision = static_cast<u32>(caps.basic & 0x7FFFFFFF);
  std::memcpy(cpu.vmxon_region, &revision, sizeof revision);
  cpu.vmxon_region_pa = reinterpret_cast<u64>(cpu.vmxon_region);  // identity-mapped
  const x86::Vmx_result r = x86::vmxon(cpu.vmxon_region_pa);
  if (r != x86::Vmx_result::ok) {
    log_error("vmx", "cpu{}: VMXON failed ({}), CR0 {:#x} CR4 {:#x}", cpu.index,
              r == x86::Vmx_result::fail_invalid ? "VMfailInvalid" : "VMfailValid", cr0, cr4);
    cpu.state.store(Cpu_state::failed);
    return false;
  }
  cpu.state.store(Cpu_state::vmx_root);
  return true;
}

} // namespace hv
