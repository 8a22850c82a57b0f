// mm/merge/frame_array.hpp - a growable array of plain records whose storage is a block of host
// frames from a Frame_source (hv has no heap). Both builds.
//
// Growing allocates the next larger block, copies, and frees the old one; a failed allocation is
// a `false` result and leaves the array as it was. Used for the merger's and the reverse map's
// tables, which grow with the guest memory they describe.
#pragma once
#include "mm/direct_map.hpp"
#include "mm/frame_source.hpp"
#include <cstring>
#include <type_traits>
#include <utility>

namespace hv {

template <typename T>
class Frame_array {
  static_assert(std::is_trivially_copyable_v<T>, "records are moved with memcpy");

public:
  Frame_array(Frame_source& frames, Direct_map map) : frames_(&frames), map_(map) {}
  ~Frame_array() { release(); }
  Frame_array(const Frame_array&) = delete;
  Frame_array& operator=(const Frame_array&) = delete;

  [[nodiscard]] u64 size() const { return size_; }
  [[nodiscard]] u64 capacity() const { return capacity_; }
  [[nodiscard]] u64 bytes() const { return base_ ? page_size_4k << order_ : 0; }
  [[nodiscard]] T& operator[](u64 i) { return data_[i]; }
  [[nodiscard]] const T& operator[](u64 i) const { return data_[i]; }
  [[nodiscard]] T* data() { return data_; }

  // Room for at least `n` records (contents of new slots are zero). False: out of memory.
  [[nodiscard]] bool reserve(u64 n) {
    if (n <= capacity_) return true;
    unsigned order = base_ ? order_ : 0;
    while ((page_size_4k << order) / sizeof(T) < n) {
      if (order == max_order) return false;
      ++order;
    }
    const auto block = frames_->alloc_frames(order, Frame_use::hypervisor, no_vm);
    if (!block) return false;
    T* fresh = map_.ptr<T>(*block);
    const u64 bytes = page_size_4k << order;
    if (size_) std::memcpy(static_cast<void*>(fresh), data_, size_ * sizeof(T));
    std::memset(reinterpret_cast<u8*>(fresh) + size_ * sizeof(T), 0, bytes - size_ * sizeof(T));
    release_block();
    base_ = *block;
    order_ = order;
    data_ = fresh;
    capacity_ = bytes / sizeof(T);
    return true;
  }
  // Size becomes `n` (growing if needed; new records are zero). False: out of memory.
  [[nodiscard]] bool resize(u64 n) {
    if (!reserve(n)) return false;
    if (n > size_) std::memset(static_cast<void*>(data_ + size_), 0, (n - size_) * sizeof(T));
    size_ = n;
    return true;
  }
  [[nodiscard]] bool push_back(const T& v) {
    if (size_ == capacity_ && !reserve(size_ ? size_ * 2 : 1)) return false;
    data_[size_++] = v;
    return true;
  }
  void clear() { size_ = 0; }
  void swap(Frame_array& other) {
    std::swap(frames_, other.frames_);
    std::swap(map_, other.map_);
    std::swap(base_, other.base_);
    std::swap(order_, other.order_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }
  [[nodiscard]] Frame_source& frames() const { return *frames_; }
  [[nodiscard]] Direct_map map() const { return map_; }
  // Gives the storage back.
  void release() {
    release_block();
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

private:
  void release_block() {
    if (base_) frames_->free_frames(*base_, order_);
    base_.reset();
  }

  Frame_source* frames_;
  Direct_map map_;
  std::optional<Hpa> base_;
  unsigned order_ = 0;
  T* data_ = nullptr;
  u64 size_ = 0;
  u64 capacity_ = 0;
};

} // namespace hv
