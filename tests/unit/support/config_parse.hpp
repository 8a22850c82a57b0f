// tests/unit/support/config_parse.hpp - parse a config text and get its diagnostics as the
// lines boot/ would log (hosted only). The Config lives on the heap: it is ~10 KiB.
#pragma once
#include "core/config.hpp"
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hv::test {

struct Parsed_config {
  std::unique_ptr<Config> config = std::make_unique<Config>();
  bool ok = false;
  std::vector<std::string> messages; // "hv.cfg:L:C: message", in the model's order

  [[nodiscard]] const Vm_config& vm(usize i) const { return config->vms.at(i); }
};

inline std::string diagnostic_text(const Config& config, const Config_diagnostic& d) {
  Fixed_text<config_diagnostic_text_max> line;
  format_config_diagnostic(line, config, d);
  return std::string(line.view());
}

inline Parsed_config parse_text(std::string_view text, std::string_view file_name = "hv.cfg") {
  Parsed_config p;
  p.ok = parse_config(text, file_name, *p.config);
  for (const Config_diagnostic& d : p.config->diagnostic_list()) p.messages.push_back(diagnostic_text(*p.config, d));
  return p;
}

// Only the messages: for tests about what a user reads.
inline std::vector<std::string> config_errors(std::string_view text) { return parse_text(text).messages; }

} // namespace hv::test
