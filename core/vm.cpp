// core/vm.cpp - see vm.hpp. Both builds.
#include "core/vm.hpp"
#include "core/linux_loader.hpp"
#include "core/config.hpp"
#include "lib/log.hpp"
#include "vmx/exit_handler.hpp"
#include <cstring>

namespace hv {

const char* vm_state_name(Vm_state state) {
  switch (state) {
  case Vm_state::created: return "created";
  case Vm_state::ready: return "ready";
  case Vm_state::running: return "running";
  case Vm_state::paused: return "paused";
  case Vm_state::stopped: return "stopped";
  case Vm_state::failed: return "failed";
  }
  return "?";
}

class Vm::Memory_writer final : public Guest_physical_writer {
public:
  explicit Memory_writer(Guest_memory& m) : m_(m) {}
  bool write(Gpa gpa, std::span<const u8> bytes) override {
    return m_.copy_to_guest(gpa, bytes).status == Guest_copy_status::ok;
  }

private:
  Guest_memory& m_;
};

namespace {
// The shadow MMU of VM `id`: its budget, and VPIDs apart from every EPT VM's (which use their id).
Shadow_paging_config shadow_config_for(Vm_id id, const Vm_host& host) {
  Shadow_paging_config c;
  c.mmu.max_table_pages = host.shadow_pages;
  c.mmu.max_roots = 4;
  c.mmu.vpid = host.vpid;
  c.mmu.first_vpid = static_cast<u16>(64 + u32{id} * shadow_max_roots);
  return c;
}
} // namespace

Vm::Vm(Vm_id id, const Vm_config& config, Vm_host& host)
    : id_(id), config_(config), invept_(host.invalidator, vcpu_.tlb, host.kick_cpu, host.relax),
      memory_(host.frames, host.direct_map, invept_, make_ept_config(id, host.ept_hardware, host.policy), host.policy),
      ept_paging_(memory_, host.vpid ? static_cast<u16>(id) : u16{0}),
      shadow_paging_(memory_, host.frames, host.direct_map, shadow_config_for(id, host), &vcpu_.tlb.requested),
      merger_(host.merger), apic_page_(apic_, host.read_tsc), msrs_(host.msr_config, 0), msr_config_(host.msr_config) {
  if (!host.ept || host.force_shadow || config_.paging == Paging_mode::shadow) paging_ = &shadow_paging_;
  host_read_tsc_ = host.read_tsc;
  if (merger_) memory_.set_sharing(&merger_->sharing());
  const std::string_view n = config_.name.view();
  std::memcpy(name_, n.data(), n.size());
  uart_.set_name(std::string_view(name_, n.size()));
  balloon_.set_name(std::string_view(name_, n.size()));
  // Shadow paging keys a root by the PML4 alone: PCID (and INVPCID) are not offered to its guests.
  Guest_cpuid_config cpu_model{};
  if (paging_ == &shadow_paging_) cpu_model.pcid = false;
  cpu_model.local_apic = config_.boots_kernel;
  cpuid_.build(host.cpu, cpu_model);
  const Cpuid_result ext = cpuid_.model_answer(0x80000001, 0, Guest_cpuid_vcpu{});
  const Cpuid_result size = cpuid_.model_answer(0x80000008, 0, Guest_cpuid_vcpu{});
  shadow_paging_.set_guest_cpu((ext.edx >> 26) & 1, size.eax & 0xFF ? static_cast<u8>(size.eax & 0xFF) : u8{36});
}

// EPT root and the image in guest memory (the RAM slot must exist); the start state in start_.
// Null on success, else why not.
const char* Vm::load_image() {
  if (memory_.init() != Ept_status::ok) return "no memory for the EPT root";
  if (merger_ && merger_->attach(id_, memory_, config_.merge) != Merge_status::ok) return "cannot join the same-page merger";
  Memory_writer writer(memory_);
  const u64 memory_bytes = u64{config_.memory_mib} * MiB;
  u64 image_end = 0;
  // Why it failed, with the figures, NUL-terminated in load_error_.
  auto say = [this](std::string_view fmt, const auto&... args) {
    Fixed_text<sizeof load_error_ - 1> t;
    format_to(t, fmt, args...);
    std::memcpy(load_error_, t.view().data(), t.size());
    load_error_[t.size()] = '\0';
  };
  if (config_.boots_kernel) {
    const Linux_load_result loaded =
        load_linux(Linux_load_request{image_, initrd_, config_.args.view(), memory_bytes, 0, {}}, writer);
    if (loaded.error == Linux_load_error::bad_kernel) {
      say("{}: {}", config_.image.view(), bzimage_error_message(loaded.kernel_error));
      return load_error_;
    }
    if (loaded.error == Linux_load_error::kernel_too_large || loaded.error == Linux_load_error::initrd_too_large) {
      say("{} ({} MiB needed, memory = {})", linux_load_error_message(loaded.error),
                (loaded.memory_needed + MiB - 1) / MiB, config_.memory_mib);
      return load_error_;
    }
    if (loaded.error == Linux_load_error::cmdline_too_long) {
      say("{} ({} characters, the kernel takes {})", linux_load_error_message(loaded.error),
                config_.args.view().size(), loaded.kernel.cmdline_size);
      return load_error_;
    }
    if (loaded.error != Linux_load_error::none) return linux_load_error_message(loaded.error);
    start_ = loaded.start;
    image_end = loaded.initrd_address ? loaded.initrd_address + initrd_.size() : loaded.kernel_end;
  } else {
    const Guest_load_result loaded =
        load_guest(Guest_load_request{image_, memory_bytes, id_, name(), config_.args.view()}, writer);
    if (loaded.error != Load_error::none)
      return loaded.error == Load_error::bad_elf ? elf_error_message(loaded.elf_error) : load_error_message(loaded.error);
    start_ = loaded.start;
    image_end = loaded.image_end;
  }
  // The balloon: the VM starts with [memory_current, memory) already in it (docs/balloon.md).
  const u64 memory_pages = u64{config_.memory_mib} * MiB / page_size_4k;
  const u64 size_pages = config_.memory_current_mib ? u64{config_.memory_current_mib} * MiB / page_size_4k : memory_pages;
  balloon_.start(memory_pages, size_pages);
  if (size_pages < memory_pages) {
    if (image_end > size_pages * page_size_4k) return "the image reaches above memory_current";
    if (balloon_.inflate_at_start() != Balloon_status::ok) return "no memory for the start balloon";
  }
  return nullptr;
}

// The vCPU as at power-on: registers, events, XCR0 and MSRs back to their first values.
void Vm::reset_vcpu_state() {
  vcpu_.regs = Guest_registers{};
  vcpu_.regs.rsi = start_.rsi;
  vcpu_.stop = Vcpu_stop{};
  vcpu_.pending_event.reset();
  vcpu_.deferred_event.reset();
  vcpu_.cr2_pending = false;
  vcpu_.halted = false;
  vcpu_.yield = Vcpu_yield::none;
  vcpu_.xcr0 = 1;
  msrs_ = Guest_msrs(msr_config_, 0);
  apic_.reset();
}

// Gives all guest memory back and marks the VM failed (it never runs again).
// The merger lets go of the VM first: it never scans memory that is going away.
void Vm::release_memory() {
  if (merger_) (void)merger_->detach(id_);
  shadow_paging_.release();  // its tables, before the memory they point into
  memory_.destroy();
  if (merger_) merger_->release_idle_storage();
}

bool Vm::fail(std::string_view what, std::string_view why) {
  log_error("vm", "{}: {}: {}", name(), what, why);
  release_memory();
  memory_released_ = true;
  state_ = Vm_state::failed;
  vcpu_.stop = Vcpu_stop{Vcpu_stop_kind::not_started, 0, 0};
  return false;
}

bool Vm::prepare(std::span<const u8> image, std::span<const u8> initrd) {
  image_ = image;
  initrd_ = initrd;
  if (memory_.add_slot(Memslot{Gpa(0), u64{config_.memory_mib} * MiB, Memslot_kind::ram, 0}) != Memslot_status::ok)
    return fail("not started: memory", "the RAM slot was refused");
  // A kernel's platform: the local APIC's page is an MMIO slot on the bus (docs/guest-boot.md).
  if (config_.boots_kernel &&
      (memory_.add_slot(Memslot{Gpa(Local_apic::default_base), page_size_4k, Memslot_kind::mmio, 1}) != Memslot_status::ok ||
       !mmio_.attach(Local_apic::default_base, page_size_4k, apic_page_)))
    return fail("not started: memory", "the local APIC page was refused (RAM reaches 0xFEE00000?)");
  if (const char* why = load_image()) return fail("not started: image", why);
  if (!io_.attach(guest_uart_base, 8, uart_) || !io_.attach(debug_exit_port, 4, debug_exit_))
    return fail("not started: devices", "port conflict");

  vcpu_.vm_id = id_;
  vcpu_.index = 0;
  vcpu_.vm_name = name_;
  vcpu_.memory = &memory_;
  vcpu_.paging = paging_;
  vcpu_.hypercall_env = Hypercall_env{&memory_, merger_, id_, &balloon_};
  vcpu_.io = &io_;
  if (config_.boots_kernel) {
    vcpu_.mmio = &mmio_;
    vcpu_.apic = &apic_;
  }
  vcpu_.read_tsc = host_read_tsc_;
  vcpu_.cpuid = &cpuid_;
  vcpu_.msrs = &msrs_;
  vcpu_.xcr0_supported = cpuid_.supported_xcr0();
  reset_vcpu_state();
  state_ = Vm_state::ready;
  if (config_.boots_kernel)
    log_info("vm", "{}: ready: kernel {} ({} bytes, 64-bit entry {:#x}), initrd {} ({} bytes), {} MiB of RAM on demand, "
             "command line \"{}\"", name(), config_.image.view(), image.size(), start_.rip,
             config_.initrd.view().empty() ? "none" : config_.initrd.view(), initrd.size(), config_.memory_mib,
             config_.args.view());
  else
    log_info("vm", "{}: ready: image {} ({} bytes, entry {:#x}), {} MiB of RAM on demand", name(), config_.image.view(),
             image.size(), start_.rip, config_.memory_mib);
  if (const Balloon_view b = balloon_.view(); b.actual_pages != 0)
    log_info("vm", "{}: balloon: starts at {} MiB of {} MiB (memory_current), {} pages in the balloon", name(),
             (b.memory_pages - b.actual_pages) / balloon_pages_per_mib, b.memory_pages / balloon_pages_per_mib, b.actual_pages);
  return true;
}

bool Vm::reset() {
  if (memory_released_) return false;
  // The memslots outlive destroy(): only the EPT and the frames behind it go.
  release_memory();
  if (!reload("reset failed")) return false;
  ++resets_;
  log_info("vm", "{}: reset: guest memory emptied, image loaded again, entry {:#x}", name(), start_.rip);
  return true;
}

bool Vm::restart() {
  if (state_ != Vm_state::stopped) return false;
  memory_released_ = false;  // finish() emptied it; the memslots are still there
  if (!reload("not started again")) return false;
  state_ = Vm_state::ready;
  log_info("vm", "{}: started again: image loaded into empty guest memory, entry {:#x}", name(), start_.rip);
  return true;
}

// The image into (empty) guest memory, devices and registers as at the start.
bool Vm::reload(std::string_view what) {
  if (const char* why = load_image()) return fail(what, why);
  uart_.flush();
  reset_vcpu_state();
  return true;
}

u64 Vm::populated_bytes() const {
  return memory_released_ ? final_memory_.populated_bytes() : memory_.stats().populated_bytes();
}

void Vm::finish() {
  if (memory_released_) return;
  uart_.flush();
  const Vcpu_stop& stop = vcpu_.stop;
  final_memory_ = memory_.stats();
  if (stop.kind == Vcpu_stop_kind::exit_status)
    log_info("vm", "{}: stopped: exit status {}", name(), stop.value);
  else
    log_info("vm", "{}: stopped: {}", name(), vcpu_stop_kind_name(stop.kind));
  log_exit_stats(vcpu_);
  // Under shadow paging the EPT is the guest-physical map only (the CPU does not walk it), and
  // its "violations" are the page faults that reached it.
  log_info("vm", "{}: memory: {} KiB populated ({} x 4 KiB, {} x 2 MiB), {} EPT table pages, {} {}", name(),
           final_memory_.populated_bytes() / KiB, final_memory_.frames_4k, final_memory_.frames_2m,
           final_memory_.table_pages, final_memory_.violations,
           shadow() ? "guest-physical map lookups" : "EPT violations");
  if (const Shadow_mmu* s = shadow()) {
    const Shadow_stats st = s->stats();
    log_info("vm", "{}: shadow paging: {} table pages at the end (peak {} of {}), {} page faults ({} the guest's own, "
             "{} entries built, {} of them 2 MiB), {} guest table writes, {} CR3 loads ({} found their root cached), {} recycles",
             name(), st.table_pages, st.table_pages_peak, s->config().max_table_pages, st.faults, st.guest_faults,
             st.fills, st.large_fills, st.table_writes, st.cr3_loads, st.root_hits, st.recycles);
  }
  release_memory();
  memory_released_ = true;
  state_ = Vm_state::stopped;
}

bool Vm::met_expectation() const {
  const Vcpu_stop& stop = vcpu_.stop;
  const Vm_expectation& e = config_.expect;
  switch (e.kind) {
  // No expectation: a clean end, exit status 0 or an ACPI power-off (a Linux guest's poweroff).
  case Expect_kind::none:
    return (stop.kind == Vcpu_stop_kind::exit_status && stop.value == 0) || stop.kind == Vcpu_stop_kind::powered_off;
  case Expect_kind::exit: return stop.kind == Vcpu_stop_kind::exit_status && stop.value == e.status;
  case Expect_kind::triple_fault: return stop.kind == Vcpu_stop_kind::triple_fault;
  case Expect_kind::stop: return e.reason.view() == vcpu_stop_kind_name(stop.kind);
  }
  return false;
}

} // namespace hv
