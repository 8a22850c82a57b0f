// lib/panic.cpp - see panic.hpp. Both builds.
#include "lib/panic.hpp"
#include <atomic>
#if HV_HOSTED
#include <cstdio>
#include <cstdlib>
#endif

namespace hv {
namespace {
constinit Panic_hooks g_hooks{};
constinit std::atomic<u32> g_panicking{0};
} // namespace

void panic_set_hooks(const Panic_hooks& hooks) { g_hooks = hooks; }

void panic_emit(std::string_view subsystem, std::string_view fmt, std::span<const Fmt_arg> args) {
  const u32 cpu = g_hooks.cpu_index ? g_hooks.cpu_index() : 0;
  Fixed_text<log_line_capacity> message;
  vformat(message, fmt, args);
  Fixed_text<log_line_capacity> line;
  format_to(line, "[P {}] PANIC on cpu{}: {}", subsystem, cpu, message.view());
  // A second CPU panicking at the same time only adds its line; one CPU stops the machine.
  const bool first = g_panicking.fetch_add(1) == 0;
  log_raw_line(line.view());
#if HV_HOSTED
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.view().size()), line.view().data());
#endif
  if (first && g_hooks.dump_registers) g_hooks.dump_registers();
  if (first && g_hooks.stop) g_hooks.stop();
#if HV_HOSTED
  std::abort();
#else
  for (;;) __builtin_ia32_pause();
#endif
}

} // namespace hv
