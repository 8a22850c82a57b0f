// devices/hypercall.cpp - see hypercall.hpp: the hypercalls that run out of line. Both builds.
// Every guest-supplied address is checked before use; a bad one is -EFAULT, never a host fault.
#include "devices/hypercall.hpp"
#include "mm/guest_memory.hpp"
#include "mm/merge/merger.hpp"
#include <cstring>

namespace hv {
namespace {

i64 merge_stats(const Hypercall_args& args, const Hypercall_env& env) {
  if (!env.merger || !env.memory) return HC_ENOSYS;
  const u64 gpa = args.a0;
  if (gpa % 8 != 0 || gpa > ~u64{0} - sizeof(Merge_stats_guest)) return HC_EFAULT;
  Merge_stats_guest out{};
  // Only this VM's lock, the merger's and the reverse map's: a guest that calls this in a loop
  // does not contend with other VMs' memory.
  const Guest_memory_stats mine = env.memory->stats();
  out.merging_pages = env.merger->merging_pages(env.vm);
  out.zero_released = mine.zero_released;
  out.cow_breaks = mine.cow_breaks;
  out.full_scans = env.merger->full_scans();
  out.run = env.merger->knobs().run;
  u8 bytes[sizeof(out)];
  std::memcpy(bytes, &out, sizeof(out));
  // copy_to_guest checks the whole range against the RAM slots first (nothing written outside
  // RAM or into MMIO), and breaks the sharing if the buffer's page is merged.
  const Guest_copy_result r = env.memory->copy_to_guest(Gpa(gpa), std::span<const u8>(bytes, sizeof(bytes)));
  return r.status == Guest_copy_status::ok ? 0 : HC_EFAULT;
}

} // namespace

i64 run_hypercall(const Hypercall_args& args, Hypercall_counters& counters, const Hypercall_env& env) {
  switch (args.nr) {
  case hc::MERGE_STATS: return merge_stats(args, env);
  default:
    ++counters.unknown;
    return HC_ENOSYS;
  }
}

} // namespace hv
