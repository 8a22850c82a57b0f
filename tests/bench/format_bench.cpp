// tests/bench/format_bench.cpp - cost of formatting one log line (figures only).
#include "lib/format.hpp"
#include <benchmark/benchmark.h>

static void BM_format_log_line(benchmark::State& state) {
  for (auto _ : state) {
    hv::Fixed_text<240> out;
    hv::format_to(out, "[I mm] frame {} order {} owner vm{} refs {}", hv::Hpa(0x12345000), 3, 7, 2u);
    benchmark::DoNotOptimize(out.view().data());
  }
}
BENCHMARK(BM_format_log_line);
