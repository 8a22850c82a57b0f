// devices/local_apic.cpp - see local_apic.hpp: the register file, IA32_APIC_BASE, acceptance,
// priority and IPIs (Intel SDM Vol. 3A chapter 11). The timer is in local_apic_timer.cpp.
#include "devices/local_apic.hpp"

namespace hv {
using namespace lapic;

namespace {
// Bits software can write in each register (the rest reads as the model keeps it). In x2APIC mode a
// write with a bit set outside writable | read-only bits is #GP (11.12.1.3 "Reserved Bit Checking"),
// so a read-modify-write of a value read back never faults.
constexpr u32 TPR_WRITABLE = 0xFF;
constexpr u32 SVR_WRITABLE = 0xFF | SVR_ENABLE | SVR_FOCUS_OFF;  // bit 12 (EOI suppression): not supported
constexpr u32 LDR_XAPIC_WRITABLE = 0xFF000000;                 // logical id, 11.6.2.2
constexpr u32 DFR_MODEL_BITS = 0xF0000000;                     // bits 27:0 read as ones
constexpr u32 ICR_HIGH_XAPIC_WRITABLE = 0xFF000000;
constexpr u32 ICR_LOW_WRITABLE = 0xFF | (7u << 8) | ICR_LOGICAL | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL |
                                 (3u << ICR_SHORTHAND_SHIFT);  // 0x000CCFFF; delivery status reads 0
constexpr u32 DIVIDE_WRITABLE = 0xB;                           // bits 0, 1, 3
constexpr u32 SELF_IPI_WRITABLE = 0xFF;
constexpr u32 LVT_READ_ONLY = LVT_DELIVERY_STATUS | LVT_REMOTE_IRR;

// The x2APIC logical id (11.12.10.2): cluster (id[19:4]) in bits 31:16, one bit of 16 in 15:0.
constexpr u32 x2apic_ldr(u32 id) { return ((id >> 4) << 16) | (1u << (id & 0xF)); }
constexpr bool in_vector_bank(u32 offset, u32 first) { return offset >= first && offset < first + 0x80; }
} // namespace

Local_apic::Local_apic(u32 apic_id, bool bsp) : id_(apic_id), bsp_(bsp) { reset(); }

void Local_apic::reset() {
  hw_enabled_ = true;
  x2apic_ = false;
  reset_registers();
}

void Local_apic::init() { reset_registers(); }

void Local_apic::reset_registers() {
  tpr_ = 0;
  ldr_ = x2apic_mode() ? x2apic_ldr(id_) : 0;
  dfr_ = 0xFFFFFFFF;
  svr_ = SVR_RESET;
  for (usize i = 0; i < 8; ++i) irr_[i] = isr_[i] = tmr_[i] = 0;
  esr_ = esr_pending_ = 0;
  for (u32& lvt : lvt_) lvt = LVT_MASKED;
  icr_low_ = icr_high_ = 0;
  initial_count_ = 0;
  divide_ = 0;
  divisor_ = divisor_of(0);
  timer_armed_ = false;
  timer_deadline_ = timer_period_ = 0;
}

// --- IA32_APIC_BASE (11.4.4; x2APIC state transitions 11.12.5, Figure 11-27) ---

u64 Local_apic::apic_base() const {
  return default_base | (bsp_ ? msr::APIC_BASE_BSP : 0) | (hw_enabled_ ? msr::APIC_BASE_EN : 0) |
         (x2apic_mode() ? msr::APIC_BASE_EXTD : 0);
}

bool Local_apic::set_apic_base(u64 value) {
  constexpr u64 reserved_low = 0xFFull | (1ull << 9);
  if (value & reserved_low) return false;
  // The APIC page stays at 0xFEE00000: any other base (including bits above MAXPHYADDR) is #GP.
  if ((value & ~0xFFFull) != default_base) return false;
  const bool en = value & msr::APIC_BASE_EN;
  const bool extd = value & msr::APIC_BASE_EXTD;
  if (extd && !en) return false;                 // EN = 0, EXTD = 1: invalid state
  if (x2apic_mode() && en && !extd) return false;  // x2APIC -> xAPIC: only through disabled
  if (!hw_enabled_ && extd) return false;          // disabled -> x2APIC: only through xAPIC
  if (!en) {
    // Disabling resets the APIC to its power-up state; the id is kept (11.4.7.1 note, 11.12.5).
    if (hw_enabled_) {
      hw_enabled_ = false;
      x2apic_ = false;
      reset_registers();
    }
    return true;
  }
  hw_enabled_ = true;
  if (extd && !x2apic_) {
    // xAPIC -> x2APIC: state is kept; the id shows all 32 bits and the LDR is derived from it.
    x2apic_ = true;
    ldr_ = x2apic_ldr(id_);
  }
  return true;
}

// --- Priority (11.8.3, 11.8.4) ---

int Local_apic::highest_bit(const Bits256& bits) {
  for (int i = 7; i >= 0; --i) {
    if (bits[i]) return i * 32 + 31 - __builtin_clz(bits[i]);
  }
  return -1;
}

u8 Local_apic::ppr() const {
  const int isrv = highest_isr();
  const u8 isr_class = isrv < 0 ? 0 : static_cast<u8>(isrv & 0xF0);
  return (tpr_ & 0xF0) >= isr_class ? tpr_ : isr_class;
}

void Local_apic::accept(u8 vector, bool level_triggered) {
  if (!enabled()) return;
  if (vector < 16) {
    ++illegal_vectors_;
    signal_error(ESR_RECEIVE_ILLEGAL_VECTOR);
    return;
  }
  set_bit(irr_, vector);
  if (level_triggered) set_bit(tmr_, vector);
  else clear_bit(tmr_, vector);
}

int Local_apic::pending_vector() const {
  if (!enabled()) return -1;
  const int v = highest_irr();
  if (v < 0) return -1;
  return (v & 0xF0) > (ppr() & 0xF0) ? v : -1;
}

void Local_apic::acknowledge(u8 vector) {
  if (!bit(irr_, vector)) return;
  clear_bit(irr_, vector);
  set_bit(isr_, vector);
}

void Local_apic::eoi(Apic_write_effect& effect) {
  ++eois_;
  const int v = highest_isr();
  if (v < 0) return;
  const u8 vector = static_cast<u8>(v);
  clear_bit(isr_, vector);
  if (bit(tmr_, vector)) {
    effect.level_eoi = true;
    effect.eoi_vector = vector;
  }
}

// An error is logged for the next ESR write to latch, and raises the error LVT's vector
// (11.5.3). An illegal vector in the error LVT itself is not reported again (no recursion).
void Local_apic::signal_error(u32 esr_bit) {
  esr_pending_ |= esr_bit;
  const u32 lvt = lvt_[lvt_error_index];
  const u8 vector = static_cast<u8>(lvt & LVT_VECTOR);
  if (!(lvt & LVT_MASKED) && enabled() && vector >= 16) {
    set_bit(irr_, vector);
    clear_bit(tmr_, vector);
  }
}

// --- IPIs (11.6) ---

void Local_apic::send_ipi(u32 low, u32 destination, Apic_write_effect& effect) {
  const u8 vector = static_cast<u8>(low & ICR_VECTOR);
  const u8 mode = static_cast<u8>((low >> ICR_DELIVERY_MODE_SHIFT) & 7);
  const u8 shorthand = static_cast<u8>((low >> ICR_SHORTHAND_SHIFT) & 3);
  if (mode == 3 || mode == 7) return;  // reserved delivery modes: nothing is sent
  // INIT level de-assert (level 0, trigger level) only synchronises arbitration ids: a no-op.
  if (mode == DELIVERY_INIT && !(low & ICR_LEVEL_ASSERT) && (low & ICR_TRIGGER_LEVEL)) return;
  if ((mode == DELIVERY_FIXED || mode == DELIVERY_LOWEST) && vector < 16) {
    ++illegal_vectors_;
    signal_error(ESR_SEND_ILLEGAL_VECTOR);
    return;
  }
  if (shorthand == SHORTHAND_SELF) {
    // Only fixed delivery is valid with the self shorthand (11.6.1, Table 11-3): others are dropped.
    if (mode == DELIVERY_FIXED) {
      ++ipis_sent_;
      accept(vector, false);
    }
    return;
  }
  ++ipis_sent_;
  effect.ipi = true;
  effect.destination = destination;
  effect.vector = vector;
  effect.delivery_mode = mode;
  effect.shorthand = shorthand;
  effect.logical = low & ICR_LOGICAL;
}

// --- Register file ---

int Local_apic::lvt_index(u32 offset) {
  if (offset == REG_LVT_CMCI) return static_cast<int>(lvt_cmci_index);
  if (offset >= REG_LVT_TIMER && offset <= REG_LVT_ERROR && (offset & 0xF) == 0)
    return static_cast<int>((offset - REG_LVT_TIMER) >> 4);
  return -1;
}

// Figure 11-8: vector, delivery mode (not timer/error), polarity and trigger (LINT only), mask,
// timer mode (timer only).
u32 Local_apic::lvt_writable(usize index) {
  switch (index) {
  case lvt_timer_index: return LVT_VECTOR | LVT_MASKED | LVT_TIMER_MODE;
  case 3: case 4: return LVT_VECTOR | LVT_DELIVERY_MODE | LVT_POLARITY | LVT_LEVEL | LVT_MASKED;  // LINT0/1
  case lvt_error_index: return LVT_VECTOR | LVT_MASKED;
  default: return LVT_VECTOR | LVT_DELIVERY_MODE | LVT_MASKED;  // thermal, performance, CMCI
  }
}

bool Local_apic::read_reg(u32 offset, bool x2, u64 now_tsc, u32& value) const {
  if (in_vector_bank(offset, REG_ISR)) { value = isr_[(offset - REG_ISR) >> 4]; return true; }
  if (in_vector_bank(offset, REG_TMR)) { value = tmr_[(offset - REG_TMR) >> 4]; return true; }
  if (in_vector_bank(offset, REG_IRR)) { value = irr_[(offset - REG_IRR) >> 4]; return true; }
  if (const int l = lvt_index(offset); l >= 0) { value = lvt_[l]; return true; }
  switch (offset) {
  case REG_ID: value = x2 ? id_ : id_ << 24; return true;
  case REG_VERSION: value = VERSION_VALUE; return true;
  case REG_TPR: value = tpr_; return true;
  case REG_APR:  // arbitration priority: not modelled, reads 0; no x2APIC MSR
  case REG_RRD:  // remote read: obsolete, reads 0; no x2APIC MSR
    value = 0;
    return !x2;
  case REG_PPR: value = ppr(); return true;
  case REG_LDR: value = ldr_; return true;
  case REG_DFR: value = dfr_; return !x2;
  case REG_SVR: value = svr_; return true;
  case REG_ESR: value = esr_; return true;
  case REG_ICR_LOW: value = icr_low_; return true;
  case REG_ICR_HIGH: value = icr_high_; return !x2;
  case REG_TIMER_INITIAL: value = timer_mode() == TIMER_TSC_DEADLINE ? 0 : initial_count_; return true;
  case REG_TIMER_CURRENT: value = timer_current_count(now_tsc); return true;
  case REG_TIMER_DIVIDE: value = divide_; return true;
  default: value = 0; return false;  // EOI and SELF IPI are write-only; the rest are holes
  }
}

bool Local_apic::write_reg(u32 offset, bool x2, u32 value, u64 now_tsc, Apic_write_effect& effect) {
  // Read-only registers: the write is ignored in xAPIC mode and #GP in x2APIC mode.
  if (in_vector_bank(offset, REG_ISR) || in_vector_bank(offset, REG_TMR) || in_vector_bank(offset, REG_IRR))
    return !x2;
  if (const int l = lvt_index(offset); l >= 0) {
    const usize index = static_cast<usize>(l);
    if (x2 && (value & ~(lvt_writable(index) | LVT_READ_ONLY))) return false;
    write_lvt(index, value, now_tsc);
    return true;
  }
  switch (offset) {
  case REG_ID:         // read-only in x2APIC mode; this model keeps it read-only in xAPIC mode too
  case REG_VERSION:
  case REG_PPR:
  case REG_TIMER_CURRENT:
  case REG_APR:        // not modelled (xAPIC: ignored; x2APIC: no MSR)
  case REG_RRD:
    return !x2;
  case REG_TPR:
    if (x2 && (value & ~TPR_WRITABLE)) return false;
    tpr_ = static_cast<u8>(value);
    return true;
  case REG_EOI:
    if (x2 && value != 0) return false;
    eoi(effect);
    return true;
  case REG_LDR:
    if (x2) return false;
    ldr_ = value & LDR_XAPIC_WRITABLE;
    return true;
  case REG_DFR:
    if (x2) return false;
    dfr_ = (value & DFR_MODEL_BITS) | ~DFR_MODEL_BITS;
    return true;
  case REG_SVR:
    if (x2 && (value & ~SVR_WRITABLE)) return false;
    write_svr(value);
    return true;
  case REG_ESR:
    // The write latches the errors seen since the previous write (11.5.3); x2APIC: zero only.
    if (x2 && value != 0) return false;
    esr_ = esr_pending_;
    esr_pending_ = 0;
    return true;
  case REG_ICR_LOW:
    // x2APIC reaches this from msr_write after its own checks, with icr_high_ already set.
    icr_low_ = value & ICR_LOW_WRITABLE;
    send_ipi(icr_low_, x2 ? icr_high_ : icr_high_ >> 24, effect);
    return true;
  case REG_ICR_HIGH:
    if (x2) return false;
    icr_high_ = value & ICR_HIGH_XAPIC_WRITABLE;
    return true;
  case REG_TIMER_INITIAL:
    write_initial_count(value, now_tsc);
    return true;
  case REG_TIMER_DIVIDE:
    if (x2 && (value & ~DIVIDE_WRITABLE)) return false;
    write_divide(value & DIVIDE_WRITABLE, now_tsc);
    return true;
  case REG_SELF_IPI:
    if (!x2) return true;  // no register at 0x3F0 in xAPIC mode
    if (value & ~SELF_IPI_WRITABLE) return false;
    send_ipi(value | (u32{SHORTHAND_SELF} << ICR_SHORTHAND_SHIFT), 0, effect);
    return true;
  default:
    return !x2;
  }
}

// Clearing the software enable sets every LVT mask bit (11.4.7.2); while it is clear the masks
// cannot be cleared (write_lvt). Setting it again leaves the LVTs masked.
void Local_apic::write_svr(u32 value) {
  svr_ = value & SVR_WRITABLE;
  if (!(svr_ & SVR_ENABLE)) {
    for (u32& lvt : lvt_) lvt |= LVT_MASKED;
  }
}

void Local_apic::write_lvt(usize index, u32 value, u64) {
  u32 v = value & lvt_writable(index);
  if (!(svr_ & SVR_ENABLE)) v |= LVT_MASKED;
  const u32 old = lvt_[index];
  lvt_[index] = v;
  if (index == lvt_timer_index && ((old ^ v) & LVT_TIMER_MODE)) timer_mode_changed();
}

// --- Access paths ---

u32 Local_apic::mmio_read(u32 offset, u8 size, u64 now_tsc) const {
  if (!hw_enabled_ || x2apic_ || offset >= 0x1000) return 0;
  const u32 byte = offset & 0xF;
  if ((size != 1 && size != 2 && size != 4) || byte + size > 4) return 0;
  u32 value = 0;
  if (!read_reg(offset & ~0xFu, false, now_tsc, value)) return 0;
  value >>= 8 * byte;
  return size == 4 ? value : value & ((1u << (8 * size)) - 1);
}

Apic_write_effect Local_apic::mmio_write(u32 offset, u8 size, u32 value, u64 now_tsc) {
  Apic_write_effect effect;
  if (!hw_enabled_ || x2apic_ || offset >= 0x1000 || size != 4 || (offset & 0xF)) return effect;
  update(now_tsc);  // an expiry due before this write happens first
  (void)write_reg(offset, false, value, now_tsc, effect);
  return effect;
}

bool Local_apic::msr_read(u32 msr, u64& value, u64 now_tsc) const {
  if (!x2apic_mode() || msr < X2APIC_MSR_FIRST || msr > X2APIC_MSR_LAST) return false;
  if (msr == msr::IA32_X2APIC_ICR) {
    value = (u64{icr_high_} << 32) | icr_low_;
    return true;
  }
  u32 v = 0;
  if (!read_reg((msr - X2APIC_MSR_FIRST) << 4, true, now_tsc, v)) return false;
  value = v;
  return true;
}

bool Local_apic::msr_write(u32 msr, u64 value, u64 now_tsc, Apic_write_effect& effect) {
  effect = {};
  if (!x2apic_mode() || msr < X2APIC_MSR_FIRST || msr > X2APIC_MSR_LAST) return false;
  const u32 low = static_cast<u32>(value);
  if (msr == msr::IA32_X2APIC_ICR) {
    if (low & ~ICR_LOW_WRITABLE) return false;
    update(now_tsc);
    icr_high_ = static_cast<u32>(value >> 32);
    return write_reg(REG_ICR_LOW, true, low, now_tsc, effect);
  }
  if (value >> 32) return false;  // bits 63:32 of every other x2APIC MSR are reserved
  update(now_tsc);
  return write_reg((msr - X2APIC_MSR_FIRST) << 4, true, low, now_tsc, effect);
}

} // namespace hv
