// mm/host_page_tables.hpp - the hypervisor's own address space: an identity map of physical
// memory (Hva == Hpa) with the largest pages that fit (1 GiB where the CPU has them, else
// 2 MiB), and 4 KiB pages where rights change inside a large page (hv's image: code read-only
// and executable, read-only data, data non-executable). Both builds: tables come from a
// Frame_source and are written through a Direct_map, so tests build them in an arena.
#pragma once
#include "mm/direct_map.hpp"
#include "mm/frame_source.hpp"

namespace hv {

struct Host_rights {
  bool write = true;
  bool execute = false;
  bool uncached = false;  // PCD|PWT: for MMIO the hypervisor itself touches
  constexpr bool operator==(const Host_rights&) const = default;
};

enum class Host_map_error : u8 { none, misaligned, out_of_memory };

struct Host_translation {
  bool present = false;
  Hpa hpa;
  u64 page_bytes = 0;  // size of the leaf that maps it
  Host_rights rights;
};

class Host_page_tables {
public:
  Host_page_tables(Frame_source& frames, Direct_map dm, bool allow_1g) : frames_(frames), dm_(dm), allow_1g_(allow_1g) {}
  Host_page_tables(const Host_page_tables&) = delete;
  Host_page_tables& operator=(const Host_page_tables&) = delete;

  // Allocates the PML4. Must succeed before anything else is called.
  [[nodiscard]] bool init();
  // Identity-maps [base, base + bytes) (4 KiB aligned) with `rights`, replacing what was there;
  // large pages are split where the range covers only part of them.
  [[nodiscard]] Host_map_error map_identity(u64 base, u64 bytes, Host_rights rights);
  [[nodiscard]] Host_translation translate(u64 va) const;
  // The value for CR3 (the PML4's physical address; PCD/PWT clear).
  [[nodiscard]] Hpa cr3() const { return pml4_; }
  [[nodiscard]] u64 table_pages() const { return table_pages_; }
  // Frees every table page (not while loaded in CR3).
  void destroy();

private:
  u64* table(Hpa hpa) const { return dm_.ptr<u64>(hpa); }
  [[nodiscard]] bool new_table(Hpa& out);
  [[nodiscard]] Host_map_error map_level(Hpa table_hpa, unsigned level, u64 base, u64 end, Host_rights rights);
  [[nodiscard]] bool split(u64& entry, unsigned level);
  void free_level(Hpa table_hpa, unsigned level);

  Frame_source& frames_;
  Direct_map dm_;
  bool allow_1g_;
  Hpa pml4_;
  u64 table_pages_ = 0;
};

// The entry bits for a leaf with `rights` at `level` (2 and 3 set PS).
[[nodiscard]] u64 host_leaf_bits(Host_rights rights, unsigned level);

} // namespace hv
