// The queue channel: one or many producers, one consumer, FIFO per producer, every
// message delivered once (or, when dropping oldest, delivered or dropped once).
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
//
// Producers (the channel option `producers: 'auto'`):
// - The first producer (role_bits::kSender, ticket kFirstProducerTicket) starts in
//   single mode: RingProducer's local claims and one release store of tail per send
//   (per batch for try_send_batch()), its byte count stored, not added. Every other
//   producer first takes a ticket with ChannelMemory::claim_producer() and sends in
//   multi mode: budget by CAS on producer.bytes, claim by CAS on tail, commit by its
//   header word (record_ring.hpp).
//   The consumer reads both formats with one rule, so it never knows the mode.
// - The upgrade, Single -> Upgrading -> Clearing -> Multi, is one-way. A producer in multi mode
//   may only claim once the mode is Multi: the first producer's plain stores of tail
//   and of its counters would otherwise overwrite claims. So the first producer, around
//   each single-mode send, runs a Dekker handshake against the upgrader:
//       first producer:  single_sending = 1; light barrier; mode == Single? send : go multi;
//                        ... single_sending = 0 (release)
//       upgrader:        mode = Upgrading; heavy barrier; wait until single_sending == 0
//                        (acquire), and the consumer is idle (below); one upgrader:
//                        Clearing, zero (below), Multi; the others wait for Multi
//   The heavy barrier (membarrier) runs a full fence on every thread, so either the
//   upgrader sees the flag of a send in progress, or that send sees Upgrading and goes
//   multi without touching tail. The first producer pays two plain stores and a
//   compiler barrier per send; the mode word shares the line of `state`, which every
//   send reads anyway. The wait is for at most one send already in progress.
// - Zeroing: claims need free space to be zero (record_ring.hpp); a lone producer
//   does not, so in single mode the consumer releases space without zeroing it (one
//   memset less per drain), and the upgrade zeroes what single mode left dirty. The
//   consumer runs a second Dekker handshake around each release:
//       consumer:  releasing = 1; light barrier; zero = mode != Single; [zero]; head = ...;
//                  releasing = 0 (release)
//       upgrader:  (after its heavy barrier) wait until releasing == 0 (acquire)
//   Either a release sees a mode past Single and zeroes, or the upgrader sees its flag
//   and waits for it to end (a native call), then reads a head past it. The one
//   upgrader in Clearing zeroes the free ring offsets that positions before tail wrote:
//   those of positions [max(tail, ring size), head + ring size); in a fresh ring pages
//   never touched stay untouched. The consumer pays two plain stores and a compiler
//   barrier per drain; the mode shares the line of `state`, which it reads anyway.
// - Idle: both flags are 0, so the upgrade completes at once; the first producer
//   notices the mode at its next send. Gone mid-send (its thread ended inside a send,
//   which a Node thread cannot do, since termination only stops JavaScript): the flag
//   stays 1, but its slot is no longer live, so the upgrade goes on and zeroes all of
//   the free space (the dead send may have written headers past tail).
// - Records the first producer published before the upgrade sit below the tail the
//   first claim starts from: nothing is lost or doubled, and each producer's records
//   stay in its order of sends.
// - Multi mode budget: producer.bytes counts bytes reserved by multi-mode sends (a CAS
//   that also checks the capacity), so the capacity holds across producers. A send that
//   reserved but then finds the ring full gives its bytes back; it wakes no one, as the
//   full ring will wake waiters when the consumer drains it.
// - A producer that dies between claim and commit: ChannelMemory::producer_gone()
//   frees its slot, and the consumer turns its claim into an Abandoned record once it
//   reaches it (record_ring.hpp), crediting its bytes as received so the budget is not
//   lost. The bound is the slot itself: a claim is abandoned only once its owner's slot
//   no longer holds the marker's generation, never on a timer, since a producer that
//   is merely slow (a zero-copy reservation held across JavaScript) must not lose its
//   record. No timer also means a sleeping consumer needs no timed wake-up:
//   producer_gone() rings the data bell. A slab leased for such a claim is not
//   recoverable (its lease is written only at commit) and stays leased.
//
// Drop-oldest (Overflow::DropOldest, JS `backpressure: 'dropOldest'`):
// - One producer, in single mode for good: claim_producer() refuses more. Several
//   would have to agree on which records each drops, and could not drop a record
//   another one has claimed but not committed.
// - A send that finds the budget or the ring full takes the oldest unread records from
//   the consumer (record_ring.hpp: a CAS on `taken` decides who owns each record) until
//   it fits, gives each dropped message's slab or heap block back at once, and counts
//   it in producer.dropped / dropped_bytes. Buffered bytes are sent - received -
//   dropped; only the producer writes the drop counters, so it never re-reads them.
// - It never returns Full. It waits (spins, then yields) only while the consumer holds
//   every record it could drop: until the consumer's current drain releases them,
//   which it does every kReleaseEvery messages; Disconnected once the receiver is gone.
//   A message larger than the capacity drops everything, then waits for that too.
// - The consumer takes each record before it reads the payload, so it never delivers a
//   torn or dropped message, and a message it took is never dropped.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <thread>
#include <type_traits>

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

// A received message. Inline payloads point into the ring (or a receiver's scratch
// copy) and must be copied before the next receive; slab and heap payloads belong to
// the receiver until released. A broadcast's are shared: SharedSlab holds one
// reference to the slab (broadcast.hpp), SharedHeap one to the block.
struct Message {
  enum class Owner { Ring, Slab, Heap, SharedSlab, SharedHeap } owner = Owner::Ring;
  const uint8_t* data = nullptr;
  uint32_t length = 0;
  Lease lease{};                      // Owner::Slab, Owner::SharedSlab
  HeapBlock block;                    // Owner::Heap
  std::shared_ptr<HeapBlock> shared;  // Owner::SharedHeap
};

// Calls a drain's `on_message`; false when it asked the drain to stop after this
// message (a visitor returning bool; one returning void takes all up to `max`).
template <class OnMessage>
bool deliver(OnMessage& on_message, Message& m) noexcept {
  if constexpr (std::is_same_v<decltype(on_message(m)), bool>) {
    return on_message(m);
  } else {
    on_message(m);
    return true;
  }
}

// decode_record() of a Slab or Heap record; out of line, to keep the inline case small.
[[gnu::noinline]] inline Status decode_descriptor(RecordView r, const SlabPool& pool, HeapTable& heap, Message* m) noexcept {
  switch (r.type) {
    case RecordType::Slab: {
      if (r.length != sizeof(SlabRef)) return Status::Corrupt;
      SlabRef ref;
      std::memcpy(&ref, r.payload, sizeof ref);
      const Lease lease{ref.cls, ref.index, ref.generation};
      if (!pool.is_leased(lease) || ref.length > pool.slab_size(ref.cls)) return Status::Corrupt;
      m->owner = Message::Owner::Slab;
      m->lease = lease;
      m->data = pool.data(lease);
      m->length = ref.length;
      return Status::Ok;
    }
    case RecordType::Heap: {
      if (r.length != sizeof(HeapRef)) return Status::Corrupt;
      HeapRef ref;
      std::memcpy(&ref, r.payload, sizeof ref);
      if (!heap.take(ref.id, ref.length, &m->block)) return Status::Corrupt;
      m->owner = Message::Owner::Heap;
      m->data = m->block.data.get();
      m->length = ref.length;
      return Status::Ok;
    }
    default:
      return Status::Corrupt;
  }
}

// A Message for the record `r`: an Inline record's payload in the ring, or the slab or
// heap block a Slab or Heap record names (a heap block leaves the table). Corrupt if
// the descriptor names no such memory. Used by the consumer, and by a producer that
// drops a record.
// (RecordView by value: a reference would keep the caller's view in memory.)
[[gnu::always_inline]] inline Status decode_record(RecordView r, const SlabPool& pool, HeapTable& heap, Message* m) noexcept {
  if (r.type != RecordType::Inline) return decode_descriptor(r, pool, heap, m);
  m->owner = Message::Owner::Ring;
  m->data = r.payload;
  m->length = r.length;
  return Status::Ok;
}

// Gives a message's slab or heap block back (a message nobody will read).
inline void give_back(Message& m, SlabPool& pool, HeapTable& heap) noexcept {
  if (m.owner == Message::Owner::Slab) pool.release(m.lease);
  if (m.owner == Message::Owner::Heap) heap.recycle(std::move(m.block));
}

// How long a wait for what only another thread can end may last before it is taken
// as corrupt shared memory: in await_multi(), a single-mode send in progress (one copy
// of at most max_message_size bytes) or a clearing of the free space (a memset of the
// ring); in drop_until_room(), the consumer's drain in progress. At 16 ns a byte
// (60 MB/s, far below any copy here, sanitizers included) plus a second, a longer wait
// means someone overwrote a position, mode or flag word: Corrupt, not a thread
// spinning forever (found by fuzzing: attach_fuzzer timeouts). A fuzz target has one
// thread, so nothing could end the wait there.
inline constexpr int64_t kStallBaseNs = 1'000'000'000;

inline int64_t stall_bound_ns(const Layout& l) noexcept {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)l;
  return 0;
#else
  return kStallBaseNs + static_cast<int64_t>((uint64_t{l.max_message_size} + l.ring_bytes) * 16);
#endif
}

// The same for waits on a few instructions of a send, no copy: the consumer of a
// drop-oldest channel waiting in publish() for the producer to release what it
// dropped; a lagging broadcast receiver re-reading the producer's positions.
inline int64_t release_stall_bound_ns() noexcept {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  return 0;
#else
  return kStallBaseNs;
#endif
}

struct ChannelStats {
  uint64_t sent, received, bytes_sent, bytes_received;
  uint64_t lagged;  // broadcast: lag events of all receivers
  uint64_t dropped, dropped_bytes;  // drop-oldest: messages dropped unread, and their bytes
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
    // relaxed: the buffer is not shared yet; publishing the handle orders this.
    header->producers.slot[0].store((ticket_generation(kFirstProducerTicket) << 1) | 1, std::memory_order_relaxed);
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

  // Takes a producer slot for an additional producer (not the role_bits::kSender one,
  // which owns slot 0): *ticket names it for QueueProducer and release_producer().
  // RoleTaken when all kMaxProducers - 1 slots are live, and always in a drop-oldest
  // channel: its one producer drops records in place (record_ring.hpp), which the
  // claims of several could not share.
  Status claim_producer(uint32_t* ticket) noexcept {
    if (layout_.drops_oldest()) return Status::RoleTaken;
    for (uint32_t i = 1; i < kMaxProducers; ++i) {
      std::atomic<uint32_t>& slot = header_->producers.slot[i];
      // relaxed: the CAS below re-checks.
      uint32_t word = slot.load(std::memory_order_relaxed);
      while (!(word & 1)) {
        const uint32_t generation = ((word >> 1) + 1) & kGenerationMask;
        // acq_rel: one winner per slot; acquire orders us after the previous tenant's release.
        if (slot.compare_exchange_weak(word, (generation << 1) | 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
          *ticket = make_ticket(i, generation);
          return Status::Ok;
        }
      }
    }
    return Status::RoleTaken;
  }

  // Frees the slot of `ticket` once that producer will never touch the channel again.
  // Claims it left uncommitted are abandoned by the consumer when it reaches them.
  // False if the ticket is not live (already released, or never valid): harmless.
  bool release_producer(uint32_t ticket) noexcept {
    if (ticket_index(ticket) >= kMaxProducers) return false;
    uint32_t live = (ticket_generation(ticket) << 1) | 1;
    // release: pairs with the consumer's acquire in RingConsumer::unblock(); the
    // producer's writes to a claim it abandons happen before the consumer zeroes it.
    return header_->producers.slot[ticket_index(ticket)].compare_exchange_strong(live, live & ~1u, std::memory_order_release,
                                                                                   std::memory_order_relaxed);
  }

  // The producer of `ticket` died or was collected, perhaps between a claim and its
  // commit: frees its slot and wakes the consumer to unblock what it left.
  bool producer_gone(uint32_t ticket) noexcept {
    const bool released = release_producer(ticket);
    Doorbell(header_->data_bell).ring();
    return released;
  }

  // Counts a sender endpoint that may send (any thread, as it is created).
  void open_sender() noexcept {
    // relaxed: a count; end_sender()'s acq_rel decrement orders what matters.
    header_->state.senders_open.fetch_add(1, std::memory_order_relaxed);
  }

  // A sender endpoint ended: `graceful` after its close(), else it died or was
  // collected. Frees its producer slot. When it was the last open sender, returns the
  // state bits that end the stream — kSenderClosed if every sender closed,
  // kSenderGone if any died — for the caller to set; else 0.
  uint32_t end_sender(uint32_t ticket, bool graceful) noexcept {
    if (graceful) {
      release_producer(ticket);
    } else {
      producer_gone(ticket);
      // relaxed: read below by whichever sender ends last, after the acq_rel decrement.
      header_->state.senders_died.store(1, std::memory_order_relaxed);
    }
    // acq_rel: the last sender to end sees every other sender's senders_died store.
    if (header_->state.senders_open.fetch_sub(1, std::memory_order_acq_rel) != 1) return 0;
    return header_->state.senders_died.load(std::memory_order_relaxed) ? state_bits::kSenderGone : state_bits::kSenderClosed;
  }

  bool producer_live(uint32_t ticket) const noexcept {
    if (ticket_index(ticket) >= kMaxProducers) return false;
    // acquire: pairs with release_producer(); what that producer did comes before.
    return header_->producers.slot[ticket_index(ticket)].load(std::memory_order_acquire) == ((ticket_generation(ticket) << 1) | 1);
  }

  // producer_mode::*; changes only forward.
  uint32_t producer_mode_approx() const noexcept {
    // relaxed: an observation for tests and stats.
    return header_->state.producer_mode.load(std::memory_order_relaxed);
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
    s.lagged = h.consumer.lagged.load(std::memory_order_relaxed);
    s.dropped = h.producer.dropped.load(std::memory_order_relaxed);
    s.dropped_bytes = h.producer.dropped_bytes.load(std::memory_order_relaxed);
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

// A producing end. Lives in its producer's thread; not thread-safe.
class QueueProducer {
 public:
  // The channel's first producer (the one that claimed role_bits::kSender): single
  // mode until another producer joins.
  QueueProducer(ChannelMemory& memory, HeapTable& heap) noexcept : QueueProducer(memory, heap, kFirstProducerTicket, false) {}

  // An additional producer, with a ticket from ChannelMemory::claim_producer(). Asks
  // for the upgrade to multi mode; sends complete it.
  QueueProducer(ChannelMemory& memory, HeapTable& heap, uint32_t ticket) noexcept : QueueProducer(memory, heap, ticket, true) {
    uint32_t mode = producer_mode::kSingle;
    // acq_rel: one request wins; the mode word publishes nothing else.
    mode_word().compare_exchange_strong(mode, producer_mode::kUpgrading, std::memory_order_acq_rel, std::memory_order_relaxed);
  }

  // Copies `len` bytes into the channel. Never waits, except once, during the upgrade
  // to multi mode, for a send of the first producer already in progress, and in a
  // drop-oldest channel for the consumer to finish a drain it began on the messages it
  // would otherwise drop. Ok · Full (never when dropping oldest) · Closed ·
  // Disconnected · TooLarge · Corrupt.
  // `*rang` is set when a sleeping consumer was flagged and must be woken.
  Status try_send(const uint8_t* data, uint32_t len, bool* rang) noexcept {
    return in_mode([&] { return send_single(data, len); }, [&] { return send_multi(data, len); }, rang);
  }

  // try_send() of messages 0..n-1, `next(i, &data, &len)` giving each, with one
  // single-mode handshake and one doorbell check for the batch instead of one per
  // message (each is a full fence); in single mode also one state check, and one
  // store of tail and of the counters. Stops at the first message not accepted;
  // `*sent` says how many were. Ok, or why that one was not.
  template <class Next>
  Status try_send_batch(uint32_t n, Next next, uint32_t* sent, bool* rang) noexcept {
    *sent = 0;
    Status stop = Status::Ok;
    auto run = [&](auto send_one) {
      uint32_t i = 0;  // a local: through `sent`, every step would be a load and a store
      for (; i < n; ++i) {
        const uint8_t* data;
        uint32_t len;
        next(i, &data, &len);
        if ((stop = send_one(data, len)) != Status::Ok) break;
      }
      *sent = i;
      return i ? Status::Ok : stop;  // in_mode rings the doorbell after any progress
    };
    auto single = [&] {
      // One check for the batch: a close that comes during it orders after it, as after
      // a single send already past its check (the receiver discards what follows its end).
      if (Status s = check_open(); s != Status::Ok) return s;
      const Status s = write_batch_single(n, next, sent, &stop);
      if (*sent) publish_sent();
      return s;
    };
    const Status s = in_mode(single, [&] { return run([&](const uint8_t* d, uint32_t l) { return send_multi(d, l); }); }, rang);
    return s == Status::Ok ? stop : s;
  }

  // Whether a message of `len` bytes would be accepted now (Ok/Full/...).
  Status poll_room(uint32_t len) noexcept {
    if (Status s = check_open(); s != Status::Ok) return s;
    const bool inline_payload = len <= memory_.layout().inline_max;
    if (!multi_ && mode_word().load(std::memory_order_relaxed) == producer_mode::kSingle) {  // relaxed: a hint
      return drop_oldest_ ? Status::Ok : check_room(inline_payload ? len : sizeof(SlabRef), len);
    }
    if (Status s = check_budget(len, false); s != Status::Ok) return s;
    return claimer_.has_room(inline_payload ? RecordType::Inline : RecordType::Slab, len);
  }

  Doorbell space_bell() noexcept { return Doorbell(memory_.header().space_bell); }
  ChannelMemory& memory() noexcept { return memory_; }
  uint32_t ticket() const noexcept { return ticket_; }

  // reserve/commit: publishes `len` bytes the caller wrote straight into the slab of
  // `lease` (leased from pool()). Never waits. On anything but Ok the lease stays
  // the caller's, to commit later or release.
  Status try_commit(const Lease& lease, uint32_t len, bool* rang) noexcept {
    *rang = false;
    if (!pool_.is_leased(lease) || len > pool_.slab_size(lease.cls)) return Status::InvalidArgument;
    return in_mode([&] { return commit_single(lease, len); }, [&] { return commit_multi(lease, len); }, rang);
  }

  SlabPool& pool() noexcept { return pool_; }

 private:
  QueueProducer(ChannelMemory& memory, HeapTable& heap, uint32_t ticket, bool multi) noexcept
      : memory_(memory),
        heap_(heap),
        ring_(memory.ring(), memory.layout().ring_bytes, memory.header().producer, memory.header().consumer),
        claimer_(memory.ring(), memory.layout().ring_bytes, memory.header().producer, memory.header().consumer, ticket),
        pool_(memory.base(), memory.layout(), memory.header()),
        data_bell_(memory.header().data_bell),
        ticket_(ticket),
        multi_(multi),
        asymmetric_(asymmetric_barriers()),
        drop_oldest_(memory.layout().drops_oldest()) {
    // relaxed: in single mode only this producer writes these; see RingProducer's constructor.
    messages_ = memory.header().producer.messages.load(std::memory_order_relaxed);
    bytes_ = memory.header().producer.bytes.load(std::memory_order_relaxed);
    dropped_ = memory.header().producer.dropped.load(std::memory_order_relaxed);
    dropped_bytes_ = memory.header().producer.dropped_bytes.load(std::memory_order_relaxed);
    cached_received_bytes_ = bytes_ - dropped_bytes_;
  }

  ProducerLine& line() const noexcept { return memory_.header().producer; }
  std::atomic<uint32_t>& mode_word() const noexcept { return memory_.header().state.producer_mode; }

  // Runs `single` inside the single-mode handshake while the channel is in single
  // mode, else `multi`; rings the consumer's doorbell after a success.
  template <class Single, class Multi>
  Status in_mode(Single single, Multi multi, bool* rang) noexcept {
    *rang = false;
    Status s;
    if (!multi_ && enter_single()) {
      s = single();
      // release: pairs with the upgrader's acquire; our stores of tail and counters
      // come before any claim of a producer in multi mode.
      line().single_sending.store(0, std::memory_order_release);
    } else {
      s = multi();
    }
    if (s == Status::Ok) *rang = data_bell_.ring_if_sleeping();
    return s;
  }

  // The first producer's side of the handshake. True: single mode, and the caller must
  // clear single_sending after the send. False: multi mode from now on.
  bool enter_single() noexcept {
    // relaxed + the light barrier: the barrier, with the upgrader's heavy one, orders
    // this store before our load of the mode (queue.hpp's Design).
    line().single_sending.store(1, std::memory_order_relaxed);
    light_barrier(asymmetric_);
    // relaxed: the handshake above orders it; nothing is read through the mode.
    if (mode_word().load(std::memory_order_relaxed) == producer_mode::kSingle) return true;
    // release: as in try_send(); our last single-mode stores come first.
    line().single_sending.store(0, std::memory_order_release);
    multi_ = true;
    return false;
  }

  Status commit_single(const Lease& lease, uint32_t len) noexcept {
    if (Status s = check_open(); s != Status::Ok) return s;
    if (len > memory_.layout().max_message_size) return Status::TooLarge;
    if (Status s = make_room(sizeof(SlabRef), len); s != Status::Ok) return s;
    uint8_t* at = nullptr;
    claim_unchecked(RecordType::Slab, sizeof(SlabRef), &at);
    const SlabRef ref{lease.cls, lease.index, lease.generation, len};
    std::memcpy(at, &ref, sizeof ref);
    count_sent(len);
    publish_sent();
    return Status::Ok;
  }

  [[gnu::noinline]] Status commit_multi(const Lease& lease, uint32_t len) noexcept {
    if (Status s = check_open(); s != Status::Ok) return s;
    if (len > memory_.layout().max_message_size) return Status::TooLarge;
    if (Status s = await_multi(); s != Status::Ok) return s;
    if (Status s = check_budget(len, true); s != Status::Ok) return s;
    uint8_t* at;
    uint64_t offset;
    if (Status s = claimer_.claim(RecordType::Slab, len, &at, &offset); s != Status::Ok) {
      // relaxed: a counter; see check_budget().
      line().bytes.fetch_sub(len, std::memory_order_relaxed);
      return s;
    }
    const SlabRef ref{lease.cls, lease.index, lease.generation, len};
    std::memcpy(at, &ref, sizeof ref);
    claimer_.commit(offset, RecordType::Slab, sizeof ref);
    // relaxed: a statistic.
    line().messages.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok;
  }

  Status send_single(const uint8_t* data, uint32_t len) noexcept {
    if (Status s = check_open(); s != Status::Ok) return s;
    if (Status s = write_single(data, len); s != Status::Ok) return s;
    publish_sent();
    return Status::Ok;
  }

  // Single mode: try_send_batch() without its state check and publish. Runs of inline
  // messages that fit the budget and the ring as last read go through write_run(),
  // the counters in registers; write_single() takes each message that stops a run.
  // Ok if any was written, else why the first was not; `*stop`: why the last stopped.
  template <class Next>
  Status write_batch_single(uint32_t n, Next& next, uint32_t* sent, Status* stop) noexcept {
    const Layout& l = memory_.layout();
    const uint64_t capacity = l.capacity, run_max = l.inline_max < l.max_message_size ? l.inline_max : l.max_message_size;
    uint32_t i = 0;
    while (i < n) {
      const uint64_t gone = cached_received_bytes_ + dropped_bytes_;  // write_single() may have read it again
      uint64_t buffered = bytes_ - gone;
      auto admit = [&](uint32_t len) {
        // As check_budget_single(), which takes any message refused here (including
        // one larger than the capacity sent into an empty channel).
        if (len > run_max || buffered + len > capacity) return false;
        buffered += len;
        return true;
      };
      const uint8_t* data = nullptr;
      uint32_t len = 0;
      const uint32_t run = ring_.write_run(n - i, [&](uint32_t k, const uint8_t** d, uint32_t* l) { next(i + k, d, l); }, admit, &data, &len);
      messages_ += run;
      bytes_ = gone + buffered;
      i += run;
      if (i == n) break;
      if ((*stop = write_single(data, len)) != Status::Ok) break;
      ++i;
    }
    *sent = i;
    return i ? Status::Ok : *stop;
  }

  // Single mode: writes one message and counts it, unpublished (publish_sent() does).
  // An inline payload is claimed in the ring straight away (a Full claim changes
  // nothing); a larger one needs ring room checked before a slab is taken.
  [[gnu::always_inline]] Status write_single(const uint8_t* data, uint32_t len) noexcept {
    if (len > memory_.layout().max_message_size) return Status::TooLarge;
    if (len <= memory_.layout().inline_max) {
      uint8_t* at = nullptr;
      Status s = check_budget_single(len);
      if (s == Status::Ok) s = ring_.claim(RecordType::Inline, len, &at);
      if (s == Status::Full && drop_oldest_ && (s = drop_until_room(len, len)) == Status::Ok) claim_unchecked(RecordType::Inline, len, &at);
      if (s != Status::Ok) return s;
      if (len) std::memcpy(at, data, len);  // an empty JS array may have a null data pointer
    } else {
      uint8_t* at = nullptr;
      if (Status s = make_room(sizeof(SlabRef), len); s != Status::Ok) return s;
      if (Status s = write_outside_ring(data, len, &at); s != Status::Ok) return s;
    }
    count_sent(len);
    return Status::Ok;
  }

  void count_sent(uint32_t len) noexcept {
    // Through locals: the compiler may pair the two member updates into one 16-byte
    // store, and reading a member back right after it stalls store forwarding.
    const uint64_t messages = messages_ + 1, bytes = bytes_ + len;
    messages_ = messages;
    bytes_ = bytes;
  }

  [[gnu::noinline]] Status send_multi(const uint8_t* data, uint32_t len) noexcept {
    if (Status s = check_open(); s != Status::Ok) return s;
    if (len > memory_.layout().max_message_size) return Status::TooLarge;
    if (Status s = await_multi(); s != Status::Ok) return s;
    if (Status s = check_budget(len, true); s != Status::Ok) return s;
    const Status s = len <= memory_.layout().inline_max ? claim_inline(data, len) : claim_outside_ring(data, len);
    if (s != Status::Ok) {
      // relaxed: a counter; see check_budget().
      line().bytes.fetch_sub(len, std::memory_order_relaxed);
      return s;
    }
    // relaxed: a statistic.
    line().messages.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok;
  }

  Status check_open() const noexcept {
    const uint32_t st = memory_.state();
    if (st & (state_bits::kSenderClosed | state_bits::kSenderErrored | state_bits::kSenderGone)) return Status::Closed;
    if (st & state_bits::kReceiverEnded) return Status::Disconnected;
    return Status::Ok;
  }

  // Single mode: buffered bytes against the capacity, then room in the ring.
  Status check_room(uint32_t ring_payload, uint32_t len) noexcept {
    if (Status s = check_budget_single(len); s != Status::Ok) return s;
    return ring_.has_room(ring_payload);
  }

  // Single mode: buffered bytes (sent, less received, less dropped) against the capacity.
  Status check_budget_single(uint32_t len) noexcept {
    const uint64_t capacity = memory_.layout().capacity;
    uint64_t gone = cached_received_bytes_ + dropped_bytes_;
    if (bytes_ != gone && bytes_ - gone + len > capacity) [[unlikely]] {
      // acquire: pairs with the consumer's release of its byte count (with head).
      const uint64_t received = memory_.header().consumer.bytes.load(std::memory_order_acquire);
      if (received > bytes_ - dropped_bytes_) return Status::Corrupt;
      cached_received_bytes_ = received;
      gone = received + dropped_bytes_;
      if (bytes_ != gone && bytes_ - gone + len > capacity) return Status::Full;
    }
    return Status::Ok;
  }

  // check_room(), and in a drop-oldest channel, dropping the oldest unread messages
  // until there is room (Design).
  Status make_room(uint32_t ring_payload, uint32_t len) noexcept {
    const Status s = check_room(ring_payload, len);
    return s == Status::Full && drop_oldest_ ? drop_until_room(ring_payload, len) : s;
  }

  [[gnu::noinline]] Status drop_until_room(uint32_t ring_payload, uint32_t len) noexcept {
    publish_sent();  // a batch's records so far: only published records can be dropped
    const Deadline give_up(upgrade_wait_ns());
    for (uint32_t waits = 0;;) {
      RecordView r;
      Status s = ring_.drop_oldest(&r);
      if (s == Status::Ok) {
        const Status dropped = count_dropped(r);
        while ((s = ring_.release_dropped()) == Status::Full) {
          if (Status w = wait_for_consumer(waits++, give_up); w != Status::Ok) return w;
        }
        if (s != Status::Ok) return s;
        if (dropped != Status::Ok) return dropped;
      } else if (s == Status::Empty) {
        if (Status w = wait_for_consumer(waits++, give_up); w != Status::Ok) return w;  // it holds every message: its drain ends soon
      } else {
        return s;
      }
      if ((s = check_room(ring_payload, len)) != Status::Full) return s;
    }
  }

  // A record we took from the consumer: its slab or heap block goes back, and a
  // message is counted as dropped.
  Status count_dropped(const RecordView& r) noexcept {
    if (r.type == RecordType::Padding) return Status::Ok;
    Message m;
    if (Status s = decode_record(r, pool_, heap_, &m); s != Status::Ok) return s;
    give_back(m, pool_, heap_);
    ++dropped_;
    dropped_bytes_ += m.length;
    // relaxed: statistics, and (dropped_bytes) our own budget, which only we read back.
    line().dropped.store(dropped_, std::memory_order_relaxed);
    line().dropped_bytes.store(dropped_bytes_, std::memory_order_relaxed);
    return Status::Ok;
  }

  // Drop-oldest: a bounded wait for the consumer to release what it took (it does so
  // before its current drain returns). Disconnected once the receiver is gone.
  Status wait_for_consumer(uint32_t waits, const Deadline& give_up) noexcept {
    if (waits % 64 != 63) {
      cpu_relax();
      return Status::Ok;
    }
    if (memory_.state() & state_bits::kReceiverEnded) return Status::Disconnected;
    // A drain releases within one native call: much longer means the positions were
    // overwritten (found by attach_fuzzer as a timeout). Corrupt, not a spin forever.
    if (give_up.passed()) return Status::Corrupt;
    std::this_thread::yield();
    return Status::Ok;
  }

  // Waits until the mode is Multi: at most for one single-mode send and one release by
  // the consumer already in progress, and for one producer's zeroing of the free space.
  Status await_multi() noexcept {
    std::atomic<uint32_t>& mode = mode_word();
    // acquire: pairs with the release that set Multi; the zeroing of the free space
    // comes before our claims.
    if (mode.load(std::memory_order_acquire) == producer_mode::kMulti) return Status::Ok;
    // The upgrader's half of both handshakes: Upgrading was stored (our constructor, or
    // another producer's) before this barrier, so a single-mode send that has not raised
    // its flag by now will see it, and so will a release by the consumer.
    heavy_barrier();
    const Deadline give_up(upgrade_wait_ns());
    for (uint32_t spins = 0;; ++spins) {
      uint32_t m = mode.load(std::memory_order_acquire);  // acquire: as above
      if (m == producer_mode::kMulti) return Status::Ok;
      if (m == producer_mode::kUpgrading) {
        // acquire: pairs with the first producer's release of its flag; its last tail
        // and counter stores happen before our claims.
        const bool first_idle = line().single_sending.load(std::memory_order_acquire) == 0;
        const bool first_dead = !first_idle && !memory_.producer_live(kFirstProducerTicket);
        // acq_rel: one producer wins the zeroing; acquire orders it after the flags read above.
        if ((first_idle || first_dead) && consumer_idle() &&
            mode.compare_exchange_strong(m, producer_mode::kClearing, std::memory_order_acq_rel, std::memory_order_relaxed)) {
          return clear_free_space(first_dead);
        }
      } else if (m != producer_mode::kClearing) {
        return Status::Corrupt;
      }
      if (spins % 64 == 63) {
        if (give_up.passed()) return Status::Corrupt;
        std::this_thread::yield();
      } else {
        cpu_relax();
      }
    }
  }

  int64_t upgrade_wait_ns() const noexcept { return stall_bound_ns(memory_.layout()); }

  // Whether no release that decided not to zero can still be under way (see await_multi()).
  bool consumer_idle() const noexcept {
    // acquire: pairs with the consumer's release of its flag; its head store and any
    // zeroing happen before we read head.
    if (memory_.header().consumer.releasing.load(std::memory_order_acquire) == 0) return true;
    return (memory_.state() & state_bits::kReceiverEnded) != 0;  // no release will come
  }

  // We alone hold Clearing: single mode did not zero consumed space, so zero the free
  // space before claims begin. A ring offset needs it only if a position before tail
  // wrote it: free positions from max(tail, ring size). A first producer that died
  // mid-send may also have written past tail: then all of the free space.
  Status clear_free_space(bool first_dead) noexcept {
    const uint64_t bytes = memory_.layout().ring_bytes;
    // acquire: pairs with the consumer's release of head; the space up to it is consumed.
    const uint64_t head = memory_.header().consumer.head.load(std::memory_order_acquire);
    // relaxed: no producer moves tail now (the first is done, the others wait for Multi).
    const uint64_t tail = line().tail.load(std::memory_order_relaxed);
    if (head > tail || tail - head > bytes || tail % kRecordAlign != 0) return Status::Corrupt;
    const uint64_t from = first_dead || tail >= bytes ? tail : bytes;
    if (from < head + bytes) {
      const uint64_t offset = from & (bytes - 1), n = head + bytes - from;
      const uint64_t first = n < bytes - offset ? n : bytes - offset;
      std::memset(memory_.ring() + offset, 0, first);
      std::memset(memory_.ring(), 0, n - first);
    }
    // release: pairs with await_multi()'s acquire; the zeroing comes before any claim.
    mode_word().store(producer_mode::kMulti, std::memory_order_release);
    return Status::Ok;
  }

  // Multi mode: reserves `len` bytes of the capacity (if `reserve`), or only checks.
  Status check_budget(uint32_t len, bool reserve) noexcept {
    const uint64_t capacity = memory_.layout().capacity;
    std::atomic<uint64_t>& sent = line().bytes;
    // relaxed: the byte budget orders no memory; ring room is checked against head.
    uint64_t s = sent.load(std::memory_order_relaxed);
    for (;;) {
      if (s != cached_received_bytes_ && s - cached_received_bytes_ + len > capacity) {
        // acquire: pairs with the consumer's release of its byte count.
        const uint64_t received = memory_.header().consumer.bytes.load(std::memory_order_acquire);
        if (received > s) {
          const uint64_t fresh = sent.load(std::memory_order_relaxed);  // relaxed: as above
          if (received > fresh) return Status::Corrupt;
          s = fresh;
          continue;
        }
        cached_received_bytes_ = received;
        if (s != received && s - received + len > capacity) return Status::Full;
      }
      // relaxed: as above; the CAS only keeps concurrent reservations from both fitting.
      if (!reserve || sent.compare_exchange_weak(s, s + len, std::memory_order_relaxed, std::memory_order_relaxed)) return Status::Ok;
    }
  }

  Status claim_inline(const uint8_t* data, uint32_t len) noexcept {
    uint8_t* at;
    uint64_t offset;
    if (Status s = claimer_.claim(RecordType::Inline, len, &at, &offset); s != Status::Ok) return s;
    if (len) std::memcpy(at, data, len);
    claimer_.commit(offset, RecordType::Inline, len);
    return Status::Ok;
  }

  // The payload goes to a slab or a heap block first, then the descriptor is claimed;
  // if the ring is full the slab or block is given back.
  Status claim_outside_ring(const uint8_t* data, uint32_t len) noexcept {
    Lease lease;
    uint8_t* at;
    uint64_t offset;
    if (pool_.acquire_for(len, &lease) == Status::Ok) {
      std::memcpy(pool_.data(lease), data, len);
      if (Status s = claimer_.claim(RecordType::Slab, len, &at, &offset); s != Status::Ok) {
        pool_.release(lease);
        return s;
      }
      const SlabRef ref{lease.cls, lease.index, lease.generation, len};
      std::memcpy(at, &ref, sizeof ref);
      claimer_.commit(offset, RecordType::Slab, sizeof ref);
      return Status::Ok;
    }
    HeapBlock block = heap_.allocate(len);
    if (!block.data) return Status::Full;
    std::memcpy(block.data.get(), data, len);
    if (Status s = claimer_.claim(RecordType::Heap, len, &at, &offset); s != Status::Ok) {
      heap_.recycle(std::move(block));
      return s;
    }
    const HeapRef ref{heap_.put(std::move(block)), len, 0};
    // relaxed: a statistic.
    memory_.header().pool.fallbacks.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(at, &ref, sizeof ref);
    claimer_.commit(offset, RecordType::Heap, sizeof ref);
    return Status::Ok;
  }

  // Single mode: writes the payload to a slab, or a heap block when no slab is free,
  // and claims the descriptor record. Room was checked, so the claim cannot fail.
  [[gnu::noinline]] Status write_outside_ring(const uint8_t* data, uint32_t len, uint8_t** at) noexcept {
    Lease lease;
    if (pool_.acquire_for(len, &lease) == Status::Ok) {
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

  [[gnu::always_inline]] void claim_unchecked(RecordType type, uint32_t payload, uint8_t** at) noexcept {
    [[maybe_unused]] const Status s = ring_.claim(type, payload, at);
  }

  // Single mode: stores the counters of what was written since the last call, then
  // publishes it.
  void publish_sent() noexcept {
    // relaxed: counters; the consumer never orders memory through them. `bytes` is
    // compared against the consumer's count, which only ever trails it. The release
    // store of tail below (and of single_sending) orders them for multi-mode producers.
    line().messages.store(messages_, std::memory_order_relaxed);
    line().bytes.store(bytes_, std::memory_order_relaxed);
    ring_.publish();
  }

  ChannelMemory memory_;  // a copy of the view: one load less on every access
  HeapTable& heap_;
  RingProducer ring_;    // single mode
  RingClaimer claimer_;  // multi mode
  SlabPool pool_;
  Doorbell data_bell_;
  const uint32_t ticket_;
  bool multi_;  // this producer has seen multi mode (or is an additional producer)
  const bool asymmetric_;
  const bool drop_oldest_;
  // Counters updated together are kept apart: the compiler pairs adjacent ones into
  // one 16-byte load, add and store, and the 8-byte reads of one of them that follow
  // cannot be forwarded from that store (measured: ~7 ns of a 35 ns send and drain).
  uint64_t messages_ = 0;       // single mode
  uint64_t dropped_bytes_ = 0;  // drop-oldest
  uint64_t bytes_ = 0;          // single mode
  uint64_t dropped_ = 0;        // drop-oldest
  uint64_t cached_received_bytes_ = 0;
};

// The consuming end. One per channel; lives in the consumer's thread.
class QueueConsumer {
 public:
  // Drop-oldest: messages taken per release within one drain (Design).
  static constexpr std::size_t kReleaseEvery = 64;

  QueueConsumer(ChannelMemory& memory, HeapTable& heap) noexcept
      : memory_(memory),
        heap_(heap),
        ring_(memory.ring(), memory.layout().ring_bytes, memory.header().producer, memory.header().consumer,
              &memory.header().producers, memory.layout().drops_oldest(), release_stall_bound_ns()),
        pool_(memory.base(), memory.layout(), memory.header()),
        space_bell_(memory.header().space_bell),
        asymmetric_(asymmetric_barriers()),
        drop_oldest_(memory.layout().drops_oldest()) {
    // relaxed: only this consumer writes these.
    messages_ = memory.header().consumer.messages.load(std::memory_order_relaxed);
    bytes_ = memory.header().consumer.bytes.load(std::memory_order_relaxed);
  }

  // Receives up to `max` messages, calling `on_message(Message&)` for each (inline
  // data must be copied inside the call; returning false stops after it; one Message
  // serves every drain, so move out a heap block to keep it: one left there is freed
  // at the next heap message, or with the consumer). Returns Ok if at least one was
  // delivered, else Empty, Closed (graceful end), Errored (buffered messages are
  // dropped and their slabs returned: closeWithError is immediate), Disconnected or
  // Corrupt. One state check, one release of head and one store of the counters per call.
  // `*rang` is set when a sleeping producer was flagged and must be woken.
  template <class OnMessage>
  Status drain(std::size_t max, OnMessage&& on_message, bool* rang) noexcept {
    *rang = false;
    // A loop, not a recursive call for records that came in at the end: a recursive
    // call would keep `on_message` in memory, and its fields out of registers.
    for (;;) {
      if (const uint32_t st = memory_.state(); st & (state_bits::kSenderErrored | state_bits::kReceiverClosed)) return closed(st);
      std::size_t delivered = 0;
      Status s = Status::Ok;
      Message& m = message_;
      if (drop_oldest_) [[unlikely]] {
        while (delivered < max) {
          if ((s = next(&m)) != Status::Ok) break;
          const bool more = deliver(on_message, m);
          // A producer that drops oldest may be waiting for what we took: release in steps.
          if (++delivered % kReleaseEvery == 0) finish(rang);
          if (!more) break;
        }
      } else {
        // Runs of messages, and between them whatever else the ring holds (padding,
        // abandoned claims) or a fresh read of tail. Bytes counted in a local: a member
        // would be stored and reloaded around every copy (a copy may alias it).
        uint64_t bytes = 0;
        bool stop = false;  // on_message asked to stop: the run ends before the next record
        while (delivered < max) {
          delivered += ring_.consume_run(max - delivered, [&](RecordView r) {
            if (stop || (s = decode_record(r, pool_, heap_, &m)) != Status::Ok) return false;
            bytes += m.length;
            stop = !deliver(on_message, m);
            return true;
          });
          if (stop || s != Status::Ok || delivered == max) break;
          if ((s = to_next_message()) != Status::Ok) break;
        }
        messages_ += delivered;
        bytes_ += bytes;
        if (delivered) consumed_ = true;
      }
      if (consumed_) finish(rang);  // abandoned records only, too: still give back their space and bytes
      if (delivered) return Status::Ok;
      if (s != Status::Empty) return s;
      if ((s = end_of_stream()) != Status::Ok) return s;  // Ok: records came in meanwhile
    }
  }

  // drain() on a channel closed with an error (buffered messages are dropped), or by
  // the receiver.
  [[gnu::noinline]] Status closed(uint32_t st) noexcept {
    if (!(st & state_bits::kSenderErrored)) return Status::Closed;
    discard_all();
    return Status::Errored;
  }

  // drain() found nothing: has the stream ended? Closed, Disconnected, Empty (not
  // ended), Ok (records came in meanwhile: drain again) or Corrupt. Re-reads tail after
  // the state, as the producer publishes before it sets a close bit.
  [[gnu::noinline]] Status end_of_stream() noexcept {
    const uint32_t st = memory_.state();
    if (!(st & (state_bits::kSenderClosed | state_bits::kSenderGone))) return Status::Empty;
    if (const Status s = ring_.poll(); s != Status::Empty) return s;
    return (st & state_bits::kSenderClosed) ? Status::Closed : Status::Disconnected;
  }

  // The receiver has ended (the caller set kReceiverClosed or kReceiverGone): drops
  // what is buffered, including the record of a single-mode send that was already past
  // its state check. Dekker with enter_single(): the end bit is stored before our heavy
  // barrier, the producer's flag before its light barrier, so either that send sees the
  // end and publishes nothing, or we see its flag and wait until it has published.
  // A multi-mode send in progress may still leave its record (and slab) behind; that
  // memory stays leased until the channel is collected.
  void discard_after_end() noexcept {
    heavy_barrier();
    // Bounded: the flag is shared memory (untrusted), and a send takes microseconds;
    // past the deadline a late record only keeps its memory leased.
    const Deadline deadline(kSendInProgressWaitNs);
    // acquire: pairs with the producer's release of its flag; what it published is visible.
    while (memory_.header().producer.single_sending.load(std::memory_order_acquire) != 0 && !deadline.passed()) {
      std::this_thread::yield();
    }
    discard_all();
  }

  // Drops every buffered message, returning slabs and heap blocks.
  void discard_all() noexcept {
    bool rang = false;
    for (;;) {
      Message m;
      if (next(&m) != Status::Ok) break;
      give_back(m, pool_, heap_);
    }
    finish(&rang);
  }

  // Readiness for a sleeper: true if a drain() now would return something other
  // than Empty. Used for the re-check after Doorbell::prepare_sleep().
  bool ready() noexcept {
    const uint32_t st = memory_.state();
    if (st & (state_bits::kSenderErrored | state_bits::kSenderClosed | state_bits::kSenderGone | state_bits::kReceiverClosed)) return true;
    return ring_.poll() != Status::Empty;
  }

  Doorbell data_bell() noexcept { return Doorbell(memory_.header().data_bell); }
  SlabPool& pool() noexcept { return pool_; }
  ChannelMemory& memory() noexcept { return memory_; }

 private:
  // The next message. A record whose descriptor is corrupt stays unread (every drain
  // reports it), except in a drop-oldest ring, where it is taken before it is read.
  [[gnu::always_inline]] Status next(Message* m) noexcept {
    if (drop_oldest_) return next_taken(m);
    RecordView r;
    if (Status s = ring_.peek(&r); s != Status::Ok) return s;
    if (r.type == RecordType::Abandoned) [[unlikely]] return skip_abandoned(r.length, m);
    if (Status s = decode_record(r, pool_, heap_, m); s != Status::Ok) return s;
    ring_.consume();
    consumed_ = true;
    ++messages_;
    bytes_ += m->length;
    return Status::Ok;
  }

  // next() of a drop-oldest ring: the record is taken before it is read.
  [[gnu::noinline]] Status next_taken(Message* m) noexcept {
    RecordView r;
    if (Status s = ring_.take(&r); s != Status::Ok) return s;
    consumed_ = true;
    if (r.type == RecordType::Abandoned) return skip_abandoned(r.length, m);
    if (Status s = decode_record(r, pool_, heap_, m); s != Status::Ok) return s;
    ++messages_;
    bytes_ += m->length;
    return Status::Ok;
  }

  // drain() between runs: Ok once the next record is a message (read again the tail,
  // skipped padding and abandoned claims), else Empty or Corrupt. Out of line: once per
  // run, and the run is most of a drain.
  [[gnu::noinline]] Status to_next_message() noexcept {
    for (;;) {
      RecordView r;
      if (Status s = ring_.peek(&r); s != Status::Ok) return s;
      if (r.type != RecordType::Abandoned) return Status::Ok;
      // Its producer reserved these bytes and will never send them (skip_abandoned()).
      ring_.consume();
      consumed_ = true;
      bytes_ += r.length;
    }
  }

  // next() found an Abandoned record: its producer reserved these bytes and will never
  // send them. Counts them as received, so that the budget gets them back (and
  // bytes_sent == bytes_received), and goes on to the next record.
  [[gnu::noinline]] Status skip_abandoned(uint32_t length, Message* m) noexcept {
    if (!drop_oldest_) ring_.consume();
    consumed_ = true;
    bytes_ += length;
    return next(m);
  }

  // Stores the counters and releases what was consumed. Inlined into drain(): about 20
  // of the ~320 instructions of a one-message send and drain were the call.
  [[gnu::always_inline]] void finish(bool* rang) noexcept {
    consumed_ = false;
    auto& line = memory_.header().consumer;
    // relaxed: statistics, ordered before head's release store below, which is
    // what the producer's acquire pairs with.
    line.messages.store(messages_, std::memory_order_relaxed);
    // release: pairs with the producer's acquire in check_budget_single().
    line.bytes.store(bytes_, std::memory_order_release);
    // The consumer's half of the zeroing handshake (Design): raise the flag, then read
    // the mode. relaxed + the light barrier: with the upgrader's heavy barrier, either it
    // sees the flag or we see a mode past Single.
    line.releasing.store(1, std::memory_order_relaxed);
    light_barrier(asymmetric_);
    // relaxed: the handshake orders it; zeroing is decided by it, nothing is read through it.
    const bool zero = memory_.header().state.producer_mode.load(std::memory_order_relaxed) != producer_mode::kSingle;
    const bool released = ring_.publish(zero);
    // release: pairs with the upgrader's acquire; our head store (and zeroing) come
    // before it reads head.
    line.releasing.store(0, std::memory_order_release);
    if (released && space_bell_.ring_if_sleeping()) *rang = true;
  }

  static constexpr int64_t kSendInProgressWaitNs = 100'000'000;

  ChannelMemory memory_;  // a copy of the view: one load less on every access
  HeapTable& heap_;
  RingConsumer ring_;
  SlabPool pool_;
  Doorbell space_bell_;
  const bool asymmetric_;
  const bool drop_oldest_;
  // Apart, as in QueueProducer: updated together, adjacent counters would be paired.
  uint64_t messages_ = 0;
  bool consumed_ = false;  // records (messages or abandoned claims) taken since the last finish()
  uint64_t bytes_ = 0;
  Message message_;  // what drain() passes on: built once, as building one costs more than copying a small message
};

}  // namespace ringport
