// devices/hypercall.cpp - see hypercall.hpp: the hypercalls that run out of line. Both builds.
// Every guest-supplied address is checked before use; a bad one is -EFAULT, never a host fault.
#include "devices/hypercall.hpp"
#include "mm/balloon.hpp"
#include "mm/guest_memory.hpp"
#include "mm/merge/merger.hpp"
#include <cstring>

namespace hv {
namespace {

// Writes a result struct to the guest's buffer at `gpa` (8-byte aligned, inside RAM, not
// wrapping): 0 or -EFAULT. copy_to_guest checks the whole range against the RAM slots first
// (nothing written outside RAM or into MMIO), and breaks the sharing if the buffer's page is merged.
template <typename T>
i64 write_result(const Hypercall_env& env, u64 gpa, const T& out) {
  if (gpa % 8 != 0 || gpa > ~u64{0} - sizeof(T)) return HC_EFAULT;
  u8 bytes[sizeof(T)];
  std::memcpy(bytes, &out, sizeof(T));
  const Guest_copy_result r = env.memory->copy_to_guest(Gpa(gpa), std::span<const u8>(bytes, sizeof(bytes)));
  return r.status == Guest_copy_status::ok ? 0 : HC_EFAULT;
}

i64 merge_stats(const Hypercall_args& args, const Hypercall_env& env) {
  if (!env.merger || !env.memory) return HC_ENOSYS;
  Merge_stats_guest out{};
  // Only this VM's lock, the merger's and the reverse map's: a guest that calls this in a loop
  // does not contend with other VMs' memory.
  const Guest_memory_stats mine = env.memory->stats();
  out.merging_pages = env.merger->merging_pages(env.vm);
  out.zero_released = mine.zero_released;
  out.cow_breaks = mine.cow_breaks;
  out.full_scans = env.merger->full_scans();
  out.run = env.merger->knobs().run;
  return write_result(env, args.a0, out);
}

i64 errno_of(Balloon_status s) {
  switch (s) {
  case Balloon_status::ok: return 0;
  case Balloon_status::bad_range: return HC_EINVAL;
  case Balloon_status::overlap: return HC_EEXIST;
  case Balloon_status::not_inflated: return HC_ENOENT;
  case Balloon_status::beyond_target: return HC_ENOSPC;
  case Balloon_status::too_long: return HC_E2BIG;
  case Balloon_status::no_memory: return HC_ENOMEM;
  }
  return HC_EINVAL;
}

// Copies `count` items of T from the guest's `gpa` into `out` (8-byte aligned, inside RAM, not
// wrapping). Copied once: the checks and the work that follow see one snapshot, whatever another
// vCPU writes meanwhile.
template <typename T>
bool copy_list(const Hypercall_env& env, u64 gpa, u64 count, T* out) {
  const u64 bytes = count * sizeof(T);
  if (gpa % 8 != 0 || gpa > ~u64{0} - bytes) return false;
  const Guest_copy_result r = env.memory->copy_from_guest(Gpa(gpa), std::span<u8>(reinterpret_cast<u8*>(out), bytes));
  return r.status == Guest_copy_status::ok;
}

i64 balloon_info(const Hypercall_args& args, const Hypercall_env& env) {
  return write_result(env, args.a0, env.balloon->info());
}

// INFLATE, DEFLATE, FREE_PAGE_REPORT: RBX = list, RCX = entries. Result: the pages done; a
// prefix of whole entries when memory ran short part-way (-ENOMEM only when nothing was done).
i64 balloon_list(const Hypercall_args& args, const Hypercall_env& env) {
  const u64 entries = args.a1;
  if (entries == 0) return HC_EINVAL;
  if (entries > balloon_list_max) return HC_E2BIG;
  Balloon_range list[balloon_list_max];
  if (!copy_list(env, args.a0, entries, list)) return HC_EFAULT;
  const std::span<const Balloon_range> l(list, entries);
  const Guest_memory::Balloon_result r = args.nr == hc::BALLOON_INFLATE   ? env.balloon->inflate(l)
                                         : args.nr == hc::BALLOON_DEFLATE ? env.balloon->deflate(l)
                                                                          : env.balloon->report_free(l);
  if (r.pages > 0 || r.status == Balloon_status::ok) return static_cast<i64>(r.pages);
  return errno_of(r.status);
}

i64 balloon_stats(const Hypercall_args& args, const Hypercall_env& env) {
  const u64 count = args.a1;
  if (count == 0) return HC_EINVAL;
  if (count > balloon_stats_max) return HC_E2BIG;
  Balloon_stat stats[balloon_stats_max];
  // The array is packed (10-byte entries): its start must be 8-byte aligned, as the lists'.
  if (!copy_list(env, args.a0, count, stats)) return HC_EFAULT;
  return errno_of(env.balloon->report_stats(std::span<const Balloon_stat>(stats, count)));
}

} // namespace

i64 run_hypercall(const Hypercall_args& args, Hypercall_counters& counters, const Hypercall_env& env) {
  switch (args.nr) {
  case hc::MERGE_STATS: return merge_stats(args, env);
  case hc::BALLOON_INFO:
  case hc::BALLOON_INFLATE:
  case hc::BALLOON_DEFLATE:
  case hc::BALLOON_STATS:
  case hc::FREE_PAGE_REPORT:
    if (!env.balloon || !env.memory) return HC_ENOSYS;
    if (args.nr == hc::BALLOON_INFO) return balloon_info(args, env);
    if (args.nr == hc::BALLOON_STATS) return balloon_stats(args, env);
    return balloon_list(args, env);
  default:
    ++counters.unknown;
    return HC_ENOSYS;
  }
}

} // namespace hv
