// mm/direct_map.hpp - how the hypervisor reaches host physical memory: every byte of RAM is
// mapped at Hva = Hpa + offset (Linux's __va/__pa). Both builds.
//   freestanding: the host page tables identity-map RAM, so offset = 0;
//   hosted:       tests back "physical memory" with a heap arena and set offset = arena - base.
// A plain offset (not a virtual call) because the EPT walks call it once per level per access.
#pragma once
#include "arch/x86/address.hpp"

namespace hv {

class Direct_map {
public:
  constexpr Direct_map() = default;
  constexpr explicit Direct_map(i64 offset) : offset_(offset) {}
  template <typename T = void>
  [[nodiscard]] T* ptr(Hpa hpa) const {
    return reinterpret_cast<T*>(static_cast<u64>(static_cast<i64>(hpa.value()) + offset_));
  }
  [[nodiscard]] Hpa hpa(const void* p) const {
    return Hpa(static_cast<u64>(static_cast<i64>(reinterpret_cast<u64>(p)) - offset_));
  }
  [[nodiscard]] constexpr i64 offset() const { return offset_; }

private:
  i64 offset_ = 0;
};

} // namespace hv
