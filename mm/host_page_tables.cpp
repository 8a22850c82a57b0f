// mm/host_page_tables.cpp - see host_page_tables.hpp. Both builds.
#include "mm/host_page_tables.hpp"
#include "arch/x86/page_table_entry.hpp"
#include <cstring>

namespace hv {
namespace pte = x86::pte;

u64 host_leaf_bits(Host_rights rights, unsigned level) {
  u64 bits = pte::P | pte::A | pte::D;
  if (rights.write) bits |= pte::RW;
  if (!rights.execute) bits |= pte::NX;
  if (rights.uncached) bits |= pte::PCD | pte::PWT;
  if (level > 1) bits |= pte::PS;
  return bits;
}

namespace {
Host_rights rights_of(u64 entry) {
  return Host_rights{(entry & pte::RW) != 0, (entry & pte::NX) == 0, (entry & pte::PCD) != 0};
}
// Intermediate entries grant everything; the leaves decide.
constexpr u64 table_bits = pte::P | pte::RW | pte::A;
} // namespace

bool Host_page_tables::new_table(Hpa& out) {
  const auto frame = frames_.alloc_frames(order_4k, Frame_use::page_table, no_vm);
  if (!frame) return false;
  std::memset(table(*frame), 0, page_size_4k);
  ++table_pages_;
  out = *frame;
  return true;
}

bool Host_page_tables::init() { return new_table(pml4_); }

bool Host_page_tables::split(u64& entry, unsigned level) {
  // Replace a large leaf at `level` by a table of 512 leaves one level down, same translation.
  Hpa t;
  if (!new_table(t)) return false;
  const u64 base = entry & pte::address_mask & ~(pte::entry_span(level) - 1);
  const Host_rights r = rights_of(entry);
  u64* child = table(t);
  for (u64 i = 0; i < 512; ++i) child[i] = (base + i * pte::entry_span(level - 1)) | host_leaf_bits(r, level - 1);
  entry = t.value() | table_bits;
  return true;
}

Host_map_error Host_page_tables::map_level(Hpa table_hpa, unsigned level, u64 base, u64 end, Host_rights rights) {
  u64* t = table(table_hpa);
  const u64 span = pte::entry_span(level);
  for (u64 va = base; va < end;) {
    const u64 slot_start = va & ~(span - 1);
    const u64 slot_end = slot_start + span;
    const u64 chunk_end = end < slot_end ? end : slot_end;
    u64& e = t[pte::index(va, level)];
    const bool whole = va == slot_start && chunk_end == slot_end;
    const bool leaf_ok = level == 1 || level == 2 || (level == 3 && allow_1g_);
    if (whole && leaf_ok) {
      if ((e & pte::P) && !(e & pte::PS) && level > 1) free_level(Hpa(e & pte::address_mask), level - 1);
      e = slot_start | host_leaf_bits(rights, level);
    } else {
      if (level == 1) return Host_map_error::misaligned;  // cannot happen for 4 KiB-aligned input
      if (!(e & pte::P)) {
        Hpa child;
        if (!new_table(child)) return Host_map_error::out_of_memory;
        e = child.value() | table_bits;
      } else if (e & pte::PS) {
        if (!split(e, level)) return Host_map_error::out_of_memory;
      }
      const Host_map_error err = map_level(Hpa(e & pte::address_mask), level - 1, va, chunk_end, rights);
      if (err != Host_map_error::none) return err;
    }
    va = chunk_end;
  }
  return Host_map_error::none;
}

Host_map_error Host_page_tables::map_identity(u64 base, u64 bytes, Host_rights rights) {
  if ((base | bytes) & (page_size_4k - 1)) return Host_map_error::misaligned;
  if (bytes == 0) return Host_map_error::none;
  if (base + bytes < base || base + bytes > (1ull << 47)) return Host_map_error::misaligned;
  return map_level(pml4_, 4, base, base + bytes, rights);
}

Host_translation Host_page_tables::translate(u64 va) const {
  Host_translation out;
  Hpa t = pml4_;
  for (unsigned level = 4; level >= 1; --level) {
    const u64 e = table(t)[pte::index(va, level)];
    if (!(e & pte::P)) return out;
    if (level == 1 || (e & pte::PS)) {
      const u64 span = pte::entry_span(level);
      out.present = true;
      out.page_bytes = span;
      out.hpa = Hpa((e & pte::address_mask & ~(span - 1)) | (va & (span - 1)));
      out.rights = rights_of(e);
      return out;
    }
    t = Hpa(e & pte::address_mask);
  }
  return out;
}

void Host_page_tables::free_level(Hpa table_hpa, unsigned level) {
  if (level > 1) {
    u64* t = table(table_hpa);
    for (unsigned i = 0; i < 512; ++i) {
      if ((t[i] & pte::P) && !(t[i] & pte::PS)) free_level(Hpa(t[i] & pte::address_mask), level - 1);
    }
  }
  frames_.free_frames(table_hpa, order_4k);
  --table_pages_;
}

void Host_page_tables::destroy() {
  if (table_pages_ == 0) return;
  free_level(pml4_, 4);
  pml4_ = Hpa();
}

} // namespace hv
