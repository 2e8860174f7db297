// A broadcast under hostile memory: one producer sends messages of every size class
// (inline, shared slab, shared heap block) to up to kReceivers receivers, which join
// at any time (a late one starts at the tail), drain at their own pace (a slow one
// lags) and hold slab references and heap blocks for a while, as JS buffers do. Then
// input bytes overwrite the ring, header lines (positions, the pair version,
// sequence numbers), slab descriptors, reference-count words and the arena, and the
// same operations run over what is left.
//
// Checked always: no access outside the buffer (ASan, poisoned gaps between the
// regions), no undefined behaviour, every operation returns (libFuzzer's -timeout).
// Checked while nothing hostile was written: each receiver gets every message in
// order and intact, except whole runs it is told it missed (received + missed =
// sent since it joined); sends succeed; a slab a receiver holds stays leased under
// its generation, and reference counts match the holders (the ring's one reference
// plus the receivers'), so no slab is freed twice or while still held.
//
// Input: a config byte; a count and that many operations; a count and that many
// patches; then operations until the input ends.
#include <memory>
#include <optional>

#include "broadcast.hpp"
#include "fuzz_harness.hpp"

namespace ringport::fuzz {
namespace {

enum class Op : uint8_t { Send, AddReceiver, Drain, Release, Ready, Reattach, SetState, kCount };
enum class Region : uint8_t { Ring, HeaderLines, SlabMetas, Arena, Anywhere, Field, Record, RefWord, kCount };

constexpr size_t kReceivers = 4;
constexpr size_t kHeldMax = 6;  // references one receiver keeps at most

// Message bytes: its sequence number (first 8 bytes), then a pattern that starts
// where the sequence number says.
const uint8_t* pattern(uint64_t seq) {
  static const Bytes bytes = [] {
    Bytes b(kMaxMessage + 65536);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
    return b;
  }();
  return bytes.data() + (seq * 131u) % 65536;
}

std::atomic<uint64_t>& ref_word(Channel& ch, uint32_t cls, uint32_t index) {
  const SlabClassInfo& k = ch.layout.classes[cls];
  return reinterpret_cast<std::atomic<uint64_t>*>(ch.base() + k.meta_offset + uint64_t{k.slab_count} * sizeof(SlabMeta))[index];
}

struct Receiver {
  std::unique_ptr<BroadcastConsumer> consumer;
  uint64_t first = 0;  // the sequence number sent next when it joined
  uint64_t next = 0;   // the sequence number it must deliver next
  std::vector<Lease> slabs;
  std::vector<std::shared_ptr<HeapBlock>> blocks;
};

class Driver {
 public:
  explicit Driver(Channel& ch) : ch_(ch), pool_(ch.base(), ch.memory.layout(), ch.header()) {
    if (ch_.memory.claim_role(role_bits::kSender) != Status::Ok) fail("sender role of a fresh channel");
    producer_.emplace(ch_.memory, heap_);
  }
  ~Driver() {
    for (Receiver& r : receivers_) {
      for (const Lease& l : r.slabs) r.consumer->slabs().unref(l);
    }
  }

  void mark_hostile() { hostile_ = true; }
  bool hostile() const { return hostile_; }

  void step(Input& in) {
    switch (static_cast<Op>(in.u8() % static_cast<uint8_t>(Op::kCount))) {
      case Op::Send: send(size(in)); break;
      case Op::AddReceiver: add_receiver(); break;
      case Op::Drain: drain(in.u8(), 1 + in.u8() % 64, in.u8()); break;
      case Op::Release: release(in.u8(), in.u8()); break;
      case Op::Ready:
        for (Receiver& r : receivers_) (void)r.consumer->ready(), (void)r.consumer->pending_approx();
        (void)ch_.memory.stats();
        break;
      case Op::Reattach:  // a producer that attaches again reads its positions back from the header
        producer_.reset();
        producer_.emplace(ch_.memory, heap_);
        break;
      case Op::SetState: set_state(in.u8()); break;
      case Op::kCount: break;
    }
  }

  // Reference counts against holders: a leased slab is held by the ring (at most one
  // reference) or by a receiver; an unleased one by nobody.
  void audit() const {
    if (hostile_) return;
    const Layout& l = ch_.layout;
    for (uint32_t c = 0; c < l.class_count; ++c) {
      for (uint32_t i = 0; i < l.classes[c].slab_count; ++i) {
        uint64_t holders = 0;
        uint32_t generation = 0;
        for (const Receiver& r : receivers_) {
          for (const Lease& h : r.slabs) {
            if (h.cls == c && h.index == i) ++holders, generation = h.generation;
          }
        }
        const uint32_t lease = reinterpret_cast<const SlabMeta*>(ch_.base() + l.classes[c].meta_offset)[i].lease.load();
        const uint64_t word = ref_word(const_cast<Channel&>(ch_), c, i).load();
        const uint32_t refs = static_cast<uint32_t>(word);
        if (!(lease & 1)) {
          if (holders) fail("a receiver holds a slab the pool has back");
          continue;
        }
        if ((word >> 32) != (lease >> 1)) fail("reference word of another generation than the lease");
        if (holders && generation != (lease >> 1)) fail("a receiver holds a slab reused meanwhile");
        if (refs < holders || refs > holders + 1 || refs == 0) fail("reference count does not match the holders");
      }
    }
  }

 private:
  // A size from each path: empty, inline (up to its limit), a slab of each class,
  // past every class (the heap), past max_message_size.
  uint32_t size(Input& in) const {
    const uint32_t v = any_size(in);
    return v <= ch_.layout.max_message_size + 1 ? v : static_cast<uint32_t>(ch_.layout.max_message_size) + 1;
  }
  uint32_t any_size(Input& in) const {
    const Layout& l = ch_.layout;
    const uint32_t largest = l.classes[l.class_count - 1].slab_size;
    const uint32_t max = static_cast<uint32_t>(l.max_message_size);
    switch (in.u8() % 6) {
      case 0: return in.u8() % (l.inline_max + 1);
      case 1: return l.inline_max + in.u8() % 2;
      case 2: return l.classes[in.u8() % l.class_count].slab_size - 1 + in.u8() % 3;
      case 3: return l.inline_max + 1 + in.u16() % (largest - l.inline_max);
      case 4: return largest < max ? largest + 1 + in.u16() % (max - largest) : max;
      default: return max + in.u8() % 2;
    }
  }

  void send(uint32_t len) {
    static Bytes payload(kMaxMessage + 1);
    const uint64_t seq = lengths_.size();
    if (len) std::memcpy(payload.data(), pattern(seq), len);
    if (len >= 8) std::memcpy(payload.data(), &seq, 8);
    bool rang;
    const Status s = producer_->try_send(payload.data(), len, &rang);
    if (s == Status::Ok) lengths_.push_back(len);
    if (hostile_) return;
    const bool too_large = len > ch_.layout.max_message_size;
    if (s != (closed_ ? Status::Closed : too_large ? Status::TooLarge : Status::Ok)) fail("a send on an intact broadcast failed");
  }

  void add_receiver() {
    if (receivers_.size() == kReceivers) return;
    Receiver r;
    r.consumer = std::make_unique<BroadcastConsumer>(ch_.memory, heap_);
    r.first = r.next = lengths_.size();
    receivers_.push_back(std::move(r));
  }

  void drain(uint8_t which, uint32_t max, uint8_t keep) {
    if (receivers_.empty()) return;
    Receiver& r = receivers_[which % receivers_.size()];
    bool rang;
    const Status s = r.consumer->drain(
        max,
        [&](Message& m) {
          if (m.owner != Message::Owner::SharedHeap && m.owner != Message::Owner::Ring) {
            if (m.data < ch_.base() || static_cast<uint64_t>(m.data - ch_.base()) > ch_.size() - m.length) fail("a payload outside the shared memory");
          }
          touch(m.data, m.length);
          check(r, m);
          const bool hold = keep & 1;
          keep >>= 1;
          if (m.owner == Message::Owner::SharedSlab) {
            if (!hostile_ && !pool_.is_leased(m.lease)) fail("a receiver got a slab that is not leased");
            if (hold && r.slabs.size() < kHeldMax) {
              r.slabs.push_back(m.lease);
            } else {
              r.consumer->slabs().unref(m.lease);
            }
          } else if (m.owner == Message::Owner::SharedHeap && hold && r.blocks.size() < kHeldMax) {
            r.blocks.push_back(std::move(m.shared));
          }
        },
        &rang);
    if (hostile_) return;
    if (s == Status::Lagged) r.next += r.consumer->missed();
    if (r.next != r.first + r.consumer->received() + r.consumer->missed_total()) fail("received + missed is not what was sent since joining");
    if (s == Status::Corrupt) fail("an intact broadcast reads as corrupt");
    if (s == Status::Empty && r.next != lengths_.size()) fail("a receiver found nothing while messages are held for it");
  }

  // The delivery contract for one message (skipped once memory is hostile).
  void check(Receiver& r, const Message& m) {
    if (hostile_) return;
    const uint64_t seq = r.next++;
    if (seq >= lengths_.size() || m.length != lengths_[seq]) fail("a message of the wrong length, or never sent");
    if (m.length >= 8) {
      uint64_t tag;
      std::memcpy(&tag, m.data, 8);
      if (tag != seq) fail("a message out of order");
      if (std::memcmp(m.data + 8, pattern(seq) + 8, m.length - 8) != 0) fail("message bytes changed in transit");
    } else if (m.length && std::memcmp(m.data, pattern(seq), m.length) != 0) {
      fail("message bytes changed in transit");
    }
  }

  void release(uint8_t which, uint8_t k) {
    if (receivers_.empty()) return;
    Receiver& r = receivers_[which % receivers_.size()];
    if (!r.blocks.empty() && (k & 0x80)) r.blocks.erase(r.blocks.begin() + k % r.blocks.size());
    if (r.slabs.empty()) return;
    const size_t i = k % r.slabs.size();
    const Lease l = r.slabs[i];
    r.slabs.erase(r.slabs.begin() + static_cast<std::ptrdiff_t>(i));
    if (!hostile_ && !pool_.is_leased(l)) fail("a slab was freed while a receiver held it");
    r.consumer->slabs().unref(l);
  }

  void set_state(uint8_t how) {
    const uint32_t bits = (how & 1) ? state_bits::kSenderClosed : (how & 2) ? state_bits::kSenderGone : state_bits::kSenderErrored;
    ch_.memory.set_state(bits);
    closed_ = true;
    if (!hostile_ && (bits & state_bits::kSenderErrored)) hostile_ = true;  // receivers stop at once: nothing more to check
  }

  Channel& ch_;
  HeapTable heap_;
  SlabPool pool_;
  std::optional<BroadcastProducer> producer_;
  std::vector<Receiver> receivers_;
  std::vector<uint32_t> lengths_;  // by sequence number: every message sent
  bool closed_ = false;
  bool hostile_ = false;
};

// A broadcast record header (word, then sequence number) at a record-aligned ring
// offset: lengths that end somewhere telling, real types and padding.
void write_record(Channel& ch, Input& in) {
  const uint64_t ring = ch.layout.ring_bytes;
  const uint64_t offset = (uint64_t{in.u16()} * kRecordAlign) % ring;
  uint32_t length;
  switch (in.u8() % 4) {
    case 0: length = in.u8(); break;
    case 1: length = static_cast<uint32_t>(ring - offset); break;
    case 2: length = 16; break;
    default: length = in.u32(); break;
  }
  const uint8_t type = in.u8();
  const uint64_t word = header_word(length, (type & 0x80) ? in.u32() : type % 6);
  std::memcpy(ch.base() + ch.layout.ring_offset + offset, &word, 8);
  if ((type & 0x40) && offset + 16 <= ring) {
    const uint64_t seq = in.u64();
    std::memcpy(ch.base() + ch.layout.ring_offset + offset + 8, &seq, 8);
  }
}

void patch(Channel& ch, Input& in) {
  const Layout& l = ch.layout;
  uint64_t from = 0, size = ch.size();
  switch (static_cast<Region>(in.u8() % static_cast<uint8_t>(Region::kCount))) {
    case Region::Ring: from = l.ring_offset, size = l.ring_bytes; break;
    case Region::HeaderLines: from = offsetof(Header, state), size = offsetof(Header, error) - from; break;
    case Region::SlabMetas: from = l.classes[0].meta_offset, size = l.classes[0].arena_offset - from; break;
    case Region::Arena: from = l.classes[0].arena_offset, size = ch.size() - from; break;
    case Region::Anywhere: break;
    case Region::Field: write_field(ch, in); return;
    case Region::Record: write_record(ch, in); return;
    case Region::RefWord: {
      const uint32_t c = in.u8() % l.class_count, i = in.u8() % l.classes[c].slab_count;
      std::atomic<uint64_t>& w = ref_word(ch, c, i);
      const uint8_t how = in.u8();
      // A count nudged (an extra or a missing reference), at its limits, or anything.
      const uint64_t v = how % 4 == 0 ? w.load() + 1 : how % 4 == 1 ? w.load() - 1 : how % 4 == 2 ? (w.load() | UINT32_MAX) : in.u64();
      w.store(v);
      return;
    }
    case Region::kCount: return;
  }
  scribble(ch.base() + from, size, in);
}

// Writes Driver programs (seeds), counting operations.
struct Script {
  Writer w;
  uint8_t ops = 0;
  Script& op(Op o) {
    w.u8(static_cast<uint8_t>(o));
    ++ops;
    return *this;
  }
  Script& inline_send(uint8_t len) { return op(Op::Send).u8(0).u8(len); }
  Script& slab_send(uint16_t v) {
    op(Op::Send).u8(3).w.u16(v);
    return *this;
  }
  Script& heap_send(uint16_t v) {
    op(Op::Send).u8(4).w.u16(v);
    return *this;
  }
  Script& drain(uint8_t receiver, uint8_t max, uint8_t keep) { return op(Op::Drain).u8(receiver).u8(max - 1).u8(keep); }
  Script& u8(uint8_t v) {
    w.u8(v);
    return *this;
  }
};

// Valid traffic of every size class that wraps the ring and evicts: receivers 0 and 1
// from the start (1 drains only at the end: it lags), 2 joins late; some references
// and blocks held, some released.
Script traffic() {
  Script s;
  s.op(Op::AddReceiver).op(Op::AddReceiver);
  for (uint8_t i = 0; i < 6; ++i) s.inline_send(i * 40).slab_send(i * 3000 + 1).drain(0, 8, 0x5);
  s.heap_send(100).op(Op::AddReceiver).op(Op::Send).u8(2).u8(0).u8(1);
  for (uint8_t i = 0; i < 5; ++i) s.slab_send(i * 5000).inline_send(8).drain(2, 4, 0xff);
  s.op(Op::Release).u8(2).u8(0x81).drain(1, 64, 0x3).drain(1, 64, 0).op(Op::Ready).op(Op::Reattach).inline_send(16);
  return s;
}

}  // namespace

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (uint8_t cfg = 0; cfg < kConfigs; ++cfg) {
    for (uint8_t region = 0; region < static_cast<uint8_t>(Region::kCount); ++region) {
      const Script t = traffic();
      Writer w;
      const Bytes ops = t.w.done();
      w.u8(cfg).u8(t.ops).bytes(ops.data(), ops.size());
      // One patch of this region (zero bytes: the fuzzer fills them in), then all
      // receivers drain, the producer sends, receivers release.
      w.u8(1).u8(region).u32(8).u8(7).u32(0).u32(0);
      Script after;
      for (uint8_t r = 0; r < 3; ++r) after.drain(r, 64, 0x3).slab_send(2000).drain(r, 64, 0).op(Op::Release).u8(r).u8(0);
      const Bytes more = after.w.done();
      out.push_back(w.bytes(more.data(), more.size()).done());
    }
  }
  return out;
}

}  // namespace ringport::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringport::fuzz;
  Input in(data, size);
  Channel ch(broadcast_config(in.u8()));
  Driver driver(ch);
  for (uint8_t n = in.u8() % 64; n > 0; --n) driver.step(in);
  driver.audit();
  const uint8_t patches = in.u8() % 24;
  if (patches) driver.mark_hostile();
  for (uint8_t n = 0; n < patches; ++n) patch(ch, in);
  for (int steps = 0; steps < 400 && !in.empty(); ++steps) driver.step(in);
  driver.audit();
  return 0;
}
