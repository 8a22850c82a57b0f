// vmx/guest_cpuid.hpp - the CPU a guest sees through CPUID: a model built once per VM from the
// host's leaves (through Cpu_access), answering CPUID exits from that cache. Both builds; the
// exit path never executes CPUID on the host.
//
// What the model changes (SDM Vol. 2A, CPUID; bit names as there):
// - Hidden, because hv does not virtualise them: VMX and SMX (no nested virtualisation);
//   MONITOR/MWAIT (leaf 5 zeroed too; no MWAIT exits are handled); DTES64, DS, DS-CPL, PDCM,
//   EST, TM, TM2, ACPI, PBE, xTPR, DCA, PSN (their MSRs are not on the allow-list of
//   vmx/guest_msr.hpp); MCE/MCA (no machine-check MSRs); x2APIC and TSC-deadline (no x2APIC
//   MSRs, no IA32_TSC_DEADLINE); SGX, Intel PT, MPX, RDT monitoring/allocation, WAITPKG, PCONFIG,
//   hybrid; the speculation controls IBRS/IBPB, STIBP, L1D_FLUSH, SSBD, IA32_ARCH_CAPABILITIES,
//   IA32_CORE_CAPABILITIES (guest_msr refuses those MSRs); XSAVES/XFD (no IA32_XSS) and the MPX
//   XSAVE components; architectural performance monitoring (leaf 0xA) and power management
//   (leaf 6) are zeroed.
// - PCID and INVPCID are kept by default: with EPT and VPID they need no hypervisor help. A VM
//   that runs on shadow paging sets `pcid = false` (the shadow-paging code does not track PCIDs).
// - Set: CPUID.1:ECX.hypervisor[31]. CPUID.1:ECX.OSXSAVE[27] follows the vCPU's CR4.OSXSAVE.
// - Per vCPU: CPUID.1:EBX[31:24] and CPUID.0xB/0x1F:EDX = the vCPU's APIC ID. The topology is
//   one package of `vcpu_count` cores with one thread each (leaves 1, 4, 0xB, 0x1F).
// - Leaves the model does not pass through read as zeros; leaves above the maximum basic or
//   extended leaf (also 0x40000002..0x4FFFFFFF) answer with the data of the highest basic leaf,
//   as Intel CPUs do (SDM: "If a value entered for CPUID.EAX is higher than the maximum input
//   value ... the data for the highest basic information leaf is returned").
// - Configurable: family/model/stepping, the brand string, the number of vCPUs.
//
// The exit path reads a table, not the model: build() evaluates the model once for every leaf
// and subleaf the guest can tell apart and stores the answers, directly indexed by leaf (basic
// 0..0x1F, 0x40000000.., 0x80000000..); a leaf outside those ranges reads the highest basic
// leaf's slot. Only the per-vCPU fields (APIC ID, OSXSAVE, the XSAVE size for XCR0, the level
// number echoed from ECX) are filled in at lookup. model_answer() is the model itself, kept as
// the reference the table is built from and tested against.
//
// The hypervisor's leaves (the guest ABI, version 1):
//   0x40000000  EAX = 0x40000001 (the highest hypervisor leaf),
//               EBX, ECX, EDX = "HvTypeOneVMX" (12 ASCII bytes, in that register order)
//   0x40000001  EAX = the hypercall interface version (guest_hypercall_abi_version),
//               EBX = feature bits (hv_feature_*), ECX = EDX = 0 (reserved)
#pragma once
#include "arch/x86/cpu_access.hpp"
#include <array>
#include <string_view>

namespace hv {

inline constexpr char guest_cpuid_signature[13] = "HvTypeOneVMX";
inline constexpr u32 guest_cpuid_max_hypervisor_leaf = 0x40000001;
inline constexpr u32 guest_hypercall_abi_version = 1;

// CPUID.0x40000001:EBX
inline constexpr u32 hv_feature_hypercall = 1u << 0;     // VMCALL, KVM register convention
inline constexpr u32 hv_feature_debug_exit = 1u << 1;    // a write of V to port 0xF4 stops the VM with status V
inline constexpr u32 hv_feature_serial = 1u << 2;        // a 16550 UART at 0x3F8
inline constexpr u32 hv_feature_boot_info = 1u << 3;     // RSI at entry points to the boot-info block
inline constexpr u32 hv_features_default = hv_feature_hypercall | hv_feature_debug_exit | hv_feature_serial |
                                          hv_feature_boot_info;

struct Guest_cpuid_config {
  u32 vcpu_count = 1;
  // Display family/model/stepping as the guest should see them (0 family: keep the host's).
  u32 family = 0;
  u32 model = 0;
  u32 stepping = 0;
  std::string_view brand;   // empty: keep the host's; longer than 47 bytes is cut
  bool pcid = true;         // false for shadow-paging VMs
  bool local_apic = false;  // the VM has hv's emulated local APIC: x2APIC and TSC-deadline shown
  u32 hypervisor_features = hv_features_default;
};

// The vCPU state CPUID answers depend on.
struct Guest_cpuid_vcpu {
  u32 apic_id = 0;
  u64 cr4 = 0;
  u64 xcr0 = 1;   // x87 only, the reset value
};

// CPUID.1:EAX from a display family/model/stepping (the inverse of decode_family_model).
[[nodiscard]] u32 encode_family_model(u32 family, u32 model, u32 stepping);

class Guest_cpuid {
public:
  static constexpr u32 max_basic_leaf_supported = 0x1F;
  static constexpr u32 max_extended_leaf_supported = 0x80000008;

  // Reads the host's leaves once (the only place that runs CPUID), applies the model and
  // precomputes the answer table.
  void build(Cpu_access& host, const Guest_cpuid_config& config);

  // What CPUID answers, from the table. The CPUID exit's path: no loop, no host CPUID.
  [[nodiscard]] Cpuid_result answer(u32 leaf, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const {
    const Slot& s = slots_[slot_of(leaf)];
    return s.varies ? varying_answer(s, subleaf, vcpu) : s.answer;
  }
  // The answer to `leaf` when it depends on neither ECX nor the vCPU (most leaves, the
  // hypervisor's among them); nullptr when it does: then answer() with the vCPU's state, which
  // costs the caller a CR4 read it can skip here.
  [[nodiscard]] const Cpuid_result* fixed_answer(u32 leaf) const {
    const Slot& s = slots_[slot_of(leaf)];
    return s.varies ? nullptr : &s.answer;
  }
  // The model evaluated directly (what build() fills the table from). Same results as answer();
  // slower. For tests and for build().
  [[nodiscard]] Cpuid_result model_answer(u32 leaf, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const;

  [[nodiscard]] u32 max_basic_leaf() const { return max_basic_; }
  [[nodiscard]] u32 max_extended_leaf() const { return max_extended_; }
  [[nodiscard]] const Guest_cpuid_config& config() const { return config_; }
  // XCR0 bits the guest may set with XSETBV (CPUID.0xD.0:EDX:EAX as the model answers it).
  [[nodiscard]] u64 supported_xcr0() const { return supported_xcr0_; }

private:
  static constexpr u32 leaf4_subleaves = 8;
  static constexpr u32 leaf7_subleaves = 4;
  static constexpr u32 leafd_subleaves = 32;
  static constexpr u32 extended_leaves = max_extended_leaf_supported - 0x80000000 + 1;

  // The table. Slots: basic leaves 0..0x1F, then the hypervisor leaves, then the extended ones.
  static constexpr u32 hypervisor_leaves = guest_cpuid_max_hypervisor_leaf - 0x40000000 + 1;
  static constexpr u32 hypervisor_slot = max_basic_leaf_supported + 1;
  static constexpr u32 extended_slot = hypervisor_slot + hypervisor_leaves;
  static constexpr u32 slot_count = extended_slot + extended_leaves;
  // Per-vCPU fields filled in at lookup (Slot::vcpu_fields).
  static constexpr u8 field_apic_id_ebx = 1u << 0;   // EBX[31:24] = APIC ID (leaf 1)
  static constexpr u8 field_osxsave = 1u << 1;       // ECX.OSXSAVE = CR4.OSXSAVE (leaf 1)
  static constexpr u8 field_apic_id_edx = 1u << 2;   // EDX = x2APIC ID (leaves 0xB, 0x1F)
  static constexpr u8 field_level_ecx = 1u << 3;     // ECX[7:0] = ECX[7:0] of the input (0xB, 0x1F)
  static constexpr u8 field_xsave_size = 1u << 4;    // subleaf 0: EBX = XSAVE size for XCR0 (0xD)
  // Leaves that depend on ECX keep their answers in subleaf_answers_: the answer to subleaf s
  // is subleaf_answers_[first + min(s, subleaves)], the last one being what every subleaf past
  // the defined ones reads. 4: 8 (+1), 7: up to 2 (+1), 0xD: 32 (+1), 0xB and 0x1F: 2 (+1).
  static constexpr u32 leaf7_kept_subleaves = 2;  // 0 and 1 (build() keeps no more)
  static constexpr u32 topology_subleaves = 2;    // the SMT and the core level
  static constexpr u32 subleaf_answer_capacity = (leaf4_subleaves + 1) + (leaf7_kept_subleaves + 1) +
                                                 (leafd_subleaves + 1) + 2 * (topology_subleaves + 1);

  struct Slot {
    Cpuid_result answer;  // the whole answer when !varies; else the vCPU fields are still to come
    u16 first = 0;
    u8 subleaves = 0;     // 0: the leaf ignores ECX
    u8 vcpu_fields = 0;
    bool varies = false;  // subleaves or vcpu_fields: answered by varying_answer()
  };

  [[nodiscard]] u32 slot_of(u32 leaf) const {
    if (leaf <= max_basic_) return leaf;
    if (leaf - 0x40000000u < hypervisor_leaves) return hypervisor_slot + (leaf - 0x40000000u);
    if (leaf - 0x80000000u < extended_count_) return extended_slot + (leaf - 0x80000000u);
    return max_basic_;  // Intel: above the maximum, the highest basic leaf answers
  }
  [[nodiscard]] Cpuid_result varying_answer(const Slot& slot, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const;
  void build_table();

  [[nodiscard]] Cpuid_result basic(u32 leaf, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const;
  [[nodiscard]] Cpuid_result topology(u32 leaf, u32 subleaf, const Guest_cpuid_vcpu& vcpu) const;
  [[nodiscard]] Cpuid_result xsave(u32 subleaf, const Guest_cpuid_vcpu& vcpu) const;
  [[nodiscard]] u32 xsave_size(u64 xcr0) const;
  [[nodiscard]] Cpuid_result hypervisor_leaf(u32 leaf) const;
  [[nodiscard]] Cpuid_result highest_basic(u32 subleaf, const Guest_cpuid_vcpu& vcpu) const;

  Guest_cpuid_config config_;
  std::array<char, 48> brand_{};
  u32 max_basic_ = 0;
  u32 max_extended_ = 0;
  u32 extended_count_ = 0;  // extended leaves present: max_extended_ - 0x80000000 + 1, or 0
  u32 core_id_bits_ = 0;  // bits of the APIC ID that number the cores of the package
  u32 leaf7_max_subleaf_ = 0;
  u64 supported_xcr0_ = 0;
  // The model's data.
  std::array<Cpuid_result, max_basic_leaf_supported + 1> basic_{};  // subleaf 0
  std::array<Cpuid_result, leaf4_subleaves> leaf4_{};
  std::array<Cpuid_result, leaf7_subleaves> leaf7_{};
  std::array<Cpuid_result, leafd_subleaves> leafd_{};
  std::array<Cpuid_result, extended_leaves> extended_{};
  // The table built from it.
  std::array<Slot, slot_count> slots_{};
  std::array<Cpuid_result, subleaf_answer_capacity> subleaf_answers_{};
};

} // namespace hv
