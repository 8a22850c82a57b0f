// lib/per_cpu.hpp - what each physical CPU owns: its index and APIC ID, its host GDT and TSS,
// its VMXON region, stacks, and its state. Both builds (the layout is plain data; tests can
// build one on the heap). boot/ allocates one Per_cpu per CPU before ExitBootServices as
// loader data, which the frame allocator never manages.
#pragma once
#include "arch/x86/host_selectors.hpp"
#include "arch/x86/segment_descriptor.hpp"
#include <atomic>

namespace hv {

inline constexpr u32 max_cpus = 64;
inline constexpr usize host_stack_bytes = 64 * 1024;
inline constexpr usize host_ist_stack_bytes = 16 * 1024;


enum class Cpu_state : u32 {
  absent = 0,
  starting,     // INIT-SIPI-SIPI sent, not yet in long mode with its own tables
  online,       // running hv code, host tables loaded
  vmx_root,     // VMXON done: waiting in VMX root for work
  failed,       // could not enter VMX root; the reason was logged
};

struct alignas(4096) Per_cpu {
  u8 vmxon_region[4096];                   // must be page aligned: keep first
  alignas(16) u8 stack[host_stack_bytes];  // grows down from stack + host_stack_bytes
  alignas(16) u8 ist_stack[host_ist_stack_bytes];  // #DF, NMI, #MC run here (IST1)
  alignas(16) u64 gdt[6];                  // null, code64, data, TSS (2 slots), spare
  alignas(16) x86::Tss64 tss;
  u32 index = 0;                           // 0 = the bootstrap processor
  u32 apic_id = 0;
  std::atomic<Cpu_state> state{Cpu_state::absent};
  u64 vmxon_region_pa = 0;                 // physical address of vmxon_region
  // Work handed to this CPU while it waits in VMX root (see core/cpu_work.hpp).
  std::atomic<void (*)(Per_cpu&, void*)> work{nullptr};
  std::atomic<void*> work_arg{nullptr};

  [[nodiscard]] u64 stack_top() const { return reinterpret_cast<u64>(stack + host_stack_bytes); }
  [[nodiscard]] u64 ist_top() const { return reinterpret_cast<u64>(ist_stack + host_ist_stack_bytes); }
};

// All CPUs hv runs on; filled by boot/.
struct Cpu_set {
  Per_cpu* cpus[max_cpus] = {};
  u32 count = 0;
};
[[nodiscard]] Cpu_set& cpu_set();

// Fills the GDT and TSS of `cpu` (code 0x08, data 0x10, TSS 0x18; IST1 = the IST stack).
void build_host_gdt(Per_cpu& cpu);

} // namespace hv
