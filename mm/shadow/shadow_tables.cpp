// mm/shadow/shadow_tables.cpp - the shadow MMU's tables: allocation within the budget, unlinking
// and freeing subtrees, the tracked-GFN index (write-protected guest tables) and the rmap from
// GFNs to shadow leaves. Both builds. The lock of the VM's Guest_memory is held throughout.
#include "arch/x86/page_table_entry.hpp"
#include "lib/panic.hpp"
#include "mm/shadow/shadow_mmu.hpp"
#include <cstring>

namespace hv {

namespace pte = x86::pte;

namespace {
constexpr u32 rmap_buckets = 4096;
constexpr u32 gfn_buckets = 1024;
constexpr u64 sp_index_shift = 52;  // bits 62:52 of a non-leaf shadow entry: its child's index
constexpr u64 sp_index_mask = 0x7FFull << sp_index_shift;

u32 hash_u64(u64 v, u32 buckets) { return static_cast<u32>((v * 0x9E3779B97F4A7C15ull) >> 40) & (buckets - 1); }
u32 link_of(u32 page, unsigned index) { return (page << 9 | index) + 1; }
u32 link_page(u32 link) { return (link - 1) >> 9; }
unsigned link_index(u32 link) { return (link - 1) & 511; }
bool present(u64 e) { return e & pte::P; }
bool is_leaf(u64 e, u8 level) { return level == 1 || (e & pte::PS); }
u32 child_index(u64 e) { return static_cast<u32>((e & sp_index_mask) >> sp_index_shift); }
} // namespace

Shadow_mmu::Shadow_mmu(Guest_memory& memory, Frame_source& frames, Direct_map direct_map, const Shadow_config& config,
                       std::atomic<u64>* flush_request, std::atomic<bool>* entry_work)
    : memory_(memory), frames_(frames), direct_map_(direct_map), config_(config), flush_request_(flush_request),
      entry_work_(entry_work) {
  if (config_.max_table_pages < shadow_min_table_pages) config_.max_table_pages = shadow_min_table_pages;
  if (config_.max_table_pages > shadow_max_table_pages) config_.max_table_pages = shadow_max_table_pages;
  if (config_.max_roots < 1) config_.max_roots = 1;
  if (config_.max_roots > shadow_max_roots) config_.max_roots = shadow_max_roots;
}

bool Shadow_mmu::init() {
  if (initialized_) return true;
  const u64 bytes = u64{config_.max_table_pages} * sizeof(Page) + rmap_buckets * 4 + gfn_buckets * 4;
  unsigned order = 0;
  while ((page_size_4k << order) < bytes) ++order;
  const auto block = frames_.alloc_frames(order, Frame_use::hypervisor, memory_.ept_.config().owner);
  if (!block) return false;
  book_hpa_ = *block;
  book_order_ = order;
  u8* base = direct_map_.ptr<u8>(*block);
  std::memset(base, 0, page_size_4k << order);
  pages_ = reinterpret_cast<Page*>(base);
  for (u32 i = 0; i < config_.max_table_pages; ++i) {
    new (&pages_[i]) Page{};
    pages_[i].gfn_next = i + 1 < config_.max_table_pages ? i + 1 : none;
  }
  free_head_ = 0;
  rmap_heads_ = reinterpret_cast<u32*>(base + u64{config_.max_table_pages} * sizeof(Page));
  gfn_heads_ = rmap_heads_ + rmap_buckets;
  for (u32 i = 0; i < gfn_buckets; ++i) gfn_heads_[i] = none;
  for (auto& r : roots_) r = Root{};
  in_use_ = 0;
  current_ = 0;
  stats_ = Shadow_stats{};  // per run of the VM, like its other counters
  pending_count_ = 0;
  pending_all_ = false;
  stepping_ = false;
  initialized_ = true;
  Spinlock_guard guard(memory_.lock_);
  memory_.ept_.set_listener(this);
  return true;
}

void Shadow_mmu::destroy() {
  if (!initialized_) return;
  {
    Spinlock_guard guard(memory_.lock_);
    memory_.ept_.set_listener(nullptr);
    for (u32 s = 0; s < shadow_max_roots; ++s) drop_root(s);
  }
  HV_ASSERT(in_use_ == 0);
  frames_.free_frames(book_hpa_, book_order_);
  pages_ = nullptr;
  initialized_ = false;
}

u32 Shadow_mmu::alloc_page(u8 level, u64 guest_gfn, bool direct, u32 parent, u16 parent_index, u8 root) {
  if (free_head_ == none) return none;
  const Vm_id owner = memory_.ept_.config().owner;
  const auto t = frames_.alloc_frames(order_4k, Frame_use::page_table, owner);
  if (!t) return none;
  std::optional<Hpa> m;
  if (level <= 2) {
    m = frames_.alloc_frames(order_4k, Frame_use::hypervisor, owner);
    if (!m) {
      frames_.free_frames(*t, order_4k);
      return none;
    }
    ++stats_.rmap_pages;
  }
  std::memset(direct_map_.ptr(*t), 0, page_size_4k);
  const u32 i = free_head_;
  free_head_ = pages_[i].gfn_next;
  Page& p = pages_[i];
  p = Page{};
  p.table = t->value();
  p.meta = m ? m->value() : 0;
  p.guest_gfn = guest_gfn;
  p.parent = parent;
  p.parent_index = parent_index;
  p.level = level;
  p.direct = direct;
  p.root = root;
  ++in_use_;
  stats_.table_pages = in_use_;
  if (in_use_ > stats_.table_pages_peak) stats_.table_pages_peak = in_use_;
  return i;
}

void Shadow_mmu::free_subtree(u32 page) {
  Page& p = pages_[page];
  u64* t = table(page);
  for (unsigned e = 0; e < 512; ++e) {
    const u64 v = t[e];
    if (!present(v)) continue;
    if (is_leaf(v, p.level)) {
      clear_leaf(page, e);
    } else {
      free_subtree(child_index(v));
      t[e] = 0;
    }
  }
  if (p.tracked) untrack(page);
  frames_.free_frames(Hpa(p.table), order_4k);
  if (p.meta) {
    frames_.free_frames(Hpa(p.meta), order_4k);
    --stats_.rmap_pages;
  }
  p = Page{};
  p.gfn_next = free_head_;
  free_head_ = page;
  --in_use_;
  stats_.table_pages = in_use_;
}

void Shadow_mmu::unlink(u32 page) {
  const Page& p = pages_[page];
  HV_ASSERT(p.parent != none);
  table(p.parent)[p.parent_index] = 0;
  free_subtree(page);
  request_flush();
}

void Shadow_mmu::clear_root(u32 page) {
  u64* t = table(page);
  for (unsigned e = 0; e < 512; ++e) {
    if (!present(t[e])) continue;
    free_subtree(child_index(t[e]));
    t[e] = 0;
  }
  if (pages_[page].tracked) untrack(page);
  request_flush();
}

void Shadow_mmu::drop_root(u32 slot) {
  Root& r = roots_[slot];
  if (r.page == none) return;
  free_subtree(r.page);
  r = Root{};
  request_flush();
}

bool Shadow_mmu::recycle(u32 keep_slot) {
  ++stats_.recycles;
  u32 victim = none;
  for (u32 s = 0; s < config_.max_roots; ++s) {
    if (s == keep_slot || roots_[s].page == none) continue;
    if (victim == none || roots_[s].last_use < roots_[victim].last_use) victim = s;
  }
  if (victim != none) {
    drop_root(victim);
    ++stats_.root_evictions;
    return true;
  }
  const u32 root = roots_[keep_slot].page;
  if (root == none) return false;
  const u32 before = in_use_;
  clear_root(root);
  return in_use_ < before;
}

// ---- tracked guest tables ----

void Shadow_mmu::track(u32 page) {
  Page& p = pages_[page];
  if (p.tracked || p.direct) return;
  p.tracked = true;
  const u32 h = hash_u64(p.guest_gfn, gfn_buckets);
  p.gfn_next = gfn_heads_[h];
  gfn_heads_[h] = page;
  ++stats_.tracked_tables;
  write_protect_gfn(p.guest_gfn);
}

void Shadow_mmu::untrack(u32 page) {
  Page& p = pages_[page];
  if (!p.tracked) return;
  u32* link = &gfn_heads_[hash_u64(p.guest_gfn, gfn_buckets)];
  while (*link != page) {
    HV_ASSERT(*link != none);
    link = &pages_[*link].gfn_next;
  }
  *link = p.gfn_next;
  p.gfn_next = none;
  p.tracked = false;
  --stats_.tracked_tables;
}

bool Shadow_mmu::gfn_tracked(u64 gfn) const {
  for (u32 i = gfn_heads_[hash_u64(gfn, gfn_buckets)]; i != none; i = pages_[i].gfn_next)
    if (pages_[i].guest_gfn == gfn) return true;
  return false;
}

bool Shadow_mmu::range_tracked(u64 first_gfn, u64 count) const {
  if (stats_.tracked_tables == 0) return false;
  if (stats_.tracked_tables < count) {
    for (u32 i = 0; i < config_.max_table_pages; ++i)
      if (pages_[i].tracked && pages_[i].guest_gfn - first_gfn < count) return true;
    return false;
  }
  for (u64 g = first_gfn; g < first_gfn + count; ++g)
    if (gfn_tracked(g)) return true;
  return false;
}

void Shadow_mmu::drop_shadows_of(u64 gfn) {
  ++stats_.table_writes;
  for (;;) {
    u32 found = none;
    for (u32 i = gfn_heads_[hash_u64(gfn, gfn_buckets)]; i != none; i = pages_[i].gfn_next)
      if (pages_[i].guest_gfn == gfn) { found = i; break; }
    if (found == none) return;
    if (pages_[found].parent == none) clear_root(found);
    else unlink(found);
  }
}

// ---- leaves and the rmap ----

void Shadow_mmu::set_leaf(u32 page, unsigned index, u64 value, u64 key) {
  u64* t = table(page);
  if (present(t[index])) {
    const u64 old = t[index];
    const bool same_key = meta_keys(page)[index] == key;
    if (!same_key) rmap_remove(page, index);
    // Narrowing or moving a present leaf needs a flush; widening it does not (the fault that led
    // here already dropped the TLB entry for the address).
    if ((old & pte::address_mask) != (value & pte::address_mask) || ((old & pte::RW) && !(value & pte::RW)) ||
        ((old & pte::US) && !(value & pte::US)) || (!(old & pte::NX) && (value & pte::NX)))
      request_flush();
    t[index] = value;
    if (!same_key) rmap_insert(page, index, key);
    return;
  }
  t[index] = value;
  rmap_insert(page, index, key);
}

void Shadow_mmu::clear_leaf(u32 page, unsigned index) {
  u64* t = table(page);
  if (!present(t[index])) return;
  rmap_remove(page, index);
  t[index] = 0;
}

void Shadow_mmu::rmap_insert(u32 page, unsigned index, u64 key) {
  HV_ASSERT(pages_[page].meta != 0);
  const u32 h = hash_u64(key, rmap_buckets);
  meta_keys(page)[index] = static_cast<u32>(key);
  meta_next(page)[index] = rmap_heads_[h];
  rmap_heads_[h] = link_of(page, index);
}

void Shadow_mmu::rmap_remove(u32 page, unsigned index) {
  const u32 key = meta_keys(page)[index];
  const u32 me = link_of(page, index);
  u32* link = &rmap_heads_[hash_u64(key, rmap_buckets)];
  while (*link != me) {
    HV_ASSERT(*link != 0);
    link = &meta_next(link_page(*link))[link_index(*link)];
  }
  *link = meta_next(page)[index];
  meta_next(page)[index] = 0;
}

void Shadow_mmu::write_protect_gfn(u64 gfn) {
  bool changed = false;
  const u32 key4k = static_cast<u32>(gfn << 1);
  for (u32 l = rmap_heads_[hash_u64(key4k, rmap_buckets)]; l != 0;) {
    const u32 page = link_page(l);
    const unsigned index = link_index(l);
    l = meta_next(page)[index];
    if (meta_keys(page)[index] != key4k) continue;
    u64& e = table(page)[index];
    if (e & pte::RW) {
      e &= ~(pte::RW | pte::D);
      changed = true;
    }
  }
  // A 2 MiB shadow leaf over the page cannot be read-only for one 4 KiB page: it goes (the next
  // fault maps that range with 4 KiB shadow leaves).
  const u64 key2m = (gfn & ~u64{511}) << 1 | 1;
  for (u32 l = rmap_heads_[hash_u64(key2m, rmap_buckets)]; l != 0;) {
    const u32 page = link_page(l);
    const unsigned index = link_index(l);
    l = meta_next(page)[index];
    if (meta_keys(page)[index] != static_cast<u32>(key2m)) continue;
    clear_leaf(page, index);
    changed = true;
  }
  if (changed) request_flush();
}

void Shadow_mmu::clear_key(u64 key) {
  for (u32 l = rmap_heads_[hash_u64(key, rmap_buckets)]; l != 0;) {
    const u32 page = link_page(l);
    const unsigned index = link_index(l);
    l = meta_next(page)[index];
    if (meta_keys(page)[index] != static_cast<u32>(key)) continue;
    clear_leaf(page, index);
    ++stats_.map_changes;
    request_flush();
  }
}

void Shadow_mmu::translation_changed(Gpa gpa, u64 bytes) {
  if (!initialized_ || in_use_ == 0) return;
  const u64 first = to_gfn(gpa).value();
  const u64 count = (bytes + page_size_4k - 1) / page_size_4k;
  for (u64 g = first; g < first + count; ++g) clear_key(g << 1);
  for (u64 g = first & ~u64{511}; g < first + count; g += 512) clear_key(g << 1 | 1);
  // A guest table whose page went (ballooned, reported) or moved (merged, unshared): its shadows
  // were built from the old contents. Noted here, dropped on the vCPU's CPU before it enters.
  if (!range_tracked(first, count)) return;
  for (u64 g = first; g < first + count && !pending_all_; ++g) {
    if (!gfn_tracked(g)) continue;
    if (pending_count_ == max_pending) pending_all_ = true;
    else pending_gfns_[pending_count_++] = g;
  }
  if (entry_work_) entry_work_->store(true, std::memory_order_seq_cst);
  request_flush();
}

void Shadow_mmu::before_entry() {
  if (entry_work_) entry_work_->store(false, std::memory_order_seq_cst);  // before the work: a later note sets it again
  Spinlock_guard guard(memory_.lock_);
  if (pending_all_) {
    for (u32 s = 0; s < config_.max_roots; ++s)
      if (roots_[s].page != none) clear_root(roots_[s].page);
  } else {
    for (u32 i = 0; i < pending_count_; ++i) drop_shadows_of(pending_gfns_[i]);
  }
  pending_all_ = false;
  pending_count_ = 0;
}

u32 Shadow_mmu::root_vpids(u16* out, u32 capacity) const {
  u32 n = 0;
  if (!config_.vpid) return 0;
  for (u32 s = 0; s < config_.max_roots && n < capacity; ++s)
    if (roots_[s].page != none) out[n++] = static_cast<u16>(config_.first_vpid + s);
  return n;
}

Shadow_stats Shadow_mmu::stats() const {
  Spinlock_guard guard(memory_.lock_);
  return stats_;
}

} // namespace hv
