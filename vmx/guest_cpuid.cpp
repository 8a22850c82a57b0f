// vmx/guest_cpuid.cpp - see guest_cpuid.hpp: the model (build, model_answer) and the answer table
// built from it. Both builds.
#include "vmx/guest_cpuid.hpp"
#include "lib/panic.hpp"
#include <bit>
#include <cstring>

namespace hv {
namespace {

constexpr u32 bit(unsigned n) { return 1u << n; }

// CPUID.1:ECX / EDX bits the model clears (see the banner of guest_cpuid.hpp for why).
constexpr u32 leaf1_ecx_hidden = bit(2) /*DTES64*/ | bit(3) /*MONITOR*/ | bit(4) /*DS-CPL*/ | bit(5) /*VMX*/ |
                                 bit(6) /*SMX*/ | bit(7) /*EST*/ | bit(8) /*TM2*/ | bit(14) /*xTPR*/ |
                                 bit(15) /*PDCM*/ | bit(18) /*DCA*/ | bit(21) /*x2APIC*/ | bit(24) /*TSC-deadline*/ |
                                 bit(27) /*OSXSAVE: set per vCPU*/;
constexpr u32 leaf1_ecx_pcid = bit(17);
constexpr u32 leaf1_ecx_osxsave = bit(27);
constexpr u32 leaf1_ecx_hypervisor = bit(31);
constexpr u32 leaf1_edx_hidden = bit(7) /*MCE*/ | bit(14) /*MCA*/ | bit(18) /*PSN*/ | bit(21) /*DS*/ |
                                 bit(22) /*ACPI*/ | bit(28) /*HTT: set by topology*/ | bit(29) /*TM*/ | bit(31) /*PBE*/;
constexpr u32 leaf1_edx_htt = bit(28);

// CPUID.(EAX=7,ECX=0)
constexpr u32 leaf7_ebx_hidden = bit(2) /*SGX*/ | bit(12) /*RDT-M*/ | bit(14) /*MPX*/ | bit(15) /*RDT-A*/ |
                                 bit(25) /*Intel PT*/;
constexpr u32 leaf7_ebx_invpcid = bit(10);
constexpr u32 leaf7_ecx_hidden = bit(5) /*WAITPKG*/ | bit(30) /*SGX-LC*/ | bit(31) /*PKS*/;
constexpr u32 leaf7_edx_hidden = bit(15) /*hybrid*/ | bit(18) /*PCONFIG*/ | bit(26) /*IBRS/IBPB*/ | bit(27) /*STIBP*/ |
                                 bit(28) /*L1D_FLUSH*/ | bit(29) /*ARCH_CAPABILITIES*/ |
                                 bit(30) /*CORE_CAPABILITIES*/ | bit(31) /*SSBD*/;
constexpr u32 leaf7_1_eax_hidden = bit(22) /*HRESET*/;

// CPUID.0xD
constexpr u64 xcr0_mpx = (1ull << 3) | (1ull << 4);  // BNDREGS, BNDCSR
constexpr u32 leafd_1_eax_hidden = bit(3) /*XSAVES*/ | bit(4) /*XFD*/;
constexpr u32 xsave_legacy_and_header = 512 + 64;

// CPUID.80000001
constexpr u32 ext1_ecx_kept = bit(0) /*LAHF-SAHF*/ | bit(5) /*LZCNT*/ | bit(8) /*PREFETCHW*/;
constexpr u32 ext1_edx_kept = bit(11) /*SYSCALL*/ | bit(20) /*NX*/ | bit(26) /*1-GByte pages*/ | bit(27) /*RDTSCP*/ |
                              bit(29) /*Intel 64*/;

constexpr u64 cr4_osxsave = 1ull << 18;

u32 signature_register(unsigned index) {
  u32 r;
  std::memcpy(&r, guest_cpuid_signature + 4 * index, 4);
  return r;
}

} // namespace

u32 encode_family_model(u32 family, u32 model, u32 stepping) {
  const u32 base_family = family >= 0xF ? 0xF : family;
  const u32 extended_family = family >= 0xF ? (family - 0xF) & 0xFF : 0;
  const bool extended_model = base_family == 0x6 || base_family == 0xF;
  const u32 base_model = model & 0xF;
  const u32 ext_model = extended_model ? (model >> 4) & 0xF : 0;
  return (extended_family << 20) | (ext_model << 16) | (base_family << 8) | (base_model << 4) | (stepping & 0xF);
}

void Guest_cpuid::build(Cpu_access& host, const Guest_cpuid_config& config) {
  *this = Guest_cpuid{};
  config_ = config;
  config_.brand = {};  // copied below; the caller's storage is not kept
  if (config_.vcpu_count == 0) config_.vcpu_count = 1;
  core_id_bits_ = static_cast<u32>(std::bit_width(config_.vcpu_count - 1));

  const Cpuid_result leaf0 = host.cpuid(0);
  max_basic_ = leaf0.eax < max_basic_leaf_supported ? leaf0.eax : max_basic_leaf_supported;
  for (u32 leaf = 0; leaf <= max_basic_; ++leaf) {
    switch (leaf) {
    case 0x0: case 0x1: case 0x2: case 0x15: case 0x16:
      basic_[leaf] = host.cpuid(leaf);
      break;
    case 0x4:
      for (u32 s = 0; s < leaf4_subleaves; ++s) {
        leaf4_[s] = host.cpuid(4, s);
        if ((leaf4_[s].eax & 0x1F) == 0) {  // cache type 0: no more caches
          leaf4_[s] = {};
          break;
        }
      }
      break;
    case 0x7:
      leaf7_[0] = host.cpuid(7, 0);
      leaf7_max_subleaf_ = leaf7_[0].eax < 1 ? leaf7_[0].eax : 1;  // subleaf 1 at most (see below)
      if (leaf7_max_subleaf_ >= 1) leaf7_[1] = host.cpuid(7, 1);
      break;
    case 0xD:
      for (u32 s = 0; s < leafd_subleaves; ++s) leafd_[s] = host.cpuid(0xD, s);
      break;
    default:
      break;  // not passed through: zeros (0xB and 0x1F are synthesised)
    }
  }
  basic_[0].eax = max_basic_;

  // Leaf 1: hide, set, and make room for the per-vCPU fields.
  Cpuid_result& l1 = basic_[1];
  if (config_.family != 0) l1.eax = encode_family_model(config_.family, config_.model, config_.stepping);
  l1.ebx &= 0x0000FFFF;  // keep brand index and CLFLUSH size; APIC ID and count are per vCPU
  l1.ecx = (l1.ecx & ~leaf1_ecx_hidden) | leaf1_ecx_hypervisor;
  if (!config_.pcid) l1.ecx &= ~leaf1_ecx_pcid;
  if (config_.local_apic) l1.ecx |= bit(21) /*x2APIC*/ | bit(24) /*TSC-deadline*/;  // devices/local_apic.hpp
  l1.edx &= ~leaf1_edx_hidden;
  if (config_.vcpu_count > 1) l1.edx |= leaf1_edx_htt;

  // Leaf 4: the host's caches, shared as one package of single-thread cores.
  const u32 ids = 1u << core_id_bits_;
  for (Cpuid_result& c : leaf4_) {
    if ((c.eax & 0x1F) == 0) continue;
    const u32 level = (c.eax >> 5) & 0x7;
    const u32 sharing = level >= 3 ? ids - 1 : 0;
    c.eax = (c.eax & 0x00003FFF) | ((sharing & 0xFFF) << 14) | (((ids - 1) & 0x3F) << 26);
  }

  // Leaf 7: subleaf 0 and 1 (subleaf 2 holds only speculation-control bits, hidden).
  leaf7_[0].eax = leaf7_max_subleaf_;
  leaf7_[0].ebx &= ~leaf7_ebx_hidden;
  if (!config_.pcid) leaf7_[0].ebx &= ~leaf7_ebx_invpcid;
  leaf7_[0].ecx &= ~leaf7_ecx_hidden;
  leaf7_[0].edx &= ~leaf7_edx_hidden;
  leaf7_[1].eax &= ~leaf7_1_eax_hidden;
  leaf7_[1].ebx = leaf7_[1].ecx = leaf7_[1].edx = 0;

  // Leaf 0xD: XCR0 components without MPX; no XSAVES (no IA32_XSS for guests).
  if (max_basic_ >= 0xD) {
    supported_xcr0_ = ((u64{leafd_[0].edx} << 32) | leafd_[0].eax) & ~xcr0_mpx;
    leafd_[0].eax = static_cast<u32>(supported_xcr0_);
    leafd_[0].edx = static_cast<u32>(supported_xcr0_ >> 32);
    u32 max_size = xsave_legacy_and_header;
    for (u32 s = 2; s < leafd_subleaves; ++s) {
      if (!(supported_xcr0_ & (1ull << s))) {
        leafd_[s] = {};
        continue;
      }
      const u32 end = leafd_[s].ebx + leafd_[s].eax;  // offset + size, standard format
      if (end > max_size) max_size = end;
    }
    leafd_[0].ecx = max_size;
    leafd_[1].eax &= ~leafd_1_eax_hidden;
    leafd_[1].ebx = leafd_[1].ecx = leafd_[1].edx = 0;
  }

  // Extended leaves.
  const Cpuid_result ext0 = host.cpuid(0x80000000);
  if (ext0.eax & 0x80000000u) {
    max_extended_ = ext0.eax < max_extended_leaf_supported ? ext0.eax : max_extended_leaf_supported;
    extended_count_ = max_extended_ - 0x80000000 + 1;
    for (u32 leaf = 0x80000000; leaf <= max_extended_; ++leaf) extended_[leaf - 0x80000000] = host.cpuid(leaf);
    extended_[0].eax = max_extended_;
    Cpuid_result& e1 = extended_[1];
    e1.eax = e1.ebx = 0;
    e1.ecx &= ext1_ecx_kept;
    e1.edx &= ext1_edx_kept;
    extended_[5] = {};  // 0x80000005: reserved on Intel
    if (max_extended_ >= 0x80000007) extended_[7] = {0, 0, 0, extended_[7].edx & bit(8) /*invariant TSC*/};
    if (max_extended_ >= 0x80000008) extended_[8] = {extended_[8].eax & 0xFFFF, extended_[8].ebx & bit(9), 0, 0};
  }
  if (!config.brand.empty() && max_extended_ >= 0x80000004) {
    const usize n = config.brand.size() < brand_.size() - 1 ? config.brand.size() : brand_.size() - 1;
    std::memcpy(brand_.data(), config.brand.data(), n);
    for (u32 i = 0; i < 3; ++i) {
      Cpuid_result& b = extended_[2 + i];
      std::memcpy(&b.eax, brand_.data() + 16 * i + 0, 4);
      std::memcpy(&b.ebx, brand_.data() + 16 * i + 4, 4);
      std::memcpy(&b.ecx, brand_.data() + 16 * i + 8, 4);
      std::memcpy(&b.edx, brand_.data() + 16 * i + 12, 4);
    }
  }
  build_table();
}

Cpuid_result Guest_cpuid::topology(u32 leaf, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const {
  (void)leaf;
  const u32 level = subleaf & 0xFF;
  switch (subleaf) {
  case 0: return {0, 1, (1u << 8) | level, vcpu.apic_id};                           // SMT: 1 thread
  case 1: return {core_id_bits_, config_.vcpu_count, (2u << 8) | level, vcpu.apic_id};  // cores
  default: return {0, 0, level, vcpu.apic_id};                                         // invalid level
  }
}

Cpuid_result Guest_cpuid::xsave(u32 subleaf, const Guest_cpuid_vcpu& vcpu) const {
  if (subleaf >= leafd_subleaves) return {};
  Cpuid_result r = leafd_[subleaf];
  if (subleaf == 0) r.ebx = xsave_size(vcpu.xcr0);
  return r;
}

// The size of the XSAVE area for the components enabled in `xcr0` (CPUID.(EAX=0DH,ECX=0):EBX).
u32 Guest_cpuid::xsave_size(u64 xcr0) const {
  u32 size = xsave_legacy_and_header;
  const u64 enabled = xcr0 & supported_xcr0_;
  for (u32 s = 2; s < leafd_subleaves; ++s) {
    if (!(enabled & (1ull << s))) continue;
    const u32 end = leafd_[s].ebx + leafd_[s].eax;
    if (end > size) size = end;
  }
  return size;
}

Cpuid_result Guest_cpuid::basic(u32 leaf, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const {
  switch (leaf) {
  case 0x1: {
    Cpuid_result r = basic_[1];
    const u32 logical = config_.vcpu_count > 1 ? (1u << core_id_bits_) : 1;
    r.ebx |= ((vcpu.apic_id & 0xFF) << 24) | ((logical & 0xFF) << 16);
    if (vcpu.cr4 & cr4_osxsave) r.ecx |= leaf1_ecx_osxsave;
    return r;
  }
  case 0x4: return subleaf < leaf4_subleaves ? leaf4_[subleaf] : Cpuid_result{};
  case 0x7: return subleaf <= leaf7_max_subleaf_ ? leaf7_[subleaf] : Cpuid_result{};
  case 0xB: case 0x1F: return topology(leaf, subleaf, vcpu);
  case 0xD: return xsave(subleaf, vcpu);
  default: return basic_[leaf];
  }
}

Cpuid_result Guest_cpuid::hypervisor_leaf(u32 leaf) const {
  if (leaf == 0x40000000) return {guest_cpuid_max_hypervisor_leaf, signature_register(0), signature_register(1), signature_register(2)};
  return {guest_hypercall_abi_version, config_.hypervisor_features, 0, 0};
}

Cpuid_result Guest_cpuid::highest_basic(u32 subleaf, const Guest_cpuid_vcpu& vcpu) const {
  return basic(max_basic_, subleaf, vcpu);
}

Cpuid_result Guest_cpuid::model_answer(u32 leaf, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const {
  if (leaf <= max_basic_) return basic(leaf, subleaf, vcpu);
  if (leaf == 0x40000000 || leaf == guest_cpuid_max_hypervisor_leaf) return hypervisor_leaf(leaf);
  if (leaf >= 0x80000000 && leaf <= max_extended_) return extended_[leaf - 0x80000000];
  return highest_basic(subleaf, vcpu);
}

// --- The answer table.

// Fills every slot of a leaf the guest can name (basic up to the maximum, the hypervisor
// leaves, the extended leaves present) from the model, evaluated for a vCPU with APIC ID 0,
// CR4 0 and XCR0 = x87: exactly the answer with every per-vCPU field zero or reset, which
// varying_answer() then fills in. Which leaves depend on ECX or on the vCPU is the model's
// rule (basic(), topology(), xsave()) restated; tests compare the two for every leaf and subleaf.
void Guest_cpuid::build_table() {
  const Guest_cpuid_vcpu reset{};
  u32 used = 0;
  for (u32 slot = 0; slot < slot_count; ++slot) {
    u32 leaf;
    if (slot < hypervisor_slot) {
      if (slot > max_basic_) continue;
      leaf = slot;
    } else if (slot < extended_slot) {
      leaf = 0x40000000 + (slot - hypervisor_slot);
    } else {
      if (slot - extended_slot >= extended_count_) continue;
      leaf = 0x80000000 + (slot - extended_slot);
    }
    Slot& s = slots_[slot];
    switch (leaf) {
    case 0x1: s.vcpu_fields = field_apic_id_ebx | field_osxsave; break;
    case 0x4: s.subleaves = leaf4_subleaves; break;
    case 0x7: s.subleaves = static_cast<u8>(leaf7_max_subleaf_ + 1); break;
    case 0xB: case 0x1F:
      s.subleaves = topology_subleaves;
      s.vcpu_fields = field_apic_id_edx | field_level_ecx;
      break;
    case 0xD:
      s.subleaves = leafd_subleaves;
      s.vcpu_fields = field_xsave_size;
      break;
    default: break;
    }
    s.varies = s.subleaves != 0 || s.vcpu_fields != 0;
    // The level echoed from ECX is filled in at lookup: store it as zero.
    const u32 ecx_kept = (s.vcpu_fields & field_level_ecx) ? ~0xFFu : ~0u;
    if (s.subleaves == 0) {
      s.answer = model_answer(leaf, 0, reset);
      s.answer.ecx &= ecx_kept;
      continue;
    }
    HV_ASSERT(used + s.subleaves + 1 <= subleaf_answer_capacity);
    s.first = static_cast<u16>(used);
    for (u32 sub = 0; sub <= s.subleaves; ++sub) {  // the last: the first subleaf past the end
      Cpuid_result r = model_answer(leaf, sub, reset);
      r.ecx &= ecx_kept;
      subleaf_answers_[used++] = r;
    }
  }
}

Cpuid_result Guest_cpuid::varying_answer(const Slot& slot, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const {
  Cpuid_result r = slot.answer;
  if (slot.subleaves != 0) r = subleaf_answers_[slot.first + (subleaf < slot.subleaves ? subleaf : slot.subleaves)];
  const u8 f = slot.vcpu_fields;
  if (f & field_apic_id_ebx) r.ebx |= (vcpu.apic_id & 0xFF) << 24;
  if ((f & field_osxsave) && (vcpu.cr4 & cr4_osxsave)) r.ecx |= leaf1_ecx_osxsave;
  if (f & field_apic_id_edx) r.edx = vcpu.apic_id;
  if (f & field_level_ecx) r.ecx |= subleaf & 0xFF;
  if ((f & field_xsave_size) && subleaf == 0) r.ebx = xsave_size(vcpu.xcr0);
  return r;
}

} // namespace hv
