// tests/unit/support/ept_fixture.hpp - a GoogleTest fixture with an initialised EPT over
// Test_frames, and a raw entry reader for layout checks (hosted only).
#pragma once
#include "arch/x86/ept_entry.hpp"
#include "mm/ept.hpp"
#include "unit/support/ept_test_memory.hpp"
#include <gtest/gtest.h>
#include <memory>

namespace hv::test {

inline constexpr Vm_id ept_test_vm = 7;

inline Ept_config ept_test_config() {
  Ept_config c;
  c.owner = ept_test_vm;
  c.allow_2m = true;
  c.allow_1g = true;
  c.max_phys_addr_bits = 46;
  return c;
}

// The raw entry at `level` on gpa's walk (0 when the walk ends earlier in a not-present entry or a leaf).
inline u64 raw_ept_entry(const Ept& ept, const Direct_map& dm, Gpa gpa, unsigned level) {
  const u64* t = dm.ptr<u64>(ept.pml4());
  for (unsigned l = 4; l >= level; --l) {
    const u64 e = t[ept_index(gpa.value(), l)];
    if (l == level) return e;
    if (!ept_entry::present(e) || ept_entry::is_leaf(e, l)) return 0;
    t = dm.ptr<u64>(Hpa(ept_entry::address(e)));
  }
  return 0;
}

class Ept_test : public ::testing::Test {
protected:
  void SetUp() override { make(ept_test_config()); }
  void make(const Ept_config& config) {
    ept_.reset();
    ept_ = std::make_unique<Ept>(frames_, frames_.direct_map(), inv_, config);
    ASSERT_EQ(ept_->init(), Ept_status::ok);
  }
  Ept& ept() { return *ept_; }
  u64 raw(Gpa gpa, unsigned level) { return raw_ept_entry(*ept_, frames_.direct_map(), gpa, level); }
  // Destroys the EPT and checks that every table page went back.
  void expect_no_leak() {
    ept_->destroy();
    EXPECT_EQ(frames_.outstanding(), 0u);
  }

  Test_frames frames_;
  Counting_invalidator inv_;
  std::unique_ptr<Ept> ept_;
};

inline constexpr Ept_attrs rwx_wb{Ept_rights::all, Cache_type::wb, false, 0};
inline constexpr Ept_attrs rw_wb{Ept_rights::read_write, Cache_type::wb, false, 0};
inline constexpr Ept_attrs r_wb{Ept_rights::read, Cache_type::wb, false, 0};

} // namespace hv::test
