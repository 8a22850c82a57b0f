// boot/memory_setup.cpp - after ExitBootServices and the switch to hv's page tables: the
// page-frame allocator over every usable range of the final memory map, and the memory core's
// self-check. Freestanding build only.
#include "boot/memory_setup.hpp"
#include "arch/x86/native/instructions.hpp"
#include "lib/log.hpp"
#include "mm/memory_map_import.hpp"
#include "mm/self_check.hpp"
#include "vmx/native/native_invept.hpp"

namespace hv::boot {
namespace {
constinit Frame_allocator g_frames{};
constinit Hpa_range g_ranges[512]{};
} // namespace

Frame_allocator& frame_allocator() { return g_frames; }

bool setup_frame_allocator(std::span<const Memory_region> map) {
  // Loader code/data (hv's image, its per-CPU areas, the host page tables, the files read from
  // the ESP) are not usable types, so they are never handed out. But the BSP still runs on the
  // stack the firmware gave efi_main, which is boot-services data, usable after boot: the whole
  // map region holding the current stack pointer stays out (with a 2 MiB-rounded margin, since
  // the stack may cross into a neighbouring region).
  const u64 rsp = x86::read_rsp();
  Hpa_range stack{Hpa((rsp - 64 * KiB) & ~(page_size_4k - 1)), Hpa((rsp + 64 * KiB) & ~(page_size_4k - 1))};
  for (const Memory_region& r : map) {
    if (r.base.value() <= rsp && rsp < r.end().value()) {
      if (r.base < stack.base) stack.base = r.base;
      if (r.end() > stack.end) stack.end = r.end();
    }
  }
  const Hpa_range exclusions[1] = {stack};
  log_info("mm", "the firmware stack hv still runs on ({:#x}..{:#x}) is kept out of the allocator", stack.base.value(),
           stack.end.value());
  const Memory_import_result imported = import_usable_memory(map, exclusions, physical_address_limit, g_ranges);
  if (imported.overflow) log_warn("mm", "more usable ranges than hv tracks: some RAM is left unused");
  const Frame_allocator_status s = g_frames.init(std::span<const Hpa_range>(g_ranges, imported.count), Direct_map(0));
  if (s != Frame_allocator_status::ok) {
    log_error("mm", "frame allocator: {}", frame_allocator_status_name(s));
    return false;
  }
  const Frame_stats st = g_frames.stats();
  log_info("mm", "frame allocator: {} ranges, {} MiB managed, {} KiB of metadata, {} MiB free", imported.count,
           st.managed_frames * page_size_4k / MiB, st.metadata_frames * page_size_4k / KiB,
           st.free_frames * page_size_4k / MiB);
  return true;
}

bool run_memory_self_check(const Ept_config& config, bool invept_single_context) {
  Native_invept invalidator(invept_single_context);
  // A 256 MiB guest, or half of what is free on a small machine (rounded to 2 MiB blocks).
  const u64 half_free = g_frames.stats().free_frames * page_size_4k / 2 / page_size_2m * page_size_2m;
  const Mm_self_check r = run_mm_self_check(g_frames, invalidator, config, half_free < 256 * MiB ? half_free : 256 * MiB);
  log_mm_self_check(r);
  return r.ok;
}

} // namespace hv::boot
