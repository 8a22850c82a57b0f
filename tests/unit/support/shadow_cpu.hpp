// tests/unit/support/shadow_cpu.hpp - a CPU running on the shadow MMU's tables, and the reference
// it is judged against, for shadow_mmu_test.cpp and shadow_mmu_model_test.cpp (hosted only).
//
// Shadow_cpu::access() does what the hardware does with shadow paging on: it walks the SHADOW
// tables from the root Shadow_mmu::load_cr3 returned (host-physical, through the Direct_map, with
// CR0.WP = 1 as hv forces it and the guest's NXE / SMEP / SMAP; bits 62:52 of every entry are
// ignored, as the CPU ignores them: the shadow keeps a child index there), takes a #PF exit into
// Shadow_mmu::page_fault when that walk faults and acts on the answer (fixed: walk again, a few
// times at most; single_step: the one access with the page writable, then end_single_step();
// anything else ends the access), and finally reads or writes the host bytes.
// Whenever flush_request has moved, the vCPU calls Shadow_mmu::before_entry() before it runs the
// guest again, as vmx/shadow_paging.cpp does. An optional TLB (per VPID, 4 KiB entries) keeps the
// translations of successful walks and is flushed only where the real vCPU flushes (every exit
// without VPIDs; with VPIDs: the roots' VPIDs when flush_request moved, a new root's VPID on
// needs_flush, one address on each #PF), so a missing flush request shows as a stale translation.
// The reference is the walker over the GUEST tables (guest-physical, read with copy_from_guest,
// never written): run() judges the access there first, then does it on the shadow and compares
// the outcome (fault and error code, #GP, outside RAM, MMIO, or the GPA) and the bytes (the host
// frame must be the one the guest-physical map gives the GPA; what was read or written must be
// what copy_from_guest reads there). When the CPU performs an access the guest's A (and, for a
// write, D) flags must already be set along the walk: the reference walk then needs no update.
// Guest_tables builds guest page tables in guest RAM (copy_to_guest) before the shadow sees them.
#pragma once
#include "arch/x86/page_table_entry.hpp"
#include "mm/shadow/shadow_mmu.hpp"
#include "tests/unit/support/ept_test_memory.hpp"
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <ostream>
#include <string>
#include <utility>

namespace hv::test {

inline constexpr u64 shadow_ignored_bits = 0x7FFull << 52;  // bits 62:52: ignored by the CPU

inline const char* shadow_fault_name(Shadow_fault_kind k) {
  switch (k) {
  case Shadow_fault_kind::fixed: return "done";
  case Shadow_fault_kind::guest_fault: return "guest_fault";
  case Shadow_fault_kind::general_protection: return "general_protection";
  case Shadow_fault_kind::outside_ram: return "outside_ram";
  case Shadow_fault_kind::mmio: return "mmio";
  case Shadow_fault_kind::out_of_memory: return "out_of_memory";
  case Shadow_fault_kind::single_step: return "single_step";
  case Shadow_fault_kind::no_progress: return "no_progress";
  }
  return "?";
}

// Shadow_mmu::check() as a string ("" when every invariant holds), for readable failures.
inline std::string shadow_check(const Shadow_mmu& mmu) {
  const char* why = mmu.check();
  return why ? why : "";
}

// The shadow tables as the CPU reads them: host-physical entries, bits 62:52 masked. With
// `frames`, an entry that leads anywhere but an outstanding frame reads as "outside RAM".
class Host_table_memory final : public Guest_table_memory {
public:
  Host_table_memory(Direct_map dm, const Test_frames* frames) : dm_(dm), frames_(frames) {}
  std::optional<u64> read_entry(Gpa at) override {
    if (frames_ && !frames_->is_outstanding(Hpa(at.value() & ~(page_size_4k - 1)))) return std::nullopt;
    return *dm_.ptr<u64>(Hpa(at.value())) & ~shadow_ignored_bits;
  }
  bool set_bits(Gpa at, u64 expected, u64 bits) override {
    u64& e = *dm_.ptr<u64>(Hpa(at.value()));
    if ((e & ~shadow_ignored_bits) != expected) return false;
    e |= bits;
    return true;
  }

private:
  Direct_map dm_;
  const Test_frames* frames_;
};

// The guest's tables for the reference: read through copy_from_guest, never written; `updates`
// counts the A/D updates the walker would have made.
class Guest_view final : public Guest_table_memory {
public:
  explicit Guest_view(Guest_memory& m) : m_(m) {}
  std::optional<u64> read_entry(Gpa gpa) override {
    u64 v = 0;
    if (m_.copy_from_guest(gpa, {reinterpret_cast<u8*>(&v), 8}).status != Guest_copy_status::ok) return std::nullopt;
    return v;
  }
  bool set_bits(Gpa, u64, u64) override {
    ++updates;
    return true;
  }
  unsigned updates = 0;

private:
  Guest_memory& m_;
};

inline u64 guest_read(Guest_memory& m, u64 gpa, unsigned size = 8) {
  u64 v = 0;
  if (m.copy_from_guest(Gpa(gpa), {reinterpret_cast<u8*>(&v), size}).status != Guest_copy_status::ok) std::abort();
  return v;
}
inline void guest_write(Guest_memory& m, u64 gpa, u64 v, unsigned size = 8) {
  if (m.copy_to_guest(Gpa(gpa), {reinterpret_cast<const u8*>(&v), size}).status != Guest_copy_status::ok) std::abort();
}

// Builds guest page tables from host side (before the shadow has seen them: these writes are
// not guest writes and are not tracked). Table pages come from a bump pointer.
class Guest_tables {
public:
  static constexpr u64 table_flags = x86::pte::P | x86::pte::RW | x86::pte::US;
  Guest_tables(Guest_memory& m, u64 first_table_gpa) : m_(m), next_(first_table_gpa) {}
  u64 new_table() {
    const u64 t = next_;
    next_ += page_size_4k;
    static const u8 zeros[page_size_4k] = {};
    if (m_.copy_to_guest(Gpa(t), zeros).status != Guest_copy_status::ok) std::abort();
    return t;
  }
  [[nodiscard]] u64 read(u64 gpa) const { return guest_read(m_, gpa); }
  void write(u64 gpa, u64 v) { guest_write(m_, gpa, v); }
  // The GPA of the entry at `level` for `gva` under `cr3`, missing tables above it created.
  u64 entry_gpa(u64 cr3, u64 gva, unsigned level, u64 flags = table_flags) {
    u64 table = cr3 & x86::pte::address_mask;
    for (unsigned l = 4; l > level; --l) {
      const u64 at = table + 8 * u64{x86::pte::index(gva, l)};
      u64 e = read(at);
      if (!(e & x86::pte::P)) {
        e = new_table() | flags;
        write(at, e);
      }
      table = e & x86::pte::address_mask;
    }
    return table + 8 * u64{x86::pte::index(gva, level)};
  }
  // A leaf at `level` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB; PS added) mapping `gva` to `gpa`.
  void map(u64 cr3, u64 gva, u64 gpa, unsigned level, u64 flags, u64 path_flags = table_flags) {
    write(entry_gpa(cr3, gva, level, path_flags), gpa | flags | (level > 1 ? x86::pte::PS : 0));
  }
  [[nodiscard]] u64 next() const { return next_; }

private:
  Guest_memory& m_;
  u64 next_;
};

struct Access_outcome {
  Shadow_fault_kind kind = Shadow_fault_kind::fixed;  // fixed: the access was done
  u32 error_code = 0;
  u64 gpa = 0;           // outside_ram / mmio: where
  u64 hpa = 0;           // done: the host byte reached
  u64 value = 0;         // done: the bytes read, or written
  bool stepped = false;  // done in a single step
  bool tlb_hit = false;
  std::string harness;   // the simulation's own complaint (empty: none)
};

class Shadow_cpu {
public:
  Shadow_cpu(Shadow_mmu& mmu, Guest_memory& memory, Direct_map dm, std::atomic<u64>& flush,
             const Test_frames* frames = nullptr, bool tlb = false)
      : mmu_(mmu), mem_(memory), dm_(dm), flush_(flush), frames_(frames), use_tlb_(tlb), seen_flush_(flush.load()) {}

  bool load_cr3(u64 cr3) {
    const std::optional<Shadow_root> r = mmu_.load_cr3(cr3);
    vm_exit();
    if (!r) return false;
    root_ = *r;
    if (r->needs_flush) flush_vpid(r->vpid);
    return true;
  }
  void set_mode(const Guest_paging_mode& m) {
    mmu_.set_mode(m);
    vm_exit();
  }
  [[nodiscard]] const Shadow_root& root() const { return root_; }
  // Before the guest runs again: when flush_request moved (here, or on another CPU, which kicks
  // the vCPU out of guest mode), the vCPU does what Shadow_paging::flush_requested does: the
  // MMU's before_entry(), then a flush of its roots' VPIDs (of everything without VPIDs).
  void kick() {
    const u64 now = flush_.load();
    if (now == seen_flush_) return;
    mmu_.before_entry();
    seen_flush_ = flush_.load();
    if (!root_.vpid) {
      tlb_.clear();
      return;
    }
    u16 vpids[shadow_max_roots];
    const u32 n = mmu_.root_vpids(vpids, shadow_max_roots);
    for (u32 i = 0; i < n; ++i) flush_vpid(vpids[i]);
  }
  [[nodiscard]] u64 tlb_entries() const { return tlb_.size(); }

  // The CPU's walk of the shadow tables for `gva` (no TLB, no exit).
  Walk_result shadow_walk(u64 gva, Guest_access a = {}) {
    Host_table_memory hw(dm_, frames_);
    return walk_guest_page_tables(hw, root_.table.value(), Gva(gva), a, hardware_mode());
  }
  // The reference: the guest's own tables judge the access (nothing written).
  Walk_result reference(u64 gva, Guest_access a) {
    Guest_view view(mem_);
    return walk_guest_page_tables(view, mmu_.guest_cr3(), Gva(gva), a, mmu_.mode());
  }

  // The guest's access of `size` bytes (1..8, within one page) at `gva`; a write stores `value`.
  Access_outcome access(u64 gva, Guest_access a, unsigned size = 1, u64 value = 0) {
    Access_outcome o;
    kick();
    for (int round = 0; round < 8; ++round) {
      u64 hpa = 0;
      const Walk_status s = translate(gva, a, hpa, o.tlb_hit);
      if (s == Walk_status::ok) {
        perform(o, gva, a, hpa, size, value);
        return o;
      }
      if (s == Walk_status::non_canonical) {  // #GP in the guest, no exit
        o.kind = Shadow_fault_kind::general_protection;
        return o;
      }
      if (s == Walk_status::table_outside_ram) {
        o.harness = "a shadow entry leads outside the shadow's tables";
        return o;
      }
      // #PF exit (the CPU has dropped its TLB entry for the address).
      tlb_.erase({root_.vpid, gva >> page_shift});
      const Shadow_fault f = mmu_.page_fault(Gva(gva), a);
      vm_exit();
      switch (f.kind) {
      case Shadow_fault_kind::fixed: continue;
      case Shadow_fault_kind::single_step: {
        o.stepped = true;
        bool hit = false;
        if (translate(gva, a, hpa, hit) != Walk_status::ok) o.harness = "single_step, but the access still faults";
        else perform(o, gva, a, hpa, size, value);
        mmu_.end_single_step();  // the #DB exit after the one instruction
        vm_exit();
        return o;
      }
      default:
        o.kind = f.kind;
        o.error_code = f.error_code;
        o.gpa = f.gpa.value();
        return o;
      }
    }
    o.harness = "the shadow says fixed but the access keeps faulting";
    return o;
  }

  // Judges the access on the guest's tables, does it on the shadow, compares: "" when they agree.
  std::string run(u64 gva, Guest_access a, unsigned size = 1, u64 value = 0, Access_outcome* out = nullptr) {
    const Walk_result r = reference(gva, a);
    const Access_outcome o = access(gva, a, size, value);
    if (out) *out = o;
    Shadow_fault_kind want = Shadow_fault_kind::fixed;
    u64 want_gpa = 0;
    switch (r.status) {
    case Walk_status::ok: {
      const Memslot* slot = mem_.slots().find(r.gpa);
      want_gpa = r.gpa.value();
      if (!slot || slot->kind == Memslot_kind::reserved) want = Shadow_fault_kind::outside_ram;
      else if (slot->kind == Memslot_kind::mmio) want = Shadow_fault_kind::mmio;
      break;
    }
    case Walk_status::page_fault: want = Shadow_fault_kind::guest_fault; break;
    case Walk_status::non_canonical: want = Shadow_fault_kind::general_protection; break;
    case Walk_status::table_outside_ram:
      want = Shadow_fault_kind::outside_ram;
      want_gpa = r.fault_gpa.value();
      break;
    }
    char where[200];
    const Guest_paging_mode& m = mmu_.mode();
    std::snprintf(where, sizeof(where), " [gva %#llx %s%s%s%s size %u; cr3 %#llx; mode%s%s%s%s%s%s%s]",
                  static_cast<unsigned long long>(gva), a.user ? "user " : "", a.implicit_supervisor ? "implicit " : "",
                  a.write ? "write" : a.fetch ? "fetch" : "read", a.ac ? " ac" : "", size,
                  static_cast<unsigned long long>(mmu_.guest_cr3()), m.wp ? " wp" : "", m.nxe ? " nxe" : "",
                  m.smep ? " smep" : "", m.smap ? " smap" : "", m.page_1g ? " 1g" : "", o.tlb_hit ? "; TLB hit" : "",
                  o.stepped ? "; single step" : "");
    if (!o.harness.empty()) return o.harness + where;
    char why[256];
    if (o.kind != want) {
      std::snprintf(why, sizeof(why), "shadow: %s (error %#x, gpa %#llx), reference: %s (error %#x, gpa %#llx)",
                    shadow_fault_name(o.kind), o.error_code, static_cast<unsigned long long>(o.gpa), shadow_fault_name(want),
                    r.error_code, static_cast<unsigned long long>(want_gpa));
      return why + std::string(where);
    }
    if (want == Shadow_fault_kind::guest_fault && o.error_code != r.error_code) {
      std::snprintf(why, sizeof(why), "error code %#x, reference %#x", o.error_code, r.error_code);
      return why + std::string(where);
    }
    if ((want == Shadow_fault_kind::outside_ram || want == Shadow_fault_kind::mmio) && o.gpa != want_gpa) {
      std::snprintf(why, sizeof(why), "gpa %#llx, reference %#llx", static_cast<unsigned long long>(o.gpa),
                    static_cast<unsigned long long>(want_gpa));
      return why + std::string(where);
    }
    if (want != Shadow_fault_kind::fixed) return "";
    const auto t = mem_.ept().translate(r.gpa);
    if (!t || t->hpa.value() != o.hpa) {
      std::snprintf(why, sizeof(why), "host byte %#llx, the map gives gpa %#llx %#llx", static_cast<unsigned long long>(o.hpa),
                    static_cast<unsigned long long>(r.gpa.value()), t ? static_cast<unsigned long long>(t->hpa.value()) : 0ull);
      return why + std::string(where);
    }
    const u64 mask = size == 8 ? ~u64{0} : (u64{1} << (8 * size)) - 1;
    const u64 now = guest_read(mem_, r.gpa.value(), size);
    if (now != (o.value & mask)) {
      std::snprintf(why, sizeof(why), "bytes %#llx, guest-physical %#llx holds %#llx", static_cast<unsigned long long>(o.value & mask),
                    static_cast<unsigned long long>(r.gpa.value()), static_cast<unsigned long long>(now));
      return why + std::string(where);
    }
    return "";
  }

  // The current root's shadow leaves, read as the CPU reads them, against the guest's tables and
  // the map, independently of Shadow_mmu::check(): each leaf's address must translate in the
  // guest's tables (a supervisor read with RFLAGS.AC, which every mode allows), with A set along
  // the guest's walk, to the GPA whose frame the leaf maps; U/S, R/W and execute no wider than the
  // guest's (R/W only over a dirty guest page and a writable frame; under WP = 0 a read-only guest
  // page may be writable for the supervisor only). "" when every leaf agrees.
  std::string audit() {
    audited_leaves_ = 0;
    return audit_table(root_.table.value(), 4, 0, true, true, false);
  }
  [[nodiscard]] u64 audited_leaves() const { return audited_leaves_; }

private:
  std::string audit_table(u64 table, unsigned level, u64 base, bool rw, bool us, bool nx) {
    for (unsigned i = 0; i < 512; ++i) {
      const u64 e = *dm_.ptr<u64>(Hpa(table + 8 * i)) & ~shadow_ignored_bits;
      if (!(e & x86::pte::P)) continue;
      u64 va = base | u64{i} << (12 + 9 * (level - 1));
      if (level == 4 && i >= 256) va |= 0xFFFF'0000'0000'0000;
      const bool w = rw && (e & x86::pte::RW), u = us && (e & x86::pte::US), x = nx || (e & x86::pte::NX);
      if (level > 1 && !(e & x86::pte::PS)) {
        if (frames_ && !frames_->is_outstanding(Hpa(e & x86::pte::address_mask))) return "a shadow link to a freed frame";
        std::string why = audit_table(e & x86::pte::address_mask, level - 1, va, w, u, x);
        if (!why.empty()) return why;
        continue;
      }
      const u64 span = x86::pte::entry_span(level);
      const u64 frame = e & x86::pte::address_mask & ~(span - 1);
      for (const u64 off : {u64{0}, span / 2 + page_size_4k, span - page_size_4k}) {
        if (off >= span) continue;
        ++audited_leaves_;
        Guest_view view(mem_);
        const Walk_result r =
            walk_guest_page_tables(view, mmu_.guest_cr3(), Gva(va + off), Guest_access{.ac = true}, mmu_.mode());
        char where[96];
        std::snprintf(where, sizeof(where), " [gva %#llx, shadow leaf %#llx]", static_cast<unsigned long long>(va + off),
                      static_cast<unsigned long long>(e));
        if (r.status != Walk_status::ok) return "a shadow leaf maps what the guest's tables do not" + std::string(where);
        if (view.updates) return "a shadow leaf under guest entries with A clear" + std::string(where);
        const auto t = mem_.ept().translate(r.gpa);
        if (!t || t->hpa.value() != frame + off) return "a shadow leaf maps another frame than the map" + std::string(where);
        if (u && !r.user) return "a shadow leaf gives user access the guest does not" + std::string(where);
        if (!x && !r.executable) return "a shadow leaf is executable where the guest's is not" + std::string(where);
        if (w && !r.writable && (mmu_.mode().wp || u)) return "a shadow leaf is writable where the guest's is not" + std::string(where);
        if (w && !r.dirty) return "a shadow leaf is writable over a clean guest page" + std::string(where);
        if (w && !has_rights(t->leaf.attrs.rights, Ept_rights::write)) return "a shadow leaf is writable over a read-only frame" + std::string(where);
      }
    }
    return "";
  }

  struct Tlb_entry {
    u64 hpa_page;
    Walk_result rights;
  };
  Guest_paging_mode hardware_mode() const {
    Guest_paging_mode m = mmu_.mode();
    m.wp = true;             // hv forces CR0.WP
    m.page_1g = true;
    m.max_phys_addr_bits = 46;  // the host's
    return m;
  }
  // A VM exit ended and the guest is entered again.
  void vm_exit() {
    kick();
    if (!root_.vpid) tlb_.clear();  // VPIDs off: every entry and exit flushes
  }
  void flush_vpid(u16 vpid) {
    for (auto it = tlb_.begin(); it != tlb_.end();) it = it->first.first == vpid ? tlb_.erase(it) : std::next(it);
  }
  Walk_status translate(u64 gva, Guest_access a, u64& hpa, bool& hit) {
    const std::pair<u16, u64> key{root_.vpid, gva >> page_shift};
    if (use_tlb_) {
      const auto it = tlb_.find(key);
      if (it != tlb_.end()) {
        if (walk_allows(it->second.rights, a, hardware_mode()) && (!a.write || it->second.rights.dirty)) {
          hpa = it->second.hpa_page | (gva & (page_size_4k - 1));
          hit = true;
          return Walk_status::ok;
        }
        tlb_.erase(it);
      }
    }
    const Walk_result w = shadow_walk(gva, a);
    if (w.status != Walk_status::ok) return w.status;
    hpa = w.gpa.value();
    if (use_tlb_) tlb_[key] = Tlb_entry{hpa & ~(page_size_4k - 1), w};
    return Walk_status::ok;
  }
  void perform(Access_outcome& o, u64 gva, Guest_access a, u64 hpa, unsigned size, u64 value) {
    // The guest's flags along the walk are set by now (the shadow set them when it built the path).
    Guest_view view(mem_);
    const Walk_result r = walk_guest_page_tables(view, mmu_.guest_cr3(), Gva(gva), a, mmu_.mode());
    if (r.status == Walk_status::ok && view.updates) o.harness = "the access happened with A/D clear in the guest's entries";
    o.hpa = hpa;
    u8* p = dm_.ptr<u8>(Hpa(hpa));
    if (a.write) {
      std::memcpy(p, &value, size);
      o.value = value;
    } else {
      o.value = 0;
      std::memcpy(&o.value, p, size);
    }
  }

  Shadow_mmu& mmu_;
  Guest_memory& mem_;
  Direct_map dm_;
  std::atomic<u64>& flush_;
  const Test_frames* frames_;
  bool use_tlb_;
  u64 seen_flush_;
  u64 audited_leaves_ = 0;
  Shadow_root root_;
  std::map<std::pair<u16, u64>, Tlb_entry> tlb_;
};

} // namespace hv::test

namespace hv {
inline void PrintTo(Shadow_fault_kind k, std::ostream* os) { *os << test::shadow_fault_name(k); }
} // namespace hv
