// mm/frame_source.hpp - the narrow interface through which EPT, host page tables and guest
// memory get host frames. Both builds. The page-frame allocator (mm/frame_allocator.hpp)
// implements it; unit tests of EPT and guest memory may use a counting fake to check leaks.
#pragma once
#include "arch/x86/address.hpp"
#include <optional>

namespace hv {

// Who owns a VM's frames. 0 is "no VM" (the hypervisor itself).
using Vm_id = u16;
inline constexpr Vm_id no_vm = 0;

// What a frame is used for (kept in the frame table for statistics and for checks).
enum class Frame_use : u8 {
  free = 0,
  hypervisor,     // the hypervisor's own data (stacks, VMCS, per-CPU areas)
  page_table,     // host page tables, EPT tables, shadow tables
  guest,          // guest RAM owned by one VM
  shared,         // guest RAM shared by several guest pages (same-page merging)
  balloon,        // given back by a guest's balloon driver, not yet reused
  reserved,       // not RAM or not ours (firmware, MMIO, the hv image)
};

// Buddy orders: 2^order frames of 4 KiB. 0 = 4 KiB, 9 = 2 MiB, 18 = 1 GiB.
inline constexpr unsigned order_4k = 0;
inline constexpr unsigned order_2m = 9;
inline constexpr unsigned order_1g = 18;
inline constexpr unsigned max_order = 18;

class Frame_source {
public:
  // A naturally aligned block of 2^order frames, or nullopt when none is free (the caller must
  // handle it: out of memory is a result, never a crash). Contents are NOT zeroed.
  [[nodiscard]] virtual std::optional<Hpa> alloc_frames(unsigned order, Frame_use use, Vm_id owner) = 0;
  // Returns a block obtained from alloc_frames with the same order.
  virtual void free_frames(Hpa base, unsigned order) = 0;
  // Turns an allocated block of `order` into 2^order allocated 4 KiB blocks (same use and owner),
  // each freed on its own later: part of a 2 MiB guest frame goes to the balloon or the merger.
  // False: this source cannot (the caller keeps the block whole).
  [[nodiscard]] virtual bool split_frames(Hpa base, unsigned order) {
    (void)base;
    (void)order;
    return false;
  }
  // Whether split_frames() works here (asked before anything is changed for a split).
  [[nodiscard]] virtual bool can_split_frames() const { return false; }

protected:
  ~Frame_source() = default;
};

} // namespace hv
