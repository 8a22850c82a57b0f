// tests/unit/support/ept_reference_model.hpp - the reference model the EPT is tested against
// (hosted only): a std::map from a leaf's first GFN to {HFN, size, attributes}, changed by the
// rules mm/ept.hpp documents (strict map, implicit split of partly covered large leaves, merge
// conditions, the no-executable-large-leaves policy). Slow and obviously right is the point.
#pragma once
#include "mm/ept_types.hpp"
#include <map>
#include <set>

namespace hv::test {

constexpr u64 pages_of(Page_size s) { return page_bytes(s) / page_size_4k; }

struct Model_leaf {
  u64 hfn;
  Page_size size;
  Ept_attrs attrs;
};

class Ept_reference_model {
public:
  explicit Ept_reference_model(const Ept_config& c) : config_(c) {}
  std::map<u64, Model_leaf> leaves;  // first GFN -> leaf

  // The leaf containing gfn, or end().
  std::map<u64, Model_leaf>::iterator covering(u64 gfn) {
    auto it = leaves.upper_bound(gfn);
    if (it == leaves.begin()) return leaves.end();
    --it;
    return gfn < it->first + pages_of(it->second.size) ? it : leaves.end();
  }
  // The first leaf overlapping [g0, g1), or end().
  std::map<u64, Model_leaf>::iterator first_overlap(u64 g0, u64 g1) {
    auto it = covering(g0);
    if (it != leaves.end()) return it;
    it = leaves.lower_bound(g0);
    return it != leaves.end() && it->first < g1 ? it : leaves.end();
  }
  // Replaces a large leaf by 512 of the next size down; returns the first of them.
  std::map<u64, Model_leaf>::iterator split(std::map<u64, Model_leaf>::iterator it) {
    const u64 base = it->first;
    const Model_leaf l = it->second;
    auto hint = leaves.erase(it);
    const Page_size child = page_size_at_level(leaf_level(l.size) - 1);
    for (u64 i = 512; i-- > 0;)  // backwards, each insert right before the previous one: O(1)
      hint = leaves.emplace_hint(hint, base + i * pages_of(child), Model_leaf{l.hfn + i * pages_of(child), child, l.attrs});
    return hint;
  }

  Ept_status check_attrs(const Ept_attrs& a, Page_size s) const {
    if (s == Page_size::size_1g && !config_.allow_1g) return Ept_status::size_not_supported;
    if (s != Page_size::size_4k && config_.no_exec_large_leaves && has_any_execute(a.rights))
      return Ept_status::exec_large_forbidden;
    return Ept_status::ok;
  }

  // map_range semantics: leaf by leaf, stop at the first one that overlaps anything.
  Ept_map_result map_range(u64 gfn, u64 hfn, u64 count, Page_size s, const Ept_attrs& a) {
    if (const auto st = check_attrs(a, s); st != Ept_status::ok) return {st, 0};
    const u64 n = pages_of(s);
    // Leaves overlapping the run, in order: the one covering its start, then those starting inside.
    auto next = covering(gfn);
    if (next == leaves.end()) next = leaves.lower_bound(gfn);
    for (u64 i = 0; i < count; ++i) {
      const u64 g = gfn + i * n;
      if (next != leaves.end() && next->first < g + n) return {Ept_status::already_mapped, i * page_bytes(s)};
      leaves.emplace_hint(next, g, Model_leaf{hfn + i * n, s, a});
    }
    return {Ept_status::ok, count * page_bytes(s)};
  }

  // Returns whether the change needs an INVEPT.
  bool unmap(u64 g0, u64 g1) {
    bool flush = false;
    auto it = first_overlap(g0, g1);
    while (it != leaves.end() && it->first < g1) {
      if (g0 <= it->first && it->first + pages_of(it->second.size) <= g1) {
        it = leaves.erase(it);
        flush = true;
      } else {
        it = split(it);
        if (it->first < g0) it = first_overlap(g0, g1);
      }
    }
    return flush;
  }

  bool protect(u64 g0, u64 g1, Ept_rights r) {
    bool flush = false;
    const bool exec_4k_only = config_.no_exec_large_leaves && has_any_execute(r);
    auto it = first_overlap(g0, g1);
    while (it != leaves.end() && it->first < g1) {
      const bool whole = g0 <= it->first && it->first + pages_of(it->second.size) <= g1;
      if (!whole || (exec_4k_only && it->second.size != Page_size::size_4k)) {
        it = split(it);
        if (it->first < g0) it = first_overlap(g0, g1);
        continue;
      }
      if ((static_cast<u8>(it->second.attrs.rights) & ~static_cast<u8>(r)) != 0) flush = true;
      it->second.attrs.rights = r;
      ++it;
    }
    return flush;
  }

  Ept_status split_at(u64 gfn) {
    auto it = covering(gfn);
    if (it == leaves.end()) return Ept_status::not_mapped;
    if (it->second.size == Page_size::size_4k) return Ept_status::not_large;
    split(it);
    return Ept_status::ok;
  }

  Ept_status merge(u64 gfn, Page_size target) {
    if (target == Page_size::size_1g && !config_.allow_1g) return Ept_status::size_not_supported;
    const u64 n = pages_of(target);
    const u64 base = gfn & ~(n - 1);
    const auto cover = covering(gfn);
    if (cover != leaves.end() && pages_of(cover->second.size) >= n) return Ept_status::not_mergeable;
    if (first_overlap(base, base + n) == leaves.end()) return Ept_status::not_mapped;
    const Page_size child = page_size_at_level(leaf_level(target) - 1);
    const u64 step = pages_of(child);
    auto first = leaves.find(base);
    if (first == leaves.end() || first->second.size != child || (first->second.hfn & (n - 1)) != 0)
      return Ept_status::not_mergeable;
    for (u64 i = 1; i < 512; ++i) {
      auto it = leaves.find(base + i * step);
      if (it == leaves.end() || it->second.size != child || it->second.hfn != first->second.hfn + i * step ||
          !(it->second.attrs == first->second.attrs))
        return Ept_status::not_mergeable;
    }
    if (config_.no_exec_large_leaves && has_any_execute(first->second.attrs.rights)) return Ept_status::exec_large_forbidden;
    const Model_leaf merged{first->second.hfn, target, first->second.attrs};
    leaves.erase(leaves.lower_bound(base), leaves.lower_bound(base + n));
    leaves[base] = merged;
    return Ept_status::ok;
  }

  u64 expected_table_pages() const {
    std::set<u64> pdpt, pd, pt;
    for (const auto& [gfn, l] : leaves) {
      const u64 gpa = gfn << page_shift;
      pdpt.insert(gpa >> 39);
      if (l.size != Page_size::size_1g) pd.insert(gpa >> 30);
      if (l.size == Page_size::size_4k) pt.insert(gpa >> 21);
    }
    return 1 + pdpt.size() + pd.size() + pt.size();
  }

private:
  Ept_config config_;
};

} // namespace hv::test
