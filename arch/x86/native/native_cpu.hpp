// arch/x86/native/native_cpu.hpp - the real CPU and ports behind Cpu_access / Port_io.
// Freestanding build only.
#pragma once
#include "arch/x86/cpu_access.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/port_io.hpp"

namespace hv {

class Native_cpu final : public Cpu_access {
public:
  Cpuid_result cpuid(u32 leaf, u32 subleaf) override { return x86::cpuid(leaf, subleaf); }
  u64 rdmsr(u32 msr) override { return x86::rdmsr(msr); }
  void wrmsr(u32 msr, u64 value) override { x86::wrmsr(msr, value); }
};

class Native_port_io final : public Port_io {
public:
  u8 in8(u16 port) override { return x86::in8(port); }
  void out8(u16 port, u8 value) override { x86::out8(port, value); }
  u16 in16(u16 port) override { return x86::in16(port); }
  void out16(u16 port, u16 value) override { x86::out16(port, value); }
  u32 in32(u16 port) override { return x86::in32(port); }
  void out32(u16 port, u32 value) override { x86::out32(port, value); }
};

// Captures the calling CPU's general and control registers and logs them (panic's dump).
void log_native_registers();

} // namespace hv
