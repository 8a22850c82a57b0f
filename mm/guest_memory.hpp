// mm/guest_memory.hpp - one VM's guest-physical memory: its memslots, its EPT, and RAM populated
// on demand. Both builds.
//
// A VM's memory size is a limit, not an allocation: the first access to a guest frame is an EPT
// violation that handle_ept_violation() answers with a zeroed host frame:
//   - 2 MiB frame and leaf when policy prefers them, one RAM slot covers the whole aligned 2 MiB
//     range, nothing in that range is mapped yet (a range already partly populated with 4 KiB
//     pages stays 4 KiB), the host's memory type is uniform there, and the Frame_source has a
//     2 MiB block; otherwise a 4 KiB frame and leaf;
//   - emulated MMIO: the caller emulates the access; outside every slot or in a reserved slot:
//     the guest's error; no frame: out_of_memory (the caller pauses the VM). Never a panic.
// Guest frames are recorded only in the EPT leaves: software bits 53:52 say whether a leaf's frame
// is a 4 KiB block, part of a 2 MiB block (a 2 MiB leaf split by the exec policy), or a shared
// frame of the leaf's size (same-page merging, mm/merge/), which is what destroy() needs to give
// every block back with its own order, or to drop one user of a shared frame.
// Shared frames are mapped read-only; a write (by the guest, or by copy_to_guest) breaks the
// sharing: a private copy, or the frame itself when the writer is its last user.
// Thread-safe: vCPUs of one VM may fault concurrently; one lock per VM serialises the changes.
#pragma once
#include "lib/spinlock.hpp"
#include "mm/balloon_abi.hpp"
#include "mm/ept.hpp"
#include "mm/memslot.hpp"
#include "mm/merge/shared_pages.hpp"
#include "mm/mtrr.hpp"
#include "mm/page_bitmap.hpp"
#include "mm/paging_policy.hpp"
#include <span>

namespace hv {

// The access that faulted, from the exit qualification (Ept_exit_qualification's read / write /
// fetch, mm/ept_violation.hpp).
struct Ept_access {
  bool read = false;
  bool write = false;
  bool fetch = false;
};

enum class Violation_action : u8 {
  resume,         // the GPA is mapped now (or was already): re-enter the guest, same instruction
  emulate_mmio,   // an emulated device's register: decode and emulate the instruction
  guest_error,    // the guest touched what it must not: stop it (or inject a fault)
  out_of_memory,  // no host frame or table page: pause the VM until memory is available
};

enum class Violation_reason : u8 {
  populated_4k,    // a fresh zeroed 4 KiB frame is mapped
  populated_2m,    // a fresh zeroed 2 MiB frame is mapped
  spurious,        // already mapped with the rights the access needs (a stale TLB entry)
  exec_split,      // fetch from a non-executable large leaf (no_exec_large_pages): split, 4K made executable
  cow_break,       // a write to a shared frame: the page has a private copy (or the frame) now
  mmio,            // inside an emulated-MMIO slot
  outside_slots,   // no slot covers the GPA
  reserved_slot,   // inside a reserved slot
  access_denied,   // mapped, but without the right the access needs
  no_memory,       // the Frame_source ran dry
};
[[nodiscard]] const char* violation_reason_name(Violation_reason r);

struct [[nodiscard]] Violation_result {
  Violation_action action = Violation_action::guest_error;
  Violation_reason reason = Violation_reason::outside_slots;
  const Memslot* slot = nullptr;  // the slot of the GPA, if any (MMIO: its tag names the device)
};

enum class Guest_copy_status : u8 {
  ok = 0,
  outside_ram,    // some byte of the range is not in a RAM slot (nothing was copied)
  read_only,      // a page of the range is mapped without write access (copy_to_guest)
  out_of_memory,  // populating a page failed; bytes_done says how far the copy got
};

struct [[nodiscard]] Guest_copy_result {
  Guest_copy_status status = Guest_copy_status::ok;
  u64 bytes_done = 0;
};

// Why a balloon call (mm/balloon.hpp) did not do all it was asked; each maps to one -errno.
enum class Balloon_status : u8 {
  ok = 0,
  bad_range,       // zero pages, a count that overflows, or a page outside the RAM slots (EINVAL)
  overlap,         // inflate / report: a page already ballooned, or twice in the list (EEXIST)
  not_inflated,    // deflate: a page not in the balloon, or twice in the list (ENOENT)
  beyond_target,   // inflate: the balloon would hold more than the host asked for (ENOSPC)
  too_long,        // more entries than balloon_list_max / balloon_stats_max (E2BIG)
  no_memory,       // no frame for a split, a copy or the balloon's bitmap (ENOMEM)
};
[[nodiscard]] const char* balloon_status_name(Balloon_status s);

struct Guest_memory_stats {
  u64 frames_4k = 0;     // 4 KiB host frames backing guest RAM
  u64 frames_2m = 0;     // 2 MiB host frames backing guest RAM
  u64 table_pages = 0;   // EPT table pages, PML4 included
  u64 violations = 0;    // EPT violations handled, every outcome
  u64 spurious = 0;
  u64 exec_splits = 0;
  u64 mmio = 0;
  u64 guest_errors = 0;
  u64 out_of_memory = 0;
  u64 shared_4k = 0;     // 4 KiB leaves that map a shared frame (merged pages)
  u64 shared_2m = 0;     // 2 MiB leaves that map a shared frame
  u64 cow_breaks = 0;    // writes that needed a private copy of a shared frame
  u64 cow_takebacks = 0; // writes by a shared frame's last user: the frame became private again
  u64 zero_released = 0; // 4 KiB pages given back because they held only zeros (ksm_zero_pages)
  u64 balloon_pages = 0;   // 4 KiB pages in the balloon now (virtio's actual)
  u64 balloon_touched = 0; // ballooned pages the guest touched anyway: populated again, out of the balloon
  u64 free_reported = 0;   // pages whose backing FREE_PAGE_REPORT gave back (counter)
  u64 balloon_frames_freed = 0;  // 4 KiB frames the balloon and free page reports gave the host (counter)
  // Private frames plus shared frames mapped: what the guest's RAM would cost without merging.
  [[nodiscard]] constexpr u64 populated_bytes() const {
    return (frames_4k + shared_4k) * page_size_4k + (frames_2m + shared_2m) * page_size_2m;
  }
  // What the guest's RAM costs the host in private frames (shared frames are counted globally).
  [[nodiscard]] constexpr u64 private_bytes() const { return frames_4k * page_size_4k + frames_2m * page_size_2m; }
};

class Guest_memory {
public:
  // `host_mtrrs` (optional) gives RAM frames the host's memory type and keeps 2 MiB leaves off
  // ranges where it is not uniform; without it RAM gets policy.ram_type.
  Guest_memory(Frame_source& frames, Direct_map direct_map, Ept_invalidator& invalidator, const Ept_config& ept_config,
               const Paging_policy& policy, const Mtrr_map* host_mtrrs = nullptr);
  ~Guest_memory() { destroy(); }
  Guest_memory(const Guest_memory&) = delete;
  Guest_memory& operator=(const Guest_memory&) = delete;

  Ept_status init();  // allocates the EPT's PML4
  // Frees every guest frame, then the EPT (one INVEPT first). No vCPU of the VM may run.
  void destroy();

  Memslot_status add_slot(const Memslot& slot);
  // Lets this VM's pages be merged (mm/merge/): shared frames are reference-counted there. Set
  // once, before the first merge; without it the VM never maps a shared frame.
  void set_sharing(Shared_pages* sharing) { sharing_ = sharing; }
  [[nodiscard]] Shared_pages* sharing() const { return sharing_; }
  // Shadow paging (mm/shadow/shadow_mmu.hpp) keeps translations derived from this memory's:
  // every one removed or narrowed here is reported to `listener` (null: none). Set before the VM runs.
  void set_change_listener(Ept_change_listener* listener) { ept_.set_listener(listener); }
  // Gives every shared page of this VM a private copy again (`run = 2`, `merge = off`). Returns
  // the pages unshared; stops early with out_of_memory = true when no frame is left for a copy.
  struct Unshare_result {
    u64 pages = 0;
    bool out_of_memory = false;
  };
  Unshare_result unshare_all();
  [[nodiscard]] const Memslot_table& slots() const { return slots_; }

  Violation_result handle_ept_violation(Gpa gpa, Ept_access access);

  // ---- the balloon's page work (guest_memory_balloon.cpp; the policy is mm/balloon.hpp) ----
  // A ballooned page has no translation and a bit in the balloon bitmap; touching it anyway
  // populates it afresh (zeroed) and takes it out of the balloon (balloon_touched).
  struct Balloon_result {
    Balloon_status status = Balloon_status::ok;
    u64 pages = 0;    // pages done: those of the first `entries` entries
    u32 entries = 0;  // entries done, a prefix of the list
  };
  // Hands the pages of `list` to the host: unmapped (a 2 MiB leaf split when only part of it goes,
  // freed as one block when all of it goes; a shared frame loses one user), one INVEPT per batch,
  // frames freed after it. Every entry is checked first (bad_range, overlap, beyond_target when the
  // balloon would exceed `max_balloon_pages`): on such an error nothing changed. no_memory (a split
  // or a copy found no frame) after k entries: the first k are in the balloon, the rest untouched.
  Balloon_result balloon_inflate(std::span<const Balloon_range> list, u64 max_balloon_pages);
  // Takes ballooned pages back (populated on demand). Every page must be in the balloon
  // (not_inflated otherwise, nothing changed). Never fails for want of memory.
  Balloon_result balloon_deflate(std::span<const Balloon_range> list);
  // Free page reporting: the pages' backing goes back to the host as with inflate, but they stay
  // the guest's (not in the balloon): a later touch populates them afresh, uncounted.
  Balloon_result free_page_report(std::span<const Balloon_range> list);
  [[nodiscard]] u64 balloon_pages() const;

  // Copies between a host buffer and guest-physical memory, across pages and slots (all RAM).
  // copy_to_guest populates pages as it goes; copy_from_guest reads unpopulated pages as zeros
  // (or populates them, with policy.populate_on_read). The whole range is checked against the
  // slots first: a range reaching outside RAM copies nothing.
  Guest_copy_result copy_to_guest(Gpa gpa, std::span<const u8> bytes);
  Guest_copy_result copy_from_guest(Gpa gpa, std::span<u8> bytes);

  [[nodiscard]] Guest_memory_stats stats() const;
  [[nodiscard]] u64 eptp() const { return ept_.eptp(); }
  [[nodiscard]] const Paging_policy& policy() const { return policy_; }
  // For inspection and tests; changes go through this class.
  [[nodiscard]] const Ept& ept() const { return ept_; }

  // Values of Ept_attrs::software on guest RAM leaves.
  static constexpr u8 frame_4k = 0;
  static constexpr u8 frame_part_of_2m = 1;
  static constexpr u8 frame_shared = 2;

private:
  friend class Merger;  // mm/merge/merger.cpp works on the EPT under lock_ (see there)
  friend class Shadow_mmu;  // mm/shadow/: guest tables read and shadow tables built under lock_

  // handle_ept_violation() with the lock held: the shadow MMU's way to populate a GPA, break its
  // sharing or find it outside RAM, exactly as an EPT violation would.
  Violation_result handle_violation_locked(Gpa gpa, Ept_access access);

  // A write (or a fetch the shared leaf does not allow) to the shared leaf `leaf`: a private copy
  // or the frame itself (last user). Lock held. False: no frame for the copy (nothing changed).
  bool break_sharing(const Ept_leaf& leaf);
  // The rights of a guest RAM leaf of `size` that the guest may write / may not write.
  [[nodiscard]] Ept_rights private_rights(Page_size size) const;
  [[nodiscard]] Ept_rights shared_rights(Page_size size) const;

  Violation_result populate(Gpa gpa, const Memslot& slot);
  // The balloon's work behind the calls above (guest_memory_balloon.cpp; lock held).
  enum class Give_kind : u8 { inflate, report };
  Balloon_result give_back(std::span<const Balloon_range> list, Give_kind kind, u64 max_balloon_pages);
  [[nodiscard]] Balloon_status check_ranges(std::span<const Balloon_range> list, u64& pages) const;
  [[nodiscard]] bool ensure_balloon_bitmap();
  void free_balloon_bitmap();
  // Makes `gpa` the start of a leaf and of a host block (splits a 2 MiB one that straddles it,
  // breaking its sharing first); `block_end` (optional) gets the end of the block that now starts
  // there (0: a hole). False: no frame for a table page or a copy.
  [[nodiscard]] bool split_at(Gpa gpa, u64* block_end);
  // Unmaps every leaf in [start, end) (whole leaves and blocks) and frees their frames after the
  // batch's INVEPT (through `pending`).
  struct Pending_frees;
  void release_range(Gpa start, Gpa end, Ept_batch& batch, Pending_frees& pending);
  // The 4 KiB page of `gpa` is ballooned: it leaves the balloon (the guest touched it anyway).
  void take_from_balloon(Gpa gpa);
  [[nodiscard]] bool in_balloon(Gfn gfn, u64 pages) const;

public:
  // Splits the private 2 MiB block behind `leaf` (a 2 MiB leaf, or an exec-split 4 KiB leaf of
  // one) into 512 private 4 KiB blocks and leaves, same frames. Lock held (the merger and the
  // balloon). False: no table page for the split, or the Frame_source cannot split blocks.
  [[nodiscard]] bool split_2m_block(const Ept_leaf& leaf);

private:
  std::optional<Cache_type> ram_type(Hpa frame, u64 bytes) const;
  // Fills `t` for a RAM page, populating it if needed and allowed; false with `status` set else.
  bool resolve_page(Gpa gpa, bool populate_missing, std::optional<Ept_translation>& t, Guest_copy_status& status);

  Frame_source& frames_;
  Direct_map direct_map_;
  Ept ept_;
  Paging_policy policy_;
  const Mtrr_map* host_mtrrs_;
  Memslot_table slots_;
  Guest_memory_stats stats_;
  Shared_pages* sharing_ = nullptr;
  // The balloon bitmap: bit g set = GFN g is in the balloon. Allocated at the first balloon
  // call from frames_ (a hypervisor block of balloon_bitmap_order_), covering the RAM slots' GFNs.
  Page_bitmap_view balloon_bits_;
  Hpa balloon_bitmap_hpa_;
  unsigned balloon_bitmap_order_ = 0;
  mutable Spinlock lock_;
};

} // namespace hv
