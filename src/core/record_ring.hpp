// RecordRing: a single-producer single-consumer ring of variable-length records over
// caller-provided memory, in the style of Agrona's ring buffers.
//
// Design:
// - Positions are monotonic 64-bit byte counters; `position & (bytes - 1)` is the
//   offset. The producer alone stores `tail`, the consumer alone stores `head`, each
//   on its own 128-byte line. Neither ever moves backwards, so `tail - head` is the
//   number of bytes in use, and the full ring is usable (no spare slot).
// - A record is an 8-byte header {payload length, type} followed by the payload,
//   padded to 8 bytes. A record never wraps: when it does not fit before the end of
//   the ring, a padding record fills the rest and the record starts at offset 0.
// - claim -> write -> publish: claim() reserves room past the last claimed position
//   and returns where to write; publish() makes every claimed record visible with one
//   release store of `tail`. Many claims may share one publish.
// - Each side caches the other's position and re-reads it only when the cached value
//   says the ring is full (producer) or empty (consumer).
// - The memory is untrusted (DESIGN.md): every position and header read from it is
//   checked against the ring's size before use; anything impossible is Corrupt.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include "layout.hpp"
#include "status.hpp"

namespace ringport {

enum class RecordType : uint32_t { Padding = 1, Inline = 2, Slab = 3, Heap = 4 };

struct RecordHeader {
  uint32_t length;  // payload bytes, excluding this header and the padding
  uint32_t type;    // RecordType
};
static_assert(sizeof(RecordHeader) == 8);

inline constexpr uint64_t kRecordAlign = 8;
inline constexpr uint64_t record_size(uint64_t payload) noexcept { return align_up(sizeof(RecordHeader) + payload, kRecordAlign); }

// The producer half. Lives in the producer's thread; not thread-safe.
class RingProducer {
 public:
  RingProducer(uint8_t* ring, uint64_t ring_bytes, ProducerLine& producer, ConsumerLine& consumer) noexcept
      : ring_(ring), bytes_(ring_bytes), mask_(ring_bytes - 1), producer_(producer), consumer_(consumer) {
    // relaxed: the role claim that made us the only producer already ordered us after
    // creation; the value is validated before use.
    uint64_t t = producer_.tail.load(std::memory_order_relaxed);
    claimed_ = published_ = (t % kRecordAlign == 0) ? t : 0;
    cached_head_ = consumer_.head.load(std::memory_order_relaxed);
  }

  // Reserves a record with `payload` bytes. On Ok, `*out` is where the payload goes.
  // Full: no room until the consumer advances. TooLarge: can never fit in this ring,
  // or not at this position: a record over half the ring may need more than the
  // whole ring once the padding before a wrap is counted.
  Status claim(RecordType type, uint32_t payload, uint8_t** out) noexcept {
    const uint64_t size = record_size(payload);
    if (size > bytes_) return Status::TooLarge;
    const uint64_t offset = claimed_ & mask_;
    const uint64_t to_end = bytes_ - offset;
    const uint64_t need = size <= to_end ? size : to_end + size;
    if (Status s = ensure_room(need); s != Status::Ok) return s;
    uint64_t at = offset;
    if (size > to_end) {
      write_header(offset, static_cast<uint32_t>(to_end - sizeof(RecordHeader)), RecordType::Padding);
      claimed_ += to_end;
      at = 0;
    }
    write_header(at, payload, type);
    claimed_ += size;
    *out = ring_ + at + sizeof(RecordHeader);
    return Status::Ok;
  }

  // True when a record with `payload` bytes would fit now (re-reads head if needed).
  Status has_room(uint32_t payload) noexcept {
    const uint64_t size = record_size(payload);
    if (size > bytes_) return Status::TooLarge;
    const uint64_t to_end = bytes_ - (claimed_ & mask_);
    return ensure_room(size <= to_end ? size : to_end + size);
  }

  // Makes every claimed record visible to the consumer.
  void publish() noexcept {
    published_ = claimed_;
    // release: pairs with the consumer's acquire load of tail; the headers and
    // payloads written before this store are visible once it sees the new tail.
    producer_.tail.store(published_, std::memory_order_release);
  }

  uint64_t published() const noexcept { return published_; }

 private:
  Status ensure_room(uint64_t need) noexcept {
    if (need > bytes_) return Status::TooLarge;  // Full would never clear: no head makes room
    if (claimed_ + need - cached_head_ <= bytes_) return Status::Ok;
    // acquire: pairs with the consumer's release store of head; its reads of the
    // bytes we are about to overwrite happened before.
    const uint64_t head = consumer_.head.load(std::memory_order_acquire);
    if (head > published_ || published_ - head > bytes_ || head % kRecordAlign != 0) return Status::Corrupt;
    cached_head_ = head;
    return claimed_ + need - cached_head_ <= bytes_ ? Status::Ok : Status::Full;
  }

  void write_header(uint64_t offset, uint32_t length, RecordType type) noexcept {
    RecordHeader h{length, static_cast<uint32_t>(type)};
    std::memcpy(ring_ + offset, &h, sizeof h);
  }

  uint8_t* const ring_;
  const uint64_t bytes_;
  const uint64_t mask_;
  ProducerLine& producer_;
  ConsumerLine& consumer_;
  uint64_t claimed_;      // end of the last claimed record
  uint64_t published_;    // last value stored to tail
  uint64_t cached_head_;  // consumer's head as last read
};

// A record as the consumer sees it; `payload` points into the ring and is valid until
// the consumer publishes past it.
struct RecordView {
  RecordType type;
  uint32_t length;
  const uint8_t* payload;
};

// The consumer half. Lives in the consumer's thread; not thread-safe.
class RingConsumer {
 public:
  RingConsumer(uint8_t* ring, uint64_t ring_bytes, ProducerLine& producer, ConsumerLine& consumer) noexcept
      : ring_(ring), bytes_(ring_bytes), mask_(ring_bytes - 1), producer_(producer), consumer_(consumer) {
    // relaxed: as in RingProducer; validated on first use by peek().
    uint64_t h = consumer_.head.load(std::memory_order_relaxed);
    read_ = published_ = (h % kRecordAlign == 0) ? h : 0;
    cached_tail_ = read_;
  }

  // Looks at the next record without consuming it, skipping padding.
  // Ok: *out is the record; call consume() before the next peek(). Empty or Corrupt.
  Status peek(RecordView* out) noexcept {
    for (;;) {
      if (read_ == cached_tail_) {
        // acquire: pairs with publish()'s release store; makes the records visible.
        const uint64_t tail = producer_.tail.load(std::memory_order_acquire);
        if (tail < read_ || tail - read_ > bytes_ || tail % kRecordAlign != 0) return Status::Corrupt;
        cached_tail_ = tail;
        if (read_ == cached_tail_) return Status::Empty;
      }
      const uint64_t available = cached_tail_ - read_;
      const uint64_t offset = read_ & mask_;
      const uint64_t to_end = bytes_ - offset;
      RecordHeader h;
      std::memcpy(&h, ring_ + offset, sizeof h);
      const uint64_t size = record_size(h.length);
      if (h.type == static_cast<uint32_t>(RecordType::Padding)) {
        if (size != to_end || size > available) return Status::Corrupt;
        read_ += size;
        continue;
      }
      if (size > to_end || size > available) return Status::Corrupt;
      if (h.type < static_cast<uint32_t>(RecordType::Inline) || h.type > static_cast<uint32_t>(RecordType::Heap)) return Status::Corrupt;
      *out = RecordView{static_cast<RecordType>(h.type), h.length, ring_ + offset + sizeof(RecordHeader)};
      pending_ = size;
      return Status::Ok;
    }
  }

  // Consumes the record returned by the last peek().
  void consume() noexcept {
    read_ += pending_;
    pending_ = 0;
  }

  // Returns consumed space to the producer. Returns true if anything was released.
  bool publish() noexcept {
    if (read_ == published_) return false;
    published_ = read_;
    // release: pairs with the producer's acquire load of head; our reads of the
    // consumed records happen before it may overwrite them.
    consumer_.head.store(published_, std::memory_order_release);
    return true;
  }

 private:
  uint8_t* const ring_;
  const uint64_t bytes_;
  const uint64_t mask_;
  ProducerLine& producer_;
  ConsumerLine& consumer_;
  uint64_t read_;         // start of the next unread record
  uint64_t published_;    // last value stored to head
  uint64_t cached_tail_;  // producer's tail as last read
  uint64_t pending_ = 0;  // size of the record last peeked
};

}  // namespace ringport
