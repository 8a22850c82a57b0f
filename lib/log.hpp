// lib/log.hpp - the hypervisor's log. Both builds.
// Every line carries a level and a subsystem:   [I boot] hv 0.1.0 (git abc123)
// Levels: E error, W warning, I info, D debug, T trace. Lines are formatted into a fixed
// buffer first and handed to the sink whole, so lines from different CPUs never interleave.
// A line longer than the buffer is cut and ends with "..." (nothing is written past it).
#pragma once
#include "lib/format.hpp"
#include <string_view>

namespace hv {

enum class Log_level : u8 { error = 0, warn = 1, info = 2, debug = 3, trace = 4 };

// Receives whole lines (no trailing newline). The sink owns atomicity across CPUs.
class Log_sink {
public:
  virtual void write_line(std::string_view line) = 0;

protected:
  ~Log_sink() = default;
};

inline constexpr usize log_line_capacity = 240;

void log_set_sink(Log_sink* sink);
void log_set_level(Log_level level);
[[nodiscard]] Log_level log_get_level();
[[nodiscard]] char log_level_letter(Log_level level);
[[nodiscard]] const char* log_level_name(Log_level level);
// Parses "error", "warn", "info", "debug", "trace"; false if the word is none of them.
[[nodiscard]] bool log_parse_level(std::string_view word, Log_level& out);

// Formats "[L subsystem] " + message into `line`. Exposed for tests and for panic.
void log_format_line(Fixed_text<log_line_capacity>& line, Log_level level, std::string_view subsystem,
                     std::string_view fmt, std::span<const Fmt_arg> args);
void log_emit(Log_level level, std::string_view subsystem, std::string_view fmt, std::span<const Fmt_arg> args);
// Writes a line as it is (no prefix), for output that is not a log record (guest console).
void log_raw_line(std::string_view line);

template <typename... Args>
void log(Log_level level, std::string_view subsystem, std::string_view fmt, const Args&... args) {
  if (level > log_get_level()) return;
  const std::array<Fmt_arg, sizeof...(Args)> packed{to_fmt_arg(args)...};
  log_emit(level, subsystem, fmt, packed);
}

template <typename... Args>
void log_error(std::string_view subsystem, std::string_view fmt, const Args&... args) {
  log(Log_level::error, subsystem, fmt, args...);
}
template <typename... Args>
void log_warn(std::string_view subsystem, std::string_view fmt, const Args&... args) {
  log(Log_level::warn, subsystem, fmt, args...);
}
template <typename... Args>
void log_info(std::string_view subsystem, std::string_view fmt, const Args&... args) {
  log(Log_level::info, subsystem, fmt, args...);
}
template <typename... Args>
void log_debug(std::string_view subsystem, std::string_view fmt, const Args&... args) {
  log(Log_level::debug, subsystem, fmt, args...);
}

} // namespace hv
