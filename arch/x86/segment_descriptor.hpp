// arch/x86/segment_descriptor.hpp - GDT entries (code, data, 64-bit TSS) and the TSS layout,
// per SDM Vol. 3A 3.4.5 and 8.7. Pure values: both builds (tested hosted).
#pragma once
#include "arch/x86/types.hpp"

namespace hv::x86 {

// 64-bit code: present, DPL 0, type execute/read accessed (0xB), S=1, L=1.
inline constexpr u64 gdt_code64 = 0x00AF9B000000FFFFull;
// Data: present, DPL 0, type read/write accessed (0x3), S=1, G=1, D/B=1.
inline constexpr u64 gdt_data = 0x00CF93000000FFFFull;

// The 64-bit TSS (SDM Vol. 3A figure 8-11).
struct __attribute__((packed)) Tss64 {
  u32 reserved0;
  u64 rsp[3];
  u64 reserved1;
  u64 ist[7];  // ist[0] is IST1
  u64 reserved2;
  u16 reserved3;
  u16 io_map_base;
};
static_assert(sizeof(Tss64) == 104);

// A 16-byte 64-bit TSS descriptor (type 9 = available, present, DPL 0), as two GDT slots.
struct Tss_descriptor {
  u64 low;
  u64 high;
};
constexpr Tss_descriptor make_tss_descriptor(u64 base, u32 limit) {
  u64 low = (limit & 0xFFFFull) | ((base & 0xFFFFFFull) << 16) | (0x89ull << 40) |
            ((static_cast<u64>(limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
  return {low, base >> 32};
}

struct __attribute__((packed)) Descriptor_table_register {
  u16 limit;
  u64 base;
};

// A 64-bit interrupt gate (SDM Vol. 3A figure 6-8): present, DPL 0, type 0xE, optional IST.
struct Idt_gate {
  u64 low;
  u64 high;
};
constexpr Idt_gate make_interrupt_gate(u64 handler, u16 selector, u8 ist) {
  u64 low = (handler & 0xFFFF) | (static_cast<u64>(selector) << 16) | (static_cast<u64>(ist & 7) << 32) |
            (0x8Eull << 40) | (((handler >> 16) & 0xFFFF) << 48);
  return {low, handler >> 32};
}

} // namespace hv::x86
