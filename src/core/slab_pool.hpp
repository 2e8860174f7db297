// SlabPool: fixed-size slabs carved from the shared arena, in a few size classes.
//
// Design:
// - Each class keeps a lock-free LIFO free list (a Treiber stack) whose head is a
//   64-bit word: (tag << 32) | (index + 1). The tag grows on every pop and push, so a
//   head that was popped and pushed back between our load and our CAS never matches
//   (ABA).
// - Links live in per-slab descriptors in shared memory as index + 1 (never a
//   pointer); every index read back is bounds-checked.
// - A lease is (class, index, generation). Acquiring bumps the slab's generation and
//   sets its leased bit; releasing CASes that exact (generation, leased) pair to
//   free, so only the first release of a lease returns the slab: a double release,
//   or a release of a stale lease, is a no-op.
// - Any thread may acquire or release (senders acquire, receivers' finalizers release).
#pragma once

#include <atomic>
#include <cstdint>

#include "layout.hpp"
#include "status.hpp"

namespace ringport {

struct Lease {
  uint32_t cls;
  uint32_t index;
  uint32_t generation;
};

class SlabPool {
 public:
  SlabPool() = default;
  SlabPool(uint8_t* base, const Layout& layout, Header& header) noexcept : base_(base), layout_(&layout), header_(&header) {}

  // Links every slab into its class's free list. Called once, before any sharing.
  static void format(uint8_t* base, const Layout& layout, Header& header) noexcept {
    for (uint32_t c = 0; c < layout.class_count; ++c) {
      auto* meta = reinterpret_cast<SlabMeta*>(base + layout.classes[c].meta_offset);
      const uint32_t n = layout.classes[c].slab_count;
      for (uint32_t i = 0; i < n; ++i) {
        // relaxed: the buffer is not shared yet; publishing the handle orders this.
        meta[i].next.store(i + 1 < n ? i + 2 : 0, std::memory_order_relaxed);
        meta[i].lease.store(0, std::memory_order_relaxed);
      }
      header.class_heads[c].top.store(n ? 1 : 0, std::memory_order_relaxed);
    }
  }

  // The smallest class whose slabs hold `bytes`; false if none does.
  bool class_for(uint64_t bytes, uint32_t* cls) const noexcept {
    for (uint32_t c = 0; c < layout_->class_count; ++c) {
      if (bytes <= layout_->classes[c].slab_size) {
        *cls = c;
        return true;
      }
    }
    return false;
  }

  // A slab for `bytes`: from the smallest class that holds them or, when that class
  // has none free, from the next larger class that has one (an idle larger slab beats
  // a heap block; only the pages written become resident). Empty when no such class
  // has a free slab, TooLarge when no class holds `bytes`; Corrupt.
  Status acquire_for(uint64_t bytes, Lease* out) noexcept {
    uint32_t cls;
    if (!class_for(bytes, &cls)) return Status::TooLarge;
    for (; cls < layout_->class_count; ++cls) {
      if (const Status s = acquire(cls, out); s != Status::Empty) return s;
    }
    return Status::Empty;
  }

  // Ok with *out leased to the caller; Empty when the class has no free slab.
  Status acquire(uint32_t cls, Lease* out) noexcept {
    const uint32_t count = layout_->classes[cls].slab_count;
    SlabMeta* meta = metas(cls);
    std::atomic<uint64_t>& head = header_->class_heads[cls].top;
    // acquire: pairs with the release CAS in push(); makes the pushed slab's `next` visible.
    uint64_t top = head.load(std::memory_order_acquire);
    uint32_t index;
    for (;;) {
      const uint32_t link = static_cast<uint32_t>(top);
      if (link == 0) return Status::Empty;
      if (link > count) return Status::Corrupt;
      index = link - 1;
      // relaxed: may be stale if another thread pops first; then the CAS fails.
      const uint32_t next = meta[index].next.load(std::memory_order_relaxed);
      if (next > count) return Status::Corrupt;
      const uint64_t replacement = (((top >> 32) + 1) << 32) | next;
      // acq_rel: acquire as above on success; release orders our later writes to the
      // slab after taking it. On failure, acquire re-reads the new head.
      if (head.compare_exchange_weak(top, replacement, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    // relaxed: the slab is ours alone now; the ring record that carries the lease
    // publishes this store with its release.
    const uint32_t generation = (meta[index].lease.load(std::memory_order_relaxed) >> 1) + 1;
    meta[index].lease.store((generation << 1) | 1, std::memory_order_relaxed);
    count_lease();
    *out = Lease{cls, index, generation};
    return Status::Ok;
  }

  // Returns the slab of `lease` to its free list, once. True if this call returned it.
  bool release(const Lease& lease) noexcept {
    if (!valid_index(lease)) return false;
    SlabMeta& m = metas(lease.cls)[lease.index];
    uint32_t expected = (lease.generation << 1) | 1;
    // acq_rel: release orders the holder's reads of the slab before the next owner's
    // writes (through push's release); only one of two racing releases succeeds.
    if (!m.lease.compare_exchange_strong(expected, lease.generation << 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      return false;
    }
    // relaxed: a statistic. Counted down before the push: the next owner's count-up
    // happens after it (through push's release), so in_use, and the high-water mark,
    // never exceed the slabs that exist.
    header_->pool.in_use.fetch_sub(1, std::memory_order_relaxed);
    push(lease.cls, lease.index);
    return true;
  }

  // Whether `lease` names a slab that is leased under that generation right now.
  bool is_leased(const Lease& lease) const noexcept {
    if (!valid_index(lease)) return false;
    // relaxed: the ring's acquire on tail already ordered the producer's store.
    return metas(lease.cls)[lease.index].lease.load(std::memory_order_relaxed) == ((lease.generation << 1) | 1);
  }

  uint8_t* data(const Lease& lease) const noexcept {
    const SlabClassInfo& k = layout_->classes[lease.cls];
    return base_ + k.arena_offset + uint64_t{lease.index} * k.slab_size;
  }
  uint32_t slab_size(uint32_t cls) const noexcept { return layout_->classes[cls].slab_size; }

 private:
  bool valid_index(const Lease& lease) const noexcept {
    return lease.cls < layout_->class_count && lease.index < layout_->classes[lease.cls].slab_count;
  }

  SlabMeta* metas(uint32_t cls) const noexcept { return reinterpret_cast<SlabMeta*>(base_ + layout_->classes[cls].meta_offset); }

  void push(uint32_t cls, uint32_t index) noexcept {
    std::atomic<uint64_t>& head = header_->class_heads[cls].top;
    SlabMeta& m = metas(cls)[index];
    // relaxed: the CAS below re-checks; its release publishes `next`.
    uint64_t top = head.load(std::memory_order_relaxed);
    uint64_t replacement;
    do {
      m.next.store(static_cast<uint32_t>(top), std::memory_order_relaxed);
      replacement = (((top >> 32) + 1) << 32) | (index + 1);
      // release: pairs with acquire()'s acquire load/CAS; publishes `next` and
      // orders our use of the slab before its next owner's.
    } while (!head.compare_exchange_weak(top, replacement, std::memory_order_release, std::memory_order_relaxed));
  }

  void count_lease() noexcept {
    // relaxed: statistics; no other memory depends on them. The + 1 is unsigned: the
    // counter is shared memory, so it may hold INT64_MAX (signed overflow, found by fuzzing).
    const int64_t now = static_cast<int64_t>(static_cast<uint64_t>(header_->pool.in_use.fetch_add(1, std::memory_order_relaxed)) + 1);
    int64_t high = header_->pool.high_water.load(std::memory_order_relaxed);
    while (now > high && !header_->pool.high_water.compare_exchange_weak(high, now, std::memory_order_relaxed)) {
    }
  }

  uint8_t* base_ = nullptr;
  const Layout* layout_ = nullptr;
  Header* header_ = nullptr;
};

}  // namespace ringport
