// mm/ept_types.hpp - the vocabulary of the EPT interface: page sizes, access rights, leaf
// attributes, results and the configuration an EPT is built with. Both builds.
#pragma once
#include "arch/x86/address.hpp"
#include "arch/x86/ept_entry.hpp"
#include "mm/frame_source.hpp"

namespace hv {

// A leaf's size. The value is the EPT level that holds such a leaf (1 = PT, 2 = PD, 3 = PDPT).
enum class Page_size : u8 { size_4k = 1, size_2m = 2, size_1g = 3 };

[[nodiscard]] constexpr unsigned leaf_level(Page_size s) { return static_cast<unsigned>(s); }
[[nodiscard]] constexpr u64 page_bytes(Page_size s) { return 1ull << ept_level_shift(leaf_level(s)); }
[[nodiscard]] constexpr unsigned page_order(Page_size s) { return 9 * (leaf_level(s) - 1); }
// 4 KiB pages in a leaf of size `s` (1, 512, 262144).
[[nodiscard]] constexpr u64 pages_4k(Page_size s) { return u64{1} << page_order(s); }
[[nodiscard]] constexpr Page_size page_size_at_level(unsigned level) { return static_cast<Page_size>(level); }
[[nodiscard]] constexpr const char* page_size_name(Page_size s) {
  return s == Page_size::size_4k ? "4K" : s == Page_size::size_2m ? "2M" : "1G";
}
static_assert(page_bytes(Page_size::size_4k) == page_size_4k && page_bytes(Page_size::size_2m) == page_size_2m &&
              page_bytes(Page_size::size_1g) == page_size_1g);
static_assert(page_order(Page_size::size_2m) == order_2m && page_order(Page_size::size_1g) == order_1g);

// Access rights of a leaf. user_execute is "execute access for user-mode linear addresses"
// (bit 10), meaningful only with mode-based execute control; without it `execute` covers both.
enum class Ept_rights : u8 {
  none = 0,
  read = 1,
  write = 2,
  execute = 4,
  user_execute = 8,
  read_write = 3,
  read_execute = 5,
  all = 7,  // read, write, execute
};
[[nodiscard]] constexpr Ept_rights operator|(Ept_rights a, Ept_rights b) {
  return static_cast<Ept_rights>(static_cast<u8>(a) | static_cast<u8>(b));
}
[[nodiscard]] constexpr Ept_rights operator&(Ept_rights a, Ept_rights b) {
  return static_cast<Ept_rights>(static_cast<u8>(a) & static_cast<u8>(b));
}
// True when `r` holds every right in `wanted`.
[[nodiscard]] constexpr bool has_rights(Ept_rights r, Ept_rights wanted) { return (r & wanted) == wanted; }
[[nodiscard]] constexpr bool has_any_execute(Ept_rights r) {
  return (r & (Ept_rights::execute | Ept_rights::user_execute)) != Ept_rights::none;
}
[[nodiscard]] constexpr u64 rights_to_entry(Ept_rights r) {
  const u64 v = static_cast<u8>(r);
  return (v & ept_entry::RWX) | ((v & 8) ? ept_entry::USER_EXECUTE : 0);
}
[[nodiscard]] constexpr Ept_rights rights_from_entry(u64 entry) {
  return static_cast<Ept_rights>((entry & ept_entry::RWX) | ((entry & ept_entry::USER_EXECUTE) ? 8 : 0));
}
static_assert(rights_to_entry(Ept_rights::all | Ept_rights::user_execute) == 0x407);
static_assert(rights_from_entry(0x405) == (Ept_rights::read_execute | Ept_rights::user_execute));

// Leaf bits 53:52 are ignored by the CPU; the owner of the mapping may keep two bits there
// (guest memory records how the backing frame was allocated). Split and merge carry them.
inline constexpr unsigned ept_software_shift = 52;
inline constexpr u64 ept_software_mask = 3ull << ept_software_shift;

// What a leaf grants and how its memory is cached.
struct Ept_attrs {
  Ept_rights rights = Ept_rights::all;
  Cache_type type = Cache_type::wb;
  bool ignore_pat = false;  // bit 6: the EPT type alone decides, the guest's PAT is ignored
  u8 software = 0;          // 0..3, see ept_software_shift
  constexpr bool operator==(const Ept_attrs&) const = default;
};

// One leaf as the EPT holds it.
struct Ept_leaf {
  Gpa gpa;  // the first address it maps (aligned to its size)
  Hpa hpa;
  Page_size size = Page_size::size_4k;
  Ept_attrs attrs;
  bool accessed = false;  // set by the CPU when accessed/dirty flags are enabled
  bool dirty = false;
};

struct Ept_translation {
  Hpa hpa;        // the translation of the address asked about (page offset included)
  Ept_leaf leaf;  // the leaf that maps it
};

enum class [[nodiscard]] Ept_status : u8 {
  ok = 0,
  not_initialized,       // init() was not called or failed, or the EPT was destroyed
  misaligned,            // a GPA, HPA or length is not a multiple of the page size asked for
  gpa_out_of_range,      // beyond the 48 bits a 4-level EPT translates, or wraps around
  hpa_out_of_range,      // at or beyond MAXPHYADDR
  size_not_supported,    // a 1 GiB (or 2 MiB) leaf the CPU or the configuration does not allow
  invalid_rights,        // none, write without read, execute-only without the capability, ...
  invalid_cache_type,    // not UC, WC, WT, WP or WB, or software bits beyond 2
  exec_large_forbidden,  // policy no_exec_large_pages: a 2 MiB / 1 GiB leaf may not be executable
  already_mapped,        // map: part of the range already has a translation (map never replaces)
  not_mapped,            // split / merge: nothing is mapped at that address
  not_large,             // split: the leaf there is already 4 KiB
  not_mergeable,         // merge: not a full table of leaves with contiguous, aligned HPAs and
                         //        equal attributes (or already a large leaf)
  out_of_memory,         // the Frame_source had no page for a table
};
[[nodiscard]] const char* ept_status_name(Ept_status s);

// map_range stops at the first error; the prefix [gpa, gpa + bytes_mapped) stays mapped.
struct [[nodiscard]] Ept_map_result {
  Ept_status status = Ept_status::ok;
  u64 bytes_mapped = 0;
};

// What the EPT may use. Filled from Vmx_features (vmx/vmx_capabilities.hpp), the CPU's
// MAXPHYADDR and the Paging_policy (mm/paging_policy.hpp) by whoever creates the VM; mm/ does
// not look at the VMX capability MSRs itself.
struct Ept_config {
  Vm_id owner = no_vm;               // recorded with every table page
  bool allow_2m = true;              // Vmx_features::ept_2m
  bool allow_1g = false;             // Vmx_features::ept_1g && Paging_policy::allow_1g_leaves
  bool execute_only = false;         // Vmx_features::ept_execute_only
  bool mode_based_execute = false;   // the VMCS will enable "mode-based execute control for EPT"
  bool accessed_dirty = false;       // EPTP bit 6; Vmx_features::ept_accessed_dirty
  bool no_exec_large_leaves = false; // Paging_policy::no_exec_large_pages
  Cache_type walk_type = Cache_type::wb;  // EPTP bits 2:0 (Vmx_features::ept_wb ? WB : UC)
  u8 max_phys_addr_bits = 52;        // Cpu_identity::physical_address_bits
};

} // namespace hv
