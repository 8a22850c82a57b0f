// arch/x86/cpu_identity.cpp - see cpu_identity.hpp. Both builds.
#include "arch/x86/cpu_identity.hpp"
#include <cstring>

namespace hv {

void decode_family_model(u32 eax, u32& family, u32& model, u32& stepping) {
  const u32 base_family = (eax >> 8) & 0xF;
  const u32 base_model = (eax >> 4) & 0xF;
  stepping = eax & 0xF;
  family = base_family == 0xF ? base_family + ((eax >> 20) & 0xFF) : base_family;
  model = (base_family == 0x6 || base_family == 0xF) ? (((eax >> 16) & 0xF) << 4) + base_model : base_model;
}

namespace {
void put_register(char* dst, u32 reg) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>((reg >> (8 * i)) & 0xFF);
}
} // namespace

Cpu_identity read_cpu_identity(Cpu_access& cpu) {
  Cpu_identity id;
  const Cpuid_result v = cpu.cpuid(cpuid::LEAF_VENDOR);
  id.max_basic_leaf = v.eax;
  put_register(&id.vendor_string[0], v.ebx);
  put_register(&id.vendor_string[4], v.edx);
  put_register(&id.vendor_string[8], v.ecx);
  id.vendor_string[12] = '\0';
  if (id.vendor_name() == "GenuineIntel") id.vendor = Cpu_vendor::intel;
  else if (id.vendor_name() == "AuthenticAMD") id.vendor = Cpu_vendor::amd;

  if (id.max_basic_leaf >= cpuid::LEAF_FEATURES) {
    const Cpuid_result f = cpu.cpuid(cpuid::LEAF_FEATURES);
    decode_family_model(f.eax, id.family, id.model, id.stepping);
    id.features_ecx = f.ecx;
    id.features_edx = f.edx;
  }
  const Cpuid_result ext = cpu.cpuid(cpuid::LEAF_EXTENDED_MAX);
  id.max_extended_leaf = (ext.eax & 0x80000000u) ? ext.eax : 0;
  if (id.max_extended_leaf >= cpuid::LEAF_BRAND_0 + 2) {
    for (u32 i = 0; i < 3; ++i) {
      const Cpuid_result b = cpu.cpuid(cpuid::LEAF_BRAND_0 + i);
      put_register(&id.brand[16 * i + 0], b.eax);
      put_register(&id.brand[16 * i + 4], b.ebx);
      put_register(&id.brand[16 * i + 8], b.ecx);
      put_register(&id.brand[16 * i + 12], b.edx);
    }
    id.brand[48] = '\0';
    // Brand strings are often padded with spaces: leading on older Intel parts, trailing on AMD.
    usize lead = 0;
    while (lead < 48 && id.brand[lead] == ' ') ++lead;
    if (lead > 0) std::memmove(id.brand.data(), id.brand.data() + lead, 49 - lead);
    usize end = std::strlen(id.brand.data());
    while (end > 0 && id.brand[end - 1] == ' ') id.brand[--end] = '\0';
  }
  if (id.max_extended_leaf >= cpuid::LEAF_ADDRESS_SIZES) {
    id.physical_address_bits = static_cast<u8>(cpu.cpuid(cpuid::LEAF_ADDRESS_SIZES).eax & 0xFF);
  }
  return id;
}

} // namespace hv
