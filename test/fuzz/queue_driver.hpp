// The queue channel under fuzzing: one consumer and up to kProducers producers over
// one fuzz::Channel, driven one input-chosen operation at a time, as the binding
// drives them (send, drain, reserve/commit, closes, producers joining and leaving).
// Shared by queue_records_fuzzer.cc and queue_state_fuzzer.cc.
//
// Checked always: no access outside the buffer or a heap block (ASan, plus an
// explicit range check of every payload handed out), no undefined behaviour (UBSan),
// no operation that fails to return (libFuzzer's -timeout). Checked while nothing
// hostile was written: the delivery contract, i.e. each producer's messages arrive
// in order, intact and at most once, and a slab the receiver holds is not reused.
#pragma once

#include <array>
#include <optional>

#include "fuzz_harness.hpp"

namespace ringport::fuzz {

enum class QueueOp : uint8_t {
  Send,
  Drain,
  ReleaseHeld,
  DiscardAll,
  Ready,
  PollRoom,
  Reserve,
  Commit,
  Abort,
  SetState,
  CloseWithError,
  ReceiverClose,
  AddProducer,
  EndProducer,
  ClaimRole,
  NewConsumer,
  Reattach,
  Stats,
  Scribble,     // hostile: only when the caller allows it
  WriteField,   // hostile: only when the caller allows it
  WriteRecord,  // hostile: only when the caller allows it
  kCount
};

// Writes a record header word into the ring: an 8-byte aligned offset, a length
// that ends somewhere telling (nothing, the ring's end, a whole ring, anything) and a
// tag of a real type, a claim marker, or anything. Hostile bytes a fuzzer would take
// long to guess.
inline void write_record(Channel& ch, Input& in) {
  const uint64_t ring = ch.layout.ring_bytes;
  const uint64_t offset = (uint64_t{in.u16()} * kRecordAlign) % ring;
  uint32_t length = 0;
  switch (in.u8() % 4) {
    case 0: length = in.u8(); break;
    case 1: length = static_cast<uint32_t>(ring - offset - sizeof(RecordHeader)); break;
    case 2: length = static_cast<uint32_t>(ring - sizeof(RecordHeader)); break;
    default: length = in.u32(); break;
  }
  const uint8_t type = in.u8();
  // Above the type byte: a ticket (claim markers) or the type claimed (abandoned records).
  const uint32_t above = (in.u8() % 8) | (uint32_t{in.u8()} << 8);
  const uint32_t tag = (type & 0x80) ? in.u32() : (type % 6) | ((type & 0x40) ? kClaimedBit : 0) | (above << 8);
  const RecordHeader h{length, tag};
  std::memcpy(ch.base() + ch.layout.ring_offset + offset, &h, sizeof h);
}

class QueueDriver {
 public:
  static constexpr uint32_t kProducers = 4;  // [0] is the first (single-mode) producer

  explicit QueueDriver(Channel& ch) : ch_(ch), pool_(ch.base(), ch.memory.layout(), ch.header()) {
    if (ch_.memory.claim_role(role_bits::kSender | role_bits::kReceiver) != Status::Ok) fail("roles of a fresh channel");
    producers_[0].emplace(ch_.memory, heap_);
    ids_[0] = next_id_++;
    ch_.memory.open_sender();
    consumer_.emplace(ch_.memory, heap_);
  }

  // Marks the memory as written by someone hostile: the delivery contract is void.
  void mark_hostile() { hostile_ = true; }

  // Runs the operation the input chooses; the hostile writes only if `hostile_ops`.
  void step(Input& in, bool hostile_ops) {
    const auto op = static_cast<QueueOp>(in.u8() % static_cast<uint8_t>(QueueOp::kCount));
    switch (op) {
      case QueueOp::Send: send(in.u8() % kProducers, message_size(in)); break;
      case QueueOp::Drain: drain(1 + in.u8() % 70, in.u8()); break;
      case QueueOp::ReleaseHeld: release_held(in.u8()); break;
      case QueueOp::DiscardAll: consumer_->discard_all(); break;
      case QueueOp::Ready: (void)consumer_->ready(); break;
      case QueueOp::PollRoom: poll_room(in.u8() % kProducers, message_size(in)); break;
      case QueueOp::Reserve: reserve(message_size(in)); break;
      case QueueOp::Commit: commit(in.u8() % kProducers, in.u8(), in.u32()); break;
      case QueueOp::Abort: abort_reserved(in.u8()); break;
      case QueueOp::SetState: ch_.memory.set_state(in.u8() & 0x1f); break;
      case QueueOp::CloseWithError: close_with_error(in); break;
      case QueueOp::ReceiverClose:
        ch_.memory.set_state(state_bits::kReceiverClosed);
        consumer_->discard_all();
        break;
      case QueueOp::AddProducer: add_producer(); break;
      case QueueOp::EndProducer: end_producer(in.u8() % kProducers, in.u8()); break;
      case QueueOp::ClaimRole: (void)ch_.memory.claim_role(in.u8() & 3); break;
      case QueueOp::NewConsumer:
        consumer_.reset();
        consumer_.emplace(ch_.memory, heap_);
        break;
      case QueueOp::Reattach: reattach(); break;
      case QueueOp::Stats: (void)ch_.memory.stats(); break;
      case QueueOp::Scribble:
      case QueueOp::WriteField:
      case QueueOp::WriteRecord:
        if (hostile_ops) attack(op, in);
        break;
      case QueueOp::kCount: break;
    }
  }

  // Returns every slab the driver still holds (received or reserved).
  ~QueueDriver() {
    for (const Held& h : held_) pool_.release(h.lease);
    for (const Lease& l : reserved_) pool_.release(l);
  }

 private:
  struct Held {
    Lease lease;
    uint32_t length;
  };

  void attack(QueueOp op, Input& in) {
    hostile_ = true;
    if (op == QueueOp::Scribble) scribble(ch_.base(), ch_.size(), in);
    if (op == QueueOp::WriteField) write_field(ch_, in);
    if (op == QueueOp::WriteRecord) write_record(ch_, in);
  }

  // A size from each path's interesting range: empty, inline, at the inline limit,
  // a slab of each class, past every class (heap), past max_message_size.
  uint32_t message_size(Input& in) const {
    const uint32_t v = any_size(in);
    return v <= kMaxMessage + 1 ? v : kMaxMessage + 1;  // past every config's max_message_size
  }
  uint32_t any_size(Input& in) const {
    const Layout& l = ch_.layout;
    const uint32_t largest = l.classes[l.class_count - 1].slab_size;
    switch (in.u8() % 8) {
      case 0: return 0;
      case 1: return 1 + in.u8() % 64;
      case 2: return l.inline_max - 1 + in.u8() % 3;
      case 3: return in.u16() % (largest + 1);
      case 4: return l.classes[in.u8() % l.class_count].slab_size - 1 + in.u8() % 3;
      case 5: return largest + 1 + in.u16();
      case 6: return static_cast<uint32_t>(l.max_message_size) + in.u8() % 2;
      default: return in.u32() % static_cast<uint32_t>(l.max_message_size + 1);
    }
  }

  // Message bytes: a tag {producer id, sequence number} when there is room, then a
  // stretch of a fixed pattern that starts where the tag says (memcpy/memcmp fast).
  static const uint8_t* pattern(uint32_t id, uint32_t seq) {
    static const Bytes bytes = [] {
      Bytes b((1 << 20) + 65536);  // the largest slab of any config, and more
      for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
      return b;
    }();
    return bytes.data() + (id * 977u + seq * 131u) % 65536;
  }
  static void fill(uint8_t* p, uint32_t len, uint32_t id, uint32_t seq) {
    if (len) std::memcpy(p, pattern(id, seq), len);
    if (len >= 8) {
      std::memcpy(p, &id, 4);
      std::memcpy(p + 4, &seq, 4);
    }
  }
  static bool intact(const uint8_t* p, uint32_t len, uint32_t id, uint32_t seq) {
    return std::memcmp(p + 8, pattern(id, seq) + 8, len - 8) == 0;
  }

  // The delivery contract for one received message (skipped once memory is hostile).
  void check_delivery(const uint8_t* p, uint32_t len) {
    if (hostile_ || len < 8) return;
    uint32_t id, seq;
    std::memcpy(&id, p, 4);
    std::memcpy(&seq, p + 4, 4);
    if (id >= next_id_) fail("a message from a producer that never existed");
    if (seq < next_expected_[id]) fail("a message delivered twice or out of order");
    next_expected_[id] = seq + 1;
    if (!intact(p, len, id, seq)) fail("message bytes changed in transit");
  }

  void in_buffer(const uint8_t* p, uint32_t len) const {
    if (p < ch_.base() || static_cast<uint64_t>(p - ch_.base()) > ch_.size() - len || len > ch_.size()) {
      fail("a payload outside the shared memory");
    }
  }

  void send(uint32_t p, uint32_t len) {
    if (!producers_[p]) return;
    static Bytes payload(kMaxMessage + 1);
    fill(payload.data(), len, ids_[p], seqs_[p]);
    bool rang;
    if (producers_[p]->try_send(payload.data(), len, &rang) == Status::Ok) ++seqs_[p];
  }

  void poll_room(uint32_t p, uint32_t len) {
    if (producers_[p]) (void)producers_[p]->poll_room(len);
  }

  void drain(uint32_t max, uint8_t keep) {
    bool rang;
    consumer_->drain(
        max,
        [&](Message& m) {
          if (m.owner != Message::Owner::Heap) in_buffer(m.data, m.length);
          touch(m.data, m.length);
          check_delivery(m.data, m.length);
          if (m.owner == Message::Owner::Slab) {
            // Some buffers stay with "JS" for a while, as a receiver's do.
            if ((keep & 1) && held_.size() < 8) {
              held_.push_back({m.lease, m.length});
            } else {
              pool_.release(m.lease);
            }
            keep >>= 1;
          } else if (m.owner == Message::Owner::Heap) {
            heap_.recycle(std::move(m.block));
          }
        },
        &rang);
  }

  void release_held(uint8_t which) {
    if (held_.empty()) return;
    const size_t i = which % held_.size();
    const Held h = held_[i];
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    if (!hostile_ && h.length >= 8) {
      const uint8_t* p = pool_.data(h.lease);
      uint32_t id, seq;
      std::memcpy(&id, p, 4);
      std::memcpy(&seq, p + 4, 4);
      if (!intact(p, h.length, id, seq)) fail("a slab was reused while the receiver held it");
    }
    pool_.release(h.lease);
  }

  void reserve(uint32_t len) {
    uint32_t cls;
    Lease l;
    if (reserved_.size() < 4 && pool_.class_for(len, &cls) && pool_.acquire(cls, &l) == Status::Ok) {
      touch(pool_.data(l), pool_.slab_size(l.cls));
      reserved_.push_back(l);
    }
  }

  void commit(uint32_t p, uint8_t which, uint32_t len) {
    if (!producers_[p] || reserved_.empty()) return;
    const size_t i = which % reserved_.size();
    const Lease l = reserved_[i];
    len %= pool_.slab_size(l.cls) + 2;  // sometimes one too many: InvalidArgument
    if (len <= pool_.slab_size(l.cls)) fill(pool_.data(l), len, ids_[p], seqs_[p]);
    bool rang;
    if (producers_[p]->try_commit(l, len, &rang) == Status::Ok) {
      ++seqs_[p];
      reserved_.erase(reserved_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }

  void abort_reserved(uint8_t which) {
    if (reserved_.empty()) return;
    const size_t i = which % reserved_.size();
    pool_.release(reserved_[i]);
    reserved_.erase(reserved_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void close_with_error(Input& in) {
    const std::span<const uint8_t> text = in.take(in.u8());
    const std::string_view s(reinterpret_cast<const char*>(text.data()), text.size());
    ch_.memory.write_error(s.substr(0, s.size() / 3), s.substr(s.size() / 3), s.substr(0, 2));
    ch_.memory.set_state(state_bits::kSenderErrored);
    std::string_view name, message, code;
    if (ch_.memory.read_error(&name, &message, &code)) {
      touch(reinterpret_cast<const uint8_t*>(name.data()), name.size());
      touch(reinterpret_cast<const uint8_t*>(message.data()), message.size());
      touch(reinterpret_cast<const uint8_t*>(code.data()), code.size());
    }
  }

  void add_producer() {
    if (next_id_ == next_expected_.size()) return;
    for (uint32_t p = 1; p < kProducers; ++p) {
      if (producers_[p]) continue;
      uint32_t ticket;
      if (ch_.memory.claim_producer(&ticket) != Status::Ok) return;
      producers_[p].emplace(ch_.memory, heap_, ticket);
      ids_[p] = next_id_++;
      seqs_[p] = 0;
      ch_.memory.open_sender();
      return;
    }
  }

  // As Endpoint::end for a sender: close() (graceful) or gone. The first producer
  // never comes back (its role bit stays claimed); others may be added again.
  void end_producer(uint32_t p, uint8_t how) {
    if (!producers_[p]) return;
    if (uint32_t bits = ch_.memory.end_sender(producers_[p]->ticket(), how & 1)) ch_.memory.set_state(bits);
    producers_[p].reset();
  }

  void reattach() {
    ChannelMemory again;
    if (ChannelMemory::attach(ch_.base(), ch_.size(), &again) == Status::Ok) {
      // Compared as identity blocks: they have no padding, a Layout may.
      const IdentityBlock a = again.layout().to_identity(), b = ch_.memory.layout().to_identity();
      if (!hostile_ && std::memcmp(&a, &b, sizeof a) != 0) fail("attach read another layout");
    } else if (!hostile_) {
      fail("a channel nobody scribbled on no longer attaches");
    }
  }

  Channel& ch_;
  HeapTable heap_;
  SlabPool pool_;
  std::optional<QueueConsumer> consumer_;
  std::array<std::optional<QueueProducer>, kProducers> producers_;
  std::array<uint32_t, kProducers> ids_{};   // producer id of each slot's current producer
  std::array<uint32_t, kProducers> seqs_{};  // its next sequence number
  uint32_t next_id_ = 0;
  std::array<uint32_t, 256> next_expected_{};  // by producer id: the lowest sequence number still allowed
  std::vector<Held> held_;
  std::vector<Lease> reserved_;
  bool hostile_ = false;
};

// Writes QueueDriver programs (seeds) in the encoding step() reads.
class QueueScript {
 public:
  explicit QueueScript(uint8_t config) { w_.u8(config); }
  Writer& raw() { return w_; }
  Bytes done() const { return w_.done(); }

  // `kind` as in QueueDriver::message_size (0 empty ... 7 any), `v` its argument.
  QueueScript& send(uint8_t producer, uint8_t kind, uint32_t v) { return op(QueueOp::Send).u8(producer).size(kind, v); }
  QueueScript& drain(uint8_t max, uint8_t keep = 0) { return op(QueueOp::Drain).u8(max - 1).u8(keep); }
  QueueScript& release_held(uint8_t which) { return op(QueueOp::ReleaseHeld).u8(which); }
  QueueScript& reserve(uint8_t kind, uint32_t v) { return op(QueueOp::Reserve).size(kind, v); }
  QueueScript& commit(uint8_t producer, uint8_t which, uint32_t len) { return op(QueueOp::Commit).u8(producer).u8(which).u32(len); }
  QueueScript& add_producer() { return op(QueueOp::AddProducer); }
  QueueScript& end_producer(uint8_t producer, bool graceful) { return op(QueueOp::EndProducer).u8(producer).u8(graceful); }
  QueueScript& op(QueueOp o) {
    w_.u8(static_cast<uint8_t>(o));
    return *this;
  }
  QueueScript& u8(uint8_t v) {
    w_.u8(v);
    return *this;
  }
  QueueScript& u16(uint16_t v) {
    w_.u16(v);
    return *this;
  }
  QueueScript& u32(uint32_t v) {
    w_.u32(v);
    return *this;
  }

 private:
  QueueScript& size(uint8_t kind, uint32_t v) {
    w_.u8(kind);
    switch (kind % 8) {
      case 0: break;
      case 1: case 2: case 6: w_.u8(static_cast<uint8_t>(v)); break;
      case 3: case 5: w_.u16(static_cast<uint16_t>(v)); break;
      case 4: w_.u8(static_cast<uint8_t>(v)).u8(static_cast<uint8_t>(v >> 8)); break;
      default: w_.u32(v); break;
    }
    return *this;
  }

  Writer w_;
};

}  // namespace ringport::fuzz
