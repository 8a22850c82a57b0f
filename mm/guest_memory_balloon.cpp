// mm/guest_memory_balloon.cpp - the balloon's page work on one VM's memory: inflate (unmap and
// free, the GFNs recorded in the balloon bitmap), deflate (forget them: populated on demand),
// free page reporting (unmap and free, not recorded), and splitting a 2 MiB block when only part
// of it goes. Both builds. The balloon's targets and accounting are mm/balloon.cpp.
//
// Frames are not scrubbed here: every path that hands a frame to a VM (demand population, a CoW
// copy, a table page) clears or overwrites it first, so a freed frame never carries one VM's data
// to another, and inflating costs page-table work, not memory bandwidth (as Linux zeroes on fault
// rather than on free).
#include "lib/panic.hpp"
#include "mm/guest_memory.hpp"
#include <cstring>

namespace hv {

const char* balloon_status_name(Balloon_status s) {
  switch (s) {
  case Balloon_status::ok: return "ok";
  case Balloon_status::bad_range: return "bad range";
  case Balloon_status::overlap: return "page already given or listed twice";
  case Balloon_status::not_inflated: return "page not in the balloon or listed twice";
  case Balloon_status::beyond_target: return "beyond the balloon target";
  case Balloon_status::too_long: return "list too long";
  case Balloon_status::no_memory: return "out of memory";
  }
  return "?";
}

// Frames unmapped in the current batch, freed once its INVEPT is done (no CPU may still reach
// them through a stale translation). Full: the batch is finished early.
struct Guest_memory::Pending_frees {
  static constexpr u32 capacity = balloon_list_max;  // one call of one-page entries: one INVEPT
  struct Block {
    Hpa hpa;
    unsigned order;
    bool shared;  // a shared frame: this VM (owner, at gfn) leaves its users; freed with the last
    u64 gfn;
  };
  Block blocks[capacity];
  u32 count = 0;
  u64 frames = 0;

  [[nodiscard]] bool full() const { return count == capacity; }
  void add(Hpa hpa, unsigned order) { blocks[count++] = Block{hpa, order, false, 0}; }
  void add_shared(Hpa hpa, unsigned order, Gfn gfn) { blocks[count++] = Block{hpa, order, true, gfn.value()}; }
  // A shared frame's user is dropped only after the INVEPT too: until then this VM's CPUs may still
  // read it, and another user that became the last could take it back and write it.
  void flush(Ept_batch& batch, Frame_source& frames_out, Shared_pages* sharing, Vm_id owner) {
    if (count == 0) return;
    batch.finish();
    for (u32 i = 0; i < count; ++i) {
      if (blocks[i].shared && sharing->drop(blocks[i].hpa, owner, Gfn(blocks[i].gfn)) != 0) continue;
      frames_out.free_frames(blocks[i].hpa, blocks[i].order);
      frames += u64{1} << blocks[i].order;
    }
    count = 0;
  }
};

u64 Guest_memory::balloon_pages() const {
  Spinlock_guard guard(lock_);
  return stats_.balloon_pages;
}

bool Guest_memory::in_balloon(Gfn gfn, u64 pages) const {
  if (!balloon_bits_.valid() || stats_.balloon_pages == 0) return false;
  const u64 g = gfn.value();
  if (g >= balloon_bits_.size()) return false;
  return balloon_bits_.any(g, pages < balloon_bits_.size() - g ? pages : balloon_bits_.size() - g);
}

void Guest_memory::take_from_balloon(Gpa gpa) {
  balloon_bits_.clear_bit(to_gfn(gpa).value());
  --stats_.balloon_pages;
  ++stats_.balloon_touched;
}

bool Guest_memory::ensure_balloon_bitmap() {
  if (balloon_bits_.valid()) return true;
  u64 end = 0;  // GFNs below the end of the highest RAM slot
  for (const Memslot& s : slots_.slots())
    if (s.kind == Memslot_kind::ram && to_gfn(s.base).value() + s.size / page_size_4k > end)
      end = to_gfn(s.base).value() + s.size / page_size_4k;
  const u64 bytes = Page_bitmap_view::words_for(end) * 8;
  unsigned order = 0;
  while ((page_size_4k << order) < bytes) ++order;
  if (order > max_order) return false;
  const auto frame = frames_.alloc_frames(order, Frame_use::hypervisor, ept_.config().owner);
  if (!frame) return false;
  std::memset(direct_map_.ptr(*frame), 0, page_size_4k << order);
  balloon_bitmap_hpa_ = *frame;
  balloon_bitmap_order_ = order;
  balloon_bits_ = Page_bitmap_view(direct_map_.ptr<u64>(*frame), end);
  return true;
}

void Guest_memory::free_balloon_bitmap() {
  if (!balloon_bits_.valid()) return;
  frames_.free_frames(balloon_bitmap_hpa_, balloon_bitmap_order_);
  balloon_bits_ = Page_bitmap_view();
  stats_.balloon_pages = 0;
}

Balloon_status Guest_memory::check_ranges(std::span<const Balloon_range> list, u64& pages) const {
  if (list.empty()) return Balloon_status::bad_range;
  if (list.size() > balloon_list_max) return Balloon_status::too_long;
  pages = 0;
  constexpr u64 gfn_limit = ept_4level_gpa_limit / page_size_4k;
  for (const Balloon_range& r : list) {
    if (r.pages == 0 || r.gfn >= gfn_limit || r.pages > gfn_limit - r.gfn) return Balloon_status::bad_range;
    const Gpa base(r.gfn * page_size_4k);
    const Memslot* slot = slots_.find(base);
    if (!slot || slot->kind != Memslot_kind::ram || !slot->contains(base, r.pages * page_size_4k))
      return Balloon_status::bad_range;
    // The bitmap covers the RAM slots it was made for (a slot added later is not balloonable).
    if (balloon_bits_.valid() && r.gfn + r.pages > balloon_bits_.size()) return Balloon_status::bad_range;
    pages += r.pages;
  }
  return Balloon_status::ok;
}

bool Guest_memory::split_2m_block(const Ept_leaf& leaf) {
  HV_ASSERT(leaf.attrs.software == frame_part_of_2m);
  const Gpa base(leaf.gpa.value() & ~(page_size_2m - 1));
  const Hpa head(leaf.hpa.value() - (leaf.gpa - base));
  if (!frames_.can_split_frames()) return false;  // nothing changed
  if (leaf.size == Page_size::size_2m && ept_.split(base) != Ept_status::ok) return false;  // a table page
  const bool split = frames_.split_frames(head, order_2m);
  HV_ASSERT(split);
  Ept_batch batch(ept_);  // same frames, rights only added: no INVEPT
  Ept_attrs attrs = leaf.attrs;
  attrs.rights = private_rights(Page_size::size_4k);
  attrs.software = frame_4k;
  for (u32 i = 0; i < 512; ++i) {
    const Ept_status s = ept_.replace_leaf(base + i * page_size_4k, Page_size::size_4k, head + i * page_size_4k, attrs, batch);
    HV_ASSERT(s == Ept_status::ok);
  }
  --stats_.frames_2m;
  stats_.frames_4k += 512;
  return true;
}

bool Guest_memory::split_at(Gpa gpa, u64* block_end) {
  if (block_end) *block_end = 0;
  for (;;) {
    const auto t = ept_.translate(gpa);
    if (!t) return true;  // a hole: nothing straddles it
    const Ept_leaf& leaf = t->leaf;
    // The host block behind the leaf: the leaf itself, or the 2 MiB block of an exec-split leaf.
    const bool part_of_2m = leaf.attrs.software == frame_part_of_2m;
    const u64 block_base = part_of_2m ? leaf.gpa.value() & ~(page_size_2m - 1) : leaf.gpa.value();
    if (block_base == gpa.value()) {
      if (block_end) *block_end = block_base + (part_of_2m ? page_size_2m : page_bytes(leaf.size));
      return true;
    }
    if (leaf.attrs.software == frame_shared) {
      // Part of a shared 2 MiB frame goes: this VM takes a private copy (or the frame) first.
      if (!break_sharing(leaf)) return false;
      continue;  // now a private 2 MiB leaf
    }
    HV_ASSERT(part_of_2m);  // private 4 KiB leaves are always whole blocks
    if (!split_2m_block(leaf)) return false;
    if (block_end) *block_end = gpa.value() + page_size_4k;
    return true;
  }
}

void Guest_memory::release_range(Gpa start, Gpa end, Ept_batch& batch, Pending_frees& pending) {
  // One walk: every leaf is removed as it is visited and its frame queued; a full queue finishes
  // the batch (the INVEPT) and frees what it holds, mid-walk.
  const Ept_status s = ept_.unmap_each(start, end - start, batch, [&](const Ept_leaf& leaf) {
    switch (leaf.attrs.software) {
    case frame_shared:
      HV_ASSERT(sharing_ != nullptr);
      if (leaf.size == Page_size::size_4k) --stats_.shared_4k;
      else --stats_.shared_2m;
      pending.add_shared(leaf.hpa, page_order(leaf.size), to_gfn(leaf.gpa));
      break;
    case frame_part_of_2m:
      // A whole 2 MiB block: one 2 MiB leaf, or 512 exec-split leaves, freed at the last of them
      // (so that all its frames are unmapped when it is freed).
      if (leaf.size == Page_size::size_2m) {
        pending.add(leaf.hpa, order_2m);
        --stats_.frames_2m;
      } else if ((leaf.gpa + page_size_4k).is_aligned(page_size_2m)) {
        pending.add(Hpa(leaf.hpa.value() + page_size_4k - page_size_2m), order_2m);
        --stats_.frames_2m;
      }
      break;
    default:
      HV_ASSERT(leaf.size == Page_size::size_4k);
      pending.add(leaf.hpa, order_4k);
      --stats_.frames_4k;
      break;
    }
    if (pending.full()) pending.flush(batch, frames_, sharing_, ept_.config().owner);
  });
  HV_ASSERT(s == Ept_status::ok);  // split_at made both ends boundaries: no split, no table page needed
}

Guest_memory::Balloon_result Guest_memory::give_back(std::span<const Balloon_range> list, Give_kind kind,
                                                     u64 max_balloon_pages) {
  Balloon_result r;
  u64 pages = 0;
  if ((r.status = check_ranges(list, pages)) != Balloon_status::ok) return r;
  if (kind == Give_kind::inflate && stats_.balloon_pages + pages > max_balloon_pages) {  // both below 2^52
    r.status = Balloon_status::beyond_target;
    return r;
  }
  if (!ensure_balloon_bitmap()) {
    r.status = Balloon_status::no_memory;
    return r;
  }
  // Marking the entries one by one finds a page already ballooned and an entry overlapping an
  // earlier one alike; on either, the marks made so far are taken back and nothing has changed.
  for (usize i = 0; i < list.size(); ++i) {
    if (balloon_bits_.any(list[i].gfn, list[i].pages)) {
      for (usize j = 0; j < i; ++j) balloon_bits_.clear(list[j].gfn, list[j].pages);
      r.status = Balloon_status::overlap;
      return r;
    }
    balloon_bits_.set(list[i].gfn, list[i].pages);
  }
  Ept_batch batch(ept_);
  Pending_frees pending;
  for (usize i = 0; i < list.size(); ++i) {
    const Gpa start(list[i].gfn * page_size_4k);
    const Gpa end = start + list[i].pages * page_size_4k;
    // The end needs its own look unless the block at the start ends exactly there (a one-page
    // entry on a 4 KiB frame, a 2 MiB range on a 2 MiB frame).
    u64 first_block_end = 0;
    if (!split_at(start, &first_block_end) || (first_block_end != end.value() && !split_at(end, nullptr))) {
      // This entry and the rest stay the guest's; the splits made so far are harmless.
      for (usize j = i; j < list.size(); ++j) balloon_bits_.clear(list[j].gfn, list[j].pages);
      r.status = Balloon_status::no_memory;
      break;
    }
    release_range(start, end, batch, pending);
    if (kind == Give_kind::report) balloon_bits_.clear(list[i].gfn, list[i].pages);
    r.pages += list[i].pages;
    ++r.entries;
  }
  pending.flush(batch, frames_, sharing_, ept_.config().owner);
  if (kind == Give_kind::inflate) stats_.balloon_pages += r.pages;
  else stats_.free_reported += r.pages;
  stats_.balloon_frames_freed += pending.frames;
  return r;
}

Guest_memory::Balloon_result Guest_memory::balloon_inflate(std::span<const Balloon_range> list, u64 max_balloon_pages) {
  Spinlock_guard guard(lock_);
  return give_back(list, Give_kind::inflate, max_balloon_pages);
}

Guest_memory::Balloon_result Guest_memory::free_page_report(std::span<const Balloon_range> list) {
  Spinlock_guard guard(lock_);
  return give_back(list, Give_kind::report, ~u64{0});
}

Guest_memory::Balloon_result Guest_memory::balloon_deflate(std::span<const Balloon_range> list) {
  Spinlock_guard guard(lock_);
  Balloon_result r;
  u64 pages = 0;
  if ((r.status = check_ranges(list, pages)) != Balloon_status::ok) return r;
  // Clearing the entries one by one finds a page not in the balloon and a repeated page alike.
  for (usize i = 0; i < list.size(); ++i) {
    if (!balloon_bits_.valid() || !balloon_bits_.all(list[i].gfn, list[i].pages)) {
      for (usize j = 0; j < i; ++j) balloon_bits_.set(list[j].gfn, list[j].pages);
      r.status = Balloon_status::not_inflated;
      return r;
    }
    balloon_bits_.clear(list[i].gfn, list[i].pages);
  }
  stats_.balloon_pages -= pages;
  r.pages = pages;
  r.entries = static_cast<u32>(list.size());
  return r;
}

} // namespace hv
