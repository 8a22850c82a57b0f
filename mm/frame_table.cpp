// mm/frame_table.cpp - see frame_table.hpp. Both builds.
#include "mm/frame_table.hpp"
#include "lib/panic.hpp"
#include <atomic>
#include <limits>

namespace hv {
namespace {
std::atomic_ref<u32> refs_of(const Frame_record& r) {
  // atomic_ref<const T> is not C++20; the count is only read through this one.
  return std::atomic_ref<u32>(const_cast<u32&>(r.refs));
}
} // namespace

Frame_record& Frame_table::at(Hfn hfn) {
  if (!contains(hfn)) panic("mm", "frame {} is outside the frame table {}..{}", hfn, first_, end());
  return records_[hfn - first_];
}

const Frame_record& Frame_table::at(Hfn hfn) const {
  if (!contains(hfn)) panic("mm", "frame {} is outside the frame table {}..{}", hfn, first_, end());
  return records_[hfn - first_];
}

void Frame_table::check_head(Hfn head, const char* what) const {
  const Frame_record& r = at(head);
  if (!r.allocated()) panic("mm", "{} of frame {}: not allocated (use {})", what, head, static_cast<u32>(r.use));
  if ((head.value() & ((u64{1} << r.order()) - 1)) != 0) {
    panic("mm", "{} of frame {}: not the head of its order-{} block", what, head, r.order());
  }
}

u32 Frame_table::get(Hfn head) {
  check_head(head, "reference get");
  auto refs = refs_of(records_[head - first_]);
  u32 old = refs.load(std::memory_order_relaxed);
  do {
    if (old == 0) panic("mm", "reference get of frame {}: it has no reference left", head);
    if (old == std::numeric_limits<u32>::max()) panic("mm", "reference get of frame {}: count overflows", head);
  } while (!refs.compare_exchange_weak(old, old + 1, std::memory_order_relaxed));
  return old + 1;
}

u32 Frame_table::put(Hfn head) {
  check_head(head, "reference put");
  auto refs = refs_of(records_[head - first_]);
  u32 old = refs.load(std::memory_order_relaxed);
  do {
    if (old == 0) panic("mm", "reference put of frame {}: count is already 0", head);
  } while (!refs.compare_exchange_weak(old, old - 1, std::memory_order_acq_rel));
  return old - 1;
}

u32 Frame_table::refs(Hfn head) const { return refs_of(at(head)).load(std::memory_order_relaxed); }

void Frame_table::fill(Hfn first, u64 count, Frame_record value) {
  if (count == 0) return;
  if (!contains(first, count)) panic("mm", "frame table fill {} +{} is outside {}..{}", first, count, first_, end());
  Frame_record* r = &records_[first - first_];
  for (u64 i = 0; i < count; ++i) r[i] = value;
}

} // namespace hv
