// vmx/ept_paging.hpp - Guest_paging with EPT: the CPU walks the guest's tables and the VM's EPT
// (mm/guest_memory.hpp); hv only sees EPT violations. Both builds.
#pragma once
#include "mm/guest_memory.hpp"
#include "vmx/guest_paging.hpp"

namespace hv {

class Ept_paging final : public Guest_paging {
public:
  Ept_paging(Guest_memory& memory, u16 vpid) : memory_(memory), vpid_(vpid) {}
  [[nodiscard]] Paging_kind kind() const override { return Paging_kind::ept; }
  void adjust_controls(Vcpu_controls& c) const override;
  [[nodiscard]] bool start(Vcpu& vcpu, Vmcs_access& vmcs, const Guest_start_state& start, Tlb_control& tlb) override;
  void flush_requested(Tlb_control& tlb) override { tlb.flush_ept(memory_.eptp()); }
  Exit_action page_fault(Exit_context& ctx, u64 gva, u32 error_code) override;
  Exit_action mov_to_cr3(Exit_context& ctx, u64 value) override;
  [[nodiscard]] u64 guest_cr3(Exit_context& ctx) override;
  Exit_action invlpg(Exit_context& ctx, u64 gva) override;
  Exit_action debug_trap(Exit_context& ctx) override;
  void paging_controls_changed(Exit_context&) override {}

private:
  Guest_memory& memory_;
  u16 vpid_;
};

} // namespace hv
