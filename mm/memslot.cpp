// mm/memslot.cpp - the memslot table. Both builds.
#include "mm/memslot.hpp"
#include "arch/x86/ept_entry.hpp"

namespace hv {

const char* memslot_kind_name(Memslot_kind kind) {
  switch (kind) {
  case Memslot_kind::ram: return "ram";
  case Memslot_kind::mmio: return "mmio";
  case Memslot_kind::reserved: return "reserved";
  }
  return "?";
}

const char* memslot_status_name(Memslot_status s) {
  switch (s) {
  case Memslot_status::ok: return "ok";
  case Memslot_status::empty: return "empty slot";
  case Memslot_status::misaligned: return "slot not 4 KiB aligned";
  case Memslot_status::out_of_range: return "slot beyond the guest-physical address space";
  case Memslot_status::overlaps: return "slot overlaps another";
  case Memslot_status::full: return "no free slot";
  }
  return "?";
}

Memslot_status Memslot_table::add(const Memslot& slot) {
  if (slot.size == 0) return Memslot_status::empty;
  if (!slot.base.is_aligned(page_size_4k) || (slot.size & (page_size_4k - 1))) return Memslot_status::misaligned;
  if (slot.base.value() >= ept_4level_gpa_limit || slot.size > ept_4level_gpa_limit - slot.base.value())
    return Memslot_status::out_of_range;
  // Slots are sorted and disjoint: once the new slot ends before slot `at` begins, it ends before
  // all later ones too.
  usize at = 0;
  for (; at < count_; ++at) {
    const Memslot& s = slots_[at];
    if (slot.base < s.end() && s.base < slot.end()) return Memslot_status::overlaps;
    if (slot.base < s.base) break;
  }
  if (count_ == capacity) return Memslot_status::full;
  for (usize i = count_; i > at; --i) slots_[i] = slots_[i - 1];
  slots_[at] = slot;
  ++count_;
  return Memslot_status::ok;
}

const Memslot* Memslot_table::find(Gpa gpa) const {
  for (usize i = 0; i < count_; ++i)
    if (slots_[i].contains(gpa)) return &slots_[i];
  return nullptr;
}

bool Memslot_table::all_ram(Gpa start, u64 bytes) const {
  if (start.value() > ~0ull - bytes) return false;
  Gpa at = start;
  const Gpa end = start + bytes;
  while (at < end) {
    const Memslot* s = find(at);
    if (!s || s->kind != Memslot_kind::ram) return false;
    at = s->end();
  }
  return true;
}

u64 Memslot_table::ram_bytes() const {
  u64 n = 0;
  for (usize i = 0; i < count_; ++i)
    if (slots_[i].kind == Memslot_kind::ram) n += slots_[i].size;
  return n;
}

} // namespace hv
