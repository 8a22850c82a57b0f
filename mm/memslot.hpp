// mm/memslot.hpp - a VM's guest-physical address space as a short list of slots (after KVM's
// memslots): RAM populated on demand, emulated MMIO, reserved holes. Both builds. Fixed capacity,
// no heap; slots never overlap and are kept sorted by base.
#pragma once
#include "arch/x86/address.hpp"
#include <array>
#include <span>

namespace hv {

enum class Memslot_kind : u8 {
  ram,       // guest RAM: an EPT violation here populates a zeroed host frame
  mmio,      // emulated device registers: never mapped, every access exits and is emulated
  reserved,  // a hole the guest must not touch (an access is the guest's error)
};
[[nodiscard]] const char* memslot_kind_name(Memslot_kind kind);

struct Memslot {
  Gpa base;
  u64 size = 0;
  Memslot_kind kind = Memslot_kind::ram;
  u32 tag = 0;  // for MMIO: which device model answers (the caller's number); else free to use
  [[nodiscard]] constexpr Gpa end() const { return base + size; }
  [[nodiscard]] constexpr bool contains(Gpa gpa) const { return gpa >= base && gpa - base < size; }
  [[nodiscard]] constexpr bool contains(Gpa start, u64 bytes) const {
    return start >= base && start - base <= size && bytes <= size - (start - base);
  }
};

enum class [[nodiscard]] Memslot_status : u8 {
  ok = 0,
  empty,         // size 0
  misaligned,    // base or size not a multiple of 4 KiB
  out_of_range,  // beyond the 48-bit guest-physical space, or wraps
  overlaps,      // shares an address with an existing slot
  full,          // all slots in use
};
[[nodiscard]] const char* memslot_status_name(Memslot_status s);

class Memslot_table {
public:
  static constexpr usize capacity = 16;

  Memslot_status add(const Memslot& slot);
  // The slot containing gpa, or nullptr.
  [[nodiscard]] const Memslot* find(Gpa gpa) const;
  // Is every byte of [start, start + bytes) in some RAM slot (adjacent slots may share the range)?
  [[nodiscard]] bool all_ram(Gpa start, u64 bytes) const;
  [[nodiscard]] std::span<const Memslot> slots() const { return {slots_.data(), count_}; }
  [[nodiscard]] u64 ram_bytes() const;

private:
  std::array<Memslot, capacity> slots_{};
  usize count_ = 0;
};

} // namespace hv
