// vmx/guest_paging.hpp - how one VM's guest addresses reach host memory, chosen once per VM:
// EPT (the CPU walks the guest's tables and the EPT) or shadow paging (hv keeps shadow tables;
// mm/shadow/shadow_mmu.hpp). Both builds. Everything that differs between the two is a method
// here, so no handler asks which one a VM uses:
//   - the VMCS controls (EPT pointer, or CR3 / INVLPG / #PF exiting and the CR0/CR4 masks),
//   - the start (GUEST_CR3: the guest's own, or its shadow root),
//   - the exits only shadow paging enables (#PF, MOV to/from CR3, INVLPG) and changes of the
//     guest's paging controls (CR0.WP, CR4, EFER.NXE),
//   - the TLB flush another CPU asked for (vmx/ept_tlb_sync.hpp): INVEPT, or INVVPID of the roots.
#pragma once
#include "arch/x86/types.hpp"
#include <atomic>

namespace hv {

struct Exit_context;
struct Vcpu;
struct Vcpu_controls;
struct Guest_start_state;
class Vmcs_access;
enum class Exit_action : u8;

// The TLB instructions, on the CPU that runs the vCPU (vmx/native/; a recording fake in tests).
class Tlb_control {
public:
  virtual void flush_ept(u64 eptp) = 0;                 // INVEPT single-context
  virtual void flush_vpid(u16 vpid) = 0;                // INVVPID single-context (or all-context)
  virtual void flush_address(u16 vpid, u64 gva) = 0;    // INVVPID individual-address (or wider)

protected:
  ~Tlb_control() = default;
};

enum class Paging_kind : u8 { ept, shadow };
[[nodiscard]] const char* paging_kind_name(Paging_kind kind);

class Guest_paging {
public:
  [[nodiscard]] virtual Paging_kind kind() const = 0;
  // Before the VMCS is filled: the controls, EPT pointer, VPID and masks this paging needs.
  virtual void adjust_controls(Vcpu_controls& c) const = 0;
  // After the guest state was written: the guest starts with `start`. False: no memory (logged by
  // the caller; the VM does not run).
  [[nodiscard]] virtual bool start(Vcpu& vcpu, Vmcs_access& vmcs, const Guest_start_state& start, Tlb_control& tlb) = 0;
  // Before VM entry, when a flush was requested since the last one (on this vCPU's CPU, after it
  // published that it enters: must take no lock another CPU may hold while waiting for it).
  virtual void flush_requested(Tlb_control& tlb) = 0;
  // Work the paging asked for by setting entry_work, done on the vCPU's CPU before it publishes
  // that it enters (it may take locks). Shadow paging: tables whose page changed lose their shadows.
  virtual void before_entry() {}
  std::atomic<bool> entry_work{false};
  // The exits of shadow paging. EPT never enables them; reaching them there stops the vCPU.
  virtual Exit_action page_fault(Exit_context& ctx, u64 gva, u32 error_code) = 0;
  virtual Exit_action mov_to_cr3(Exit_context& ctx, u64 value) = 0;
  [[nodiscard]] virtual u64 guest_cr3(Exit_context& ctx) = 0;
  virtual Exit_action invlpg(Exit_context& ctx, u64 gva) = 0;
  // A #DB exit: the single-step trap after an instruction shadow paging let write a table.
  virtual Exit_action debug_trap(Exit_context& ctx) = 0;
  // CR0, CR4 or EFER changed (already written to the VMCS).
  virtual void paging_controls_changed(Exit_context& ctx) = 0;

protected:
  ~Guest_paging() = default;
};

} // namespace hv
