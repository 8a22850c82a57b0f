// tests/unit/shadow_mmu_model_test.cpp - the shadow MMU (mm/shadow/shadow_mmu.hpp) against the
// guest's own tables, randomized (fixed seeds): a guest with three address spaces built from
// random tables over 16 MiB of RAM runs 20,000 operations per configuration on the simulated CPU
// of unit/support/shadow_cpu.hpp: reads, writes and fetches (user and supervisor) at mapped and
// unmapped GVAs; edits of its own table entries (present, R/W, U/S, NX, addresses, PS) written
// THROUGH the shadow, via a 4 KiB window onto its tables and via a 1 GiB identity map (both map
// the tables that map them, so single steps happen); CR3 switches; balloon inflate / deflate and
// free page reports of data pages, whole 2 MiB frames and table pages; paging-mode changes (WP,
// NXE, SMEP, SMAP, 1 GiB pages). Every outcome must match the reference (fault and error code, or
// the guest-physical byte); Shadow_mmu::check() and the harness's own audit of the current root's
// leaves run every 50 operations and the table budget is never exceeded. Configurations: the
// smallest budget with one root (recycling all the time), a small one with two roots and VPIDs
// (a TLB that only the MMU's flush requests empty), a large one with four roots.
#include "unit/support/shadow_cpu.hpp"
#include <gtest/gtest.h>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <vector>

namespace hv {
namespace {
namespace pte = x86::pte;
using test::Access_outcome;
using test::Guest_tables;
using test::Shadow_cpu;

constexpr Vm_id vm = 6;
constexpr u64 ram_bytes = 16 * MiB;
constexpr u64 pool_base = 2 * MiB;  // every guest table lies in [2 MiB, 4 MiB)
constexpr u64 pool_end = 4 * MiB;
constexpr u64 mmio_page = 0xFEE0'0000;
constexpr u64 window_gva = 0xFFFF'FF80'0000'0000;    // PML4[511]: 4 KiB pages onto the pool
constexpr u64 identity_gva = 0xFFFF'FF00'0000'0000;  // PML4[510]: a 1 GiB page at GPA 0
constexpr unsigned spaces = 3;

// The entry indices the random tables fill and the random GVAs use, per level (index 0 unused).
const std::vector<unsigned> hot_index[5] = {{}, {0, 1, 2, 3, 4, 5, 6, 7, 511}, {0, 1, 2, 3, 511}, {0, 1, 2}, {0, 1, 256}};

struct Model_config {
  Shadow_config shadow;
  u64 seed;
};
void PrintTo(const Model_config& c, std::ostream* os) {
  *os << c.shadow.max_table_pages << " pages, " << c.shadow.max_roots << " roots" << (c.shadow.vpid ? ", VPIDs" : "")
      << ", seed " << c.seed;
}

class ShadowMmuModelTest : public ::testing::TestWithParam<Model_config> {
protected:
  void SetUp() override {
    const Model_config& mc = GetParam();
    rng.seed(mc.seed);
    Ept_config c;
    c.owner = vm;
    c.max_phys_addr_bits = 46;
    mem = std::make_unique<Guest_memory>(frames, frames.direct_map(), inv, c, default_paging_policy);
    ASSERT_EQ(mem->init(), Ept_status::ok);
    ASSERT_EQ(mem->add_slot({Gpa(0), ram_bytes, Memslot_kind::ram}), Memslot_status::ok);
    ASSERT_EQ(mem->add_slot({Gpa(mmio_page), page_size_4k, Memslot_kind::mmio, 1}), Memslot_status::ok);
    mmu = std::make_unique<Shadow_mmu>(*mem, frames, frames.direct_map(), mc.shadow, &flush);
    ASSERT_TRUE(mmu->init());
    cpu = std::make_unique<Shadow_cpu>(*mmu, *mem, frames.direct_map(), flush, &frames, true);
    cpu->set_mode(Guest_paging_mode{});
    build_guest();
  }
  void TearDown() override {
    if (!mmu) return;
    EXPECT_EQ(test::shadow_check(*mmu), "");
    EXPECT_EQ(cpu->audit(), "");
    EXPECT_EQ(frames.outstanding_use(Frame_use::page_table), mem->ept().table_pages() + mmu->stats().table_pages);
    cpu.reset();
    mmu.reset();
    EXPECT_EQ(frames.outstanding_use(Frame_use::page_table), mem->ept().table_pages());
    mem.reset();
    EXPECT_EQ(frames.outstanding(), 0u);
  }

  bool chance(unsigned percent) { return rng() % 100 < percent; }
  u64 below(u64 n) { return rng() % n; }

  // ---- the guest's tables: structural ones (the windows, the PML4s) and random data tables ----
  struct Table {
    u64 gpa;
    unsigned level;
  };
  void build_guest() {
    tables = std::make_unique<Guest_tables>(*mem, pool_base);
    for (unsigned s = 0; s < spaces; ++s) pml4[s] = tables->new_table();
    const u64 wpdpt = tables->new_table(), wpd = tables->new_table(), wpt = tables->new_table();
    const u64 ipdpt = tables->new_table();
    structural = {pml4[0], pml4[1], pml4[2], wpdpt, wpd, wpt, ipdpt};
    for (unsigned s = 0; s < spaces; ++s) {
      tables->write(pml4[s] + 8 * 511, wpdpt | P | RW);
      tables->write(pml4[s] + 8 * 510, ipdpt | P | RW | A);
      structural_entries.push_back(pml4[s] + 8 * 511);
      structural_entries.push_back(pml4[s] + 8 * 510);
    }
    tables->write(wpdpt, wpd | P | RW);
    tables->write(wpd, wpt | P | RW | A);
    for (u64 i = 0; i < 512; ++i) tables->write(wpt + 8 * i, (pool_base + i * page_size_4k) | P | RW | (i % 3 ? A : 0));
    tables->write(ipdpt, 0 | P | RW | pte::PS | A | D);
    structural_entries.insert(structural_entries.end(), {wpdpt, wpd, ipdpt, wpt, wpt + 8, wpt + 8 * 5});
    for (unsigned level = 3; level >= 1; --level)
      for (unsigned i = 0; i < 4u + 6 * (3 - level); ++i) data_tables[level].push_back(Table{tables->new_table(), level});
    for (unsigned level = 1; level <= 3; ++level)
      for (const Table& t : data_tables[level])
        for (unsigned i : hot_index[level]) tables->write(t.gpa + 8 * i, random_entry(level));
    for (unsigned s = 0; s < spaces; ++s)
      for (unsigned i : hot_index[4]) tables->write(pml4[s] + 8 * i, random_entry(4));
    ASSERT_LT(tables->next(), pool_end);
  }
  u64 random_flags(bool leaf) {
    u64 f = P;
    if (chance(leaf ? 70 : 85)) f |= RW;
    if (chance(leaf ? 60 : 75)) f |= US;
    if (chance(leaf ? 20 : 8)) f |= NX;
    if (chance(50)) f |= A;
    if (leaf && chance(40)) f |= D;
    if (leaf && chance(10)) f |= pte::PWT | pte::PCD;
    if (leaf && chance(10)) f |= pte::G;
    return f;
  }
  // A random entry for a table at `level`: not present, a link to a data table of the level below
  // (tables are only ever used at their own level: a guest page never becomes a table), or a leaf
  // (4 KiB anywhere in RAM, the tables included, MMIO or beyond RAM; 2 MiB; 1 GiB), now and then
  // with a reserved bit.
  u64 random_entry(unsigned level) {
    const unsigned r = static_cast<unsigned>(below(100));
    u64 e = 0;
    if (r < 18) {
      e = chance(50) ? 0 : (rng() & ~P & ~NX & ((u64{1} << 40) - 1));
    } else if (level > 1 && r < (level == 4 ? 100u : 65u)) {
      const auto& below_tables = data_tables[level - 1];
      e = below_tables[below(below_tables.size())].gpa | random_flags(false);
    } else if (level == 1) {
      u64 gpa;
      const unsigned t = static_cast<unsigned>(below(100));
      if (t < 75) gpa = data_page();
      else if (t < 88) gpa = pool_base + below((tables->next() - pool_base) / page_size_4k) * page_size_4k;
      else if (t < 94) gpa = mmio_page;
      else gpa = 64 * MiB + below(16) * page_size_4k;
      e = gpa | random_flags(true);
      if (chance(5)) e |= 1ull << 7;  // PAT
    } else if (level == 2) {
      const u64 gpa = chance(93) ? below(ram_bytes / page_size_2m) * page_size_2m : 32 * MiB;
      e = gpa | pte::PS | random_flags(true);
      if (chance(4)) e |= 1ull << 13;  // misaligned: reserved
    } else {
      e = (chance(90) ? 0 : GiB) | pte::PS | random_flags(true);
    }
    if ((e & P) && chance(3)) e |= 1ull << 44;  // above MAXPHYADDR
    return e;
  }
  u64 data_page() {
    const u64 pages = (ram_bytes - (pool_end - pool_base)) / page_size_4k;
    const u64 p = below(pages) * page_size_4k;
    return p < pool_base ? p : p + (pool_end - pool_base);
  }
  bool is_structural(u64 gpa) const {
    for (u64 t : structural)
      if ((gpa & ~(page_size_4k - 1)) == t) return true;
    return false;
  }
  const Table* data_table_at(u64 gpa) const {
    for (unsigned level = 1; level <= 3; ++level)
      for (const Table& t : data_tables[level])
        if ((gpa & ~(page_size_4k - 1)) == t.gpa) return &t;
    return nullptr;
  }

  // ---- addresses and accesses ----
  static u64 canonical(u64 va) { return (va & (u64{1} << 47)) ? va | 0xFFFF'0000'0000'0000 : va & 0x0000'FFFF'FFFF'FFFF; }
  u64 random_gva() {
    const unsigned r = static_cast<unsigned>(below(100));
    if (r < 30 && !recent.empty()) return recent[below(recent.size())].first + below(page_size_4k);  // locality
    if (r < 70) {
      u64 va = 0;
      for (unsigned level = 4; level >= 1; --level) {
        const auto& hot = hot_index[level];
        const u64 i = level == 1 && chance(15) ? below(512) : hot[below(hot.size())];
        va |= i << (12 + 9 * (level - 1));
      }
      return canonical(va | below(page_size_4k));
    }
    if (r < 80) return window_gva + below((tables->next() - pool_base) / page_size_4k + 2) * page_size_4k + below(page_size_4k);
    if (r < 92) return identity_gva + (chance(95) ? below(ram_bytes) : 32 * MiB + below(MiB));
    if (r < 95) return 0x0000'8000'0000'0000 + (rng() & 0x0000'7FFF'FFFF'FFFF);  // non-canonical
    return canonical(rng() & 0x0000'FFFF'FFFF'FFFF);
  }
  Guest_access random_access() {
    Guest_access a;
    const unsigned r = static_cast<unsigned>(below(100));
    a.write = r < 35;
    a.fetch = r >= 80;
    a.user = chance(35);
    if (!a.user && chance(5)) a.implicit_supervisor = true;
    a.ac = chance(30);
    return a;
  }
  // One guest access; a write that would land in a table is made harmless (structural: it writes
  // back what is there) or meaningful (a data table: a whole random entry of its level).
  std::string random_access_op() {
    u64 gva = random_gva();
    const Guest_access a = random_access();
    unsigned size = 1u << below(4);
    gva &= ~u64{size - 1};
    u64 value = rng();
    if (a.write) {
      const Walk_result r = cpu->reference(gva, a);
      if (r.status == Walk_status::ok && r.gpa.value() >= pool_base && r.gpa.value() < pool_end) {
        if (is_structural(r.gpa.value())) {
          value = test::guest_read(*mem, r.gpa.value(), size);
        } else if (const Table* t = data_table_at(r.gpa.value())) {
          gva &= ~u64{7};
          size = 8;
          value = random_entry(t->level);
        }
      }
    }
    ++accesses;
    Access_outcome o;
    std::string why = cpu->run(gva, a, size, value, &o);
    tlb_hits += o.tlb_hit;
    if (o.kind == Shadow_fault_kind::fixed) remember(gva, cpu->reference(gva, Guest_access{.ac = true}).gpa.value());
    return why;
  }
  // The guest edits one of its table entries, writing it through the window or the identity map.
  std::string edit_op() {
    u64 at, value;
    if (chance(8)) {
      at = structural_entries[below(structural_entries.size())];
      value = test::guest_read(*mem, at) ^ A;  // harmless, but a write to a table all the same
    } else if (chance(15)) {
      at = pml4[below(spaces)] + 8 * hot_index[4][below(3)];
      value = random_entry(4);
    } else {
      const unsigned level = 1 + static_cast<unsigned>(below(3));
      const Table& t = data_tables[level][below(data_tables[level].size())];
      at = t.gpa + 8 * hot_index[level][below(hot_index[level].size())];
      value = random_entry(level);
    }
    const u64 gva = chance(60) ? window_gva + (at - pool_base) : identity_gva + at;
    Access_outcome o;
    const std::string why = cpu->run(gva, Guest_access{.write = true}, 8, value, &o);
    ++edits;
    if (o.kind == Shadow_fault_kind::fixed) ++edits_done;
    return why;
  }
  // The pages of recent successful accesses: revisited (TLB hits, existing shadows) and ballooned.
  void remember(u64 gva, u64 gpa) {
    const std::pair<u64, u64> e{gva & ~(page_size_4k - 1), gpa & ~(page_size_4k - 1)};
    if (recent.size() < 64) recent.push_back(e);
    else recent[below(64)] = e;
  }
  void balloon_op() {
    if (!ballooned.empty() && chance(45)) {
      auto it = ballooned.begin();
      std::advance(it, below(ballooned.size()));
      const Balloon_range r{*it, 1};
      const auto st = mem->balloon_deflate({&r, 1}).status;
      ASSERT_TRUE(st == Balloon_status::ok || st == Balloon_status::not_inflated);  // touched since
      ballooned.erase(it);
      return;
    }
    Balloon_range r{data_page() >> page_shift, 1};
    if (!recent.empty() && chance(70)) {
      const u64 gpa = recent[below(recent.size())].second;
      if (gpa < ram_bytes && (gpa < pool_base || gpa >= pool_end)) r.gfn = gpa >> page_shift;
    }
    if (chance(10)) {  // a page that holds one of the guest's tables
      const auto& level_tables = data_tables[1 + below(3)];
      r.gfn = level_tables[below(level_tables.size())].gpa >> page_shift;
    } else if (chance(15)) {
      r = Balloon_range{(4 * MiB >> page_shift) + below(6) * 512, 512};  // a whole 2 MiB frame
    }
    for (u64 g = r.gfn; g < r.gfn + r.pages; ++g)
      if (ballooned.count(g)) return;
    if (chance(25)) {
      ASSERT_EQ(mem->free_page_report({&r, 1}).status, Balloon_status::ok);
    } else {
      ASSERT_EQ(mem->balloon_inflate({&r, 1}, ~u64{0}).status, Balloon_status::ok);
      for (u64 g = r.gfn; g < r.gfn + r.pages; ++g) ballooned.insert(g);
    }
  }
  void mode_op() {
    Guest_paging_mode m;
    m.wp = chance(80);
    m.nxe = chance(85);
    m.smep = chance(30);
    m.smap = chance(30);
    m.page_1g = chance(90);
    cpu->set_mode(m);
  }

  std::mt19937_64 rng;
  test::Test_frames frames;
  test::Counting_invalidator inv;
  std::atomic<u64> flush{0};
  std::unique_ptr<Guest_memory> mem;
  std::unique_ptr<Shadow_mmu> mmu;
  std::unique_ptr<Shadow_cpu> cpu;
  std::unique_ptr<Guest_tables> tables;
  u64 pml4[spaces] = {};
  std::vector<u64> structural;
  std::vector<u64> structural_entries;
  std::vector<Table> data_tables[4];
  std::set<u64> ballooned;
  std::vector<std::pair<u64, u64>> recent;  // (GVA page, GPA page)
  u64 accesses = 0, edits = 0, edits_done = 0, tlb_hits = 0, audited = 0;
  static constexpr u64 P = pte::P, RW = pte::RW, US = pte::US, A = pte::A, D = pte::D, NX = pte::NX;
};

// Every operation's outcome matches the guest's own tables; the invariants hold throughout, the
// budget is never exceeded, and every mechanism was exercised.
TEST_P(ShadowMmuModelTest, TwentyThousandRandomOperationsMatchTheGuestsTables) {
  const auto start = std::chrono::steady_clock::now();
  const Shadow_config& config = GetParam().shadow;
  ASSERT_TRUE(cpu->load_cr3(pml4[0]));
  constexpr int ops = 20'000;
  for (int op = 0; op < ops; ++op) {
    const unsigned r = static_cast<unsigned>(below(1000));
    std::string why;
    if (r < 700) {
      why = random_access_op();
    } else if (r < 920) {
      why = edit_op();
    } else if (r < 960) {
      ASSERT_TRUE(cpu->load_cr3(pml4[below(spaces)])) << "op " << op;
    } else if (r < 992) {
      ASSERT_NO_FATAL_FAILURE(balloon_op()) << "op " << op;
      cpu->kick();  // done on another CPU: the vCPU is kicked out and catches up before it enters
    } else {
      mode_op();
    }
    ASSERT_EQ(why, "") << "op " << op;
    if (op % 50 == 0) {
      ASSERT_EQ(test::shadow_check(*mmu), "") << "op " << op;
      ASSERT_EQ(cpu->audit(), "") << "op " << op;
      audited += cpu->audited_leaves();
      ASSERT_LE(mmu->stats().table_pages, config.max_table_pages) << "op " << op;
    }
  }
  const Shadow_stats s = mmu->stats();
  EXPECT_LE(s.table_pages_peak, config.max_table_pages);
  EXPECT_GT(s.guest_faults, 1000u);
  EXPECT_GT(s.fills, 1000u);
  EXPECT_GT(s.large_fills, 0u);
  EXPECT_GT(s.dirty_faults, 0u);
  EXPECT_GT(s.table_writes, 100u);
  EXPECT_GT(s.single_steps, 100u);
  EXPECT_GT(s.map_changes, 0u);
  EXPECT_GT(s.resets, 0u);
  EXPECT_GT(s.root_hits, 0u);
  if (config.max_table_pages <= 64) {
    EXPECT_GT(s.recycles, 0u);
  }
  if (config.max_roots < spaces) {
    EXPECT_GT(s.root_evictions, 0u);
  }
  EXPECT_GT(edits_done, edits / 2);
  EXPECT_GT(tlb_hits, config.vpid ? 100u : 10u);
  EXPECT_GT(audited, 2'000u);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ shadow model ] %d ops (%llu accesses, %llu TLB hits, %llu table edits), %llu faults, %llu guest faults, %llu fills "
              "(%llu 2 MiB), %llu table writes (%llu single steps), %llu recycles, %llu root hits, %llu map changes, "
              "peak %llu tables; %.0f ms\n",
              ops, static_cast<unsigned long long>(accesses), static_cast<unsigned long long>(tlb_hits),
              static_cast<unsigned long long>(edits),
              static_cast<unsigned long long>(s.faults), static_cast<unsigned long long>(s.guest_faults),
              static_cast<unsigned long long>(s.fills), static_cast<unsigned long long>(s.large_fills),
              static_cast<unsigned long long>(s.table_writes), static_cast<unsigned long long>(s.single_steps),
              static_cast<unsigned long long>(s.recycles), static_cast<unsigned long long>(s.root_hits),
              static_cast<unsigned long long>(s.map_changes), static_cast<unsigned long long>(s.table_pages_peak), ms);
}

INSTANTIATE_TEST_SUITE_P(
    ShadowMmuModel, ShadowMmuModelTest,
    ::testing::Values(Model_config{Shadow_config{.max_table_pages = 16, .max_roots = 1}, 11},
                      Model_config{Shadow_config{.max_table_pages = 32, .max_roots = 2, .vpid = true}, 12},
                      Model_config{Shadow_config{.max_table_pages = 512, .max_roots = 4, .vpid = true}, 13}),
    [](const ::testing::TestParamInfo<Model_config>& info) {
      return "pages" + std::to_string(info.param.shadow.max_table_pages) + "_roots" +
             std::to_string(info.param.shadow.max_roots) + (info.param.shadow.vpid ? "_vpid" : "");
    });

} // namespace
} // namespace hv
