// core/config_values.hpp - the parser's inside, shared by core/config_parser.cpp (lines,
// sections, keys) and core/config_values.cpp (one checker per kind of value). Both builds.
// Not for other users: include core/config.hpp.
#pragma once
#include "core/config_model.hpp"
#include "lib/format.hpp"
#include "lib/quoted_text.hpp"
#include <optional>

namespace hv {

// Collects diagnostics into a Config for the line being parsed. A problem reported while a
// VM's section is current marks that VM invalid; otherwise it is a file-wide problem.
class Config_reporter {
public:
  explicit Config_reporter(Config& config) : config_(config) {}

  void set_line(u32 line, u32 vm) { line_ = line; vm_ = vm; }
  void set_vm(u32 vm) { vm_ = vm; }
  [[nodiscard]] u32 line() const { return line_; }
  [[nodiscard]] u32 vm() const { return vm_; }

  template <typename... Args>
  void error(u32 column, std::string_view fmt, const Args&... args) {
    error_at(line_, column, vm_, fmt, args...);
  }
  template <typename... Args>
  void error_at(u32 line, u32 column, u32 vm, std::string_view fmt, const Args&... args) {
    const std::array<Fmt_arg, sizeof...(Args)> packed{to_fmt_arg(args)...};
    emit(line, column, vm, fmt, packed);
  }

private:
  void emit(u32 line, u32 column, u32 vm, std::string_view fmt, std::span<const Fmt_arg> args);

  Config& config_;
  u32 line_ = 0;
  u32 vm_ = config_global;
};

// A value as written after "key =": a bare run of text (to '#' or the end of the line, trailing
// blanks dropped) or the contents of a quoted string with its escapes undone.
struct Config_value {
  std::string_view text;
  u32 start_column = 0;            // where the value begins as written (its opening quote)
  u32 column = 0;                  // column of text[0] (or where it would be when empty)
  const u8* raw_offsets = nullptr; // quoted: text[i] sits at column + raw_offsets[i]; bare: null
  bool quoted = false;

  [[nodiscard]] u32 column_of(usize i) const {
    return column + static_cast<u32>(raw_offsets != nullptr ? raw_offsets[i] : i);
  }
};

// A text shown in a message: "64x" in quotes, cut after 40 bytes as shown ("abc..."), '"' and
// '\' escaped, characters outside printable ASCII as \xNN; an empty text reads `nothing`.
inline constexpr Quote_style config_quote_style{40, Quote_style::Escapes::c_style, Quote_style::Cut_mark::inside,
                                                "nothing"};
class Quoted final : public Quoted_text<quoted_text_max_size(config_quote_style)> {
public:
  explicit Quoted(std::string_view text) : Quoted_text(text, config_quote_style) {}
};

// One character in a message: '.' for printable ASCII, 0x1b otherwise.
class Char_text {
public:
  explicit Char_text(char c);
  [[nodiscard]] std::string_view view() const { return text_.view(); }

private:
  Fixed_text<8> text_;
};

// s[begin, end), clamped to s. Unlike substr it never throws: the freestanding build has
// nothing to throw with (substr would pull in std::__throw_out_of_range_fmt).
[[nodiscard]] constexpr std::string_view text_slice(std::string_view s, usize begin, usize end = ~usize{0}) {
  if (end > s.size()) end = s.size();
  if (begin > end) begin = end;
  return {s.data() + begin, end - begin};
}

// A number as the format writes it: decimal digits, or 0x and hex digits; no sign, no spaces.
// nullopt when it is not one, or exceeds `max`.
[[nodiscard]] std::optional<u64> parse_config_number(std::string_view text, u64 max);

// Each checker stores the value in `out` and returns true, or reports why not and returns false
// (leaving `out` as it was).
bool check_log_level(const Config_value& v, Config_reporter& r, Log_level& out);
bool check_console(const Config_value& v, Config_reporter& r, Console_port& out);
bool check_quantum_us(const Config_value& v, Config_reporter& r, u32& out);
bool check_on_all_stopped(const Config_value& v, Config_reporter& r, On_all_stopped& out);
bool check_memory_mib(const Config_value& v, Config_reporter& r, u32& out);
// memory_current's value alone: a number of MiB (0..65536). Its range depends on `memory`, which
// may come later in the section: check_memory_current_range judges it when the section ends.
bool check_memory_current_mib(const Config_value& v, Config_reporter& r, u32& out);
// floor <= current_mib <= memory_mib, or a diagnostic for VM `vm` at (line, column) naming both
// numbers. Returns whether it was in range.
bool check_memory_current_range(u32 memory_mib, u32 current_mib, u32 line, u32 column, u32 vm, Config_reporter& r);
bool check_image(const Config_value& v, Config_reporter& r, Config_string<vm_image_max>& out);
bool check_cpu_list(const Config_value& v, Config_reporter& r, u64& out);
bool check_paging(const Config_value& v, Config_reporter& r, Paging_mode& out);
bool check_shadow_pages(const Config_value& v, Config_reporter& r, u32& out);
bool check_args(const Config_value& v, Config_reporter& r, Config_string<vm_args_max>& out);
bool check_expectation(const Config_value& v, Config_reporter& r, Vm_expectation& out);
bool check_yes_no(const Config_value& v, Config_reporter& r, bool& out);
bool check_on_off(const Config_value& v, Config_reporter& r, bool& out);
// A merger knob (mm/merge/merge_knobs.hpp) by its sysfs name, e.g. "pages_to_scan" for the key
// ksm_pages_to_scan: a decimal number within the knob's range.
bool check_merge_knob(const Config_value& v, Config_reporter& r, std::string_view knob, Merge_knobs& out);
// A VM name from a [vm NAME] header starting at `column`; stores what fits even when invalid,
// so that later messages can name the VM.
bool check_vm_name(std::string_view name, u32 column, Config_reporter& r, Config_string<vm_name_max>& out);

} // namespace hv
