// mm/frame_table.hpp - one 8-byte record per host frame over [first, end) HFN: what the frame is
// used for, which VM owns it, how many guest pages share it, its block order and a few flags.
// Both builds. The page-frame allocator carves the table's storage out of the RAM it manages
// and reaches it through the Direct_map; tests may give it any array.
//
// Ownership of a record follows ownership of its frame: while a frame is free the allocator
// writes its record, while it is allocated its holder does (through the allocator's calls).
// Only the reference count is atomic, because several CPUs may map one shared frame.
#pragma once
#include "mm/frame_source.hpp"
#include <span>

namespace hv {

inline constexpr u32 frame_use_count = 7; // Frame_use::free .. Frame_use::reserved

// Flags kept in the top three bits of Frame_record::order_flags.
enum class Frame_flag : u8 {
  zeroed = 1u << 5, // contents known to be all zero (kept for free frames; cleared when handed out)
};

struct Frame_record {
  // References to an allocated block, counted at its head frame: 1 after allocation, more when
  // several guest pages map it (same-page merging), 0 in tails, free and reserved frames.
  u32 refs = 0;
  Vm_id owner = no_vm;
  Frame_use use = Frame_use::free;
  // Bits 0..4: for an allocated frame, the order of the block it belongs to (its head is the
  // frame's HFN aligned down to 2^order). Bits 5..7: Frame_flag.
  u8 order_flags = 0;

  static constexpr u8 order_mask = 0x1f;

  [[nodiscard]] constexpr unsigned order() const { return order_flags & order_mask; }
  [[nodiscard]] constexpr bool has(Frame_flag f) const { return (order_flags & static_cast<u8>(f)) != 0; }
  constexpr void set_order(unsigned order) {
    order_flags = static_cast<u8>((order_flags & ~order_mask) | (order & order_mask));
  }
  constexpr void set(Frame_flag f, bool on) {
    order_flags = static_cast<u8>(on ? (order_flags | static_cast<u8>(f)) : (order_flags & ~static_cast<u8>(f)));
  }
  [[nodiscard]] constexpr bool allocated() const { return use != Frame_use::free && use != Frame_use::reserved; }
};
static_assert(sizeof(Frame_record) == 8, "one frame record is 8 bytes: 2 MiB of table per GiB of RAM");
static_assert(alignof(Frame_record) >= alignof(u32), "refs is reached through std::atomic_ref");
static_assert(max_order <= Frame_record::order_mask, "orders fit the order bits");

class Frame_table {
public:
  constexpr Frame_table() = default;
  // `storage` holds one record per frame of [first, first + storage.size()).
  Frame_table(std::span<Frame_record> storage, Hfn first) : records_(storage), first_(first) {}

  [[nodiscard]] static constexpr u64 bytes_for(u64 frames) { return frames * sizeof(Frame_record); }

  [[nodiscard]] Hfn first() const { return first_; }
  [[nodiscard]] Hfn end() const { return first_ + records_.size(); }
  [[nodiscard]] u64 frame_count() const { return records_.size(); }
  [[nodiscard]] bool contains(Hfn hfn) const { return hfn >= first_ && hfn - first_ < records_.size(); }
  // [hfn, hfn + frames) lies inside the table.
  [[nodiscard]] bool contains(Hfn hfn, u64 frames) const {
    return contains(hfn) && frames <= records_.size() - (hfn - first_);
  }

  // The record of a frame inside the table (outside it: panic).
  [[nodiscard]] Frame_record& at(Hfn hfn);
  [[nodiscard]] const Frame_record& at(Hfn hfn) const;
  // Unchecked, for the allocator's hot paths after it has checked the range.
  [[nodiscard]] Frame_record& operator[](Hfn hfn) { return records_[hfn - first_]; }
  [[nodiscard]] const Frame_record& operator[](Hfn hfn) const { return records_[hfn - first_]; }

  [[nodiscard]] Frame_use use(Hfn hfn) const { return at(hfn).use; }
  [[nodiscard]] Vm_id owner(Hfn hfn) const { return at(hfn).owner; }

  // Reference counts of allocated blocks, taken at the block's head frame. Each returns the new
  // count. A get or put on anything but an allocated block head with at least one reference is
  // a hypervisor bug (panic), as is a count that would overflow. When put returns 0 the caller
  // holds the last reference and must free the block.
  u32 get(Hfn head);
  u32 put(Hfn head);
  [[nodiscard]] u32 refs(Hfn head) const;

  // Sets frames [first, first + count) to `value` (the allocator's bulk updates).
  void fill(Hfn first, u64 count, Frame_record value);

private:
  void check_head(Hfn head, const char* what) const;

  std::span<Frame_record> records_;
  Hfn first_;
};

} // namespace hv
