// core/monitor_output.hpp - how the monitor's parts write their lines: whole lines through the
// Log_sink, errors with the "error: " prefix, user words quoted safely. Both builds. Internal to
// core/monitor*.cpp.
#pragma once
#include "core/monitor.hpp"
#include "lib/quoted_text.hpp"

namespace hv {

class Monitor_out {
public:
  explicit Monitor_out(Log_sink& sink) : sink_(sink) {}

  template <typename... Args>
  void line(std::string_view fmt, const Args&... args) {
    Fixed_text<monitor_line_capacity> text;
    format_to(text, fmt, args...);
    sink_.write_line(text.view());
  }
  template <typename... Args>
  void error(std::string_view fmt, const Args&... args) {
    Fixed_text<monitor_line_capacity> text;
    text.write("error: ");
    format_to(text, fmt, args...);
    sink_.write_line(text.view());
  }

private:
  Log_sink& sink_;
};

// A word the user typed, for an error message: in double quotes, at most 32 characters (then
// "..."), anything not printable shown as '?', so a message stays one readable line.
inline constexpr Quote_style monitor_word_style{32, Quote_style::Escapes::replace, Quote_style::Cut_mark::outside,
                                                {}};
class Shown_word final : public Quoted_text<quoted_text_max_size(monitor_word_style)> {
public:
  explicit Shown_word(std::string_view word) : Quoted_text(word, monitor_word_style) {}
};

// The show_* functions print the output of one `info` command or of `help`.
void show_help(Monitor_out& out);
void show_vms(Monitor_host& host, Monitor_out& out);
void show_mem(Monitor_host& host, Monitor_out& out);
void show_exits(Monitor_out& out, const Monitor_vm_info& vm, const Monitor_exit_counts& counts);
void show_sched(Monitor_host& host, Monitor_out& out);
void show_ksm(Monitor_host& host, Monitor_out& out);
// `info balloon`: one line per VM (show_balloons: every VM, ascending id; "no VMs" if none).
void show_balloon(Monitor_out& out, const Monitor_vm_info& vm, const Balloon_view& b);
void show_balloons(Monitor_host& host, Monitor_out& out);

} // namespace hv
