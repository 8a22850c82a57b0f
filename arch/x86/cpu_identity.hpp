// arch/x86/cpu_identity.hpp - who made this CPU and which one it is, decoded from CPUID leaves
// 0, 1 and 0x80000002..4 (SDM Vol. 2A, CPUID "Version Information"). Both builds.
#pragma once
#include "arch/x86/cpu_access.hpp"
#include <array>
#include <string_view>

namespace hv {

enum class Cpu_vendor : u8 { intel, amd, other };

struct Cpu_identity {
  Cpu_vendor vendor = Cpu_vendor::other;
  std::array<char, 13> vendor_string{};  // "GenuineIntel", NUL-terminated
  std::array<char, 49> brand{};          // processor brand string, or empty
  u32 max_basic_leaf = 0;
  u32 max_extended_leaf = 0;
  u32 family = 0;   // display family (base + extended where the SDM says so)
  u32 model = 0;    // display model
  u32 stepping = 0;
  u32 features_ecx = 0;  // CPUID.1:ECX
  u32 features_edx = 0;  // CPUID.1:EDX
  u8 physical_address_bits = 36;  // CPUID.80000008:EAX[7:0], 36 when the leaf is absent

  [[nodiscard]] std::string_view vendor_name() const { return vendor_string.data(); }
  [[nodiscard]] std::string_view brand_name() const { return brand.data(); }
  [[nodiscard]] bool has_vmx() const { return features_ecx & cpuid::ECX_VMX; }
  [[nodiscard]] bool has_smx() const { return features_ecx & cpuid::ECX_SMX; }
  [[nodiscard]] bool under_hypervisor() const { return features_ecx & cpuid::ECX_HYPERVISOR; }
};

// Display family/model from CPUID.1:EAX, per the SDM's rules.
void decode_family_model(u32 eax, u32& family, u32& model, u32& stepping);
[[nodiscard]] Cpu_identity read_cpu_identity(Cpu_access& cpu);

} // namespace hv
