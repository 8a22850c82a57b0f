// tests/unit/ept_tlb_sync_test.cpp - invalidation that reaches the CPU where a VM runs
// (vmx/ept_tlb_sync.hpp): a "vCPU" thread enters and leaves guest mode and keeps a cached copy of
// the translation (its TLB), refreshed only by its own INVEPT; a "merger" thread changes the
// translation and invalidates through Synced_invept. Whenever the vCPU is in guest mode it must
// never use a translation older than the last change whose invalidation has returned.
#include "vmx/ept_tlb_sync.hpp"
#include <gtest/gtest.h>
#include <atomic>
#include <thread>

namespace hv {
namespace {

std::atomic<u64> g_translation{0};  // what the EPT says now
std::atomic<bool> g_kicked{false};
thread_local u64 t_tlb = 0;         // what this thread's "TLB" holds

class Tlb_reload final : public Ept_invalidator {
public:
  void invept_single_context(u64) override {
    t_tlb = g_translation.load(std::memory_order_seq_cst);
    ++count;
  }
  std::atomic<u64> count{0};
};

TEST(Ept_tlb_sync, AnInvalidationThatReturnedIsSeenByTheVcpuBeforeItRunsTheGuestAgain) {
  Ept_tlb_sync sync;
  Tlb_reload vcpu_local, merger_local;
  Synced_invept invept(merger_local, sync, [](u32) { g_kicked.store(true, std::memory_order_release); },
                       [] { std::this_thread::yield(); });
  std::atomic<u64> completed{0};
  std::atomic<bool> stop{false};
  std::atomic<u64> stale{0}, guest_steps{0};
  std::thread vcpu([&] {
    while (!stop.load(std::memory_order_acquire)) {
      if (const u64 r = tlb_sync_enter(sync, 1)) {
        vcpu_local.invept_single_context(0x1000);
        tlb_sync_done(sync, r);
      }
      // In guest mode until kicked (or a while passed): every access uses the cached translation.
      for (int i = 0; i < 200 && !g_kicked.load(std::memory_order_acquire); ++i) {
        const u64 must_see = completed.load(std::memory_order_acquire);
        if (t_tlb < must_see) stale.fetch_add(1);
        guest_steps.fetch_add(1, std::memory_order_relaxed);
      }
      g_kicked.store(false, std::memory_order_release);
      tlb_sync_exit(sync);  // a VM exit
    }
  });
  // Changes until at least 20,000 were made and 200 of them caught the vCPU in guest mode (on a
  // loaded machine the vCPU thread may run late), within a bound.
  u64 k = 0;
  while (k < 5'000'000 && (k < 20'000 || sync.remote_waits.load() < 200)) {
    ++k;
    g_translation.store(k, std::memory_order_seq_cst);
    invept.invept_single_context(0x1000);
    completed.store(k, std::memory_order_release);
  }
  stop.store(true);
  vcpu.join();
  EXPECT_EQ(stale.load(), 0u);
  EXPECT_GT(guest_steps.load(), 0u);
  EXPECT_EQ(merger_local.count.load(), k);        // the requester's own CPU, every time
  EXPECT_GE(sync.remote_waits.load(), 200u);      // the vCPU was caught in guest mode, kicked, waited for
  EXPECT_EQ(sync.requested.load(), k);
}

TEST(Ept_tlb_sync, WithoutAKickOnlyTheLocalInveptRuns) {
  Ept_tlb_sync sync;
  Tlb_reload local;
  Synced_invept invept(local, sync, nullptr);
  sync.cpu_in_guest.store(3);
  invept.invept_single_context(0x2000);  // returns at once: no CPU to kick (hosted builds)
  EXPECT_EQ(local.count.load(), 1u);
  EXPECT_EQ(sync.remote_waits.load(), 0u);
  // The vCPU's next entry carries the request out.
  const u64 r = tlb_sync_enter(sync, 3);
  EXPECT_EQ(r, 1u);
  tlb_sync_done(sync, r);
  EXPECT_EQ(tlb_sync_enter(sync, 3), 0u);  // nothing new asked for
}

} // namespace
} // namespace hv
