// boot/host_address_space.cpp - builds the hypervisor's own page tables after ExitBootServices
// and loads them, so nothing of the firmware's (its page tables live in boot-services memory,
// which becomes free RAM) is in use any more. Freestanding build only.
// Layout: identity map of [0, max(4 GiB, end of the highest region)) with 1 GiB pages where
// the CPU has them (2 MiB otherwise), read/write and non-executable; hv's image in 4 KiB pages
// with W^X (.text read-only executable, .rodata read-only, .data read/write); the AP
// trampoline page writable and executable (the BSP patches it for each AP it starts; it is the
// one W+X page, used only during start-up). MMIO is mapped write-back here and made uncacheable by the
// firmware's MTRRs, as on every PC (the hypervisor touches MMIO only through the local APIC).
#include "arch/x86/msr.hpp"
#include "arch/x86/native/instructions.hpp"
#include "arch/x86/native/vmx_instructions.hpp"
#include "boot/host_space.hpp"
#include "lib/log.hpp"
#include "mm/host_page_tables.hpp"
#include "mm/pool_frame_source.hpp"

extern "C" const hv::u8 __hv_image_start[], __hv_text_start[], __hv_text_end[], __hv_rodata_start[],
    __hv_rodata_end[], __hv_data_start[], __hv_data_end[], __hv_image_end[];

namespace hv::boot {
namespace {
constinit Pool_frame_source g_pool{};
constexpr u64 pool_bytes = 2 * MiB;

u64 page_down(const void* p) { return reinterpret_cast<u64>(p) & ~(page_size_4k - 1); }
u64 page_up(const void* p) { return (reinterpret_cast<u64>(p) + page_size_4k - 1) & ~(page_size_4k - 1); }
} // namespace

bool reserve_host_space_pool(EFI_SYSTEM_TABLE* st) {
  EFI_PHYSICAL_ADDRESS address = 0xFFFFFFFF;  // CR3 must stay below 4 GiB for the AP trampoline
  if (EFI_ERROR(uefi_call_wrapper(st->BootServices->AllocatePages, 4, AllocateMaxAddress, EfiLoaderData,
                                  pool_bytes / page_size_4k, &address)))
    return false;
  g_pool = Pool_frame_source(Hpa(address), pool_bytes, Direct_map(0));
  return true;
}

bool switch_to_host_page_tables(std::span<const Memory_region> map, u64 trampoline_page) {
  u64 top = 4 * GiB;
  for (const Memory_region& r : map) top = r.end().value() > top ? r.end().value() : top;
  top = (top + page_size_2m - 1) & ~(page_size_2m - 1);
  const bool has_1g = x86::cpuid(0x80000001).edx & (1u << 26);
  const bool has_nx = x86::cpuid(0x80000001).edx & (1u << 20);
  if (!has_nx) {
    log_error("mm", "CPU without execute-disable (NX): hv's W^X host mappings need it");
    return false;
  }
  static Host_page_tables pt(g_pool, Direct_map(0), has_1g);  // lives as long as hv does
  if (!pt.init()) return false;
  Host_map_error e = pt.map_identity(0, top, Host_rights{true, false, false});
  const u64 text = page_down(__hv_text_start), text_end = page_up(__hv_text_end);
  const u64 ro = page_down(__hv_rodata_start), ro_end = page_up(__hv_rodata_end);
  if (e == Host_map_error::none) e = pt.map_identity(text, text_end - text, Host_rights{false, true, false});
  if (e == Host_map_error::none && ro_end > ro) e = pt.map_identity(ro, ro_end - ro, Host_rights{false, false, false});
  if (e == Host_map_error::none && trampoline_page)
    e = pt.map_identity(trampoline_page, page_size_4k, Host_rights{true, true, false});  // patched per AP: W+X
  if (e != Host_map_error::none) {
    log_error("mm", "building the host page tables failed ({})", e == Host_map_error::out_of_memory ? "pool exhausted" : "bad range");
    return false;
  }
  x86::wrmsr(msr::IA32_EFER, x86::rdmsr(msr::IA32_EFER) | msr::EFER_NXE);  // before NX bits go live
  x86::write_cr3(pt.cr3().value());
  log_info("mm", "host page tables loaded: identity map of {} GiB with {} pages, {} table pages; image {}..{} (text {}..{} RX, rodata RO, data RW NX)",
           top / GiB, has_1g ? "1 GiB" : "2 MiB", pt.table_pages(), Hpa(page_down(__hv_image_start)),
           Hpa(page_up(__hv_image_end)), Hpa(text), Hpa(text_end));
  return true;
}

} // namespace hv::boot
