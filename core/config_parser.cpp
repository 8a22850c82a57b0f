// core/config_parser.cpp - hv.cfg from text to Config: lines, [vm NAME] sections, "key =
// value" settings, quoting. Both builds. One pass over the bytes, no allocation, no recursion:
// any input ends in time linear in its length. Values are judged in core/config_values.cpp.
#include "core/config.hpp"
#include "core/config_values.hpp"
#include <cstring>

namespace hv {
namespace {

enum class Key : u8 {
  log_level, console, quantum_us, on_all_stopped,
  ksm_run, ksm_pages_to_scan, ksm_sleep_millisecs, ksm_max_page_sharing, ksm_merge_across_vms, ksm_split_2m_min_pages,
  ksm_release_zero_pages, auto_balloon, shadow_paging, shadow_pages,
  memory, memory_current, image, kernel, initrd, cpus, paging, args, expect, autostart, merge,
};
inline constexpr usize key_count = 25;

struct Key_info {
  std::string_view name;
  bool per_vm;
};
constexpr std::array<Key_info, key_count> keys{{
    {"log_level", false}, {"console", false}, {"quantum_us", false}, {"on_all_stopped", false},
    {"ksm_run", false}, {"ksm_pages_to_scan", false}, {"ksm_sleep_millisecs", false}, {"ksm_max_page_sharing", false},
    {"ksm_merge_across_vms", false}, {"ksm_split_2m_min_pages", false}, {"ksm_release_zero_pages", false},
    {"auto_balloon", false}, {"shadow_paging", false}, {"shadow_pages", false},
    {"memory", true}, {"memory_current", true}, {"image", true}, {"kernel", true}, {"initrd", true},
    {"cpus", true}, {"paging", true}, {"args", true},
    {"expect", true}, {"autostart", true}, {"merge", true},
}};
// The table follows the enum: a key added to one and not the other fails here.
static_assert(keys[static_cast<usize>(Key::auto_balloon)].name == "auto_balloon" &&
              keys[static_cast<usize>(Key::memory_current)].name == "memory_current" &&
              keys[static_cast<usize>(Key::merge)].name == "merge" && key_count == static_cast<usize>(Key::merge) + 1);

std::optional<Key> find_key(std::string_view name) {
  for (usize i = 0; i < key_count; ++i)
    if (keys[i].name == name) return static_cast<Key>(i);
  return std::nullopt;
}

constexpr bool is_blank(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_key_end(char c) { return is_blank(c) || c == '=' || c == '#' || c == '"'; }

// A line without its CR/LF, with 1-based columns.
struct Line {
  std::string_view text;
  u32 number = 0;

  [[nodiscard]] u32 column(usize index) const { return static_cast<u32>(index + 1); }
  [[nodiscard]] usize skip_blanks(usize i) const {
    while (i < text.size() && is_blank(text[i])) ++i;
    return i;
  }
  [[nodiscard]] bool at_end_or_comment(usize i) const { return i == text.size() || text[i] == '#'; }
  // The rest of the line from i, up to a comment, without trailing blanks: what a message shows.
  [[nodiscard]] std::string_view rest(usize i) const {
    usize e = i;
    while (e < text.size() && text[e] != '#') ++e;
    while (e > i && is_blank(text[e - 1])) --e;
    return text_slice(text, i, e);
  }
};

class Parser {
public:
  explicit Parser(Config& config) : config_(config), report_(config) {}

  void run(std::string_view text);

private:
  enum class Section : u8 { globals, vm, skipped };

  void parse_line(const Line& line);
  void parse_header(const Line& line, usize open);
  void parse_setting(const Line& line, usize start);
  [[nodiscard]] bool read_value(const Line& line, usize start, Config_value& value);
  void apply(Key key, const Config_value& value);
  void open_vm(u32 line);
  void close_section();
  void sort_diagnostics();

  Config& config_;
  Config_reporter report_;
  Section section_ = Section::globals;
  u32 vm_ = config_global;
  bool header_ok_ = false;
  u32 header_column_ = 1;
  static_assert(config_max_vms <= 32, "well_named_ has one bit per VM");
  u32 well_named_ = 0; // bit n: VM n's name passed check_vm_name (only those can be duplicated)
  bool saw_content_ = false;
  // Where the current VM's memory_current value stands (column 0: absent or bad), for the range
  // check at the end of the section, when `memory` is known whatever their order.
  u32 current_line_ = 0;
  u32 current_column_ = 0;
  std::array<u32, key_count> global_key_line_{}; // 0: not set yet
  std::array<u32, key_count> vm_key_line_{};
  // A quoted value's contents with escapes undone, and where each character came from.
  std::array<char, config_max_line_length + 1> unescaped_{};
  std::array<u8, config_max_line_length + 2> offsets_{};
};

void Parser::run(std::string_view text) {
  if (text.size() > config_max_file_size) {
    report_.error_at(1, 1, config_global, "the file is {} bytes long; at most {}", text.size(), config_max_file_size);
    return;
  }
  // A NUL means this is not the text we expect (a binary, or UTF-16 from a Windows editor):
  // judging its lines would only produce noise.
  if (const void* nul = std::memchr(text.data(), 0, text.size())) {
    const usize at = static_cast<usize>(static_cast<const char*>(nul) - text.data());
    u32 line = 1;
    usize line_start = 0;
    for (usize i = 0; i < at; ++i)
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    report_.error_at(line, static_cast<u32>(at - line_start + 1), config_global,
                     "NUL byte: expected a text file (ASCII or UTF-8; UTF-16 is not supported)");
    return;
  }
  usize pos = 0;
  if (text.starts_with("\xEF\xBB\xBF")) pos = 3; // a UTF-8 byte order mark, as some editors write
  u32 number = 0;
  while (pos < text.size()) {
    const void* newline = std::memchr(text.data() + pos, '\n', text.size() - pos);
    const usize end = newline ? static_cast<usize>(static_cast<const char*>(newline) - text.data()) : text.size();
    Line line{text_slice(text, pos, end), ++number};
    if (!line.text.empty() && line.text.back() == '\r') line.text.remove_suffix(1); // CRLF
    parse_line(line);
    pos = end + 1;
  }
  close_section();
  if (!saw_content_)
    report_.error_at(1, 1, config_global, "the file is empty: expected settings or [vm NAME] sections");
  sort_diagnostics();
}

void Parser::parse_line(const Line& line) {
  report_.set_line(line.number, section_ == Section::vm ? vm_ : config_global);
  const usize first = line.skip_blanks(0);
  if (!line.at_end_or_comment(first)) saw_content_ = true;
  const bool header = first < line.text.size() && line.text[first] == '[';
  if (section_ == Section::skipped && !header) return;
  // A broken header line belongs to no section: do not blame the previous VM for it.
  if (header) report_.set_vm(config_global);
  if (line.text.size() > config_max_line_length) {
    report_.error(line.column(config_max_line_length), "line is longer than {} characters", config_max_line_length);
    if (header) {
      close_section();
      section_ = Section::skipped;
    }
    return;
  }
  for (usize i = 0; i < line.text.size(); ++i) {
    const auto c = static_cast<u8>(line.text[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      if (c == '\r') report_.error(line.column(i), "carriage return without a line feed (expected LF or CRLF line endings)");
      else report_.error(line.column(i), "control character {:#04x} (expected printable text)", c);
      if (header) {
        close_section();
        section_ = Section::skipped;
      }
      return;
    }
  }
  if (line.at_end_or_comment(first)) return;
  if (header) parse_header(line, first);
  else parse_setting(line, first);
}

void Parser::parse_header(const Line& line, usize open) {
  close_section();
  const std::string_view t = line.text;
  usize i = line.skip_blanks(open + 1);
  usize e = i;
  while (e < t.size() && !is_blank(t[e]) && t[e] != ']' && t[e] != '#') ++e;
  if (text_slice(t, i, e) != "vm") {
    report_.error(line.column(i), "expected \"vm\" after '[' (sections are [vm NAME]), got {}",
                  Quoted(line.rest(i)).view());
    section_ = Section::skipped;
    return;
  }
  if (config_.vm_count == config_max_vms) {
    report_.error(line.column(open), "too many VMs: at most {} [vm NAME] sections; this one is ignored",
                  config_max_vms);
    section_ = Section::skipped;
    return;
  }
  open_vm(line.number);
  header_column_ = line.column(open);
  Vm_config& vm = config_.vms[vm_];
  const usize name_start = line.skip_blanks(e);
  usize name_end = name_start;
  while (name_end < t.size() && !is_blank(t[name_end]) && t[name_end] != ']' && t[name_end] != '#') ++name_end;
  if (name_start == name_end || name_start == e) {
    report_.error(line.column(name_start), "expected a VM name after \"vm\", got {}",
                  Quoted(line.rest(name_start)).view());
    header_ok_ = false;
    return;
  }
  const std::string_view name = text_slice(t, name_start, name_end);
  if (!check_vm_name(name, line.column(name_start), report_, vm.name)) {
    header_ok_ = false;
    return;
  }
  for (u32 other = 0; other < vm_; ++other) {
    if ((well_named_ >> other & 1) != 0 && config_.vms[other].name == name) {
      report_.error(line.column(name_start), "duplicate VM name \"{}\" (first on line {})", name,
                    config_.vms[other].line);
      break;
    }
  }
  well_named_ |= u32{1} << vm_;
  const usize close = line.skip_blanks(name_end);
  if (close == t.size() || t[close] != ']') {
    report_.error(line.column(close), "expected ']' after the VM name, got {}", Quoted(line.rest(close)).view());
    header_ok_ = false;
    return;
  }
  const usize after = line.skip_blanks(close + 1);
  if (!line.at_end_or_comment(after))
    report_.error(line.column(after), "unexpected text after the section header: {}", Quoted(line.rest(after)).view());
}

void Parser::open_vm(u32 line) {
  vm_ = config_.vm_count++;
  Vm_config& vm = config_.vms[vm_];
  vm = Vm_config{};
  vm.line = line;
  section_ = Section::vm;
  header_ok_ = true;
  vm_key_line_ = {};
  current_line_ = 0;
  current_column_ = 0;
  report_.set_vm(vm_);
}

void Parser::close_section() {
  if (section_ == Section::vm && header_ok_) {
    const Vm_config& vm = config_.vms[vm_];
    const u32 column = header_column_;
    if (vm_key_line_[static_cast<usize>(Key::memory)] == 0)
      report_.error_at(vm.line, column, vm_, "VM \"{}\" has no \"memory\" (required: memory = MiB, {}..{})",
                       vm.name.view(), vm_memory_mib_min, vm_memory_mib_max);
    const u32 image_line = vm_key_line_[static_cast<usize>(Key::image)];
    const u32 kernel_line = vm_key_line_[static_cast<usize>(Key::kernel)];
    const u32 initrd_line = vm_key_line_[static_cast<usize>(Key::initrd)];
    if (image_line == 0 && kernel_line == 0)
      report_.error_at(vm.line, column, vm_,
                       "VM \"{}\" has no \"image\" or \"kernel\" (required: image = test-guest ELF or kernel = bzImage, in \\EFI\\hv\\guests\\)",
                       vm.name.view());
    if (image_line != 0 && kernel_line != 0)
      report_.error_at(image_line > kernel_line ? image_line : kernel_line, 1, vm_,
                       "VM \"{}\" has both \"image\" and \"kernel\": a VM boots either a test-guest ELF or a Linux kernel",
                       vm.name.view());
    if (initrd_line != 0 && kernel_line == 0)
      report_.error_at(initrd_line, 1, vm_, "\"initrd\" needs a \"kernel\" (a test-guest image takes no initrd)");
    // memory_current against memory (either may come first); only when both values were good.
    if (current_column_ != 0 && vm.memory_mib != 0)
      (void)check_memory_current_range(vm.memory_mib, vm.memory_current_mib, current_line_, current_column_, vm_, report_);
  }
  section_ = Section::globals;
  vm_ = config_global;
  report_.set_vm(config_global);
}

void Parser::parse_setting(const Line& line, usize start) {
  const std::string_view t = line.text;
  usize e = start;
  while (e < t.size() && !is_key_end(t[e])) ++e;
  const std::string_view name = text_slice(t, start, e);
  if (name.empty()) {
    report_.error(line.column(start), "expected a setting (key = value) or a [vm NAME] header, got {}",
                  Quoted(line.rest(start)).view());
    return;
  }
  const bool in_vm = section_ == Section::vm;
  const auto key = find_key(name);
  if (!key) {
    if (in_vm)
      report_.error(line.column(start),
                    "unknown key {} (VM keys: memory, memory_current, image, kernel, initrd, cpus, paging, args, expect, autostart, merge)",
                    Quoted(name).view());
    else
      report_.error(line.column(start),
                    "unknown key {} (global keys: log_level, console, quantum_us, on_all_stopped, auto_balloon, shadow_paging, shadow_pages, ksm_KNOB)",
                    Quoted(name).view());
    return;
  }
  const Key_info& info = keys[static_cast<usize>(*key)];
  if (info.per_vm && !in_vm) {
    report_.error(line.column(start), "\"{}\" belongs to a VM: put it in a [vm NAME] section", name);
    return;
  }
  if (!info.per_vm && in_vm) {
    report_.error(line.column(start), "\"{}\" is a global setting: put it before the first [vm NAME] section", name);
    return;
  }
  const usize equals = line.skip_blanks(e);
  if (equals == t.size() || t[equals] != '=') {
    report_.error(line.column(equals), "expected '=' after \"{}\", got {}", name, Quoted(line.rest(equals)).view());
    return;
  }
  Config_value value;
  if (!read_value(line, line.skip_blanks(equals + 1), value)) return;
  u32& seen = in_vm ? vm_key_line_[static_cast<usize>(*key)] : global_key_line_[static_cast<usize>(*key)];
  if (seen != 0) {
    report_.error(line.column(start), "duplicate key \"{}\" (first set on line {})", name, seen);
    return;
  }
  seen = line.number; // even if the value is bad: it is not "missing"
  apply(*key, value);
}

bool Parser::read_value(const Line& line, usize start, Config_value& value) {
  const std::string_view t = line.text;
  value.start_column = line.column(start);
  value.column = value.start_column;
  if (start == t.size() || t[start] != '"') {
    value.text = line.rest(start);
    return true;
  }
  usize n = 0;
  usize i = start + 1;
  for (;;) {
    if (i == t.size()) {
      report_.error(line.column(start), "unterminated string: expected a closing '\"'");
      return false;
    }
    if (t[i] == '"') break;
    usize from = i;
    if (t[i] == '\\') {
      if (i + 1 == t.size()) {
        report_.error(line.column(start), "unterminated string: expected a closing '\"'");
        return false;
      }
      if (t[i + 1] != '"' && t[i + 1] != '\\') {
        if (static_cast<u8>(t[i + 1]) > 0x20 && static_cast<u8>(t[i + 1]) < 0x7f)  // printable: shown as is
          report_.error(line.column(i), "unknown escape \\{} in a string (only \\\" and \\\\)", t[i + 1]);
        else
          report_.error(line.column(i), "unknown escape: '\\' then {} (only \\\" and \\\\)", Char_text(t[i + 1]).view());
        return false;
      }
      ++i;
    }
    offsets_[n] = static_cast<u8>(from - (start + 1));
    unescaped_[n++] = t[i++];
  }
  offsets_[n] = static_cast<u8>(i - (start + 1)); // "the end" points at the closing quote
  const usize after = line.skip_blanks(i + 1);
  if (!line.at_end_or_comment(after)) {
    report_.error(line.column(after), "unexpected text after the closing quote: {}", Quoted(line.rest(after)).view());
    return false;
  }
  value.text = std::string_view(unescaped_.data(), n);
  value.column = value.start_column + 1;
  value.raw_offsets = offsets_.data();
  value.quoted = true;
  return true;
}

void Parser::apply(Key key, const Config_value& v) {
  Config_globals& g = config_.globals;
  switch (key) {
  case Key::log_level: (void)check_log_level(v, report_, g.log_level); return;
  case Key::console: (void)check_console(v, report_, g.console); return;
  case Key::quantum_us: (void)check_quantum_us(v, report_, g.quantum_us); return;
  case Key::on_all_stopped: (void)check_on_all_stopped(v, report_, g.on_all_stopped); return;
  case Key::ksm_run:
  case Key::ksm_pages_to_scan:
  case Key::ksm_sleep_millisecs:
  case Key::ksm_max_page_sharing:
  case Key::ksm_merge_across_vms:
  case Key::ksm_split_2m_min_pages:
  case Key::ksm_release_zero_pages:
    (void)check_merge_knob(v, report_, keys[static_cast<usize>(key)].name.substr(4), g.ksm);
    return;
  case Key::auto_balloon: (void)check_on_off(v, report_, g.auto_balloon); return;
  case Key::shadow_paging: (void)check_on_off(v, report_, g.shadow_paging); return;
  case Key::shadow_pages: (void)check_shadow_pages(v, report_, g.shadow_pages); return;
  default: break;
  }
  Vm_config& vm = config_.vms[vm_];
  switch (key) {
  case Key::memory: (void)check_memory_mib(v, report_, vm.memory_mib); return;
  case Key::memory_current:
    if (check_memory_current_mib(v, report_, vm.memory_current_mib)) {
      current_line_ = report_.line();
      current_column_ = v.start_column;
    }
    return;
  case Key::image: (void)check_image(v, report_, vm.image); return;
  case Key::kernel:
    if (check_image(v, report_, vm.image)) vm.boots_kernel = true;
    return;
  case Key::initrd: (void)check_image(v, report_, vm.initrd); return;
  case Key::cpus: (void)check_cpu_list(v, report_, vm.cpu_affinity); return;
  case Key::paging: (void)check_paging(v, report_, vm.paging); return;
  case Key::args: (void)check_args(v, report_, vm.args); return;
  case Key::expect: (void)check_expectation(v, report_, vm.expect); return;
  case Key::autostart: (void)check_yes_no(v, report_, vm.autostart); return;
  case Key::merge: (void)check_on_off(v, report_, vm.merge); return;
  default: return;
  }
}

// Stable insertion sort by (line, column): the missing-key messages, found when a section
// ends, move up to their header line. At most config_max_diagnostics entries.
void Parser::sort_diagnostics() {
  auto before = [](const Config_diagnostic& a, const Config_diagnostic& b) {
    return a.line < b.line || (a.line == b.line && a.column < b.column);
  };
  for (u32 i = 1; i < config_.diagnostic_count; ++i) {
    for (u32 j = i; j > 0 && before(config_.diagnostics[j], config_.diagnostics[j - 1]); --j) {
      const Config_diagnostic moving = config_.diagnostics[j];
      config_.diagnostics[j] = config_.diagnostics[j - 1];
      config_.diagnostics[j - 1] = moving;
    }
  }
}

} // namespace

bool parse_config(std::string_view text, std::string_view file_name, Config& out) {
  out.reset();
  (void)out.file_name.assign(file_name);
  Parser parser(out);
  parser.run(text);
  return out.error_count() == 0;
}

} // namespace hv
