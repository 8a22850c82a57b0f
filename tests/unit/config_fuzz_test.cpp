// tests/unit/config_fuzz_test.cpp - hv.cfg on random and mutated input (fixed seeds): the
// parser never crashes (ASan/UBSan watch), always returns, and leaves a model whose invariants
// hold whatever it was given.
#include "core/config.hpp"
#include "unit/support/config_parse.hpp"
#include <gtest/gtest.h>
#include <algorithm>
#include <random>
#include <string>

namespace hv {
namespace {

// What must hold after any parse, good or bad.
void expect_model_invariants(const Config& c, std::string_view text) {
  ASSERT_LE(c.vm_count, config_max_vms);
  ASSERT_LE(c.diagnostic_count, config_max_diagnostics);
  if (c.diagnostic_count < config_max_diagnostics) {
    ASSERT_EQ(c.diagnostics_dropped, 0u);
  }
  const auto lines = static_cast<u32>(std::count(text.begin(), text.end(), '\n')) + 1;
  u32 previous_line = 0, previous_column = 0;
  for (const Config_diagnostic& d : c.diagnostic_list()) {
    ASSERT_GE(d.line, 1u);
    ASSERT_LE(d.line, lines);
    ASSERT_GE(d.column, 1u);
    // Past the line limit only for a NUL, which is found before lines are cut.
    if (!d.message.view().starts_with("NUL byte")) {
      ASSERT_LE(d.column, config_max_line_length + 1);
    }
    ASSERT_TRUE(d.line > previous_line || (d.line == previous_line && d.column >= previous_column));
    previous_line = d.line;
    previous_column = d.column;
    ASSERT_FALSE(d.message.empty());
    for (char ch : d.message.view()) ASSERT_TRUE(ch >= 0x20 && ch < 0x7f) << test::diagnostic_text(c, d);
    if (d.vm != config_global) {
      ASSERT_LT(d.vm, c.vm_count);
      ASSERT_FALSE(c.vms[d.vm].valid);
    }
    Fixed_text<config_diagnostic_text_max> out;
    format_config_diagnostic(out, c, d);
    ASSERT_FALSE(out.truncated());
  }
  ASSERT_GE(c.globals.quantum_us, quantum_us_min);
  ASSERT_LE(c.globals.quantum_us, quantum_us_max);
  for (const Vm_config& vm : c.vm_list()) {
    ASSERT_GE(vm.line, 1u);
    if (vm.valid) {
      ASSERT_EQ(vm.error_count, 0u);
      ASSERT_GE(vm.memory_mib, vm_memory_mib_min);
      ASSERT_LE(vm.memory_mib, vm_memory_mib_max);
      if (vm.memory_current_mib != 0) {  // 0: absent, the same as memory
        ASSERT_GE(vm.memory_current_mib, memory_current_floor_mib(vm.memory_mib));
        ASSERT_LE(vm.memory_current_mib, vm.memory_mib);
      }
      ASSERT_FALSE(vm.image.empty());
      ASSERT_FALSE(vm.name.empty());
      ASSERT_NE(vm.cpu_affinity, 0u);
      ASSERT_EQ(vm.paging, Paging_mode::ept);
      ASSERT_EQ(c.find_vm(vm.name.view()), &vm) << "a valid VM's name is unique and first";
    } else {
      ASSERT_GT(vm.error_count, 0u);
    }
  }
  if (c.error_count() == 0) {
    for (const Vm_config& vm : c.vm_list()) ASSERT_TRUE(vm.valid);
  }
}

// Bytes with a bias towards what matters to the parser.
std::string random_text(std::mt19937_64& rng, usize length) {
  static constexpr std::string_view interesting = "[]=#\"\\ \t\n\r,-0123456789xvmabc_.";
  std::string s(length, '\0');
  for (char& ch : s) {
    const auto pick = rng() % 4;
    if (pick == 0) ch = static_cast<char>(rng() & 0xff);
    else ch = interesting[rng() % interesting.size()];
  }
  return s;
}

TEST(ConfigFuzz, RandomBytesNeverBreakTheParser) {
  std::mt19937_64 rng(0xc0f1'6001);
  auto config = std::make_unique<Config>();
  for (int round = 0; round < 12000; ++round) {
    const std::string text = random_text(rng, rng() % 700);
    (void)parse_config(text, "fuzz.cfg", *config);
    expect_model_invariants(*config, text);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "round " << round;
      return;
    }
  }
}

constexpr std::string_view seed_file = R"(# seed
log_level = debug
quantum_us = 5000
[vm hello]
memory = 64
memory_current = 32
image = hello.elf
cpus = 0-1,3
args = "say \"hi\" # not a comment"
expect = exit 0
[vm two]
memory = 0x10
image = two.elf
expect = stop ept-outside-slot
autostart = no
)";

// Tokens a mutation may splice in: near-misses of the real syntax.
constexpr std::string_view tokens[] = {"[vm ", "]", "=", "\"", "\\", "#", "\r\n", "\n", "memory", "image", "cpus",
                                       "memory_current", "auto_balloon", "expect", "exit ", "stop ", "0-63", "65537",
                                       "any", ",", " ", "\t", std::string_view("\0", 1), "\xEF\xBB\xBF", "\xff"};

TEST(ConfigFuzz, MutatedGoodFilesNeverBreakTheParser) {
  {
    const auto clean = test::parse_text(seed_file);
    ASSERT_TRUE(clean.ok) << ::testing::PrintToString(clean.messages);
  }
  std::mt19937_64 rng(0x5eed'f11e);
  auto config = std::make_unique<Config>();
  auto dos = std::make_unique<Config>();
  int with_valid_vm = 0, with_errors = 0;
  for (int round = 0; round < 12000; ++round) {
    std::string text(seed_file);
    const auto edits = 1 + rng() % 6;
    for (u64 e = 0; e < edits; ++e) {
      const usize at = text.empty() ? 0 : rng() % text.size();
      switch (rng() % 4) {
      case 0: if (!text.empty()) text[at] = static_cast<char>(rng() & 0xff); break;
      case 1: text.erase(at, 1 + rng() % 8); break;
      case 2: text.insert(at, tokens[rng() % std::size(tokens)]); break;
      case 3: text.insert(at, std::string(1 + rng() % 300, static_cast<char>("a\n[ ="[rng() % 5]))); break;
      }
    }
    (void)parse_config(text, "hv.cfg", *config);
    expect_model_invariants(*config, text);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "round " << round << " text: " << ::testing::PrintToString(text);
      return;
    }
    with_errors += config->error_count() != 0;
    with_valid_vm += std::any_of(config->vm_list().begin(), config->vm_list().end(),
                                 [](const Vm_config& vm) { return vm.valid; });
    // Line endings never change the verdict: the same text with CRLF reads the same.
    if (text.find('\r') == std::string::npos) {
      std::string crlf;
      for (char ch : text) crlf += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
      (void)parse_config(crlf, "hv.cfg", *dos);
      ASSERT_EQ(dos->error_count(), config->error_count()) << ::testing::PrintToString(text);
      for (u32 i = 0; i < config->diagnostic_count; ++i)
        ASSERT_EQ(test::diagnostic_text(*dos, dos->diagnostics[i]), test::diagnostic_text(*config, config->diagnostics[i]));
    }
  }
  // The mutations explore both sides: files that still hold a good VM, and broken ones.
  EXPECT_GT(with_valid_vm, 3000);
  EXPECT_GT(with_errors, 3000);
}

TEST(ConfigFuzz, LargePathologicalFilesStayLinear) {
  auto config = std::make_unique<Config>();
  const std::string patterns[] = {std::string(config_max_file_size, '['), std::string(config_max_file_size, '\n'),
                                  std::string(config_max_file_size, '"'), std::string(config_max_file_size, '\r')};
  for (const std::string& text : patterns) {
    (void)parse_config(text, "big.cfg", *config);
    expect_model_invariants(*config, text);
  }
  std::string headers;
  while (headers.size() < config_max_file_size - 16) headers += "[vm x]\n";
  (void)parse_config(headers, "hv.cfg", *config);
  EXPECT_EQ(config->vm_count, config_max_vms);
  EXPECT_EQ(config->diagnostic_count, config_max_diagnostics);
  expect_model_invariants(*config, headers);
}

} // namespace
} // namespace hv
