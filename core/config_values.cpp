// core/config_values.cpp - one checker per kind of value in hv.cfg, and the diagnostic
// collector. Both builds. Every message says what was expected and what was found; the
// wording is part of the interface (docs/config.md, tests/unit/config_test.cpp).
#include "core/config_values.hpp"
#include "core/config.hpp"
#include "lib/panic.hpp"
#include "mm/balloon.hpp"

namespace hv {
namespace {

// Writes into a Config_string, dropping what does not fit.
template <usize Max>
class String_writer final : public Text_writer {
public:
  explicit String_writer(Config_string<Max>& s) : s_(s) {}
  void put(char c) override { (void)s_.push_back(c); }

private:
  Config_string<Max>& s_;
};

constexpr bool is_blank(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_word_char(char c) { return is_alpha(c) || is_digit(c) || c == '_' || c == '-'; }
constexpr bool is_file_char(char c) { return is_word_char(c) || c == '.' || c == '+'; }

std::optional<unsigned> digit_value(char c, unsigned base) {
  unsigned d = 0;
  if (is_digit(c)) d = static_cast<unsigned>(c - '0');
  else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
  else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
  else return std::nullopt;
  if (d >= base) return std::nullopt;
  return d;
}

// The next run of non-blank characters at or after i: [begin, end). begin == end at the end.
struct Word {
  usize begin = 0;
  usize end = 0;
  [[nodiscard]] bool empty() const { return begin == end; }
};
Word next_word(std::string_view t, usize from) {
  usize i = from;
  while (i < t.size() && is_blank(t[i])) ++i;
  usize e = i;
  while (e < t.size() && !is_blank(t[e])) ++e;
  return {i, e};
}

constexpr std::string_view expect_forms = "expected \"exit N\", \"triple-fault\" or \"stop REASON\", got {}";
constexpr std::string_view cpu_list_form = "expected a CPU list like 0-3 or 0,2 (CPUs {}..{}) or any, got {}";

} // namespace

void Config_reporter::emit(u32 line, u32 column, u32 vm, std::string_view fmt, std::span<const Fmt_arg> args) {
  if (vm != config_global && vm < config_.vm_count) {
    config_.vms[vm].valid = false;
    ++config_.vms[vm].error_count;
  }
  if (config_.diagnostic_count == config_max_diagnostics) {
    ++config_.diagnostics_dropped;
    return;
  }
  Config_diagnostic& d = config_.diagnostics[config_.diagnostic_count++];
  d.line = line;
  d.column = column;
  d.vm = vm;
  d.message.clear();
  String_writer writer(d.message);
  vformat(writer, fmt, args);
}

Char_text::Char_text(char c) {
  const auto u = static_cast<u8>(c);
  if (u > 0x20 && u < 0x7f) format_to(text_, "'{}'", c);
  else if (c == ' ') text_.write("' '");
  else format_to(text_, "{:#04x}", u);
}

std::optional<u64> parse_config_number(std::string_view text, u64 max) {
  if (text.empty()) return std::nullopt;
  unsigned base = 10;
  usize i = 0;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    i = 2;
  }
  u64 value = 0;
  for (; i < text.size(); ++i) {
    const auto d = digit_value(text[i], base);
    if (!d) return std::nullopt;
    if (*d > max || value > (max - *d) / base) return std::nullopt;  // (max - d would wrap for a small max)
    value = value * base + *d;
  }
  return value;
}

bool check_log_level(const Config_value& v, Config_reporter& r, Log_level& out) {
  if (log_parse_level(v.text, out)) return true;
  r.error(v.start_column, "expected a log level (error, warn, info, debug, trace), got {}", Quoted(v.text).view());
  return false;
}

bool check_console(const Config_value& v, Config_reporter& r, Console_port& out) {
  if (v.text == "com1") {
    out = Console_port::com1;
    return true;
  }
  r.error(v.start_column, "expected a console (com1), got {}", Quoted(v.text).view());
  return false;
}

bool check_on_all_stopped(const Config_value& v, Config_reporter& r, On_all_stopped& out) {
  if (v.text == "poweroff" || v.text == "stay") {
    out = v.text == "stay" ? On_all_stopped::stay : On_all_stopped::poweroff;
    return true;
  }
  r.error(v.start_column, "expected poweroff or stay, got {}", Quoted(v.text).view());
  return false;
}

bool check_quantum_us(const Config_value& v, Config_reporter& r, u32& out) {
  const auto n = parse_config_number(v.text, quantum_us_max);
  if (!n || *n < quantum_us_min) {
    r.error(v.start_column, "expected a time slice in microseconds ({}..{}), got {}", quantum_us_min,
            quantum_us_max, Quoted(v.text).view());
    return false;
  }
  out = static_cast<u32>(*n);
  return true;
}

bool check_memory_mib(const Config_value& v, Config_reporter& r, u32& out) {
  const auto n = parse_config_number(v.text, vm_memory_mib_max);
  if (!n || *n < vm_memory_mib_min) {
    r.error(v.start_column, "expected a number of MiB ({}..{}), got {}", vm_memory_mib_min, vm_memory_mib_max,
            Quoted(v.text).view());
    return false;
  }
  out = static_cast<u32>(*n);
  return true;
}

bool check_memory_current_mib(const Config_value& v, Config_reporter& r, u32& out) {
  const auto n = parse_config_number(v.text, vm_memory_mib_max);
  if (!n) {
    r.error(v.start_column, "expected a number of MiB (the VM's start size, at most its memory), got {}",
            Quoted(v.text).view());
    return false;
  }
  out = static_cast<u32>(*n);
  return true;
}

u32 memory_current_floor_mib(u32 memory_mib) {
  return static_cast<u32>(pages_to_mib_up(balloon_floor_pages(u64{memory_mib} * balloon_pages_per_mib)));
}

bool check_memory_current_range(u32 memory_mib, u32 current_mib, u32 line, u32 column, u32 vm, Config_reporter& r) {
  const u32 floor = memory_current_floor_mib(memory_mib);
  if (current_mib > memory_mib) {
    r.error_at(line, column, vm, "memory_current = {} MiB is above the VM's memory = {} MiB (expected {}..{})",
               current_mib, memory_mib, floor, memory_mib);
    return false;
  }
  if (current_mib < floor) {
    r.error_at(line, column, vm,
               "memory_current = {} MiB is below the balloon floor of {} MiB for memory = {} MiB (1/16, at least 4 "
               "MiB; docs/balloon.md)",
               current_mib, floor, memory_mib);
    return false;
  }
  return true;
}

bool check_image(const Config_value& v, Config_reporter& r, Config_string<vm_image_max>& out) {
  const std::string_view t = v.text;
  if (t.find_first_of("/\\") != std::string_view::npos) {
    r.error(v.start_column, "expected a plain file name in \\EFI\\hv\\guests\\ (no folders), got {}", Quoted(t).view());
    return false;
  }
  if (t.empty() || t == "." || t == "..") {
    r.error(v.start_column, "expected a file name in \\EFI\\hv\\guests\\, got {}", Quoted(t).view());
    return false;
  }
  for (usize i = 0; i < t.size(); ++i) {
    if (!is_file_char(t[i])) {
      r.error(v.column_of(i), "bad character {} in the image file name (allowed: a-z A-Z 0-9 . _ - +)",
              Char_text(t[i]).view());
      return false;
    }
  }
  if (t.size() > vm_image_max) {
    r.error(v.start_column, "image file name is too long: {} characters, at most {}", t.size(), vm_image_max);
    return false;
  }
  return out.assign(t);
}

bool check_cpu_list(const Config_value& v, Config_reporter& r, u64& out) {
  const std::string_view t = v.text;
  if (t == "any") {
    out = cpu_affinity_any;
    return true;
  }
  // One CPU number at i: a run of letters and digits, so "0x3" and "x" are judged whole.
  auto cpu_at = [&](usize& i, u64& cpu) -> bool {
    while (i < t.size() && is_blank(t[i])) ++i;
    usize e = i;
    while (e < t.size() && (is_alpha(t[e]) || is_digit(t[e]))) ++e;
    const auto n = parse_config_number(text_slice(t, i, e), ~u64{0});
    if (!n) {
      r.error(v.column_of(i), cpu_list_form, 0u, cpu_index_max, Quoted(text_slice(t, i)).view());
      return false;
    }
    if (*n > cpu_index_max) {
      r.error(v.column_of(i), "CPU {} is out of range (0..{})", *n, cpu_index_max);
      return false;
    }
    cpu = *n;
    i = e;
    while (i < t.size() && is_blank(t[i])) ++i;
    return true;
  };
  u64 mask = 0;
  usize i = 0;
  for (;;) {
    while (i < t.size() && is_blank(t[i])) ++i;
    const usize item = i;
    u64 low = 0;
    if (!cpu_at(i, low)) return false;
    u64 high = low;
    if (i < t.size() && t[i] == '-') {
      ++i;
      if (!cpu_at(i, high)) return false;
      if (high < low) {
        r.error(v.column_of(item), "CPU range {}-{} is reversed (expected LOW-HIGH)", low, high);
        return false;
      }
    }
    for (u64 cpu = low; cpu <= high; ++cpu) mask |= u64{1} << cpu;
    if (i == t.size()) break;
    if (t[i] != ',') {
      r.error(v.column_of(i), "expected ',' or '-' in the CPU list, got {}", Quoted(text_slice(t, i)).view());
      return false;
    }
    ++i;
  }
  out = mask;
  return true;
}

bool check_paging(const Config_value& v, Config_reporter& r, Paging_mode& out) {
  if (v.text == "ept" || v.text == "shadow") {
    out = v.text == "ept" ? Paging_mode::ept : Paging_mode::shadow;
    return true;
  }
  r.error(v.start_column, "expected a paging mode (ept or shadow), got {}", Quoted(v.text).view());
  return false;
}

bool check_shadow_pages(const Config_value& v, Config_reporter& r, u32& out) {
  const auto n = parse_config_number(v.text, shadow_pages_max);
  if (!n || *n < shadow_pages_min) {
    r.error(v.start_column, "expected a number of shadow table pages per VM ({}..{}), got {}", shadow_pages_min,
            shadow_pages_max, Quoted(v.text).view());
    return false;
  }
  out = static_cast<u32>(*n);
  return true;
}

bool check_args(const Config_value& v, Config_reporter& r, Config_string<vm_args_max>& out) {
  const std::string_view t = v.text;
  for (usize i = 0; i < t.size(); ++i) {
    const auto u = static_cast<u8>(t[i]);
    if (u < 0x20 || u >= 0x7f) {
      r.error(v.column_of(i), "bad character {} in args (expected printable ASCII)", Char_text(t[i]).view());
      return false;
    }
  }
  if (t.size() > vm_args_max) {
    r.error(v.start_column, "args is too long: {} characters, at most {}", t.size(), vm_args_max);
    return false;
  }
  return out.assign(t);
}

bool check_expectation(const Config_value& v, Config_reporter& r, Vm_expectation& out) {
  const std::string_view t = v.text;
  const Word kind = next_word(t, 0);
  const std::string_view kind_text = text_slice(t, kind.begin, kind.end);
  Vm_expectation result;
  usize done = kind.end; // end of what has been understood so far
  if (kind_text == "exit") {
    const Word status = next_word(t, kind.end);
    const std::string_view status_text = text_slice(t, status.begin, status.end);
    const auto n = parse_config_number(status_text, 0xffff'ffffu);
    if (!n) {
      r.error(v.column_of(status.begin), "expected an exit status after \"exit\" (0..{}), got {}", 0xffff'ffffu,
              Quoted(status_text).view());
      return false;
    }
    result.kind = Expect_kind::exit;
    result.status = static_cast<u32>(*n);
    done = status.end;
  } else if (kind_text == "triple-fault") {
    result.kind = Expect_kind::triple_fault;
  } else if (kind_text == "stop") {
    const Word reason = next_word(t, kind.end);
    const std::string_view reason_text = text_slice(t, reason.begin, reason.end);
    if (reason_text.empty()) {
      r.error(v.column_of(reason.begin), "expected a stop reason after \"stop\" (a word such as ept-outside-slot), got nothing");
      return false;
    }
    for (usize i = reason.begin; i < reason.end; ++i) {
      if (!is_word_char(t[i])) {
        r.error(v.column_of(i), "bad character {} in a stop reason (allowed: a-z A-Z 0-9 _ -)", Char_text(t[i]).view());
        return false;
      }
    }
    if (reason_text.size() > vm_stop_reason_max) {
      r.error(v.column_of(reason.begin), "stop reason is too long: {} characters, at most {}", reason_text.size(),
              vm_stop_reason_max);
      return false;
    }
    result.kind = Expect_kind::stop;
    (void)result.reason.assign(reason_text);
    done = reason.end;
  } else {
    r.error(v.start_column, expect_forms, Quoted(t).view());
    return false;
  }
  const Word extra = next_word(t, done);
  if (!extra.empty()) {
    r.error(v.column_of(extra.begin), "unexpected {} after {}", Quoted(text_slice(t, extra.begin)).view(),
            Quoted(text_slice(t, kind.begin, done)).view());
    return false;
  }
  out = result;
  return true;
}

bool check_yes_no(const Config_value& v, Config_reporter& r, bool& out) {
  if (v.text == "yes" || v.text == "no") {
    out = v.text == "yes";
    return true;
  }
  r.error(v.start_column, "expected yes or no, got {}", Quoted(v.text).view());
  return false;
}

bool check_on_off(const Config_value& v, Config_reporter& r, bool& out) {
  if (v.text == "on" || v.text == "off") {
    out = v.text == "on";
    return true;
  }
  r.error(v.start_column, "expected on or off, got {}", Quoted(v.text).view());
  return false;
}

bool check_merge_knob(const Config_value& v, Config_reporter& r, std::string_view knob, Merge_knobs& out) {
  const Merge_knob_info* info = find_merge_knob(knob);
  HV_ASSERT(info != nullptr);  // the parser only passes names from the knob table
  const auto n = parse_config_number(v.text, info->max);
  if (!n || *n < info->min) {
    r.error(v.start_column, "expected ksm_{} as a number {}..{} ({}), got {}", knob, info->min, info->max, info->meaning,
            Quoted(v.text).view());
    return false;
  }
  out.*(info->field) = static_cast<u32>(*n);
  return true;
}

bool check_vm_name(std::string_view name, u32 column, Config_reporter& r, Config_string<vm_name_max>& out) {
  (void)out.assign(name);
  for (usize i = 0; i < name.size(); ++i) {
    if (!is_word_char(name[i])) {
      r.error(column + static_cast<u32>(i), "bad character {} in a VM name (allowed: a-z A-Z 0-9 _ -)",
              Char_text(name[i]).view());
      return false;
    }
  }
  if (name.size() > vm_name_max) {
    r.error(column, "VM name is too long: {} characters, at most {}", name.size(), vm_name_max);
    return false;
  }
  return true;
}

} // namespace hv
