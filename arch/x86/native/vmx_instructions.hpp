// arch/x86/native/vmx_instructions.hpp - the VMX instructions (SDM Vol. 3C chapter 31), one
// inline function each, with their VMsucceed / VMfailInvalid / VMfailValid outcome decoded
// from RFLAGS (CF=1: fail invalid, ZF=1: fail valid, error number in VM_INSTRUCTION_ERROR).
// Freestanding build only.
#pragma once
#include "arch/x86/types.hpp"

namespace hv::x86 {

enum class Vmx_result : u8 { ok = 0, fail_invalid = 1, fail_valid = 2 };

inline Vmx_result vmx_result_from_flags(u8 cf, u8 zf) {
  return cf ? Vmx_result::fail_invalid : zf ? Vmx_result::fail_valid : Vmx_result::ok;
}

inline Vmx_result vmxon(u64 region_pa) {
  u8 cf, zf;
  asm volatile("vmxon %[pa]; setc %[cf]; setz %[zf]" : [cf] "=r"(cf), [zf] "=r"(zf) : [pa] "m"(region_pa) : "cc", "memory");
  return vmx_result_from_flags(cf, zf);
}
inline void vmxoff() { asm volatile("vmxoff" ::: "cc", "memory"); }
inline Vmx_result vmclear(u64 vmcs_pa) {
  u8 cf, zf;
  asm volatile("vmclear %[pa]; setc %[cf]; setz %[zf]" : [cf] "=r"(cf), [zf] "=r"(zf) : [pa] "m"(vmcs_pa) : "cc", "memory");
  return vmx_result_from_flags(cf, zf);
}
inline Vmx_result vmptrld(u64 vmcs_pa) {
  u8 cf, zf;
  asm volatile("vmptrld %[pa]; setc %[cf]; setz %[zf]" : [cf] "=r"(cf), [zf] "=r"(zf) : [pa] "m"(vmcs_pa) : "cc", "memory");
  return vmx_result_from_flags(cf, zf);
}
inline Vmx_result vmread(u64 field, u64& value) {
  u8 cf, zf;
  asm volatile("vmread %[field], %[value]; setc %[cf]; setz %[zf]"
               : [value] "=r"(value), [cf] "=r"(cf), [zf] "=r"(zf) : [field] "r"(field) : "cc");
  return vmx_result_from_flags(cf, zf);
}
inline Vmx_result vmwrite(u64 field, u64 value) {
  u8 cf, zf;
  asm volatile("vmwrite %[value], %[field]; setc %[cf]; setz %[zf]"
               : [cf] "=r"(cf), [zf] "=r"(zf) : [field] "r"(field), [value] "r"(value) : "cc", "memory");
  return vmx_result_from_flags(cf, zf);
}

// The hot-path forms: VMREAD/VMWRITE that branch to `vmx_access_failed` (never returns) when the
// instruction fails, so the success path is the instruction and one JBE.
[[noreturn]] void vmx_access_failed(bool write, u64 field, u64 value);

inline u64 vmread_checked(u64 field) {
  u64 value;
  asm goto("vmread %[field], %[value]\n\tjbe %l[failed]" : [value] "=r"(value) : [field] "r"(field) : "cc" : failed);
  return value;
failed:
  vmx_access_failed(false, field, 0);
}

inline void vmwrite_checked(u64 field, u64 value) {
  asm goto("vmwrite %[value], %[field]\n\tjbe %l[failed]" ::[field] "r"(field), [value] "r"(value) : "cc", "memory" : failed);
  return;
failed:
  vmx_access_failed(true, field, value);
}

struct alignas(16) Invept_descriptor {
  u64 eptp;
  u64 reserved;
};
struct alignas(16) Invvpid_descriptor {
  u64 vpid;  // bits 15:0; the rest must be zero
  u64 linear_address;
};
inline constexpr u64 INVEPT_SINGLE_CONTEXT = 1;
inline constexpr u64 INVEPT_ALL_CONTEXT = 2;
inline constexpr u64 INVVPID_INDIVIDUAL_ADDRESS = 0;
inline constexpr u64 INVVPID_SINGLE_CONTEXT = 1;
inline constexpr u64 INVVPID_ALL_CONTEXT = 2;

inline Vmx_result invept(u64 type, const Invept_descriptor& d) {
  u8 cf, zf;
  asm volatile("invept %[d], %[t]; setc %[cf]; setz %[zf]" : [cf] "=r"(cf), [zf] "=r"(zf) : [d] "m"(d), [t] "r"(type) : "cc", "memory");
  return vmx_result_from_flags(cf, zf);
}
inline Vmx_result invvpid(u64 type, const Invvpid_descriptor& d) {
  u8 cf, zf;
  asm volatile("invvpid %[d], %[t]; setc %[cf]; setz %[zf]" : [cf] "=r"(cf), [zf] "=r"(zf) : [d] "m"(d), [t] "r"(type) : "cc", "memory");
  return vmx_result_from_flags(cf, zf);
}

inline void write_cr0(u64 v) { asm volatile("mov %0, %%cr0" ::"r"(v) : "memory"); }
inline void write_cr3(u64 v) { asm volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
inline void write_cr4(u64 v) { asm volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }

} // namespace hv::x86
