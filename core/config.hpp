// core/config.hpp - the configuration file (\EFI\hv\hv.cfg): parser and message formatting.
// Both builds: no heap, no exceptions; the parser reads a string_view that boot/ loaded from
// the ESP and fills a fixed-capacity Config (core/config_model.hpp). The format and every
// message are documented in docs/config.md.
//
// Typical use in boot/:
//   constinit Config g_config;
//   if (!parse_config(text, "hv.cfg", g_config))
//     for (const auto& d : g_config.diagnostic_list()) {
//       Fixed_text<config_diagnostic_text_max> line;
//       format_config_diagnostic(line, g_config, d);
//       log_error("config", "{}", line.view());
//     }
//   then start each VM of g_config.vm_list() that is valid and autostart.
#pragma once
#include "core/config_model.hpp"
#include "lib/format.hpp"

namespace hv {

// Parses the whole file `text` into `out`, replacing what `out` held. Never fails as such:
// every problem becomes a diagnostic "expected X, got Y" at a line and column. A VM whose
// section has a problem is kept with valid == false (and is not to be started); the others
// are unaffected. A bad global setting keeps its default. Returns true when the file had no
// problem at all. Runs in time linear in text.size(), for any bytes.
[[nodiscard]] bool parse_config(std::string_view text, std::string_view file_name, Config& out);

// "hv.cfg:7:10: expected a number of MiB (2..65536), got "64x"" (no newline). A buffer of
// config_diagnostic_text_max characters always holds the whole line.
inline constexpr usize config_diagnostic_text_max = config_max_file_name + 24 + config_max_message;
void format_config_diagnostic(Text_writer& out, std::string_view file_name, const Config_diagnostic& d);
void format_config_diagnostic(Text_writer& out, const Config& config, const Config_diagnostic& d);

// The affinity mask as the config writes it: "any", "0-3", "0,2,5-7"; "none" for 0.
void format_cpu_list(Text_writer& out, u64 mask);
// "none", "exit 3", "triple-fault", "stop ept-outside-slot": the config's own words.
void format_vm_expectation(Text_writer& out, const Vm_expectation& expect);

// The smallest memory_current for a VM of `memory_mib`: the balloon's floor (mm/balloon.hpp's
// balloon_floor_pages) in MiB, rounded up, so that the start size is never below the floor.
[[nodiscard]] u32 memory_current_floor_mib(u32 memory_mib);

[[nodiscard]] const char* paging_mode_name(Paging_mode mode);
[[nodiscard]] const char* console_port_name(Console_port port);

} // namespace hv
