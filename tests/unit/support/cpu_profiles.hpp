// tests/unit/support/cpu_profiles.hpp - CPUs as data for the fake CPU (arch/x86/fake/fake_cpu.hpp).
// Hosted build only (tests). Each profile holds the CPUID leaves and the raw VMX capability MSRs
// of one CPU, plus what the decoders should make of it; apply() loads it into a Fake_cpu.
//
// Only MSRs whose `has_*` flag is set in `msrs` exist on the profile's CPU: apply() does not
// create the others, so a read of them shows up in Fake_cpu::missing_msr_reads (a #GP on
// hardware).
//
// Profiles:
//   bochs_skylake_x()     Bochs 2.7 `cpu: model=corei7_skylake_x`, values read off the machine
//                         by a UEFI app (see ../shared/EMULATORS.md); CPUID.1:ECX/EDX from Bochs'
//                         cpudb/intel/corei7_skylake-x.cc (OSXSAVE, which mirrors CR4.OSXSAVE, left clear).
//   intel_core_i7_6700k() a real Skylake client part. Source: VirtualBox's CPU database,
//                         src/VBox/VMM/VMMR3/cpus/Intel_Core_i7_6700K.h (VirtualBox/virtualbox
//                         on GitHub, "Generated at 2015-11-04T14:22:26Z by VBoxCpuReport
//                         v5.0.51r103906"): MSRs 0x480..0x491 and 0x3A, CPUID leaves as dumped.
//   qemu_tcg_no_vmx()     QEMU TCG with an Intel vendor string (e.g. `-cpu qemu64,vendor=
//                         GenuineIntel`): CPUID.1:ECX.VMX = 0, hypervisor bit set, no VMX MSRs.
//   amd_ryzen_1800x()     AuthenticAMD, family 0x17 model 1 (CPUID.1:EAX 0x00800F11, Zen
//                         "Summit Ridge"); no Intel VMX MSRs at all.
//   vmx_locked_off()      the 6700K with firmware that locked IA32_FEATURE_CONTROL with VMXON
//                         outside SMX clear (value 0x1: "VT-x disabled in the BIOS setup").
//   vmx_without_ept()     Bochs' values with "enable EPT" and "unrestricted guest" not
//                         allowed in the secondary controls; VPID remains, so
//                         IA32_VMX_EPT_VPID_CAP still exists (VPID bits only).
//   vmx_without_secondary_controls() Bochs' values with "activate secondary controls" not
//                         allowed (a Core 2 era CPU): PROCBASED_CTLS2, EPT_VPID_CAP and VMFUNC
//                         do not exist.
#pragma once
#include "arch/x86/fake/fake_cpu.hpp"
#include "arch/x86/msr.hpp"
#include "vmx/vmx_capabilities.hpp"
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hv::test {

struct Cpuid_leaf {
  u32 leaf = 0;
  u32 subleaf = 0;
  Cpuid_result value;
};

struct Cpu_profile {
  std::string name;
  std::vector<Cpuid_leaf> cpuid;     // every leaf the CPU answers (others read as zeros)
  Vmx_capability_msrs msrs;          // raw values; has_* = the MSR exists on this CPU
  // What the decoders should report.
  Cpu_vendor vendor = Cpu_vendor::other;
  u32 family = 0;
  u32 model = 0;
  u32 stepping = 0;
  u8 physical_address_bits = 36;
  std::string brand;                 // after trimming
  Vmx_status status = Vmx_status::no_vmx;
};

// CPUID leaf 0: max basic leaf and the vendor string in EBX, EDX, ECX order.
inline Cpuid_leaf vendor_leaf(std::string_view vendor12, u32 max_leaf) {
  char v[12] = {};
  std::memcpy(v, vendor12.data(), vendor12.size() < 12 ? vendor12.size() : 12);
  Cpuid_result r;
  r.eax = max_leaf;
  std::memcpy(&r.ebx, v + 0, 4);
  std::memcpy(&r.edx, v + 4, 4);
  std::memcpy(&r.ecx, v + 8, 4);
  return {0, 0, r};
}

// CPUID 0x80000002..4: a brand string of up to 48 bytes, NUL-padded.
inline std::vector<Cpuid_leaf> brand_leaves(std::string_view brand) {
  char b[48] = {};
  std::memcpy(b, brand.data(), brand.size() < 48 ? brand.size() : 48);
  std::vector<Cpuid_leaf> out;
  for (u32 i = 0; i < 3; ++i) {
    Cpuid_result r;
    std::memcpy(&r.eax, b + 16 * i + 0, 4);
    std::memcpy(&r.ebx, b + 16 * i + 4, 4);
    std::memcpy(&r.ecx, b + 16 * i + 8, 4);
    std::memcpy(&r.edx, b + 16 * i + 12, 4);
    out.push_back({0x80000002u + i, 0, r});
  }
  return out;
}

inline void apply(Fake_cpu& cpu, const Cpu_profile& p) {
  for (const Cpuid_leaf& l : p.cpuid) cpu.set_cpuid(l.leaf, l.subleaf, l.value);
  const Vmx_capability_msrs& m = p.msrs;
  if (m.has_feature_control) cpu.set_msr(msr::IA32_FEATURE_CONTROL, m.feature_control);
  if (m.has_vmx_msrs) {
    cpu.set_msr(msr::IA32_VMX_BASIC, m.basic);
    cpu.set_msr(msr::IA32_VMX_PINBASED_CTLS, m.pinbased_ctls);
    cpu.set_msr(msr::IA32_VMX_PROCBASED_CTLS, m.procbased_ctls);
    cpu.set_msr(msr::IA32_VMX_EXIT_CTLS, m.exit_ctls);
    cpu.set_msr(msr::IA32_VMX_ENTRY_CTLS, m.entry_ctls);
    cpu.set_msr(msr::IA32_VMX_MISC, m.misc);
    cpu.set_msr(msr::IA32_VMX_CR0_FIXED0, m.cr0_fixed0);
    cpu.set_msr(msr::IA32_VMX_CR0_FIXED1, m.cr0_fixed1);
    cpu.set_msr(msr::IA32_VMX_CR4_FIXED0, m.cr4_fixed0);
    cpu.set_msr(msr::IA32_VMX_CR4_FIXED1, m.cr4_fixed1);
    cpu.set_msr(msr::IA32_VMX_VMCS_ENUM, m.vmcs_enum);
  }
  if (m.has_procbased_ctls2) cpu.set_msr(msr::IA32_VMX_PROCBASED_CTLS2, m.procbased_ctls2);
  if (m.has_ept_vpid_cap) cpu.set_msr(msr::IA32_VMX_EPT_VPID_CAP, m.ept_vpid_cap);
  if (m.has_true_ctls) {
    cpu.set_msr(msr::IA32_VMX_TRUE_PINBASED_CTLS, m.true_pinbased_ctls);
    cpu.set_msr(msr::IA32_VMX_TRUE_PROCBASED_CTLS, m.true_procbased_ctls);
    cpu.set_msr(msr::IA32_VMX_TRUE_EXIT_CTLS, m.true_exit_ctls);
    cpu.set_msr(msr::IA32_VMX_TRUE_ENTRY_CTLS, m.true_entry_ctls);
  }
  if (m.has_vmfunc) cpu.set_msr(msr::IA32_VMX_VMFUNC, m.vmfunc);
}

// Bochs 2.7, corei7_skylake_x, CPU 0 of `count=2`.
inline Cpu_profile bochs_skylake_x() {
  Cpu_profile p;
  p.name = "bochs_skylake_x";
  p.cpuid = {
      vendor_leaf("GenuineIntel", 0x16),
      // EAX family 6 model 85 stepping 4; EBX: CLFLUSH 8*8 bytes, 1 logical processor, APIC ID 0.
      {0x1, 0, {0x00050654, 0x00010800, 0x77FAF3BF, 0xBFEBFBFF}},
      {0x80000000, 0, {0x80000008, 0, 0, 0}},
      {0x80000001, 0, {0, 0, 0x00000121, 0x2C100800}},
      {0x80000008, 0, {0x00003028, 0, 0, 0}},  // 40-bit physical, 48-bit linear
  };
  for (const auto& l : brand_leaves("Intel(R) Core(TM) i7-7800X CPU @ 3.50GHz")) p.cpuid.push_back(l);
  Vmx_capability_msrs& m = p.msrs;
  m.feature_control = 0x0;
  m.basic = 0x00d810000000002b;
  m.pinbased_ctls = 0x7f00000016;
  m.procbased_ctls = 0xf7f9fffe0401e172;
  m.procbased_ctls2 = 0x2177fff00000000;
  m.exit_ctls = 0x7fffff00036dff;
  m.entry_ctls = 0xffff000011ff;
  m.misc = 0x600401e0;
  m.ept_vpid_cap = 0xf0106334141;
  m.vmfunc = 0x1;
  m.true_pinbased_ctls = 0x7f00000016;
  m.true_procbased_ctls = 0xf7f9fffe04006172;
  m.true_exit_ctls = 0x7fffff00036dfb;
  m.true_entry_ctls = 0xffff000011fb;
  m.cr0_fixed0 = 0x80000021;
  m.cr0_fixed1 = 0xffffffff;
  m.cr4_fixed0 = 0x2000;
  m.cr4_fixed1 = 0x3727ff;
  m.vmcs_enum = 0x34;
  m.has_feature_control = m.has_vmx_msrs = m.has_procbased_ctls2 = m.has_ept_vpid_cap = m.has_true_ctls =
      m.has_vmfunc = true;
  p.vendor = Cpu_vendor::intel;
  p.family = 6;
  p.model = 85;
  p.stepping = 4;
  p.physical_address_bits = 40;
  p.brand = "Intel(R) Core(TM) i7-7800X CPU @ 3.50GHz";
  p.status = Vmx_status::usable;
  return p;
}

// Intel Core i7-6700K (Skylake-S, family 6 model 94 stepping 3). Values from VirtualBox's CPU
// database (see the banner); VirtualBox's leaf flags and MSR write masks are left out.
inline Cpu_profile intel_core_i7_6700k() {
  Cpu_profile p;
  p.name = "intel_core_i7_6700k";
  p.cpuid = {
      vendor_leaf("GenuineIntel", 0x16),
      {0x1, 0, {0x000506e3, 0x02100800, 0x7ffafbbf, 0xbfebfbff}},
      {0x2, 0, {0x76036301, 0x00f0b5ff, 0x00000000, 0x00c30000}},
      {0x4, 0, {0x1c004121, 0x01c0003f, 0x0000003f, 0x00000000}},
      {0x4, 1, {0x1c004122, 0x01c0003f, 0x0000003f, 0x00000000}},
      {0x4, 2, {0x1c004143, 0x00c0003f, 0x000003ff, 0x00000000}},
      {0x4, 3, {0x1c03c163, 0x03c0003f, 0x00001fff, 0x00000006}},
      {0x4, 4, {0, 0, 0, 0}},
      {0x5, 0, {0x00000040, 0x00000040, 0x00000003, 0x00142120}},
      {0x6, 0, {0x000027f7, 0x00000002, 0x00000009, 0x00000000}},
      {0x7, 0, {0x00000000, 0x029c6fbf, 0x00000000, 0x00000000}},
      {0xa, 0, {0x07300404, 0x00000000, 0x00000000, 0x00000603}},
      {0xb, 0, {0x00000001, 0x00000002, 0x00000100, 0x00000002}},
      {0xb, 1, {0x00000004, 0x00000008, 0x00000201, 0x00000002}},
      {0xb, 2, {0x00000000, 0x00000000, 0x00000002, 0x00000002}},
      {0xd, 0, {0x0000001f, 0x00000440, 0x00000440, 0x00000000}},
      {0xd, 1, {0x0000000f, 0x000003c0, 0x00000100, 0x00000000}},
      {0xd, 2, {0x00000100, 0x00000240, 0x00000000, 0x00000000}},  // AVX: 256 bytes at 576
      {0xd, 3, {0x00000040, 0x000003c0, 0x00000000, 0x00000000}},  // MPX BNDREGS
      {0xd, 4, {0x00000040, 0x00000400, 0x00000000, 0x00000000}},  // MPX BNDCSR
      {0xd, 5, {0, 0, 0, 0}},
      {0x15, 0, {0x00000002, 0x0000014e, 0x00000000, 0x00000000}},
      {0x16, 0, {0x00000fa0, 0x00001068, 0x00000064, 0x00000000}},
      {0x80000000, 0, {0x80000008, 0, 0, 0}},
      {0x80000001, 0, {0x00000000, 0x00000000, 0x00000121, 0x2c100800}},
      {0x80000002, 0, {0x65746e49, 0x2952286c, 0x726f4320, 0x4d542865}},
      {0x80000003, 0, {0x37692029, 0x3037362d, 0x43204b30, 0x40205550}},
      {0x80000004, 0, {0x302e3420, 0x7a484730, 0x00000000, 0x00000000}},
      {0x80000006, 0, {0x00000000, 0x00000000, 0x01006040, 0x00000000}},
      {0x80000007, 0, {0x00000000, 0x00000000, 0x00000000, 0x00000100}},
      {0x80000008, 0, {0x00003027, 0x00000000, 0x00000000, 0x00000000}},  // 39-bit physical
  };
  Vmx_capability_msrs& m = p.msrs;
  m.feature_control = 0x5;  // locked, VMXON outside SMX enabled
  m.basic = 0xda040000000004;
  m.pinbased_ctls = 0x7f00000016;
  m.procbased_ctls = 0xfff9fffe0401e172;
  m.exit_ctls = 0x1ffffff00036dff;
  m.entry_ctls = 0x3ffff000011ff;
  m.misc = 0x7004c1e7;
  m.cr0_fixed0 = 0x80000021;
  m.cr0_fixed1 = 0xffffffff;
  m.cr4_fixed0 = 0x2000;
  m.cr4_fixed1 = 0x3727ff;
  m.vmcs_enum = 0x2e;
  m.procbased_ctls2 = 0x1ffcff00000000;
  m.ept_vpid_cap = 0xf0106334141;
  m.true_pinbased_ctls = 0x7f00000016;
  m.true_procbased_ctls = 0xfff9fffe04006172;
  m.true_exit_ctls = 0x1ffffff00036dfb;
  m.true_entry_ctls = 0x3ffff000011fb;
  m.vmfunc = 0x1;
  m.has_feature_control = m.has_vmx_msrs = m.has_procbased_ctls2 = m.has_ept_vpid_cap = m.has_true_ctls =
      m.has_vmfunc = true;
  p.vendor = Cpu_vendor::intel;
  p.family = 6;
  p.model = 94;
  p.stepping = 3;
  p.physical_address_bits = 39;
  p.brand = "Intel(R) Core(TM) i7-6700K CPU @ 4.00GHz";
  p.status = Vmx_status::usable;
  return p;
}

// QEMU TCG, Intel vendor string, qemu64-like features: no VMX, no SMX, so no IA32_FEATURE_CONTROL.
inline Cpu_profile qemu_tcg_no_vmx() {
  Cpu_profile p;
  p.name = "qemu_tcg_no_vmx";
  p.cpuid = {
      vendor_leaf("GenuineIntel", 0xd),
      // family 6 model 6 stepping 3; ECX: SSE3, CX16, POPCNT, hypervisor (bit 31).
      {0x1, 0, {0x00000663, 0x00000800, 0x80802001, 0x078bfbfd}},
      {0x80000000, 0, {0x80000008, 0, 0, 0}},
      {0x80000001, 0, {0x00000663, 0, 0x00000001, 0x20100800}},
      {0x80000008, 0, {0x00003028, 0, 0, 0}},
  };
  for (const auto& l : brand_leaves("QEMU Virtual CPU version 2.5+")) p.cpuid.push_back(l);
  p.vendor = Cpu_vendor::intel;
  p.family = 6;
  p.model = 6;
  p.stepping = 3;
  p.physical_address_bits = 40;
  p.brand = "QEMU Virtual CPU version 2.5+";
  p.status = Vmx_status::no_vmx;
  return p;
}

// AMD Ryzen 7 1800X (Zen, family 0x17 = 23, model 1, stepping 1). SVM is in 0x80000001:ECX[2];
// hv does not support it. The brand string comes with trailing spaces, as on many AMD parts.
inline Cpu_profile amd_ryzen_1800x() {
  Cpu_profile p;
  p.name = "amd_ryzen_1800x";
  p.cpuid = {
      vendor_leaf("AuthenticAMD", 0xd),
      {0x1, 0, {0x00800f11, 0x00100800, 0x7ed8320b, 0x178bfbff}},
      {0x80000000, 0, {0x8000001f, 0x68747541, 0x444d4163, 0x69746e65}},
      {0x80000001, 0, {0x00800f11, 0x20000000, 0x35c233ff, 0x2fd3fbff}},
      {0x80000008, 0, {0x00003030, 0x00000007, 0x0000400f, 0x00000000}},  // 48-bit physical
  };
  for (const auto& l : brand_leaves("AMD Ryzen 7 1800X Eight-Core Processor          ")) p.cpuid.push_back(l);
  p.vendor = Cpu_vendor::amd;
  p.family = 23;
  p.model = 1;
  p.stepping = 1;
  p.physical_address_bits = 48;
  p.brand = "AMD Ryzen 7 1800X Eight-Core Processor";
  p.status = Vmx_status::not_intel;
  return p;
}

// Firmware locked VT-x off: IA32_FEATURE_CONTROL = lock only.
inline Cpu_profile vmx_locked_off() {
  Cpu_profile p = intel_core_i7_6700k();
  p.name = "vmx_locked_off";
  p.msrs.feature_control = msr::FEATURE_CONTROL_LOCK;
  p.status = Vmx_status::locked_off;
  return p;
}

// VMX without EPT (VPID only): guests would need shadow paging.
inline Cpu_profile vmx_without_ept() {
  Cpu_profile p = bochs_skylake_x();
  p.name = "vmx_without_ept";
  const u64 no_ept = (1ull << (32 + vmx_ctl::PROC2_ENABLE_EPT)) | (1ull << (32 + vmx_ctl::PROC2_UNRESTRICTED_GUEST)) |
                     (1ull << (32 + vmx_ctl::PROC2_ENABLE_PML));
  p.msrs.procbased_ctls2 &= ~no_ept;
  p.msrs.ept_vpid_cap &= 0xffffffff00000000ull;  // INVVPID bits only: nothing about EPT
  p.status = Vmx_status::usable_no_ept;
  return p;
}

// VMX without secondary controls: no PROCBASED_CTLS2, EPT_VPID_CAP or VMFUNC MSRs.
inline Cpu_profile vmx_without_secondary_controls() {
  Cpu_profile p = bochs_skylake_x();
  p.name = "vmx_without_secondary_controls";
  const u64 secondary = 1ull << (32 + vmx_ctl::PROC_ACTIVATE_SECONDARY_CONTROLS);
  p.msrs.procbased_ctls &= ~secondary;
  p.msrs.true_procbased_ctls &= ~secondary;
  p.msrs.procbased_ctls2 = p.msrs.ept_vpid_cap = p.msrs.vmfunc = 0;
  p.msrs.has_procbased_ctls2 = p.msrs.has_ept_vpid_cap = p.msrs.has_vmfunc = false;
  p.status = Vmx_status::usable_no_ept;
  return p;
}

inline std::vector<Cpu_profile> all_cpu_profiles() {
  return {bochs_skylake_x(), intel_core_i7_6700k(), qemu_tcg_no_vmx(), amd_ryzen_1800x(),
          vmx_locked_off(),  vmx_without_ept(),     vmx_without_secondary_controls()};
}

} // namespace hv::test
