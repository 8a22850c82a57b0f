// lib/format.hpp - a small, type-safe text formatter for both builds (no heap, no floats,
// no exceptions: usable in VMX root). Syntax is a subset of std::format:
//   {}            the argument in its natural form (addresses print as 0x-hex)
//   {:x} {:X}     hexadecimal        {:#x}  with 0x prefix      {:b}  binary     {:c} char
//   {:8} {:<8}    width, right / left aligned     {:08x}  zero padded
//   {{ and }}     literal braces
// A mismatch (too few arguments, a bad spec) prints a visible marker such as {?} instead of
// failing: a log line must never take the hypervisor down.
#pragma once
#include "arch/x86/address.hpp"
#include "arch/x86/types.hpp"
#include <array>
#include <concepts>
#include <span>
#include <string_view>

namespace hv {

struct Fmt_arg {
  enum class Kind : u8 { unsigned_int, signed_int, boolean, character, string, pointer, address };
  Kind kind = Kind::unsigned_int;
  u64 u = 0;
  i64 i = 0;
  std::string_view s;
};

template <std::unsigned_integral T>
constexpr Fmt_arg to_fmt_arg(T v) { return {Fmt_arg::Kind::unsigned_int, v, 0, {}}; }
template <std::signed_integral T>
constexpr Fmt_arg to_fmt_arg(T v) { return {Fmt_arg::Kind::signed_int, 0, v, {}}; }
constexpr Fmt_arg to_fmt_arg(bool v) { return {Fmt_arg::Kind::boolean, v ? 1u : 0u, 0, {}}; }
constexpr Fmt_arg to_fmt_arg(char v) { return {Fmt_arg::Kind::character, static_cast<u8>(v), 0, {}}; }
constexpr Fmt_arg to_fmt_arg(std::string_view v) { return {Fmt_arg::Kind::string, 0, 0, v}; }
constexpr Fmt_arg to_fmt_arg(const char* v) {
  return {Fmt_arg::Kind::string, 0, 0, v ? std::string_view(v) : std::string_view("(null)")};
}
inline Fmt_arg to_fmt_arg(const void* v) {
  return {Fmt_arg::Kind::pointer, reinterpret_cast<u64>(v), 0, {}};
}
template <typename Tag>
constexpr Fmt_arg to_fmt_arg(Address<Tag> a) { return {Fmt_arg::Kind::address, a.value(), 0, {}}; }
template <typename Tag>
constexpr Fmt_arg to_fmt_arg(Frame_number<Tag> f) { return {Fmt_arg::Kind::address, f.value(), 0, {}}; }

// Where formatted text goes.
class Text_writer {
public:
  virtual void put(char c) = 0;
  void write(std::string_view s) {
    for (char c : s) put(c);
  }

protected:
  ~Text_writer() = default;
};

// A fixed-capacity text buffer; overflow is cut and remembered, never written past the end.
template <usize Capacity>
class Fixed_text final : public Text_writer {
public:
  void put(char c) override {
    if (size_ < Capacity) buf_[size_++] = c;
    else truncated_ = true;
  }
  [[nodiscard]] std::string_view view() const { return {buf_.data(), size_}; }
  [[nodiscard]] bool truncated() const { return truncated_; }
  [[nodiscard]] usize size() const { return size_; }
  void clear() { size_ = 0; truncated_ = false; }
  // Drops the last n characters (used to make room for a suffix).
  void shrink_to(usize n) { if (n < size_) size_ = n; }

private:
  std::array<char, Capacity> buf_{};
  usize size_ = 0;
  bool truncated_ = false;
};

void vformat(Text_writer& out, std::string_view fmt, std::span<const Fmt_arg> args);

template <typename... Args>
void format_to(Text_writer& out, std::string_view fmt, const Args&... args) {
  const std::array<Fmt_arg, sizeof...(Args)> packed{to_fmt_arg(args)...};
  vformat(out, fmt, packed);
}

} // namespace hv
