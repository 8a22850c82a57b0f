// vmx/native/vcpu_run.cpp - see vcpu_run.hpp. Freestanding build only.
#include "vmx/native/vcpu_run.hpp"
#include "vmx/apic_delivery.hpp"
#include "mm/guest_memory.hpp"
#include "arch/x86/msr.hpp"
#include "arch/x86/native/descriptor_tables.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/native/vmx_instructions.hpp"
#include "arch/x86/native/local_apic.hpp"
#include "arch/x86/vmcs_fields.hpp"
#include "lib/panic.hpp"
#include "vmx/exit_handler.hpp"
#include "vmx/guest_msr.hpp"
#include "vmx/guest_paging.hpp"
#include "vmx/native/native_vmcs.hpp"
#include "vmx/vm_instruction_error.hpp"
#include <cstring>

extern "C" int hv_vmx_run(hv::Guest_registers* regs, hv::u64 launched);
extern "C" char hv_vmx_exit[];

namespace hv {

namespace x86 {
// The failure path of vmread_checked/vmwrite_checked (arch/x86/native/vmx_instructions.hpp).
void vmx_access_failed(bool write, u64 field, u64 value) {
  u64 error = 0;
  (void)vmread(vmcs::VM_INSTRUCTION_ERROR, error);
  panic("vmx", "{} of field {:#x} (value {:#x}) failed: VM-instruction error {} ({})", write ? "VMWRITE" : "VMREAD",
        field, value, error, vm_instruction_error_message(static_cast<u32>(error)));
}
} // namespace x86

namespace {
constinit Native_vmcs g_vmcs{};
constinit Ept_invalidator* g_local_invept = nullptr;  // vcpu_run_set_invept

// The TLB instructions for Guest_paging, with the CPU's INVVPID types (the narrowest it has).
class Native_tlb final : public Tlb_control {
public:
  void flush_ept(u64 eptp) override { g_local_invept->invept_single_context(eptp); }
  void flush_vpid(u16 vpid) override {
    const x86::Invvpid_descriptor d{vpid, 0};
    (void)x86::invvpid(single ? x86::INVVPID_SINGLE_CONTEXT : x86::INVVPID_ALL_CONTEXT, d);
  }
  void flush_address(u16 vpid, u64 gva) override {
    if (!address) return flush_vpid(vpid);
    const x86::Invvpid_descriptor d{vpid, gva};
    (void)x86::invvpid(x86::INVVPID_INDIVIDUAL_ADDRESS, d);
  }
  bool single = false;
  bool address = false;
};
constinit Native_tlb g_tlb{};

Host_state current_host_state(Per_cpu& cpu) {
  Host_state h;
  h.cr0 = x86::read_cr0();
  h.cr3 = x86::read_cr3();
  h.cr4 = x86::read_cr4();
  h.cs = x86::read_cs();
  h.ss = x86::read_ss();
  h.ds = x86::read_ds();
  h.es = x86::read_es();
  h.fs = x86::read_fs();
  h.gs = x86::read_gs();
  h.tr = x86::read_tr();
  h.fs_base = x86::rdmsr(msr::IA32_FS_BASE);
  h.gs_base = x86::rdmsr(msr::IA32_GS_BASE);
  h.tr_base = reinterpret_cast<u64>(&cpu.tss);
  h.gdtr_base = reinterpret_cast<u64>(cpu.gdt);
  h.idtr_base = x86::sidt().base;
  h.efer = x86::rdmsr(msr::IA32_EFER);
  h.pat = x86::rdmsr(msr::IA32_PAT);
  h.rip = reinterpret_cast<u64>(hv_vmx_exit);
  return h;
}

// MSRs the guest may write that the VMCS does not switch: the host never uses them, so the
// guest's values simply stay in the hardware while it runs on this CPU.
void load_guest_hardware_msrs(Vcpu& vcpu) {
  if (!vcpu.msrs) return;
  for (u32 m : {msr::IA32_STAR, msr::IA32_LSTAR, msr::IA32_CSTAR, msr::IA32_FMASK, msr::IA32_KERNEL_GS_BASE})
    x86::wrmsr(m, vcpu.msrs->value(m));
  vcpu.msr_hardware_dirty = false;
}

void end_of_interrupt() {
  x86::Local_apic apic;
  apic.eoi();
}

// An EPT invalidation asked for from another CPU, carried out before entering (out of line: rare).
[[gnu::noinline, gnu::cold]] void tlb_flush_before_entry(Vcpu& vcpu, u64 request) {
  vcpu.paging->flush_requested(g_tlb);
  tlb_sync_done(vcpu.tlb, request);
}

inline void tlb_enter(Vcpu& vcpu, u32 cpu) {
  // Paging work first, while this CPU does not yet claim to be in guest mode (it takes locks).
  if (vcpu.paging->entry_work.load(std::memory_order_relaxed)) [[unlikely]] vcpu.paging->before_entry();
  if (const u64 r = tlb_sync_enter(vcpu.tlb, cpu)) [[unlikely]]
    tlb_flush_before_entry(vcpu, r);
}

// The vCPU whose registers the exit stub was given: Guest_registers is Vcpu's first member.
Vcpu& vcpu_of(Guest_registers* regs) { return *reinterpret_cast<Vcpu*>(regs); }
} // namespace

void vcpu_run_set_invept(Ept_invalidator& local, bool invvpid_single, bool invvpid_address) {
  g_local_invept = &local;
  g_tlb.single = invvpid_single;
  g_tlb.address = invvpid_address;
}

namespace {
// An injected #PF carries its CR2 (shadow paging): the CPU does not set it on injection.
inline void load_pending_cr2(Vcpu& vcpu) {
  if (vcpu.cr2_pending) [[unlikely]] {
    x86::write_cr2(vcpu.pending_cr2);
    vcpu.cr2_pending = false;
  }
}
} // namespace

// Called by the exit stub (vmx_entry.S) on the host stack after every VM exit, with the guest's
// registers saved. Non-zero: resume the guest at once. Zero: the slice is over.
extern "C" int hv_exit_fast(Guest_registers* regs) {
  Vcpu& vcpu = vcpu_of(regs);
  tlb_sync_exit(vcpu.tlb);  // first: a handler may wait for a lock whose holder waits for us
  const Exit_action action = dispatch_exit(vcpu, g_vmcs);
  if (vcpu.last_exit_reason == exit_reason::EXTERNAL_INTERRUPT) end_of_interrupt();
  if (action == Exit_action::stop || vcpu.yield != Vcpu_yield::none) return 0;
  if (vcpu.pending_event) inject_pending_event(vcpu, g_vmcs);
  apic_before_entry(vcpu, g_vmcs, x86::rdtsc());
  load_pending_cr2(vcpu);
  if (vcpu.msr_hardware_dirty) load_guest_hardware_msrs(vcpu);
  tlb_enter(vcpu, vcpu.tlb_cpu);
  return 1;
}

bool vcpu_load_new(Vcpu& vcpu, u32 revision, const Vcpu_controls& controls, const Guest_start_state& start,
                   Per_cpu& cpu) {
  HV_ASSERT(static_cast<void*>(&vcpu.regs) == static_cast<void*>(&vcpu));
  void* region = reinterpret_cast<void*>(vcpu.vmcs_pa);  // identity-mapped
  std::memset(region, 0, 4096);
  std::memcpy(region, &revision, sizeof revision);
  if (x86::vmclear(vcpu.vmcs_pa) != x86::Vmx_result::ok || x86::vmptrld(vcpu.vmcs_pa) != x86::Vmx_result::ok) {
    log_error("vmx", "{}: VMCLEAR/VMPTRLD of the VMCS at {:#x} failed", vcpu.vm_name, vcpu.vmcs_pa);
    return false;
  }
  write_controls(g_vmcs, controls);
  write_host_state(g_vmcs, current_host_state(cpu));
  write_guest_state_64(g_vmcs, start, controls);
  if (!vcpu.paging->start(vcpu, g_vmcs, start, g_tlb)) {
    log_error("vmx", "{}: no memory for its {} paging root", vcpu.vm_name, paging_kind_name(vcpu.paging->kind()));
    return false;
  }
  vcpu.cr0_fixed = controls.cr0_fixed;
  vcpu.cr4_fixed = controls.cr4_fixed;
  vcpu.launched = false;
  vcpu.msr_hardware_dirty = true;
  vcpu.fpu_valid = false;  // a fresh start: the power-on x87/SSE state, see switch_fpu
  vcpu.vmcs_filled = true;
  return true;
}

namespace {
// The x87/SSE state a fresh vCPU starts with: x87 control word 0x37F and MXCSR 0x1F80, the
// power-on values (SDM Vol. 1 8.1.5, 10.2.3.1), everything else zero.
constexpr Fpu_state make_fpu_reset() {
  Fpu_state s{};
  s.bytes[0] = 0x7F;
  s.bytes[1] = 0x03;
  s.bytes[24] = 0x80;
  s.bytes[25] = 0x1F;
  return s;
}
constinit const Fpu_state g_fpu_reset = make_fpu_reset();

void switch_fpu(Vcpu& vcpu, Vcpu_cpu_state& here) {
  if (here.fpu_owner == &vcpu) return;
  if (here.fpu_owner) {
    x86::fxsave64(here.fpu_owner->fpu.bytes);
    here.fpu_owner->fpu_valid = true;
  }
  if (vcpu.fpu_valid) {
    x86::fxrstor64(vcpu.fpu.bytes);
  } else {
    x86::fxrstor64(g_fpu_reset.bytes);
  }
  here.fpu_owner = &vcpu;
}
} // namespace

Slice_outcome vcpu_run_slice(Vcpu& vcpu, Vcpu_cpu_state& here, u32 timer_value) {
  if (here.loaded != &vcpu) {
    if (x86::vmptrld(vcpu.vmcs_pa) != x86::Vmx_result::ok) {
      log_error("vmx", "{}: VMPTRLD of the VMCS at {:#x} failed", vcpu.vm_name, vcpu.vmcs_pa);
      vcpu.stop = Vcpu_stop{Vcpu_stop_kind::entry_failure, 0, 0};
      return Slice_outcome::stopped;
    }
    here.loaded = &vcpu;
    vcpu.msr_hardware_dirty = true;  // another vCPU's values are in the hardware
  }
  switch_fpu(vcpu, here);
  if (timer_value) g_vmcs.write(vmcs::VMX_PREEMPTION_TIMER_VALUE, timer_value);
  vcpu.yield = Vcpu_yield::none;
  if (vcpu.pending_event) inject_pending_event(vcpu, g_vmcs);
  apic_before_entry(vcpu, g_vmcs, x86::rdtsc());
  load_pending_cr2(vcpu);
  if (vcpu.msr_hardware_dirty) load_guest_hardware_msrs(vcpu);
  const bool launched = vcpu.launched;
  vcpu.launched = true;  // set before entering: a failure after the first exit is a VMRESUME's
  vcpu.tlb_cpu = here.cpu_index;
  tlb_enter(vcpu, here.cpu_index);
  here.entry_tsc = x86::rdtsc();
  const int rc = hv_vmx_run(&vcpu.regs, launched ? 1 : 0);
  tlb_sync_exit(vcpu.tlb);  // also when the entry failed (no exit ran)
  if (rc != 0) {
    u64 error = 0;
    if (rc == 2) (void)x86::vmread(vmcs::VM_INSTRUCTION_ERROR, error);
    log_error("vmx", "{}: {} failed: {} (VM-instruction error {}: {})", vcpu.vm_name,
              launched || vcpu.stats.total ? "VMRESUME" : "VMLAUNCH",
              rc == 1 ? "VMfailInvalid" : rc == 2 ? "VMfailValid" : "HOST_RSP write", error,
              rc == 2 ? vm_instruction_error_message(static_cast<u32>(error)) : "no current VMCS");
    vcpu.stop = Vcpu_stop{Vcpu_stop_kind::entry_failure, error, 0};
    return Slice_outcome::stopped;
  }
  if (vcpu.stop.kind != Vcpu_stop_kind::none) return Slice_outcome::stopped;
  switch (vcpu.yield) {
  case Vcpu_yield::blocked: return Slice_outcome::blocked;
  case Vcpu_yield::out_of_memory: return Slice_outcome::out_of_memory;
  default: return Slice_outcome::expired;
  }
}

void vcpu_unload(Vcpu& vcpu, Vcpu_cpu_state& here) {
  if (vcpu.vmcs_pa) (void)x86::vmclear(vcpu.vmcs_pa);
  vcpu.vmcs_filled = false;
  if (here.loaded == &vcpu) here.loaded = nullptr;
  if (here.fpu_owner == &vcpu) here.fpu_owner = nullptr;
}

} // namespace hv
