// mm/shadow/shadow_mmu.hpp - shadow page tables for one VM: guest-virtual to host-physical
// translations built from the guest's own page tables and the VM's guest-physical map, for CPUs
// without EPT or VMs that ask for `paging = shadow`. Both builds; the VMX side is
// vmx/shadow_paging.cpp. docs/shadow-paging.md explains the design; the contracts:
//
// The guest-physical map stays Guest_memory's EPT (populated on demand, merged, ballooned exactly
// as under EPT; the CPU simply does not walk it). A shadow leaf maps a guest page to the host frame
// that map gives it, with the rights of both: the guest's (combined over its four levels, as the
// walker mm/guest_page_walk.hpp computes them) and the map's (a merged frame is read-only).
//
// Shadow tables are built lazily, from page faults: every fault of the guest exits; the walker
// decides whether it is the guest's own (injected with its error code and CR2) or a missing or
// narrower shadow entry (built, the guest resumes). Each shadow table shadows one guest table (or,
// "direct", one guest 2 MiB / 1 GiB page split into smaller shadow entries); it has exactly one
// parent entry: tables are not shared between roots or parents, which keeps unlinking trivial at
// the price of memory for guests that share tables between address spaces (bounded by the budget).
//
// Staying in step with the guest without emulating instructions: every guest table that has a
// shadow is *tracked*, and every shadow leaf that maps a tracked page is read-only. A guest write
// to a tracked page faults; hv then drops the shadow tables of that page (the subtree below them
// goes too) and makes the page writable again; they are rebuilt from the guest's new entries at
// the next fault through them (which tracks the page again). So the shadow never differs from the
// guest's tables, whether or not the guest issues INVLPG, and MOV to CR3 between cached roots
// needs no rebuild and no flush. A write to a table through a mapping that itself goes through
// that table (common: a direct map whose tables lie in the memory it maps) cannot drop the shadow
// it needs: the page is mapped writable for one instruction (single_step: the caller single-steps
// the guest) and its shadows are dropped after it (end_single_step).
//
// Accessed/dirty: the walker sets A in the guest's entries when it builds a shadow entry, and D
// when the access writes; a shadow leaf is writable only once the guest's D is set, so the first
// write to a clean page faults and sets it, as the CPU would.
//
// The guest-physical map's changes (merge, CoW break, balloon, free page reports) reach the shadow
// through the reverse map: Guest_memory reports each GPA range whose translation goes or narrows
// (Ept_change_listener), and every shadow leaf mapping a GFN in it is cleared. Those shadow leaves
// are found through an rmap from GFN to shadow entries (merging's Shared_pages gives the (VM, GFN)
// users of a shared frame; this rmap gives the shadow entries of each such GFN).
//
// Memory: at most `max_table_pages` shadow tables per VM (plus one rmap page per leaf-holding
// table); when the budget is reached, the least recently used other root is dropped, then the
// current root's tables. A guest that churns CR3 values recycles its roots; it never grows.
// Roots: up to `max_roots` cached guest CR3 values, each with its own VPID (when the CPU has VPIDs)
// so that switching among them keeps their TLB entries.
//
// TLB: every change that removes or narrows a shadow entry asks for a flush through `flush_request`
// (the vCPU's Ept_tlb_sync counter: the vCPU flushes all its roots' VPIDs before it next enters,
// and a change made on another CPU kicks it out of guest mode first, as for INVEPT).
//
// Locking: every call runs under the Guest_memory's lock (the same lock that serialises the EPT),
// taken here; the listener calls arrive with it held.
#pragma once
#include "mm/guest_memory.hpp"
#include "mm/guest_page_walk.hpp"
#include <atomic>

namespace hv {

struct Shadow_config {
  u32 max_table_pages = 512;   // shadow tables per VM (the `shadow_pages` knob); 16..2048
  u32 max_roots = 4;           // cached roots (guest CR3 values), 1..8
  bool vpid = false;           // the CPU has VPIDs: one per root
  u16 first_vpid = 1;          // root r uses first_vpid + r
};

inline constexpr u32 shadow_min_table_pages = 16;
inline constexpr u32 shadow_max_table_pages = 2048;  // the index fits bits 62:52 of a shadow entry
inline constexpr u32 shadow_max_roots = 8;

struct Shadow_stats {
  u64 table_pages = 0;       // shadow tables in use now (roots included)
  u64 table_pages_peak = 0;
  u64 rmap_pages = 0;        // rmap pages beside them
  u64 tracked_tables = 0;    // shadow tables that shadow a guest table (write-protected pages)
  u64 faults = 0;            // page-fault exits, every outcome
  u64 guest_faults = 0;      // injected into the guest (its own faults)
  u64 fills = 0;             // shadow entries built
  u64 large_fills = 0;       // of which 2 MiB shadow leaves
  u64 dirty_faults = 0;      // first writes to clean pages (D set)
  u64 table_writes = 0;      // guest writes to tracked pages (their shadows dropped)
  u64 single_steps = 0;      // of which through a mapping that uses the table (one instruction stepped)
  u64 cr3_loads = 0;
  u64 root_hits = 0;         // CR3 loads that found their root cached
  u64 root_evictions = 0;
  u64 recycles = 0;          // budget reached: tables dropped to make room
  u64 map_changes = 0;       // shadow leaves cleared because the guest-physical map changed
  u64 resets = 0;            // all roots cleared (paging mode changed)
};

// What a page-fault exit needs done.
enum class Shadow_fault_kind : u8 {
  fixed,          // a shadow entry was built or widened: resume the guest, same instruction
  guest_fault,    // the guest's own fault: inject #PF with error_code, CR2 = the address
  general_protection, // a non-canonical address (#GP(0); the CPU gives #GP, not #PF)
  outside_ram,    // a guest table or page outside every RAM slot (`gpa`): stop the VM
  mmio,           // a guest page in an MMIO slot (`gpa`): emulation (not yet: stop the VM)
  out_of_memory,  // no host frame for guest memory or a shadow table: pause, retry later
  single_step,    // a write to a guest table through a mapping that needs that table (see
                  // above): run one instruction, then end_single_step()
  no_progress,    // the fault was handled several times over and still cannot be resolved
};

struct Shadow_fault {
  Shadow_fault_kind kind = Shadow_fault_kind::fixed;
  u32 error_code = 0;
  Gpa gpa;
};

struct Shadow_root {
  Hpa table;             // the value for GUEST_CR3 (a 4 KiB PML4, PCD = PWT = 0)
  u16 vpid = 0;          // the VPID to run it with (0: VPIDs off)
  bool needs_flush = false;  // a new root in this slot: flush its VPID first
};

class Shadow_mmu final : public Ept_change_listener {
public:
  Shadow_mmu(Guest_memory& memory, Frame_source& frames, Direct_map direct_map, const Shadow_config& config,
             std::atomic<u64>* flush_request, std::atomic<bool>* entry_work = nullptr);
  ~Shadow_mmu() { destroy(); }
  Shadow_mmu(const Shadow_mmu&) = delete;
  Shadow_mmu& operator=(const Shadow_mmu&) = delete;

  // Allocates the bookkeeping and registers as the memory's change listener. False: no memory.
  [[nodiscard]] bool init();
  // Frees every shadow table and the bookkeeping; unregisters. No vCPU may run on the roots.
  void destroy();

  // The guest loads CR3 (or starts with it). `cr3` must already be checked (reserved bits: #GP is
  // the caller's). Nullopt: no table page for a new root (out of memory: retry later).
  [[nodiscard]] std::optional<Shadow_root> load_cr3(u64 cr3);
  [[nodiscard]] u64 guest_cr3() const { return guest_cr3_; }

  // A #PF exit at `gva` for `access`.
  [[nodiscard]] Shadow_fault page_fault(Gva gva, Guest_access access);

  // Before the vCPU enters again, when `entry_work` was set (its own CPU, in VMX root, before it
  // publishes that it enters: this takes the memory's lock, whose holder may be waiting for the
  // vCPU to leave guest mode): the guest tables whose guest-physical page changed under them (a
  // ballooned or reported page table) lose their shadows now. The listener, on any CPU, only notes
  // them: freeing shadow tables there could free a table the vCPU's CPU is still walking.
  void before_entry();

  // The instruction of a single_step fault ran: the table it wrote loses its shadows.
  void end_single_step();
  [[nodiscard]] bool single_stepping() const { return stepping_; }

  // The guest's paging controls changed (CR0.WP, CR4.SMEP/SMAP, EFER.NXE, ...): the rights in
  // every shadow leaf were computed under the old ones, so every root is cleared.
  void set_mode(const Guest_paging_mode& mode);
  [[nodiscard]] const Guest_paging_mode& mode() const { return mode_; }

  // The VPIDs of the roots in use (for INVLPG and for flushes): fills `out`, returns how many.
  u32 root_vpids(u16* out, u32 capacity) const;
  [[nodiscard]] Shadow_stats stats() const;
  [[nodiscard]] const Shadow_config& config() const { return config_; }

  // Ept_change_listener: the GPA range's translation went or narrowed (lock held by the caller).
  void translation_changed(Gpa gpa, u64 bytes) override;

  // For tests: checks every invariant (each shadow leaf agrees with the guest's tables and the
  // map; tracked pages are mapped read-only; rmap and tables agree). Returns the first problem or
  // nullptr.
  [[nodiscard]] const char* check() const;

private:
  static constexpr u32 none = ~0u;
  struct Page {
    u64 table = 0;        // HPA of the shadow table; 0 = slot free
    u64 meta = 0;         // HPA of its rmap page (levels 2 and 1): u32 key[512], u32 next[512]
    u64 guest_gfn = 0;    // the guest table it shadows, or for a direct table the first GFN mapped
    u32 parent = none;    // the table holding the entry that links it (none: a root)
    u32 gfn_next = none;  // chain of the tracked-GFN index; also the free list
    u16 parent_index = 0;
    u8 level = 0;         // 4 = PML4 ... 1 = PT
    bool direct = false;
    bool tracked = false;
    u8 root = 0;          // the root slot whose tree it belongs to
  };
  struct Root {
    u64 cr3_base = 0;     // guest PML4 address
    u32 page = none;      // its shadow PML4
    u64 last_use = 0;
  };
  class Table_memory;     // the walker's view of guest memory (shadow_mmu.cpp)
  friend class Table_memory;
  // The walker's reads and A/D updates of guest entries, through the map (lock held).
  [[nodiscard]] std::optional<u64> read_table_entry(Gpa gpa);
  [[nodiscard]] bool set_table_bits(Gpa gpa, u64 expected, u64 bits);
  bool walk_out_of_memory_ = false;
  const char* check_tree(u32 page, u64 gva_base, u64 cr3) const;

  // ---- tables (shadow_tables.cpp) ----
  u64* table(u32 page) const { return direct_map_.ptr<u64>(Hpa(pages_[page].table)); }
  u32* meta_keys(u32 page) const { return direct_map_.ptr<u32>(Hpa(pages_[page].meta)); }
  u32* meta_next(u32 page) const { return meta_keys(page) + 512; }
  [[nodiscard]] u32 alloc_page(u8 level, u64 guest_gfn, bool direct, u32 parent, u16 parent_index, u8 root);
  void free_subtree(u32 page);                   // its children, its leaves' rmap, the page
  void unlink(u32 page);                         // parent entry cleared, then free_subtree
  void clear_root(u32 page);                     // every entry of a root dropped; the root stays
  void drop_root(u32 slot);
  bool recycle(u32 keep_slot);                   // frees tables for the budget; false: none freed
  void track(u32 page);
  void untrack(u32 page);
  [[nodiscard]] bool gfn_tracked(u64 gfn) const;
  [[nodiscard]] bool range_tracked(u64 first_gfn, u64 count) const;
  void drop_shadows_of(u64 gfn);                 // a guest write to a tracked page
  // Leaves and their rmap (key = gfn << 1 | large).
  void set_leaf(u32 page, unsigned index, u64 value, u64 key);
  void clear_leaf(u32 page, unsigned index);
  void rmap_insert(u32 page, unsigned index, u64 key);
  void rmap_remove(u32 page, unsigned index);
  void write_protect_gfn(u64 gfn);
  void clear_key(u64 key);
  void request_flush() { if (flush_request_) flush_request_->fetch_add(1, std::memory_order_seq_cst); }

  // ---- faults (shadow_mmu.cpp) ----
  enum class Fill : u8 { done, restart, failed };
  Fill fill(Gva gva, Guest_access access, const Walk_result& w, Shadow_fault& out);
  u32 child_of(u32 page, unsigned index, u8 level, u64 guest_gfn, bool direct, Fill& status);
  u64 leaf_value(const Walk_result& w, Guest_access access, Hpa hpa, bool map_writable, bool tracked_target,
                 bool large) const;
  [[nodiscard]] u32 current_slot() const { return current_; }

  Guest_memory& memory_;
  Frame_source& frames_;
  Direct_map direct_map_;
  Shadow_config config_;
  std::atomic<u64>* flush_request_;
  std::atomic<bool>* entry_work_;
  Guest_paging_mode mode_;
  Page* pages_ = nullptr;       // config_.max_table_pages entries
  u32* rmap_heads_ = nullptr;   // rmap_buckets
  u32* gfn_heads_ = nullptr;    // gfn_buckets
  Hpa book_hpa_;                // the block holding pages_, rmap_heads_, gfn_heads_
  unsigned book_order_ = 0;
  u32 free_head_ = none;
  u32 in_use_ = 0;
  Root roots_[shadow_max_roots];
  u32 current_ = 0;
  u64 guest_cr3_ = 0;
  u64 clock_ = 0;
  Shadow_stats stats_;
  static constexpr u32 max_pending = 32;
  u64 pending_gfns_[max_pending] = {};  // tracked GFNs whose page the map changed (before_entry)
  u32 pending_count_ = 0;
  bool pending_all_ = false;    // more than max_pending: every root is cleared instead
  u64 step_gfn_ = 0;            // the page written during a single step
  u32 step_page_ = 0;           // the shadow table and entry of its writable leaf
  unsigned step_index_ = 0;
  bool step_table_ = false;     // the page is a tracked guest table
  bool stepping_ = false;
  bool initialized_ = false;
};

} // namespace hv
