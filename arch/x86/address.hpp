// arch/x86/address.hpp - strong address types, after KVM's names. Both builds.
//   Gva  guest virtual           Gpa / Gfn  guest physical address / frame number
//   Hva  the hypervisor's virtual  Hpa / Hfn  host physical address / frame number
// They never convert into each other silently: crossing an address space is always a named
// function (to_gfn, to_hpa, an EPT walk, ...). Arithmetic stays within one space.
#pragma once
#include "arch/x86/types.hpp"
#include <compare>

namespace hv {

template <typename Tag>
class Address {
public:
  constexpr Address() = default;
  constexpr explicit Address(u64 value) : value_(value) {}
  [[nodiscard]] constexpr u64 value() const { return value_; }
  [[nodiscard]] constexpr u64 page_offset() const { return value_ & (page_size_4k - 1); }
  [[nodiscard]] constexpr Address page_base() const { return Address(value_ & ~(page_size_4k - 1)); }
  [[nodiscard]] constexpr bool is_aligned(u64 alignment) const { return (value_ & (alignment - 1)) == 0; }
  constexpr Address operator+(u64 offset) const { return Address(value_ + offset); }
  constexpr Address operator-(u64 offset) const { return Address(value_ - offset); }
  constexpr u64 operator-(Address other) const { return value_ - other.value_; }
  constexpr Address& operator+=(u64 offset) { value_ += offset; return *this; }
  constexpr auto operator<=>(const Address&) const = default;

private:
  u64 value_ = 0;
};

template <typename Tag>
class Frame_number {
public:
  constexpr Frame_number() = default;
  constexpr explicit Frame_number(u64 value) : value_(value) {}
  [[nodiscard]] constexpr u64 value() const { return value_; }
  constexpr Frame_number operator+(u64 n) const { return Frame_number(value_ + n); }
  constexpr Frame_number operator-(u64 n) const { return Frame_number(value_ - n); }
  constexpr u64 operator-(Frame_number other) const { return value_ - other.value_; }
  constexpr Frame_number& operator++() { ++value_; return *this; }
  constexpr auto operator<=>(const Frame_number&) const = default;

private:
  u64 value_ = 0;
};

struct Gva_tag {};
struct Gpa_tag {};
struct Hva_tag {};
struct Hpa_tag {};

using Gva = Address<Gva_tag>;
using Gpa = Address<Gpa_tag>;
using Hva = Address<Hva_tag>;
using Hpa = Address<Hpa_tag>;
using Gfn = Frame_number<Gpa_tag>;
using Hfn = Frame_number<Hpa_tag>;

constexpr Gfn to_gfn(Gpa gpa) { return Gfn(gpa.value() >> page_shift); }
constexpr Hfn to_hfn(Hpa hpa) { return Hfn(hpa.value() >> page_shift); }
constexpr Gpa to_gpa(Gfn gfn) { return Gpa(gfn.value() << page_shift); }
constexpr Hpa to_hpa(Hfn hfn) { return Hpa(hfn.value() << page_shift); }

static_assert(sizeof(Hpa) == 8 && sizeof(Gfn) == 8, "addresses are one register wide");

} // namespace hv
