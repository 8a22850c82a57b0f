// boot/cxx_runtime.cpp - the few C++ runtime hooks the freestanding build needs. Library
// headers call std::__throw_* where a hosted program would throw (string_view::substr past
// the end, for instance); without exceptions such a call is a hypervisor bug: panic.
// Freestanding build only.
#include "lib/panic.hpp"

namespace std {

[[noreturn]] void __throw_out_of_range_fmt(const char* fmt, ...) {
  hv::panic("cxx", "out of range: {}", fmt);
}
[[noreturn]] void __throw_out_of_range(const char* what) { hv::panic("cxx", "out of range: {}", what); }
[[noreturn]] void __throw_length_error(const char* what) { hv::panic("cxx", "length error: {}", what); }
[[noreturn]] void __throw_logic_error(const char* what) { hv::panic("cxx", "logic error: {}", what); }
[[noreturn]] void __throw_bad_optional_access() { hv::panic("cxx", "bad optional access"); }

} // namespace std
