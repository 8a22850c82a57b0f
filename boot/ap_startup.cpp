// boot/ap_startup.cpp - host descriptor tables per CPU and starting the application processors
// with INIT-SIPI-SIPI after ExitBootServices (SDM Vol. 3A 9.4.4.1). Freestanding build only.
#include "arch/x86/native/descriptor_tables.hpp"
#include "arch/x86/native/host_idt.hpp"
#include "arch/x86/native/local_apic.hpp"
#include "boot/mp.hpp"
#include "lib/log.hpp"
#include <cstring>

extern "C" const hv::u8 hv_ap_trampoline_start[], hv_ap_trampoline_end[], hv_ap_tramp_gdtr[], hv_ap_tramp_gdt[],
    hv_ap_tramp_far_ptr[], hv_ap_tramp_long[], hv_ap_tramp_cr3[], hv_ap_tramp_stack[], hv_ap_tramp_entry[],
    hv_ap_tramp_arg[], hv_ap_tramp_alive[];

namespace hv::boot {
namespace {

void spin(u64 iterations) {
  for (u64 i = 0; i < iterations; ++i) __builtin_ia32_pause();
}

// Where a trampoline symbol lands in the copy at `page`.
template <typename T>
T* in_copy(u64 page, const u8* symbol) {
  return reinterpret_cast<T*>(page + static_cast<u64>(symbol - hv_ap_trampoline_start));
}

} // namespace

void load_host_tables(Per_cpu& cpu) {
  build_host_gdt(cpu);
  x86::lgdt(x86::Descriptor_table_register{sizeof(cpu.gdt) - 1, reinterpret_cast<u64>(cpu.gdt)});
  x86::reload_segments(host_code_selector, host_data_selector);
  x86::ltr(host_tss_selector);
  x86::load_host_idt();
}

void start_application_processors(const Mp_plan& plan, void (*ap_main)(Per_cpu*)) {
  Cpu_set& set = cpu_set();
  if (set.count < 2 || plan.trampoline_page == 0) return;
  const u64 cr3 = x86::read_cr3();
  if (cr3 >= (1ull << 32)) {
    log_error("boot", "CR3 {:#x} is above 4 GiB: the real-mode trampoline cannot load it; APs stay off", cr3);
    return;
  }
  const u64 page = plan.trampoline_page;
  std::memcpy(reinterpret_cast<void*>(page), hv_ap_trampoline_start,
              static_cast<usize>(hv_ap_trampoline_end - hv_ap_trampoline_start));
  *reinterpret_cast<u32*>(reinterpret_cast<u8*>(in_copy<u8>(page, hv_ap_tramp_gdtr)) + 2) =
      static_cast<u32>(page + (hv_ap_tramp_gdt - hv_ap_trampoline_start));
  *in_copy<u32>(page, hv_ap_tramp_far_ptr) = static_cast<u32>(page + (hv_ap_tramp_long - hv_ap_trampoline_start));
  *in_copy<u64>(page, hv_ap_tramp_cr3) = cr3;
  *in_copy<u64>(page, hv_ap_tramp_entry) = reinterpret_cast<u64>(ap_main);

  x86::Local_apic apic;
  const u32 sipi_vector = static_cast<u32>(page >> 12);
  for (u32 i = 1; i < set.count; ++i) {
    Per_cpu& cpu = *set.cpus[i];
    *in_copy<u64>(page, hv_ap_tramp_stack) = cpu.stack_top();
    *in_copy<u64>(page, hv_ap_tramp_arg) = reinterpret_cast<u64>(&cpu);
    *in_copy<volatile u32>(page, hv_ap_tramp_alive) = 0;
    cpu.state.store(Cpu_state::starting);
    bool sent = apic.send_ipi(cpu.apic_id, x86::ICR_DELIVERY_INIT | x86::ICR_LEVEL_ASSERT);
    spin(1'000'000);  // the SDM's 10 ms INIT delay, roughly; generous on modern CPUs
    for (int attempt = 0; attempt < 2 && cpu.state.load() == Cpu_state::starting; ++attempt) {
      sent = apic.send_ipi(cpu.apic_id, x86::ICR_DELIVERY_STARTUP | sipi_vector) && sent;
      spin(200'000);
    }
    // Bounded wait: a CPU that never arrives is reported and left off; the others go on.
    auto settled = [&] { const Cpu_state s = cpu.state.load(); return s == Cpu_state::vmx_root || s == Cpu_state::failed; };
    for (u64 waited = 0; !settled() && waited < 50'000'000; ++waited) __builtin_ia32_pause();
    if (!settled()) {
      log_error("boot", "cpu{} (APIC ID {}) did not start (IPI delivered: {}, reached the trampoline: {})", cpu.index,
                cpu.apic_id, sent, *in_copy<volatile u32>(page, hv_ap_tramp_alive) != 0);
      cpu.state.store(Cpu_state::failed);
    }
  }
}

} // namespace hv::boot
