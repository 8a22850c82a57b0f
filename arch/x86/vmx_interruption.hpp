// arch/x86/vmx_interruption.hpp - the layout shared by the VM-exit interruption-information,
// IDT-vectoring information and VM-entry interruption-information fields (SDM Vol. 3C 25.8.3
// table "Format of the VM-Entry Interruption-Information Field", 25.9.2 tables "Format of the
// VM-Exit Interruption-Information Field" and "Format of the IDT-Vectoring Information Field"),
// the exception vectors (SDM Vol. 3A table 6-1) and the guest interruptibility-state bits
// (SDM Vol. 3C 25.4.2). Both builds. Building and combining events: vmx/event_injection.hpp.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

namespace exception_vector {
inline constexpr u8 DE = 0;   // divide error
inline constexpr u8 DB = 1;   // debug
inline constexpr u8 NMI = 2;  // non-maskable interrupt (an interrupt, not an exception)
inline constexpr u8 BP = 3;   // breakpoint (INT3)
inline constexpr u8 OF = 4;   // overflow (INTO)
inline constexpr u8 BR = 5;   // BOUND range exceeded
inline constexpr u8 UD = 6;   // invalid opcode
inline constexpr u8 NM = 7;   // device not available
inline constexpr u8 DF = 8;   // double fault (error code 0)
inline constexpr u8 TS = 10;  // invalid TSS
inline constexpr u8 NP = 11;  // segment not present
inline constexpr u8 SS = 12;  // stack-segment fault
inline constexpr u8 GP = 13;  // general protection
inline constexpr u8 PF = 14;  // page fault
inline constexpr u8 MF = 16;  // x87 floating-point error
inline constexpr u8 AC = 17;  // alignment check
inline constexpr u8 MC = 18;  // machine check
inline constexpr u8 XM = 19;  // SIMD floating-point
inline constexpr u8 VE = 20;  // virtualization exception
inline constexpr u8 CP = 21;  // control protection
} // namespace exception_vector

// Bits 10:8 of an interruption-information field.
enum class Interruption_type : u8 {
  external_interrupt = 0,
  nmi = 2,
  hardware_exception = 3,             // every exception but #BP/#OF from INT3/INTO and #DB from INT1
  software_interrupt = 4,             // INT n
  privileged_software_exception = 5,  // INT1 (ICEBP)
  software_exception = 6,             // INT3, INTO
  other_event = 7,                    // VM entry: a pending MTF VM exit (vector 0)
};

struct Interruption_info {
  u32 raw = 0;

  static constexpr u32 VECTOR_MASK = 0xFF;        // bits 7:0
  static constexpr unsigned TYPE_SHIFT = 8;        // bits 10:8
  static constexpr u32 TYPE_MASK = 7u << TYPE_SHIFT;
  static constexpr u32 ERROR_CODE_VALID = 1u << 11;  // "deliver error code" on VM entry
  // VM-exit interruption information only: the exit came from a fault during an IRET that had
  // unblocked NMIs. Undefined in IDT-vectoring information, reserved (0) on VM entry.
  static constexpr u32 NMI_UNBLOCKING_DUE_TO_IRET = 1u << 12;
  static constexpr u32 RESERVED_ON_ENTRY = 0x7FFFF000;  // bits 30:12
  static constexpr u32 VALID = 1u << 31;

  [[nodiscard]] static constexpr Interruption_info make(u8 vector, Interruption_type type, bool error_code) {
    return {vector | (static_cast<u32>(type) << TYPE_SHIFT) | (error_code ? ERROR_CODE_VALID : 0) | VALID};
  }

  [[nodiscard]] constexpr u8 vector() const { return static_cast<u8>(raw & VECTOR_MASK); }
  [[nodiscard]] constexpr Interruption_type type() const {
    return static_cast<Interruption_type>((raw & TYPE_MASK) >> TYPE_SHIFT);
  }
  [[nodiscard]] constexpr bool error_code_valid() const { return raw & ERROR_CODE_VALID; }
  [[nodiscard]] constexpr bool nmi_unblocking_due_to_iret() const { return raw & NMI_UNBLOCKING_DUE_TO_IRET; }
  [[nodiscard]] constexpr bool valid() const { return raw & VALID; }
  constexpr bool operator==(const Interruption_info&) const = default;
};

// #GP(0) as the SDM's figure would encode it: vector 13, type 3, error code, valid.
static_assert(Interruption_info::make(exception_vector::GP, Interruption_type::hardware_exception, true).raw ==
              0x80000B0Du);
static_assert(Interruption_info{0x80000B0E}.vector() == exception_vector::PF &&
              Interruption_info{0x80000B0E}.type() == Interruption_type::hardware_exception &&
              Interruption_info{0x80000B0E}.error_code_valid());
static_assert(!Interruption_info{0x00000B0E}.valid());

// GUEST_INTERRUPTIBILITY_INFO bits.
namespace interruptibility {
inline constexpr u32 BLOCKING_BY_STI = 1u << 0;
inline constexpr u32 BLOCKING_BY_MOV_SS = 1u << 1;
inline constexpr u32 BLOCKING_BY_SMI = 1u << 2;
inline constexpr u32 BLOCKING_BY_NMI = 1u << 3;
inline constexpr u32 ENCLAVE_INTERRUPTION = 1u << 4;
} // namespace interruptibility

} // namespace hv
