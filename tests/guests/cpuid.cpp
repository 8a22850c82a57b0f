// tests/guests/cpuid.cpp - checks the CPU model and hypercall interface hv presents: VMX
// hidden, the hypervisor bit and leaves 0x40000000.., and the VMCALL ABI (docs/hypercalls.md).
#include "guests/runtime/guest.hpp"

namespace {
bool signature_is(u32 b, u32 c, u32 d, const char* want) {
  char got[13];
  for (int i = 0; i < 4; ++i) {
    got[i] = static_cast<char>(b >> (8 * i));
    got[4 + i] = static_cast<char>(c >> (8 * i));
    got[8 + i] = static_cast<char>(d >> (8 * i));
  }
  for (int i = 0; i < 12; ++i) {
    if (got[i] != want[i]) return false;
  }
  return true;
}
} // namespace

extern "C" hv::u32 guest_main(const hv::Boot_info* info) {
  using guest::check;
  u32 a, b, c, d;
  bool ok = true;
  guest::cpuid(1, 0, a, b, c, d);
  ok &= check(!(c & (1u << 5)), "vmx-hidden", "CPUID.1:ECX = {:#x}", c);
  ok &= check(c & (1u << 31), "hypervisor-bit", "CPUID.1:ECX = {:#x}", c);
  ok &= check(!(c & (1u << 6)), "smx-hidden", "CPUID.1:ECX = {:#x}", c);
  guest::cpuid(0x40000000, 0, a, b, c, d);
  ok &= check(a >= 0x40000001, "hypervisor-max-leaf", "{:#x}", a);
  ok &= check(signature_is(b, c, d, "HvTypeOneVMX"), "hypervisor-signature", "{:#x} {:#x} {:#x}", b, c, d);
  guest::cpuid(0x40000001, 0, a, b, c, d);
  ok &= check(a == info->hypercall_version, "hypercall-version-leaf", "CPUID {} boot info {}", a, info->hypercall_version);
  ok &= check(b & 1, "hypercall-feature-bit", "{:#x}", b);
  ok &= check(guest::hypercall(1) == static_cast<i64>(a), "hypercall-version", "{}", guest::hypercall(1));
  ok &= check(guest::hypercall(0) == 0, "hypercall-nop");
  ok &= check((guest::hypercall(2) & 3) == 3, "hypercall-features", "{:#x}", guest::hypercall(2));
  ok &= check(guest::hypercall(0xDEAD) == -38, "hypercall-unknown-enosys", "{}", guest::hypercall(0xDEAD));
  // The upper halves of RAX..RDX are cleared by CPUID, as on hardware.
  u64 rax = 0xFFFFFFFF00000000ull | 0x40000000, rbx = ~0ull, rcx = ~0ull, rdx = ~0ull;
  asm volatile("cpuid" : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx));
  ok &= check((rax >> 32) == 0 && (rbx >> 32) == 0 && (rcx >> 32) == 0 && (rdx >> 32) == 0, "cpuid-clears-upper-halves");
  guest::cpuid(0, 0, a, b, c, d);
  guest::print("cpuid: max basic leaf {:#x}, vendor leaf ok", a);
  return ok ? 0 : 1;
}
