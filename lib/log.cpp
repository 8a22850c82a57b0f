// lib/log.cpp - level filter, line formatting and the sink hand-off. Both builds.
#include "lib/log.hpp"
#include <atomic>

namespace hv {
namespace {
constinit std::atomic<Log_sink*> g_sink{nullptr};
constinit std::atomic<Log_level> g_level{Log_level::info};
} // namespace

void log_set_sink(Log_sink* sink) { g_sink.store(sink, std::memory_order_release); }
void log_set_level(Log_level level) { g_level.store(level, std::memory_order_relaxed); }
Log_level log_get_level() { return g_level.load(std::memory_order_relaxed); }

char log_level_letter(Log_level level) {
  switch (level) {
  case Log_level::error: return 'E';
  case Log_level::warn: return 'W';
  case Log_level::info: return 'I';
  case Log_level::debug: return 'D';
  case Log_level::trace: return 'T';
  }
  return '?';
}

const char* log_level_name(Log_level level) {
  switch (level) {
  case Log_level::error: return "error";
  case Log_level::warn: return "warn";
  case Log_level::info: return "info";
  case Log_level::debug: return "debug";
  case Log_level::trace: return "trace";
  }
  return "?";
}

bool log_parse_level(std::string_view word, Log_level& out) {
  for (auto level : {Log_level::error, Log_level::warn, Log_level::info, Log_level::debug, Log_level::trace}) {
    if (word == log_level_name(level)) {
      out = level;
      return true;
    }
  }
  return false;
}

void log_format_line(Fixed_text<log_line_capacity>& line, Log_level level, std::string_view subsystem,
                     std::string_view fmt, std::span<const Fmt_arg> args) {
  line.put('[');
  line.put(log_level_letter(level));
  line.put(' ');
  line.write(subsystem);
  line.write("] ");
  vformat(line, fmt, args);
  if (line.truncated()) {
    line.shrink_to(log_line_capacity - 3);
    line.write("...");
  }
}

void log_emit(Log_level level, std::string_view subsystem, std::string_view fmt, std::span<const Fmt_arg> args) {
  Fixed_text<log_line_capacity> line;
  log_format_line(line, level, subsystem, fmt, args);
  log_raw_line(line.view());
}

void log_raw_line(std::string_view line) {
  if (Log_sink* sink = g_sink.load(std::memory_order_acquire)) sink->write_line(line);
}

} // namespace hv
