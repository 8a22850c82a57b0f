// tests/unit/guest_memory_test.cpp - memslots, demand population (2 MiB vs 4 KiB), MMIO and guest
// errors, out of memory, accounting, destroy, and copies in and out of guest memory.
#include "mm/guest_memory.hpp"
#include "unit/support/ept_test_memory.hpp"
#include <gtest/gtest.h>
#include <memory>
#include <thread>
#include <vector>

namespace hv {
namespace {

constexpr Vm_id vm = 3;
constexpr Ept_access read_access{true, false, false};
constexpr Ept_access write_access{false, true, false};
constexpr Ept_access fetch_access{false, false, true};

TEST(Memslot_table, RefusesOverlapsAndKeepsSlotsSorted) {
  Memslot_table t;
  ASSERT_EQ(t.add({Gpa(0x10'0000), 0x10'0000, Memslot_kind::ram}), Memslot_status::ok);
  EXPECT_EQ(t.add({Gpa(0x10'0000), 0x10'0000, Memslot_kind::mmio}), Memslot_status::overlaps);   // same
  EXPECT_EQ(t.add({Gpa(0x18'0000), 0x1000, Memslot_kind::mmio}), Memslot_status::overlaps);      // inside
  EXPECT_EQ(t.add({Gpa(0x0f'f000), 0x2000, Memslot_kind::mmio}), Memslot_status::overlaps);      // over the start
  EXPECT_EQ(t.add({Gpa(0x1f'f000), 0x2000, Memslot_kind::mmio}), Memslot_status::overlaps);      // over the end
  EXPECT_EQ(t.add({Gpa(0), 0x100'0000, Memslot_kind::mmio}), Memslot_status::overlaps);          // around
  EXPECT_EQ(t.add({Gpa(0x20'0000), 0x1000, Memslot_kind::reserved}), Memslot_status::ok);        // adjacent
  EXPECT_EQ(t.add({Gpa(0x0f'f000), 0x1000, Memslot_kind::mmio, 9}), Memslot_status::ok);         // adjacent
  EXPECT_EQ(t.add({Gpa(0x1800), 0x1000, Memslot_kind::ram}), Memslot_status::misaligned);
  EXPECT_EQ(t.add({Gpa(0x1000), 0x1800, Memslot_kind::ram}), Memslot_status::misaligned);
  EXPECT_EQ(t.add({Gpa(0x1000), 0, Memslot_kind::ram}), Memslot_status::empty);
  EXPECT_EQ(t.add({Gpa(0xffff'ffff'f000), 0x2000, Memslot_kind::ram}), Memslot_status::out_of_range);
  ASSERT_EQ(t.slots().size(), 3u);
  EXPECT_EQ(t.slots()[0].base, Gpa(0x0f'f000));
  EXPECT_EQ(t.slots()[1].base, Gpa(0x10'0000));
  EXPECT_EQ(t.slots()[2].base, Gpa(0x20'0000));
  EXPECT_EQ(t.find(Gpa(0x0f'ffff))->tag, 9u);
  EXPECT_EQ(t.find(Gpa(0x1f'ffff))->kind, Memslot_kind::ram);
  EXPECT_EQ(t.find(Gpa(0x20'1000)), nullptr);
  EXPECT_EQ(t.ram_bytes(), 0x10'0000u);
  for (u64 i = 3; i < Memslot_table::capacity; ++i)
    ASSERT_EQ(t.add({Gpa(0x1'0000'0000 + i * 0x1000), 0x1000, Memslot_kind::ram}), Memslot_status::ok);
  EXPECT_EQ(t.add({Gpa(0x2'0000'0000), 0x1000, Memslot_kind::ram}), Memslot_status::full);
}

TEST(Paging_policy, EptConfigTakesTheHardwareAndThePolicy) {
  Ept_hardware hw;
  hw.page_1g = true;
  hw.accessed_dirty = true;
  hw.wb = false;
  hw.max_phys_addr_bits = 39;
  Paging_policy p;
  Ept_config c = make_ept_config(5, hw, p);
  EXPECT_EQ(c.owner, 5u);
  EXPECT_TRUE(c.allow_2m && c.allow_1g);
  EXPECT_FALSE(c.accessed_dirty);  // not tracked by default
  EXPECT_FALSE(c.no_exec_large_leaves);
  EXPECT_EQ(c.walk_type, Cache_type::uc);
  EXPECT_EQ(c.max_phys_addr_bits, 39u);
  p.allow_1g_leaves = false;
  p.no_exec_large_pages = true;
  p.track_accessed_dirty = true;
  c = make_ept_config(5, hw, p);
  EXPECT_FALSE(c.allow_1g);
  EXPECT_TRUE(c.no_exec_large_leaves && c.accessed_dirty);
  hw.page_1g = false;
  p.allow_1g_leaves = true;
  EXPECT_FALSE(make_ept_config(5, hw, p).allow_1g);  // policy cannot grant what the CPU lacks
  EXPECT_TRUE(default_paging_policy.prefer_2m_leaves);
  EXPECT_FALSE(default_paging_policy.no_exec_large_pages);
}

class Guest_memory_test : public ::testing::Test {
protected:
  // RAM 0 .. 3 MiB + 4 KiB (so 2..4 MiB is not wholly RAM), the local APIC page as emulated MMIO,
  // the IO-APIC page reserved, and two adjacent RAM slots at 4 GiB.
  void SetUp() override { make(default_paging_policy); }
  void make(const Paging_policy& policy, const Mtrr_map* mtrrs = nullptr) {
    mem_.reset();
    Ept_config c;
    c.owner = vm;
    c.allow_1g = true;
    c.no_exec_large_leaves = policy.no_exec_large_pages;
    c.max_phys_addr_bits = 46;
    mem_ = std::make_unique<Guest_memory>(frames_, frames_.direct_map(), inv_, c, policy, mtrrs);
    ASSERT_EQ(mem_->init(), Ept_status::ok);
    ASSERT_EQ(mem_->add_slot({Gpa(0), 3 * MiB + page_size_4k, Memslot_kind::ram}), Memslot_status::ok);
    ASSERT_EQ(mem_->add_slot({Gpa(0xfee0'0000), page_size_4k, Memslot_kind::mmio, 42}), Memslot_status::ok);
    ASSERT_EQ(mem_->add_slot({Gpa(0xfec0'0000), page_size_4k, Memslot_kind::reserved}), Memslot_status::ok);
    ASSERT_EQ(mem_->add_slot({Gpa(4 * GiB), 2 * MiB, Memslot_kind::ram}), Memslot_status::ok);
    ASSERT_EQ(mem_->add_slot({Gpa(4 * GiB + 2 * MiB), 2 * MiB, Memslot_kind::ram}), Memslot_status::ok);
  }
  Guest_memory& mem() { return *mem_; }
  std::optional<Ept_translation> tr(u64 gpa) { return mem_->ept().translate(Gpa(gpa)); }
  bool zeroed(Hpa hpa, u64 bytes) {
    const u8* p = frames_.bytes(hpa);
    for (u64 i = 0; i < bytes; ++i)
      if (p[i]) return false;
    return true;
  }

  test::Test_frames frames_;
  test::Counting_invalidator inv_;
  std::unique_ptr<Guest_memory> mem_;
};

TEST_F(Guest_memory_test, FirstTouchOfACoveredTwoMegabyteRangeGetsAZeroedTwoMegabyteFrame) {
  const auto r = mem().handle_ept_violation(Gpa(0x1'2345), write_access);
  EXPECT_EQ(r.action, Violation_action::resume);
  EXPECT_EQ(r.reason, Violation_reason::populated_2m);
  const auto t = tr(0x1'2345);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->leaf.size, Page_size::size_2m);
  EXPECT_EQ(t->leaf.attrs.rights, Ept_rights::all);
  EXPECT_EQ(t->leaf.attrs.type, Cache_type::wb);
  EXPECT_TRUE(t->leaf.hpa.is_aligned(page_size_2m));
  EXPECT_TRUE(zeroed(t->leaf.hpa, page_size_2m));  // Test_frames hands out poisoned blocks
  EXPECT_EQ(frames_.outstanding(order_2m), 1u);
  EXPECT_EQ(frames_.outstanding_owner(vm), 1u + mem().ept().table_pages());
  const auto s = mem().stats();
  EXPECT_EQ(s.frames_2m, 1u);
  EXPECT_EQ(s.frames_4k, 0u);
  EXPECT_EQ(s.populated_bytes(), 2 * MiB);
  EXPECT_EQ(s.table_pages, 3u);
}

TEST_F(Guest_memory_test, FourKilobytesWhereTheSlotDoesNotCoverTheTwoMegabyteRange) {
  const auto r = mem().handle_ept_violation(Gpa(0x30'0010), read_access);
  EXPECT_EQ(r.reason, Violation_reason::populated_4k);
  EXPECT_EQ(tr(0x30'0010)->leaf.size, Page_size::size_4k);
  EXPECT_TRUE(zeroed(tr(0x30'0000)->leaf.hpa, page_size_4k));
  EXPECT_FALSE(tr(0x30'1000));
  EXPECT_EQ(mem().stats().frames_4k, 1u);
  // Two adjacent slots that together cover 4 GiB + 2 MiB .. + 4 MiB: each covers its own 2 MiB.
  EXPECT_EQ(mem().handle_ept_violation(Gpa(4 * GiB + 3 * MiB), write_access).reason, Violation_reason::populated_2m);
}

TEST_F(Guest_memory_test, APartlyPopulatedRangeStaysFourKilobytes) {
  frames_.fail_order(order_2m);  // the allocator has no 2 MiB block right now
  EXPECT_EQ(mem().handle_ept_violation(Gpa(0x1000), read_access).reason, Violation_reason::populated_4k);
  frames_.fail_order(order_2m, false);
  EXPECT_EQ(mem().handle_ept_violation(Gpa(0x1f'f000), read_access).reason, Violation_reason::populated_4k);
  EXPECT_EQ(tr(0x1f'f000)->leaf.size, Page_size::size_4k);
  EXPECT_EQ(frames_.outstanding(order_2m), 0u);
  EXPECT_EQ(mem().stats().frames_4k, 2u);
}

TEST_F(Guest_memory_test, PolicyCanTurnTwoMegabyteFramesOff) {
  Paging_policy p;
  p.prefer_2m_leaves = false;
  make(p);
  EXPECT_EQ(mem().handle_ept_violation(Gpa(0x1000), write_access).reason, Violation_reason::populated_4k);
  EXPECT_EQ(frames_.outstanding(order_2m), 0u);
}

TEST_F(Guest_memory_test, MmioIsEmulatedAndNeverBacked) {
  const auto r = mem().handle_ept_violation(Gpa(0xfee0'0300), write_access);
  EXPECT_EQ(r.action, Violation_action::emulate_mmio);
  ASSERT_NE(r.slot, nullptr);
  EXPECT_EQ(r.slot->tag, 42u);
  EXPECT_FALSE(tr(0xfee0'0300));
  EXPECT_EQ(mem().stats().mmio, 1u);
  EXPECT_EQ(mem().stats().populated_bytes(), 0u);
}

TEST_F(Guest_memory_test, OutsideEverySlotAndReservedAreTheGuestsError) {
  auto r = mem().handle_ept_violation(Gpa(0x8000'0000), read_access);
  EXPECT_EQ(r.action, Violation_action::guest_error);
  EXPECT_EQ(r.reason, Violation_reason::outside_slots);
  EXPECT_EQ(r.slot, nullptr);
  r = mem().handle_ept_violation(Gpa(0xfec0'0000), read_access);
  EXPECT_EQ(r.action, Violation_action::guest_error);
  EXPECT_EQ(r.reason, Violation_reason::reserved_slot);
  EXPECT_EQ(mem().stats().guest_errors, 2u);
  EXPECT_EQ(frames_.outstanding(), 1u);  // the PML4 only
}

TEST_F(Guest_memory_test, ASecondViolationOnAMappedPageIsSpurious) {
  ASSERT_EQ(mem().handle_ept_violation(Gpa(0x30'0000), write_access).reason, Violation_reason::populated_4k);
  const u64 before = frames_.outstanding();
  const auto r = mem().handle_ept_violation(Gpa(0x30'0008), write_access);
  EXPECT_EQ(r.action, Violation_action::resume);
  EXPECT_EQ(r.reason, Violation_reason::spurious);
  EXPECT_EQ(frames_.outstanding(), before);
  EXPECT_EQ(mem().stats().spurious, 1u);
}

TEST_F(Guest_memory_test, OutOfMemoryIsAResultAndNothingLeaks) {
  frames_.set_budget_frames(frames_.outstanding_frames());  // nothing more
  auto r = mem().handle_ept_violation(Gpa(0x1000), write_access);
  EXPECT_EQ(r.action, Violation_action::out_of_memory);
  // Room for the guest frame but not for the page tables it needs: the frame goes back.
  frames_.set_budget_frames(frames_.outstanding_frames() + 1);
  r = mem().handle_ept_violation(Gpa(0x30'0000), write_access);
  EXPECT_EQ(r.action, Violation_action::out_of_memory);
  EXPECT_EQ(frames_.outstanding(), 1u);
  EXPECT_EQ(mem().stats().out_of_memory, 2u);
  frames_.set_budget_frames(test::Test_frames::unlimited);
  EXPECT_EQ(mem().handle_ept_violation(Gpa(0x30'0000), write_access).action, Violation_action::resume);
}

TEST_F(Guest_memory_test, AccountingAndDestroyFreeEverything) {
  for (u64 g = 0; g < 3 * MiB; g += 64 * KiB) ASSERT_EQ(mem().handle_ept_violation(Gpa(g), read_access).action, Violation_action::resume);
  ASSERT_EQ(mem().handle_ept_violation(Gpa(4 * GiB + 5), read_access).action, Violation_action::resume);
  const auto s = mem().stats();
  EXPECT_EQ(s.frames_2m, 2u);        // 0..2 MiB and 4 GiB..+2 MiB
  EXPECT_EQ(s.frames_4k, 16u);       // 2..3 MiB in 64 KiB steps
  EXPECT_EQ(s.spurious, 31u);        // the other touches of 0..2 MiB
  EXPECT_EQ(frames_.outstanding(order_2m), 2u);
  EXPECT_EQ(frames_.outstanding(order_4k), 16u + s.table_pages);
  const u64 invepts = inv_.count;
  mem().destroy();
  EXPECT_EQ(frames_.outstanding(), 0u);
  EXPECT_EQ(inv_.count, invepts + 1);
  EXPECT_EQ(mem().stats().populated_bytes(), 0u);
}

TEST_F(Guest_memory_test, NoExecutableLargePagesSplitsOnTheFirstFetch) {
  Paging_policy p;
  p.no_exec_large_pages = true;
  make(p);
  ASSERT_EQ(mem().handle_ept_violation(Gpa(0x10'0000), read_access).reason, Violation_reason::populated_2m);
  EXPECT_EQ(tr(0x10'0000)->leaf.attrs.rights, Ept_rights::read_write);
  const Hpa block = tr(0)->leaf.hpa;
  const auto r = mem().handle_ept_violation(Gpa(0x10'0123), fetch_access);
  EXPECT_EQ(r.action, Violation_action::resume);
  EXPECT_EQ(r.reason, Violation_reason::exec_split);
  EXPECT_EQ(tr(0x10'0000)->leaf.size, Page_size::size_4k);
  EXPECT_EQ(tr(0x10'0000)->leaf.attrs.rights, Ept_rights::all);
  EXPECT_EQ(tr(0x10'1000)->leaf.attrs.rights, Ept_rights::read_write);
  EXPECT_EQ(tr(0x10'1000)->hpa, block + 0x10'1000);
  EXPECT_EQ(mem().handle_ept_violation(Gpa(0x10'1000), write_access).reason, Violation_reason::spurious);
  EXPECT_EQ(mem().stats().exec_splits, 1u);
  // A fetch from another page of the split block makes that page executable too.
  const auto again = mem().handle_ept_violation(Gpa(0x10'2000), fetch_access);
  EXPECT_EQ(again.action, Violation_action::resume);
  EXPECT_EQ(tr(0x10'2000)->leaf.attrs.rights, Ept_rights::all);
  EXPECT_EQ(tr(0x10'2000)->hpa, block + 0x10'2000);
  mem().destroy();  // the 2 MiB block, now under 512 leaves, goes back once with its order
  EXPECT_EQ(frames_.outstanding(), 0u);
}

TEST_F(Guest_memory_test, HostMtrrsDecideTheTypeAndKeepTwoMegabyteLeavesOffMixedRanges) {
  // Host memory WB, except one 4 KiB UC page inside the first 2 MiB block Test_frames will hand out.
  const u64 first_2m_block = test::Test_frames::default_base + test::Test_frames::Zones{}.small_bytes;
  Mtrr_msrs m;
  m.supported = true;
  m.max_phys_addr_bits = 46;
  m.mtrrcap = 8;
  m.def_type = msr::MTRR_DEF_TYPE_E | static_cast<u64>(Cache_type::wb);
  m.variable[0] = {(first_2m_block + 0x5000) | static_cast<u64>(Cache_type::uc),
                   (((1ull << 46) - 1) & ~0xFFFull) | msr::MTRR_PHYSMASK_VALID};
  const Mtrr_map mtrrs(m);
  make(default_paging_policy, &mtrrs);
  EXPECT_EQ(mem().handle_ept_violation(Gpa(0x1000), write_access).reason, Violation_reason::populated_4k);
  EXPECT_EQ(tr(0x1000)->leaf.attrs.type, Cache_type::wb);
  EXPECT_EQ(frames_.outstanding(order_2m), 0u);  // tried, found mixed, given back
  // Hold the mixed block so that the next 2 MiB block, uniformly WB, comes next.
  const auto mixed = frames_.alloc_frames(order_2m, Frame_use::guest, no_vm);
  ASSERT_EQ(mixed, Hpa(first_2m_block));
  EXPECT_EQ(mem().handle_ept_violation(Gpa(4 * GiB), write_access).reason, Violation_reason::populated_2m);
  EXPECT_EQ(tr(4 * GiB)->leaf.attrs.type, Cache_type::wb);
  EXPECT_EQ(tr(4 * GiB)->leaf.hpa, Hpa(first_2m_block + page_size_2m));
  frames_.free_frames(*mixed, order_2m);
}

TEST_F(Guest_memory_test, CopiesCrossPagesAndSlotsAndPopulateOnWrite) {
  std::vector<u8> data(3 * page_size_4k + 100);
  for (usize i = 0; i < data.size(); ++i) data[i] = static_cast<u8>(i * 7 + 1);
  // 4 GiB + 2 MiB is the border between two RAM slots.
  const Gpa at(4 * GiB + 2 * MiB - page_size_4k - 50);
  auto w = mem().copy_to_guest(at, data);
  EXPECT_EQ(w.status, Guest_copy_status::ok);
  EXPECT_EQ(w.bytes_done, data.size());
  EXPECT_EQ(mem().stats().frames_2m, 2u);
  std::vector<u8> back(data.size());
  auto r = mem().copy_from_guest(at, back);
  EXPECT_EQ(r.status, Guest_copy_status::ok);
  EXPECT_EQ(back, data);
  // The first byte landed exactly where the EPT translates `at`.
  EXPECT_EQ(frames_.bytes(tr(at.value())->hpa)[0], data[0]);
  // And in 4 KiB-populated memory (2..3 MiB), across five pages (0x200000 .. 0x204fff).
  w = mem().copy_to_guest(Gpa(0x20'0ff0), data);
  EXPECT_EQ(w.status, Guest_copy_status::ok);
  EXPECT_EQ(mem().stats().frames_4k, 5u);
  r = mem().copy_from_guest(Gpa(0x20'0ff0), back);
  EXPECT_EQ(back, data);
}

TEST_F(Guest_memory_test, ReadingUntouchedMemoryGivesZerosWithoutPopulating) {
  std::vector<u8> buf(2 * page_size_4k, 0xee);
  const auto r = mem().copy_from_guest(Gpa(0x20'0800), buf);
  EXPECT_EQ(r.status, Guest_copy_status::ok);
  EXPECT_EQ(buf, std::vector<u8>(2 * page_size_4k, 0));
  EXPECT_EQ(frames_.outstanding(), 1u);
  Paging_policy p;
  p.populate_on_read = true;
  make(p);
  ASSERT_EQ(mem().copy_from_guest(Gpa(0x20'0800), buf).status, Guest_copy_status::ok);
  EXPECT_EQ(mem().stats().frames_4k, 3u);  // 0x200000, 0x201000, 0x202000
  EXPECT_EQ(buf, std::vector<u8>(2 * page_size_4k, 0));
}

TEST_F(Guest_memory_test, CopiesOutsideRamCopyNothing) {
  std::vector<u8> data(64, 0x11);
  // Runs past the end of the first RAM slot.
  auto w = mem().copy_to_guest(Gpa(3 * MiB + page_size_4k - 32), data);
  EXPECT_EQ(w.status, Guest_copy_status::outside_ram);
  EXPECT_EQ(w.bytes_done, 0u);
  EXPECT_EQ(mem().stats().populated_bytes(), 0u);
  EXPECT_EQ(mem().copy_to_guest(Gpa(0xfee0'0000), data).status, Guest_copy_status::outside_ram);  // MMIO
  EXPECT_EQ(mem().copy_from_guest(Gpa(0xfec0'0000), data).status, Guest_copy_status::outside_ram);
  EXPECT_EQ(mem().copy_from_guest(Gpa(~0ull - 8), data).status, Guest_copy_status::outside_ram);  // wraps
  EXPECT_EQ(mem().copy_to_guest(Gpa(0x1000), {}).status, Guest_copy_status::ok);
}

TEST_F(Guest_memory_test, CopyRunningOutOfMemoryReportsHowFarItGot) {
  Paging_policy p;
  p.prefer_2m_leaves = false;
  make(p);
  std::vector<u8> data(3 * page_size_4k, 0x5a);
  // The first page needs 3 table pages + 1 frame; give one frame more: two pages get written.
  frames_.set_budget_frames(frames_.outstanding_frames() + 5);
  const auto w = mem().copy_to_guest(Gpa(0x1000), data);
  EXPECT_EQ(w.status, Guest_copy_status::out_of_memory);
  EXPECT_EQ(w.bytes_done, 2 * page_size_4k);
}

TEST_F(Guest_memory_test, ConcurrentViolationsPopulateEachPageOnce) {
  Paging_policy p;
  p.prefer_2m_leaves = false;
  make(p);
  constexpr int threads = 4;
  constexpr u64 pages = 3 * MiB / page_size_4k;  // every page of the first slot, by every thread
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (u64 i = 0; i < pages; ++i) {
        const u64 page = (i * 7 + static_cast<u64>(t) * 131) % pages;
        const auto r = mem().handle_ept_violation(Gpa(page * page_size_4k), write_access);
        if (r.action != Violation_action::resume) std::abort();
      }
    });
  for (auto& th : pool) th.join();
  const auto s = mem().stats();
  EXPECT_EQ(s.frames_4k, pages);
  EXPECT_EQ(s.violations, threads * pages);
  EXPECT_EQ(s.spurious, (threads - 1) * pages);
  EXPECT_EQ(frames_.outstanding(order_4k), pages + s.table_pages);
}

} // namespace
} // namespace hv
