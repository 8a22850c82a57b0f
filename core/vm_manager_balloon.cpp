// core/vm_manager_balloon.cpp - the VMs' balloons as the monitor and the merge thread see them:
// balloon_info, set_balloon_size and the auto-balloon policy's balance_memory (vm_manager.hpp).
// Both builds. Locks: the table's, then each Balloon's (and under it the VM's guest memory).
#include "core/vm_manager.hpp"
#include "lib/log.hpp"
#include "mm/balloon_policy.hpp"

namespace hv {
namespace {
constexpr u64 min_pages(u64 a, u64 b) { return a < b ? a : b; }
} // namespace

bool Vm_manager::balloon_info(Vm_id id, Balloon_view& out) {
  Spinlock_guard guard(lock_);
  const Entry* e = find(id);
  if (!e) return false;
  out = e->vm->balloon().view();
  if (out.memory_pages == 0) {
    const u64 memory = u64{e->vm->config().memory_mib} * balloon_pages_per_mib;
    out.memory_pages = out.size_pages = out.auto_limit_pages = memory;
    out.floor_pages = balloon_floor_pages(memory);
  }
  return true;
}

Monitor_host::Balloon_set_result Vm_manager::set_balloon_size(Vm_id id, u64 size_pages) {
  Spinlock_guard guard(lock_);
  Entry* e = find(id);
  if (!e || !e->scheduled || e->finished) return Balloon_set_result::not_found;
  switch (e->vm->balloon().set_size(size_pages)) {
  case Balloon_set_status::ok: return Balloon_set_result::ok;
  case Balloon_set_status::above_memory: return Balloon_set_result::above_memory;
  case Balloon_set_status::below_floor: return Balloon_set_result::below_floor;
  }
  return Balloon_set_result::not_found;
}

Vm_manager::Memory_peak Vm_manager::memory_peak() const {
  Spinlock_guard guard(lock_);
  return peak_;
}

u32 Vm_manager::balance_memory(bool auto_on) {
  const Frame_stats s = frames_.stats();
  bool rose = false;
  const u32 changed = balance_locked(auto_on, s, rose);
  // Frames came back since the last call (balloons inflated, pages were reported free): a VM
  // waiting for frames tries again, as when a VM stops.
  if (rose) frames_returned();
  return changed;
}

u32 Vm_manager::balance_locked(bool auto_on, const Frame_stats& s, bool& rose) {
  std::array<Balloon_policy_vm, vm_manager_capacity> in{};
  std::array<u64, vm_manager_capacity> limits{};
  std::array<Vm*, vm_manager_capacity> who{};
  usize n = 0;
  Spinlock_guard guard(lock_);
  rose = s.free_frames > last_free_;
  last_free_ = s.free_frames;
  u64 populated = 0;
  for (usize i = 0; i < count_; ++i) {
    const Entry& e = entries_[i];
    if (e.scheduled && !e.finished && !e.destroyed) populated += e.vm->populated_bytes() / page_size_4k;
  }
  const u64 guest_frames = s.used_by_use[static_cast<usize>(Frame_use::guest)] + s.used_by_use[static_cast<usize>(Frame_use::shared)];
  if (populated > peak_.populated_pages) peak_.populated_pages = populated;
  if (guest_frames > peak_.guest_frames) peak_.guest_frames = guest_frames;
  for (usize i = 0; i < count_; ++i) {
    const Entry& e = entries_[i];
    if (!e.scheduled || e.finished || e.destroyed || e.request != Vm_request::none) continue;
    const Vm_state state = e.vm->state();
    if (state != Vm_state::running && state != Vm_state::paused) continue;
    const Balloon_view b = e.vm->balloon().view();
    if (b.memory_pages == 0) continue;
    const bool can_follow = b.driver && state == Vm_state::running && !e.starved && !e.user_paused;
    in[n] = Balloon_policy_vm{b.memory_pages, b.floor_pages, b.size_pages, b.auto_limit_pages, b.actual_pages,
                              e.vm->populated_bytes() / page_size_4k, can_follow};
    who[n++] = e.vm;
  }
  u32 changed = 0;
  if (!auto_on) {
    for (usize i = 0; i < n; ++i) {
      if (in[i].auto_limit_pages >= in[i].memory_pages) continue;
      who[i]->balloon().set_auto_limit(in[i].memory_pages);
      log_info("balloon", "{}: auto_balloon is off: its limit is lifted (was {} MiB)", who[i]->name(),
               in[i].auto_limit_pages / balloon_pages_per_mib);
      ++changed;
    }
    return changed;
  }
  const Balloon_policy_result r = balloon_policy(s.managed_frames, s.free_frames, std::span(in.data(), n),
                                                std::span(limits.data(), n));
  for (usize i = 0; i < n; ++i) {
    if (limits[i] == in[i].auto_limit_pages) continue;
    who[i]->balloon().set_auto_limit(limits[i]);
    ++changed;
    const u64 was_mib = min_pages(in[i].size_pages, in[i].auto_limit_pages) / balloon_pages_per_mib;
    if (limits[i] >= in[i].memory_pages) {
      log_info("balloon", "{}: auto_balloon lifts its limit (was {} MiB): the host has {} frames free", who[i]->name(),
               in[i].auto_limit_pages / balloon_pages_per_mib, s.free_frames);
    } else if (r.action == Balloon_policy_action::lower) {
      log_info("balloon", "{}: auto_balloon lowers its size to {} MiB (was {} MiB): the host has {} frames free, "
               "below the low watermark {}", who[i]->name(), limits[i] / balloon_pages_per_mib, was_mib, s.free_frames,
               r.marks.low);
    } else {
      log_info("balloon", "{}: auto_balloon raises its size to {} MiB (was {} MiB): the host has {} frames free, "
               "above twice the high watermark {}", who[i]->name(), limits[i] / balloon_pages_per_mib, was_mib, s.free_frames,
               r.marks.high);
    }
  }
  return changed;
}

} // namespace hv
