// boot/memory_setup.hpp - the frame allocator and the memory self-check (memory_setup.cpp).
// Freestanding build only.
#pragma once
#include "mm/frame_allocator.hpp"
#include "mm/memory_map.hpp"
#include "mm/paging_policy.hpp"

namespace hv::boot {

[[nodiscard]] Frame_allocator& frame_allocator();
[[nodiscard]] bool setup_frame_allocator(std::span<const Memory_region> map);
[[nodiscard]] bool run_memory_self_check(const Ept_config& config, bool invept_single_context);

} // namespace hv::boot
