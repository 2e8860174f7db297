// HeapTable: messages that did not fit the slab pool (pool empty, or larger than the
// largest class) live in process heap blocks. Shared memory refers to them only by an
// id that this native, per-process table validates: a forged or stale id finds
// nothing (DESIGN.md: never a raw pointer in shared memory).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>

namespace ringport {

struct HeapBlock {
  std::unique_ptr<uint8_t[]> data;
  uint32_t length = 0;
};

class HeapTable {
 public:
  // Allocates a block of `length` bytes; null on allocation failure.
  static HeapBlock allocate(uint32_t length) noexcept {
    HeapBlock b;
    b.data.reset(new (std::nothrow) uint8_t[length ? length : 1]);
    b.length = b.data ? length : 0;
    return b;
  }

  // Files `block` under a fresh id (never 0).
  uint64_t put(HeapBlock block) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = ++last_id_;
    blocks_.emplace(id, std::move(block));
    return id;
  }

  // Takes the block filed under `id` if it is there and `length` bytes long.
  bool take(uint64_t id, uint32_t length, HeapBlock* out) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(id);
    if (it == blocks_.end() || it->second.length != length) return false;
    *out = std::move(it->second);
    blocks_.erase(it);
    return true;
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return blocks_.size();
  }

 private:
  mutable std::mutex mu_;
  uint64_t last_id_ = 0;
  std::unordered_map<uint64_t, HeapBlock> blocks_;
};

}  // namespace ringport
