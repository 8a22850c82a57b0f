// core/native/merge_thread.cpp - see merge_thread.hpp. Freestanding build only.
#include "core/native/merge_thread.hpp"
#include "arch/x86/native/instructions.hpp"
#include "core/vm_manager.hpp"
#include "mm/balloon_policy.hpp"
#include "lib/log.hpp"
#include <atomic>

namespace hv {
namespace {

// Pages per call into the merger: small enough that the thread notices the end of its slice
// (cooperative threads must leave in time), large enough to fill the merger's batches.
constexpr u64 chunk_pages = 32;
// How often a thread with run = 0 looks at the knobs again.
constexpr u64 idle_check_ms = 100;

struct Merge_thread {
  Cpu_loop_shared* shared = nullptr;
  Merger* merger = nullptr;
  Task_id task = 0;
  u64 ticks_per_ms = 0;
  bool auto_balloon = true;
  u64 low_watermark = 0;         // frames: below it the thread is woken early (balloon_policy.hpp)
  std::atomic<u64> wake_tsc{0};  // 0: awake (running or runnable)
  std::atomic<u64> next_pressure_check{0};  // TSC: the early-wake check runs at most once a millisecond
  // Free frames at the last early wake (~0: none since the last timed one). Another early wake
  // needs them to have fallen by a 2 MiB frame since: lasting pressure that the policy cannot
  // relieve does not make the thread spin, pressure that grows is answered at once.
  std::atomic<u64> early_free{~u64{0}};
};

constinit Merge_thread g_mt{};
constinit Hv_thread g_thread{};

void sleep_ms(Hv_thread& self, u64 ms) {
  g_mt.wake_tsc.store(x86::rdtsc() + (ms ? ms : 1) * g_mt.ticks_per_ms, std::memory_order_release);
  thread_leave(self, Slice_end::blocked);  // poll_wake() wakes it when the time has come
}

void merge_main(Hv_thread& self) {
  Merger& merger = *g_mt.merger;
  const Merge_knobs start = merger.knobs();
  log_info("merge", "merge thread on cpu{}: run={} pages_to_scan={} sleep_millisecs={} max_page_sharing={} "
           "merge_across_vms={} auto_balloon={}", self.cpu, start.run, start.pages_to_scan, start.sleep_millisecs,
           start.max_page_sharing, start.merge_across_vms, g_mt.auto_balloon ? "on" : "off");
  u64 last_scans = 0;
  u64 last_logged_sharing = 0, last_logged_zero = 0;
  for (;;) {
    // Host memory pressure first: lowering balloon targets early keeps VMs from pausing for memory.
    (void)g_mt.shared->vms->balance_memory(g_mt.auto_balloon);
    const Merge_knobs k = merger.knobs();
    if (k.run == 0) {
      sleep_ms(self, idle_check_ms);
      continue;
    }
    const u64 free_before = g_mt.shared->frames->stats().free_frames;
    if (k.run == 2) {
      const u64 pages = merger.scan();
      log_info("merge", "run=2: {} pages unmerged{}", pages, merger.knobs().run == 2 ? " (short of memory: trying again)" : "");
    } else {
      for (u64 left = k.pages_to_scan; left > 0;) {
        const u64 done = merger.scan(left < chunk_pages ? left : chunk_pages);
        if (done == 0) break;  // nothing to scan (no merging VM)
        left -= done < left ? done : left;  // a 2 MiB frame counts 512 of the budget
        if (thread_slice_over(self)) thread_leave(self, Slice_end::expired);
      }
    }
    // Frames the merge gave back may let a VM that waits for memory go on.
    if (g_mt.shared->frames->stats().free_frames > free_before) g_mt.shared->vms->frames_returned();
    const Merge_stats s = merger.stats();
    // One line per full scan that changed something, so a steady state stays quiet.
    if (s.full_scans != last_scans) {
      last_scans = s.full_scans;
      if (s.pages_sharing != last_logged_sharing || s.ksm_zero_pages != last_logged_zero) {
        last_logged_sharing = s.pages_sharing;
        last_logged_zero = s.ksm_zero_pages;
        log_info("merge", "full scan {}: pages_shared {} pages_sharing {} ksm_zero_pages {} pages_volatile {} "
                 "cow_breaks {} splits_2m {}; cross-VM frames {}", s.full_scans, s.pages_shared, s.pages_sharing,
                 s.ksm_zero_pages, s.pages_volatile, s.cow_breaks, s.splits_2m, merger.sharing().cross_vm_frames());
      }
    }
    sleep_ms(self, k.sleep_millisecs);
  }
}

// Every CPU, between slices and while idle: wakes the thread when its sleep is over.
void poll_wake(u32) {
  const u64 wake = g_mt.wake_tsc.load(std::memory_order_acquire);
  if (wake == 0) return;
  const u64 now = x86::rdtsc();
  if (now < wake) {
    // Host memory running low: the auto-balloon policy must not wait for the end of the sleep
    // (VMs populating 2 MiB frames can drain the low watermark within one sleep_millisecs).
    if (!g_mt.auto_balloon) return;
    u64 due = g_mt.next_pressure_check.load(std::memory_order_relaxed);
    if (now < due || !g_mt.next_pressure_check.compare_exchange_strong(due, now + g_mt.ticks_per_ms)) return;
    const u64 free = g_mt.shared->frames->free_frames_hint();
    const u64 last = g_mt.early_free.load(std::memory_order_relaxed);
    if (free >= g_mt.low_watermark || (last != ~u64{0} && free + 512 > last)) return;
    g_mt.early_free.store(free, std::memory_order_relaxed);
  } else {
    g_mt.early_free.store(~u64{0}, std::memory_order_relaxed);
  }
  u64 expected = wake;
  if (!g_mt.wake_tsc.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return;  // another CPU woke it
  const Kick k = g_mt.shared->scheduler->wake(g_mt.task);
  if (k.needed()) cpu_loop_kick(k.cpu);
}

} // namespace

bool merge_thread_start(Cpu_loop_shared& shared, Merger& merger, u64 tsc_hz, bool auto_balloon) {
  g_mt.shared = &shared;
  g_mt.merger = &merger;
  g_mt.auto_balloon = auto_balloon;
  g_mt.low_watermark = balloon_watermarks(shared.frames->stats().managed_frames).low;
  g_mt.ticks_per_ms = tsc_hz / 1000 ? tsc_hz / 1000 : 1;
  const std::optional<Task_id> task = add_thread(shared, g_thread, "ksmd", merge_main, &g_mt, 0, poll_wake);
  if (!task) {
    log_error("merge", "no room in the scheduler for the merge thread: no same-page merging");
    return false;
  }
  g_mt.task = *task;
  return start_thread(shared, *task);
}

} // namespace hv
