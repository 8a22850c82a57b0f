// lib/format.cpp - the formatter behind format_to (see format.hpp). Both builds.
#include "lib/format.hpp"

namespace hv {
namespace {

struct Spec {
  bool left = false;
  bool alternate = false;
  char fill = ' ';
  unsigned width = 0;
  char type = 0; // 0, 'x', 'X', 'b', 'd', 'c', 's'
  bool valid = true;
};

Spec parse_spec(std::string_view s) {
  Spec spec;
  usize i = 0;
  if (i < s.size() && (s[i] == '<' || s[i] == '>')) spec.left = s[i++] == '<';
  if (i < s.size() && s[i] == '#') { spec.alternate = true; ++i; }
  if (i < s.size() && s[i] == '0') { spec.fill = '0'; ++i; }
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    spec.width = spec.width * 10 + static_cast<unsigned>(s[i] - '0');
    if (spec.width > 128) spec.valid = false;
    ++i;
  }
  if (i < s.size()) {
    const char t = s[i++];
    if (t == 'x' || t == 'X' || t == 'b' || t == 'd' || t == 'c' || t == 's') spec.type = t;
    else spec.valid = false;
  }
  if (i != s.size()) spec.valid = false;
  return spec;
}

// Digits of v in base (2, 10, 16), most significant first, into buf; returns the count.
unsigned to_digits(u64 v, unsigned base, bool upper, char* buf) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[64];
  unsigned n = 0;
  do {
    tmp[n++] = digits[v % base];
    v /= base;
  } while (v != 0);
  for (unsigned i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}

void emit_padded(Text_writer& out, const Spec& spec, std::string_view prefix, std::string_view body) {
  const usize len = prefix.size() + body.size();
  const usize pad = spec.width > len ? spec.width - len : 0;
  if (spec.left) {
    out.write(prefix);
    out.write(body);
    for (usize i = 0; i < pad; ++i) out.put(' ');
  } else if (spec.fill == '0') {
    out.write(prefix); // zero padding goes between the prefix and the digits
    for (usize i = 0; i < pad; ++i) out.put('0');
    out.write(body);
  } else {
    for (usize i = 0; i < pad; ++i) out.put(' ');
    out.write(prefix);
    out.write(body);
  }
}

void emit_number(Text_writer& out, const Spec& spec, u64 magnitude, bool negative, char type) {
  char buf[64];
  unsigned base = 10;
  std::string_view prefix = negative ? "-" : "";
  if (type == 'x' || type == 'X') {
    base = 16;
    if (spec.alternate) prefix = negative ? (type == 'X' ? "-0X" : "-0x") : (type == 'X' ? "0X" : "0x");
  } else if (type == 'b') {
    base = 2;
    if (spec.alternate) prefix = negative ? "-0b" : "0b";
  }
  const unsigned n = to_digits(magnitude, base, type == 'X', buf);
  emit_padded(out, spec, prefix, std::string_view(buf, n));
}

void emit_arg(Text_writer& out, const Spec& spec, const Fmt_arg& arg) {
  switch (arg.kind) {
  case Fmt_arg::Kind::unsigned_int:
    if (spec.type == 'c') return emit_padded(out, spec, "", std::string_view(reinterpret_cast<const char*>(&arg.u), 1));
    return emit_number(out, spec, arg.u, false, spec.type);
  case Fmt_arg::Kind::signed_int: {
    // As std::format: a negative number is a sign and a magnitude in every base.
    const bool negative = arg.i < 0;
    const u64 magnitude = negative ? ~static_cast<u64>(arg.i) + 1 : static_cast<u64>(arg.i);
    const char type = spec.type == 'x' || spec.type == 'X' || spec.type == 'b' ? spec.type : 'd';
    return emit_number(out, spec, magnitude, negative, type);
  }
  case Fmt_arg::Kind::boolean:
    if (spec.type == 'd') return emit_number(out, spec, arg.u, false, 'd');
    return emit_padded(out, spec, "", arg.u ? "yes" : "no");
  case Fmt_arg::Kind::character: {
    const char c = static_cast<char>(arg.u);
    if (spec.type == 'x' || spec.type == 'X' || spec.type == 'd') return emit_number(out, spec, arg.u, false, spec.type);
    return emit_padded(out, spec, "", std::string_view(&c, 1));
  }
  case Fmt_arg::Kind::string:
    return emit_padded(out, spec, "", arg.s);
  case Fmt_arg::Kind::pointer:
  case Fmt_arg::Kind::address: {
    if (spec.type == 'd') return emit_number(out, spec, arg.u, false, 'd');
    Spec hex = spec;
    if (spec.type == 0) hex.alternate = true; // addresses read as 0x... unless asked otherwise
    return emit_number(out, hex, arg.u, false, spec.type == 'X' ? 'X' : 'x');
  }
  }
}

} // namespace

void vformat(Text_writer& out, std::string_view fmt, std::span<const Fmt_arg> args) {
  usize next = 0;
  for (usize i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') { out.put('}'); ++i; continue; }
    if (c != '{') { out.put(c); continue; }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') { out.put('{'); ++i; continue; }
    const usize close = fmt.find('}', i + 1);
    if (close == std::string_view::npos) { out.write("{?"); return; }
    std::string_view inner = fmt.substr(i + 1, close - i - 1);
    i = close;
    Spec spec;
    if (!inner.empty()) {
      if (inner[0] != ':') { out.write("{?}"); continue; }
      spec = parse_spec(inner.substr(1));
    }
    if (!spec.valid) { out.write("{?}"); continue; }
    if (next >= args.size()) { out.write("{missing}"); continue; }
    emit_arg(out, spec, args[next++]);
  }
}

} // namespace hv
