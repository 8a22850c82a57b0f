// core/vm.hpp - a virtual machine: its configuration, guest memory (EPT, demand population),
// devices (UART, debug-exit port), CPU model, MSRs and its one vCPU; how it is prepared from an
// image, and how its end is judged against what the configuration expected. Both builds: the
// hardware-facing steps (VMCS, entering the guest) are in vmx/native/ and boot/.
#pragma once
#include "core/config_model.hpp"
#include "core/guest_loader.hpp"
#include "devices/debug_exit.hpp"
#include "devices/guest_uart.hpp"
#include "devices/local_apic_page.hpp"
#include "mm/balloon.hpp"
#include "mm/guest_memory.hpp"
#include "mm/merge/merger.hpp"
#include "vmx/guest_cpuid.hpp"
#include "vmx/ept_paging.hpp"
#include "vmx/guest_msr.hpp"
#include "vmx/shadow_paging.hpp"
#include "vmx/vcpu.hpp"

namespace hv {

// created -> ready (prepared) -> running <-> paused -> stopped; failed: it could not be built.
enum class Vm_state : u8 { created, ready, running, paused, stopped, failed };
[[nodiscard]] const char* vm_state_name(Vm_state state);

// The host facts every VM is built from.
struct Vm_host {
  Frame_source& frames;
  Direct_map direct_map;
  Ept_invalidator& invalidator;
  Ept_hardware ept_hardware;
  Paging_policy policy;
  Cpu_access& cpu;              // read once, to build the guest CPU model
  Guest_msr_config msr_config;
  Merger* merger = nullptr;     // same-page merging (mm/merge/); null: the VM's pages never merge
  // Makes another CPU leave guest mode (a kick IPI), so that an EPT change made elsewhere reaches
  // the CPU where the VM runs (vmx/ept_tlb_sync.hpp). Null: every change is made on the VM's CPU.
  void (*kick_cpu)(u32 cpu) = nullptr;
  void (*relax)() = nullptr;    // what a CPU does while it waits for that (PAUSE)
  // Paging: EPT where the CPU has it and the VM does not ask for shadow paging (docs/shadow-paging.md).
  bool ept = true;              // the CPU runs guests with EPT
  bool vpid = false;            // ... and with VPIDs
  bool force_shadow = false;    // the global shadow_paging = on
  u32 shadow_pages = shadow_pages_default;  // the shadow MMU's budget per VM
  u64 (*read_tsc)() = nullptr;  // the TSC (guests see the host's); null in hosted tests: 0
};

class Vm {
public:
  Vm(Vm_id id, const Vm_config& config, Vm_host& host);
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  // Builds guest memory (one RAM slot of memory_mib), loads the image (a test-guest ELF, or with
  // `kernel =` a bzImage and its initrd), wires devices and the vCPU. False (with the reason
  // logged) leaves the VM `failed`; nothing of it stays allocated.
  [[nodiscard]] bool prepare(std::span<const u8> image, std::span<const u8> initrd = {});
  // Back to the state right after prepare(): guest memory emptied (its frames go back to the
  // allocator), the image loaded again, registers and devices as at the start; exit statistics
  // and the UART's check counts are kept. The vCPU must not be running; its VMCS is refilled by
  // the caller. False (logged, the VM then `failed`) if the image cannot be loaded again.
  [[nodiscard]] bool reset();
  // A stopped VM boots again: the image loaded into empty guest memory, registers and devices as
  // at the start (exit statistics and check counts are kept); state `ready`. False if it is not
  // stopped, or (logged, the VM then `failed`) if the image cannot be loaded.
  [[nodiscard]] bool restart();
  // After the vCPU stopped: flushes the UART, logs the end and the exit statistics, gives all
  // guest memory back. Idempotent.
  void finish();
  // Did the VM end as its configuration expected? (No expectation: exit status 0.)
  [[nodiscard]] bool met_expectation() const;

  [[nodiscard]] Vm_id id() const { return id_; }
  [[nodiscard]] std::string_view name() const { return config_.name.view(); }
  [[nodiscard]] const Vm_config& config() const { return config_; }
  [[nodiscard]] Vm_state state() const { return state_; }
  void set_state(Vm_state s) { state_ = s; }
  [[nodiscard]] Vcpu& vcpu() { return vcpu_; }
  [[nodiscard]] const Vcpu& vcpu() const { return vcpu_; }
  [[nodiscard]] const Guest_start_state& start_state() const { return start_; }
  [[nodiscard]] Guest_memory& memory() { return memory_; }
  [[nodiscard]] Guest_paging& paging() { return *paging_; }
  [[nodiscard]] const Guest_paging& paging() const { return *paging_; }
  // Its shadow MMU (shadow paging), else null.
  [[nodiscard]] const Shadow_mmu* shadow() const {
    return paging_ == &shadow_paging_ ? &shadow_paging_.mmu() : nullptr;
  }
  [[nodiscard]] Balloon& balloon() { return balloon_; }
  [[nodiscard]] const Balloon& balloon() const { return balloon_; }
  [[nodiscard]] const Guest_uart& uart() const { return uart_; }
  [[nodiscard]] const Guest_memory_stats& final_memory_stats() const { return final_memory_; }
  // Guest RAM backed by host frames now (after finish(): what it had at the end).
  [[nodiscard]] u64 populated_bytes() const;
  [[nodiscard]] u32 resets() const { return resets_; }

private:
  class Memory_writer;

  [[nodiscard]] const char* load_image();
  void reset_vcpu_state();
  bool reload(std::string_view what);
  void release_memory();
  bool fail(std::string_view what, std::string_view why);

  Vm_id id_;
  Vm_config config_;
  char name_[vm_name_max + 1] = {};
  Vm_state state_ = Vm_state::created;
  Synced_invept invept_;  // before memory_: its EPT invalidates through it
  Guest_memory memory_;
  Balloon balloon_{memory_};
  Ept_paging ept_paging_;
  Shadow_paging shadow_paging_;
  Guest_paging* paging_ = &ept_paging_;
  Merger* merger_ = nullptr;
  Io_bus io_;
  Guest_uart uart_;
  // The platform a Linux kernel needs (kernel VMs only, docs/guest-boot.md): a local APIC, its
  // xAPIC page on the MMIO bus.
  Local_apic apic_;
  Local_apic_page apic_page_;
  Mmio_bus mmio_;
  u64 (*host_read_tsc_)() = nullptr;
  Debug_exit debug_exit_;
  Guest_cpuid cpuid_;
  Guest_msrs msrs_;
  Guest_msr_config msr_config_;
  Vcpu vcpu_;
  Guest_start_state start_;
  Guest_memory_stats final_memory_;
  std::span<const u8> image_;   // the ESP file it was loaded from (lives as long as hv)
  std::span<const u8> initrd_;  // with a kernel: its initrd file (may be empty)
  char load_error_[160] = {};   // why the last load failed, with figures
  u32 resets_ = 0;
  bool memory_released_ = false;
};

} // namespace hv
