// tests/unit/support/phys_arena.hpp - hosted "host physical memory" for unit tests and benchmarks.
// Hosted only.
//
// A Phys_arena reserves `bytes` of sparse anonymous memory (MAP_NORESERVE: only the pages a test
// touches cost RAM, so 4+ GiB arenas are fine and allow 1 GiB blocks) and presents it to the code
// under test as host physical memory [base, base + bytes), with a Direct_map that turns those
// HPAs into pointers. The default base is 4 GiB: nonzero, so code that confuses "HPA 0" with
// "nothing" fails, and 1 GiB aligned, so the arena holds whole 1 GiB blocks.
//
//   Phys_arena arena(64 * MiB);
//   auto map = arena.memory_map();               // one conventional region, as firmware says
//   Frame_allocator fa;                          // (or import_usable_memory(map, ...) first)
//   ASSERT_EQ(fa.init(arena.usable_ranges(), arena.direct_map()), Frame_allocator_status::ok);
//   u64* p = arena.ptr<u64>(*fa.alloc_frames(0, Frame_use::guest, 1));
//
// Fresh pages read as zero. Transparent huge pages are turned off for the mapping, so touching
// one 4 KiB frame costs 4 KiB of RAM. Include as "unit/support/phys_arena.hpp" in unit tests and
// as "tests/unit/support/phys_arena.hpp" in benchmarks.
#pragma once
#include "mm/direct_map.hpp"
#include "mm/memory_map.hpp"
#include "mm/memory_map_import.hpp"
#include <cstdio>
#include <cstdlib>
#include <sys/mman.h>
#include <vector>

namespace hv::test {

class Phys_arena {
public:
  static constexpr Hpa default_base{0x1'0000'0000};
  // The host mapping is aligned to this, so host and "physical" offsets agree up to 2 MiB.
  static constexpr u64 host_alignment = 2 * MiB;

  explicit Phys_arena(u64 bytes, Hpa base = default_base) : base_(base), bytes_(bytes) {
    if (bytes == 0 || !base.is_aligned(page_size_4k) || bytes % page_size_4k != 0) {
      std::fprintf(stderr, "Phys_arena: size and base must be nonzero multiples of 4 KiB\n");
      std::abort();
    }
    reserved_ = bytes + host_alignment;
    void* p = mmap(nullptr, reserved_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("Phys_arena: mmap");
      std::abort();
    }
    mapping_ = static_cast<unsigned char*>(p);
    const u64 raw = reinterpret_cast<u64>(p);
    host_ = mapping_ + ((host_alignment - raw % host_alignment) % host_alignment);
    madvise(host_, bytes_, MADV_NOHUGEPAGE);
  }
  ~Phys_arena() { munmap(mapping_, reserved_); }
  Phys_arena(const Phys_arena&) = delete;
  Phys_arena& operator=(const Phys_arena&) = delete;

  [[nodiscard]] Hpa base() const { return base_; }
  [[nodiscard]] Hpa end() const { return base_ + bytes_; }
  [[nodiscard]] u64 bytes() const { return bytes_; }
  [[nodiscard]] Hpa_range range() const { return {base_, end()}; }
  [[nodiscard]] bool contains(Hpa hpa, u64 bytes = 1) const {
    return hpa >= base_ && hpa - base_ <= bytes_ && bytes <= bytes_ - (hpa - base_);
  }

  // Hva = Hpa + offset, as the hypervisor's own identity map would give.
  [[nodiscard]] Direct_map direct_map() const {
    return Direct_map(static_cast<i64>(reinterpret_cast<u64>(host_)) - static_cast<i64>(base_.value()));
  }
  template <typename T = void>
  [[nodiscard]] T* ptr(Hpa hpa) const {
    return direct_map().ptr<T>(hpa);
  }

  // The firmware's view of the arena: one conventional region covering it all. Tests append
  // reserved or odd regions to it before import_usable_memory.
  [[nodiscard]] std::vector<Memory_region> memory_map() const {
    return {Memory_region{base_, bytes_ >> page_shift, Memory_type::conventional, 0}};
  }
  // What import_usable_memory makes of memory_map(): the whole arena.
  [[nodiscard]] std::vector<Hpa_range> usable_ranges() const { return {range()}; }

  // Gives the pages of [hpa, hpa + bytes) back to the host; they read as zero again.
  void discard(Hpa hpa, u64 bytes) { madvise(ptr(hpa), bytes, MADV_DONTNEED); }

private:
  Hpa base_;
  u64 bytes_ = 0;
  u64 reserved_ = 0;
  unsigned char* mapping_ = nullptr;
  unsigned char* host_ = nullptr;
};

} // namespace hv::test
