// mm/merge/merger.hpp - same-page merging, our ksmd: scans guest frames, maps identical 4 KiB pages
// (and identical whole 2 MiB frames) to one read-only shared frame, gives zero-filled pages back,
// and frees the rest. Both builds; the merge thread (core/) calls scan() and sleeps in between.
//
// One pass, not two. Linux ksmd puts a page in its unstable tree only after its checksum held over
// a full pass, so its first pass merges almost nothing. Here every page is hashed (XXH64) as it is
// scanned; a hash seen earlier in the same pass (the candidate index) or held by a shared frame
// (the stable index, Shared_pages) makes the page a merge candidate at once. Correctness does not
// rest on the hash: a candidate is write-protected in the EPT first (one INVEPT per batch), and
// only then compared byte for byte against the frame it is to share; a page that changed between
// hashing and protection fails the comparison, gets its write access back and counts as volatile.
// Writes after protection fault and break the sharing (Guest_memory::break_sharing), so no write
// is ever lost and no VM ever sees another's data.
//
// Locking: the merger's own lock (the VM list), then one VM's guest-memory lock at a time, then
// Shared_pages' lock. A VM is detached (under the merger's lock) before its memory is destroyed.
#pragma once
#include "mm/guest_memory.hpp"
#include "mm/merge/merge_knobs.hpp"
#include "mm/merge/shared_pages.hpp"

namespace hv {

// Linux's /sys/kernel/mm/ksm statistics, plus ours. Gauges are "now"; counters since start.
struct Merge_stats {
  u64 pages_shared = 0;     // gauge: shared frames in use (4 KiB units)
  u64 pages_sharing = 0;    // gauge: guest pages mapping them beyond one per frame (pages saved)
  u64 pages_unshared = 0;   // gauge: unique pages waiting in this pass's candidate index
  u64 pages_volatile = 0;   // gauge: pages found changed between hashing and comparison this pass
  u64 pages_scanned = 0;    // counter: 4 KiB pages scanned
  u64 full_scans = 0;       // counter: passes over every VM's memory
  u64 ksm_zero_pages = 0;   // counter: zero-filled 4 KiB pages given back (see docs/merge.md)
  i64 general_profit = 0;   // bytes: (pages_sharing + ksm_zero_pages) * 4096 - metadata bytes
  u64 cow_breaks = 0;       // counter: writes to shared frames that needed a private copy
  u64 cow_takebacks = 0;    // counter: writes by a frame's last user (no copy)
  u64 merges_4k = 0;        // counter: 4 KiB pages that joined a shared frame
  u64 merges_2m = 0;        // counter: 2 MiB frames that joined a shared 2 MiB frame
  u64 splits_2m = 0;        // counter: private 2 MiB frames split because enough of them could merge
  u64 unmerged = 0;         // counter: pages given a private copy by run = 2 or merge = off
  u64 out_of_memory = 0;    // counter: merges or table growth skipped for want of a frame
  u64 metadata_bytes = 0;   // gauge: the merger's and the reverse map's storage
  u64 vms = 0;              // gauge: VMs attached
};

enum class Merge_status : u8 { ok, no_room, already_attached, not_attached, bad_vm_id };
[[nodiscard]] const char* merge_status_name(Merge_status s);

class Merger {
public:
  static constexpr u32 max_vms = merge_max_vms;

  // `sharing` is the reverse map that every attached VM's Guest_memory was given (set_sharing).
  Merger(Shared_pages& sharing, Frame_allocator& frames);
  ~Merger();
  Merger(const Merger&) = delete;
  Merger& operator=(const Merger&) = delete;

  // A VM takes part (merge = on) or is only known (merge = off: its pages are never scanned).
  // The memory must have set_sharing(&sharing) and outlive the attachment.
  [[nodiscard]] Merge_status attach(Vm_id vm, Guest_memory& memory, bool merge);
  // Before the VM's memory is destroyed (destroy() drops the VM's shared mappings itself).
  Merge_status detach(Vm_id vm);
  // After a VM's memory is gone: with no VM attached, every table's storage goes back (so that
  // all frames are free again when every VM has stopped).
  void release_idle_storage();
  // merge = off unshares the VM's pages (as QEMU's mem-merge=off after the fact would).
  Merge_status set_vm_merge(Vm_id vm, bool merge);

  [[nodiscard]] Merge_knobs knobs() const;
  // Sets one knob by name (config and monitor). merge_across_vms changes only while nothing is
  // shared (busy otherwise).
  [[nodiscard]] Merge_knob_status set_knob(std::string_view name, std::string_view value, const Merge_knob_info*& info);
  void set_knobs(const Merge_knobs& k);

  // One wake-up: with run = 1 scans up to `pages` 4 KiB pages (pages_to_scan when 0); with run = 2
  // unmerges everything and sets run = 0 when done. Returns the pages scanned or unmerged.
  u64 scan(u64 pages = 0);
  // Scans until one full pass has ended (tests and benchmarks).
  u64 scan_full_pass();

  // Everything, gauges included (takes every attached VM's lock: for the monitor and reports).
  [[nodiscard]] Merge_stats stats() const;
  // Passes so far (the merger's lock only: cheap enough for a guest's hypercall).
  [[nodiscard]] u64 full_scans() const {
    Spinlock_guard guard(lock_);
    return stats_.full_scans;
  }
  [[nodiscard]] u64 merging_pages(Vm_id vm) const { return sharing_.merging_pages(vm); }
  [[nodiscard]] Shared_pages& sharing() const { return sharing_; }

  // Tests: called after a batch of pages was hashed, before it is write-protected, with the VM's
  // lock held; it may write guest frames directly (as a vCPU would) to exercise the volatile path.
  using Race_hook = void (*)(void* ctx, Vm_id vm, Gpa gpa, Hpa hpa);
  void set_race_hook(Race_hook hook, void* ctx) {
    race_hook_ = hook;
    race_ctx_ = ctx;
  }

private:
  struct Vm_entry {
    Guest_memory* memory = nullptr;
    bool merge = false;
    Gpa cursor;
    u64 cow_breaks_at_attach = 0;  // the memory's counters survive a reset: count from here
    u64 cow_takebacks_at_attach = 0;
  };
  struct Candidate {
    u64 key;
    u64 gpa;
    u64 hpa;
    Vm_id vm;
    u8 size;  // Page_size
    u8 pad[5];
  };
  enum class Plan : u8 { merge, zero };
  struct Page {  // one page of the batch being worked on
    Gpa gpa;
    Hpa hpa;
    Page_size size;
    u64 hash;        // 0 for a pending partner (its hash is its key's)
    u64 key;         // the hash as the indexes know it (key_of)
    Ept_attrs attrs; // the leaf's attributes before protection
    Plan plan;
    u32 candidate;   // the candidate it pairs with, or Hash_index::empty
    u16 vm;
  };
  static constexpr u32 batch_pages = 32;

  u64 scan_pages(u64 budget, bool stop_at_pass_end);
  u64 unmerge_all();
  [[nodiscard]] bool next_vm(u32& index);
  [[nodiscard]] u32 active_vms() const;
  [[nodiscard]] bool unchanged(const Page& p, const void* data);
  [[nodiscard]] bool plan_4k(Page& p, bool zero);
  // Scans from the VM's cursor; returns the 4 KiB pages scanned (0: the VM's end was reached).
  u64 scan_vm(Vm_id vm, Vm_entry& entry, u64 budget);
  void scan_batch(Vm_id vm, Guest_memory& m, Page* pages, u32 n);
  bool maybe_split_2m(Vm_id vm, Guest_memory& m, const Ept_leaf& leaf, const u64* sub_hashes);
  void finish_pending();
  void end_pass();
  [[nodiscard]] u64 key_of(u64 hash, Vm_id vm, Page_size size) const;
  [[nodiscard]] u32 find_candidate(u64 key, Page_size size) const;
  void add_candidate(const Candidate& c);
  void drop_candidate(u32 index);

  Shared_pages& sharing_;
  Frame_allocator& frames_;
  mutable Spinlock lock_;
  Merge_knobs knobs_;
  Vm_entry vms_[max_vms];
  u32 current_ = 0;          // the VM being scanned
  u32 pass_start_vm_ = 0;    // a pass has ended when the scan wraps past the last VM
  Frame_array<Candidate> candidates_;
  Hash_index candidate_index_;
  // Pairs found in a batch whose other page must join the promoted frame (after this VM's lock).
  struct Pending {
    u64 key;
    u64 gpa;
    u64 hpa;
    Vm_id vm;
    u8 size;
  };
  Pending pending_[batch_pages];
  u32 pending_count_ = 0;
  u64 zero_hash_4k_ = 0;
  u64 sub_hashes_[512] = {};  // the page hashes of the 2 MiB frame being scanned
  u64 pass_scanned_ = 0;      // pages scanned in the current pass
  Merge_stats stats_;        // the counters (gauges are filled in by stats())
  u64 pass_volatile_ = 0;
  Race_hook race_hook_ = nullptr;
  void* race_ctx_ = nullptr;
};

} // namespace hv
