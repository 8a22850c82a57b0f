// mm/frame_allocator.hpp - the page-frame allocator: a buddy allocator over the usable RAM
// (orders 0..18, 4 KiB .. 1 GiB, naturally aligned), a frame table with one record per frame,
// per-CPU caches of order-0 frames, and statistics. Both builds; no heap.
//
// Storage: init() carves the frame table and the free-block bitmaps out of the usable ranges it
// is given (about 2.1 MiB per GiB) and reaches them through the Direct_map.
//
// CPUs: the buddy's free blocks sit behind one spin lock. Order-0 requests made through a CPU's
// cache (Frame_cpu_handle, or the *_on(cpu, ...) calls) touch only that CPU's magazine and go to
// the lock once per frame_cache_batch frames. The caller picks the CPU index (0..63) and promises
// that one index is used by one CPU (thread) at a time. Frames freed through any cache may have
// been allocated through any other.
//
// Errors: running out of frames is a nullopt. A free of something that is not an allocated
// block head of that order (double free, never allocated, wrong order, misaligned, outside the
// managed RAM, still shared) is a hypervisor bug: panic.
#pragma once
#include "lib/spinlock.hpp"
#include "mm/buddy_blocks.hpp"
#include "mm/direct_map.hpp"
#include "mm/frame_cache.hpp"
#include "mm/memory_map_import.hpp"

namespace hv {

enum class Frame_allocator_status : u8 {
  ok,
  no_usable_memory,     // no range given, or all ranges empty
  bad_ranges,           // not sorted, overlapping, or not page aligned
  no_room_for_metadata, // no single range can hold the frame table and bitmaps
  already_initialised,
};
[[nodiscard]] const char* frame_allocator_status_name(Frame_allocator_status status);

// A consistent picture when no CPU is allocating; approximate (never torn per field) otherwise.
struct Frame_stats {
  u64 managed_frames = 0;  // frames in the usable ranges given to init
  u64 metadata_frames = 0; // of which hold the frame table and the bitmaps
  u64 free_frames = 0;     // in free blocks plus in the per-CPU caches
  u64 cached_frames = 0;   // of which in per-CPU caches
  u64 used_frames = 0;     // allocated: managed - metadata - free
  u64 free_blocks[max_order + 1] = {};           // free blocks of each order (not counting caches)
  u64 used_by_use[frame_use_count] = {};         // indexed by Frame_use
  u64 used_by_owner[frame_owner_slots + 1] = {}; // by Vm_id; owners >= 64 share the last slot
};

// CPU index no_cpu (arch/x86/types.hpp) for the calls that take one: "no cache, go to the lock".

class Frame_allocator final : public Frame_source {
public:
  constexpr Frame_allocator() = default;
  Frame_allocator(const Frame_allocator&) = delete;
  Frame_allocator& operator=(const Frame_allocator&) = delete;

  // Takes over `usable` (sorted, disjoint, page aligned: what import_usable_memory produces).
  // Every frame in it becomes free except those carved off for the allocator's own storage.
  [[nodiscard]] Frame_allocator_status init(std::span<const Hpa_range> usable, Direct_map direct_map);
  [[nodiscard]] bool ready() const { return ready_; }

  // Frame_source, without a per-CPU cache. `use` must not be free or reserved.
  [[nodiscard]] std::optional<Hpa> alloc_frames(unsigned order, Frame_use use, Vm_id owner) override;
  void free_frames(Hpa base, unsigned order) override;
  bool split_frames(Hpa base, unsigned order) override {
    split_block(base, order);
    return true;
  }
  bool can_split_frames() const override { return true; }

  // The same through CPU `cpu`'s cache for order 0 (any order works; only order 0 is cached).
  // cpu == no_cpu means no cache.
  [[nodiscard]] std::optional<Hpa> alloc_frames_on(u32 cpu, unsigned order, Frame_use use, Vm_id owner);
  void free_frames_on(u32 cpu, Hpa base, unsigned order);

  // A block whose contents are zero: frames not known to be zero are cleared through the
  // Direct_map (the rest are skipped).
  [[nodiscard]] std::optional<Hpa> alloc_zeroed_frames_on(u32 cpu, unsigned order, Frame_use use, Vm_id owner);
  // Frees a block the caller knows is all zero (an emptied page table, say), so that a later
  // zeroed allocation can skip clearing it. Sanitizer builds (the unit tests) check the claim.
  void free_zeroed_frames_on(u32 cpu, Hpa base, unsigned order);
  // Clears an allocated block through the Direct_map.
  void zero_frames(Hpa base, unsigned order);

  // Re-tags an allocated block (guest -> shared when merged, guest -> balloon when given back),
  // moving it between the statistics' slots. References are kept.
  void change_use(Hpa base, unsigned order, Frame_use use, Vm_id owner);

  // Turns an allocated block of `order` into 2^order allocated order-0 blocks with the same use
  // and owner (the merger splitting a 2 MiB guest frame so that its pages can be freed one by one).
  void split_block(Hpa base, unsigned order);

  // Gives CPU `cpu`'s cached frames back to the buddy (where they can merge again). Call it as
  // that CPU, or when no CPU is using the cache (drain_all_caches: the same for every CPU).
  void drain_cache(u32 cpu);
  void drain_all_caches();

  [[nodiscard]] Frame_stats stats() const;
  // Free frames (buddy plus caches) without the rest of stats(): for pressure checks that run often.
  [[nodiscard]] u64 free_frames_hint() const;
  [[nodiscard]] Frame_table& table() { return table_; }
  [[nodiscard]] const Frame_table& table() const { return table_; }
  [[nodiscard]] Direct_map direct_map() const { return direct_map_; }
  // The carved storage (reserved in the frame table), for logs and for tests.
  [[nodiscard]] Hpa_range metadata() const { return metadata_; }

  void log_stats() const;

private:
  struct Freed {
    Frame_use use;
    Vm_id owner;
  };
  [[nodiscard]] std::optional<Hpa> alloc(u32 cpu, unsigned order, Frame_use use, Vm_id owner, bool zeroed);
  void free(u32 cpu, Hpa base, unsigned order, bool zeroed);
  [[nodiscard]] std::optional<Hfn> take_from_cache(Frame_cache& cache);
  void put_in_cache(Frame_cache& cache, Hfn hfn);
  void drain(Frame_cache& cache, u32 frames);
  // Checks that [base, 2^order) is an allocated block head of that order; returns its head.
  [[nodiscard]] Hfn check_block(Hpa base, unsigned order, const char* what) const;
  void claim(Hfn head, unsigned order, Frame_use use, Vm_id owner, bool zeroed);
  [[nodiscard]] Freed release(Hfn head, unsigned order, bool zeroed);
  [[nodiscard]] Frame_cache* cache_for(u32 cpu, unsigned order);

  mutable Spinlock lock_;
  Buddy_blocks blocks_;  // under lock_
  Frame_usage usage_;    // frames taken and returned without a cache; written under lock_
  Frame_table table_;
  Direct_map direct_map_;
  Hpa_range metadata_;
  u64 managed_frames_ = 0;
  bool ready_ = false;
  std::array<Frame_cache, frame_cache_cpus> caches_{};
};

// One CPU's view of the allocator, as a Frame_source: order-0 requests go through that CPU's
// cache. Cheap to copy; make one per CPU (or per thread in tests) and hand it to EPT and guest
// memory code running there.
class Frame_cpu_handle final : public Frame_source {
public:
  Frame_cpu_handle(Frame_allocator& allocator, u32 cpu) : allocator_(&allocator), cpu_(cpu) {}

  [[nodiscard]] std::optional<Hpa> alloc_frames(unsigned order, Frame_use use, Vm_id owner) override {
    return allocator_->alloc_frames_on(cpu_, order, use, owner);
  }
  void free_frames(Hpa base, unsigned order) override { allocator_->free_frames_on(cpu_, base, order); }
  bool split_frames(Hpa base, unsigned order) override { return allocator_->split_frames(base, order); }
  bool can_split_frames() const override { return true; }
  [[nodiscard]] std::optional<Hpa> alloc_zeroed_frames(unsigned order, Frame_use use, Vm_id owner) {
    return allocator_->alloc_zeroed_frames_on(cpu_, order, use, owner);
  }
  void free_zeroed_frames(Hpa base, unsigned order) { allocator_->free_zeroed_frames_on(cpu_, base, order); }
  void drain() { allocator_->drain_cache(cpu_); }
  [[nodiscard]] u32 cpu() const { return cpu_; }
  [[nodiscard]] Frame_allocator& allocator() const { return *allocator_; }

private:
  Frame_allocator* allocator_;
  u32 cpu_;
};

} // namespace hv
