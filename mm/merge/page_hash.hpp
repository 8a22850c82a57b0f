// mm/merge/page_hash.hpp - hashing and comparing guest pages for the merger. Both builds.
// The hash is XXH64 (xxHash, header-only from Debian's libxxhash-dev); it only picks candidates:
// every merge is confirmed by pages_equal on write-protected contents.
#pragma once
#include "arch/x86/types.hpp"

namespace hv {

[[nodiscard]] u64 hash_bytes(const void* p, u64 bytes);
[[nodiscard]] inline u64 hash_page_4k(const void* p) { return hash_bytes(p, page_size_4k); }
// A 2 MiB frame's hash: the hash of its 512 page hashes (computed once per scan anyway).
[[nodiscard]] inline u64 hash_2m_from_pages(const u64 (&page_hashes)[512]) { return hash_bytes(page_hashes, sizeof(page_hashes)); }
// Word-wise equality and zero tests (the freestanding memcmp is a byte loop).
[[nodiscard]] bool pages_equal(const void* a, const void* b, u64 bytes);
[[nodiscard]] bool page_is_zero(const void* p, u64 bytes);

} // namespace hv
