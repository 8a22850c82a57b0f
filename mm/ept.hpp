// mm/ept.hpp - one VM's extended page tables: four levels, 4 KiB / 2 MiB / 1 GiB leaves,
// table pages from a Frame_source reached through the Direct_map. Both builds.
//
// Semantics, chosen for a hypervisor that populates on demand and later merges and balloons:
//   map       strict: the whole target range must have no translation at all, else
//             already_mapped and nothing is replaced (a silent remap is how guest memory gets
//             corrupted). A 4 KiB map inside a 2 MiB leaf is therefore an error: split first.
//   unmap     a range; holes are skipped; a large leaf that the range covers only partly is split
//             (like KVM) so that the rest keeps its translation. Table pages that become empty are
//             unlinked and freed after the batch's INVEPT, so no empty table page ever stays linked.
//   protect   a range's rights; holes skipped; partly covered large leaves split. With
//             no_exec_large_leaves, granting execute on a 2 MiB / 1 GiB leaf splits it to 4 KiB.
//   split     one large leaf into 512 leaves of the next size down, same translation.
//   merge     a full table of 512 equal leaves with contiguous HPAs aligned to the large size
//             into one large leaf; the table page is freed after the batch's INVEPT.
// Errors are Ept_status values; after an error the tables are consistent and every translation
// is either the old or the new one. out_of_memory in unmap / protect (a split needed a table page)
// leaves a prefix of the range changed.
// Not thread-safe: the owner (Guest_memory) serialises all calls on one EPT.
#pragma once
#include "mm/direct_map.hpp"
#include "mm/ept_invalidation.hpp"
#include "mm/ept_types.hpp"
#include "mm/frame_source.hpp"
#include <optional>
#include <type_traits>

namespace hv {

// Told of every translation the EPT removes or narrows (a leaf unmapped, a right taken away, a
// leaf pointed at another frame), before the batch's INVEPT: shadow paging (mm/shadow/) keeps
// translations derived from the EPT's and must drop them too. Called with the EPT's owner's lock
// held; must not change the EPT.
class Ept_change_listener {
public:
  virtual void translation_changed(Gpa gpa, u64 bytes) = 0;

protected:
  ~Ept_change_listener() = default;
};

class Ept {
public:
  Ept(Frame_source& frames, Direct_map direct_map, Ept_invalidator& invalidator, const Ept_config& config);
  ~Ept() { destroy(); }
  Ept(const Ept&) = delete;
  Ept& operator=(const Ept&) = delete;

  // Allocates the zeroed PML4. out_of_memory when the Frame_source has no page.
  Ept_status init();
  // Issues one INVEPT (the EPTP may still be cached), then frees every table page. Guest frames
  // the leaves point to are not the EPT's: free them first (for_each_leaf). No batch may be open.
  void destroy();

  [[nodiscard]] bool initialized() const { return root_entry_ != 0; }
  [[nodiscard]] Hpa pml4() const { return Hpa(ept_entry::address(root_entry_)); }
  // The VMCS field value: walk type from the config, 4 levels, A/D as configured, the PML4.
  [[nodiscard]] u64 eptp() const;
  [[nodiscard]] const Ept_config& config() const { return config_; }

  Ept_status map(Gpa gpa, Hpa hpa, Page_size size, Ept_attrs attrs);
  // `bytes / page_bytes(size)` leaves of one size with contiguous HPAs: one walk per table page
  // and a tight fill of the run, the fast path for large regions.
  Ept_map_result map_range(Gpa gpa, Hpa hpa, u64 bytes, Page_size size, Ept_attrs attrs);
  // Ranges are 4 KiB aligned.
  Ept_status unmap(Gpa gpa, u64 bytes, Ept_batch& batch);
  Ept_status protect(Gpa gpa, u64 bytes, Ept_rights rights, Ept_batch& batch);
  Ept_status split(Gpa gpa);
  Ept_status merge(Gpa gpa, Page_size target, Ept_batch& batch);

  // unmap() for a range whose ends are leaf boundaries, calling f(const Ept_leaf&) for every leaf
  // it removes, as it removes it (the balloon frees their frames). A leaf that straddles an end is
  // misaligned (nothing split; a prefix may be removed). f must not change the EPT; it may finish
  // the batch (an INVEPT mid-walk is safe: only unlinked tables are freed).
  template <typename F>
  Ept_status unmap_each(Gpa gpa, u64 bytes, Ept_batch& batch, F&& f) {
    return unmap_visiting(gpa, bytes, batch,
                          +[](void* ctx, const Ept_leaf& leaf) { (*static_cast<std::remove_reference_t<F>*>(ctx))(leaf); },
                          static_cast<void*>(&f));
  }

  // Replaces the leaf of exactly `size` at `gpa` (it must exist: else not_mapped) with one for
  // `hpa` and `attrs`, in place: the merger's remap to a shared frame and the CoW break's remap
  // to a private copy. Requests the batch's INVEPT when the frame changes or a right goes.
  Ept_status replace_leaf(Gpa gpa, Page_size size, Hpa hpa, Ept_attrs attrs, Ept_batch& batch);

  [[nodiscard]] std::optional<Ept_translation> translate(Gpa gpa) const;
  // The first leaf that maps an address in [from, limit), in GPA order (a leaf that contains
  // `from` counts); empty subtrees are skipped a whole entry at a time. The scanners' cursor.
  [[nodiscard]] std::optional<Ept_leaf> next_leaf(Gpa from, Gpa limit) const;
  // True when nothing in [base, base + page_bytes(size)) is mapped (base aligned to size).
  [[nodiscard]] bool range_unmapped(Gpa base, Page_size size) const;

  // Calls f(const Ept_leaf&) for every leaf in GPA order. f must not change the EPT.
  template <typename F>
  void for_each_leaf(F&& f) const {
    visit_leaves(+[](void* ctx, const Ept_leaf& leaf) { (*static_cast<std::remove_reference_t<F>*>(ctx))(leaf); },
                 const_cast<void*>(static_cast<const void*>(&f)));
  }

  // At most one listener (null: none).
  void set_listener(Ept_change_listener* listener) { listener_ = listener; }

  [[nodiscard]] u64 table_pages() const { return table_pages_; }   // PML4 included
  [[nodiscard]] u64 mapped_bytes() const { return mapped_bytes_; }

private:
  friend class Ept_batch;
  using Leaf_visitor = void (*)(void* ctx, const Ept_leaf& leaf);

  [[nodiscard]] u64* table(u64 entry) const { return direct_map_.ptr<u64>(Hpa(ept_entry::address(entry))); }
  [[nodiscard]] bool present(u64 entry) const { return ept_entry::present(entry, config_.mode_based_execute); }
  Ept_status check_attrs(Ept_attrs attrs, Page_size size) const;
  Ept_status check_range(Gpa gpa, u64 bytes, u64 alignment) const;
  Ept_status walk_create(u64 gpa, unsigned target_level, u64*& link, u64*& table_out);
  std::optional<Hpa> alloc_table();
  Ept_status split_entry(u64* entry, unsigned level);
  Ept_status unmap_visiting(Gpa gpa, u64 bytes, Ept_batch& batch, Leaf_visitor fn, void* ctx);
  Ept_status unmap_in(u64* link, unsigned level, u64 base, u64 start, u64 end, Ept_batch& batch, Leaf_visitor fn,
                      void* ctx);
  Ept_status protect_in(u64* link, unsigned level, u64 base, u64 start, u64 end, Ept_rights rights, Ept_batch& batch);
  void free_tables(u64 table_hpa, unsigned level);
  void visit_leaves(Leaf_visitor fn, void* ctx) const;
  void visit_table(const u64* t, unsigned level, u64 base, Leaf_visitor fn, void* ctx) const;

  Frame_source& frames_;
  Direct_map direct_map_;
  Ept_invalidator& invalidator_;
  Ept_config config_;
  // A made-up PML4 pointer: the root's address and, in bits 61:52, how many of its entries are
  // present, exactly as every non-leaf entry records its child table's count.
  u64 root_entry_ = 0;
  u64 table_pages_ = 0;
  u64 mapped_bytes_ = 0;
  u32 open_batches_ = 0;
  Ept_change_listener* listener_ = nullptr;

  void changed(u64 gpa, u64 bytes) {
    if (listener_) listener_->translation_changed(Gpa(gpa), bytes);
  }
};

} // namespace hv
