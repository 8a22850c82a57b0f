// devices/local_apic.hpp - the emulated local APIC of one vCPU: its registers in xAPIC (MMIO page)
// and x2APIC (MSR 0x800 + offset/16) form, IA32_APIC_BASE, interrupt acceptance and priority, and
// the APIC timer (one-shot, periodic, TSC-deadline). Both builds. A pure device: no VMX code, no
// heap, no clock of its own; the caller passes the vCPU's TSC to every call that depends on time.
// After the Intel SDM Vol. 3A chapter 11 (section numbers below are of that chapter).
//
// Contracts a caller must know:
//   - The timer's input clock IS the vCPU's TSC: one count of the timer takes `divisor` TSC ticks
//     (Divide Configuration, 11.5.4). The hypervisor advertises this to the guest (CPUID leaf 0x15
//     / a known bus frequency equal to the TSC rate). Nothing ticks: Current Count is computed from
//     `now_tsc`, and update(now_tsc) fires what is due; next_timer_deadline() says when that is.
//   - MMIO: `offset` is within the 4 KiB page. Reads of 1, 2 or 4 bytes that lie inside the first
//     4 bytes of a 16-byte register slot return those bytes of the register; any other read returns
//     0. Only aligned 4-byte writes (offset % 16 == 0, size 4) have an effect; others are ignored.
//     Unknown offsets read 0 and ignore writes. While the APIC is hardware-disabled (EN = 0) or in
//     x2APIC mode the page is not decoded: reads return 0, writes are ignored (the caller may treat
//     the page as ordinary memory instead).
//   - IA32_APIC_BASE: the base address is fixed at 0xFEE00000; a write that changes it is refused
//     (#GP). That also covers bits above MAXPHYADDR, so the model needs no MAXPHYADDR.
//   - Interrupts (fixed, from the bus, the timer, self IPIs) are accepted only while the APIC is
//     enabled() (EN and SVR bit 8, 11.4.7.2): the caller wakes/injects on pending_vector() >= 0.
//   - ICR writes are reported in Apic_write_effect for the caller to route (only the self shorthand
//     with fixed delivery, and the x2APIC SELF IPI register, are accepted here). "All including
//     self" is reported as is: the router delivers it to this APIC too.
#pragma once
#include "arch/x86/msr.hpp"
#include "arch/x86/types.hpp"

namespace hv {

// xAPIC register offsets in the APIC page (SDM Vol. 3A Table 11-1) and x2APIC MSR numbers
// (Table 11-6: MSR = 0x800 + offset / 16). In their own namespace: arch/x86/native/local_apic.hpp
// spells a few of the same names in hv::x86 for the host's APIC.
namespace lapic {
inline constexpr u32 REG_ID = 0x20;
inline constexpr u32 REG_VERSION = 0x30;
inline constexpr u32 REG_TPR = 0x80;
inline constexpr u32 REG_APR = 0x90;
inline constexpr u32 REG_PPR = 0xA0;
inline constexpr u32 REG_EOI = 0xB0;
inline constexpr u32 REG_RRD = 0xC0;
inline constexpr u32 REG_LDR = 0xD0;
inline constexpr u32 REG_DFR = 0xE0;
inline constexpr u32 REG_SVR = 0xF0;
inline constexpr u32 REG_ISR = 0x100;  // 8 registers, 0x100..0x170: vectors 32*i .. 32*i+31
inline constexpr u32 REG_TMR = 0x180;
inline constexpr u32 REG_IRR = 0x200;
inline constexpr u32 REG_ESR = 0x280;
inline constexpr u32 REG_LVT_CMCI = 0x2F0;
inline constexpr u32 REG_ICR_LOW = 0x300;
inline constexpr u32 REG_ICR_HIGH = 0x310;
inline constexpr u32 REG_LVT_TIMER = 0x320;
inline constexpr u32 REG_LVT_THERMAL = 0x330;
inline constexpr u32 REG_LVT_PERF = 0x340;
inline constexpr u32 REG_LVT_LINT0 = 0x350;
inline constexpr u32 REG_LVT_LINT1 = 0x360;
inline constexpr u32 REG_LVT_ERROR = 0x370;
inline constexpr u32 REG_TIMER_INITIAL = 0x380;
inline constexpr u32 REG_TIMER_CURRENT = 0x390;
inline constexpr u32 REG_TIMER_DIVIDE = 0x3E0;
inline constexpr u32 REG_SELF_IPI = 0x3F0;  // x2APIC only (MSR 0x83F)

inline constexpr u32 X2APIC_MSR_FIRST = msr::X2APIC_MSR_BASE;  // 0x800
inline constexpr u32 X2APIC_MSR_LAST = 0x8FF;
[[nodiscard]] constexpr u32 x2apic_msr(u32 offset) { return X2APIC_MSR_FIRST + (offset >> 4); }

// Version register (11.4.8): version 0x14 (integrated APIC), Max LVT Entry = 6 (seven LVTs,
// CMCI included), bit 24 = 0 (EOI-broadcast suppression not supported).
inline constexpr u32 VERSION_VALUE = 0x14 | (6u << 16);

inline constexpr u32 SVR_ENABLE = 1u << 8;     // APIC software enable (11.4.7.2)
inline constexpr u32 SVR_FOCUS_OFF = 1u << 9;  // focus processor checking disabled
inline constexpr u32 SVR_RESET = 0xFF;

// LVT bits (Figure 11-8).
inline constexpr u32 LVT_VECTOR = 0xFF;
inline constexpr u32 LVT_DELIVERY_MODE = 7u << 8;
inline constexpr u32 LVT_DELIVERY_STATUS = 1u << 12;
inline constexpr u32 LVT_POLARITY = 1u << 13;
inline constexpr u32 LVT_REMOTE_IRR = 1u << 14;
inline constexpr u32 LVT_LEVEL = 1u << 15;
inline constexpr u32 LVT_MASKED = 1u << 16;
inline constexpr u32 LVT_TIMER_MODE = 3u << 17;
inline constexpr u32 TIMER_ONE_SHOT = 0u << 17;
inline constexpr u32 TIMER_PERIODIC = 1u << 17;
inline constexpr u32 TIMER_TSC_DEADLINE = 2u << 17;  // 3 << 17 is reserved: behaves as one-shot

// ESR bits (11.5.3, Figure 11-9).
inline constexpr u32 ESR_SEND_ILLEGAL_VECTOR = 1u << 5;
inline constexpr u32 ESR_RECEIVE_ILLEGAL_VECTOR = 1u << 6;

// ICR bits (11.6.1, Figure 11-12); in x2APIC mode the destination is bits 63:32 of MSR 0x830.
inline constexpr u32 ICR_VECTOR = 0xFF;
inline constexpr u32 ICR_DELIVERY_MODE_SHIFT = 8;
inline constexpr u32 ICR_LOGICAL = 1u << 11;
inline constexpr u32 ICR_LEVEL_ASSERT = 1u << 14;
inline constexpr u32 ICR_TRIGGER_LEVEL = 1u << 15;
inline constexpr u32 ICR_SHORTHAND_SHIFT = 18;
inline constexpr u8 DELIVERY_FIXED = 0, DELIVERY_LOWEST = 1, DELIVERY_SMI = 2, DELIVERY_NMI = 4,
                    DELIVERY_INIT = 5, DELIVERY_STARTUP = 6;
inline constexpr u8 SHORTHAND_NONE = 0, SHORTHAND_SELF = 1, SHORTHAND_ALL = 2, SHORTHAND_OTHERS = 3;
} // namespace lapic

// What a register write asks of the rest of the machine.
struct Apic_write_effect {
  bool ipi = false;        // an IPI to route (ICR write); the fields below describe it
  u32 destination = 0;     // xAPIC: ICR high bits 31:24; x2APIC: ICR bits 63:32
  u8 vector = 0;           // for STARTUP: the page number of the start address
  u8 delivery_mode = 0;    // lapic::DELIVERY_*: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 6 SIPI
  u8 shorthand = 0;        // lapic::SHORTHAND_*: 0 none, 1 self, 2 all incl. self, 3 all excl. self
  bool logical = false;    // destination mode: logical (LDR/DFR match) instead of physical (id)
  bool level_eoi = false;  // an EOI ended a level-triggered interrupt: tell the I/O APIC
  u8 eoi_vector = 0;       // ... which vector (valid when level_eoi)
};

class Local_apic {
public:
  static constexpr u64 default_base = 0xFEE00000;
  // Timer divisor for Divide Configuration value `dcr` (bits 0, 1, 3; Figure 11-10).
  [[nodiscard]] static constexpr u32 divisor_of(u32 dcr) {
    const u32 code = (dcr & 3) | ((dcr >> 1) & 4);
    return code == 7 ? 1 : 2u << code;
  }

  // `apic_id` is the initial APIC id (the x2APIC id; xAPIC mode shows its low 8 bits).
  explicit Local_apic(u32 apic_id = 0, bool bsp = true);
  // Power-up state (11.4.7.1): IA32_APIC_BASE = 0xFEE00000 | EN (| BSP), xAPIC mode, IRR/ISR/TMR,
  // ICR, LDR, TPR, timer counts and Divide Configuration 0, DFR all ones, every LVT 0x10000
  // (masked), SVR 0xFF (software-disabled), no TSC deadline. The id and the BSP flag are kept.
  void reset();
  // INIT (11.4.7.3): the registers as at power-up, but IA32_APIC_BASE (and x2APIC mode) kept.
  void init();

  // xAPIC MMIO (see the contract above). Reads are side-effect free.
  [[nodiscard]] u32 mmio_read(u32 offset, u8 size, u64 now_tsc) const;
  [[nodiscard]] Apic_write_effect mmio_write(u32 offset, u8 size, u32 value, u64 now_tsc);
  // x2APIC MSRs 0x800..0x8FF. False = the guest gets #GP(0): not in x2APIC mode, an MSR with no
  // register (DFR 0x80E, 0x831, APR, RRD, gaps), reading a write-only register (EOI, SELF IPI),
  // writing a read-only one (ID, version, PPR, LDR, ISR/TMR/IRR, current count), a non-zero write
  // to EOI or ESR, or reserved bits set (bits 63:32 except in the ICR; the register's RsvdZ bits).
  [[nodiscard]] bool msr_read(u32 msr, u64& value, u64 now_tsc) const;
  [[nodiscard]] bool msr_write(u32 msr, u64 value, u64 now_tsc, Apic_write_effect& effect);

  // IA32_APIC_BASE (MSR 0x1B, 11.4.4 and 11.12.5). set_apic_base returns false (#GP) for reserved
  // bits (0-7, 9, a base other than 0xFEE00000), EXTD without EN, x2APIC -> xAPIC and disabled ->
  // x2APIC (both only through the other state). The BSP bit is read-only (a written value is
  // ignored). Clearing EN resets the APIC (as reset(), id kept); xAPIC -> x2APIC keeps the state.
  [[nodiscard]] u64 apic_base() const;
  [[nodiscard]] bool set_apic_base(u64 value);
  // IA32_TSC_DEADLINE (MSR 0x6E0, 11.5.4.1): reads 0 and ignores writes unless the LVT timer is in
  // TSC-deadline mode; a non-zero value arms the timer at that absolute TSC (in the past: fires at
  // the next update), 0 disarms. Reads 0 again once the timer has fired.
  [[nodiscard]] u64 tsc_deadline() const;
  void set_tsc_deadline(u64 value, u64 now_tsc);

  [[nodiscard]] bool x2apic_mode() const { return hw_enabled_ && x2apic_; }
  [[nodiscard]] bool hardware_enabled() const { return hw_enabled_; }
  // Hardware-enabled (EN) and software-enabled (SVR bit 8).
  [[nodiscard]] bool enabled() const { return hw_enabled_ && (svr_ & lapic::SVR_ENABLE); }
  [[nodiscard]] u32 id() const { return id_; }

  // The TSC at which update() next has something to do; ~0ull when the timer is not armed. Also set
  // while the timer is masked (an expiry still disarms a one-shot timer / moves a periodic one).
  [[nodiscard]] u64 next_timer_deadline() const { return timer_armed_ ? timer_deadline_ : ~0ull; }
  // Fires the timer if now_tsc >= next_timer_deadline(): the LVT timer vector goes into IRR unless
  // masked; periodic mode re-arms on the original phase (one interrupt however many periods
  // passed), one-shot and TSC-deadline disarm.
  void update(u64 now_tsc);

  // A fixed interrupt arrives (from the bus, an IPI, a device). Vectors 0-15 are illegal: ESR
  // "received illegal vector" is set (and the error LVT fired) and the interrupt dropped. Dropped
  // too while !enabled(). Sets the IRR bit (an already pending vector is coalesced) and the TMR bit
  // for a level-triggered interrupt.
  void accept(u8 vector, bool level_triggered = false);
  // The vector the caller should inject when the guest can take it: the highest IRR vector whose
  // priority class (vector >> 4) is above the PPR's class (11.8.3); -1 if none (or !enabled()).
  [[nodiscard]] int pending_vector() const;
  // The vector (as returned by pending_vector()) was injected: IRR -> ISR, so PPR rises. Does
  // nothing if the vector is not in IRR.
  void acknowledge(u8 vector);

  // Derived registers, for the caller and the tests.
  [[nodiscard]] u8 tpr() const { return tpr_; }
  [[nodiscard]] u8 ppr() const;  // 11.8.3.1: TPR if TPR[7:4] >= ISRV[7:4], else ISRV & 0xF0
  [[nodiscard]] int highest_isr() const { return highest_bit(isr_); }  // -1: none in service
  [[nodiscard]] int highest_irr() const { return highest_bit(irr_); }
  [[nodiscard]] bool irr_bit(u8 vector) const { return bit(irr_, vector); }
  [[nodiscard]] bool isr_bit(u8 vector) const { return bit(isr_, vector); }
  [[nodiscard]] u32 lvt_timer() const { return lvt_[lvt_timer_index]; }
  // Timer Current Count at `now_tsc` (0 when not counting, and in TSC-deadline mode).
  [[nodiscard]] u32 timer_current_count(u64 now_tsc) const;

  // Counters for `info` lines.
  [[nodiscard]] u64 timer_interrupts() const { return timer_interrupts_; }  // timer vectors put in IRR
  [[nodiscard]] u64 eois() const { return eois_; }
  [[nodiscard]] u64 illegal_vectors() const { return illegal_vectors_; }  // sent or received
  [[nodiscard]] u64 ipis_sent() const { return ipis_sent_; }  // reported to the caller or self

private:
  using Bits256 = u32[8];
  static constexpr usize lvt_count = 7;
  // LVT index = (offset - 0x320) / 16 for 0x320..0x370; CMCI (0x2F0) is the last.
  static constexpr usize lvt_timer_index = 0, lvt_error_index = 5, lvt_cmci_index = 6;

  [[nodiscard]] static int highest_bit(const Bits256& bits);
  [[nodiscard]] static bool bit(const Bits256& bits, u8 v) { return (bits[v >> 5] >> (v & 31)) & 1; }
  static void set_bit(Bits256& bits, u8 v) { bits[v >> 5] |= 1u << (v & 31); }
  static void clear_bit(Bits256& bits, u8 v) { bits[v >> 5] &= ~(1u << (v & 31)); }
  [[nodiscard]] static int lvt_index(u32 offset);
  [[nodiscard]] static u32 lvt_writable(usize index);

  void reset_registers();
  // Register file by xAPIC offset; `x2` selects the x2APIC view (ID, LDR). read_reg returns false
  // for an offset with no register in that mode; write_reg false for #GP (x2APIC rules).
  [[nodiscard]] bool read_reg(u32 offset, bool x2, u64 now_tsc, u32& value) const;
  [[nodiscard]] bool write_reg(u32 offset, bool x2, u32 value, u64 now_tsc, Apic_write_effect& effect);
  void write_svr(u32 value);
  void write_lvt(usize index, u32 value, u64 now_tsc);
  void eoi(Apic_write_effect& effect);
  void send_ipi(u32 low, u32 destination, Apic_write_effect& effect);
  void signal_error(u32 esr_bit);

  // Timer (local_apic_timer.cpp).
  [[nodiscard]] u32 timer_mode() const { return lvt_[lvt_timer_index] & lapic::LVT_TIMER_MODE; }
  void write_initial_count(u32 value, u64 now_tsc);
  void write_divide(u32 value, u64 now_tsc);
  void timer_mode_changed();
  void disarm_timer();

  u32 id_;
  bool bsp_;
  bool hw_enabled_ = true;
  bool x2apic_ = false;
  u8 tpr_ = 0;
  u32 ldr_ = 0;
  u32 dfr_ = 0;
  u32 svr_ = 0;
  Bits256 irr_ = {}, isr_ = {}, tmr_ = {};
  u32 esr_ = 0;          // the value software reads (latched by the last ESR write)
  u32 esr_pending_ = 0;  // errors detected since that write
  u32 lvt_[lvt_count] = {};
  u32 icr_low_ = 0;
  u32 icr_high_ = 0;  // xAPIC: destination in bits 31:24; x2APIC: the full 32-bit destination
  // Timer: armed while counting (one-shot/periodic) or while a TSC deadline is set.
  u32 initial_count_ = 0;
  u32 divide_ = 0;
  u32 divisor_ = 2;
  bool timer_armed_ = false;
  u64 timer_deadline_ = 0;  // the TSC of the next expiry (TSC-deadline mode: IA32_TSC_DEADLINE)
  u64 timer_period_ = 0;    // initial_count_ * divisor_ TSC ticks (one-shot/periodic)

  u64 timer_interrupts_ = 0;
  u64 eois_ = 0;
  u64 illegal_vectors_ = 0;
  u64 ipis_sent_ = 0;
};

} // namespace hv
