// lib/quoted_text.cpp - see quoted_text.hpp. Both builds.
#include "lib/quoted_text.hpp"

namespace hv {
namespace {

constexpr bool printable(u8 c) { return c >= 0x20 && c < 0x7f; }

// Writes one byte as the style shows it; returns how many bytes that took.
usize put_shown(Text_writer& out, char c, Quote_style::Escapes escapes) {
  const auto u = static_cast<u8>(c);
  if (escapes == Quote_style::Escapes::replace) {
    out.put(printable(u) ? c : '?');
    return 1;
  }
  if (c == '"' || c == '\\') {
    out.put('\\');
    out.put(c);
    return 2;
  }
  if (printable(u)) {
    out.put(c);
    return 1;
  }
  constexpr std::string_view hex = "0123456789abcdef";
  out.put('\\');
  out.put('x');
  out.put(hex[u >> 4]);
  out.put(hex[u & 0xF]);
  return 4;
}

} // namespace

void write_quoted(Text_writer& out, std::string_view text, const Quote_style& style) {
  if (text.empty() && !style.empty.empty()) {
    out.write(style.empty);
    return;
  }
  out.put('"');
  usize written = 0;
  bool cut = false;
  for (char c : text) {
    if (written >= style.max_bytes) {
      cut = true;
      break;
    }
    written += put_shown(out, c, style.escapes);
  }
  if (cut && style.cut_mark == Quote_style::Cut_mark::inside) out.write("...");
  out.put('"');
  if (cut && style.cut_mark == Quote_style::Cut_mark::outside) out.write("...");
}

} // namespace hv
