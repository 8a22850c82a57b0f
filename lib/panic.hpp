// lib/panic.hpp - a broken invariant inside the hypervisor. Both builds.
// panic() prints "[P subsystem] PANIC on cpuN: message", then the registers, then stops the
// machine, through hooks that the platform installs at boot (boot/). Without hooks (the hosted
// build, tests) it prints to stderr-equivalent sink and aborts, so death tests can check it.
// Never use panic for a guest's error or for running out of a resource (DESIGN.md "Errors").
#pragma once
#include "lib/log.hpp"

namespace hv {

struct Panic_hooks {
  u32 (*cpu_index)() = nullptr;           // which CPU is panicking
  void (*dump_registers)() = nullptr;     // logs this CPU's registers
  [[noreturn]] void (*stop)() = nullptr;  // stops the machine (never returns)
};

void panic_set_hooks(const Panic_hooks& hooks);
[[noreturn]] void panic_emit(std::string_view subsystem, std::string_view fmt, std::span<const Fmt_arg> args);

template <typename... Args>
[[noreturn]] void panic(std::string_view subsystem, std::string_view fmt, const Args&... args) {
  const std::array<Fmt_arg, sizeof...(Args)> packed{to_fmt_arg(args)...};
  panic_emit(subsystem, fmt, packed);
}

// HV_ASSERT: an invariant that, when false, is a hypervisor bug.
#define HV_ASSERT(cond)                                                                         \
  do {                                                                                          \
    if (!(cond)) ::hv::panic("assert", "{}:{}: assertion failed: {}", __FILE__, __LINE__, #cond); \
  } while (0)

} // namespace hv
