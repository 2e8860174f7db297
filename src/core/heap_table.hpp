// HeapTable: messages that did not fit the slab pool (pool empty, or larger than the
// largest class) live in process heap blocks. Shared memory refers to them only by an
// id that this native, per-process table validates: a forged or stale id finds
// nothing (never a raw pointer in shared memory).
//
// Freed blocks are kept for reuse, up to kRecycleBytes, in power-of-two size classes:
// a receiver that holds its buffers until garbage collection keeps the sender on this
// path, and fresh allocations of large blocks cost a page fault per 4 KiB.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace ringport {

struct HeapBlock {
  std::unique_ptr<uint8_t[]> data;
  uint32_t length = 0;     // bytes in use
  uint64_t allocated = 0;  // bytes allocated (a power of two), for reuse
};

class HeapTable {
 public:
  static constexpr uint64_t kRecycleBytes = uint64_t{64} << 20;
  static constexpr uint64_t kMinBlock = 4096;

  // A block of at least `length` bytes, reused if one is free; null data on failure.
  HeapBlock allocate(uint32_t length) noexcept {
    const unsigned cls = size_class(length);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& spare = spare_[cls];
      if (!spare.empty()) {
        HeapBlock b = std::move(spare.back());
        spare.pop_back();
        spare_bytes_ -= b.allocated;
        b.length = length;
        return b;
      }
    }
    HeapBlock b;
    const uint64_t bytes = uint64_t{1} << cls;
    b.data.reset(new (std::nothrow) uint8_t[bytes]);
    if (b.data) {
      b.length = length;
      b.allocated = bytes;
    }
    return b;
  }

  // Gives a block back for reuse (or frees it when enough are kept).
  void recycle(HeapBlock block) noexcept {
    if (!block.data || block.allocated == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_bytes_ + block.allocated > kRecycleBytes) return;  // freed on return
    const uint64_t bytes = block.allocated;
    try {
      spare_[size_class(static_cast<uint32_t>(bytes))].push_back(std::move(block));
      spare_bytes_ += bytes;
    } catch (const std::bad_alloc&) {
      // No room to keep it: the block is freed instead.
    }
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

  // Broadcast: a block many receivers share. The table holds one reference, dropped
  // by unshare() when the ring lets go of the message; each receiver holds another.
  uint64_t share(std::shared_ptr<HeapBlock> block) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = ++last_id_;
    shared_.emplace(id, std::move(block));
    return id;
  }

  // The shared block filed under `id` if it is there and `length` bytes long; else null.
  std::shared_ptr<HeapBlock> find_shared(uint64_t id, uint32_t length) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = shared_.find(id);
    if (it == shared_.end() || it->second->length != length) return nullptr;
    return it->second;
  }

  void unshare(uint64_t id) {
    std::shared_ptr<HeapBlock> last;  // freed outside the lock
    std::lock_guard<std::mutex> lock(mu_);
    auto it = shared_.find(id);
    if (it == shared_.end()) return;
    last = std::move(it->second);
    shared_.erase(it);
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return blocks_.size() + shared_.size();
  }

  uint64_t spare_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return spare_bytes_;
  }

 private:
  static unsigned size_class(uint32_t length) noexcept {
    unsigned cls = 12;  // log2(kMinBlock)
    while ((uint64_t{1} << cls) < length) ++cls;
    return cls;
  }

  mutable std::mutex mu_;
  uint64_t last_id_ = 0;
  std::unordered_map<uint64_t, HeapBlock> blocks_;
  std::unordered_map<uint64_t, std::shared_ptr<HeapBlock>> shared_;
  std::vector<HeapBlock> spare_[33];
  uint64_t spare_bytes_ = 0;
};

}  // namespace ringport
