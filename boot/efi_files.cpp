// boot/efi_files.cpp - reading hv's files from the ESP it was loaded from (UEFI 2.10 13.4/13.5:
// the loaded image's device, its Simple File System, EFI_FILE_PROTOCOL): the configuration
// \EFI\hv\hv.cfg and every image in \EFI\hv\guests\. Contents go into loader-data pages, which
// survive ExitBootServices and which the frame allocator never manages. Freestanding only.
#include "boot/efi.hpp"
#include "boot/esp_files.hpp"
#include "lib/log.hpp"
#include <cstring>

namespace hv::boot {
namespace {

constinit Esp_files g_files{};

bool ascii_name(const CHAR16* in, char* out, usize capacity) {
  usize i = 0;
  for (; in[i] != 0; ++i) {
    if (i + 1 >= capacity || in[i] >= 0x80) return false;
    out[i] = static_cast<char>(in[i]);
  }
  out[i] = '\0';
  return true;
}

// Reads a whole open file into fresh loader-data pages. Null (logged) on failure.
const u8* read_whole(EFI_SYSTEM_TABLE* st, EFI_FILE_HANDLE file, u64 size, const char* name) {
  if (size == 0 || size > max_esp_file_bytes) {
    log_error("boot", "{}: size {} bytes is outside 1..{}", name, size, max_esp_file_bytes);
    return nullptr;
  }
  EFI_PHYSICAL_ADDRESS address = 0;
  if (EFI_ERROR(uefi_call_wrapper(st->BootServices->AllocatePages, 4, AllocateAnyPages, EfiLoaderData,
                                  (size + 4095) / 4096, &address))) {
    log_error("boot", "{}: no memory for {} bytes", name, size);
    return nullptr;
  }
  UINTN got = size;
  const EFI_STATUS s = uefi_call_wrapper(file->Read, 3, file, &got, reinterpret_cast<void*>(address));
  if (EFI_ERROR(s) || got != size) {
    log_error("boot", "{}: read failed (status {:#x}, {} of {} bytes)", name, s, got, size);
    return nullptr;
  }
  return reinterpret_cast<const u8*>(address);
}

alignas(8) constinit u8 g_info_buffer[1024]{};

void read_config(EFI_SYSTEM_TABLE* st, EFI_FILE_HANDLE root) {
  EFI_FILE_HANDLE file = nullptr;
  static char16_t path[] = u"\\EFI\\hv\\hv.cfg";
  if (EFI_ERROR(uefi_call_wrapper(root->Open, 5, root, &file, reinterpret_cast<CHAR16*>(path), EFI_FILE_MODE_READ, 0))) return;
  EFI_GUID info_id = EFI_FILE_INFO_ID;
  UINTN size = sizeof g_info_buffer;
  if (!EFI_ERROR(uefi_call_wrapper(file->GetInfo, 4, file, &info_id, &size, g_info_buffer))) {
    const auto* info = reinterpret_cast<const EFI_FILE_INFO*>(g_info_buffer);
    if (const u8* data = read_whole(st, file, info->FileSize, "hv.cfg")) {
      g_files.config = Esp_file{"hv.cfg", data, info->FileSize};
      g_files.has_config = true;
    }
  }
  uefi_call_wrapper(file->Close, 1, file);
}

void read_guests(EFI_SYSTEM_TABLE* st, EFI_FILE_HANDLE root) {
  EFI_FILE_HANDLE dir = nullptr;
  static char16_t path[] = u"\\EFI\\hv\\guests";
  if (EFI_ERROR(uefi_call_wrapper(root->Open, 5, root, &dir, reinterpret_cast<CHAR16*>(path), EFI_FILE_MODE_READ, 0))) return;
  for (;;) {
    UINTN size = sizeof g_info_buffer;
    if (EFI_ERROR(uefi_call_wrapper(dir->Read, 3, dir, &size, g_info_buffer)) || size == 0) break;
    const auto* info = reinterpret_cast<const EFI_FILE_INFO*>(g_info_buffer);
    if (info->Attribute & EFI_FILE_DIRECTORY) continue;
    Esp_file f;
    if (!ascii_name(info->FileName, f.name, sizeof f.name)) {
      log_warn("boot", "skipping a guest image whose name is not short ASCII");
      continue;
    }
    if (g_files.guest_count == max_esp_guests) {
      log_warn("boot", "more than {} guest images: {} and later ones are ignored", max_esp_guests, f.name);
      break;
    }
    EFI_FILE_HANDLE file = nullptr;
    if (EFI_ERROR(uefi_call_wrapper(dir->Open, 5, dir, &file, const_cast<CHAR16*>(info->FileName), EFI_FILE_MODE_READ, 0))) continue;
    f.size = info->FileSize;
    f.data = read_whole(st, file, f.size, f.name);
    uefi_call_wrapper(file->Close, 1, file);
    if (f.data) g_files.guests[g_files.guest_count++] = f;
  }
  uefi_call_wrapper(dir->Close, 1, dir);
}

} // namespace

const Esp_files& read_esp_files(EFI_HANDLE image, EFI_SYSTEM_TABLE* st) {
  EFI_GUID loaded_image_id = EFI_LOADED_IMAGE_PROTOCOL_GUID;
  EFI_GUID fs_id = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
  EFI_LOADED_IMAGE* loaded = nullptr;
  EFI_FILE_IO_INTERFACE* fs = nullptr;
  EFI_FILE_HANDLE root = nullptr;
  if (EFI_ERROR(uefi_call_wrapper(st->BootServices->HandleProtocol, 3, image, &loaded_image_id, reinterpret_cast<void**>(&loaded))) ||
      EFI_ERROR(uefi_call_wrapper(st->BootServices->HandleProtocol, 3, loaded->DeviceHandle, &fs_id, reinterpret_cast<void**>(&fs))) ||
      EFI_ERROR(uefi_call_wrapper(fs->OpenVolume, 2, fs, &root))) {
    log_warn("boot", "cannot open the ESP hv was loaded from: no configuration, no guests");
    return g_files;
  }
  read_config(st, root);
  read_guests(st, root);
  uefi_call_wrapper(root->Close, 1, root);
  return g_files;
}

} // namespace hv::boot
