// The value slot of the Watch and Mailbox kinds: one current value, replaced by each
// send; read by any number of readers (Watch) or taken by one (Mailbox).
//
//   ring_offset: +0        +128      +256          +256+S        +256+2S       +256+3S
//                +---------+---------+-------------+-------------+-------------+
//                | control | pin     | buffer 0    | buffer 1    | buffer 2    |
//                | latest, | held    | seq version | ...         | ...         |
//                | dropped |         | length data |             |             |
//                +---------+---------+-------------+-------------+-------------+
//   S = value_buffer_stride(capacity): a 32-byte header, then capacity bytes rounded
//   up to 8 (layout.hpp). The control line is the writer's (readers only set bits in
//   `latest`); the pin line is the readers'.
//
// Design:
// - `latest` names the published value: (version << 4) | taken | pinned | buffer
//   index; version 0 means nothing was sent yet. Only the writer replaces it, with one
//   exchange per send; readers only set bits in it (fetch_or).
// - The writer writes each value into a buffer that is neither the published one
//   (the front) nor the protected one (below), then publishes it. With 3 buffers one
//   is always free: a send never waits, whatever readers do.
// - Each buffer is a seqlock: seq is odd while the writer writes it. Version, length
//   and data are read and written only as relaxed atomics (data as 8-byte words), so
//   a read racing a write is defined behaviour, and the seq re-check after an acquire
//   fence discards it: a torn value is never returned.
// - Optimistic read (Watch): load latest (v, i), copy buffer i between two equal even
//   seqs, and check that it still holds version v: the value current at the load.
//   No shared writes, so any number of readers scale. It fails only when the writer
//   published again during the copy and then started rewriting buffer i.
// - Pinned read (a Watch reader after kOptimisticAttempts failures; every Mailbox
//   take): take the pin (held: 0 -> 1; one pinned read at a time), then
//   latest.fetch_or(pinned) names the front buffer and marks it in one atomic step. The
//   front is never written, and the writer's exchange that moves the front away
//   returns the mark, after which it protects that buffer until `held` is 0 again.
//   So nothing writes the buffer during a pinned copy: it cannot fail, whatever the
//   writer's speed. A reader that finds the pin taken retries optimistically (the pin
//   holder is itself finishing a copy nothing disturbs), so a reader only ever waits
//   for other readers' progress, never behind a fast writer.
// - Mailbox take: fetch_or(taken | pinned); the old word says which version was taken,
//   and the bit makes it taken once. The writer's exchange returns the old word too:
//   a version the receiver never took is counted in `dropped`, exactly.
// - The shared memory is untrusted: an index >= kValueBuffers, a length > capacity
//   in a stable read, a disturbed pinned read, or a Watch read that does not settle
//   within stall_bound_ns() (a pin never released; queue.hpp) is Corrupt.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>

#include "doorbell.hpp"
#include "layout.hpp"
#include "platform.hpp"
#include "queue.hpp"
#include "status.hpp"

namespace ringport {

// The `latest` word.
namespace value_word {
inline constexpr uint64_t kIndexMask = 0x3;
inline constexpr uint64_t kPinned = 1u << 2;  // a pinned read named this buffer
inline constexpr uint64_t kTaken = 1u << 3;   // Mailbox: the receiver took this version
inline constexpr unsigned kVersionShift = 4;
inline constexpr uint64_t pack(uint64_t version, uint32_t index) noexcept { return (version << kVersionShift) | index; }
inline constexpr uint64_t version_of(uint64_t word) noexcept { return word >> kVersionShift; }
inline constexpr uint32_t index_of(uint64_t word) noexcept { return static_cast<uint32_t>(word & kIndexMask); }
}  // namespace value_word

struct ValueControlLine {
  std::atomic<uint64_t> latest;
  std::atomic<uint64_t> dropped;  // Mailbox: messages overwritten unread; only the writer stores it
  uint8_t pad[kFalseSharingRange - 16];
};

struct ValuePinLine {
  std::atomic<uint32_t> held;  // 1 while a pinned read runs
  uint8_t pad[kFalseSharingRange - 4];
};

struct ValueBufferHeader {
  std::atomic<uint64_t> seq;  // odd while the writer writes this buffer
  std::atomic<uint64_t> version;
  std::atomic<uint64_t> length;
  uint64_t reserved;
};

static_assert(sizeof(ValueControlLine) + sizeof(ValuePinLine) == kValueControlBytes);
static_assert(sizeof(ValueBufferHeader) == kValueBufferHeaderBytes);
static_assert(kValueBuffers == 3, "one front, one protected, one to write");

// Bytes of a value, copied as relaxed atomic 8-byte words: the other side may be
// copying the same words at the same time, and the seqlock decides which copy counts.
// The last word is read and written whole (buffers are padded to 8 bytes).
inline void store_value_words(uint64_t* to, const uint8_t* from, uint64_t len) noexcept {
  const uint64_t full = len / 8;
  for (uint64_t k = 0; k < full; ++k) {
    uint64_t w;
    std::memcpy(&w, from + 8 * k, 8);
    // relaxed: ordered by the seqlock (release fence after the odd seq, release of the even one).
    std::atomic_ref<uint64_t>(to[k]).store(w, std::memory_order_relaxed);
  }
  if (const uint64_t tail = len % 8) {
    uint64_t w = 0;
    std::memcpy(&w, from + 8 * full, tail);
    std::atomic_ref<uint64_t>(to[full]).store(w, std::memory_order_relaxed);  // relaxed: as above
  }
}

inline void load_value_words(uint8_t* to, uint64_t* from, uint64_t len) noexcept {
  const uint64_t full = len / 8;
  for (uint64_t k = 0; k < full; ++k) {
    // relaxed: validated by the seq re-check after an acquire fence.
    const uint64_t w = std::atomic_ref<uint64_t>(from[k]).load(std::memory_order_relaxed);
    std::memcpy(to + 8 * k, &w, 8);
  }
  if (const uint64_t tail = len % 8) {
    const uint64_t w = std::atomic_ref<uint64_t>(from[full]).load(std::memory_order_relaxed);  // relaxed: as above
    std::memcpy(to + 8 * full, &w, tail);
  }
}

// Counters of a value slot that ChannelStats does not have.
struct ValueStats {
  uint64_t dropped;        // Mailbox: messages overwritten unread
  uint64_t pending;        // Mailbox: 1 while a message waits to be taken
  uint64_t pending_bytes;  // its length
};

// A view of the value slot of an attached channel (kind Watch or Mailbox).
class ValueSlot {
 public:
  explicit ValueSlot(ChannelMemory& memory) noexcept
      : memory_(&memory),
        region_(memory.ring()),
        capacity_(memory.layout().capacity),
        stride_(value_buffer_stride(memory.layout().capacity)),
        mailbox_(memory.layout().kind == static_cast<uint32_t>(ChannelKind::Mailbox)) {}

  ChannelMemory& memory() const noexcept { return *memory_; }
  uint64_t capacity() const noexcept { return capacity_; }
  bool mailbox() const noexcept { return mailbox_; }
  ValueControlLine& control() const noexcept { return *reinterpret_cast<ValueControlLine*>(region_); }
  ValuePinLine& pin() const noexcept { return *reinterpret_cast<ValuePinLine*>(region_ + sizeof(ValueControlLine)); }
  // `i` < kValueBuffers.
  ValueBufferHeader& buffer(uint32_t i) const noexcept {
    return *reinterpret_cast<ValueBufferHeader*>(region_ + kValueControlBytes + i * stride_);
  }
  uint64_t* data(uint32_t i) const noexcept {
    return reinterpret_cast<uint64_t*>(region_ + kValueControlBytes + i * stride_ + kValueBufferHeaderBytes);
  }

  ValueStats stats() const noexcept {
    using namespace value_word;
    // relaxed: observations for stats() only.
    const uint64_t w = control().latest.load(std::memory_order_relaxed);
    ValueStats s{control().dropped.load(std::memory_order_relaxed), 0, 0};
    if (mailbox_ && version_of(w) != 0 && !(w & kTaken) && index_of(w) < kValueBuffers) {
      const uint64_t len = buffer(index_of(w)).length.load(std::memory_order_relaxed);  // relaxed: as above
      s.pending = 1;
      s.pending_bytes = len <= capacity_ ? len : 0;
    }
    return s;
  }

 private:
  ChannelMemory* memory_;
  uint8_t* region_;
  uint64_t capacity_;
  uint64_t stride_;
  bool mailbox_;
};

// The sending end: one per channel (role_bits::kSender); lives in its thread.
class ValueWriter {
 public:
  explicit ValueWriter(ChannelMemory& memory) noexcept : slot_(memory), data_bell_(memory.header().data_bell) {
    // acquire: where publishing stands, with what was published before it (a fresh
    // slot reads 0: version 0, buffer 0). The sender role is claimed once, so no
    // other writer runs.
    const uint64_t w = slot_.control().latest.load(std::memory_order_acquire);
    version_ = value_word::version_of(w);
    front_ = value_word::index_of(w);
    // relaxed: only this sender writes these.
    messages_ = memory.header().producer.messages.load(std::memory_order_relaxed);
    bytes_ = memory.header().producer.bytes.load(std::memory_order_relaxed);
    dropped_ = slot_.control().dropped.load(std::memory_order_relaxed);
  }

  // Replaces the value with `len` bytes at `data`. Never waits.
  // Ok · Closed (this end closed) · Disconnected (Mailbox: the receiver is gone) · TooLarge.
  // `*rang` is set when a sleeping reader was flagged and must be woken.
  Status try_send(const uint8_t* data, uint32_t len, bool* rang) noexcept {
    *rang = false;
    if (Status s = check_open(); s != Status::Ok) return s;
    if (len > slot_.capacity()) return Status::TooLarge;
    const uint32_t b = choose();
    ValueBufferHeader& h = slot_.buffer(b);
    // relaxed: only this writer stores seq.
    const uint64_t odd = (h.seq.load(std::memory_order_relaxed) + 1) | 1;
    const uint64_t version = version_ + 1;
    h.seq.store(odd, std::memory_order_relaxed);
    // release fence: a reader that sees any store below also sees the odd seq (seqlock writer).
    std::atomic_thread_fence(std::memory_order_release);
    h.version.store(version, std::memory_order_relaxed);  // relaxed: inside the seqlock
    h.length.store(len, std::memory_order_relaxed);       // relaxed: inside the seqlock
    store_value_words(slot_.data(b), data, len);
    // release: pairs with a reader's acquire load of seq; the value comes before.
    h.seq.store(odd + 1, std::memory_order_release);
    // acq_rel: release publishes the buffer to readers that acquire `latest`; acquire
    // pairs with a pinned reader's fetch_or, so its `held` store is visible to choose().
    const uint64_t old = slot_.control().latest.exchange(value_word::pack(version, b), std::memory_order_acq_rel);
    if (old & value_word::kPinned) protected_ = front_;  // a pinned read may still be copying it
    if (slot_.mailbox() && version_ != 0 && !(old & value_word::kTaken)) {
      // relaxed: a statistic only this writer stores.
      slot_.control().dropped.store(++dropped_, std::memory_order_relaxed);
    }
    front_ = b;
    version_ = version;
    account(len);
    *rang = data_bell_.ring_if_sleeping();
    return Status::Ok;
  }

 private:
  Status check_open() const noexcept {
    const uint32_t st = slot_.memory().state();
    if (st & (state_bits::kSenderClosed | state_bits::kSenderErrored | state_bits::kSenderGone)) return Status::Closed;
    if (slot_.mailbox() && (st & state_bits::kReceiverEnded)) return Status::Disconnected;
    return Status::Ok;
  }

  // A buffer that is neither the front nor protected by a pinned read.
  uint32_t choose() noexcept {
    // acquire: pairs with the pinned reader's release of `held` after its copy, which
    // then happens before our writes to the buffer it read.
    if (protected_ != kNone && slot_.pin().held.load(std::memory_order_acquire) == 0) protected_ = kNone;
    uint32_t b = 0;
    while (b == front_ || b == protected_) ++b;
    return b;
  }

  void account(uint32_t len) noexcept {
    ProducerLine& line = slot_.memory().header().producer;
    // relaxed: statistics; readers order nothing through them.
    line.messages.store(++messages_, std::memory_order_relaxed);
    line.bytes.store(bytes_ += len, std::memory_order_relaxed);
  }

  static constexpr uint32_t kNone = kValueBuffers;

  ValueSlot slot_;
  Doorbell data_bell_;
  uint64_t version_ = 0;
  uint32_t front_ = 0;           // the buffer `latest` names (this writer alone replaces it)
  uint32_t protected_ = kNone;   // a buffer a pinned read may be copying
  uint64_t messages_ = 0;
  uint64_t bytes_ = 0;
  uint64_t dropped_ = 0;
};

// A reading end. Watch: any number, in any threads, each remembering the newest
// version it returned. Mailbox: the one receiver (role_bits::kReceiver). Lives in its
// thread; not thread-safe.
class ValueReader {
 public:
  // Optimistic reads a Watch reader tries before a pinned one.
  static constexpr uint32_t kOptimisticAttempts = 2;

  // `optimistic_attempts` exists for tests (0: always pin first).
  explicit ValueReader(ChannelMemory& memory, uint32_t optimistic_attempts = kOptimisticAttempts) noexcept
      : slot_(memory), optimistic_attempts_(optimistic_attempts) {}

  // Watch: the newest value this reader has not returned yet. Mailbox: takes the
  // message, emptying the slot. `bool sink(uint32_t length, uint8_t** to)` says where
  // to copy `length` bytes (false: give up, InvalidArgument; `*to` may be null when
  // `length` is 0); a Watch reader may call it more than once. A Mailbox message whose
  // sink gives up is taken all the same (the bit is set before the length is known),
  // and counted as received: every message stays taken once or dropped once.
  // Ok · Empty · Closed (graceful end, nothing new; or this Mailbox receiver closed) ·
  // Errored (closeWithError: immediate) · Disconnected (the sender died; after its
  // last value) · Corrupt · InvalidArgument.
  template <class Sink>
  Status receive(Sink&& sink) noexcept {
    // acquire (state()): a close seen here comes after the sender's last publish,
    // which the read below then sees.
    const uint32_t st = slot_.memory().state();
    if (st & state_bits::kSenderErrored) return Status::Errored;
    if (slot_.mailbox() && (st & state_bits::kReceiverClosed)) return Status::Closed;
    uint64_t length = 0;
    const Status s = slot_.mailbox() ? take(sink, &length) : read(seen_, sink, &seen_, &length);
    if (s == Status::Ok || (s == Status::InvalidArgument && slot_.mailbox())) {
      ConsumerLine& line = slot_.memory().header().consumer;
      // relaxed: statistics; several Watch readers add to them.
      line.messages.fetch_add(1, std::memory_order_relaxed);
      line.bytes.fetch_add(length, std::memory_order_relaxed);
    }
    if (s != Status::Empty) return s;
    if (st & state_bits::kSenderClosed) return Status::Closed;
    if (st & state_bits::kSenderGone) return Status::Disconnected;
    return Status::Empty;
  }

  // Watch: the current value, whether this reader returned it already or not; does
  // not change what receive() returns next. Ok · Empty (nothing sent yet) · Corrupt ·
  // InvalidArgument.
  template <class Sink>
  Status read_latest(Sink&& sink) noexcept {
    uint64_t version, length;
    return read(0, sink, &version, &length);
  }

  // True if receive() would return something other than Empty now: the re-check
  // after Doorbell::prepare_sleep().
  bool ready() const noexcept {
    const uint32_t st = slot_.memory().state();
    if (st & (state_bits::kSenderClosed | state_bits::kSenderErrored | state_bits::kSenderGone)) return true;
    if (slot_.mailbox() && (st & state_bits::kReceiverClosed)) return true;
    // acquire: as in receive(); a value seen here is readable.
    const uint64_t w = slot_.control().latest.load(std::memory_order_acquire);
    if (slot_.mailbox()) return value_word::version_of(w) != 0 && !(w & value_word::kTaken);
    return value_word::version_of(w) > seen_;
  }

  Doorbell data_bell() const noexcept { return Doorbell(slot_.memory().header().data_bell); }
  uint64_t seen() const noexcept { return seen_; }

 private:
  enum class Attempt { Done, Retry, Busy };

  // Watch: a value newer than `floor` into the sink; its version in *version. Corrupt
  // if none settles within stall_bound_ns().
  template <class Sink>
  Status read(uint64_t floor, Sink& sink, uint64_t* version, uint64_t* length) noexcept {
    Status s = Status::Ok;
    std::optional<Deadline> deadline;  // started at the first yield: almost no read gets there
    for (uint32_t round = 0;; ++round) {
      if (round >= optimistic_attempts_ && pinned_read(floor, sink, version, length, &s) == Attempt::Done) return s;
      if (optimistic_read(floor, sink, version, length, &s) == Attempt::Done) return s;
      if (round % 64 == 63) {
        // A pin held for longer than any copy takes, while the front buffer never
        // settles, is memory someone overwrote (found by fuzzing: a forged pin and an odd
        // seq made a read spin forever): Corrupt after the bound.
        if (!deadline) {
          deadline.emplace(stall_bound_ns(slot_.memory().layout()));
        } else if (deadline->passed()) {
          return Status::Corrupt;
        }
        std::this_thread::yield();
      } else {
        cpu_relax();
      }
    }
  }

  template <class Sink>
  Attempt optimistic_read(uint64_t floor, Sink& sink, uint64_t* version, uint64_t* length, Status* out) noexcept {
    // acquire: pairs with the writer's exchange; buffer i holds version v from then
    // until the front moves away from it.
    const uint64_t w = slot_.control().latest.load(std::memory_order_acquire);
    const uint64_t v = value_word::version_of(w);
    if (v <= floor) return done(Status::Empty, out);
    const uint32_t i = value_word::index_of(w);
    if (i >= kValueBuffers) return done(Status::Corrupt, out);
    const Attempt a = copy(i, v, false, sink, length, out);
    if (a == Attempt::Done && *out == Status::Ok) *version = v;
    return a;
  }

  // Busy when another pinned read runs.
  template <class Sink>
  Attempt pinned_read(uint64_t floor, Sink& sink, uint64_t* version, uint64_t* length, Status* out) noexcept {
    std::atomic<uint32_t>& held = slot_.pin().held;
    uint32_t free = 0;
    // acquire: pairs with the previous holder's release; relaxed on failure: nothing read.
    if (!held.compare_exchange_strong(free, 1, std::memory_order_acquire, std::memory_order_relaxed)) return Attempt::Busy;
    // acq_rel: release makes `held` visible to the writer that exchanges this word out
    // (it then protects the buffer); acquire pairs with that writer's publish.
    const uint64_t w = slot_.control().latest.fetch_or(value_word::kPinned, std::memory_order_acq_rel);
    const uint64_t v = value_word::version_of(w);
    const uint32_t i = value_word::index_of(w);
    if (v <= floor) {
      done(Status::Empty, out);
    } else if (i >= kValueBuffers) {
      done(Status::Corrupt, out);
    } else {
      copy(i, v, true, sink, length, out);  // nothing writes buffer i now: Retry is impossible
      if (*out == Status::Ok) *version = v;
    }
    // release: our copy happens before the writer's next write into buffer i.
    held.store(0, std::memory_order_release);
    return Attempt::Done;
  }

  // Mailbox: takes the message, if one waits. Every take is pinned: the taken buffer
  // cannot change under the copy, so a take never fails once the bit is set.
  template <class Sink>
  Status take(Sink& sink, uint64_t* length) noexcept {
    using namespace value_word;
    // acquire: as in optimistic_read(); a quick look before any shared write.
    const uint64_t now = slot_.control().latest.load(std::memory_order_acquire);
    if (version_of(now) == 0 || (now & kTaken)) return Status::Empty;
    std::atomic<uint32_t>& held = slot_.pin().held;
    uint32_t free = 0;
    // acquire: pairs with our own previous release. Only the one receiver pins a
    // Mailbox, so a held pin means something else wrote it.
    if (!held.compare_exchange_strong(free, 1, std::memory_order_acquire, std::memory_order_relaxed)) return Status::Corrupt;
    // acq_rel: as in pinned_read(); the taken bit is set in the same step.
    const uint64_t w = slot_.control().latest.fetch_or(kTaken | kPinned, std::memory_order_acq_rel);
    Status s = Status::Empty;
    if (index_of(w) >= kValueBuffers) {
      s = Status::Corrupt;
    } else if (version_of(w) != 0 && !(w & kTaken)) {
      copy(index_of(w), version_of(w), true, sink, length, &s);
    }
    // release: as in pinned_read().
    held.store(0, std::memory_order_release);
    return s;
  }

  // Copies version `v` out of buffer `i` through the seqlock. `stable`: nothing may
  // write the buffer now, so a disturbed copy is Corrupt rather than Retry.
  template <class Sink>
  Attempt copy(uint32_t i, uint64_t v, bool stable, Sink& sink, uint64_t* length, Status* out) noexcept {
    ValueBufferHeader& h = slot_.buffer(i);
    auto lost = [&] { return stable ? done(Status::Corrupt, out) : Attempt::Retry; };
    // acquire: pairs with the writer's release of the even seq; the value written
    // before it is visible to the loads below.
    const uint64_t seq = h.seq.load(std::memory_order_acquire);
    if (seq & 1) return lost();
    // relaxed: inside the seqlock, validated below.
    const uint64_t len = h.length.load(std::memory_order_relaxed);
    if (h.version.load(std::memory_order_relaxed) != v) return lost();  // relaxed: as above
    if (len > slot_.capacity()) return unchanged(h, seq) ? done(Status::Corrupt, out) : lost();
    uint8_t* to = nullptr;
    *length = len;  // also when the sink gives up: a Mailbox counts the message taken
    if (!sink(static_cast<uint32_t>(len), &to)) return done(Status::InvalidArgument, out);
    if (len) load_value_words(to, slot_.data(i), len);
    if (!unchanged(h, seq)) return lost();
    return done(Status::Ok, out);
  }

  // The seqlock re-check: no write began since `seq` was read.
  static bool unchanged(ValueBufferHeader& h, uint64_t seq) noexcept {
    // acquire fence: if a load above saw a racing store, the writer's odd seq (before
    // its release fence) is visible to the load below.
    std::atomic_thread_fence(std::memory_order_acquire);
    return h.seq.load(std::memory_order_relaxed) == seq;  // relaxed: ordered by the fence
  }

  static Attempt done(Status s, Status* out) noexcept {
    *out = s;
    return Attempt::Done;
  }

  ValueSlot slot_;
  uint32_t optimistic_attempts_;
  uint64_t seen_ = 0;  // Watch: the newest version receive() returned
};

}  // namespace ringport
