// tests/guests/exitbench.cpp - the cost of three exits, measured with RDTSC over many round
// trips: CPUID, a no-op VMCALL, and a read of the UART's line status register. In Bochs the TSC
// counts emulated instructions, so the figures are a deterministic cost (docs/performance.md).
#include "guests/runtime/guest.hpp"

namespace {
constexpr u64 iterations = 2000;

template <typename F>
u64 per_iteration(F&& op) {
  op();  // warm: the first call may populate a page
  const u64 start = guest::rdtsc();
  for (u64 i = 0; i < iterations; ++i) op();
  return (guest::rdtsc() - start) / iterations;
}
} // namespace

extern "C" hv::u32 guest_main(const hv::Boot_info*) {
  const u64 empty = per_iteration([] { asm volatile("" ::: "memory"); });
  const u64 cpuid = per_iteration([] {
    u32 a, b, c, d;
    guest::cpuid(0x40000000, 0, a, b, c, d);
  });
  const u64 vmcall = per_iteration([] { (void)guest::hypercall(0); });
  const u64 uart = per_iteration([] { (void)guest::inb(0x3F8 + 5); });
  guest::print("exitbench: {} iterations; loop {} ; cpuid {} ; vmcall-nop {} ; uart-lsr-read {} (TSC ticks per round trip)",
               iterations, empty, cpuid, vmcall, uart);
  bool ok = guest::check(cpuid > empty && vmcall > empty && uart > empty, "exitbench-measured");
  return ok ? 0 : 1;
}
