// devices/hypercall.cpp - see hypercall.hpp: the hypercalls that run out of line. Both builds.
#include "devices/hypercall.hpp"

namespace hv {

i64 run_hypercall(const Hypercall_args& args, Hypercall_counters& counters) {
  (void)args;  // every implemented number answers inline (hypercall.hpp): the rest are unknown
  ++counters.unknown;
  return HC_ENOSYS;
}

} // namespace hv
