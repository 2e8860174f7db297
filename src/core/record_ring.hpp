// RecordRing: a ring of variable-length records over caller-provided memory, in the
// style of Agrona's ring buffers: one consumer, and either one producer (RingProducer)
// or many (RingClaimer).
//
// Design:
// - Positions are monotonic 64-bit byte counters; `position & (bytes - 1)` is the
//   offset. Producers store `tail`, the consumer stores `head` (in a drop-oldest ring,
//   so does the producer: below), each on its own 128-byte line. Neither ever moves
//   backwards, so `tail - head` is the number of bytes in use, and the full ring is
//   usable (no spare slot).
// - A record is an 8-byte header word {u32 length, u32 tag} followed by the payload,
//   padded to 8 bytes. tag = type byte | owner << 8, owner = (generation << 8) | producer
//   slot (layout.hpp). A record never wraps: when it does not fit before the end of the
//   ring, a padding record fills the rest and the record starts at offset 0.
// - One producer (RingProducer): claim -> write -> publish. claim() writes headers
//   past `tail`; publish() makes every claimed record visible with one release store
//   of `tail`. Many claims may share one publish.
// - Many producers (RingClaimer), as Agrona's ManyToOneRingBuffer: a producer claims
//   [tail, tail + size) with a CAS on `tail`, stores a claim marker (its type with
//   kClaimedBit, the length, its owner) right away, writes the payload, and commits by
//   storing the final header word with release. `tail` then only bounds what was
//   claimed; a header word says what is committed.
// - The consumer reads records in [head, tail) in order, each once its header word is
//   committed (acquire). A lone producer's headers are always committed below tail, so
//   one consumer reads both. Claims need a header word in free space to be 0, so that
//   stale bytes from an earlier lap never look committed: the ring starts zeroed, and
//   once a ring has many producers the consumer zeroes every byte it consumes before it
//   releases it with `head` (publish(zero); queue.hpp says when, and how the switch to
//   many producers zeroes what a lone producer's ring left dirty).
// - Unblock (Aeron's LogBufferUnblocker, made safe by producer slots): a claim marker
//   at the head whose owner's slot is no longer live under the marker's generation
//   belongs to a producer that was released or declared gone and will never commit.
//   The consumer CASes the marker into an Abandoned record and moves on. A claim whose
//   marker is not written yet (a zero word below tail) cannot be attributed and stays
//   pending: the CAS and the marker store are a few instructions inside one native call.
// - Drop-oldest (one RingProducer that may drop records the consumer has not read;
//   queue.hpp): `taken` splits [head, tail). Records before it belong to the consumer
//   (it is reading them) or to the producer (it dropped them and gives back their
//   memory); records from it on are unread, and the producer may drop them. Both sides
//   move `taken` with a CAS, so every record has exactly one owner:
//       consumer, take():         CAS t -> t | 1 (pin); read the header at t; store t + size
//       producer, drop_oldest():  CAS t -> t + size, when t is not pinned; free its slab
//   The pin keeps the producer from dropping a record while the consumer reads its
//   header: once a record is dropped and its space released, the producer may rewrite
//   it, and reading a header that may be rewritten at the same time would be a data
//   race (and a stale one could look corrupt). Space still goes back in ring order:
//   each owner stores head = the end of its records once head reaches their start
//   (publish(), release_dropped()). The producer drops only records after the
//   consumer's, so it waits at most for the consumer's current drain (one native call;
//   it releases in steps); the consumer waits at most for the producer's current send.
//   When the consumer finds `taken` past its position (the producer dropped records
//   there), it first releases the records it holds, then resumes at `taken`. A producer
//   whose slot is no longer live will not release its drop: the consumer releases past it.
// - Each side caches the other's position and re-reads it only when the cached value
//   says the ring is full (producers) or empty (consumer).
// - The memory is untrusted: every position and header read from it is
//   checked against the ring's size before use; anything impossible is Corrupt.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>

#include "layout.hpp"
#include "platform.hpp"
#include "status.hpp"

namespace ringport {

// Abandoned: a claim whose producer will never commit it, turned into a record the
// consumer skips; `length` is the message's byte count, the byte of the tag above the
// type names the type it was claimed as.
enum class RecordType : uint32_t { Padding = 1, Inline = 2, Slab = 3, Heap = 4, Abandoned = 5 };

struct RecordHeader {
  uint32_t length;  // payload bytes, excluding this header and the padding
  uint32_t type;    // the tag: RecordType | owner << 8
};
static_assert(sizeof(RecordHeader) == 8);
static_assert(std::endian::native == std::endian::little, "a header word is read as {length, tag}");

inline constexpr uint64_t kRecordAlign = 8;
inline constexpr uint64_t record_size(uint64_t payload) noexcept { return align_up(sizeof(RecordHeader) + payload, kRecordAlign); }

// The type byte of a claim marker: the type being claimed, plus this bit.
inline constexpr uint32_t kClaimedBit = 0x80;
// Slab and Heap records carry a 16-byte descriptor (queue.hpp). A claim marker or an
// abandoned record holds the message's byte count instead, so that the consumer can
// give an abandoned message's bytes back to the budget.
inline constexpr uint32_t kDescriptorBytes = 16;

inline constexpr bool is_message_type(uint32_t type) noexcept {
  return type >= static_cast<uint32_t>(RecordType::Inline) && type <= static_cast<uint32_t>(RecordType::Heap);
}
// Ring payload bytes of a claimed or abandoned record of `type` for a `length`-byte message.
inline constexpr uint64_t claimed_payload(uint32_t type, uint32_t length) noexcept {
  return type == static_cast<uint32_t>(RecordType::Inline) ? length : kDescriptorBytes;
}
inline constexpr uint64_t header_word(uint32_t length, uint32_t tag) noexcept { return (uint64_t{tag} << 32) | length; }

// The header word at `offset` (8-byte aligned) of a ring, for atomic access. Plain
// writes of it happen only where no other thread can look: a lone producer's claims
// past `tail`, the consumer's zeroing of consumed space.
inline std::atomic_ref<uint64_t> header_at(uint8_t* ring, uint64_t offset) noexcept {
  static_assert(std::atomic_ref<uint64_t>::required_alignment == 8 && std::atomic_ref<uint64_t>::is_always_lock_free);
  return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(ring + offset));
}

// A record as the consumer (or a dropping producer) sees it; `payload` points into the
// ring and is valid until the space is released. An Abandoned record has no payload;
// `length` is the byte count of the message it was claimed for.
struct RecordView {
  RecordType type;
  uint32_t length;
  const uint8_t* payload;
};

// The producer half. Lives in the producer's thread; not thread-safe.
class RingProducer {
 public:
  RingProducer(uint8_t* ring, uint64_t ring_bytes, ProducerLine& producer, ConsumerLine& consumer) noexcept
      : ring_(ring), bytes_(ring_bytes), mask_(ring_bytes - 1), producer_(producer), consumer_(consumer) {
    // relaxed: the role claim that made us the only producer already ordered us after
    // creation; the value is validated before use.
    uint64_t t = producer_.tail.load(std::memory_order_relaxed);
    claimed_ = published_ = (t % kRecordAlign == 0) ? t : 0;
    // acquire: room granted by this value is written without re-reading head, so the
    // consumer's reads and zeroing of that space must come before (as in ensure_room).
    cached_head_ = consumer_.head.load(std::memory_order_acquire);
  }

  // Reserves a record with `payload` bytes. On Ok, `*out` is where the payload goes.
  // Full: no room until the consumer advances. TooLarge: can never fit in this ring,
  // or not at this position: a record over half the ring may need more than the
  // whole ring once the padding before a wrap is counted.
  [[gnu::always_inline]] Status claim(RecordType type, uint32_t payload, uint8_t** out) noexcept {
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

  // Claims and fills Inline records in a row, the positions in registers: for i from
  // 0, `next(i, &data, &len)` gives message i (called once for each, in order), and
  // `admit(len)` may refuse it. Stops before a message that admit refuses or that does
  // not fit before the end of the ring or the cached head (claim() pads or reads head
  // again); returns how many it wrote, and if fewer than `max`, the next message stays
  // in *data and *len. publish() makes them visible.
  template <class Next, class Admit>
  [[gnu::always_inline]] uint32_t write_run(uint32_t max, Next&& next, Admit&& admit, const uint8_t** data, uint32_t* len) noexcept {
    // Locals: the copies may alias any member, which would then be reloaded every time.
    uint8_t* const ring = ring_;
    const uint64_t mask = mask_;
    uint64_t claimed = claimed_;
    // Records never wrap, so the run ends at the end of the ring's lap that `claimed`
    // is in, or where the cached head leaves no room if that comes first: one bound
    // for both checks of claim(). (A head read from shared memory that would put the
    // limit behind `claimed` leaves no room, as in ensure_room().)
    const uint64_t lap_end = (claimed | mask) + 1, head_limit = cached_head_ + bytes_;
    const uint64_t room_end = head_limit > claimed ? head_limit : claimed;
    const uint64_t end = lap_end < room_end ? lap_end : room_end;
    uint32_t n = 0;
    for (; n < max; ++n) {
      const uint8_t* d;
      uint32_t l;
      next(n, &d, &l);
      const uint64_t size = record_size(l), offset = claimed & mask;
      if (size > end - claimed || !admit(l)) {
        *data = d;
        *len = l;
        break;
      }
      const RecordHeader h{l, static_cast<uint32_t>(RecordType::Inline)};
      std::memcpy(ring + offset, &h, sizeof h);
      if (l) std::memcpy(ring + offset + sizeof h, d, l);  // an empty message may have a null pointer
      claimed += size;
    }
    claimed_ = claimed;
    return n;
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

  // Drop-oldest: takes the oldest unread record away from the consumer. Ok: *out is
  // that record (or the padding before a wrap: nothing to give back), its payload ours
  // to read; call release_dropped() next. Empty: nothing to take now (the consumer took
  // everything up to tail and has not released it yet, or is taking a record this
  // instant). Corrupt.
  Status drop_oldest(RecordView* out) noexcept {
    std::atomic<uint64_t>& taken = consumer_.taken;
    // relaxed: the CAS below validates it; nothing is read through it.
    uint64_t t = taken.load(std::memory_order_relaxed);
    for (;;) {
      if (t & 1) return Status::Empty;  // pinned: the consumer is taking the record at t
      if (t == published_) return Status::Empty;
      if (t > published_ || published_ - t > bytes_ || t % kRecordAlign != 0) return Status::Corrupt;
      const uint64_t offset = t & mask_, to_end = bytes_ - offset;
      // relaxed: a header we wrote; the consumer never writes a drop-oldest ring.
      const uint64_t word = header_at(ring_, offset).load(std::memory_order_relaxed);
      const uint32_t length = static_cast<uint32_t>(word), type = static_cast<uint32_t>(word >> 32);
      const uint64_t size = record_size(length);
      if (size > to_end || size > published_ - t) return Status::Corrupt;
      if (type == static_cast<uint32_t>(RecordType::Padding) ? size != to_end : !is_message_type(type)) return Status::Corrupt;
      // release: pairs with the consumer's acquire in pin(); the tail we published
      // before is visible to it once it sees `taken` past these records.
      if (taken.compare_exchange_weak(t, t + size, std::memory_order_release, std::memory_order_relaxed)) {
        dropped_from_ = t;
        dropped_to_ = t + size;
        *out = RecordView{static_cast<RecordType>(type), length, ring_ + offset + sizeof(RecordHeader)};
        return Status::Ok;
      }
    }
  }

  // Drop-oldest: returns the space of the record drop_oldest() took to the ring. Ok;
  // Full while the consumer still holds records before it (until the end of its current
  // drain); Corrupt.
  Status release_dropped() noexcept {
    // acquire: pairs with the consumer's release of head; its reads of the records
    // before ours happened before we overwrite them.
    const uint64_t head = consumer_.head.load(std::memory_order_acquire);
    if (head != dropped_from_) return head < dropped_from_ ? Status::Full : Status::Corrupt;
    // release: pairs with the consumer's acquire in its wait for head; it releases the
    // records after ours only after this store.
    consumer_.head.store(dropped_to_, std::memory_order_release);
    cached_head_ = dropped_to_;
    return Status::Ok;
  }

 private:
  Status ensure_room(uint64_t need) noexcept {
    if (need > bytes_) return Status::TooLarge;  // Full would never clear: no head makes room
    if (claimed_ + need - cached_head_ <= bytes_) return Status::Ok;
    return refresh_head(need);
  }

  // ensure_room() once the cached head says full; out of line, to keep claims small.
  [[gnu::noinline]] Status refresh_head(uint64_t need) noexcept {
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
  uint64_t dropped_from_ = 0, dropped_to_ = 0;  // the record drop_oldest() took last
};

// One of many producers. Each producer thread has its own; any number may claim at
// once, and a RingProducer must no longer publish (queue.hpp hands the ring over).
class RingClaimer {
 public:
  // find_room(): re-reads of head and tail before a head that keeps moving while more
  // than a ring behind the tail counts as Corrupt.
  static constexpr int kMostHeadReads = 64;

  // `owner`: the producer's ticket (layout.hpp), carried in its claim markers.
  RingClaimer(uint8_t* ring, uint64_t ring_bytes, ProducerLine& producer, ConsumerLine& consumer, uint32_t owner) noexcept
      : ring_(ring), bytes_(ring_bytes), mask_(ring_bytes - 1), owner_(owner << 8), producer_(producer), consumer_(consumer) {
    // acquire: find_room() grants room from this value without re-reading head, so the
    // consumer's zeroing of that space must happen before our writes to it. (A relaxed
    // load here let a producer joining mid-stream race the zeroing; TSan saw it.)
    cached_head_ = consumer_.head.load(std::memory_order_acquire);
  }

  // Claims a record for a `length`-byte message of `type` (Inline: the payload;
  // Slab/Heap: a descriptor) and marks it claimed. On Ok, write the payload at `*out`
  // and call commit(*offset, ...). Full · TooLarge (as RingProducer::claim) · Corrupt.
  Status claim(RecordType type, uint32_t length, uint8_t** out, uint64_t* offset) noexcept {
    const uint64_t size = record_size(claimed_payload(static_cast<uint32_t>(type), length));
    if (size > bytes_) return Status::TooLarge;
    // relaxed: the CAS below validates it; head, not tail, orders our writes.
    uint64_t t = producer_.tail.load(std::memory_order_relaxed);
    Span span;
    for (;;) {
      if (Status s = find_room(size, &t, &span); s != Status::Ok) return s;
      // relaxed: claiming orders no memory. Our writes to the span come after the
      // consumer released it through head (find_room's acquire); other producers'
      // records are committed through their own header words, not through tail.
      if (producer_.tail.compare_exchange_weak(t, t + span.need, std::memory_order_relaxed, std::memory_order_relaxed)) break;
    }
    uint64_t at = span.offset;
    if (size > span.to_end) {
      // release: pairs with the consumer's acquire of the header; it zeroes this
      // space later, which must come after our store.
      header_at(ring_, at).store(header_word(static_cast<uint32_t>(span.to_end - sizeof(RecordHeader)),
                                             static_cast<uint32_t>(RecordType::Padding) | owner_),
                                 std::memory_order_release);
      at = 0;
    }
    // relaxed: the marker only tells an unblocking consumer whose claim this is; it
    // reads nothing else of ours unless it sees commit()'s release store.
    header_at(ring_, at).store(header_word(length, static_cast<uint32_t>(type) | kClaimedBit | owner_), std::memory_order_relaxed);
    *offset = at;
    *out = ring_ + at + sizeof(RecordHeader);
    return Status::Ok;
  }

  // Publishes the record claimed at `offset`: `payload` ring bytes of `type`.
  void commit(uint64_t offset, RecordType type, uint32_t payload) noexcept {
    // release: pairs with the consumer's acquire load of the header word; the payload
    // written before it is visible once the consumer sees the committed header.
    header_at(ring_, offset).store(header_word(payload, static_cast<uint32_t>(type) | owner_), std::memory_order_release);
  }

  // Whether a claim for a `length`-byte message of `type` would fit now (a hint:
  // other producers may take the room first).
  Status has_room(RecordType type, uint32_t length) noexcept {
    const uint64_t size = record_size(claimed_payload(static_cast<uint32_t>(type), length));
    if (size > bytes_) return Status::TooLarge;
    // relaxed: a hint, validated by find_room.
    uint64_t t = producer_.tail.load(std::memory_order_relaxed);
    Span span;
    return find_room(size, &t, &span);
  }

 private:
  // Where a record of `size` bytes claimed at position t goes: `need` bytes from t,
  // a padding record first when it does not fit before the end.
  struct Span {
    uint64_t offset, to_end, need;
  };
  Span span_at(uint64_t t, uint64_t size) const noexcept {
    const uint64_t offset = t & mask_, to_end = bytes_ - offset;
    return Span{offset, to_end, size <= to_end ? size : to_end + size};
  }

  // Ok with *span for a claim at *t (re-read when the cached head says full).
  Status find_room(uint64_t size, uint64_t* t, Span* span) noexcept {
    if (*t % kRecordAlign != 0) return Status::Corrupt;
    *span = span_at(*t, size);
    if (span->need > bytes_) return Status::TooLarge;  // Full would never clear here
    if (cached_head_ <= *t && *t + span->need - cached_head_ <= bytes_) return Status::Ok;
    uint64_t head;
    // Bounded: a head that moves on every re-read yet never comes within a ring of the
    // tail is a thread scribbling on it, not a consumer (which needs one re-read per
    // preemption); spinning on it for ever would hang the sender.
    for (int reads = 0;; ++reads) {
      // acquire: pairs with the consumer's release store of head; its reads and its
      // zeroing of the space we are about to write happened before.
      head = consumer_.head.load(std::memory_order_acquire);
      // Re-read after head, a valid tail is never behind it (the consumer read a tail
      // at least as far before it released head). acquire: keeps the re-read of head
      // below after this load.
      *t = producer_.tail.load(std::memory_order_acquire);
      if (head % kRecordAlign != 0 || *t % kRecordAlign != 0 || head > *t) return Status::Corrupt;
      if (*t - head <= bytes_) break;
      // More than a ring apart: corrupt memory, or this thread was preempted between
      // the two loads while the consumer moved on and other producers claimed from
      // its newer head (RingStress.TwoClaimersInlineRecordsEachInOrder saw it under
      // TSan). Only a head that has not moved since proves corruption.
      // relaxed: compared only; the next round's acquire load is the one used.
      if (consumer_.head.load(std::memory_order_relaxed) == head || reads == kMostHeadReads) return Status::Corrupt;
    }
    cached_head_ = head;
    *span = span_at(*t, size);
    if (span->need > bytes_) return Status::TooLarge;
    return *t + span->need - head <= bytes_ ? Status::Ok : Status::Full;
  }

  uint8_t* const ring_;
  const uint64_t bytes_;
  const uint64_t mask_;
  const uint32_t owner_;  // ticket << 8: the tag bits above the type byte
  ProducerLine& producer_;
  ConsumerLine& consumer_;
  uint64_t cached_head_;
};

// The consumer half. Lives in the consumer's thread; not thread-safe.
class RingConsumer {
 public:
  // `slots`: the channel's producer slots, to unblock claims of producers that are
  // gone (and, with `drop_oldest`, to tell that the lone producer is); null for a ring
  // that only one producer ever writes. `drop_oldest`: the producer may drop unread
  // records (take() and publish() follow its protocol); `stall_ns` bounds the wait for
  // its release in publish(), past which the ring is taken as Corrupt.
  RingConsumer(uint8_t* ring, uint64_t ring_bytes, ProducerLine& producer, ConsumerLine& consumer,
               const ProducerSlots* slots = nullptr, bool drop_oldest = false, int64_t stall_ns = 0) noexcept
      : ring_(ring),
        bytes_(ring_bytes),
        mask_(ring_bytes - 1),
        producer_(producer),
        consumer_(consumer),
        slots_(slots),
        taken_(drop_oldest ? &consumer.taken : nullptr),
        stall_ns_(stall_ns) {
    // relaxed: as in RingProducer; validated on first use by peek().
    uint64_t h = consumer_.head.load(std::memory_order_relaxed);
    read_ = published_ = (h % kRecordAlign == 0) ? h : 0;
    cached_tail_ = read_;
  }

  // Looks at the next record without consuming it, skipping padding (not in a
  // drop-oldest ring: the producer may drop the record at any moment; use take()).
  // Ok: *out is the record; call consume() before the next peek(). Empty (nothing,
  // or the next record is claimed but not committed yet) or Corrupt.
  [[gnu::always_inline]] Status peek(RecordView* out) noexcept { return parse(out); }

  // What peek() would return, in any ring (a drop-oldest ring's record stays droppable).
  Status poll() noexcept {
    if (taken_ != nullptr) return poll_pinned();
    RecordView r;
    return parse(&r);
  }

  // Consumes the record returned by the last peek() (not in a drop-oldest ring).
  void consume() noexcept {
    read_ += pending_;
    pending_ = 0;
  }

  // Consumes the committed message records (Inline, Slab, Heap) that follow in a row
  // up to the tail (read again if everything before it was read), at most `max`, each
  // once `accept(RecordView)` returns true for it. Stops before anything else (padding,
  // a claim not committed yet, an abandoned or corrupt record, the cached tail: peek()
  // deals with those) and before a record `accept` refuses. Returns how many it
  // consumed. Not in a drop-oldest ring. The batch form of peek() and consume(): the
  // positions stay in registers.
  template <class Accept>
  [[gnu::always_inline]] std::size_t consume_run(std::size_t max, Accept&& accept) noexcept {
    if (max == 0) return 0;
    if (read_ == cached_tail_ && refresh_tail() != Status::Ok) return 0;  // peek() reports a corrupt tail
    // Locals: `accept` copies payloads, and a copy may alias any member, which would
    // then be reloaded for every record.
    uint8_t* const ring = ring_;
    const uint64_t mask = mask_;
    uint64_t read = read_;
    // Records never wrap, so the run ends at the end of the ring's lap that `read` is
    // in, or at tail if that comes first: one bound for both of parse()'s size checks,
    // and within it a pointer walks the records (read_ <= cached_tail_ always:
    // refresh_tail() checks it). A record that ends exactly at the end of the lap ends
    // the run; peek() goes on.
    const uint64_t lap_end = (read | mask) + 1;
    const uint64_t end = cached_tail_ < lap_end ? cached_tail_ : lap_end;
    uint8_t* const first = ring + (read & mask);
    uint8_t* const stop = first + (end - read);
    uint8_t* at = first;
    std::size_t n = 0;
    while (at != stop) {
      // acquire: as in parse().
      const uint64_t word = header_at(at, 0).load(std::memory_order_acquire);
      const uint32_t length = static_cast<uint32_t>(word);
      const uint32_t type = static_cast<uint32_t>(word >> 32) & 0xff;
      const uint64_t size = record_size(length);
      // The checks of parse(); a record that fails them is left to peek() to report.
      if (!is_message_type(type) || size > static_cast<uint64_t>(stop - at)) break;
      if (!accept(RecordView{static_cast<RecordType>(type), length, at + sizeof(RecordHeader)})) break;
      at += size;
      if (++n == max) break;
    }
    read_ = read + static_cast<uint64_t>(at - first);
    pending_ = 0;
    return n;
  }

  // Takes the next record: peek() and consume() in one, and in a drop-oldest ring
  // atomically against the producer's drops. *out stays valid until publish().
  Status take(RecordView* out) noexcept {
    if (taken_ != nullptr) return take_pinned(out);
    const Status s = parse(out);
    if (s == Status::Ok) consume();
    return s;
  }

  // Returns consumed space to the producers, zeroed first if `zero` (queue.hpp says
  // when). True if anything was released. In a drop-oldest ring, waits first until the
  // producer has released the records it dropped before ours (a few instructions of
  // its current send); if that takes longer than the stall bound, nothing is released
  // and every later take() is Corrupt.
  [[gnu::always_inline]] bool publish(bool zero) noexcept {
    if (read_ == published_) return false;
    if (zero) this->zero(published_, read_ - published_);
    if (taken_ != nullptr && !await_head()) return false;
    published_ = read_;
    // release: pairs with the producers' acquire load of head; our reads of the
    // consumed records, and the zeroing, happen before they may overwrite them.
    consumer_.head.store(published_, std::memory_order_release);
    return true;
  }

 private:
  // The body of peek(): the record at read_, skipping padding. Inlined, with the rare
  // cases out of line: this is most of a one-message drain.
  // No loop and no pointer to `out` passed on: the compiler then keeps the common case
  // (a message) on its hot path and the caller's view in registers.
  [[gnu::always_inline]] Status parse(RecordView* out) noexcept {
    if (read_ == cached_tail_) {
      if (Status s = refresh_tail(); s != Status::Ok) return s;
    }
    const uint64_t available = cached_tail_ - read_;
    const uint64_t offset = read_ & mask_;
    const uint64_t to_end = bytes_ - offset;
    // acquire: pairs with RingClaimer::commit()'s release store; the payload written
    // before it is visible.
    const uint64_t word = header_at(ring_, offset).load(std::memory_order_acquire);
    const uint32_t length = static_cast<uint32_t>(word);
    const uint32_t type = static_cast<uint32_t>(word >> 32) & 0xff;
    if (!is_message_type(type)) {
      RecordView other;
      const Status s = parse_other(offset, word, to_end < available ? to_end : available, &other);
      if (s == Status::Ok) *out = other;
      return s;
    }
    const uint64_t size = record_size(length);
    if (size > to_end || size > available) return Status::Corrupt;
    *out = RecordView{static_cast<RecordType>(type), length, ring_ + offset + sizeof(RecordHeader)};
    pending_ = size;
    return Status::Ok;
  }

  // Reads tail again, once everything up to the cached one is read. Ok (something
  // new), Empty or Corrupt.
  [[gnu::always_inline]] Status refresh_tail() noexcept {
    // acquire: pairs with publish()'s release store; makes a lone producer's
    // records visible. (Many producers commit through header words instead.)
    const uint64_t tail = producer_.tail.load(std::memory_order_acquire);
    // Bounded by published_ (the head producers see), not read_: read_ may be past
    // it (padding skipped, records not yet published), and a tail a ring ahead of
    // read_ let read_ run laps ahead; publish() then zeroed laps past the ring.
    if (tail < read_ || tail - published_ > bytes_ || tail % kRecordAlign != 0) return Status::Corrupt;
    cached_tail_ = tail;
    return read_ == cached_tail_ ? Status::Empty : Status::Ok;
  }

  // poll() of a drop-oldest ring.
  [[gnu::noinline]] Status poll_pinned() noexcept {
    if (broken_) return Status::Corrupt;
    uint64_t t;
    if (Status s = pin(&t); s != Status::Ok) return s;
    RecordView r;
    const Status s = parse(&r);
    read_ = t;
    pending_ = 0;
    // relaxed: only we move a pinned `taken`; back to where it was.
    taken_->store(t, std::memory_order_relaxed);
    return s;
  }

  // take() of a drop-oldest ring.
  [[gnu::noinline]] Status take_pinned(RecordView* out) noexcept {
    if (broken_) return Status::Corrupt;
    uint64_t t;
    if (Status s = pin(&t); s != Status::Ok) return s;
    const Status s = parse(out);
    if (s == Status::Ok) {
      consume();
    } else {
      read_ = t;
      pending_ = 0;
    }
    // relaxed: only we move a pinned `taken`; the record (and any padding before it)
    // is ours now. Nothing is published through it: head orders the reuse of space.
    taken_->store(read_, std::memory_order_relaxed);
    return s;
  }

  // Drop-oldest: pins `taken` at read_ (sets its low bit), so that the producer cannot
  // drop the record there while we read its header. Ok with *t the unpinned value;
  // Empty when there is nothing to take; Corrupt.
  Status pin(uint64_t* t) noexcept {
    for (;;) {
      // acquire: pairs with the producer's release CAS when it drops; the tail it
      // published before that is visible to our load of tail below.
      *t = taken_->load(std::memory_order_acquire);
      if (*t != read_) {
        if (Status s = skip_dropped(*t); s != Status::Ok) return s;
      }
      if (read_ == cached_tail_) {
        // acquire: as in parse().
        const uint64_t tail = producer_.tail.load(std::memory_order_acquire);
        if (tail < read_ || tail % kRecordAlign != 0) return Status::Corrupt;
        if (tail - read_ > bytes_) {
          // The producer may have dropped and sent a ring's worth since we read
          // `taken`; only if it has not moved is this tail impossible.
          if (taken_->load(std::memory_order_acquire) != *t) continue;  // acquire: as above
          return Status::Corrupt;
        }
        cached_tail_ = tail;
        if (read_ == cached_tail_) return Status::Empty;
      }
      // acquire: as the load above. Fails when the producer dropped the record first.
      if (taken_->compare_exchange_weak(*t, *t | 1, std::memory_order_acquire, std::memory_order_relaxed)) return Status::Ok;
    }
  }

  // The producer dropped the records in [read_, t): ours before them are released
  // first (releases go in ring order), then reading resumes at t.
  Status skip_dropped(uint64_t t) noexcept {
    // An odd t is Corrupt: we pin, not the producer. A t past tail is found by pin().
    if (t < read_ || t % kRecordAlign != 0) return Status::Corrupt;
    publish(false);
    if (broken_) return Status::Corrupt;
    read_ = published_ = t;
    if (cached_tail_ < t) cached_tail_ = t;
    return Status::Ok;
  }

  // Drop-oldest: waits until head reaches the start of our records, that is until the
  // producer has released the records it dropped before them. It does so inside the
  // send that dropped them; if its slot is no longer live it never will, and we
  // release its records with ours. False, with the ring marked broken, when a live
  // producer has not done so within the stall bound: the positions were overwritten
  // (found by attach_fuzzer as a timeout), and spinning on would hang the receiver.
  [[gnu::cold, gnu::noinline]] bool await_head() noexcept {
    std::optional<Deadline> give_up;
    for (uint32_t spins = 0;; ++spins) {
      // acquire: pairs with the producer's release of head; orders our store of head after its.
      const uint64_t head = consumer_.head.load(std::memory_order_acquire);
      if (head >= published_) return true;  // reached (or impossible: the producer validates what it reads)
      if (spins % 64 == 63) {
        // acquire: pairs with ChannelMemory::release_producer(); the producer's last
        // release of head came before it, so the head read next is its last.
        if (slots_ != nullptr && !(slots_->slot[ticket_index(kFirstProducerTicket)].load(std::memory_order_acquire) & 1) &&
            consumer_.head.load(std::memory_order_acquire) < published_) {  // acquire: as above
          return true;
        }
        if (!give_up) give_up.emplace(stall_ns_);
        if (give_up->passed()) {
          broken_ = true;
          return false;
        }
        std::this_thread::yield();
      } else {
        cpu_relax();
      }
    }
  }

  // The header `word` at `offset` is not a message: padding (skipped: parse the
  // record after it), 0 (claimed, no marker yet: Empty), an Abandoned record (Ok,
  // *out), or a claim marker. A marker whose owner's slot is no longer live under its
  // generation is turned into an Abandoned record; while the owner may still commit
  // it, Empty. Corrupt if it is none of these within `room` bytes.
  [[gnu::noinline]] Status parse_other(uint64_t offset, uint64_t word, uint64_t room, RecordView* out) noexcept {
    const uint32_t length = static_cast<uint32_t>(word);
    const uint32_t tag = static_cast<uint32_t>(word >> 32);
    if ((tag & 0xff) == static_cast<uint32_t>(RecordType::Padding)) {
      const uint64_t size = record_size(length);
      if (size != bytes_ - offset || size > room) return Status::Corrupt;
      read_ += size;
      return parse(out);
    }
    if (word == 0) return Status::Empty;
    const uint32_t claimed_as = (tag >> 8) & 0xff;
    if ((tag & 0xff) == static_cast<uint32_t>(RecordType::Abandoned)) {
      if (!is_message_type(claimed_as)) return Status::Corrupt;
      const uint64_t size = record_size(claimed_payload(claimed_as, length));
      if (size > room) return Status::Corrupt;
      *out = RecordView{RecordType::Abandoned, length, nullptr};
      pending_ = size;
      return Status::Ok;
    }
    if (!(tag & kClaimedBit)) return Status::Corrupt;
    const uint32_t type = tag & 0xff & ~kClaimedBit;
    const uint32_t owner = tag >> 8;  // a ticket
    if (!is_message_type(type) || record_size(claimed_payload(type, length)) > room) return Status::Corrupt;
    if (ticket_index(owner) >= kMaxProducers) return Status::Corrupt;
    if (slots_ == nullptr) return Status::Empty;
    // acquire: pairs with the release in ChannelMemory::release_producer(); the owner's
    // writes to this record happened before, so zeroing it later does not race them.
    const uint32_t slot = slots_->slot[ticket_index(owner)].load(std::memory_order_acquire);
    if ((slot & 1) && ((slot >> 1) & kGenerationMask) == ticket_generation(owner)) return Status::Empty;  // live: wait
    const uint64_t abandoned = header_word(length, static_cast<uint32_t>(RecordType::Abandoned) | (type << 8));
    // relaxed: the owner will never store here again; a failed CAS (the word changed
    // after all) just makes us read it again.
    header_at(ring_, offset).compare_exchange_strong(word, abandoned, std::memory_order_relaxed);
    return parse(out);
  }

  // Zeroes n consumed bytes from position `from`.
  void zero(uint64_t from, uint64_t n) noexcept {
    const uint64_t offset = from & mask_;
    const uint64_t first = n < bytes_ - offset ? n : bytes_ - offset;
    std::memset(ring_ + offset, 0, first);
    if (n > first) std::memset(ring_, 0, n - first);
  }
  uint8_t* const ring_;
  const uint64_t bytes_;
  const uint64_t mask_;
  ProducerLine& producer_;
  ConsumerLine& consumer_;
  const ProducerSlots* slots_;
  std::atomic<uint64_t>* const taken_;  // drop-oldest rings only
  const int64_t stall_ns_;              // drop-oldest: how long await_head() waits
  bool broken_ = false;                 // drop-oldest: await_head() gave up; every take() is Corrupt
  uint64_t read_;         // start of the next unread record
  uint64_t published_;    // last value stored to head; drop-oldest: where our unreleased records start
  uint64_t cached_tail_;  // producers' tail as last read
  uint64_t pending_ = 0;  // size of the record last peeked
};

}  // namespace ringport
