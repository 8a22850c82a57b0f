// mm/guest_page_walk.hpp - the guest's own 4-level (IA-32e) page tables walked in software, as the
// CPU walks them: one walker for shadow paging (mm/shadow/) and for anything that must turn a
// guest-virtual address into a guest-physical one (hypercall buffers, a debugger). Both builds.
//
// What it models (SDM Vol. 3A 4.5 "4-level paging", 4.6 "access rights", 4.7 "page-fault
// exceptions", 4.8 "accessed and dirty flags"):
//   - PML4 -> PDPT -> PD -> PT, 2 MiB leaves (PS in a PDE) and 1 GiB leaves (PS in a PDPTE, when
//     the CPU model offers 1 GiB pages; otherwise PS there is a reserved bit);
//   - reserved bits: physical-address bits at or above MAXPHYADDR in every entry, PS in a PML4E,
//     bits 20:13 (2 MiB) / 29:13 (1 GiB) of a large leaf, XD when IA32_EFER.NXE = 0; a reserved
//     bit in a present entry is a #PF with RSVD = 1 (and P = 1), checked before rights;
//   - rights combined over the levels: writable only if R/W is set at every level, user only if
//     U/S is set at every level, execute-disable if XD is set at any level (NXE = 1); supervisor
//     writes to read-only pages succeed when CR0.WP = 0; SMEP forbids supervisor fetches from user
//     pages, SMAP forbids supervisor data accesses to user pages unless RFLAGS.AC = 1 (implicit
//     supervisor accesses, e.g. to the GDT, ignore AC); user accesses to supervisor pages fault;
//   - accessed and dirty flags: after a walk that succeeds, A is set in every entry used (paging-
//     structure entries and the leaf), and D in the leaf when the access is a write. A walk that
//     faults sets nothing. Flags already set are not written again (no needless guest writes).
// Non-canonical addresses are a #GP on hardware, not a #PF: the walker reports them apart.
// Protection keys, 5-level paging, 32-bit and PAE modes are not modelled (hv's guests run in
// long mode; CR4.PKE is not offered to them).
#pragma once
#include "arch/x86/address.hpp"
#include "arch/x86/types.hpp"
#include <optional>

namespace hv {

// Page-fault error code bits (SDM Vol. 3A 4.7).
namespace pf_error {
inline constexpr u32 P = 1u << 0;     // 0: not present; 1: a rights violation or a reserved bit
inline constexpr u32 W = 1u << 1;     // the access was a write
inline constexpr u32 U = 1u << 2;     // the access was a user-mode (CPL 3) access
inline constexpr u32 RSVD = 1u << 3;  // a reserved bit was set in some entry
inline constexpr u32 I = 1u << 4;     // an instruction fetch (only reported when NXE or SMEP is on)
} // namespace pf_error

// The control-register bits that shape a walk, from the guest's view of CR0 / CR4 / EFER.
struct Guest_paging_mode {
  bool wp = true;             // CR0.WP
  bool nxe = true;            // IA32_EFER.NXE
  bool smep = false;          // CR4.SMEP
  bool smap = false;          // CR4.SMAP
  bool page_1g = true;        // CPUID.80000001H:EDX.Page1GB as the guest sees it
  u8 max_phys_addr_bits = 36; // MAXPHYADDR as the guest sees it (CPUID.80000008H:EAX[7:0])
};

struct Guest_access {
  bool write = false;
  bool fetch = false;          // an instruction fetch (write must be false)
  bool user = false;           // CPL = 3
  bool implicit_supervisor = false;  // a supervisor access the CPU makes on its own (GDT, IDT, TSS)
  bool ac = false;             // RFLAGS.AC (matters only for SMAP)
};

// How the walker reads and updates the guest's paging-structure entries (guest-physical
// addresses, 8-byte aligned). Implemented over Guest_memory (shadow paging) and over a std::map
// in tests.
class Guest_table_memory {
public:
  // The entry at `gpa`, or nullopt when `gpa` is not in guest RAM (outside every slot, MMIO): the
  // walk stops with Walk_status::table_outside_ram.
  virtual std::optional<u64> read_entry(Gpa gpa) = 0;
  // Sets `bits` (A, or A | D) in the entry at `gpa` if it still equals `expected`: true when done,
  // false when the entry changed since it was read (the walker reads it again and re-checks). The
  // memory must make the write visible as a guest write (a merged page is unshared first).
  virtual bool set_bits(Gpa gpa, u64 expected, u64 bits) = 0;

protected:
  ~Guest_table_memory() = default;
};

enum class Walk_status : u8 {
  ok,                  // translated: see Walk_result
  page_fault,          // the guest gets #PF with `error_code` and CR2 = the address
  non_canonical,       // bits 63:47 are not all equal: #GP on hardware, no walk happens
  table_outside_ram,   // a paging-structure entry lies outside guest RAM (`fault_gpa` says where)
};

struct Walk_result {
  Walk_status status = Walk_status::page_fault;
  u32 error_code = 0;        // page_fault: the #PF error code
  Gpa gpa;                   // ok: the translated address (the page's base plus the offset)
  unsigned leaf_level = 1;   // ok: 1 = 4 KiB page, 2 = 2 MiB page, 3 = 1 GiB page
  // ok: the rights combined over the levels, the effective attributes of the translation.
  bool writable = false;     // R/W = 1 at every level
  bool user = false;         // U/S = 1 at every level
  bool executable = true;    // no XD at any level (always true with NXE = 0)
  bool dirty = false;        // D in the leaf, after this walk's update
  u64 leaf_entry = 0;        // the leaf entry as the walk left it (PAT, PCD, PWT, G for the caller)
  // The path: table_gpa[level] is the guest-physical address of the table at `level` (4 = the
  // PML4 from CR3) that the walk read; entry[level] the entry it used there. Levels below
  // leaf_level are not filled. On a page fault the levels read so far are filled; levels_read
  // says how many (4 = all four tables read).
  Gpa table_gpa[5];
  u64 entry[5] = {};
  unsigned levels_read = 0;
  Gpa fault_gpa;             // table_outside_ram: the entry's address
};

// Walks the tables rooted at `cr3` (bits 51:12 the PML4's address; bits 11:0 (PCID or PWT/PCD)
// and bit 63 are ignored) for `gva` and `access`, setting A/D flags as described above.
// Bounded: at most 4 reads and a few retries per entry when set_bits races with other writers;
// a guest that keeps changing an entry under the walk gets the last value it read judged.
[[nodiscard]] Walk_result walk_guest_page_tables(Guest_table_memory& memory, u64 cr3, Gva gva, Guest_access access,
                                                 const Guest_paging_mode& mode);

// True when the rights of a successful walk allow `access` under `mode` (the check the walker
// applies; the shadow MMU uses it to decide whether a stale entry or a genuine fault).
[[nodiscard]] bool walk_allows(const Walk_result& r, Guest_access access, const Guest_paging_mode& mode);

// The reserved bits of an entry at `level` (4..1) whose PS bit is `large` (levels 3 and 2), for
// `mode`: set bits here are a reserved-bit fault.
[[nodiscard]] u64 reserved_bits(unsigned level, bool large, const Guest_paging_mode& mode);

} // namespace hv
