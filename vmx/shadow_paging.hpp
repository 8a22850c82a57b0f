// vmx/shadow_paging.hpp - Guest_paging with shadow page tables (mm/shadow/shadow_mmu.hpp): the
// VMCS runs the guest on hv's shadow roots; every #PF, MOV to/from CR3 and INVLPG exits here.
// Both builds. docs/shadow-paging.md.
//
// The controls: EPT and INVPCID off (PCID and INVPCID are hidden from the guest's CPUID: a root
// per CR3 value is keyed by the PML4 alone), CR3-load/-store and INVLPG exiting, #PF in the
// exception bitmap with error-code mask = match = 0 (every #PF exits; see the docs for why the
// mask/match filter cannot skip the guest's own faults without giving it a wrong error code),
// CR0.WP forced to 1 in the real register (the guest's value lives in the read shadow; a write to
// a tracked guest table must fault in supervisor mode too), and the CR4 paging bits in the mask
// so that a change reaches paging_controls_changed().
#pragma once
#include "mm/shadow/shadow_mmu.hpp"
#include "vmx/guest_paging.hpp"

namespace hv {

struct Shadow_paging_config {
  Shadow_config mmu;
  bool page_1g = false;          // the guest's CPUID offers 1 GiB pages
  u8 max_phys_addr_bits = 36;    // the guest's MAXPHYADDR
};

class Shadow_paging final : public Guest_paging {
public:
  Shadow_paging(Guest_memory& memory, Frame_source& frames, Direct_map direct_map, const Shadow_paging_config& config,
                std::atomic<u64>* flush_request)
      : mmu_(memory, frames, direct_map, config.mmu, flush_request, &entry_work), config_(config) {}

  [[nodiscard]] Paging_kind kind() const override { return Paging_kind::shadow; }
  void adjust_controls(Vcpu_controls& c) const override;
  [[nodiscard]] bool start(Vcpu& vcpu, Vmcs_access& vmcs, const Guest_start_state& start, Tlb_control& tlb) override;
  void flush_requested(Tlb_control& tlb) override;
  void before_entry() override { mmu_.before_entry(); }
  Exit_action page_fault(Exit_context& ctx, u64 gva, u32 error_code) override;
  Exit_action mov_to_cr3(Exit_context& ctx, u64 value) override;
  [[nodiscard]] u64 guest_cr3(Exit_context& ctx) override;
  Exit_action invlpg(Exit_context& ctx, u64 gva) override;
  Exit_action debug_trap(Exit_context& ctx) override;
  void paging_controls_changed(Exit_context& ctx) override;

  // The guest CPU model's facts the walker needs (set once, before the VM runs).
  void set_guest_cpu(bool page_1g, u8 max_phys_addr_bits) {
    config_.page_1g = page_1g;
    config_.max_phys_addr_bits = max_phys_addr_bits;
  }
  // Frees every shadow table (the VM stopped or is reset; its memory goes next).
  void release() { mmu_.destroy(); }
  [[nodiscard]] Shadow_mmu& mmu() { return mmu_; }
  [[nodiscard]] const Shadow_mmu& mmu() const { return mmu_; }

private:
  Guest_paging_mode mode_from(u64 cr0, u64 cr4, u64 efer) const;
  void load_root(Vmcs_access& vmcs, const Shadow_root& root);

  Shadow_mmu mmu_;
  Shadow_paging_config config_;
  Tlb_control* tlb_ = nullptr;   // the CPU's, from start()
  bool step_guest_tf_ = false;   // RFLAGS.TF was the guest's own when a single step began
};

} // namespace hv
