// mm/frame_allocator.cpp - see frame_allocator.hpp. Both builds.
// Lock discipline: lock_ guards blocks_ and usage_. Frame records are written outside the lock,
// by whoever owns the frames at that moment (the caller after taking a block, before giving one
// back). A cache's magazine is touched only by its CPU, and by the lock holder never.
#include "mm/frame_allocator.hpp"
#include "lib/panic.hpp"
#include <cstring>

namespace hv {
namespace {

constexpr Frame_record free_record(bool zeroed) {
  Frame_record r;
  r.set(Frame_flag::zeroed, zeroed);
  return r;
}

constexpr Frame_record reserved_record() {
  Frame_record r;
  r.use = Frame_use::reserved;
  return r;
}

constexpr unsigned floor_log2(u64 v) { return 63u - static_cast<unsigned>(__builtin_clzll(v)); }

// Frees [first, end) into `blocks` as the largest naturally aligned blocks that fit.
void give_range(Buddy_blocks& blocks, Hfn first, Hfn end) {
  while (first < end) {
    unsigned k = first.value() == 0 ? max_order : static_cast<unsigned>(__builtin_ctzll(first.value()));
    if (k > max_order) k = max_order;
    while ((u64{1} << k) > end - first) --k;
    blocks.give(first, k);
    first = first + (u64{1} << k);
  }
}

} // namespace

const char* frame_allocator_status_name(Frame_allocator_status status) {
  switch (status) {
  case Frame_allocator_status::ok: return "ok";
  case Frame_allocator_status::no_usable_memory: return "no usable memory";
  case Frame_allocator_status::bad_ranges: return "usable ranges not sorted, disjoint and page aligned";
  case Frame_allocator_status::no_room_for_metadata: return "no usable range can hold the frame table";
  case Frame_allocator_status::already_initialised: return "already initialised";
  }
  return "unknown";
}

Frame_allocator_status Frame_allocator::init(std::span<const Hpa_range> usable, Direct_map direct_map) {
  if (ready_) return Frame_allocator_status::already_initialised;
  u64 managed = 0;
  Hfn first;
  Hfn end;
  for (usize i = 0; i < usable.size(); ++i) {
    const Hpa_range& r = usable[i];
    if (!r.base.is_aligned(page_size_4k) || !r.end.is_aligned(page_size_4k) || r.end < r.base) {
      return Frame_allocator_status::bad_ranges;
    }
    if (i > 0 && r.base < usable[i - 1].end) return Frame_allocator_status::bad_ranges;
    if (r.pages() == 0) continue;
    if (managed == 0) first = to_hfn(r.base);
    end = to_hfn(r.end);
    managed += r.pages();
  }
  if (managed == 0) return Frame_allocator_status::no_usable_memory;

  // The table covers [first, end), holes included; the bitmaps follow it in the same carve.
  const u64 frames = end - first;
  const u64 words = Buddy_blocks::storage_words(first, end);
  const u64 meta_pages = (Frame_table::bytes_for(frames) + words * sizeof(u64) + page_size_4k - 1) >> page_shift;
  // Best fit keeps the large ranges (and their 1 GiB blocks) whole; carving from the range's end
  // leaves its (usually better aligned) start in large blocks.
  const Hpa_range* home = nullptr;
  for (const Hpa_range& r : usable) {
    if (r.pages() >= meta_pages && (home == nullptr || r.pages() < home->pages())) home = &r;
  }
  if (home == nullptr) return Frame_allocator_status::no_room_for_metadata;

  direct_map_ = direct_map;
  metadata_ = Hpa_range{home->end - (meta_pages << page_shift), home->end};
  auto* records = direct_map.ptr<Frame_record>(metadata_.base);
  table_ = Frame_table(std::span<Frame_record>(records, frames), first);
  table_.fill(first, frames, reserved_record());
  for (const Hpa_range& r : usable) table_.fill(to_hfn(r.base), r.pages(), free_record(false));
  table_.fill(to_hfn(metadata_.base), meta_pages, reserved_record());

  blocks_.init(reinterpret_cast<u64*>(records + frames), first, end);
  for (const Hpa_range& r : usable) {
    give_range(blocks_, to_hfn(r.base), to_hfn(&r == home ? metadata_.base : r.end));
  }
  managed_frames_ = managed;
  ready_ = true;
  log_info("mm", "frame allocator: {} MiB in {} ranges, frames {}..{}, table + bitmaps {} KiB at {}",
           (managed << page_shift) / MiB, usable.size(), first, end, (meta_pages << page_shift) / KiB,
           metadata_.base);
  return Frame_allocator_status::ok;
}

Frame_cache* Frame_allocator::cache_for(u32 cpu, unsigned order) {
  if (cpu == no_cpu) return nullptr;
  if (cpu >= frame_cache_cpus) panic("mm", "cpu index {} has no frame cache (limit {})", cpu, frame_cache_cpus);
  return order == 0 ? &caches_[cpu] : nullptr;
}

std::optional<Hpa> Frame_allocator::alloc(u32 cpu, unsigned order, Frame_use use, Vm_id owner, bool zeroed) {
  if (order > max_order) panic("mm", "frame allocation of order {} (max {})", order, max_order);
  if (use == Frame_use::free || use == Frame_use::reserved || static_cast<u8>(use) >= frame_use_count) {
    panic("mm", "frame allocation for use {}", static_cast<u32>(use));
  }
  if (!ready_) return std::nullopt;
  std::optional<Hfn> head;
  if (Frame_cache* cache = cache_for(cpu, order)) {
    head = take_from_cache(*cache);
    if (head) cache->usage.add(use, owner, 1);
  } else {
    for (int attempt = 0; attempt < 2 && !head; ++attempt) {
      {
        Spinlock_guard guard(lock_);
        head = blocks_.take(order);
        if (head) usage_.add(use, owner, i64{1} << order);
      }
      // Out of blocks this size: this CPU's own cached frames may complete one.
      if (head || cpu >= frame_cache_cpus || caches_[cpu].count.load(std::memory_order_relaxed) == 0) break;
      drain_cache(cpu);
    }
  }
  if (!head) return std::nullopt;
  claim(*head, order, use, owner, zeroed);
  return to_hpa(*head);
}

std::optional<Hfn> Frame_allocator::take_from_cache(Frame_cache& cache) {
  u32 n = cache.count.load(std::memory_order_relaxed);
  if (n == 0) {
    Spinlock_guard guard(lock_);
    while (n < frame_cache_batch) {
      unsigned k = 0;
      const std::optional<Hfn> block = blocks_.take_small(floor_log2(frame_cache_batch - n), k);
      if (!block) break;
      // Pushed high to low, so the lowest frame is handed out first.
      for (u64 i = u64{1} << k; i-- > 0;) cache.frames[n++] = *block + i;
    }
  }
  if (n == 0) return std::nullopt;
  const Hfn hfn = cache.frames[--n];
  cache.count.store(n, std::memory_order_relaxed);
  return hfn;
}

void Frame_allocator::put_in_cache(Frame_cache& cache, Hfn hfn) {
  if (cache.count.load(std::memory_order_relaxed) == frame_cache_capacity) drain(cache, frame_cache_batch);
  const u32 n = cache.count.load(std::memory_order_relaxed);
  cache.frames[n] = hfn;
  cache.count.store(n + 1, std::memory_order_relaxed);
}

void Frame_allocator::drain(Frame_cache& cache, u32 frames) {
  const u32 n = cache.count.load(std::memory_order_relaxed);
  if (frames > n) frames = n;
  if (frames == 0) return;
  {
    Spinlock_guard guard(lock_);
    for (u32 i = 0; i < frames; ++i) blocks_.give(cache.frames[i], 0); // the coldest ones
  }
  std::memmove(&cache.frames[0], &cache.frames[frames], (n - frames) * sizeof(Hfn));
  cache.count.store(n - frames, std::memory_order_relaxed);
}

void Frame_allocator::drain_cache(u32 cpu) {
  if (cpu >= frame_cache_cpus) panic("mm", "cpu index {} has no frame cache (limit {})", cpu, frame_cache_cpus);
  drain(caches_[cpu], frame_cache_capacity);
}

void Frame_allocator::drain_all_caches() {
  for (u32 cpu = 0; cpu < frame_cache_cpus; ++cpu) drain(caches_[cpu], frame_cache_capacity);
}

void Frame_allocator::claim(Hfn head, unsigned order, Frame_use use, Vm_id owner, bool zeroed) {
  Frame_record* r = &table_[head];
  const u64 n = u64{1} << order;
  Frame_record value;
  value.owner = owner;
  value.use = use;
  value.set_order(order);
  for (u64 i = 0; i < n; ++i) {
    if (r[i].use != Frame_use::free) {
      panic("mm", "frame {} handed out while its record says use {}: free blocks and table disagree", head + i,
            static_cast<u32>(r[i].use));
    }
    if (zeroed && !r[i].has(Frame_flag::zeroed)) std::memset(direct_map_.ptr(to_hpa(head + i)), 0, page_size_4k);
    value.refs = i == 0 ? 1 : 0;
    r[i] = value;
  }
}

Frame_allocator::Freed Frame_allocator::release(Hfn head, unsigned order, bool zeroed) {
  Frame_record* r = &table_[head];
  const Freed freed{r->use, r->owner};
  const u64 n = u64{1} << order;
  const Frame_record value = free_record(zeroed);
  for (u64 i = 0; i < n; ++i) r[i] = value;
  return freed;
}

Hfn Frame_allocator::check_block(Hpa base, unsigned order, const char* what) const {
  if (!ready_) panic("mm", "{} of {} before the frame allocator is ready", what, base);
  if (order > max_order) panic("mm", "{} of {}: order {} is beyond {}", what, base, order, max_order);
  if (!base.is_aligned(page_size_4k << order)) {
    panic("mm", "{} of {}: not aligned to its order-{} block size", what, base, order);
  }
  const Hfn head = to_hfn(base);
  if (!table_.contains(head, u64{1} << order)) panic("mm", "{} of {}: outside the managed RAM", what, base);
  const Frame_record& r = table_[head];
  if (r.use == Frame_use::free) panic("mm", "{} of {}: the frame is free (double free, or never allocated)", what, base);
  if (r.use == Frame_use::reserved) panic("mm", "{} of {}: not allocatable RAM", what, base);
  if (r.order() != order) panic("mm", "{} of {}: the block has order {}, not {}", what, base, r.order(), order);
  return head;
}

void Frame_allocator::free(u32 cpu, Hpa base, unsigned order, bool zeroed) {
  const Hfn head = check_block(base, order, "free");
  if (const u32 refs = table_.refs(head); refs > 1) panic("mm", "free of {}: still shared ({} references)", base, refs);
#if HV_HOSTED && defined(__SANITIZE_ADDRESS__)
  // Checked builds (the unit tests) hold the caller to its word; the claim is trusted elsewhere.
  if (zeroed) {
    const auto* words = direct_map_.ptr<const u64>(base);
    for (u64 i = 0; i < (page_size_4k << order) / sizeof(u64); ++i) {
      if (words[i] != 0) panic("mm", "free of {} as zeroed: byte {} is not zero", base, i * sizeof(u64));
    }
  }
#endif
  const Freed freed = release(head, order, zeroed);
  if (Frame_cache* cache = cache_for(cpu, order)) {
    cache->usage.add(freed.use, freed.owner, -1);
    put_in_cache(*cache, head);
    return;
  }
  Spinlock_guard guard(lock_);
  usage_.add(freed.use, freed.owner, -(i64{1} << order));
  blocks_.give(head, order);
}

std::optional<Hpa> Frame_allocator::alloc_frames(unsigned order, Frame_use use, Vm_id owner) {
  return alloc(no_cpu, order, use, owner, false);
}
void Frame_allocator::free_frames(Hpa base, unsigned order) { free(no_cpu, base, order, false); }

std::optional<Hpa> Frame_allocator::alloc_frames_on(u32 cpu, unsigned order, Frame_use use, Vm_id owner) {
  return alloc(cpu, order, use, owner, false);
}
void Frame_allocator::free_frames_on(u32 cpu, Hpa base, unsigned order) { free(cpu, base, order, false); }

std::optional<Hpa> Frame_allocator::alloc_zeroed_frames_on(u32 cpu, unsigned order, Frame_use use, Vm_id owner) {
  return alloc(cpu, order, use, owner, true);
}
void Frame_allocator::free_zeroed_frames_on(u32 cpu, Hpa base, unsigned order) { free(cpu, base, order, true); }

void Frame_allocator::zero_frames(Hpa base, unsigned order) {
  (void)check_block(base, order, "zeroing");
  std::memset(direct_map_.ptr(base), 0, page_size_4k << order);
}

void Frame_allocator::change_use(Hpa base, unsigned order, Frame_use use, Vm_id owner) {
  const Hfn head = check_block(base, order, "change of use");
  if (use == Frame_use::free || use == Frame_use::reserved || static_cast<u8>(use) >= frame_use_count) {
    panic("mm", "change of use of {} to use {}", base, static_cast<u32>(use));
  }
  Frame_record* r = &table_[head];
  const i64 n = i64{1} << order;
  {
    Spinlock_guard guard(lock_);
    usage_.add(r->use, r->owner, -n);
    usage_.add(use, owner, n);
  }
  for (i64 i = 0; i < n; ++i) {
    r[i].use = use;
    r[i].owner = owner;
  }
}

void Frame_allocator::split_block(Hpa base, unsigned order) {
  const Hfn head = check_block(base, order, "split");
  if (const u32 refs = table_.refs(head); refs != 1) panic("mm", "split of {}: {} references (must be 1)", base, refs);
  Frame_record* r = &table_[head];
  for (u64 i = 0; i < (u64{1} << order); ++i) {
    r[i].set_order(0);
    r[i].refs = 1;
  }
}

} // namespace hv
