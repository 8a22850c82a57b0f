// devices/hypercall.hpp - the paravirtual interface a guest reaches with VMCALL, with KVM's
// register convention: RAX = number, RBX, RCX, RDX, RSI = arguments, result in RAX; negative
// values are errors (-errno). VMCALL from CPL > 0 gets -EPERM without running anything, as on
// KVM. Numbers and semantics: docs/hypercalls.md. Both builds.
#pragma once
#include "arch/x86/types.hpp"
#include "mm/balloon_abi.hpp"

// What the out-of-line hypercalls work on (both may be null: those calls then answer -ENOSYS).
namespace hv {
class Guest_memory;
class Merger;
class Balloon;
struct Hypercall_env {
  Guest_memory* memory = nullptr;  // the caller's guest-physical memory (buffers)
  Merger* merger = nullptr;        // same-page merging (MERGE_STATS)
  u16 vm = 0;                      // the caller's VM id
  Balloon* balloon = nullptr;      // the VM's balloon (BALLOON_*, FREE_PAGE_REPORT)
};
} // namespace hv

namespace hv {

inline constexpr u32 hypercall_interface_version = 1;

namespace hc {
inline constexpr u64 NOP = 0;       // returns 0; for measuring the round trip
inline constexpr u64 VERSION = 1;   // returns hypercall_interface_version
inline constexpr u64 FEATURES = 2;  // returns a bit mask of hc_feature bits
inline constexpr u64 MERGE_STATS = 3;  // RBX = GPA of a Merge_stats_guest: this VM's merging statistics
// The balloon (docs/balloon.md). Lists are arrays of Balloon_range (mm/balloon.hpp) in guest
// memory: RBX = GPA of the list (8-byte aligned), RCX = entries (1..balloon_list_max).
inline constexpr u64 BALLOON_INFO = 4;      // RBX = GPA of a Balloon_info_guest: target, actual, ...
inline constexpr u64 BALLOON_INFLATE = 5;   // RBX, RCX = list: hand pages to the host; -> pages inflated
inline constexpr u64 BALLOON_DEFLATE = 6;   // RBX, RCX = list: take ballooned pages back; -> pages deflated
inline constexpr u64 BALLOON_STATS = 7;     // RBX = GPA of Balloon_stat[RCX] (virtio-balloon's tags); -> 0
inline constexpr u64 FREE_PAGE_REPORT = 8;  // RBX, RCX = list: free pages, unbacked until touched; -> pages
} // namespace hc
namespace hc_feature {
inline constexpr u64 NOP = 1u << 0;
inline constexpr u64 VERSION = 1u << 1;
inline constexpr u64 MERGE_STATS = 1u << 3;
inline constexpr u64 BALLOON = 1u << 4;     // BALLOON_INFO .. FREE_PAGE_REPORT
} // namespace hc_feature

// What MERGE_STATS writes at the guest's buffer (8-byte aligned, 64 bytes, inside RAM).
struct Merge_stats_guest {
  u64 merging_pages;   // this VM's 4 KiB pages that map a shared frame now
  u64 zero_released;   // this VM's zero-filled pages given back (counter)
  u64 cow_breaks;      // this VM's writes to shared frames that needed a copy (counter)
  u64 full_scans;      // the merger's passes so far: wait for it to advance to know a pass saw you
  u64 run;             // the merger's run knob (0 stop, 1 run, 2 unmerge)
  u64 reserved[3];
};
static_assert(sizeof(Merge_stats_guest) == 64);

// BALLOON_INFO's buffer, the lists and the statistics: mm/balloon_abi.hpp.

// Linux errno values, negated in RAX.
inline constexpr i64 HC_EPERM = -1;
inline constexpr i64 HC_ENOENT = -2;
inline constexpr i64 HC_E2BIG = -7;
inline constexpr i64 HC_ENOMEM = -12;
inline constexpr i64 HC_EFAULT = -14;
inline constexpr i64 HC_EEXIST = -17;
inline constexpr i64 HC_EINVAL = -22;
inline constexpr i64 HC_ENOSPC = -28;
inline constexpr i64 HC_ENOSYS = -38;

struct Hypercall_args {
  u64 nr = 0;
  u64 a0 = 0, a1 = 0, a2 = 0, a3 = 0;  // RBX, RCX, RDX, RSI
  u32 cpl = 0;                         // the caller's privilege level
};

struct Hypercall_counters {
  u64 calls = 0;
  u64 refused_cpl = 0;
  u64 unknown = 0;
};

// The hypercalls that do more than answer a constant: hypercall.cpp.
[[nodiscard]] i64 run_hypercall(const Hypercall_args& args, Hypercall_counters& counters, const Hypercall_env& env);

// Runs one hypercall; the value goes to the guest's RAX. Inline, as part of VMCALL's exit path:
// the privilege check and the calls that answer a constant (NOP is the round-trip probe).
[[nodiscard]] inline i64 dispatch_hypercall(const Hypercall_args& args, Hypercall_counters& counters,
                                            const Hypercall_env& env = {}) {
  ++counters.calls;
  if (args.cpl != 0) {
    ++counters.refused_cpl;
    return HC_EPERM;
  }
  switch (args.nr) {
  case hc::NOP: return 0;
  case hc::VERSION: return hypercall_interface_version;
  case hc::FEATURES:
    return static_cast<i64>(hc_feature::NOP | hc_feature::VERSION | (env.merger ? hc_feature::MERGE_STATS : 0) |
                            (env.balloon ? hc_feature::BALLOON : 0));
  default: return run_hypercall(args, counters, env);
  }
}

} // namespace hv
