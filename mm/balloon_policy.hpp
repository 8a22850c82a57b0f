// mm/balloon_policy.hpp - the auto-balloon policy (hv.cfg `auto_balloon = on`): from the host's free
// frames and what each VM's balloon holds, a new cap ("auto limit") on each VM's target size. Both
// builds; pure arithmetic, no locks, no state: the caller (core/vm_manager.cpp's balance_memory)
// gathers the facts, calls it at every wake-up of the merge thread and applies the result with
// Balloon::set_auto_limit. docs/balloon.md describes it for operators.
//
// The policy, in 4 KiB frames/pages:
//   low watermark  L = max(2048, managed / 16)   (8 MiB, or 1/16 of the host's RAM)
//   high watermark H = 2 L
//   - free < L (pressure): the deficit H - free, less what the balloons will free anyway (a guest
//     keeps memory - target pages, so what it has populated beyond that is on its way back), is
//     taken from the VMs with a driver by lowering their limits, in proportion to what each could
//     still give, never below the floor. What a VM can give is its base less its floor, where the
//     base is its effective size min(size, auto limit), or what it has populated if that is less:
//     lowering a size the guest has not populated frees no frame (it would hand over pages that
//     have none), so under pressure a VM is first held at what it has, then cut below it.
//   - free > 2 H (plenty): limits that hold a VM below its operator size are raised back, by at
//     most (free - 2 H) / 2 pages in all per call (less what the balloons will give back anyway),
//     shared equally; a limit that reaches the operator size, or binds nothing, is lifted
//     (memory_pages). Raising alone thus never takes free below (free + 2 H) / 2 > H.
//   - otherwise (the band L .. 2 H): nothing changes, so a steady state is quiet.
// VMs without a driver (or whose driver cannot run now: the caller passes driver = false for a
// paused or starved VM) are never touched: their limits stay as they are.
#pragma once
#include "arch/x86/types.hpp"
#include <span>

namespace hv {

inline constexpr u64 balloon_low_watermark_min = 2048;  // frames: 8 MiB

// One VM as the policy sees it (pages are 4 KiB; Balloon_view has the same meanings).
struct Balloon_policy_vm {
  u64 memory_pages = 0;      // its maximum
  u64 floor_pages = 0;       // never asked to keep less
  u64 size_pages = 0;        // the operator's target size
  u64 auto_limit_pages = 0;  // the current cap (memory_pages: none)
  u64 actual_pages = 0;      // in the balloon now
  u64 populated_pages = 0;   // backed by host frames now
  bool driver = false;       // a balloon driver that can follow a new target now
};

struct Balloon_watermarks {
  u64 low = 0;
  u64 high = 0;
};
[[nodiscard]] constexpr Balloon_watermarks balloon_watermarks(u64 managed_frames) {
  const u64 low = managed_frames / 16 > balloon_low_watermark_min ? managed_frames / 16 : balloon_low_watermark_min;
  return {low, 2 * low};
}

enum class Balloon_policy_action : u8 { none, lower, raise };

struct Balloon_policy_result {
  Balloon_policy_action action = Balloon_policy_action::none;
  Balloon_watermarks marks;
  u64 pages = 0;  // lowered or raised in all (lifting a limit that binds nothing costs nothing)
};

// Writes each VM's new auto limit into limits[i] (limits.size() == vms.size(); an unchanged VM gets
// its current auto_limit_pages). Deterministic: the same input gives the same output.
Balloon_policy_result balloon_policy(u64 managed_frames, u64 free_frames, std::span<const Balloon_policy_vm> vms,
                                     std::span<u64> limits);

} // namespace hv
