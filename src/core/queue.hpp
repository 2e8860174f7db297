// The queue channel: one producer, one consumer, FIFO, every message delivered once.
//
// Design:
// - ChannelMemory is a validated view of one channel's shared memory. Geometry is
//   copied out of the identity block once, at attach, and never re-read.
// - Small payloads (<= inline_max) travel inline in the record ring and are copied
//   out by the consumer. Larger ones are written into a pool slab (or, when the pool
//   is empty or the message is larger than every class, a heap block filed in the
//   process-local HeapTable) and the ring carries a 16-byte descriptor; the consumer
//   hands that memory to JS without copying and releases it later.
// - Backpressure counts payload bytes: a send waits while buffered bytes plus its own
//   would exceed `capacity`, unless nothing is buffered (so a message larger than the
//   capacity is accepted once the channel is empty: never a deadlock). The ring is
//   twice the capacity, so record headers do not shrink the payload budget.
// - Room is checked before any slab is taken, so a Full send leaves nothing behind.
// - State bits (layout.hpp) are only ever set. The producer sets its close bits after
//   publishing its last record; the consumer reads state with acquire and re-reads
//   tail before it reports an end, so nothing committed before a close is lost.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

#include "doorbell.hpp"
#include "heap_table.hpp"
#include "layout.hpp"
#include "record_ring.hpp"
#include "slab_pool.hpp"
#include "status.hpp"

namespace ringport {

// Descriptor carried by Slab and Heap records.
struct SlabRef {
  uint32_t cls;
  uint32_t index;
  uint32_t generation;
  uint32_t length;
};
struct HeapRef {
  uint64_t id;
  uint32_t length;
  uint32_t reserved;
};
static_assert(sizeof(SlabRef) == 16 && sizeof(HeapRef) == 16);

struct ChannelStats {
  uint64_t sent, received, bytes_sent, bytes_received;
  uint64_t pool_slabs;
  int64_t pool_in_use, pool_high_water;
  uint64_t pool_fallbacks;
};

class ChannelMemory {
 public:
  ChannelMemory() = default;

  // Formats `bytes` at `base` (8-byte aligned, zero-filled) for `layout`.
  static Status initialize(uint8_t* base, uint64_t bytes, const Layout& layout) noexcept {
    if (reinterpret_cast<uintptr_t>(base) % 8 != 0 || bytes < layout.total_bytes) return Status::InvalidArgument;
    auto* header = new (base) Header();
    const IdentityBlock id = layout.to_identity();
    std::memcpy(&header->identity, &id, sizeof id);
    SlabPool::format(base, layout, *header);
    return Status::Ok;
  }

  // Validates the memory at `base` and binds this view to it. Corrupt on a foreign
  // buffer, another layout version, or impossible geometry.
  static Status attach(uint8_t* base, uint64_t bytes, ChannelMemory* out) noexcept {
    if (base == nullptr || bytes < kHeaderBytes || reinterpret_cast<uintptr_t>(base) % 8 != 0) return Status::Corrupt;
    IdentityBlock id;
    std::memcpy(&id, base, sizeof id);  // one private copy; validated, then trusted
    if (id.magic != kMagic || id.version != kLayoutVersion) return Status::Corrupt;
    Layout layout = Layout::from_identity(id);
    if (Status s = layout.validate(bytes); s != Status::Ok) return s;
    out->base_ = base;
    out->layout_ = layout;
    out->header_ = reinterpret_cast<Header*>(base);
    return Status::Ok;
  }

  uint8_t* base() const noexcept { return base_; }
  const Layout& layout() const noexcept { return layout_; }
  Header& header() const noexcept { return *header_; }
  uint8_t* ring() const noexcept { return base_ + layout_.ring_offset; }

  // Claims `role` (role_bits). RoleTaken if some thread claimed it before.
  Status claim_role(uint32_t role) noexcept {
    // acq_rel: a single winner; nothing else is published through roles.
    const uint32_t before = header_->state.roles.fetch_or(role, std::memory_order_acq_rel);
    return (before & role) ? Status::RoleTaken : Status::Ok;
  }

  uint32_t state() const noexcept {
    // acquire: pairs with set_state()'s release; a close seen here comes after the
    // records the closing side published before it.
    return header_->state.state.load(std::memory_order_acquire);
  }

  // Sets `bits` and rings both doorbells so that every sleeper re-checks.
  void set_state(uint32_t bits) noexcept {
    // release: orders the caller's last publish (and the error text) before the bit.
    header_->state.state.fetch_or(bits, std::memory_order_release);
    Doorbell(header_->data_bell).ring();
    Doorbell(header_->space_bell).ring();
  }

  // Stores the error of closeWithError(); text is truncated to fit the area.
  void write_error(std::string_view name, std::string_view message, std::string_view code) noexcept {
    ErrorArea& e = header_->error;
    const std::size_t room = sizeof e.text;
    const std::size_t n = name.size() < room ? name.size() : room;
    const std::size_t c = code.size() < room - n ? code.size() : room - n;
    const std::size_t m = message.size() < room - n - c ? message.size() : room - n - c;
    // An empty string_view may hold a null pointer, which memcpy must not see.
    if (n) std::memcpy(e.text, name.data(), n);
    if (c) std::memcpy(e.text + n, code.data(), c);
    if (m) std::memcpy(e.text + n + c, message.data(), m);
    e.name_len = static_cast<uint32_t>(n);
    e.code_len = static_cast<uint32_t>(c);
    e.message_len = static_cast<uint32_t>(m);
  }

  // Reads the error back, bounds-checked: false if the lengths cannot be right.
  bool read_error(std::string_view* name, std::string_view* message, std::string_view* code) const noexcept {
    const ErrorArea& e = header_->error;
    const uint64_t n = e.name_len, c = e.code_len, m = e.message_len;
    if (n + c + m > sizeof e.text) return false;
    *name = std::string_view(e.text, n);
    *code = std::string_view(e.text + n, c);
    *message = std::string_view(e.text + n + c, m);
    return true;
  }

  ChannelStats stats() const noexcept {
    // relaxed: counters for observation only (folly-style "approx").
    const Header& h = *header_;
    ChannelStats s{};
    s.sent = h.producer.messages.load(std::memory_order_relaxed);
    s.bytes_sent = h.producer.bytes.load(std::memory_order_relaxed);
    s.received = h.consumer.messages.load(std::memory_order_relaxed);
    s.bytes_received = h.consumer.bytes.load(std::memory_order_relaxed);
    s.pool_slabs = layout_.slab_count();
    s.pool_in_use = h.pool.in_use.load(std::memory_order_relaxed);
    s.pool_high_water = h.pool.high_water.load(std::memory_order_relaxed);
    s.pool_fallbacks = h.pool.fallbacks.load(std::memory_order_relaxed);
    return s;
  }

 private:
  uint8_t* base_ = nullptr;
  Layout layout_;
  Header* header_ = nullptr;
};

// The producing end. One per channel; lives in the producer's thread.
class QueueProducer {
 public:
  QueueProducer(ChannelMemory& memory, HeapTable& heap) noexcept
      : memory_(memory),
        heap_(heap),
        ring_(memory.ring(), memory.layout().ring_bytes, memory.header().producer, memory.header().consumer),
        pool_(memory.base(), memory.layout(), memory.header()),
        data_bell_(memory.header().data_bell) {
    // relaxed: only this producer writes these; see RingProducer's constructor.
    messages_ = memory.header().producer.messages.load(std::memory_order_relaxed);
    bytes_ = memory.header().producer.bytes.load(std::memory_order_relaxed);
    cached_received_bytes_ = bytes_;
  }

  // Copies `len` bytes into the channel. Never waits.
  // Ok · Full · Closed · Disconnected · TooLarge · Corrupt.
  // `*rang` is set when a sleeping consumer was flagged and must be woken.
  Status try_send(const uint8_t* data, uint32_t len, bool* rang) noexcept {
    *rang = false;
    if (Status s = check_open(); s != Status::Ok) return s;
    if (len > memory_.layout().max_message_size) return Status::TooLarge;
    const bool inline_payload = len <= memory_.layout().inline_max;
    if (Status s = check_room(inline_payload ? len : sizeof(SlabRef), len); s != Status::Ok) return s;
    uint8_t* at = nullptr;
    if (inline_payload) {
      claim_unchecked(RecordType::Inline, len, &at);
      if (len) std::memcpy(at, data, len);  // an empty JS array may have a null data pointer
    } else if (Status s = write_outside_ring(data, len, &at); s != Status::Ok) {
      return s;
    }
    account(len);
    ring_.publish();
    *rang = data_bell_.ring_if_sleeping();
    return Status::Ok;
  }

  // Whether a message of `len` bytes would be accepted now (Ok/Full/...).
  Status poll_room(uint32_t len) noexcept {
    if (Status s = check_open(); s != Status::Ok) return s;
    return check_room(len <= memory_.layout().inline_max ? len : sizeof(SlabRef), len);
  }

  Doorbell space_bell() noexcept { return Doorbell(memory_.header().space_bell); }
  ChannelMemory& memory() noexcept { return memory_; }

 private:
  Status check_open() const noexcept {
    const uint32_t st = memory_.state();
    if (st & (state_bits::kSenderClosed | state_bits::kSenderErrored | state_bits::kSenderGone)) return Status::Closed;
    if (st & state_bits::kReceiverEnded) return Status::Disconnected;
    return Status::Ok;
  }

  Status check_room(uint32_t ring_payload, uint32_t len) noexcept {
    const uint64_t capacity = memory_.layout().capacity;
    if (bytes_ != cached_received_bytes_ && bytes_ - cached_received_bytes_ + len > capacity) {
      // acquire: pairs with the consumer's release of its byte count (with head).
      const uint64_t received = memory_.header().consumer.bytes.load(std::memory_order_acquire);
      if (received > bytes_) return Status::Corrupt;
      cached_received_bytes_ = received;
      if (bytes_ != received && bytes_ - received + len > capacity) return Status::Full;
    }
    return ring_.has_room(ring_payload);
  }

  // Writes the payload to a slab, or a heap block when no slab is free, and claims
  // the descriptor record. Room was checked, so the claim cannot fail.
  Status write_outside_ring(const uint8_t* data, uint32_t len, uint8_t** at) noexcept {
    uint32_t cls;
    Lease lease;
    if (pool_.class_for(len, &cls) && pool_.acquire(cls, &lease) == Status::Ok) {
      std::memcpy(pool_.data(lease), data, len);
      const SlabRef ref{lease.cls, lease.index, lease.generation, len};
      claim_unchecked(RecordType::Slab, sizeof ref, at);
      std::memcpy(*at, &ref, sizeof ref);
      return Status::Ok;
    }
    HeapBlock block = heap_.allocate(len);
    if (!block.data) return Status::Full;
    std::memcpy(block.data.get(), data, len);
    const HeapRef ref{heap_.put(std::move(block)), len, 0};
    // relaxed: a statistic.
    memory_.header().pool.fallbacks.fetch_add(1, std::memory_order_relaxed);
    claim_unchecked(RecordType::Heap, sizeof ref, at);
    std::memcpy(*at, &ref, sizeof ref);
    return Status::Ok;
  }

  void claim_unchecked(RecordType type, uint32_t payload, uint8_t** at) noexcept {
    [[maybe_unused]] const Status s = ring_.claim(type, payload, at);
  }

  void account(uint32_t len) noexcept {
    ++messages_;
    bytes_ += len;
    // relaxed: counters; the consumer never orders memory through them. `bytes` is
    // compared against the consumer's count, which only ever trails it.
    memory_.header().producer.messages.store(messages_, std::memory_order_relaxed);
    memory_.header().producer.bytes.store(bytes_, std::memory_order_relaxed);
  }

  ChannelMemory& memory_;
  HeapTable& heap_;
  RingProducer ring_;
  SlabPool pool_;
  Doorbell data_bell_;
  uint64_t messages_ = 0;
  uint64_t bytes_ = 0;
  uint64_t cached_received_bytes_ = 0;
};

// A received message. Inline payloads point into the ring and must be copied before
// the next receive; slab and heap payloads belong to the receiver until released.
struct Message {
  enum class Owner { Ring, Slab, Heap } owner = Owner::Ring;
  const uint8_t* data = nullptr;
  uint32_t length = 0;
  Lease lease{};     // Owner::Slab
  HeapBlock block;   // Owner::Heap
};

// The consuming end. One per channel; lives in the consumer's thread.
class QueueConsumer {
 public:
  QueueConsumer(ChannelMemory& memory, HeapTable& heap) noexcept
      : memory_(memory),
        heap_(heap),
        ring_(memory.ring(), memory.layout().ring_bytes, memory.header().producer, memory.header().consumer),
        pool_(memory.base(), memory.layout(), memory.header()),
        space_bell_(memory.header().space_bell) {
    // relaxed: only this consumer writes these.
    messages_ = memory.header().consumer.messages.load(std::memory_order_relaxed);
    bytes_ = memory.header().consumer.bytes.load(std::memory_order_relaxed);
  }

  // Receives up to `max` messages, calling `on_message(Message&)` for each (inline
  // data must be copied inside the call). Returns Ok if at least one was delivered,
  // else Empty, Closed (graceful end), Errored, Disconnected or Corrupt.
  // `*rang` is set when a sleeping producer was flagged and must be woken.
  template <class OnMessage>
  Status drain(std::size_t max, OnMessage&& on_message, bool* rang) noexcept {
    *rang = false;
    uint32_t st = memory_.state();
    if (st & state_bits::kSenderErrored) return Status::Errored;
    if (st & state_bits::kReceiverClosed) return Status::Closed;
    std::size_t delivered = 0;
    Status s = Status::Ok;
    while (delivered < max) {
      Message m;
      s = next(&m);
      if (s != Status::Ok) break;
      on_message(m);
      ++delivered;
    }
    if (delivered) {
      finish(rang);
      return Status::Ok;
    }
    if (s != Status::Empty) return s;
    // Nothing now: has the stream ended? Re-read tail after the state, as the
    // producer publishes before it sets a close bit.
    st = memory_.state();
    if (!(st & (state_bits::kSenderClosed | state_bits::kSenderGone))) return Status::Empty;
    RecordView r;
    s = ring_.peek(&r);
    if (s == Status::Ok) return drain(max, on_message, rang);
    if (s != Status::Empty) return s;
    return (st & state_bits::kSenderClosed) ? Status::Closed : Status::Disconnected;
  }

  // Drops every buffered message, returning slabs and heap blocks.
  void discard_all() noexcept {
    bool rang;
    for (;;) {
      Message m;
      if (next(&m) != Status::Ok) break;
      if (m.owner == Message::Owner::Slab) pool_.release(m.lease);
    }
    finish(&rang);
  }

  // Readiness for a sleeper: true if a drain() now would return something other
  // than Empty. Used for the re-check after Doorbell::prepare_sleep().
  bool ready() noexcept {
    const uint32_t st = memory_.state();
    if (st & (state_bits::kSenderErrored | state_bits::kSenderClosed | state_bits::kSenderGone | state_bits::kReceiverClosed)) return true;
    RecordView r;
    return ring_.peek(&r) != Status::Empty;
  }

  Doorbell data_bell() noexcept { return Doorbell(memory_.header().data_bell); }
  SlabPool& pool() noexcept { return pool_; }
  ChannelMemory& memory() noexcept { return memory_; }

 private:
  Status next(Message* m) noexcept {
    RecordView r;
    if (Status s = ring_.peek(&r); s != Status::Ok) return s;
    if (Status s = decode(r, m); s != Status::Ok) return s;
    ring_.consume();
    ++messages_;
    bytes_ += m->length;
    return Status::Ok;
  }

  Status decode(const RecordView& r, Message* m) noexcept {
    switch (r.type) {
      case RecordType::Inline:
        m->owner = Message::Owner::Ring;
        m->data = r.payload;
        m->length = r.length;
        return Status::Ok;
      case RecordType::Slab: {
        if (r.length != sizeof(SlabRef)) return Status::Corrupt;
        SlabRef ref;
        std::memcpy(&ref, r.payload, sizeof ref);
        const Lease lease{ref.cls, ref.index, ref.generation};
        if (!pool_.is_leased(lease) || ref.length > pool_.slab_size(ref.cls)) return Status::Corrupt;
        m->owner = Message::Owner::Slab;
        m->lease = lease;
        m->data = pool_.data(lease);
        m->length = ref.length;
        return Status::Ok;
      }
      case RecordType::Heap: {
        if (r.length != sizeof(HeapRef)) return Status::Corrupt;
        HeapRef ref;
        std::memcpy(&ref, r.payload, sizeof ref);
        if (!heap_.take(ref.id, ref.length, &m->block)) return Status::Corrupt;
        m->owner = Message::Owner::Heap;
        m->data = m->block.data.get();
        m->length = ref.length;
        return Status::Ok;
      }
      default:
        return Status::Corrupt;
    }
  }

  void finish(bool* rang) noexcept {
    auto& line = memory_.header().consumer;
    // relaxed: statistics, ordered before head's release store below, which is
    // what the producer's acquire pairs with.
    line.messages.store(messages_, std::memory_order_relaxed);
    // release: pairs with the producer's acquire in check_room().
    line.bytes.store(bytes_, std::memory_order_release);
    if (ring_.publish()) *rang = space_bell_.ring_if_sleeping();
  }

  ChannelMemory& memory_;
  HeapTable& heap_;
  RingConsumer ring_;
  SlabPool pool_;
  Doorbell space_bell_;
  uint64_t messages_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace ringport
