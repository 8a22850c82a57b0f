// mm/ept_invalidation.cpp - the batch: one INVEPT, then the deferred table pages. Both builds.
#include "mm/ept_invalidation.hpp"
#include "mm/ept.hpp"
#include "mm/ept_internal.hpp"

namespace hv {

Ept_batch::Ept_batch(Ept& ept) : ept_(ept) { ++ept_.open_batches_; }

Ept_batch::~Ept_batch() {
  finish();
  --ept_.open_batches_;
}

void Ept_batch::defer_free(Hpa table) {
  u64* t = ept_.direct_map_.ptr<u64>(table);
  ept_detail::store(&t[0], deferred_count_ ? deferred_head_.value() : 0);
  deferred_head_ = table;
  ++deferred_count_;
}

void Ept_batch::finish() {
  if (flush_pending_ || deferred_count_) {
    // Unlinked pages always come with a flush request; the INVEPT must precede their reuse.
    ept_.invalidator_.invept_single_context(ept_.eptp());
  }
  flush_pending_ = false;
  Hpa page = deferred_head_;
  for (u64 i = 0; i < deferred_count_; ++i) {
    const Hpa next(ept_detail::load(ept_.direct_map_.ptr<u64>(page)));
    ept_.frames_.free_frames(page, order_4k);
    page = next;
  }
  deferred_count_ = 0;
  deferred_head_ = Hpa();
}

} // namespace hv
