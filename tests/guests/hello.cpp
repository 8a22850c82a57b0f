// tests/guests/hello.cpp - the smallest guest: says hello over its UART, checks that the boot
// info makes sense, and exits with status 0.
#include "guests/runtime/guest.hpp"

extern "C" hv::u32 guest_main(const hv::Boot_info* info) {
  guest::print("hello from guest '{}' (vm{}), {} MiB of memory", info->name, info->vm_id, info->memory_bytes / hv::MiB);
  bool ok = guest::check(info->magic == hv::boot_info_magic, "boot-info-magic", "{:#x}", info->magic);
  ok &= guest::check(info->version == hv::boot_info_version, "boot-info-version", "{}", info->version);
  ok &= guest::check(info->memory_bytes >= 2 * hv::MiB, "memory-size", "{}", info->memory_bytes);
  return ok ? 0 : 1;
}
