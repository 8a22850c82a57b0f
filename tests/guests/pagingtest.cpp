// tests/guests/pagingtest.cpp - the guest's own paging, exercised the way an OS uses it: its own
// IDT (#UD, #GP, #PF), its own page tables (three address spaces that share some tables), CR3
// switches, 4 KiB / 2 MiB / 1 GiB leaves, remapping with INVLPG, the #PF error codes (not
// present, read-only, execute-disable, reserved bit, user/supervisor), accessed and dirty flags,
// and page-table writes while the tables are in use. Under EPT the CPU does all of it; under
// shadow paging hv must give the same answers (it walks these tables itself and intercepts MOV
// CR3, INVLPG and #PF), so every check here must pass identically in both modes.
// One "ok NAME" line per check and a summary; exit status 0 only if every check passed.
#include "arch/x86/page_table_entry.hpp"
#include "arch/x86/segment_descriptor.hpp"
#include "guests/runtime/guest.hpp"

namespace pte = hv::x86::pte;
using hv::MiB;
using hv::GiB;

// ---- Exceptions: asm stubs save the caller-saved registers and call fault_dispatch ----------
struct Frame { u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax, vector, error, rip, cs, rflags, rsp, ss; };
struct Fault { u64 vector = ~0ull, error = 0, cr2 = 0, rip = 0, cs = 0; };

extern "C" {
void isr_ud(); void isr_gp(); void isr_pf();
u64 probe_read(u64 va);               // one 8-byte load
void probe_write(u64 va, u64 value);  // one 8-byte store
void probe_exec(u64 va);              // jumps to va (which should hold RET)
void probe_ud();                      // UD2
void probe_fixup();                   // where a kernel-mode fault resumes: RET from the probe
void enter_user(u64 rip, u64 rsp, u64 arg);  // IRETQ to CPL 3 at rip with RDI = arg
void user_resume();                   // where a user-mode exception resumes, back at CPL 0
void user_read(); void user_write();  // CPL 3: access [RDI], then UD2 to come back
u64 g_kernel_rsp;                     // RSP of enter_user, restored by the handler
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
probe_ud:    ud2
probe_fixup: ret
enter_user:
        pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15
        movq %rsp, g_kernel_rsp(%rip)
        pushq $0x1b
        pushq %rsi
        pushq $2
        pushq $0x23
        pushq %rdi
        movq %rdx, %rdi
        iretq
user_resume:
        movl $0x10, %eax
        movl %eax, %ds
        movl %eax, %es
        movl %eax, %fs
        movl %eax, %gs
        popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx
        ret
user_read:  movq (%rdi), %rax
        ud2
user_write: movq %rdi, (%rdi)
        ud2
)");

// Records the exception and resumes at the probe's RET (CPL 0) or at user_resume (from CPL 3,
// on enter_user's stack). An exception outside a probe is a test bug: report it and stop.
extern "C" void fault_dispatch(Frame* f) {
  const u64 cr2 = guest::read_cr2();
  if (!g_armed) {
    guest::print("pagingtest: unexpected exception {} error {:#x} at rip {:#x} cr2 {:#x}", f->vector, f->error,
                 f->rip, cr2);
    guest::exit(3);
  }
  g_armed = false;
  g_fault = {f->vector, f->error, cr2, f->rip, f->cs};
  if (f->cs & 3) {
    f->cs = 0x08;
    f->ss = 0x10;
    f->rsp = g_kernel_rsp;
    f->rip = reinterpret_cast<u64>(&user_resume);
  } else {
    f->rip = reinterpret_cast<u64>(&probe_fixup);
  }
}

namespace {

// GDT: null, kernel code 0x08, kernel data 0x10, user data 0x18, user code 0x20, TSS 0x28.
alignas(16) hv::x86::Idt_gate g_idt[32];
alignas(16) u64 g_gdt[7];
alignas(16) hv::x86::Tss64 g_tss;
alignas(16) u8 g_kernel_stack[8192];
alignas(16) u8 g_user_stack[4096];

void install_idt_gdt_tss() {
  g_idt[6] = hv::x86::make_interrupt_gate(reinterpret_cast<u64>(&isr_ud), 0x08, 0);
  g_idt[13] = hv::x86::make_interrupt_gate(reinterpret_cast<u64>(&isr_gp), 0x08, 0);
  g_idt[14] = hv::x86::make_interrupt_gate(reinterpret_cast<u64>(&isr_pf), 0x08, 0);
  const hv::x86::Descriptor_table_register idtr{sizeof g_idt - 1, reinterpret_cast<u64>(g_idt)};
  asm volatile("lidt %0" ::"m"(idtr));
  g_tss.rsp[0] = reinterpret_cast<u64>(g_kernel_stack + sizeof g_kernel_stack);
  g_tss.io_map_base = sizeof g_tss;
  const auto tss = hv::x86::make_tss_descriptor(reinterpret_cast<u64>(&g_tss), sizeof g_tss - 1);
  const u64 dpl3 = 3ull << 45;
  const u64 gdt[7] = {0, hv::x86::gdt_code64, hv::x86::gdt_data, hv::x86::gdt_data | dpl3,
                      hv::x86::gdt_code64 | dpl3, tss.low, tss.high};
  for (int i = 0; i < 7; ++i) g_gdt[i] = gdt[i];
  const hv::x86::Descriptor_table_register gdtr{sizeof g_gdt - 1, reinterpret_cast<u64>(g_gdt)};
  asm volatile("lgdt %0; ltr %w1" ::"m"(gdtr), "r"(0x28) : "memory");
}

// Runs `access` with a fault expected; the result says which exception (vector ~0: none).
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
Fault trap_user(void (*code)(), u64 va) {
  return trap([=] { enter_user(reinterpret_cast<u64>(code), reinterpret_cast<u64>(g_user_stack + sizeof g_user_stack), va); });
}

u64 g_checks, g_failed;
bool count(bool ok) { ++g_checks; g_failed += ok ? 0 : 1; return ok; }
template <typename... A>
bool check(bool passed, std::string_view name, std::string_view detail = "", const A&... args) {
  return count(guest::check(passed, name, detail, args...));
}
// A #PF at `va` with exactly `error` (P=1 W=2 U=4 RSVD=8 I=0x10).
bool check_pf(std::string_view name, const Fault& f, u64 va, u64 error) {
  return check(f.vector == 14 && f.error == error && f.cr2 == va, name,
               "vector {} error {:#x} cr2 {:#x}, want 14 {:#x} {:#x}", f.vector, f.error, f.cr2, error, va);
}

// ---- Page tables: 4 KiB frames from free memory, identity-addressed (the low map is 1:1) ---
u64 g_next_frame;
u64 alloc_frame() {
  const u64 f = g_next_frame;
  g_next_frame += hv::page_size_4k;
  auto* p = reinterpret_cast<volatile u64*>(f);
  for (int i = 0; i < 512; ++i) p[i] = 0;
  return f;
}
volatile u64* table(u64 entry) { return reinterpret_cast<volatile u64*>(entry & pte::address_mask); }
constexpr u64 table_flags = pte::P | pte::RW | pte::US;
// The entry for `va` at `level` (1 PTE, 2 PDE, 3 PDPTE) under `pml4`, creating missing tables.
volatile u64* entry(u64 pml4, u64 va, unsigned level) {
  volatile u64* t = table(pml4);
  for (unsigned l = 4; l > level; --l) {
    volatile u64& e = t[pte::index(va, l)];
    if (!(e & pte::P)) e = alloc_frame() | table_flags;
    t = table(e);
  }
  return &t[pte::index(va, level)];
}
constexpr u64 leaf_flags = pte::P | pte::RW | pte::US;
u64 read(u64 va) { return *reinterpret_cast<volatile u64*>(va); }
void write(u64 va, u64 v) { *reinterpret_cast<volatile u64*>(va) = v; }
// A fresh frame whose first word is `tag` (and offset 8 holds ~tag).
u64 tagged_frame(u64 tag) { const u64 f = alloc_frame(); write(f, tag); write(f + 8, ~tag); return f; }

constexpr u64 user_base = 0x0000'4000'0000'0000ull;    // PML4 slot 128: private to each space
constexpr u64 kernel_base = 0xFFFF'8000'0000'0000ull;  // PML4 slot 256: shared by all spaces
// Test VA n: each in its own 2 MiB region of space A (own PT, so PDE changes stay local).
constexpr u64 region(unsigned n) { return user_base + (n + 1) * hv::page_size_2m; }

} // namespace

extern "C" u32 guest_main(const hv::Boot_info* info) {
  g_next_frame = (info->free_start + hv::page_size_4k - 1) & ~(hv::page_size_4k - 1);
  install_idt_gdt_tss();

  // The IDT works: UD2 and a non-canonical load come back through our handlers.
  Fault f = trap([] { probe_ud(); });
  check(f.vector == 6 && f.rip == reinterpret_cast<u64>(&probe_ud), "paging-idt-ud", "vector {} rip {:#x}", f.vector, f.rip);
  f = trap_read(0x0000'8000'0000'0000ull);
  check(f.vector == 13 && f.error == 0, "paging-gp-noncanonical", "vector {} error {:#x}", f.vector, f.error);

  // Three address spaces. The low identity map (image, stack, hv's tables, all RAM) is a copy of
  // the loader's 2 MiB map: A and B share one PDPT, C has its own PDPT over the same PDs. The
  // kernel half (slot 256) is one PDPT shared by all three; slot 128 is private to each.
  const u64 loader_cr3 = guest::read_cr3();
  const u64 space[3] = {alloc_frame(), alloc_frame(), alloc_frame()};
  const u64 id_pdpt_ab = alloc_frame(), id_pdpt_c = alloc_frame();
  volatile u64* loader_pdpt = table(table(loader_cr3)[0]);
  for (unsigned g = 0; g < 512; ++g) {
    if (!(loader_pdpt[g] & pte::P)) continue;
    const u64 pd = alloc_frame();
    for (unsigned i = 0; i < 512; ++i) table(pd)[i] = table(loader_pdpt[g])[i];
    table(id_pdpt_ab)[g] = pd | table_flags;
    table(id_pdpt_c)[g] = pd | table_flags;
  }
  table(space[0])[0] = id_pdpt_ab | table_flags;
  table(space[1])[0] = id_pdpt_ab | table_flags;
  table(space[2])[0] = id_pdpt_c | table_flags;
  const u64 kernel_frame = tagged_frame(0x4B4B);
  *entry(space[0], kernel_base, 1) = kernel_frame | leaf_flags;
  table(space[1])[256] = table(space[0])[256];
  table(space[2])[256] = table(space[0])[256];
  u64 user_frame[3];
  for (int s = 0; s < 3; ++s) {
    user_frame[s] = tagged_frame(0xA000 + s);
    *entry(space[s], user_base, 1) = user_frame[s] | leaf_flags;
  }
  const u64 A = space[0], B = space[1];

  // MOV CR3 many times: each space shows its own frame at user_base, the shared one at
  // kernel_base, and CR3 reads back what was written.
  u64 bad_cr3 = 0, bad_user = 0, bad_kernel = 0;
  for (int round = 0; round < 300; ++round) {
    for (int s = 0; s < 3; ++s) {
      guest::write_cr3(space[s]);
      bad_cr3 += guest::read_cr3() != space[s];
      bad_user += read(user_base) != 0xA000u + s;
      bad_kernel += read(kernel_base) != 0x4B4B;
    }
  }
  check(bad_cr3 == 0, "paging-cr3-readback", "{} of 900 wrong", bad_cr3);
  check(bad_user == 0, "paging-spaces-distinct", "{} of 900 reads wrong", bad_user);
  // A write through the shared kernel half in C is seen from A (same tables, same frame).
  write(kernel_base + 16, 0xC0FFEE);
  guest::write_cr3(A);
  check(bad_kernel == 0 && read(kernel_base + 16) == 0xC0FFEE, "paging-shared-kernel-half", "{} bad reads", bad_kernel);

  // 4 KiB leaves: 8 pages mapped in reverse frame order read the frames' bytes.
  u64 frames4k[8], bad = 0;
  for (int i = 0; i < 8; ++i) frames4k[i] = tagged_frame(0x4000 + i);
  for (int i = 0; i < 8; ++i) *entry(A, region(0) + i * hv::page_size_4k, 1) = frames4k[7 - i] | leaf_flags;
  for (int i = 0; i < 8; ++i) bad += read(region(0) + i * hv::page_size_4k + 8) != read(frames4k[7 - i] + 8);
  check(bad == 0, "paging-map-4k", "{} of 8 pages wrong", bad);

  // A 2 MiB leaf (PS in a PDE) over a 2 MiB-aligned block: every 4 KiB page of it reads right.
  const u64 big = (g_next_frame + hv::page_size_2m - 1) & ~(hv::page_size_2m - 1);
  g_next_frame = big + hv::page_size_2m;
  for (u64 p = 0; p < 512; ++p) write(big + p * hv::page_size_4k + (p % 512) * 8, 0x2000'0000 + p);
  const u64 va2m = user_base + GiB;
  *entry(A, va2m, 2) = big | leaf_flags | pte::PS;
  bad = 0;
  for (u64 p = 0; p < 512; ++p) bad += read(va2m + p * hv::page_size_4k + (p % 512) * 8) != 0x2000'0000 + p;
  check(bad == 0, "paging-map-2m", "{} of 512 pages wrong", bad);

  // A 1 GiB leaf (PS in a PDPTE) over guest-physical 0: it reads RAM as the identity map does,
  // and a write through it is seen in the identity view.
  u32 a, b, c, d;
  guest::cpuid(0x80000001, 0, a, b, c, d);
  if (d & (1u << 26)) {
    const u64 va1g = user_base + 2 * GiB;
    *entry(A, va1g, 3) = 0 | leaf_flags | pte::PS;
    bad = 0;
    for (u64 off = 0x3000; off < info->memory_bytes; off += MiB + 0x1008) bad += read(va1g + off) != read(off);
    write(va1g + frames4k[0] + 16, 0x1616);
    check(bad == 0 && read(frames4k[0] + 16) == 0x1616, "paging-map-1g", "{} reads differ", bad);
  } else {
    guest::print("pagingtest: skip paging-map-1g: CPUID.80000001H:EDX.Page1GB = 0");
  }

  // Remap a 4 KiB page to another frame + INVLPG: the new frame's bytes are seen, then the old.
  const u64 r = region(1);
  volatile u64* r_pte = entry(A, r, 1);
  const u64 f1 = tagged_frame(0x1111), f2 = tagged_frame(0x2222);
  *r_pte = f1 | leaf_flags;
  const u64 before = read(r);
  *r_pte = f2 | leaf_flags;
  guest::invlpg(r);
  const u64 after = read(r);
  *r_pte = f1 | leaf_flags;
  guest::invlpg(r);
  check(before == 0x1111 && after == 0x2222 && read(r) == 0x1111, "paging-remap-invlpg", "{:#x} {:#x}", before, after);

  // Unmap (P = 0) + INVLPG: a read faults with error 0, a write with W; CR2 = the address.
  *r_pte = f1 | (leaf_flags & ~pte::P);
  guest::invlpg(r);
  check_pf("paging-unmap-read-pf", trap_read(r + 0x18), r + 0x18, 0);
  check_pf("paging-unmap-write-pf", trap_write(r + 0x20), r + 0x20, 2);
  // A not-present PDE faults the same way (the walk stops above the leaf).
  *r_pte = f1 | leaf_flags;
  volatile u64* r_pde = entry(A, r, 2);
  const u64 r_pde_value = *r_pde;
  *r_pde = r_pde_value & ~pte::P;
  guest::invlpg(r);
  check_pf("paging-pde-not-present-pf", trap_read(r), r, 0);
  *r_pde = r_pde_value;
  guest::invlpg(r);

  // Read-only (R/W = 0, CR0.WP = 1): reads work, a supervisor write faults with P|W. R/W = 0 in
  // the PDE alone (leaf writable) is just as read-only: rights combine over the levels.
  *r_pte = f1 | (leaf_flags & ~pte::RW);
  guest::invlpg(r);
  const u64 ro_value = read(r);
  f = trap_write(r + 8);
  check(ro_value == 0x1111 && read(r + 8) == ~0x1111ull, "paging-readonly-read", "{:#x}", ro_value);
  check_pf("paging-readonly-write-pf", f, r + 8, 3);
  *r_pte = f1 | leaf_flags;
  *r_pde = r_pde_value & ~pte::RW;
  guest::invlpg(r);
  check_pf("paging-readonly-pde-write-pf", trap_write(r + 8), r + 8, 3);
  *r_pde = r_pde_value;
  guest::invlpg(r);

  // Execute-disable: a page holding RET runs; with XD in the leaf, or in the PDE alone, the
  // fetch faults with P|I at the target (CR2 and RIP both = the target).
  const u64 x = region(2);
  const u64 fx = alloc_frame();
  *reinterpret_cast<volatile u8*>(fx) = 0xC3;
  volatile u64* x_pte = entry(A, x, 1);
  volatile u64* x_pde = entry(A, x, 2);
  *x_pte = fx | leaf_flags;
  f = trap([=] { probe_exec(x); });
  check(f.vector == ~0ull, "paging-exec-ok", "vector {} error {:#x}", f.vector, f.error);
  *x_pte = fx | leaf_flags | pte::NX;
  guest::invlpg(x);
  f = trap([=] { probe_exec(x); });
  check_pf("paging-nx-fetch-pf", f, x, 0x11);
  check(f.rip == x, "paging-nx-fetch-rip", "{:#x}", f.rip);
  *x_pte = fx | leaf_flags;
  *x_pde = *x_pde | pte::NX;
  guest::invlpg(x);
  check_pf("paging-nx-pde-fetch-pf", trap([=] { probe_exec(x); }), x, 0x11);
  *x_pde = *x_pde & ~pte::NX;
  guest::invlpg(x);

  // A reserved bit (bit MAXPHYADDR of the address field) in a present leaf: #PF with P|RSVD.
  guest::cpuid(0x80000008, 0, a, b, c, d);
  const unsigned maxphy = a & 0xFF;
  if (maxphy < 52) {
    *r_pte = f1 | leaf_flags | (1ull << maxphy);
    guest::invlpg(r);
    check_pf("paging-reserved-bit-pf", trap_read(r), r, 9);
    *r_pte = f1 | leaf_flags;
    guest::invlpg(r);
  } else {
    guest::print("pagingtest: skip paging-reserved-bit-pf: MAXPHYADDR = 52");
  }

  // Accessed and dirty: with A and D clear in the leaf and A clear in its PDE, a read sets A in
  // both and leaves D clear; a write then sets D in the leaf.
  const u64 ad = region(3);
  volatile u64* ad_pte = entry(A, ad, 1);
  volatile u64* ad_pde = entry(A, ad, 2);
  *ad_pte = tagged_frame(0xADAD) | leaf_flags;
  *ad_pde = *ad_pde & ~pte::A;
  guest::invlpg(ad);
  const u64 ad_value = read(ad);
  const u64 leaf_after_read = *ad_pte, pde_after_read = *ad_pde;
  check(ad_value == 0xADAD && (leaf_after_read & pte::A) && (pde_after_read & pte::A) && !(leaf_after_read & pte::D),
        "paging-accessed-on-read", "leaf {:#x} pde {:#x}", leaf_after_read, pde_after_read);
  write(ad + 8, 1);
  check((*ad_pte & (pte::A | pte::D)) == (pte::A | pte::D), "paging-dirty-on-write", "leaf {:#x}", *ad_pte);

  // Not present -> present needs no INVLPG (not-present entries are never cached): first the
  // access faults, then the entry is filled in and the very next access sees it. Same for a
  // whole new page table behind a PDE that was not present.
  const u64 np = region(4);
  volatile u64* np_pte = entry(A, np, 1);
  f = trap_read(np);
  *np_pte = tagged_frame(0x4E50) | leaf_flags;
  check(f.vector == 14 && read(np) == 0x4E50, "paging-np-to-present-no-invlpg", "vector {}", f.vector);
  const u64 np2 = region(5);
  volatile u64* np2_pde = entry(A, np2, 2);
  f = trap_read(np2);
  const u64 new_pt = alloc_frame();
  table(new_pt)[pte::index(np2, 1)] = tagged_frame(0x4E51) | leaf_flags;
  *np2_pde = new_pt | table_flags;
  check(f.vector == 14 && read(np2) == 0x4E51, "paging-np-pde-to-present-no-invlpg", "vector {}", f.vector);

  // Page-table pages in use, rewritten in a loop: a PTE of the active space cycles over four
  // frames (INVLPG each time); reads and writes through it reach the right frame.
  const u64 loop_va = region(6);
  volatile u64* loop_pte = entry(A, loop_va, 1);
  u64 loop_frame[4];
  for (int i = 0; i < 4; ++i) loop_frame[i] = tagged_frame(0x100 + i);
  bad = 0;
  for (u64 i = 0; i < 2000; ++i) {
    *loop_pte = loop_frame[i & 3] | leaf_flags;
    guest::invlpg(loop_va);
    bad += read(loop_va) != 0x100 + (i & 3);
    write(loop_va + 16, i);
    bad += read(loop_frame[i & 3] + 16) != i;
  }
  check(bad == 0, "paging-pte-rewrite-loop", "{} of 4000 wrong", bad);
  // The same one level up: a PDE alternates between two page tables.
  u64 pts[2];
  for (int i = 0; i < 2; ++i) {
    pts[i] = alloc_frame();
    table(pts[i])[pte::index(loop_va, 1)] = loop_frame[i] | leaf_flags;
  }
  volatile u64* loop_pde = entry(A, loop_va, 2);
  bad = 0;
  for (u64 i = 0; i < 1000; ++i) {
    *loop_pde = pts[i & 1] | table_flags;
    guest::invlpg(loop_va);
    bad += read(loop_va) != 0x100 + (i & 1);
  }
  check(bad == 0, "paging-pde-rewrite-loop", "{} of 1000 wrong", bad);
  // A PTE of the inactive space B rewritten while A runs: the MOV CR3 to B sees it (the switch
  // flushes; no INVLPG), and A keeps its own mapping of the same address.
  const u64 in_va = user_base + 0x5000;
  volatile u64* in_pte_b = entry(B, in_va, 1);
  *entry(A, in_va, 1) = tagged_frame(0xAAAA) | leaf_flags;
  guest::invlpg(in_va);
  bad = 0;
  for (u64 i = 0; i < 500; ++i) {
    *in_pte_b = loop_frame[i & 3] | leaf_flags;
    guest::write_cr3(B);
    bad += read(in_va) != 0x100 + (i & 3);
    guest::write_cr3(A);
    bad += read(in_va) != 0xAAAA;
  }
  check(bad == 0, "paging-inactive-pte-write-cr3", "{} of 1000 wrong", bad);

  // Page-table pages reached through other mappings, as OSes do: a 4 KiB alias of a page table
  // (the identity map covers it with 2 MiB pages), and a recursive PML4 slot (511 -> the PML4
  // itself) that shows every PTE at a fixed address. A PTE rewritten through either is seen.
  const u64 t_va = region(9), alias = region(10);
  volatile u64* t_pte = entry(A, t_va, 1);
  const u64 t_pt = *entry(A, t_va, 2) & pte::address_mask;
  *t_pte = loop_frame[0] | leaf_flags;
  *entry(A, alias, 1) = t_pt | leaf_flags;
  const u64 via_before = read(t_va);
  write(alias + pte::index(t_va, 1) * 8, loop_frame[1] | leaf_flags);
  guest::invlpg(t_va);
  const u64 via_after = read(t_va);
  check(via_before == 0x100 && via_after == 0x101, "paging-pte-write-via-alias", "{:#x} {:#x}", via_before, via_after);
  table(A)[511] = A | pte::P | pte::RW;
  const u64 self_pte = 0xFFFF'FF80'0000'0000ull | ((t_va >> 9) & 0x7F'FFFF'FFF8ull);
  const u64 seen = read(self_pte);
  write(self_pte, loop_frame[2] | leaf_flags);
  guest::invlpg(t_va);
  const u64 self_after = read(t_va);
  check((seen & pte::address_mask) == loop_frame[1] && self_after == 0x102 &&
            (*t_pte & pte::address_mask) == loop_frame[2],
        "paging-recursive-map", "pte seen {:#x}, then read {:#x}", seen, self_after);
  table(A)[511] = 0;
  guest::write_cr3(A);

  // CPL 3 (IRETQ to user segments, back through the TSS's RSP0): a user page is readable; a
  // user read of a supervisor page faults with P|U, a user write to a read-only user page with
  // P|W|U, and U/S = 0 in the PDE alone makes the page supervisor too.
  const u64 up = region(7), sp = region(8);
  *entry(A, up, 1) = tagged_frame(0x3333) | leaf_flags;
  *entry(A, up + hv::page_size_4k, 1) = tagged_frame(0x3334) | (leaf_flags & ~pte::RW);
  *entry(A, sp, 1) = tagged_frame(0x5555) | (leaf_flags & ~pte::US);
  f = trap_user(&user_read, up);
  check(f.vector == 6 && (f.cs & 3) == 3, "paging-user-read-user-page", "vector {} error {:#x} cs {:#x}", f.vector,
        f.error, f.cs);
  check_pf("paging-user-read-supervisor-pf", trap_user(&user_read, sp), sp, 5);
  check_pf("paging-user-write-readonly-pf", trap_user(&user_write, up + hv::page_size_4k), up + hv::page_size_4k, 7);
  volatile u64* up_pde = entry(A, up, 2);
  *up_pde = *up_pde & ~pte::US;
  guest::invlpg(up);
  check_pf("paging-user-pde-supervisor-pf", trap_user(&user_read, up), up, 5);

  guest::write_cr3(loader_cr3);
  guest::print("pagingtest: {} checks, {} failed; MAXPHYADDR {}; page tables and frames used {} KiB", g_checks,
               g_failed, maxphy, (g_next_frame - info->free_start) / 1024);
  return g_failed == 0 ? 0 : 1;
}
