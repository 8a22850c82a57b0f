// mm/merge/shared_pages.hpp - the reverse map of shared guest frames and their content index.
// Both builds.
//
// A shared frame is one host block (4 KiB or 2 MiB) that several guest pages map read-only, in
// one VM or several. For each it keeps:
//   - the (VM, GFN) pairs that map it (the reverse map, KVM's rmap): a CoW break, `run = 2`, a VM
//     that stops, a balloon inflate and shadow paging find every mapping here;
//   - the hash of its contents, indexed (Linux KSM's stable tree), so that a page with the same
//     contents finds it; several frames may hold the same contents once max_page_sharing fills one;
//   - its users; the frame table's reference count of the block equals them (at least 1).
// The frame is immutable while it is shared: every mapping of it is read-only, so comparing
// against it needs no protection.
//
// Locking: one spin lock inside. Callers may hold a VM's guest-memory lock when they call in (the
// order is always VM lock, then this lock), never the other way round.
//
// Storage comes from the Frame_allocator in blocks (Frame_array); running out is a result.
#pragma once
#include "lib/spinlock.hpp"
#include "mm/ept_types.hpp"
#include "mm/frame_allocator.hpp"
#include "mm/merge/frame_array.hpp"
#include "mm/merge/hash_index.hpp"

namespace hv {

inline constexpr u32 merge_max_vms = frame_owner_slots;  // Vm_id 1..63 take part in merging

// What Shared_pages counts (in 4 KiB pages; a shared 2 MiB frame counts 512), Linux's names.
struct Shared_pages_stats {
  u64 pages_shared = 0;    // shared frames in use, as 4 KiB pages
  u64 pages_sharing = 0;   // guest pages mapping them, beyond the first of each: the pages saved
  u64 frames_4k = 0;       // shared 4 KiB frames
  u64 frames_2m = 0;       // shared 2 MiB frames
  u64 rmap_entries = 0;    // (VM, GFN) pairs
  u64 max_users = 0;       // the most users of one frame right now (approximate after drops)
  u64 metadata_bytes = 0;  // storage of the records, the reverse map and the indexes
};

enum class Write_plan : u8 {
  took_back,  // the writer was the last user: the frame is its private frame again (no copy)
  must_copy,  // others map it too: copy it, remap, then drop()
};

class Shared_pages {
public:
  explicit Shared_pages(Frame_allocator& frames);
  ~Shared_pages();
  Shared_pages(const Shared_pages&) = delete;
  Shared_pages& operator=(const Shared_pages&) = delete;

  // Adds (vm, gfn) as a user of a shared frame of `size` whose contents have `hash` and for which
  // same(frame hpa) says the contents are equal, with fewer than max_users users. Returns that
  // frame's address, or nullopt (none, all full, or no memory for the reverse-map entry). The
  // comparison runs under the lock, so the frame cannot go away meanwhile.
  template <typename Same>
  [[nodiscard]] std::optional<Hpa> join(u64 hash, Page_size size, u32 max_users, Vm_id vm, Gfn gfn, Same&& same) {
    Spinlock_guard guard(lock_);
    const u32 hit = by_hash_.find_each(hash, [&](u32 i) {
      const Record& r = records_[i];
      return r.size == size && r.users < max_users && same(to_hpa(Hfn(r.hfn)));
    });
    if (hit == Hash_index::empty) return std::nullopt;
    if (!add_user(hit, vm, gfn)) return std::nullopt;
    return to_hpa(Hfn(records_[hit].hfn));
  }

  // Makes the private block at `hpa` (mapped by vm at gfn, already read-only there) a shared frame
  // with one user, indexed by `hash`. False: no memory for the records (nothing changed).
  [[nodiscard]] bool promote(Hpa hpa, Page_size size, u64 hash, Vm_id vm, Gfn gfn);

  // A write by (vm, gfn) to the shared frame at `hpa`: see Write_plan. took_back removes the frame
  // from the index and the reverse map and gives it back to vm as a private guest block.
  [[nodiscard]] Write_plan begin_write(Hpa hpa, Vm_id vm, Gfn gfn);
  // Removes (vm, gfn) from the users of the shared frame at `hpa`. Returns the users left; at 0
  // the frame is no longer shared and the caller frees the block (order of its size).
  [[nodiscard]] u32 drop(Hpa hpa, Vm_id vm, Gfn gfn);

  // A shared frame's contents hash to `hash` (a hint for the scanner: join() decides).
  [[nodiscard]] bool has_hash(u64 hash) const {
    Spinlock_guard guard(lock_);
    return by_hash_.find(hash) != Hash_index::empty;
  }
  // Calls f(Vm_id, Gfn) for every mapping of the shared frame at `hpa` (under the lock: f must
  // not call back into Shared_pages).
  template <typename F>
  void for_each_user(Hpa hpa, F&& f) const {
    Spinlock_guard guard(lock_);
    const u32 i = by_frame_.find(to_hfn(hpa).value());
    if (i == Hash_index::empty) return;
    for (u32 n = records_[i].rmap; n != none; n = rmap_[n].next) f(rmap_[n].vm, Gfn(rmap_[n].gfn));
  }

  [[nodiscard]] Shared_pages_stats stats() const;
  // Shared frames whose users belong to more than one VM (0 when merge_across_vms = 0 held
  // throughout). Walks every reverse map: for reports, not hot paths.
  [[nodiscard]] u64 cross_vm_frames() const;
  // Gives the records', reverse map's and indexes' storage back when nothing is shared.
  void release_storage_if_empty();
  // Guest pages of `vm` that map a shared frame (Linux's ksm_merging_pages of a process), in 4 KiB.
  [[nodiscard]] u64 merging_pages(Vm_id vm) const;
  [[nodiscard]] Frame_allocator& allocator() const { return frames_; }
  // Checks every invariant (frame-table references equal users, reverse-map lengths, indexes,
  // per-VM counts); false with the first broken one in `why`. For tests.
  [[nodiscard]] bool check(const char*& why) const;

private:
  static constexpr u32 none = 0xFFFF'FFFF;
  struct Record {
    u64 hash;
    u64 hfn;
    u32 users;   // 0: the record is free (on the free list through rmap)
    u32 rmap;    // first reverse-map entry, or the next free record
    Page_size size;
    u8 pad[7];
  };
  struct Rmap_entry {
    u64 gfn;
    u32 next;
    Vm_id vm;
    u16 pad;
  };

  [[nodiscard]] bool add_user(u32 record, Vm_id vm, Gfn gfn);
  [[nodiscard]] u32 find_record(Hpa hpa, const char* what) const;
  void remove_user(u32 record, Vm_id vm, Gfn gfn);
  void free_record(u32 record);
  void count_vm(Vm_id vm, i64 pages);

  Frame_allocator& frames_;
  mutable Spinlock lock_;
  Frame_array<Record> records_;
  Frame_array<Rmap_entry> rmap_;
  Hash_index by_hash_;   // contents hash -> record
  Hash_index by_frame_;  // head HFN -> record
  u32 free_records_ = none;
  u32 free_rmap_ = none;
  u64 frames_4k_ = 0;
  u64 frames_2m_ = 0;
  u64 users_4k_ = 0;  // sum of users over 4 KiB frames
  u64 users_2m_ = 0;
  u64 rmap_used_ = 0;
  u64 max_users_ = 0;
  u64 merging_[merge_max_vms] = {};
};

} // namespace hv
