// arch/x86/native/string_ops.cpp - memcpy/memset/memmove/memcmp/memchr/strlen for the freestanding build:
// the compiler emits calls to them for struct copies and large initialisers. Freestanding only.
// memcpy/memset use REP MOVSB/STOSB (fast on every CPU with ERMSB, correct on all).
#include "arch/x86/types.hpp"

extern "C" {

void* memcpy(void* dst, const void* src, hv::usize n) {
  void* ret = dst;
  asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
  return ret;
}

void* memset(void* dst, int value, hv::usize n) {
  void* ret = dst;
  asm volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(value) : "memory");
  return ret;
}

void* memmove(void* dst, const void* src, hv::usize n) {
  auto* d = static_cast<unsigned char*>(dst);
  auto* s = static_cast<const unsigned char*>(src);
  if (d <= s || d >= s + n) return memcpy(dst, src, n);
  // Overlapping with dst above src: copy backwards.
  d += n - 1;
  s += n - 1;
  asm volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return dst;
}

int memcmp(const void* a, const void* b, hv::usize n) {
  auto* x = static_cast<const unsigned char*>(a);
  auto* y = static_cast<const unsigned char*>(b);
  for (hv::usize i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

void* memchr(const void* s, int c, hv::usize n) {
  auto* p = static_cast<const unsigned char*>(s);
  for (hv::usize i = 0; i < n; ++i) {
    if (p[i] == static_cast<unsigned char>(c)) return const_cast<unsigned char*>(p + i);
  }
  return nullptr;
}

hv::usize strlen(const char* s) {
  hv::usize n = 0;
  while (s[n]) ++n;
  return n;
}

// Called if a pure virtual function is ever reached through a half-built object: a bug.
void __cxa_pure_virtual() {
  for (;;) asm volatile("cli; hlt");
}

} // extern "C"
