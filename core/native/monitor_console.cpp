// core/native/monitor_console.cpp - see monitor_console.hpp. Freestanding build only.
#include "core/native/monitor_console.hpp"

namespace hv {
namespace {

// Echo of typed bytes: raw, under the console's lock.
class Echo final : public Text_writer {
public:
  explicit Echo(Serial_console& console) : console_(console) {}
  void put(char c) override {
    const char s[1] = {c};
    console_.write_raw(std::string_view(s, 1));
  }

private:
  Serial_console& console_;
};

struct Monitor_console {
  Cpu_loop_shared* shared = nullptr;
  Monitor_host* host = nullptr;
  Uart_16550* uart = nullptr;
  Serial_console* console = nullptr;
  Task_id task = 0;
};

constinit Monitor_console g_mc{};
constinit Hv_thread g_thread{};

void monitor_main(Hv_thread& self) {
  Monitor_console& mc = *static_cast<Monitor_console*>(self.arg);
  Monitor monitor(*mc.host);
  Echo echo(*mc.console);
  // No prompt until someone types: an unattended run's transcript stays one log line per line.
  log_info("monitor", "ready on COM1: press Enter for the prompt, then 'help'");
  for (;;) {
    while (const std::optional<u8> byte = mc.uart->try_read()) {
      if (monitor.feed(*byte, echo, *mc.console)) mc.console->write_raw(monitor_prompt);
      if (thread_slice_over(self)) thread_leave(self, Slice_end::expired);
    }
    thread_leave(self, Slice_end::blocked);  // the poll below wakes it when a byte arrives
  }
}

// CPU 0, between slices and while idle: a byte on COM1 wakes the monitor thread.
void poll_console(u32 cpu) {
  if (cpu != 0 || !g_mc.uart->has_input()) return;
  const Kick k = g_mc.shared->scheduler->wake(g_mc.task);
  if (k.needed()) cpu_loop_kick(k.cpu);
}

} // namespace

bool monitor_console_start(Cpu_loop_shared& shared, Monitor_host& host, Uart_16550& uart, Serial_console& console) {
  g_mc = Monitor_console{&shared, &host, &uart, &console, 0};
  const std::optional<Task_id> task = add_thread(shared, g_thread, "monitor", monitor_main, &g_mc, 0, poll_console);
  if (!task) {
    log_error("monitor", "no room in the scheduler for the monitor thread: no monitor on COM1");
    return false;
  }
  g_mc.task = *task;
  return start_thread(shared, *task);
}

} // namespace hv
