// devices/hypercall.cpp - see hypercall.hpp. Both builds.
#include "devices/hypercall.hpp"

namespace hv {

i64 dispatch_hypercall(const Hypercall_args& args, Hypercall_counters& counters) {
  ++counters.calls;
  if (args.cpl != 0) {
    ++counters.refused_cpl;
    return HC_EPERM;
  }
  switch (args.nr) {
  case hc::NOP: return 0;
  case hc::VERSION: return hypercall_interface_version;
  case hc::FEATURES: return static_cast<i64>(hc_feature::NOP | hc_feature::VERSION);
  default:
    ++counters.unknown;
    return HC_ENOSYS;
  }
}

} // namespace hv
