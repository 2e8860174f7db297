// Broadcast: one producer, any number of receivers in any threads. Each receiver sees
// every message sent after it attached; the producer never waits for anyone.
//
// Design (after Agrona's BroadcastTransmitter/BroadcastReceiver):
// - The region at ring_offset is a byte ring of records: a 16-byte header (the word
//   {u32 length, u32 type} of record_ring.hpp, then a u64 sequence number) and the
//   payload, padded to 8 bytes. A record never wraps: a padding record (its header word
//   only, length = the bytes it skips) fills the end of the ring first.
// - The producer alone writes the ring and its positions: `tail` (the end of what is
//   published) and `oldest` (the start of the oldest record still held). Receivers write
//   nothing shared but statistics; each keeps its cursor privately. A receiver that is
//   slow, paused or dead therefore costs the producer and the other receivers nothing.
// - Before it writes over old records, the producer moves `oldest` past them and issues
//   a release fence. A receiver copies a record with relaxed atomic loads, issues an
//   acquire fence and re-reads `oldest`: if `oldest` has passed the record, the copy may
//   be torn and is thrown away (the seqlock argument: a load that saw any overwriting
//   store synchronizes, through the two fences, with the store of `oldest` before it).
//   Ring words are only ever accessed atomically, so this is also race-free for TSan.
// - The ring keeps at most `capacity` bytes of messages, fewer when record headers fill
//   it first or when the pool runs out of slabs (relieve_pool()); the oldest records
//   go to make room.
// - Lag: a receiver whose cursor fell behind `oldest` jumps to `oldest`, reports once
//   how many messages it skipped (Status::Lagged; sequence there - sequence expected),
//   and continues from there.
// - Payloads up to inline_max are copied by each receiver. Larger ones live in a pool
//   slab shared by reference count (SharedSlabs): the ring holds one reference, dropped
//   when `oldest` passes the record; a receiver takes one per buffer it hands out, with
//   a CAS that also checks the slab's generation, so a slab freed and reused meanwhile
//   is never taken. The last reference frees the slab. When the pool is empty, or the
//   message is larger than every class, a heap block is shared the same way through the
//   process-local HeapTable, by id.
// - Attaching needs the position and the sequence number of the next message as one
//   pair: the producer updates both under a version counter (odd while it writes them).
//
// Header lines, as a broadcast uses them (layout.hpp):
//   producer.tail            published end (release)      producer.messages  next sequence number
//   producer.bytes           payload bytes sent           producer.single_sending  pair version
//   consumer.head            `oldest` (the producer's)    consumer.messages/bytes  received, all receivers
//   consumer.lagged          lag events, all receivers    data_bell          receivers sleep here
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "doorbell.hpp"
#include "heap_table.hpp"
#include "queue.hpp"
#include "record_ring.hpp"
#include "slab_pool.hpp"

namespace ringport {

inline constexpr uint64_t kBroadcastHeaderBytes = 16;
inline constexpr uint64_t broadcast_record_size(uint64_t payload) noexcept {
  return align_up(kBroadcastHeaderBytes + payload, kRecordAlign);
}

// Copies between private memory and ring words (8-byte aligned) with relaxed atomics.
inline void store_words(uint8_t* ring, uint64_t offset, const uint8_t* src, uint64_t n) noexcept {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    // relaxed: published by the release store of tail; guarded by `oldest` (Design).
    header_at(ring, offset + i).store(w, std::memory_order_relaxed);
  }
  if (i < n) {
    uint64_t w = 0;
    std::memcpy(&w, src + i, n - i);
    header_at(ring, offset + i).store(w, std::memory_order_relaxed);  // relaxed: as above
  }
}
inline void load_words(uint8_t* ring, uint64_t offset, uint8_t* dst, uint64_t n) noexcept {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    // relaxed: validated afterwards by the acquire fence and the re-read of `oldest`.
    const uint64_t w = header_at(ring, offset + i).load(std::memory_order_relaxed);
    std::memcpy(dst + i, &w, 8);
  }
  if (i < n) {
    const uint64_t w = header_at(ring, offset + i).load(std::memory_order_relaxed);  // relaxed: as above
    std::memcpy(dst + i, &w, n - i);
  }
}

// How long snapshot() spins for a publish in progress to end. A fuzz target has one
// thread, so nothing ends it there: a forged odd version would cost every receive
// and every lag ~1000 spins, most of a fuzz run's time (queue.hpp's stall_bound_ns()).
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
inline constexpr uint32_t kSnapshotSpins = 1;
#else
inline constexpr uint32_t kSnapshotSpins = 1000;
#endif

// Reference-counted slabs of a broadcast's pool. Each slab has a word
// (generation << 32) | references beside its SlabMeta; generation is its lease's.
class SharedSlabs {
 public:
  SharedSlabs(uint8_t* base, const Layout& layout, Header& header) noexcept
      : pool_(base, layout, header), base_(base), layout_(&layout) {}

  // A slab for `length` bytes holding one reference (the ring's). Empty when none is free.
  Status acquire(uint32_t length, Lease* out) noexcept {
    if (Status s = pool_.acquire_for(length, out); s != Status::Ok) return s;
    // relaxed: no receiver can know this generation before the record naming it is
    // published (release store of tail); a stale one's CAS fails on the generation.
    refs(*out).store((uint64_t{out->generation} << 32) | 1, std::memory_order_relaxed);
    return Status::Ok;
  }

  // Takes one more reference to `lease` if it is still live under that generation.
  bool try_ref(const Lease& lease) noexcept {
    if (!valid(lease)) return false;
    std::atomic<uint64_t>& word = refs(lease);
    // acquire: as the CAS.
    uint64_t w = word.load(std::memory_order_acquire);
    for (;;) {
      if ((w >> 32) != lease.generation || static_cast<uint32_t>(w) == 0 || static_cast<uint32_t>(w) == UINT32_MAX) return false;
      // acq_rel: acquire orders our reads of the slab after the producer's writes (it
      // published them with the release store of tail, which we acquired too);
      // release keeps the count a single total order.
      if (word.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
    }
  }

  // Drops one reference; the last one returns the slab to the pool.
  void unref(const Lease& lease) noexcept {
    if (!valid(lease)) return;
    std::atomic<uint64_t>& word = refs(lease);
    // relaxed: the CAS re-checks.
    uint64_t w = word.load(std::memory_order_relaxed);
    for (;;) {
      if ((w >> 32) != lease.generation || static_cast<uint32_t>(w) == 0) return;  // stale or corrupt: not ours
      // acq_rel: release orders our reads of the slab before whoever frees it; the one
      // that drops the last reference acquires every other holder's release.
      if (word.compare_exchange_weak(w, w - 1, std::memory_order_acq_rel, std::memory_order_relaxed)) break;
    }
    if (static_cast<uint32_t>(w) == 1) pool_.release(lease);
  }

  bool class_for(uint64_t bytes, uint32_t* cls) const noexcept { return pool_.class_for(bytes, cls); }

  // Whether only the ring holds `lease` now (a hint: a receiver may take it next).
  bool only_ring_holds(const Lease& lease) const noexcept {
    // relaxed: a hint; acquire() re-checks through the free list.
    return valid(lease) && refs(lease).load(std::memory_order_relaxed) == ((uint64_t{lease.generation} << 32) | 1);
  }
  uint8_t* data(const Lease& lease) const noexcept { return pool_.data(lease); }
  uint32_t slab_size(uint32_t cls) const noexcept { return pool_.slab_size(cls); }
  bool valid(const Lease& lease) const noexcept {
    return lease.cls < layout_->class_count && lease.index < layout_->classes[lease.cls].slab_count;
  }

 private:
  std::atomic<uint64_t>& refs(const Lease& lease) const noexcept {
    const SlabClassInfo& k = layout_->classes[lease.cls];
    auto* words = reinterpret_cast<std::atomic<uint64_t>*>(base_ + k.meta_offset + uint64_t{k.slab_count} * sizeof(SlabMeta));
    return words[lease.index];
  }

  SlabPool pool_;
  uint8_t* base_;
  const Layout* layout_;
};

// The producing end. One per broadcast (role_bits::kSender); lives in its thread.
class BroadcastProducer {
 public:
  BroadcastProducer(ChannelMemory& memory, HeapTable& heap) noexcept
      : memory_(memory),
        heap_(heap),
        slabs_(memory.base(), memory.layout(), memory.header()),
        ring_(memory.ring()),
        bytes_(memory.layout().ring_bytes),
        data_bell_(memory.header().data_bell) {
    const Header& h = memory.header();
    // relaxed: only the producer writes these; the role claim ordered us after creation.
    tail_ = h.producer.tail.load(std::memory_order_relaxed);
    oldest_ = h.consumer.head.load(std::memory_order_relaxed);
    sequence_ = h.producer.messages.load(std::memory_order_relaxed);
    sent_bytes_ = h.producer.bytes.load(std::memory_order_relaxed);
    version_ = h.producer.single_sending.load(std::memory_order_relaxed) & ~1u;
    corrupt_ = tail_ % kRecordAlign != 0 || oldest_ % kRecordAlign != 0 || oldest_ > tail_ || tail_ - oldest_ > bytes_;
  }

  // Publishes a copy of `len` bytes. Never waits: the oldest records make room.
  // Ok · Closed · TooLarge · Full (out of memory for a large message) · Corrupt.
  // `*rang` is set when a sleeping receiver was flagged and must be woken.
  Status try_send(const uint8_t* data, uint32_t len, bool* rang) noexcept {
    *rang = false;
    if (corrupt_) return Status::Corrupt;
    if (memory_.state() & (state_bits::kSenderClosed | state_bits::kSenderErrored | state_bits::kSenderGone)) return Status::Closed;
    if (len > memory_.layout().max_message_size) return Status::TooLarge;
    if (len <= memory_.layout().inline_max) {
      if (Status s = make_room(len, len); s != Status::Ok) return s;
      write_header(RecordType::Inline, len);
      store_words(ring_, at_ + kBroadcastHeaderBytes, data, len);
    } else {
      uint64_t descriptor[2];
      if (Status s = make_room(sizeof descriptor, len); s != Status::Ok) return s;
      if (Status s = write_outside_ring(data, len, descriptor); s != Status::Ok) return s;
      write_header(type_, sizeof descriptor);
      store_words(ring_, at_ + kBroadcastHeaderBytes, reinterpret_cast<const uint8_t*>(descriptor), sizeof descriptor);
    }
    publish(len);
    *rang = data_bell_.ring_if_sleeping();
    return Status::Ok;
  }

 private:
  // Makes room at tail for a record of `payload` ring bytes for a message of `held`
  // bytes, evicting the oldest records; the record goes at at_ (after a
  // padding record, written here, if it would not fit before the end of the ring).
  Status make_room(uint64_t payload, uint64_t held) noexcept {
    const uint64_t size = broadcast_record_size(payload);
    const uint64_t offset = tail_ & (bytes_ - 1), to_end = bytes_ - offset;
    const uint64_t need = size <= to_end ? size : to_end + size;
    if (need > bytes_) return Status::TooLarge;
    uint64_t oldest = oldest_, kept = held_;
    const uint64_t capacity = memory_.layout().capacity;
    while (tail_ + need - oldest > bytes_ || (kept + held > capacity && oldest < tail_)) {
      if (Status s = step(&oldest, &kept, false); s != Status::Ok) return s;
    }
    if (Status s = evict_to(oldest); s != Status::Ok) return s;
    at_ = offset;
    pending_ = need;
    pending_held_ = held;
    if (size > to_end) {
      // relaxed: published with the record by the release store of tail.
      header_at(ring_, offset).store(header_word(static_cast<uint32_t>(to_end), static_cast<uint32_t>(RecordType::Padding)),
                                     std::memory_order_relaxed);
      at_ = 0;
    }
    return Status::Ok;
  }

  // Moves `oldest` to `target` (a record boundary found by step()). Two passes: first
  // publish the new `oldest`, then drop the ring's references to what it passed, so a
  // receiver that finds a slab already freed always sees `oldest` past its record (an
  // overrun, not corruption).
  Status evict_to(uint64_t target) noexcept {
    if (target == oldest_) return Status::Ok;
    // relaxed + the fence: the fence orders this store before every later store that
    // overwrites the evicted records, and before the references are dropped.
    memory_.header().consumer.head.store(target, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    while (oldest_ < target) {
      if (Status s = step(&oldest_, &held_, true); s != Status::Ok) return s;
    }
    return Status::Ok;
  }

  // The pool has no free slab of class `cls`. If one of the oldest kPressureScan
  // records holds such a slab that no receiver holds, evict up to it: its slab comes
  // back. So the ring alone never makes large messages fall back to the heap; it keeps
  // fewer of them instead. Slabs held by receivers are not the ring's to give back.
  void relieve_pool(uint32_t cls) noexcept {
    constexpr int kPressureScan = 64;
    uint64_t target = oldest_, kept = held_;
    for (int i = 0; i < kPressureScan && target < tail_; ++i) {
      Lease slab{UINT32_MAX, 0, 0};
      if (step(&target, &kept, false, &slab) != Status::Ok) return;
      if (slab.cls == cls && slabs_.only_ring_holds(slab)) {
        evict_to(target);
        return;
      }
    }
  }

  // The header of the record at at_; its payload goes at at_ + kBroadcastHeaderBytes.
  void write_header(RecordType type, uint64_t payload) noexcept {
    // relaxed: published with the record by the release store of tail.
    header_at(ring_, at_).store(header_word(static_cast<uint32_t>(payload), static_cast<uint32_t>(type)), std::memory_order_relaxed);
    header_at(ring_, at_ + 8).store(sequence_, std::memory_order_relaxed);
  }

  // Moves *position (at or after `oldest`, before tail) past one record, taking its
  // message's length off *kept and, if `drop`, dropping the ring's reference to its payload.
  // The ring is untrusted even though we wrote it: anything impossible is Corrupt.
  // `*slab`, if given, is set to the lease of a Slab record.
  Status step(uint64_t* position, uint64_t* kept, bool drop, Lease* slab = nullptr) noexcept {
    const uint64_t offset = *position & (bytes_ - 1), to_end = bytes_ - offset;
    // relaxed: our own store (or a scribble, which the checks below catch).
    const uint64_t word = header_at(ring_, offset).load(std::memory_order_relaxed);
    const uint32_t length = static_cast<uint32_t>(word), type = static_cast<uint32_t>(word >> 32);
    if (type == static_cast<uint32_t>(RecordType::Padding)) {
      if (length != to_end || to_end > tail_ - *position) return corrupt();
      *position += to_end;
      return Status::Ok;
    }
    const uint64_t size = broadcast_record_size(length);
    if (!is_message_type(type) || size > to_end || size > tail_ - *position) return corrupt();
    uint64_t held = length;
    if (type != static_cast<uint32_t>(RecordType::Inline)) {
      if (length != 16) return corrupt();
      uint64_t descriptor[2];
      load_words(ring_, offset + kBroadcastHeaderBytes, reinterpret_cast<uint8_t*>(descriptor), sizeof descriptor);
      held = message_length(descriptor);
      if (slab && type == static_cast<uint32_t>(RecordType::Slab)) {
        SlabRef ref;
        std::memcpy(&ref, descriptor, sizeof ref);
        *slab = Lease{ref.cls, ref.index, ref.generation};
      }
      if (drop) drop_descriptor(static_cast<RecordType>(type), descriptor);
    }
    *kept -= held < *kept ? held : *kept;
    *position += size;
    return Status::Ok;
  }

  // The message length a Slab or Heap descriptor names (both keep it at the same place).
  static uint64_t message_length(const uint64_t descriptor[2]) noexcept {
    SlabRef ref;
    std::memcpy(&ref, descriptor, sizeof ref);
    return ref.length;
  }

  // The ring's reference to a slab or shared heap block goes away.
  void drop_descriptor(RecordType type, const uint64_t descriptor[2]) noexcept {
    if (type == RecordType::Slab) {
      SlabRef ref;
      std::memcpy(&ref, descriptor, sizeof ref);
      slabs_.unref(Lease{ref.cls, ref.index, ref.generation});
    } else if (type == RecordType::Heap) {
      heap_.unshare(descriptor[0]);
    }
  }

  // Copies a large payload into a slab (or a shared heap block) and sets type_ and
  // the ring's descriptor of it.
  Status write_outside_ring(const uint8_t* data, uint32_t len, uint64_t descriptor[2]) noexcept {
    Lease lease;
    Status got = slabs_.acquire(len, &lease);
    uint32_t cls;
    if (got == Status::Empty && slabs_.class_for(len, &cls)) {
      relieve_pool(cls);
      got = slabs_.acquire(len, &lease);
    }
    if (got == Status::Ok) {
      std::memcpy(slabs_.data(lease), data, len);
      const SlabRef ref{lease.cls, lease.index, lease.generation, len};
      std::memcpy(descriptor, &ref, sizeof ref);
      type_ = RecordType::Slab;
      return Status::Ok;
    }
    try {
      auto block = std::make_shared<HeapBlock>(heap_.allocate(len));
      if (!block->data) return Status::Full;
      std::memcpy(block->data.get(), data, len);
      const HeapRef ref{heap_.share(std::move(block)), len, 0};
      std::memcpy(descriptor, &ref, sizeof ref);
    } catch (const std::bad_alloc&) {
      return Status::Full;
    }
    // relaxed: a statistic.
    memory_.header().pool.fallbacks.fetch_add(1, std::memory_order_relaxed);
    type_ = RecordType::Heap;
    return Status::Ok;
  }

  void publish(uint32_t len) noexcept {
    ProducerLine& line = memory_.header().producer;
    tail_ += pending_;
    held_ += pending_held_;
    ++sequence_;
    sent_bytes_ += len;
    // The (tail, next sequence) pair under its version, seqlock-style (Design).
    // relaxed + the fence: the fence orders the odd version before the pair's stores.
    line.single_sending.store(version_ + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    // release: pairs with the receivers' acquire of tail; the record is visible.
    line.tail.store(tail_, std::memory_order_release);
    line.messages.store(sequence_, std::memory_order_relaxed);  // relaxed: inside the version
    line.bytes.store(sent_bytes_, std::memory_order_relaxed);   // relaxed: a statistic
    version_ += 2;
    // release: pairs with snapshot()'s acquire; the pair is complete.
    line.single_sending.store(version_, std::memory_order_release);
  }

  Status corrupt() noexcept {
    corrupt_ = true;
    return Status::Corrupt;
  }

  ChannelMemory& memory_;
  HeapTable& heap_;
  SharedSlabs slabs_;
  uint8_t* const ring_;
  const uint64_t bytes_;
  Doorbell data_bell_;
  uint64_t tail_, oldest_, sequence_, sent_bytes_;
  uint32_t version_;
  bool corrupt_;
  uint64_t held_ = 0;  // message bytes of the records between oldest and tail
  uint64_t at_ = 0, pending_ = 0, pending_held_ = 0;  // the record being written: offset, ring bytes, message bytes
  RecordType type_ = RecordType::Inline;
};

// A receiving end. Any number per broadcast, each in its own thread; not thread-safe.
class BroadcastConsumer {
 public:
  BroadcastConsumer(ChannelMemory& memory, HeapTable& heap) noexcept
      : memory_(memory),
        heap_(heap),
        slabs_(memory.base(), memory.layout(), memory.header()),
        ring_(memory.ring()),
        bytes_(memory.layout().ring_bytes) {
    snapshot(&cursor_, &expected_);
  }

  // Receives up to `max` messages, as QueueConsumer::drain (inline data must be
  // copied inside the call; returning false stops after it). Returns Ok if at least
  // one was delivered, else Empty, Lagged (missed() says how many were skipped; the
  // next call goes on from the oldest message held), Closed, Errored, Disconnected or
  // Corrupt.
  template <class OnMessage>
  Status drain(std::size_t max, OnMessage&& on_message, bool* rang) noexcept {
    *rang = false;  // nobody waits for a broadcast receiver
    if (closed_) return Status::Closed;
    uint32_t st = memory_.state();
    if (st & state_bits::kSenderErrored) return Status::Errored;
    if (lag_pending_) {
      lag_pending_ = false;
      return Status::Lagged;
    }
    std::size_t delivered = 0;
    uint64_t bytes = 0;
    Status s = Status::Ok;
    while (delivered < max) {
      Message m;
      s = next(&m);
      if (s != Status::Ok) break;
      bytes += m.length;
      ++delivered;
      if (!deliver(on_message, m)) break;
    }
    if (delivered) {
      account(delivered, bytes);
      if (s == Status::Lagged) lag_pending_ = true;
      return Status::Ok;
    }
    if (s != Status::Empty) return s;
    // Nothing now: has the stream ended? Re-read tail after the state, as the
    // producer publishes before it sets a close bit.
    st = memory_.state();
    if (!(st & (state_bits::kSenderClosed | state_bits::kSenderGone))) return Status::Empty;
    Message m;
    s = next(&m);
    if (s == Status::Ok) {
      account(1, m.length);
      on_message(m);
      return Status::Ok;
    }
    if (s != Status::Empty) return s;
    return (st & state_bits::kSenderClosed) ? Status::Closed : Status::Disconnected;
  }

  // True if a drain() now would return something other than Empty.
  bool ready() noexcept {
    if (closed_ || lag_pending_) return true;
    if (memory_.state() & (state_bits::kSenderErrored | state_bits::kSenderClosed | state_bits::kSenderGone)) return true;
    // acquire: as in next().
    return memory_.header().producer.tail.load(std::memory_order_acquire) != cursor_;
  }

  // This receiver is done; the others and the producer are unaffected.
  void close() noexcept { closed_ = true; }

  // Messages skipped at the last Lagged.
  uint64_t missed() const noexcept { return missed_; }
  // Messages sent that this receiver has not received yet (an estimate while sends run).
  uint64_t pending_approx() const noexcept {
    // relaxed: an observation.
    const uint64_t sent = memory_.header().producer.messages.load(std::memory_order_relaxed);
    return sent > expected_ ? sent - expected_ : 0;
  }
  uint64_t received() const noexcept { return received_; }
  uint64_t received_bytes() const noexcept { return received_bytes_; }
  uint64_t lag_events() const noexcept { return lag_events_; }
  uint64_t missed_total() const noexcept { return missed_total_; }

  Doorbell data_bell() noexcept { return Doorbell(memory_.header().data_bell); }
  SharedSlabs& slabs() noexcept { return slabs_; }
  ChannelMemory& memory() noexcept { return memory_; }

 private:
  // The (tail, next sequence) pair, consistent (Design).
  void snapshot(uint64_t* tail, uint64_t* sequence) const noexcept {
    const ProducerLine& line = memory_.header().producer;
    for (uint32_t spins = 0;; ++spins) {
      // acquire: pairs with publish()'s final release store of the version.
      const uint32_t v1 = line.single_sending.load(std::memory_order_acquire);
      // acquire: a tail we may read records below.
      *tail = line.tail.load(std::memory_order_acquire);
      *sequence = line.messages.load(std::memory_order_relaxed);  // relaxed: checked by the version
      std::atomic_thread_fence(std::memory_order_acquire);
      // relaxed + the fence: a changed pair shows as a changed version.
      const uint32_t v2 = line.single_sending.load(std::memory_order_relaxed);
      if (v1 == v2 && !(v1 & 1)) return;
      // A producer that died mid-publish leaves the version odd forever; its last
      // pair is still a usable start after a while (it never moves again).
      if (spins > kSnapshotSpins) return;
      cpu_relax();
    }
  }

  uint64_t oldest_acquire() const noexcept {
    // acquire: pairs with the producer's store of `oldest` and the fence after it.
    return memory_.header().consumer.head.load(std::memory_order_acquire);
  }
  // True if the record at `position`, read just before, may have been overwritten.
  bool overrun(uint64_t position) const noexcept {
    std::atomic_thread_fence(std::memory_order_acquire);
    // relaxed + the fence above: see Design.
    return memory_.header().consumer.head.load(std::memory_order_relaxed) > position;
  }

  Status next(Message* m) noexcept {
    for (;;) {
      // acquire: pairs with publish()'s release store; the records below are visible.
      const uint64_t tail = memory_.header().producer.tail.load(std::memory_order_acquire);
      if (tail == cursor_) return Status::Empty;
      // The cursor too: it starts at a tail read from shared memory (found by fuzzing:
      // a forged odd tail made the first read a misaligned atomic load).
      if ((tail | cursor_) % kRecordAlign != 0 || cursor_ > tail) return Status::Corrupt;
      // `oldest` may be past the tail we read (the producer moved on since), and a
      // cursor a whole ring behind that tail was certainly overwritten: both are lags.
      if (cursor_ < oldest_acquire() || tail - cursor_ > bytes_) return lag();
      const uint64_t offset = cursor_ & (bytes_ - 1), to_end = bytes_ - offset;
      // relaxed: validated by overrun() below.
      const uint64_t word = header_at(ring_, offset).load(std::memory_order_relaxed);
      const uint32_t length = static_cast<uint32_t>(word), type = static_cast<uint32_t>(word >> 32);
      if (type == static_cast<uint32_t>(RecordType::Padding)) {
        if (overrun(cursor_)) return lag();
        if (length != to_end || to_end > tail - cursor_) return Status::Corrupt;
        cursor_ += to_end;
        continue;
      }
      const uint64_t size = broadcast_record_size(length);
      const bool inline_payload = type == static_cast<uint32_t>(RecordType::Inline);
      if (!is_message_type(type) || size > to_end || size > tail - cursor_ ||
          (inline_payload ? length > memory_.layout().inline_max : length != 16)) {
        if (overrun(cursor_)) return lag();
        return Status::Corrupt;
      }
      // relaxed: validated by overrun() below.
      const uint64_t sequence = header_at(ring_, offset + 8).load(std::memory_order_relaxed);
      scratch_.resize(length);  // inline_max at most: reserved by the first messages
      load_words(ring_, offset + kBroadcastHeaderBytes, scratch_.data(), length);
      if (overrun(cursor_)) return lag();
      if (sequence != expected_) return Status::Corrupt;
      if (Status s = decode(static_cast<RecordType>(type), m); s != Status::Ok) {
        if (overrun(cursor_)) return lag();
        return s;
      }
      cursor_ += size;
      ++expected_;
      return Status::Ok;
    }
  }

  Status decode(RecordType type, Message* m) noexcept {
    if (type == RecordType::Inline) {
      m->owner = Message::Owner::Ring;
      m->data = scratch_.data();
      m->length = static_cast<uint32_t>(scratch_.size());
      return Status::Ok;
    }
    if (type == RecordType::Slab) {
      SlabRef ref;
      std::memcpy(&ref, scratch_.data(), sizeof ref);
      const Lease lease{ref.cls, ref.index, ref.generation};
      if (!slabs_.valid(lease) || ref.length > slabs_.slab_size(ref.cls)) return Status::Corrupt;
      if (!slabs_.try_ref(lease)) return Status::Corrupt;  // freed meanwhile: the caller checks for an overrun
      m->owner = Message::Owner::SharedSlab;
      m->lease = lease;
      m->data = slabs_.data(lease);
      m->length = ref.length;
      return Status::Ok;
    }
    HeapRef ref;
    std::memcpy(&ref, scratch_.data(), sizeof ref);
    std::shared_ptr<HeapBlock> block;
    try {
      block = heap_.find_shared(ref.id, ref.length);
    } catch (...) {
      return Status::Full;
    }
    if (!block) return Status::Corrupt;  // gone meanwhile: the caller checks for an overrun
    m->owner = Message::Owner::SharedHeap;
    m->data = block->data.get();
    m->length = ref.length;
    m->shared = std::move(block);
    return Status::Ok;
  }

  // The cursor fell behind `oldest`: jump to the oldest record held and count what
  // was skipped. Returns Lagged (missed() is set), or Corrupt.
  Status lag() noexcept {
    // Each look again is for a publish that moved the pair or `oldest` meanwhile (a
    // few stores, no copy): looking for longer than release_stall_bound_ns() (queue.hpp)
    // means the memory cannot be right. (A bound of 1000 looks let a forged odd pair
    // version, which makes each snapshot() spin ~1000 times, cost ~0.5 s per receive:
    // fuzz runs hit the 10 s timeout.) Started at the first look again: almost no lag
    // gets there.
    std::optional<Deadline> deadline;
    auto look_again = [&] {
      if (deadline) return !deadline->passed();
      deadline.emplace(release_stall_bound_ns());
      return true;
    };
    for (;;) {
      const uint64_t oldest = oldest_acquire();
      uint64_t tail, sequence;
      snapshot(&tail, &sequence);
      if (oldest % kRecordAlign != 0) return Status::Corrupt;
      if (oldest > tail || tail - oldest > bytes_) {  // read across a send: look again
        if (look_again()) continue;
        return Status::Corrupt;
      }
      uint64_t at = oldest;
      uint64_t offset = at & (bytes_ - 1);
      // relaxed: validated by overrun() below.
      uint64_t word = header_at(ring_, offset).load(std::memory_order_relaxed);
      if (at < tail && static_cast<uint32_t>(word >> 32) == static_cast<uint32_t>(RecordType::Padding)) {
        at += bytes_ - offset;
        offset = 0;
      }
      // The sequence of the record at `at`: the one after the published pair if at
      // is the tail itself, else the record's own.
      const uint64_t first = at >= tail ? sequence : header_at(ring_, offset + 8).load(std::memory_order_relaxed);
      if (overrun(oldest)) {  // the producer moved on meanwhile: look again
        if (look_again()) continue;
        return Status::Corrupt;
      }
      if (first < expected_ || at > tail) return Status::Corrupt;
      missed_ = first - expected_;
      missed_total_ += missed_;
      ++lag_events_;
      // relaxed: a statistic.
      memory_.header().consumer.lagged.fetch_add(1, std::memory_order_relaxed);
      cursor_ = oldest;
      expected_ = first;
      return Status::Lagged;
    }
  }

  void account(uint64_t messages, uint64_t bytes) noexcept {
    received_ += messages;
    received_bytes_ += bytes;
    ConsumerLine& line = memory_.header().consumer;
    // relaxed: statistics, once per drain (many receivers share these words).
    line.messages.fetch_add(messages, std::memory_order_relaxed);
    line.bytes.fetch_add(bytes, std::memory_order_relaxed);
  }

  ChannelMemory& memory_;
  HeapTable& heap_;
  SharedSlabs slabs_;
  uint8_t* const ring_;
  const uint64_t bytes_;
  uint64_t cursor_ = 0;    // position of the next record to read
  uint64_t expected_ = 0;  // its sequence number
  uint64_t missed_ = 0;
  uint64_t missed_total_ = 0, lag_events_ = 0, received_ = 0, received_bytes_ = 0;
  bool lag_pending_ = false;  // a lag found after messages were delivered: reported next
  bool closed_ = false;
  std::vector<uint8_t> scratch_;  // the last inline payload or descriptor read
};

}  // namespace ringport
