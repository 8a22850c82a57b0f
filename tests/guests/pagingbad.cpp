// tests/guests/pagingbad.cpp - hostile paging input; what it does is chosen by its `args` (hv.cfg),
// and the integration test runs each mode as its own VM, under EPT and under shadow paging:
//   cr3-reserved          MOV to CR3 with a bit at or above MAXPHYADDR (bits M, 51, 62, 63): #GP(0) at
//                         the MOV, CR3 unchanged; PWT|PCD are accepted and read back; exits 0
//   cr3-outside           MOV to CR3 with a PML4 beyond guest RAM (1 GiB + RAM): the next walk reads
//                         garbage; hv stops the VM (ept-outside-slot at the PML4 entry's address)
//   pde-outside           a working address space of its own whose PDE for one address points to a
//                         page table beyond RAM: touching the address stops the VM (ept-outside-slot
//                         at the PTE's address)
//   leaf-mmio-or-outside  a PTE whose frame lies beyond RAM (no MMIO slot exists: outside every
//                         slot): a write through it stops the VM (ept-outside-slot at the byte)
//   cr3-churn             3000 distinct address spaces (one fresh PML4 each, sharing the identity
//                         map, with a recursive slot): switches to each, reads its own tag through the
//                         recursive slot, writes some back, revisits many later; exits 0. Under
//                         shadow paging hv must recycle roots within its budget
//   self-map-write        rewrites the loader's own tables (PML4, PDPT, PD: they lie in the memory
//                         they map) through the identity map, splits the 2 MiB page holding them into
//                         a page table that maps itself, builds another self-mapped page table and
//                         rewrites all its PTEs through itself; checks each new mapping is used, and
//                         that everything is restored; exits 0
//   reserved-everywhere   reserved bits in a PML4E / PDPTE / PDE / PTE (address bits >= MAXPHYADDR,
//                         PS in a PML4E, bits 20:13 / 29:13 of large leaves, XD with EFER.NXE = 0),
//                         one at a time: #PF with P|RSVD (|W on writes, |I on fetches) and CR2 = the
//                         address; a not-present entry's reserved bits are ignored; exits 0
// One "ok NAME" line per check; the exit status is 0 only if every check passed.
#include "arch/x86/msr.hpp"
#include "arch/x86/page_table_entry.hpp"
#include "arch/x86/segment_descriptor.hpp"
#include "guests/runtime/guest.hpp"

namespace pte = hv::x86::pte;
using hv::GiB;
using hv::MiB;

// ---- Exceptions: asm stubs save the caller-saved registers and call fault_dispatch ----------
struct Frame { u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax, vector, error, rip, cs, rflags, rsp, ss; };
struct Fault { u64 vector = ~0ull, error = 0, cr2 = 0, rip = 0; };

extern "C" {
void isr_ud(); void isr_gp(); void isr_pf();
u64 probe_read(u64 va);               // one 8-byte load
void probe_write(u64 va, u64 value);  // one 8-byte store
void probe_exec(u64 va);              // jumps to va (which should hold RET)
void probe_cr3(u64 value);            // MOV to CR3
void probe_fixup();                   // where a fault resumes: RET from the probe
bool g_armed;                         // a probe is running: an exception is expected
Fault g_fault;                        // the last exception taken
}

asm(R"(
    .text
isr_ud: pushq $0
        pushq $6
        jmp isr_common
isr_gp: pushq $13
        jmp isr_common
isr_pf: pushq $14
isr_common:
        pushq %rax; pushq %rcx; pushq %rdx; pushq %rsi; pushq %rdi
        pushq %r8; pushq %r9; pushq %r10; pushq %r11
        movq %rsp, %rdi
        cld
        call fault_dispatch
        popq %r11; popq %r10; popq %r9; popq %r8
        popq %rdi; popq %rsi; popq %rdx; popq %rcx; popq %rax
        addq $16, %rsp
        iretq
probe_read:  movq (%rdi), %rax
        ret
probe_write: movq %rsi, (%rdi)
        ret
probe_exec:  jmp *%rdi
probe_cr3:   movq %rdi, %cr3
probe_fixup: ret
)");

extern "C" void fault_dispatch(Frame* f) {
  const u64 cr2 = guest::read_cr2();
  if (!g_armed) {
    guest::print("pagingbad: unexpected exception {} error {:#x} at rip {:#x} cr2 {:#x}", f->vector, f->error, f->rip,
                 cr2);
    guest::exit(3);
  }
  g_armed = false;
  g_fault = {f->vector, f->error, cr2, f->rip};
  f->rip = reinterpret_cast<u64>(&probe_fixup);
}

namespace {

alignas(16) hv::x86::Idt_gate g_idt[32];

void install_idt() {
  g_idt[6] = hv::x86::make_interrupt_gate(reinterpret_cast<u64>(&isr_ud), 0x08, 0);
  g_idt[13] = hv::x86::make_interrupt_gate(reinterpret_cast<u64>(&isr_gp), 0x08, 0);
  g_idt[14] = hv::x86::make_interrupt_gate(reinterpret_cast<u64>(&isr_pf), 0x08, 0);
  const hv::x86::Descriptor_table_register idtr{sizeof g_idt - 1, reinterpret_cast<u64>(g_idt)};
  asm volatile("lidt %0" ::"m"(idtr));
}

template <typename F>
Fault trap(F&& access) {
  g_fault = Fault{};
  g_armed = true;
  access();
  g_armed = false;
  return g_fault;
}
Fault trap_read(u64 va) { return trap([=] { (void)probe_read(va); }); }
Fault trap_write(u64 va) { return trap([=] { probe_write(va, 0x5757); }); }
Fault trap_exec(u64 va) { return trap([=] { probe_exec(va); }); }

u64 g_checks, g_failed;
template <typename... A>
bool check(bool passed, std::string_view name, std::string_view detail = "", const A&... args) {
  ++g_checks;
  g_failed += passed ? 0 : 1;
  return guest::check(passed, name, detail, args...);
}
u32 summary(std::string_view mode) {
  guest::print("pagingbad: {}: {} checks, {} failed", mode, g_checks, g_failed);
  return g_failed == 0 ? 0 : 1;
}

// ---- Page tables: 4 KiB frames from free memory, identity-addressed -----------------------
u64 g_next_frame, g_memory_end;
u64 alloc_frame() {
  const u64 f = g_next_frame;
  if (f + hv::page_size_4k > g_memory_end) {
    guest::print("pagingbad: out of memory at {:#x}", f);
    guest::exit(2);
  }
  g_next_frame += hv::page_size_4k;
  auto* p = reinterpret_cast<volatile u64*>(f);
  for (int i = 0; i < 512; ++i) p[i] = 0;
  return f;
}
volatile u64* table(u64 entry) { return reinterpret_cast<volatile u64*>(entry & pte::address_mask); }
constexpr u64 flags = pte::P | pte::RW | pte::US;
// The entry for `va` at `level` (1 PTE, 2 PDE, 3 PDPTE, 4 PML4E) under `pml4`, creating missing tables.
volatile u64* entry(u64 pml4, u64 va, unsigned level) {
  volatile u64* t = table(pml4);
  for (unsigned l = 4; l > level; --l) {
    volatile u64& e = t[pte::index(va, l)];
    if (!(e & pte::P)) e = alloc_frame() | flags;
    t = table(e);
  }
  return &t[pte::index(va, level)];
}
u64 read(u64 va) { return *reinterpret_cast<volatile u64*>(va); }
void write(u64 va, u64 v) { *reinterpret_cast<volatile u64*>(va) = v; }
u64 tagged_frame(u64 tag) { const u64 f = alloc_frame(); write(f, tag); return f; }

constexpr u64 user_base = 0x0000'4000'0000'0000ull;  // PML4 slot 128
// A fresh address space: the loader's identity map (its PDPT, shared) and nothing else.
u64 new_space() {
  const u64 s = alloc_frame();
  table(s)[0] = table(guest::read_cr3())[0];
  return s;
}

unsigned max_phys_bits() {
  u32 a, b, c, d;
  guest::cpuid(0x80000008, 0, a, b, c, d);
  return a & 0xFF;
}
bool has_1g_pages() {
  u32 a, b, c, d;
  guest::cpuid(0x80000001, 0, a, b, c, d);
  return d & (1u << 26);
}

// The first address beyond RAM used here: 1 GiB above its end (no slot is there).
u64 outside(const hv::Boot_info* info) { return GiB + info->memory_bytes; }

// ---- cr3-reserved ---------------------------------------------------------------------------
u32 run_cr3_reserved() {
  const unsigned m = max_phys_bits();
  const u64 cr3 = guest::read_cr3();
  const u64 bits[] = {m < 64 ? 1ull << m : 0, 1ull << 51, 1ull << 62, 1ull << 63};
  const char* names[] = {"cr3-rsvd-maxphyaddr-gp", "cr3-rsvd-bit51-gp", "cr3-rsvd-bit62-gp", "cr3-rsvd-bit63-gp"};
  for (int i = 0; i < 4; ++i) {
    if (bits[i] == 0 || (i == 1 && m > 51)) {
      guest::print("pagingbad: skip {}: MAXPHYADDR {}", names[i], m);
      continue;
    }
    const Fault f = trap([&] { probe_cr3(cr3 | bits[i]); });
    const u64 after = guest::read_cr3();
    check(f.vector == 13 && f.error == 0 && f.rip == reinterpret_cast<u64>(&probe_cr3) && after == cr3, names[i],
          "vector {} error {:#x} rip {:#x} (MOV at {:#x}), cr3 {:#x} -> {:#x}", f.vector, f.error, f.rip,
          reinterpret_cast<u64>(&probe_cr3), cr3, after);
  }
  // PWT and PCD are not reserved: the MOV works and CR3 reads back what was written.
  const Fault f = trap([&] { probe_cr3(cr3 | pte::PWT | pte::PCD); });
  const u64 readback = guest::read_cr3();
  const u64 data = read(0x100000);
  guest::write_cr3(cr3);
  check(f.vector == ~0ull && readback == (cr3 | 0x18) && data == read(0x100000), "cr3-pwt-pcd-accepted",
        "vector {} readback {:#x}", f.vector, readback);
  check(guest::read_cr3() == cr3, "cr3-unchanged", "{:#x}", guest::read_cr3());
  guest::print("pagingbad: MAXPHYADDR {}", m);
  return summary("cr3-reserved");
}

// ---- cr3-outside / pde-outside / leaf-mmio-or-outside --------------------------------------
u32 run_cr3_outside(const hv::Boot_info* info) {
  const u64 bad = outside(info);
  guest::print("pagingbad: loading CR3 {:#x} (beyond RAM)", bad);
  guest::write_cr3(bad);
  write(info->free_start, 1);
  guest::write_cr3(0x3000);
  guest::print("pagingbad: ran with CR3 beyond RAM and was not stopped");
  return 3;
}

// An address space of its own with a working 4 KiB page at user_base (read back first), plus the
// bad entry `make_bad` adds; then `touch` the bad address.
u32 run_outside(const hv::Boot_info* info, bool pde) {
  const u64 s = new_space();
  *entry(s, user_base, 1) = tagged_frame(0x600D) | flags;
  const u64 bad_va = user_base + 2 * hv::page_size_2m + (pde ? 5 : 6) * hv::page_size_4k + 0x10;
  if (pde) {
    *entry(s, bad_va, 2) = (outside(info) + hv::page_size_2m) | flags;  // a page table beyond RAM
  } else {
    *entry(s, bad_va, 1) = (outside(info) + 2 * hv::page_size_2m) | flags;  // a frame beyond RAM
  }
  guest::write_cr3(s);
  const u64 good = read(user_base);
  check(good == 0x600D, pde ? "pde-outside-space-works" : "leaf-outside-space-works", "read {:#x}", good);
  if (pde) {
    guest::print("pagingbad: reading {:#x} (its page table at {:#x}, beyond RAM)", bad_va, outside(info) + hv::page_size_2m);
    const u64 v = read(bad_va);
    guest::print("pagingbad: read {:#x} through a page table beyond RAM and was not stopped", v);
  } else {
    guest::print("pagingbad: writing {:#x} (its frame at {:#x}, beyond RAM)", bad_va, outside(info) + 2 * hv::page_size_2m);
    write(bad_va, 0x42);
    guest::print("pagingbad: wrote through a PTE beyond RAM and was not stopped");
  }
  return 3;
}

// ---- cr3-churn ------------------------------------------------------------------------------
constexpr u64 self_slot(unsigned i) { return 0xFFFF'FFFF'FFFF'F000ull + 8 * i; }  // PML4[511] -> itself
constexpr unsigned tag_slot = 300, write_slot = 301;

u32 run_cr3_churn() {
  const u64 loader = guest::read_cr3();
  const u64 pml4e0 = table(loader)[0];
  const u64 want = 3000;
  const u64 room = (g_memory_end - g_next_frame) / hv::page_size_4k;
  const u64 n = room < want + 16 ? room - 16 : want;
  const u64 base = g_next_frame;
  for (u64 k = 0; k < n; ++k) {
    const u64 p = alloc_frame();
    table(p)[0] = pml4e0;
    table(p)[511] = p | pte::P | pte::RW;
    table(p)[tag_slot] = k << 12;  // not present: free for the guest's own use
  }
  const u64 data = alloc_frame();
  auto space = [&](u64 k) { return base + k * hv::page_size_4k; };

  u64 bad_cr3 = 0, bad_tag = 0, bad_data = 0, writes = 0;
  for (u64 k = 0; k < n; ++k) {
    guest::write_cr3(space(k));
    bad_cr3 += guest::read_cr3() != space(k);
    bad_tag += read(self_slot(tag_slot)) != k << 12;
    write(data + (k % 512) * 8, k);
    bad_data += read(data + (k % 512) * 8) != k;
    if (k % 4 == 0) {  // a write to the PML4 through the mapping it makes of itself
      write(self_slot(write_slot), (k << 12) | 0x5E0);
      ++writes;
    }
  }
  guest::write_cr3(loader);
  check(bad_cr3 == 0, "churn-cr3-readback", "{} of {} wrong", bad_cr3, n);
  check(bad_tag == 0, "churn-spaces-distinct", "{} of {} tags wrong", bad_tag, n);
  check(bad_data == 0, "churn-data", "{} of {} wrong", bad_data, n);
  u64 bad_writes = 0;
  for (u64 k = 0; k < n; ++k)
    bad_writes += table(space(k))[write_slot] != (k % 4 == 0 ? (k << 12) | 0x5E0 : 0);
  check(bad_writes == 0, "churn-selfmap-writes", "{} of {} wrong", bad_writes, n);
  // Revisit 1000 of them in a scattered order: long evicted roots must be rebuilt right.
  u64 bad_revisit = 0;
  for (u64 i = 0; i < 1000; ++i) {
    const u64 k = (i * 7919) % n;
    guest::write_cr3(space(k));
    bad_revisit += read(self_slot(tag_slot)) != k << 12;
    bad_revisit += read(self_slot(write_slot)) != (k % 4 == 0 ? (k << 12) | 0x5E0 : 0);
  }
  guest::write_cr3(loader);
  check(bad_revisit == 0, "churn-revisit", "{} of 2000 wrong", bad_revisit);
  guest::print("pagingbad: {} distinct address spaces ({} KiB of PML4s), {} self-map writes", n,
               n * hv::page_size_4k / 1024, writes);
  return summary("cr3-churn");
}

// ---- self-map-write -------------------------------------------------------------------------
constexpr u64 tag_of(u64 region, u64 page) { return (region >> 21) << 16 | page; }

u32 run_self_map_write(const hv::Boot_info* info) {
  if (info->memory_bytes < 32 * MiB) {
    guest::print("pagingbad: self-map-write needs 32 MiB of RAM");
    return 2;
  }
  const u64 loader = guest::read_cr3();
  volatile u64* pml4 = table(loader);
  volatile u64* pdpt = table(pml4[0]);
  volatile u64* pd = table(pdpt[0]);  // the loader's PD: 0x5000, mapped by its own entry 0
  const u64 X = 16 * MiB, Y = 20 * MiB, Z = 24 * MiB;
  const u64 regions[3] = {X, Y, Z};
  for (u64 r : regions)
    for (u64 p = 0; p < 512; ++p) write(r + p * hv::page_size_4k, tag_of(r, p));
  const unsigned xi = pte::index(X, 2);
  const u64 pde_x = pd[xi];
  const u64 large = pte::P | pte::RW | pte::US | pte::PS;

  // 1. PD[8] (2 MiB at X) remapped 200 times between Y and Z through the identity map (the write
  // goes through PD[0], which maps the PD itself); reads and writes through X reach the target.
  u64 bad = 0;
  for (u64 i = 0; i < 200; ++i) {
    const u64 target = (i & 1) ? Y : Z;
    pd[xi] = target | large;
    guest::invlpg(X);
    const u64 p = i % 512, q = 511 - p;
    bad += read(X + p * hv::page_size_4k) != tag_of(target, p);
    bad += read(X + q * hv::page_size_4k) != tag_of(target, q);
    write(X + p * hv::page_size_4k + 8, i);
    bad += read(target + p * hv::page_size_4k + 8) != i;
  }
  pd[xi] = pde_x;
  guest::invlpg(X);
  bad += read(X + 3 * hv::page_size_4k) != tag_of(X, 3);
  check(bad == 0, "selfmap-pde-remap", "{} of 601 wrong", bad);

  // 2. A page table in the last page of X that maps X (itself included) identity; PD[8] points
  // at it; then all its other 511 PTEs are rewritten through itself to map Z, and back.
  const u64 pt_x = X + 511 * hv::page_size_4k;
  for (u64 j = 0; j < 512; ++j) table(pt_x)[j] = (X + j * hv::page_size_4k) | flags;
  pd[xi] = pt_x | flags;
  guest::invlpg(X);
  bad = 0;
  for (u64 j = 0; j < 511; j += 37) bad += read(X + j * hv::page_size_4k) != tag_of(X, j);
  const u64 self_va = X + 511 * hv::page_size_4k;  // the PT seen through itself
  bad += (read(self_va + 511 * 8) & pte::address_mask) != pt_x;
  for (u64 j = 0; j < 511; ++j) write(self_va + j * 8, (Z + j * hv::page_size_4k) | flags);
  guest::write_cr3(loader);
  for (u64 j = 0; j < 511; ++j) bad += read(X + j * hv::page_size_4k) != tag_of(Z, j);
  for (u64 j = 0; j < 511; ++j) write(self_va + j * 8, (X + j * hv::page_size_4k) | flags);
  for (u64 j = 0; j < 511; ++j) guest::invlpg(X + j * hv::page_size_4k);
  for (u64 j = 0; j < 511; ++j) bad += read(X + j * hv::page_size_4k) != tag_of(X, j);
  check(bad == 0, "selfmap-pt-rewrites-itself", "{} of 1037 wrong", bad);
  pd[xi] = pde_x;
  guest::invlpg(X);

  // 3. The 2 MiB page that holds the loader's tables, this code and its stack, split: PD[0]
  // rewritten (through itself) to a page table mapping the same memory; then that page table's
  // entry for an unused page of the region rewritten (through PD[0] -> the new table) 100 times.
  const u64 pde_0 = pd[0];
  const u64 pt0 = alloc_frame();
  for (u64 j = 0; j < 512; ++j) table(pt0)[j] = (j * hv::page_size_4k) | flags;
  pd[0] = pt0 | flags;
  guest::invlpg(pt0);
  bad = 0;
  const u64 spare = g_next_frame;  // unused: below 2 MiB (checked), above everything used
  const unsigned si = pte::index(spare, 1);
  if (spare + hv::page_size_4k > hv::page_size_2m) {
    guest::print("pagingbad: no spare page below 2 MiB (free at {:#x})", spare);
    ++bad;
  } else {
    write(spare, 0x5BA2E);
    for (u64 i = 0; i < 100; ++i) {
      table(pt0)[si] = (Y + (i % 512) * hv::page_size_4k) | flags;
      guest::invlpg(spare);
      bad += read(spare) != tag_of(Y, i % 512);
    }
    table(pt0)[si] = spare | flags;
    guest::invlpg(spare);
    bad += read(spare) != 0x5BA2E;
  }
  bad += read(0x100000) != read(0x100000 + 0) || read(info->free_start) != read(info->free_start);
  pd[0] = pde_0;
  guest::write_cr3(loader);
  check(bad == 0, "selfmap-split-own-pde", "{} wrong", bad);

  // 4. A new PDPTE (3 GiB -> a fresh PD with a 2 MiB leaf on Y) and a new PML4E (slot 5 -> the
  // loader's PDPT: a second view of RAM), written into the loader's PDPT and PML4 (both mapped by
  // PD[0]); used, then removed: the address faults again.
  bad = 0;
  const u64 va3g = 3 * GiB;
  const u64 pd3 = alloc_frame();
  table(pd3)[0] = Y | large;
  pdpt[3] = pd3 | flags;
  bad += read(va3g + 7 * hv::page_size_4k) != tag_of(Y, 7);
  write(va3g + 7 * hv::page_size_4k + 16, 0x3333);
  bad += read(Y + 7 * hv::page_size_4k + 16) != 0x3333;
  pdpt[3] = 0;
  guest::invlpg(va3g + 7 * hv::page_size_4k);
  Fault f = trap_read(va3g + 7 * hv::page_size_4k);
  bad += !(f.vector == 14 && f.error == 0 && f.cr2 == va3g + 7 * hv::page_size_4k);
  check(bad == 0, "selfmap-pdpte", "{} wrong; fault {} {:#x} {:#x}", bad, f.vector, f.error, f.cr2);
  bad = 0;
  const u64 va5 = 5ull << 39;
  pml4[5] = (pml4[0] & pte::address_mask) | flags;
  bad += read(va5 + Z + 9 * hv::page_size_4k) != tag_of(Z, 9);
  write(va5 + Z + 9 * hv::page_size_4k + 16, 0x5555);
  bad += read(Z + 9 * hv::page_size_4k + 16) != 0x5555;
  pml4[5] = 0;
  guest::invlpg(va5 + Z + 9 * hv::page_size_4k);
  f = trap_read(va5 + Z + 9 * hv::page_size_4k);
  bad += !(f.vector == 14 && f.error == 0 && f.cr2 == va5 + Z + 9 * hv::page_size_4k);
  check(bad == 0, "selfmap-pml4e", "{} wrong; fault {} {:#x} {:#x}", bad, f.vector, f.error, f.cr2);

  // Everything as the loader left it: its entries and the data behind them.
  bad = 0;
  bad += pd[xi] != pde_x || pd[0] != pde_0 || pdpt[3] != 0 || pml4[5] != 0;
  for (u64 r : regions)
    for (u64 p = 0; p < 511; p += 51) bad += read(r + p * hv::page_size_4k) != tag_of(r, p);
  check(bad == 0, "selfmap-restored", "{} wrong", bad);
  return summary("self-map-write");
}

// ---- reserved-everywhere --------------------------------------------------------------------
enum class Access : u8 { read, write, fetch };

Fault do_access(Access a, u64 va) {
  switch (a) {
  case Access::read: return trap_read(va);
  case Access::write: return trap_write(va);
  case Access::fetch: return trap_exec(va);
  }
  return {};
}
// The access works with the entries as they are (no fault; a read sees `want`).
bool works(Access a, u64 va, u64 want) {
  if (a == Access::read) {
    u64 v = 0;
    const Fault f = trap([&] { v = probe_read(va); });
    return f.vector == ~0ull && v == want;
  }
  if (a == Access::write) {  // writes back what is there: a later read still sees the data
    u64 v = 0;
    Fault f = trap([&] { v = probe_read(va); });
    if (f.vector != ~0ull) return false;
    f = trap([&] { probe_write(va, v); });
    return f.vector == ~0ull;
  }
  return do_access(a, va).vector == ~0ull;
}
// `*e` with `set` ORed in and `clear` removed: the access to `va` gets #PF with `error` and
// CR2 = va; before and after (entry restored) it works.
void rsvd_case(std::string_view name, volatile u64* e, u64 set, u64 clear, Access a, u64 va, u64 want_read, u64 error) {
  const u64 saved = *e;
  const bool before = works(a, va, want_read);
  *e = (saved | set) & ~clear;
  guest::invlpg(va);
  const Fault f = do_access(a, va);
  *e = saved;
  guest::invlpg(va);
  const bool after = works(a, va, want_read);
  check(before && after && f.vector == 14 && f.error == error && f.cr2 == va, name,
        "before {} after {}; vector {} error {:#x} cr2 {:#x}, want 14 {:#x} {:#x}", before, after, f.vector, f.error,
        f.cr2, error, va);
}

u32 run_reserved_everywhere() {
  const unsigned m = max_phys_bits();
  if (m >= 51) {
    guest::print("pagingbad: MAXPHYADDR {}: too few reserved address bits for this test", m);
    return 2;
  }
  const u64 loader = guest::read_cr3();
  const u64 s = new_space();
  // 4 KiB data page and 4 KiB code page (RET at 0x10) under one PT; a 2 MiB leaf; a 1 GiB leaf.
  const u64 va = user_base + hv::page_size_2m + 3 * hv::page_size_4k;
  const u64 d = va + 0x48;
  const u64 frame = alloc_frame();
  write(frame + 0x48, 0xDA7A);
  *entry(s, va, 1) = frame | flags;
  const u64 xva = va + hv::page_size_4k;
  const u64 xframe = alloc_frame();
  *reinterpret_cast<volatile u8*>(xframe + 0x10) = 0xC3;
  *entry(s, xva, 1) = xframe | flags;
  const u64 big = (g_next_frame + hv::page_size_2m - 1) & ~(hv::page_size_2m - 1);
  g_next_frame = big + hv::page_size_2m;
  const u64 va2m = user_base + 2 * hv::page_size_2m;
  write(big + 0x1238, 0xB16);
  *entry(s, va2m, 2) = big | flags | pte::PS;
  const u64 va1g = user_base + GiB;
  const bool gb = has_1g_pages();
  if (gb) *entry(s, va1g, 3) = 0 | flags | pte::PS;
  volatile u64* pte_e = entry(s, va, 1);
  volatile u64* xpte_e = entry(s, xva, 1);
  volatile u64* pde_e = entry(s, va, 2);
  volatile u64* pde2m_e = entry(s, va2m, 2);
  volatile u64* pdpte_e = entry(s, va, 3);
  volatile u64* pdpte1g_e = entry(s, va1g, 3);
  volatile u64* pml4e_e = entry(s, va, 4);
  guest::write_cr3(s);

  const u64 M = 1ull << m, b51 = 1ull << 51;
  const u64 r = 0x9, w = 0xB, x = 0x19;  // P|RSVD, P|RSVD|W, P|RSVD|I
  rsvd_case("rsvd-pml4e-maxphyaddr-read", pml4e_e, M, 0, Access::read, d, 0xDA7A, r);
  rsvd_case("rsvd-pml4e-bit51-write", pml4e_e, b51, 0, Access::write, d, 0, w);
  rsvd_case("rsvd-pml4e-ps-read", pml4e_e, pte::PS, 0, Access::read, d, 0xDA7A, r);
  rsvd_case("rsvd-pdpte-maxphyaddr-read", pdpte_e, M, 0, Access::read, d, 0xDA7A, r);
  rsvd_case("rsvd-pdpte-bit51-fetch", pdpte_e, b51, 0, Access::fetch, xva + 0x10, 0, x);
  if (gb) {
    const u64 scratch = alloc_frame();  // the 1 GiB leaf maps RAM from 0: touch only this frame
    write(scratch + 0x100, 0x1A7);
    rsvd_case("rsvd-pdpte-1g-bit13-read", pdpte1g_e, 1ull << 13, 0, Access::read, va1g + scratch + 0x100, 0x1A7, r);
    rsvd_case("rsvd-pdpte-1g-bit29-write", pdpte1g_e, 1ull << 29, 0, Access::write, va1g + scratch + 0x108, 0, w);
  } else {
    guest::print("pagingbad: skip rsvd-pdpte-1g-*: no 1 GiB pages");
  }
  rsvd_case("rsvd-pde-maxphyaddr-write", pde_e, M, 0, Access::write, d, 0, w);
  rsvd_case("rsvd-pde-2m-bit13-read", pde2m_e, 1ull << 13, 0, Access::read, va2m + 0x1238, 0xB16, r);
  rsvd_case("rsvd-pde-2m-bit20-write", pde2m_e, 1ull << 20, 0, Access::write, va2m + 0x1240, 0, w);
  rsvd_case("rsvd-pde-2m-maxphyaddr-read", pde2m_e, M, 0, Access::read, va2m + 0x1238, 0xB16, r);
  rsvd_case("rsvd-pte-maxphyaddr-read", pte_e, M, 0, Access::read, d, 0xDA7A, r);
  rsvd_case("rsvd-pte-bit51-write", pte_e, b51, 0, Access::write, d, 0, w);
  rsvd_case("rsvd-pte-maxphyaddr-fetch", xpte_e, M, 0, Access::fetch, xva + 0x10, 0, x);
  // Reserved bits in a read-only PTE: the write reports RSVD (checked before rights).
  rsvd_case("rsvd-pte-readonly-write", pte_e, M, pte::RW, Access::write, d, 0, w);
  // A PDE with a reserved bit above a not-present PTE: the walk stops at the PDE, RSVD (not the
  // PTE's not-present fault).
  {
    const u64 saved_pte = *pte_e, saved_pde = *pde_e;
    *pte_e = saved_pte & ~pte::P;
    *pde_e = saved_pde | M;
    guest::invlpg(d);
    const Fault f = trap_read(d);
    *pde_e = saved_pde;
    *pte_e = saved_pte;
    guest::invlpg(d);
    check(f.vector == 14 && f.error == r && f.cr2 == d && works(Access::read, d, 0xDA7A), "rsvd-pde-above-absent-pte",
          "vector {} error {:#x} cr2 {:#x}", f.vector, f.error, f.cr2);
  }
  // A not-present entry's other bits are ignored: plain not-present fault (error 0 / W).
  rsvd_case("rsvd-ignored-in-absent-pte", pte_e, M | b51, pte::P, Access::read, d, 0xDA7A, 0);
  rsvd_case("rsvd-ignored-in-absent-pde", pde_e, M | pte::PS, pte::P, Access::write, d, 0, 2);
  // XD is reserved while EFER.NXE = 0.
  const u64 efer = [] { u32 lo, hi; asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(hv::msr::IA32_EFER)); return (u64{hi} << 32) | lo; }();
  auto wrefer = [](u64 v) { asm volatile("wrmsr" ::"c"(hv::msr::IA32_EFER), "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32)) : "memory"); };
  if (efer & hv::msr::EFER_NXE) {
    wrefer(efer & ~hv::msr::EFER_NXE);
    rsvd_case("rsvd-xd-with-nxe-off-read", pte_e, pte::NX, 0, Access::read, d, 0xDA7A, r);
    rsvd_case("rsvd-xd-pde-with-nxe-off-write", pde_e, pte::NX, 0, Access::write, d, 0, w);
    wrefer(efer);
    // NXE back on: XD is execute-disable again, not reserved.
    rsvd_case("xd-with-nxe-on-fetch", xpte_e, pte::NX, 0, Access::fetch, xva + 0x10, 0, 0x11);
  } else {
    guest::print("pagingbad: skip rsvd-xd-*: EFER.NXE is off");
  }
  guest::write_cr3(loader);
  guest::print("pagingbad: MAXPHYADDR {}", m);
  return summary("reserved-everywhere");
}

bool is(const char* a, const char* b) {
  while (*a && *a == *b) { ++a; ++b; }
  return *a == *b;
}

} // namespace

extern "C" u32 guest_main(const hv::Boot_info* info) {
  g_next_frame = (info->free_start + hv::page_size_4k - 1) & ~(hv::page_size_4k - 1);
  g_memory_end = info->memory_bytes;
  install_idt();
  guest::print("pagingbad: mode '{}'", info->args);
  if (info->memory_bytes >= GiB || outside(info) + 4 * hv::page_size_2m > (1ull << max_phys_bits())) {
    guest::print("pagingbad: needs less than 1 GiB of RAM and MAXPHYADDR above 31");
    return 2;
  }
  if (is(info->args, "cr3-reserved")) return run_cr3_reserved();
  if (is(info->args, "cr3-outside")) return run_cr3_outside(info);
  if (is(info->args, "pde-outside")) return run_outside(info, true);
  if (is(info->args, "leaf-mmio-or-outside")) return run_outside(info, false);
  if (is(info->args, "cr3-churn")) return run_cr3_churn();
  if (is(info->args, "self-map-write")) return run_self_map_write(info);
  if (is(info->args, "reserved-everywhere")) return run_reserved_everywhere();
  guest::print("pagingbad: unknown mode '{}'", info->args);
  return 4;
}
