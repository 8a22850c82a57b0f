// mm/merge/merge_scan.cpp - the scan of one VM's pages: hash, pick candidates, write-protect a
// batch (one INVEPT), compare under protection, remap to shared frames (one more INVEPT), free
// what is no longer used. Both builds. See merger.hpp for the method and its correctness.
#include "lib/panic.hpp"
#include "mm/merge/merger.hpp"
#include "mm/merge/page_hash.hpp"

namespace hv {

namespace {
// The attributes of a guest leaf of `kind` with `rights`, keeping its memory type.
Ept_attrs with(const Ept_attrs& a, Ept_rights rights, u8 kind) { return Ept_attrs{rights, a.type, a.ignore_pat, kind}; }

u8 private_kind(Page_size size) {
  return size == Page_size::size_4k ? Guest_memory::frame_4k : Guest_memory::frame_part_of_2m;
}

// Sorts the first n pendings by VM (n <= 32: insertion sort).
template <typename P>
void sort_by_vm(P* p, u32 n) {
  for (u32 i = 1; i < n; ++i)
    for (u32 j = i; j > 0 && p[j - 1].vm > p[j].vm; --j) {
      const P t = p[j];
      p[j] = p[j - 1];
      p[j - 1] = t;
    }
}
} // namespace

u32 Merger::find_candidate(u64 key, Page_size size) const {
  return candidate_index_.find_each(key, [&](u32 i) {
    return candidates_[i].vm != no_vm && candidates_[i].size == static_cast<u8>(size);
  });
}

void Merger::add_candidate(const Candidate& c) {
  if (candidates_.size() >= Hash_index::empty - 1 || !candidates_.push_back(c)) {
    ++stats_.out_of_memory;
    return;
  }
  if (!candidate_index_.insert(c.key, static_cast<u32>(candidates_.size() - 1))) {
    candidates_[candidates_.size() - 1].vm = no_vm;
    ++stats_.out_of_memory;
  }
}

void Merger::drop_candidate(u32 index) {
  (void)candidate_index_.erase(candidates_[index].key, index);
  candidates_[index].vm = no_vm;
}

// Does the (protected) page still have the hash it was picked by? A pending partner has none
// recorded: its comparison against the frame it joins was its only chance.
bool Merger::unchanged(const Page& p, const void* data) {
  if (p.hash == 0) return false;
  if (p.size == Page_size::size_4k) return hash_page_4k(data) == p.hash;
  for (u32 j = 0; j < 512; ++j) sub_hashes_[j] = hash_page_4k(static_cast<const u8*>(data) + j * page_size_4k);
  return hash_2m_from_pages(sub_hashes_) == p.hash;
}

// Lock of `m` held. Decides whether enough of a private 2 MiB frame's pages could merge to pay for
// splitting it (docs/merge.md), and splits it (EPT leaf and allocator block) if so.
bool Merger::maybe_split_2m(Vm_id vm, Guest_memory& m, const Ept_leaf& leaf, const u64* sub) {
  u32 mergeable = 0;
  for (u32 i = 0; i < 512; ++i) {
    const u64 key = key_of(sub[i], vm, Page_size::size_4k);
    if ((sub[i] == zero_hash_4k_ && knobs_.release_zero_pages) || sharing_.has_hash(key) ||
        find_candidate(key, Page_size::size_4k) != Hash_index::empty) {
      ++mergeable;
      continue;
    }
    for (u32 j = 0; j < i; ++j) {  // equal to an earlier page of the same frame
      if (sub[j] == sub[i]) {
        ++mergeable;
        break;
      }
    }
    if (i - mergeable > 512 - knobs_.split_2m_min_pages) return false;  // cannot reach the threshold any more
  }
  if (mergeable < knobs_.split_2m_min_pages) return false;
  if (!m.split_2m_block(leaf)) {  // a table page for the 512 leaves
    ++stats_.out_of_memory;
    return false;
  }
  ++stats_.splits_2m;
  return true;
}

// Lock of the page's VM held. A 4 KiB page's plan: zero, merge (a stable frame or a partner of
// this pass may match), or unique (entered as a candidate). True: it goes into the batch.
bool Merger::plan_4k(Page& p, bool zero) {
  if (zero && knobs_.release_zero_pages) {
    p.plan = Plan::zero;
    return true;
  }
  // A partner from this pass, in case the shared frames with this hash are full or gone.
  p.candidate = find_candidate(p.key, Page_size::size_4k);
  if (p.candidate != Hash_index::empty || sharing_.has_hash(p.key)) return true;
  add_candidate(Candidate{p.key, p.gpa.value(), p.hpa.value(), static_cast<Vm_id>(p.vm), static_cast<u8>(p.size), {}});
  return false;
}

u64 Merger::scan_vm(Vm_id vm, Vm_entry& e, u64 budget) {
  Guest_memory& m = *e.memory;
  const Gpa end(ept_4level_gpa_limit);
  Page pages[batch_pages];
  u32 n = 0;
  u64 scanned = 0;
  {
    Spinlock_guard guard(m.lock_);
    // The scan is bound by memory: the next leaf's page is prefetched while this one is hashed
    // (hardware prefetchers stop at a 4 KiB boundary), and a 4 KiB page's plan is made one page
    // later, once its candidate-index slot (prefetched when it was hashed) is in the cache.
    std::optional<Ept_leaf> leaf = m.ept_.next_leaf(e.cursor, end);
    std::optional<Ept_leaf> ahead;
    Page held{};
    bool holding = false, held_zero = false;
    const auto flush_held = [&] {
      if (holding && plan_4k(held, held_zero)) pages[n++] = held;
      holding = false;
    };
    for (; n + 1 < batch_pages && scanned < budget; leaf = ahead) {
      if (!leaf) {
        e.cursor = end;
        break;
      }
      const Page_size size = leaf->size;
      if (size == Page_size::size_2m) {  // a 2 MiB frame goes in a batch of its own
        flush_held();
        if (n > 0) break;
      }
      e.cursor = leaf->gpa + page_bytes(size);
      ahead = m.ept_.next_leaf(e.cursor, end);
      if (size == Page_size::size_4k && ahead && ahead->size == Page_size::size_4k) {
        const auto* line = m.direct_map_.ptr<const u8>(ahead->hpa);
        for (u64 off = 0; off < page_size_4k; off += 64) __builtin_prefetch(line + off);
      }
      const u8 kind = leaf->attrs.software;
      // Already shared, 1 GiB, or a 4 KiB part of a 2 MiB block (exec split): nothing to do here.
      if (kind == Guest_memory::frame_shared || size == Page_size::size_1g || kind != private_kind(size)) {
        scanned += pages_4k(size);
        continue;
      }
      const void* data = m.direct_map_.ptr(leaf->hpa);
      scanned += pages_4k(size);
      if (size == Page_size::size_4k) {
        const u64 hash = hash_page_4k(data);
        const bool zero = hash == zero_hash_4k_ && page_is_zero(data, page_size_4k);
        const Page p{leaf->gpa, leaf->hpa, size, hash, key_of(hash, vm, size), leaf->attrs, Plan::merge,
                     Hash_index::empty, vm};
        candidate_index_.prefetch(p.key);
        flush_held();
        held = p;
        held_zero = zero;
        holding = true;
        continue;
      }
      bool all_zero = true;
      for (u32 i = 0; i < 512; ++i) {
        sub_hashes_[i] = hash_page_4k(static_cast<const u8*>(data) + i * page_size_4k);
        all_zero &= sub_hashes_[i] == zero_hash_4k_;
      }
      const u64 hash = hash_2m_from_pages(sub_hashes_);
      const bool zero = all_zero && page_is_zero(data, page_size_2m);
      Page p{leaf->gpa, leaf->hpa, size, hash, key_of(hash, vm, size), leaf->attrs, Plan::merge, Hash_index::empty, vm};
      if (zero && knobs_.release_zero_pages) {
        p.plan = Plan::zero;
      } else {
        p.candidate = find_candidate(p.key, size);
        if (p.candidate == Hash_index::empty && !sharing_.has_hash(p.key)) {
          if (maybe_split_2m(vm, m, *leaf, sub_hashes_)) {
            e.cursor = leaf->gpa;  // its pages are scanned (and counted) again, as 4 KiB pages
            ahead = m.ept_.next_leaf(e.cursor, end);
            scanned -= 512;
            continue;
          }
          add_candidate(Candidate{p.key, p.gpa.value(), p.hpa.value(), vm, static_cast<u8>(size), {}});
          continue;
        }
      }
      pages[n++] = p;
      break;
    }
    flush_held();
    if (n) scan_batch(vm, m, pages, n);
  }
  finish_pending();
  return scanned;
}

// Lock of `m` held.
void Merger::scan_batch(Vm_id vm, Guest_memory& m, Page* pages, u32 n) {
  if (race_hook_)
    for (u32 i = 0; i < n; ++i) race_hook_(race_ctx_, vm, pages[i].gpa, pages[i].hpa);
  {
    Ept_batch protect(m.ept_);  // taking write access away: one INVEPT for the batch
    for (u32 i = 0; i < n; ++i) {
      const Page& p = pages[i];
      const Ept_status s = m.ept_.replace_leaf(p.gpa, p.size, p.hpa, with(p.attrs, m.shared_rights(p.size), p.attrs.software), protect);
      HV_ASSERT(s == Ept_status::ok);
    }
  }
  Hpa to_free[batch_pages];
  Page_size free_size[batch_pages];
  bool free_zero[batch_pages];
  u32 frees = 0;
  {
    Ept_batch remap(m.ept_);
    for (u32 i = 0; i < n; ++i) {
      Page& p = pages[i];
      const u64 bytes = page_bytes(p.size);
      const void* data = m.direct_map_.ptr(p.hpa);
      const auto restore = [&] {
        const Ept_status s = m.ept_.replace_leaf(p.gpa, p.size, p.hpa, p.attrs, remap);  // adds rights: no INVEPT
        HV_ASSERT(s == Ept_status::ok);
      };
      if (p.plan == Plan::zero) {
        if (!page_is_zero(data, bytes)) {
          restore();
          ++pass_volatile_;
          continue;
        }
        const Ept_status s = m.ept_.unmap(p.gpa, bytes, remap);
        HV_ASSERT(s == Ept_status::ok);
        to_free[frees] = p.hpa, free_size[frees] = p.size, free_zero[frees++] = true;
        (p.size == Page_size::size_4k ? m.stats_.frames_4k : m.stats_.frames_2m) -= 1;
        m.stats_.zero_released += pages_4k(p.size);
        stats_.ksm_zero_pages += pages_4k(p.size);
        continue;
      }
      // Protected now: the contents cannot change under us. Join a shared frame with equal contents...
      const auto shared = sharing_.join(p.key, p.size, knobs_.max_page_sharing, vm, to_gfn(p.gpa), [&](Hpa frame) {
        return pages_equal(m.direct_map_.ptr(frame), data, bytes);
      });
      if (shared) {
        const Ept_status s = m.ept_.replace_leaf(p.gpa, p.size, *shared, with(p.attrs, m.shared_rights(p.size), Guest_memory::frame_shared), remap);
        HV_ASSERT(s == Ept_status::ok);
        to_free[frees] = p.hpa, free_size[frees] = p.size, free_zero[frees++] = false;
        (p.size == Page_size::size_4k ? m.stats_.frames_4k : m.stats_.frames_2m) -= 1;
        (p.size == Page_size::size_4k ? m.stats_.shared_4k : m.stats_.shared_2m) += 1;
        (p.size == Page_size::size_4k ? stats_.merges_4k : stats_.merges_2m) += 1;
        continue;
      }
      // ... or, if it still has the hash it was picked by, become the shared frame of its pair.
      if (!unchanged(p, data)) {
        restore();
        ++pass_volatile_;
        continue;
      }
      const bool paired = p.candidate != Hash_index::empty && candidates_[p.candidate].vm != no_vm &&
                          candidates_[p.candidate].key == p.key;
      if (!paired) {  // its partner went (merged meanwhile, or a full frame): wait for the next one
        restore();
        add_candidate(Candidate{p.key, p.gpa.value(), p.hpa.value(), vm, static_cast<u8>(p.size), {}});
        continue;
      }
      if (!sharing_.promote(p.hpa, p.size, p.key, vm, to_gfn(p.gpa))) {
        restore();
        ++stats_.out_of_memory;
        continue;
      }
      const Ept_status s = m.ept_.replace_leaf(p.gpa, p.size, p.hpa, with(p.attrs, m.shared_rights(p.size), Guest_memory::frame_shared), remap);
      HV_ASSERT(s == Ept_status::ok);
      (p.size == Page_size::size_4k ? m.stats_.frames_4k : m.stats_.frames_2m) -= 1;
      (p.size == Page_size::size_4k ? m.stats_.shared_4k : m.stats_.shared_2m) += 1;
      const Candidate& c = candidates_[p.candidate];
      if (pending_count_ < batch_pages) pending_[pending_count_++] = Pending{c.key, c.gpa, c.hpa, c.vm, c.size};
      drop_candidate(p.candidate);
    }
  }  // the INVEPT for the remapped leaves: only now may the old frames be reused
  for (u32 i = 0; i < frees; ++i) {
    const unsigned order = page_order(free_size[i]);
    if (free_zero[i]) frames_.free_zeroed_frames_on(no_cpu, to_free[i], order);
    else frames_.free_frames(to_free[i], order);
  }
}

// The partners of pages promoted in the last batch join their frames, VM by VM (one lock, two
// INVEPTs per VM). No VM lock held on entry.
void Merger::finish_pending() {
  sort_by_vm(pending_, pending_count_);
  u32 i = 0;
  while (i < pending_count_) {
    const Vm_id vm = pending_[i].vm;
    u32 end = i;
    while (end < pending_count_ && pending_[end].vm == vm) ++end;
    Vm_entry& e = vms_[vm];
    if (!e.memory || !e.merge) {
      i = end;
      continue;
    }
    Guest_memory& m = *e.memory;
    Spinlock_guard guard(m.lock_);
    Page pages[batch_pages];
    u32 n = 0;
    for (u32 k = i; k < end; ++k) {  // still the private page the candidate saw?
      const Pending& c = pending_[k];
      const Page_size size = static_cast<Page_size>(c.size);
      const auto t = m.ept_.translate(Gpa(c.gpa));
      if (!t || t->leaf.gpa.value() != c.gpa || t->leaf.size != size || t->leaf.hpa.value() != c.hpa ||
          t->leaf.attrs.software != private_kind(size))
        continue;
      pages[n++] = Page{Gpa(c.gpa), Hpa(c.hpa), size, 0, c.key, t->leaf.attrs, Plan::merge, Hash_index::empty, vm};
    }
    i = end;
    if (n == 0) continue;
    // scan_batch joins each page to the promoted frame (or puts it back); none of them has a
    // candidate any more, so none is promoted and nothing new is pending.
    scan_batch(vm, m, pages, n);
  }
  pending_count_ = 0;
}

} // namespace hv
