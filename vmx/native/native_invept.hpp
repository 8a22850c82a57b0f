// vmx/native/native_invept.hpp - INVEPT on the calling CPU: single-context (or all-context where
// single-context is missing). Freestanding build only. It reaches this CPU alone: a VM's EPT is
// changed through a Synced_invept (vmx/ept_tlb_sync.hpp), which uses this one here and makes the
// CPU where the VM runs do the same before it enters the guest again.
#pragma once
#include "arch/x86/native/vmx_instructions.hpp"
#include "lib/panic.hpp"
#include "mm/ept_invalidation.hpp"
#include <atomic>

namespace hv {

class Native_invept final : public Ept_invalidator {
public:
  constexpr explicit Native_invept(bool single_context) : single_context_(single_context) {}
  void invept_single_context(u64 eptp) override {
    const x86::Invept_descriptor d{eptp, 0};
    const u64 type = single_context_ ? x86::INVEPT_SINGLE_CONTEXT : x86::INVEPT_ALL_CONTEXT;
    if (x86::invept(type, d) != x86::Vmx_result::ok) panic("vmx", "INVEPT type {} for EPTP {:#x} failed", type, eptp);
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] u64 count() const { return count_.load(std::memory_order_relaxed); }

private:
  bool single_context_;
  std::atomic<u64> count_{0};
};

} // namespace hv
