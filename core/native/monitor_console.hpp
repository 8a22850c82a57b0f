// core/native/monitor_console.hpp - the monitor on COM1: a hypervisor thread pinned to CPU 0 that
// reads typed bytes from the UART (polled: hv takes no interrupts in VMX root), feeds them to the
// Monitor (core/monitor.hpp), echoes them and prints the prompt. Freestanding build only.
#pragma once
#include "core/console.hpp"
#include "core/monitor.hpp"
#include "core/native/cpu_loop.hpp"

namespace hv {

// Starts the monitor thread on CPU 0 of `shared` (registers its task, arms the console poll).
// False (logged) if the scheduler has no room.
[[nodiscard]] bool monitor_console_start(Cpu_loop_shared& shared, Monitor_host& host, Uart_16550& uart,
                                         Serial_console& console);

} // namespace hv
