// tests/unit/support/merge_fixture.hpp - a small host for merger tests and benchmarks (hosted only):
// a Phys_arena with the real Frame_allocator, the reverse map (Shared_pages), a Merger, and VMs
// whose Guest_memory has one RAM slot each; guest accesses done as the CPU would do them (walk the
// EPT, take the EPT violation when the leaf does not allow the access, retry).
#pragma once
#include "mm/frame_allocator.hpp"
#include "mm/guest_memory.hpp"
#include "mm/merge/merger.hpp"
#include "tests/unit/support/ept_test_memory.hpp"
#include "tests/unit/support/phys_arena.hpp"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace hv::test {

class Merge_host {
public:
  // prefault: touch every page of the arena first, so that benchmarks measure the merger and not
  // the host kernel's first-touch faults (hv's RAM is always resident).
  explicit Merge_host(u64 host_bytes, bool prefault = false) : arena_(host_bytes) {
    if (prefault) std::memset(arena_.ptr(arena_.base()), 0, host_bytes);
    if (allocator_.init(arena_.usable_ranges(), arena_.direct_map()) != Frame_allocator_status::ok) {
      std::fprintf(stderr, "Merge_host: allocator init failed\n");
      std::abort();
    }
    free_at_start_ = allocator_.stats().free_frames;
    sharing_ = std::make_unique<Shared_pages>(allocator_);
    merger_ = std::make_unique<Merger>(*sharing_, allocator_);
  }
  ~Merge_host() {
    for (Vm_id v = 1; v < vms_.size(); ++v) stop_vm(v);
    merger_.reset();
    sharing_.reset();
  }

  // Adds VM `id` with `bytes` of RAM at GPA 0 (2 MiB frames when `large`), attached to the merger.
  Guest_memory& add_vm(Vm_id id, u64 bytes, bool large, bool merge = true) {
    if (vms_.size() <= id) vms_.resize(id + 1);
    Ept_config c;
    c.owner = id;
    c.max_phys_addr_bits = 46;
    Paging_policy p = default_paging_policy;
    p.prefer_2m_leaves = large;
    auto m = std::make_unique<Guest_memory>(allocator_, arena_.direct_map(), inv_, c, p);
    if (m->init() != Ept_status::ok || m->add_slot({Gpa(0), bytes, Memslot_kind::ram}) != Memslot_status::ok) std::abort();
    m->set_sharing(sharing_.get());
    if (merger_->attach(id, *m, merge) != Merge_status::ok) std::abort();
    vms_[id] = std::move(m);
    return *vms_[id];
  }
  void stop_vm(Vm_id id) {
    if (id >= vms_.size() || !vms_[id]) return;
    (void)merger_->detach(id);
    vms_[id].reset();  // destroy(): frees private frames, drops shared users
  }
  [[nodiscard]] Guest_memory* vm(Vm_id id) { return id < vms_.size() ? vms_[id].get() : nullptr; }

  // A guest write of `bytes` at `gpa` (within one page), as the CPU does it: EPT violation until
  // the leaf allows the write. False: the VM would have to wait for memory.
  bool write(Vm_id id, u64 gpa, const void* bytes, u64 n) {
    Guest_memory& m = *vms_[id];
    for (int attempt = 0; attempt < 4; ++attempt) {
      const auto t = m.ept().translate(Gpa(gpa));
      if (t && has_rights(t->leaf.attrs.rights, Ept_rights::write)) {
        std::memcpy(arena_.ptr(t->hpa), bytes, n);
        return true;
      }
      const auto r = m.handle_ept_violation(Gpa(gpa), Ept_access{false, true, false});
      if (r.action == Violation_action::out_of_memory) return false;
      if (r.action != Violation_action::resume) std::abort();
    }
    std::abort();
  }
  bool fill_page(Vm_id id, u64 gpa, u64 seed) {
    u64 page[page_size_4k / 8];
    fill_pattern(page, seed);
    return write(id, gpa, page, sizeof(page));
  }
  // What the guest reads at the page of `gpa` (zeros where nothing is mapped).
  void read_page(Vm_id id, u64 gpa, void* out) {
    const auto t = vms_[id]->ept().translate(Gpa(gpa & ~(page_size_4k - 1)));
    if (t) std::memcpy(out, arena_.ptr(t->hpa), page_size_4k);
    else std::memset(out, 0, page_size_4k);
  }
  static void fill_pattern(u64* page, u64 seed) {
    if (seed == 0) {
      std::memset(page, 0, page_size_4k);
      return;
    }
    u64 x = seed * 0x9E3779B97F4A7C15ull;
    for (u64 i = 0; i < page_size_4k / 8; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      page[i] = x;
    }
  }

  [[nodiscard]] u64 frames_in_use() const { return free_at_start_ - allocator_.stats().free_frames; }
  // The same without the merger's own tables (candidate index, reverse map), which grow as it scans.
  [[nodiscard]] u64 guest_frames_in_use() const { return frames_in_use() - merger_->stats().metadata_bytes / page_size_4k; }
  Frame_allocator& allocator() { return allocator_; }
  Shared_pages& sharing() { return *sharing_; }
  Merger& merger() { return *merger_; }
  Counting_invalidator& invalidator() { return inv_; }
  Phys_arena& arena() { return arena_; }

private:
  Phys_arena arena_;
  Frame_allocator allocator_;
  Counting_invalidator inv_;
  u64 free_at_start_ = 0;
  std::unique_ptr<Shared_pages> sharing_;
  std::unique_ptr<Merger> merger_;
  std::vector<std::unique_ptr<Guest_memory>> vms_;
};

} // namespace hv::test
