// devices/local_apic_timer.cpp - the local APIC timer of local_apic.hpp (Intel SDM Vol. 3A 11.5.4):
// one-shot, periodic and TSC-deadline modes, driven by the vCPU's TSC. One timer count is
// `divisor` TSC ticks (the timer's input clock is defined to be the TSC). Nothing is stored that
// needs ticking: an armed timer is its next expiry TSC (and, counting modes, its period), and
// Current Count is derived from it.
#include "devices/local_apic.hpp"

namespace hv {
using namespace lapic;

namespace {
// a + b, held below ~0ull (which next_timer_deadline() uses for "none").
constexpr u64 add_capped(u64 a, u64 b) { return a > ~0ull - 1 - b ? ~0ull - 1 : a + b; }
} // namespace

// Writing Initial Count (re)starts a one-shot or periodic count from that value, 0 stops it. In
// TSC-deadline mode the register is ignored (11.5.4.1).
void Local_apic::write_initial_count(u32 value, u64 now_tsc) {
  if (timer_mode() == TIMER_TSC_DEADLINE) return;
  initial_count_ = value;
  if (value == 0) {
    disarm_timer();
    return;
  }
  timer_period_ = u64{value} * divisor_;
  timer_deadline_ = add_capped(now_tsc, timer_period_);
  timer_armed_ = true;
}

// A new divisor while counting: the counter keeps its current value and counts on at the new rate;
// later periods are Initial Count * the new divisor.
void Local_apic::write_divide(u32 value, u64 now_tsc) {
  const u32 count = timer_current_count(now_tsc);
  divide_ = value;
  divisor_ = divisor_of(value);
  if (!timer_armed_ || timer_mode() == TIMER_TSC_DEADLINE) return;
  timer_period_ = u64{initial_count_} * divisor_;
  timer_deadline_ = add_capped(now_tsc, u64{count} * divisor_);
}

// Any change of the LVT timer mode disarms the timer: the count stops (Initial Count reads 0) and
// IA32_TSC_DEADLINE is cleared (11.5.4.1).
void Local_apic::timer_mode_changed() {
  disarm_timer();
  initial_count_ = 0;
}

void Local_apic::disarm_timer() {
  timer_armed_ = false;
  timer_deadline_ = 0;
  timer_period_ = 0;
}

u64 Local_apic::tsc_deadline() const {
  return timer_armed_ && timer_mode() == TIMER_TSC_DEADLINE ? timer_deadline_ : 0;
}

void Local_apic::set_tsc_deadline(u64 value, u64 now_tsc) {
  if (timer_mode() != TIMER_TSC_DEADLINE) return;  // other modes: writes are ignored
  update(now_tsc);  // an expiry of the old deadline that was due happens first
  if (value == 0) {
    disarm_timer();
    return;
  }
  timer_deadline_ = value;
  timer_armed_ = true;
}

u32 Local_apic::timer_current_count(u64 now_tsc) const {
  if (!timer_armed_ || timer_mode() == TIMER_TSC_DEADLINE || timer_period_ == 0) return 0;
  u64 remaining;
  if (now_tsc < timer_deadline_) {
    remaining = timer_deadline_ - now_tsc;
    if (remaining > timer_period_) remaining = timer_period_;  // a TSC from before the start
  } else if (timer_mode() == TIMER_PERIODIC) {
    // Expired periods update() has not seen yet: the count has reloaded and goes on.
    remaining = timer_period_ - (now_tsc - timer_deadline_) % timer_period_;
  } else {
    return 0;  // one-shot expired: the count stays at 0
  }
  return static_cast<u32>((remaining + divisor_ - 1) / divisor_);
}

void Local_apic::update(u64 now_tsc) {
  if (!timer_armed_ || now_tsc < timer_deadline_) return;
  const u32 lvt = lvt_[lvt_timer_index];
  if (!(lvt & LVT_MASKED)) {
    const u8 vector = static_cast<u8>(lvt & LVT_VECTOR);
    if (enabled() && vector >= 16) ++timer_interrupts_;
    accept(vector, false);
  }
  if (timer_mode() == TIMER_PERIODIC && timer_period_ != 0) {
    // One interrupt however many periods passed; the next expiry stays on the original phase.
    const u64 periods = (now_tsc - timer_deadline_) / timer_period_ + 1;
    const u64 step = periods > (~0ull / timer_period_) ? ~0ull : periods * timer_period_;
    timer_deadline_ = add_capped(timer_deadline_, step);
    if (timer_deadline_ <= now_tsc) disarm_timer();  // only at the end of the TSC's range
  } else {
    disarm_timer();  // one-shot (Current Count reads 0 from now) and TSC-deadline (MSR reads 0)
  }
}

} // namespace hv
