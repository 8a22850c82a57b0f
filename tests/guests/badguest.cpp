// tests/guests/badguest.cpp - a guest that misbehaves on purpose; what it does is chosen by its
// `args` (hv.cfg):
//   checks     (default) unknown MSRs, CR4.VMXE, VMXON, reserved ports, VMCALL from ring 3:
//              each must get the architectural answer (#GP, #UD, all-ones, -EPERM), checked
//              here, and the VM goes on; exits 0
//   oob-read   reads guest-physical memory beyond its RAM: hv stops the VM (ept-outside-slot)
//   oob-write  writes there: the same
//   triple     loads an empty IDT and faults: the CPU triple-faults; hv stops the VM
// The integration test runs each mode as its own VM and then a well-behaved guest on the same
// CPU, to show the host survived.
#include "guests/runtime/guest.hpp"

namespace {

struct Interrupt_frame {
  u64 ip, cs, flags, sp, ss;
};

// Where a handler resumes after a fault we provoked, and what it saw.
volatile u64 g_resume = 0;
volatile u64 g_resume_rsp = 0;
volatile u64 g_last_vector = ~0ull;
volatile i64 g_user_result = 0;

__attribute__((interrupt)) void on_ud(Interrupt_frame* f) {
  g_last_vector = 6;
  f->ip = g_resume;
}
__attribute__((interrupt)) void on_gp(Interrupt_frame* f, u64) {
  g_last_vector = 13;
  f->ip = g_resume;
}
// int 0x80 from ring 3: back to ring 0 at g_resume on the saved kernel stack.
__attribute__((interrupt)) void on_return_to_kernel(Interrupt_frame* f) {
  f->ip = g_resume;
  f->cs = 0x08;
  f->ss = 0x10;
  f->sp = g_resume_rsp;
}

alignas(16) u64 g_gdt[7];
alignas(16) u64 g_idt[2 * 256];
alignas(16) u8 g_tss[104];
alignas(16) u8 g_kernel_stack[8192];
alignas(16) u8 g_user_stack[8192];

void set_gate(unsigned vector, void* handler, unsigned dpl) {
  const u64 h = reinterpret_cast<u64>(handler);
  g_idt[2 * vector] = (h & 0xFFFF) | (0x08ull << 16) | ((0x8Eull | (u64{dpl} << 5)) << 40) | (((h >> 16) & 0xFFFF) << 48);
  g_idt[2 * vector + 1] = h >> 32;
}

void install_tables() {
  g_gdt[0] = 0;
  g_gdt[1] = 0x00AF9B000000FFFFull;  // 0x08 kernel code
  g_gdt[2] = 0x00CF93000000FFFFull;  // 0x10 kernel data
  g_gdt[3] = 0x00CFF3000000FFFFull;  // 0x18 user data (DPL 3)
  g_gdt[4] = 0x00AFFB000000FFFFull;  // 0x20 user code (DPL 3, 64-bit)
  const u64 tss = reinterpret_cast<u64>(g_tss);
  g_gdt[5] = 103 | ((tss & 0xFFFFFF) << 16) | (0x89ull << 40) | (((tss >> 24) & 0xFF) << 56);
  g_gdt[6] = tss >> 32;
  const u64 rsp0 = reinterpret_cast<u64>(g_kernel_stack + sizeof g_kernel_stack);
  for (int i = 0; i < 8; ++i) g_tss[4 + i] = static_cast<u8>(rsp0 >> (8 * i));
  g_tss[102] = 104;  // no I/O permission bitmap
  set_gate(6, reinterpret_cast<void*>(on_ud), 0);
  set_gate(13, reinterpret_cast<void*>(on_gp), 0);
  set_gate(0x80, reinterpret_cast<void*>(on_return_to_kernel), 3);
  struct __attribute__((packed)) { u16 limit; u64 base; } gdtr{sizeof g_gdt - 1, reinterpret_cast<u64>(g_gdt)},
      idtr{sizeof g_idt - 1, reinterpret_cast<u64>(g_idt)};
  asm volatile("lgdt %0; lidt %1; mov $0x28, %%ax; ltr %%ax" ::"m"(gdtr), "m"(idtr) : "rax", "memory");
}

// Runs `insn` (assembly text) with the fault handlers armed; returns the vector it raised, or
// ~0 if it completed.
#define PROVOKE(insn, ...)                                                                     \
  [&]() -> u64 {                                                                               \
    g_last_vector = ~0ull;                                                                     \
    asm volatile("leaq 1f(%%rip), %%r11\n movq %%r11, %[resume]\n" insn "\n1:\n"               \
                 : [resume] "=m"(g_resume) : __VA_ARGS__ : "r11", "memory");                   \
    return g_last_vector;                                                                      \
  }()

u32 run_checks() {
  using guest::check;
  install_tables();
  bool ok = true;
  ok &= check(PROVOKE("rdmsr", "c"(0xC0010000u)) == 13, "unknown-msr-read-gp");
  ok &= check(PROVOKE("wrmsr", "c"(0xC0010000u), "a"(1u), "d"(0u)) == 13, "unknown-msr-write-gp");
  ok &= check(PROVOKE("rdmsr", "c"(0x3Au)) != 13, "feature-control-readable");
  u64 cr4 = 0;
  asm volatile("mov %%cr4, %0" : "=r"(cr4));
  ok &= check(!(cr4 & (1u << 13)), "cr4-vmxe-hidden", "{:#x}", cr4);
  ok &= check(PROVOKE("mov %[v], %%cr4", [v] "r"(cr4 | (1u << 13))) == 13, "cr4-vmxe-set-gp");
  u64 region = 0;
  ok &= check(PROVOKE("vmxon %[m]", [m] "m"(region)) == 6, "vmxon-ud");
  ok &= check(guest::inb(0x2F0) == 0xFF, "reserved-port-reads-ones");
  u16 w;
  asm volatile("inw %1, %0" : "=a"(w) : "Nd"(static_cast<u16>(0x2F0)));
  ok &= check(w == 0xFFFF, "reserved-port-word-ones", "{:#x}", w);
  guest::outb(0x2F0, 0x12);  // ignored: nothing may happen
  ok &= check(true, "reserved-port-write-ignored");

  // VMCALL from ring 3 must be refused with -EPERM (KVM's rule); back through int 0x80.
  const u64 user_rsp = reinterpret_cast<u64>(g_user_stack + sizeof g_user_stack);
  asm volatile(
      "leaq 2f(%%rip), %%r11\n movq %%r11, %[resume]\n movq %%rsp, %[saved]\n"
      "pushq $0x1B\n pushq %[ursp]\n pushq $0x2\n pushq $0x23\n leaq 3f(%%rip), %%r11\n pushq %%r11\n iretq\n"
      "3:\n movq $1, %%rax\n vmcall\n movq %%rax, %[result]\n int $0x80\n"
      "2:\n"
      : [resume] "=m"(g_resume), [saved] "=m"(g_resume_rsp), [result] "=m"(g_user_result)
      : [ursp] "r"(user_rsp)
      : "rax", "rbx", "rcx", "rdx", "rsi", "r11", "memory");
  asm volatile("mov $0x10, %%ax; mov %%ax, %%ds; mov %%ax, %%es" ::: "rax");
  ok &= check(g_user_result == -1, "vmcall-ring3-eperm", "{}", g_user_result);
  ok &= check(guest::hypercall(1) >= 1, "vmcall-ring0-still-works");
  return ok ? 0 : 1;
}

bool is(const char* a, const char* b) {
  while (*a && *a == *b) { ++a; ++b; }
  return *a == *b;
}

// Maps the 2 MiB just past guest RAM (a GPA no memslot covers) into the first page directory.
volatile u8* map_beyond_ram(const hv::Boot_info* info) {
  auto* pd = reinterpret_cast<volatile u64*>(0x5000);
  const u64 gpa = info->memory_bytes;
  pd[gpa / hv::page_size_2m] = gpa | 0x87;  // P RW US PS
  asm volatile("invlpg (%0)" ::"r"(gpa) : "memory");
  return reinterpret_cast<volatile u8*>(gpa);
}

} // namespace

extern "C" hv::u32 guest_main(const hv::Boot_info* info) {
  guest::print("badguest: mode '{}'", info->args[0] ? info->args : "checks");
  if (info->args[0] == 0 || is(info->args, "checks")) return run_checks();
  if (info->memory_bytes >= hv::GiB) {
    guest::print("badguest: needs less than 1 GiB of RAM");
    return 2;
  }
  if (is(info->args, "oob-read")) {
    const u8 v = *map_beyond_ram(info);
    guest::print("badguest: read {:#x} beyond RAM and was not stopped", v);
    return 3;
  }
  if (is(info->args, "oob-write")) {
    *map_beyond_ram(info) = 0x42;
    guest::print("badguest: wrote beyond RAM and was not stopped");
    return 3;
  }
  if (is(info->args, "triple")) {
    struct __attribute__((packed)) { u16 limit; u64 base; } empty{0, 0};
    asm volatile("lidt %0; ud2" ::"m"(empty));
    return 3;
  }
  guest::print("badguest: unknown mode '{}'", info->args);
  return 4;
}
