// tests/unit/support/ept_test_memory.hpp - fake host physical memory for EPT and guest-memory
// tests and benchmarks (hosted only). Independent of the real page-frame allocator.
//
// Test_frames is a Frame_source over a sparse mmap arena (MAP_NORESERVE: only touched pages cost
// memory) that pretends to sit at host physical address `base` (default 8 GiB, nonzero so a
// confusion of HPA and pointer shows). Its Direct_map translates between the two.
//   - zones: 4 KiB..1 MiB blocks, 2 MiB..512 MiB blocks and 1 GiB blocks come from separate
//     zones, each a bump pointer plus per-order free lists; blocks are naturally aligned HPAs;
//   - every outstanding block is recorded (order, use, owner): freeing a block that is not
//     outstanding, or with another order, aborts with a message;
//   - new blocks are filled with a poison pattern (callers must zero what they need zeroed),
//     freed ones too (a later read through a stale pointer sees garbage, not old data);
//   - limits for out-of-memory tests: a budget of 4 KiB frames, and orders that always fail.
// Counting_invalidator counts INVEPTs.
#pragma once
#include "mm/direct_map.hpp"
#include "mm/ept_invalidation.hpp"
#include "mm/frame_source.hpp"
#include <sys/mman.h>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

namespace hv::test {

class Test_frames final : public Frame_source {
public:
  static constexpr u64 default_base = 0x2'0000'0000;
  static constexpr u8 poison_byte = 0xA5;

  struct Zones {
    u64 small_bytes = 1 * GiB;  // orders 0..8
    u64 large_bytes = 7 * GiB;  // orders 9..17
    u64 huge_bytes = 4 * GiB;   // order 18
  };

  Test_frames() : Test_frames(Zones{}) {}
  explicit Test_frames(Zones zones, u64 base = default_base) : base_(base) {
    size_ = zones.small_bytes + zones.large_bytes + zones.huge_bytes;
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) die("mmap of the test arena failed");
    arena_ = static_cast<u8*>(p);
    zone_[0] = {base_, base_ + zones.small_bytes, base_};
    zone_[1] = {zone_[0].end, zone_[0].end + zones.large_bytes, zone_[0].end};
    zone_[2] = {zone_[1].end, zone_[1].end + zones.huge_bytes, zone_[1].end};
  }
  ~Test_frames() { munmap(arena_, size_); }
  Test_frames(const Test_frames&) = delete;
  Test_frames& operator=(const Test_frames&) = delete;

  std::optional<Hpa> alloc_frames(unsigned order, Frame_use use, Vm_id owner) override {
    if (order > max_order) die("alloc_frames: order beyond max_order");
    ++alloc_calls_;
    const u64 frames = 1ull << order;
    if (failing_orders_ & (1u << order)) return std::nullopt;
    if (budget_frames_ != unlimited && outstanding_frames_ + frames > budget_frames_) return std::nullopt;
    u64 hpa = 0;
    auto& free_list = free_[order];
    if (!free_list.empty()) {
      hpa = free_list.back();
      free_list.pop_back();
    } else {
      Zone& z = zone_[zone_of(order)];
      const u64 bytes = frames * page_size_4k;
      const u64 start = (z.next + bytes - 1) & ~(bytes - 1);
      if (start + bytes > z.end) return std::nullopt;
      hpa = start;
      z.next = start + bytes;
    }
    poison(hpa, order);
    live_.emplace(hpa, Block{order, use, owner});
    outstanding_frames_ += frames;
    ++outstanding_by_order_[order];
    return Hpa(hpa);
  }

  void free_frames(Hpa base, unsigned order) override {
    const auto it = live_.find(base.value());
    if (it == live_.end()) die("free_frames: block is not outstanding (double free or a foreign HPA)", base.value());
    if (it->second.order != order) die("free_frames: order differs from the allocation's", base.value());
    live_.erase(it);
    outstanding_frames_ -= 1ull << order;
    --outstanding_by_order_[order];
    ++free_calls_;
    poison(base.value(), order);
    free_[order].push_back(base.value());
  }

  bool can_split_frames() const override { return true; }
  bool split_frames(Hpa base, unsigned order) override {
    const auto it = live_.find(base.value());
    if (it == live_.end() || it->second.order != order) die("split_frames: not an outstanding block of that order", base.value());
    const Block b = it->second;
    live_.erase(it);
    --outstanding_by_order_[order];
    for (u64 i = 0; i < (1ull << order); ++i) live_.emplace(base.value() + i * page_size_4k, Block{0, b.use, b.owner});
    outstanding_by_order_[0] += 1ull << order;
    return true;
  }

  [[nodiscard]] Direct_map direct_map() const {
    return Direct_map(static_cast<i64>(reinterpret_cast<u64>(arena_)) - static_cast<i64>(base_));
  }
  [[nodiscard]] u8* bytes(Hpa hpa) const { return direct_map().ptr<u8>(hpa); }
  [[nodiscard]] u64 base() const { return base_; }

  // Outstanding blocks: all, of one order, of one use, of one owner.
  [[nodiscard]] u64 outstanding() const { return live_.size(); }
  [[nodiscard]] u64 outstanding(unsigned order) const { return outstanding_by_order_[order]; }
  [[nodiscard]] u64 outstanding_frames() const { return outstanding_frames_; }
  [[nodiscard]] u64 outstanding_use(Frame_use use) const {
    u64 n = 0;
    for (const auto& [hpa, b] : live_) n += b.use == use;
    return n;
  }
  [[nodiscard]] u64 outstanding_owner(Vm_id owner) const {
    u64 n = 0;
    for (const auto& [hpa, b] : live_) n += b.owner == owner;
    return n;
  }
  [[nodiscard]] bool is_outstanding(Hpa hpa) const { return live_.count(hpa.value()) != 0; }
  [[nodiscard]] u64 alloc_calls() const { return alloc_calls_; }
  [[nodiscard]] u64 free_calls() const { return free_calls_; }

  static constexpr u64 unlimited = ~0ull;
  // At most `frames` 4 KiB frames outstanding at once (larger blocks count all their frames).
  void set_budget_frames(u64 frames) { budget_frames_ = frames; }
  void fail_order(unsigned order, bool fail = true) {
    if (fail) failing_orders_ |= 1u << order;
    else failing_orders_ &= ~(1u << order);
  }
  // Poisoning a block on alloc and free costs a memset of its size (1 GiB blocks: the first and
  // last page only). Benchmarks turn it off.
  void set_poison(bool on) { poison_ = on; }

private:
  struct Block {
    unsigned order;
    Frame_use use;
    Vm_id owner;
  };
  struct Zone {
    u64 start = 0, end = 0, next = 0;
  };
  static unsigned zone_of(unsigned order) { return order < order_2m ? 0 : order < order_1g ? 1 : 2; }

  [[noreturn]] static void die(const char* what, u64 hpa = 0) {
    std::fprintf(stderr, "Test_frames: %s (hpa 0x%llx)\n", what, static_cast<unsigned long long>(hpa));
    std::abort();
  }
  void poison(u64 hpa, unsigned order) {
    if (!poison_) return;
    const u64 bytes = page_size_4k << order;
    if (order < order_1g) {
      std::memset(this->bytes(Hpa(hpa)), poison_byte, bytes);
    } else {
      std::memset(this->bytes(Hpa(hpa)), poison_byte, page_size_4k);
      std::memset(this->bytes(Hpa(hpa + bytes - page_size_4k)), poison_byte, page_size_4k);
    }
  }

  u64 base_;
  u64 size_ = 0;
  u8* arena_ = nullptr;
  std::array<Zone, 3> zone_{};
  std::array<std::vector<u64>, max_order + 1> free_{};
  std::map<u64, Block> live_;
  std::array<u64, max_order + 1> outstanding_by_order_{};
  u64 outstanding_frames_ = 0;
  u64 alloc_calls_ = 0;
  u64 free_calls_ = 0;
  u64 budget_frames_ = unlimited;
  u32 failing_orders_ = 0;
  bool poison_ = true;
};

class Counting_invalidator final : public Ept_invalidator {
public:
  void invept_single_context(u64 eptp) override {
    ++count;
    last_eptp = eptp;
  }
  u64 count = 0;
  u64 last_eptp = 0;
};

} // namespace hv::test
