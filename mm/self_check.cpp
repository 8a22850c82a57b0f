// mm/self_check.cpp - see self_check.hpp. Both builds.
#include "mm/self_check.hpp"
#include "lib/log.hpp"

namespace hv {

Mm_self_check run_mm_self_check(Frame_allocator& frames, Ept_invalidator& invalidator, const Ept_config& ept_config,
                                u64 guest_bytes) {
  Mm_self_check r;
  r.guest_bytes = guest_bytes;
  frames.drain_all_caches();
  r.free_before = frames.stats().free_frames;
  {
    Guest_memory memory(frames, frames.direct_map(), invalidator, ept_config, default_paging_policy);
    if (memory.init() != Ept_status::ok) {
      r.failure = "no frame for the EPT root";
      return r;
    }
    if (memory.add_slot(Memslot{Gpa(0), guest_bytes, Memslot_kind::ram, 0}) != Memslot_status::ok) {
      r.failure = "the RAM slot was refused";
      return r;
    }
    // Touch every 4 KiB page once: the first touch of each 2 MiB range populates it, the rest
    // must find it mapped already.
    for (u64 gpa = 0; gpa < guest_bytes; gpa += page_size_4k) {
      const Violation_result v = memory.handle_ept_violation(Gpa(gpa), Ept_access{false, true, false});
      if (v.action != Violation_action::resume) {
        r.failure = v.action == Violation_action::out_of_memory ? "out of memory while populating" : "population refused";
        return r;
      }
    }
    // Every page translates, inside the frame its 2 MiB (or 4 KiB) leaf names, writable.
    for (u64 gpa = 0; gpa < guest_bytes; gpa += page_size_4k) {
      const std::optional<Ept_translation> t = memory.ept().translate(Gpa(gpa));
      if (!t || !(static_cast<u8>(t->leaf.attrs.rights) & static_cast<u8>(Ept_rights::write)) ||
          t->hpa.page_offset() != 0 || !t->hpa.is_aligned(page_size_4k)) {
        r.failure = "a populated page does not translate";
        return r;
      }
    }
    const Guest_memory_stats s = memory.stats();
    r.frames_2m = s.frames_2m;
    r.frames_4k = s.frames_4k;
    r.table_pages = s.table_pages;
    if (s.populated_bytes() != guest_bytes) {
      r.failure = "populated bytes differ from the guest size";
      return r;
    }
  }  // ~Guest_memory: guest frames and EPT tables go back
  frames.drain_all_caches();
  r.free_after = frames.stats().free_frames;
  r.ok = r.free_after == r.free_before;
  if (!r.ok) r.failure = "free frames differ after teardown";
  return r;
}

void log_mm_self_check(const Mm_self_check& r) {
  if (r.ok) {
    log_info("mm", "self-check: EPT for a {} MiB guest: {} x 2 MiB + {} x 4 KiB frames, {} table pages; free frames before {} after {}: ok",
             r.guest_bytes / MiB, r.frames_2m, r.frames_4k, r.table_pages, r.free_before, r.free_after);
  } else {
    log_error("mm", "self-check FAILED: {} (free frames before {} after {})", r.failure, r.free_before, r.free_after);
  }
}

} // namespace hv
