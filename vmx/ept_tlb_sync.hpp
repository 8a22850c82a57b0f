// vmx/ept_tlb_sync.hpp - EPT invalidation that reaches the CPU where the VM runs. Both builds.
//
// INVEPT only invalidates the CPU that executes it. A VM's EPT is changed from other CPUs too
// (the merge thread on CPU 0 write-protects and remaps pages of VMs homed anywhere), and a change
// that takes a right or a frame away is only safe once no CPU can still use the old translation
// (mm/ept_invalidation.hpp). So every vCPU has an Ept_tlb_sync, and its VM's EPT is changed
// through a Synced_invept:
//   - the vCPU's CPU publishes `cpu_in_guest` before each VM entry and clears it at the start of
//     each VM exit's handling (tlb_sync_enter / tlb_sync_exit in the entry path), and before
//     entering it executes INVEPT itself when an invalidation was requested since its last one;
//   - Synced_invept executes INVEPT on its own CPU, counts a request, and if the vCPU is in guest
//     mode on another CPU, kicks that CPU (an IPI: a VM exit) and waits until the vCPU has left
//     guest mode or has done the INVEPT.
// The request counter and cpu_in_guest are sequentially consistent: either the entering CPU sees
// the request (and invalidates before entering), or the requester sees the vCPU in guest mode
// (and waits). The wait never deadlocks on a lock the requester holds: a vCPU that needs one is
// in VMX root, not in guest mode, and does not hold the requester up.
#pragma once
#include "arch/x86/types.hpp"
#include "mm/ept_invalidation.hpp"
#include <atomic>

namespace hv {

inline constexpr u32 tlb_no_cpu = ~u32{0};

struct Ept_tlb_sync {
  std::atomic<u32> cpu_in_guest{tlb_no_cpu};  // the CPU running the vCPU in guest mode, or none
  std::atomic<u64> requested{0};              // invalidations asked for
  std::atomic<u64> done{0};                   // the latest request the vCPU's CPU has carried out
  std::atomic<u64> remote_waits{0};           // requests that had to kick and wait (statistics)
};

// The entry path, on the vCPU's CPU, just before VM entry: publishes `cpu` and returns the
// request to carry out first (INVEPT on this CPU, then tlb_sync_done), or 0 when there is none.
// Split so that the hot path stays a store and two loads; the INVEPT is out of line.
[[nodiscard]] inline u64 tlb_sync_enter(Ept_tlb_sync& s, u32 cpu) {
  s.cpu_in_guest.store(cpu, std::memory_order_seq_cst);
  const u64 r = s.requested.load(std::memory_order_seq_cst);
  return r != s.done.load(std::memory_order_relaxed) ? r : 0;
}
inline void tlb_sync_done(Ept_tlb_sync& s, u64 request) { s.done.store(request, std::memory_order_release); }
// First thing after a VM exit.
inline void tlb_sync_exit(Ept_tlb_sync& s) { s.cpu_in_guest.store(tlb_no_cpu, std::memory_order_release); }

class Synced_invept final : public Ept_invalidator {
public:
  using Kick_fn = void (*)(u32 cpu);
  using Relax_fn = void (*)();
  // kick may be null (hosted tests without CPUs): then only the local INVEPT happens.
  Synced_invept(Ept_invalidator& local, Ept_tlb_sync& sync, Kick_fn kick, Relax_fn relax = nullptr)
      : local_(local), sync_(sync), kick_(kick), relax_(relax) {}

  void invept_single_context(u64 eptp) override {
    local_.invept_single_context(eptp);
    const u64 gen = sync_.requested.fetch_add(1, std::memory_order_seq_cst) + 1;
    const u32 cpu = sync_.cpu_in_guest.load(std::memory_order_seq_cst);
    if (cpu == tlb_no_cpu || !kick_) return;
    sync_.remote_waits.fetch_add(1, std::memory_order_relaxed);
    kick_(cpu);
    while (sync_.cpu_in_guest.load(std::memory_order_acquire) == cpu &&
           sync_.done.load(std::memory_order_acquire) < gen) {
      if (relax_) relax_();
    }
  }

private:
  Ept_invalidator& local_;
  Ept_tlb_sync& sync_;
  Kick_fn kick_;
  Relax_fn relax_;
};

} // namespace hv
