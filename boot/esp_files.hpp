// boot/esp_files.hpp - hv's files on the ESP, read before ExitBootServices. Freestanding only.
#pragma once
#include "boot/efi.hpp"
#include <string_view>

namespace hv::boot {

inline constexpr usize max_esp_guests = 32;
inline constexpr u64 max_esp_file_bytes = 64 * MiB;

struct Esp_file {
  char name[64] = {};
  const u8* data = nullptr;  // identity-mapped loader data; valid for hv's lifetime
  u64 size = 0;
};

struct Esp_files {
  Esp_file config;
  bool has_config = false;
  Esp_file guests[max_esp_guests];
  usize guest_count = 0;
  // The guest image called `name`, or null.
  [[nodiscard]] const Esp_file* guest(std::string_view name) const {
    for (usize i = 0; i < guest_count; ++i) {
      if (name == guests[i].name) return &guests[i];
    }
    return nullptr;
  }
};

[[nodiscard]] const Esp_files& read_esp_files(EFI_HANDLE image, EFI_SYSTEM_TABLE* st);

} // namespace hv::boot
