// mm/ept_invalidation.hpp - batching of EPT invalidations. Both builds.
//
// Which changes need an INVEPT (SDM Vol. 3C 29.4 "Caching Translation Information"):
//   - removing a present leaf, or taking a right away from one: yes, the TLB may hold it;
//   - unlinking a table page (unmap emptied it, merge replaced it): yes, before the page is
//     reused, because the paging-structure caches may still point into it;
//   - making a not-present entry present, adding rights, splitting a leaf into leaves with the
//     same translation: no. The CPU does not cache not-present entries; a stale entry with fewer
//     rights may cause one spurious EPT violation, and an EPT violation itself invalidates the
//     mappings used for the faulting address, so the retried access succeeds.
// The EPT records what it changed in an Ept_batch; finish() (or the destructor) issues ONE
// INVEPT single-context for all of it and only then gives the unlinked table pages back to the
// Frame_source. Never one INVEPT per entry.
#pragma once
#include "arch/x86/address.hpp"

namespace hv {

class Ept;

// Implemented by the VMX side (and by a counting fake in tests). mm/ never executes INVEPT.
class Ept_invalidator {
public:
  // INVEPT type 1 (single-context) for `eptp`, on every CPU that may cache its translations.
  virtual void invept_single_context(u64 eptp) = 0;

protected:
  ~Ept_invalidator() = default;
};

// A scope of changes to one EPT. Not shared between threads (the EPT's owner serialises).
class Ept_batch {
public:
  explicit Ept_batch(Ept& ept);
  ~Ept_batch();  // finish()
  Ept_batch(const Ept_batch&) = delete;
  Ept_batch& operator=(const Ept_batch&) = delete;

  // Issues the INVEPT if any change in the batch needs one, then frees the deferred table
  // pages. The batch may be used again afterwards.
  void finish();

  [[nodiscard]] bool flush_pending() const { return flush_pending_; }
  [[nodiscard]] u64 deferred_pages() const { return deferred_count_; }
  [[nodiscard]] Ept& ept() const { return ept_; }

private:
  friend class Ept;
  void request_flush() { flush_pending_ = true; }
  // Keeps an unlinked table page until after the INVEPT. The list runs through the pages
  // themselves: entry 0 holds the next page's HPA, a 4 KiB-aligned value, so a stale walk
  // through the page still reads a not-present entry there.
  void defer_free(Hpa table);

  Ept& ept_;
  bool flush_pending_ = false;
  u64 deferred_count_ = 0;
  Hpa deferred_head_;
};

} // namespace hv
