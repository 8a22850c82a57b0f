// core/scheduler_fairness.cpp - shares against fair shares (see scheduler_fairness.hpp). Both builds.
#include "core/scheduler_fairness.hpp"
#include "lib/panic.hpp"

namespace hv {

namespace {
constexpr u64 billion = 1'000'000'000;
} // namespace

Fairness_report measure_fairness(std::span<const u64> cpu_ticks, std::span<const u32> weights,
                                 std::span<Fair_share> out) {
  HV_ASSERT(cpu_ticks.size() == weights.size());
  Fairness_report report;
  u64 weight_sum = 0;
  for (usize i = 0; i < cpu_ticks.size(); ++i) {
    if (weights[i] == 0) continue;
    report.total_ticks += cpu_ticks[i];
    weight_sum += weights[i];
  }
  for (Fair_share& f : out) f = Fair_share{};
  if (report.total_ticks == 0 || weight_sum == 0) return report;
  // Scale ticks down until ticks * 1e9 cannot overflow; the relative error stays below 2^-33.
  unsigned shift = 0;
  while ((report.total_ticks >> shift) > (u64{1} << 33)) ++shift;
  const u64 total = report.total_ticks >> shift;
  for (usize i = 0; i < cpu_ticks.size(); ++i) {
    if (weights[i] == 0) continue;
    // Parts per billion, so the deviation below is exact to well under one ppm.
    const u64 share_ppb = total == 0 ? 0 : (cpu_ticks[i] >> shift) * billion / total;
    const u64 fair_ppb = u64{weights[i]} * billion / weight_sum;
    const i64 diff = static_cast<i64>(share_ppb) - static_cast<i64>(fair_ppb);
    const i64 dev_ppm = fair_ppb == 0 ? 0 : diff * 1'000'000 / static_cast<i64>(fair_ppb);
    const u64 magnitude = dev_ppm < 0 ? static_cast<u64>(-dev_ppm) : static_cast<u64>(dev_ppm);
    if (magnitude > report.max_deviation_ppm) {
      report.max_deviation_ppm = magnitude;
      report.worst = static_cast<u32>(i);
    }
    if (i < out.size()) out[i] = Fair_share{share_ppb / 1000, fair_ppb / 1000, dev_ppm};
  }
  return report;
}

} // namespace hv
