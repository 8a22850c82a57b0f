// mm/merge/page_hash.cpp - see page_hash.hpp. Both builds. In hv (general registers only in VMX
// root) xxHash runs its scalar code; hosted builds use its SSE2 code.
#include "mm/merge/page_hash.hpp"
#if HV_FREESTANDING
#define XXH_VECTOR 0  // XXH_SCALAR: no SIMD registers in VMX root
#endif
#define XXH_INLINE_ALL
#define XXH_NO_STREAM
#include <xxhash.h>

namespace hv {

u64 hash_bytes(const void* p, u64 bytes) { return XXH3_64bits(p, bytes); }

bool pages_equal(const void* a, const void* b, u64 bytes) {
  const auto* x = static_cast<const u64*>(a);
  const auto* y = static_cast<const u64*>(b);
  for (u64 i = 0; i < bytes / 8; i += 4) {
    if (((x[i] ^ y[i]) | (x[i + 1] ^ y[i + 1]) | (x[i + 2] ^ y[i + 2]) | (x[i + 3] ^ y[i + 3])) != 0) return false;
  }
  return true;
}

bool page_is_zero(const void* p, u64 bytes) {
  const auto* x = static_cast<const u64*>(p);
  for (u64 i = 0; i < bytes / 8; i += 4) {
    if ((x[i] | x[i + 1] | x[i + 2] | x[i + 3]) != 0) return false;
  }
  return true;
}

} // namespace hv
