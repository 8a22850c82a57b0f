// arch/x86/types.hpp - fixed-width integer names used throughout hv. Both builds.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hv {
using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i8 = std::int8_t;
using i16 = std::int16_t;
using i32 = std::int32_t;
using i64 = std::int64_t;
using usize = std::size_t;

inline constexpr u64 KiB = 1024;
inline constexpr u64 MiB = 1024 * KiB;
inline constexpr u64 GiB = 1024 * MiB;
inline constexpr u64 page_size_4k = 4 * KiB;
inline constexpr u64 page_size_2m = 2 * MiB;
inline constexpr u64 page_size_1g = 1 * GiB;
inline constexpr unsigned page_shift = 12;
// "No CPU": a CPU index that names none (no per-CPU cache, not queued anywhere).
inline constexpr u32 no_cpu = ~u32{0};
} // namespace hv
