// tests/unit/support/sparse_guest_memory.hpp - guest RAM for loader tests, as demand-populated
// memory behaves: zero until written, writes beyond `size` refused, a page that can be made to
// refuse writes (out of host memory).
#pragma once
#include "core/guest_loader.hpp"
#include <array>
#include <cstring>
#include <map>

namespace hv::test {

// Guest RAM as the demand-populated memory behaves: zero until written, writes beyond
// `size` refused. Writes touching the 4 KiB page at `refuse_page` fail (out of host memory).
class Sparse_guest_memory final : public Guest_physical_writer {
public:
  explicit Sparse_guest_memory(u64 size) : size_(size) {}
  bool write(Gpa gpa, std::span<const u8> bytes) override {
    ++writes;
    const u64 at = gpa.value();
    if (at + bytes.size() > size_) return false;
    if (at < refuse_page + page_size_4k && at + bytes.size() > refuse_page) return false;
    for (usize done = 0; done < bytes.size();) {
      const u64 a = at + done;
      const usize in_page = static_cast<usize>(page_size_4k - (a % page_size_4k));
      const usize n = in_page < bytes.size() - done ? in_page : bytes.size() - done;
      std::memcpy(page(a / page_size_4k).data() + a % page_size_4k, bytes.data() + done, n);
      done += n;
    }
    return true;
  }
  [[nodiscard]] u8 byte(u64 a) const {
    const auto it = pages_.find(a / page_size_4k);
    return it == pages_.end() ? 0 : it->second[a % page_size_4k];
  }
  template <typename T>
  [[nodiscard]] T read(u64 a) const {
    u8 b[sizeof(T)];
    for (usize i = 0; i < sizeof b; ++i) b[i] = byte(a + i);
    T v;
    std::memcpy(&v, b, sizeof v);
    return v;
  }
  [[nodiscard]] bool touched(u64 a) const { return pages_.count(a / page_size_4k) != 0; }
  [[nodiscard]] usize pages_touched() const { return pages_.size(); }

  u64 refuse_page = ~0ull - page_size_4k;
  u64 writes = 0;

private:
  std::array<u8, 4096>& page(u64 n) {
    auto [it, inserted] = pages_.try_emplace(n);
    if (inserted) it->second.fill(0);
    return it->second;
  }
  u64 size_;
  std::map<u64, std::array<u8, 4096>> pages_;
};

} // namespace hv::test
