// mm/balloon_policy.cpp - the auto-balloon policy; see balloon_policy.hpp. Both builds.
#include "mm/balloon_policy.hpp"

namespace hv {
namespace {

constexpr u64 min_of(u64 a, u64 b) { return a < b ? a : b; }

// The size the VM is asked to keep now, and the balloon target that follows from it.
constexpr u64 effective_size(const Balloon_policy_vm& v) { return min_of(v.size_pages, v.auto_limit_pages); }
constexpr u64 target_of(const Balloon_policy_vm& v) {
  const u64 keep = effective_size(v);
  return keep < v.memory_pages ? v.memory_pages - keep : 0;
}
// Frames a balloon will free once its driver reaches the target: the guest keeps memory - target
// pages of its own, so it can have no more populated than that.
constexpr u64 coming_back(const Balloon_policy_vm& v) {
  const u64 keep = v.memory_pages - target_of(v);
  return v.populated_pages > keep ? v.populated_pages - keep : 0;
}
// Pages the balloon holds beyond its target: the guest takes them back soon (and may populate them).
constexpr u64 going_out(const Balloon_policy_vm& v) {
  const u64 target = target_of(v);
  return v.actual_pages > target ? v.actual_pages - target : 0;
}
// Where lowering starts: the effective size, or what the VM has populated if that is less (a size
// above it frees nothing when lowered: the guest would hand over pages that have no frame), and
// never below the floor.
constexpr u64 lowering_base(const Balloon_policy_vm& v) {
  const u64 used = v.populated_pages > v.floor_pages ? v.populated_pages : v.floor_pages;
  return min_of(effective_size(v), used);
}
// What a VM could still give: its base above its floor; each page of it is a frame freed.
constexpr u64 giveable(const Balloon_policy_vm& v) {
  const u64 base = lowering_base(v);
  return base > v.floor_pages ? base - v.floor_pages : 0;
}

// part * of / whole for part <= whole, without overflow: exact while part * of fits 64 bits (always,
// for page counts of real machines), else with both sides scaled down (the caller clamps).
u64 share_of(u64 part, u64 of, u64 whole) {
  while (part != 0 && of > ~u64{0} / part) {
    part >>= 1;
    whole >>= 1;
  }
  return whole == 0 ? of : part * of / whole;
}

Balloon_policy_result lower(u64 free, Balloon_watermarks marks, std::span<const Balloon_policy_vm> vms,
                            std::span<u64> limits) {
  Balloon_policy_result r{Balloon_policy_action::none, marks, 0};
  u64 coming = 0, can = 0;
  for (const Balloon_policy_vm& v : vms) {
    if (!v.driver) continue;
    coming += coming_back(v);
    can += giveable(v);
  }
  if (free + coming >= marks.high) return r;
  const u64 take = min_of(marks.high - free - coming, can);
  u64 left = take;
  for (usize i = 0; i < vms.size(); ++i) {
    if (!vms[i].driver) continue;
    const u64 cut = can == 0 ? 0 : min_of(min_of(share_of(giveable(vms[i]), take, can), giveable(vms[i])), left);
    limits[i] = lowering_base(vms[i]) - cut;
    left -= cut;
  }
  // What rounding left over (fewer pages than VMs when exact) goes to the first VMs with room.
  for (usize i = 0; i < vms.size() && left != 0; ++i) {
    if (!vms[i].driver) continue;
    const u64 room = limits[i] - min_of(vms[i].floor_pages, limits[i]);
    const u64 extra = min_of(room, left);
    limits[i] -= extra;
    left -= extra;
  }
  // A VM whose size does not change keeps its limit as it was (it may stand above the operator's size).
  for (usize i = 0; i < vms.size(); ++i) {
    if (!vms[i].driver) continue;
    if (limits[i] == effective_size(vms[i])) limits[i] = vms[i].auto_limit_pages;
    if (limits[i] != vms[i].auto_limit_pages) r.action = Balloon_policy_action::lower;
  }
  r.pages = take - left;
  return r;
}

Balloon_policy_result raise(u64 free, Balloon_watermarks marks, std::span<const Balloon_policy_vm> vms,
                            std::span<u64> limits) {
  Balloon_policy_result r{Balloon_policy_action::none, marks, 0};
  u64 out = 0;
  bool changed = false;
  for (usize i = 0; i < vms.size(); ++i) {
    const Balloon_policy_vm& v = vms[i];
    if (!v.driver) continue;
    out += going_out(v);
    // A limit at or above the operator's size holds nothing back: lift it, at no cost.
    if (v.auto_limit_pages >= v.size_pages && v.auto_limit_pages < v.memory_pages) {
      limits[i] = v.memory_pages;
      changed = true;
    }
  }
  const u64 step = (free - 2 * marks.high) / 2;
  u64 budget = step > out ? step - out : 0;
  // Equal shares of the budget; what a VM does not need goes round again (at most n + 2 rounds).
  for (;;) {
    u64 wanting = 0;
    for (usize i = 0; i < vms.size(); ++i)
      if (vms[i].driver && limits[i] < vms[i].size_pages) ++wanting;
    if (wanting == 0 || budget == 0) break;
    const u64 share = budget / wanting != 0 ? budget / wanting : 1;
    for (usize i = 0; i < vms.size() && budget != 0; ++i) {
      if (!vms[i].driver || limits[i] >= vms[i].size_pages) continue;
      const u64 give = min_of(min_of(share, vms[i].size_pages - limits[i]), budget);
      limits[i] += give;
      budget -= give;
      r.pages += give;
      changed = true;
    }
  }
  // A limit raised up to the operator's size binds nothing any more: lift it.
  for (usize i = 0; i < vms.size(); ++i) {
    if (vms[i].driver && limits[i] >= vms[i].size_pages && limits[i] < vms[i].memory_pages)
      limits[i] = vms[i].memory_pages;
  }
  if (changed) r.action = Balloon_policy_action::raise;
  return r;
}

} // namespace

Balloon_policy_result balloon_policy(u64 managed_frames, u64 free_frames, std::span<const Balloon_policy_vm> vms,
                                     std::span<u64> limits) {
  const Balloon_watermarks marks = balloon_watermarks(managed_frames);
  for (usize i = 0; i < vms.size() && i < limits.size(); ++i) limits[i] = vms[i].auto_limit_pages;
  if (limits.size() < vms.size()) return {Balloon_policy_action::none, marks, 0};
  if (free_frames < marks.low) return lower(free_frames, marks, vms, limits);
  if (free_frames > 2 * marks.high) return raise(free_frames, marks, vms, limits);
  return {Balloon_policy_action::none, marks, 0};
}

} // namespace hv
