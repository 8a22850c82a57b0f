// tests/bench/config_bench.cpp - cost of parsing hv.cfg (figures only): a full file of 16 VMs,
// and a file of errors (every line a diagnostic until the list is full).
#include "core/config.hpp"
#include <benchmark/benchmark.h>
#include <memory>
#include <string>

namespace {

std::string sixteen_vms() {
  std::string text = "# 16 VMs\nlog_level = info\nconsole = com1\nquantum_us = 10000\n";
  for (int i = 0; i < 16; ++i) {
    const std::string n = std::to_string(i);
    text += "\n[vm memtest-" + n + "]\nmemory = 64          # MiB\nimage = memtest.elf\ncpus = 0-1\n"
            "paging = ept\nargs = \"pass " + n + " \\\"quoted\\\"\"\nexpect = exit 0\nautostart = yes\n";
  }
  return text;
}

void BM_parse_config_16_vms(benchmark::State& state) {
  const std::string text = sixteen_vms();
  auto config = std::make_unique<hv::Config>();
  for (auto _ : state) {
    const bool ok = hv::parse_config(text, "hv.cfg", *config);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_parse_config_16_vms);

void BM_parse_config_all_errors(benchmark::State& state) {
  std::string text;
  for (int i = 0; i < 64; ++i) text += "memory = 64x\n";
  auto config = std::make_unique<hv::Config>();
  for (auto _ : state) {
    const bool ok = hv::parse_config(text, "hv.cfg", *config);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_parse_config_all_errors);

} // namespace
