// mm/paging_policy.hpp - the named choices about how guest memory is mapped, in one place.
// Both builds. A VM gets a copy at creation; the config may override fields by name.
#pragma once
#include "arch/x86/ept_entry.hpp"
#include "mm/ept_types.hpp"

namespace hv {

struct Paging_policy {
  // Populate a guest's RAM with 2 MiB frames and leaves when its memslot covers the whole aligned
  // 2 MiB range, no part of that range is mapped yet, and the allocator has a 2 MiB block.
  // Fewer table pages, fewer TLB misses; costs zeroing 2 MiB on the first touch.
  bool prefer_2m_leaves = true;
  // Let the EPT use 1 GiB leaves where the CPU has them (IA32_VMX_EPT_VPID_CAP bit 17).
  // Demand population never creates them; identity maps and merges may.
  bool allow_1g_leaves = true;
  // "Never map executable 2 MiB / 1 GiB leaves": the mitigation for the iTLB-multihit erratum
  // (machine check when the iTLB holds a 4 KiB and a large translation for one code page). Large
  // leaves are mapped non-executable; the first instruction fetch from one splits it and makes the
  // touched 4 KiB page executable. Off by default here: only affected CPUs need it.
  bool no_exec_large_pages = false;
  // Guest RAM's EPT memory type and whether the guest's PAT still applies (ignore PAT = 0 keeps
  // the guest's own UC/WC choices working, as on bare hardware).
  Cache_type ram_type = Cache_type::wb;
  bool ram_ignore_guest_pat = false;
  // Reading unpopulated guest RAM through copy_from_guest populates it (else it reads zeros and
  // allocates nothing).
  bool populate_on_read = false;
  // Enable the EPT's accessed/dirty flags (EPTP bit 6) where supported. Nothing harvests them yet
  // (dirty logging and the merger's working-set estimate will); off, they only cost walk writes.
  bool track_accessed_dirty = false;
};

inline constexpr Paging_policy default_paging_policy{};

// The EPT configuration for a VM from the CPU's EPT features and the policy. The caller (core/,
// which may look at Vmx_features) passes the hardware facts in.
struct Ept_hardware {
  bool page_2m = true;          // Vmx_features::ept_2m
  bool page_1g = false;         // Vmx_features::ept_1g
  bool execute_only = false;    // Vmx_features::ept_execute_only
  bool accessed_dirty = false;  // Vmx_features::ept_accessed_dirty
  bool wb = true;               // Vmx_features::ept_wb
  u8 max_phys_addr_bits = 36;   // Cpu_identity::physical_address_bits
};

[[nodiscard]] constexpr Ept_config make_ept_config(Vm_id owner, const Ept_hardware& hw, const Paging_policy& p) {
  Ept_config c;
  c.owner = owner;
  c.allow_2m = hw.page_2m;
  c.allow_1g = hw.page_1g && p.allow_1g_leaves;
  c.execute_only = hw.execute_only;
  c.accessed_dirty = hw.accessed_dirty && p.track_accessed_dirty;
  c.no_exec_large_leaves = p.no_exec_large_pages;
  c.walk_type = hw.wb ? Cache_type::wb : Cache_type::uc;
  c.max_phys_addr_bits = hw.max_phys_addr_bits;
  return c;
}

} // namespace hv
