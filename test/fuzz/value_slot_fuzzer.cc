// Watch and Mailbox value slots under hostile memory: a writer replaces the value
// (every length up to the capacity), readers receive, read the latest (Watch, some
// pinning at once) or take it (Mailbox); then input bytes overwrite the control line
// (`latest`: version, index, pinned and taken bits; `dropped`), the pin, the buffers'
// seqlock words, versions and lengths, their data and the header lines, and the same
// operations run over what is left.
//
// Checked always: no access outside the buffer (ASan), no undefined behaviour, every
// operation returns (libFuzzer's -timeout): a read that can never settle gives up
// with Corrupt; a sink is never asked for more than the capacity. Checked while
// nothing hostile was written: every read returns the newest value, intact; a Watch
// reader gets each version at most once, a Mailbox receiver each message at most
// once, and `dropped` counts exactly the messages replaced before they were taken.
//
// Input: a kind byte (Watch or Mailbox) and a config byte; a count and that many
// operations; a count and that many patches; then operations until the input ends.
#include <memory>
#include <optional>

#include "fuzz_harness.hpp"
#include "value_slot.hpp"

namespace ringport::fuzz {
namespace {

enum class Op : uint8_t { Send, Receive, Latest, AddReader, Ready, Reattach, SetState, Stats, kCount };
enum class Region : uint8_t { Latest, Pin, BufferHeader, BufferData, HeaderLines, Field, Anywhere, kCount };

constexpr size_t kReaders = 3;

// Value bytes for version v: a pattern that starts where v says.
const uint8_t* pattern(uint64_t v) {
  static const Bytes bytes = [] {
    Bytes b(8192 + 65536);
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
    return b;
  }();
  return bytes.data() + (v * 131u) % 65536;
}

struct Reader {
  std::unique_ptr<ValueReader> reader;
  uint64_t seen = 0;  // the newest version it returned (Watch)
};

class Driver {
 public:
  explicit Driver(Channel& ch) : ch_(ch), slot_(ch.memory), value_(ch.layout.capacity + 8) {
    if (ch_.memory.claim_role(role_bits::kSender) != Status::Ok) fail("sender role of a fresh channel");
    writer_.emplace(ch_.memory);
    if (slot_.mailbox()) add_reader(0);
  }

  void mark_hostile() { hostile_ = true; }

  void step(Input& in) {
    switch (static_cast<Op>(in.u8() % static_cast<uint8_t>(Op::kCount))) {
      case Op::Send: send(in.u16() % (slot_.capacity() + 2)); break;
      case Op::Receive: receive(in.u8(), in.u8()); break;
      case Op::Latest: latest(in.u8()); break;
      case Op::AddReader: add_reader(in.u8() % 3); break;
      case Op::Ready:
        for (Reader& r : readers_) (void)r.reader->ready();
        break;
      case Op::Reattach:  // a writer that attaches again reads where publishing stands
        writer_.reset();
        writer_.emplace(ch_.memory);
        break;
      case Op::SetState: set_state(in.u8()); break;
      case Op::Stats: stats(); break;
      case Op::kCount: break;
    }
  }

 private:
  // Watch readers: optimistic first (as the binding makes them) or pinned at once.
  void add_reader(uint32_t optimistic) {
    if (readers_.size() == kReaders || (slot_.mailbox() && !readers_.empty())) return;
    if (slot_.mailbox() && ch_.memory.claim_role(role_bits::kReceiver) != Status::Ok) fail("receiver role of a fresh mailbox");
    readers_.push_back({std::make_unique<ValueReader>(ch_.memory, optimistic), 0});
  }

  void send(uint32_t len) {
    const uint64_t version = lengths_.size() + 1;
    bool rang;
    const Status s = writer_->try_send(pattern(version), len, &rang);
    if (s == Status::Ok) {
      if (slot_.mailbox() && !lengths_.empty() && !taken_) ++dropped_;
      lengths_.push_back(len);
      taken_ = false;
    }
    if (hostile_) return;
    const uint32_t st = ch_.memory.state();
    const bool closed = st & (state_bits::kSenderClosed | state_bits::kSenderGone);
    const bool disconnected = slot_.mailbox() && (st & state_bits::kReceiverClosed);
    const Status want = closed ? Status::Closed : disconnected ? Status::Disconnected : len > slot_.capacity() ? Status::TooLarge : Status::Ok;
    if (s != want) fail("a send into an intact slot failed");
  }

  // A sink for at most the capacity; `refuse` makes it say no (InvalidArgument).
  auto sink(bool refuse, uint32_t* asked) {
    return [this, refuse, asked](uint32_t length, uint8_t** to) {
      if (length > slot_.capacity()) fail("a sink asked for more than the capacity");
      *asked = length;
      *to = value_.data();
      return !refuse;
    };
  }

  void receive(uint8_t which, uint8_t how) {
    if (readers_.empty()) return;
    Reader& r = readers_[which % readers_.size()];
    uint32_t length = UINT32_MAX;
    const bool refuse = (how & 7) == 7;
    const Status s = r.reader->receive(sink(refuse, &length));
    if (hostile_) return;
    if (refuse && s == Status::InvalidArgument) {
      taken_ |= slot_.mailbox();  // the taken bit is set before the copy: the message is gone
      return;
    }
    const uint64_t newest = lengths_.size();
    if (slot_.mailbox()) {
      if (ch_.memory.state() & state_bits::kReceiverClosed) {
        if (s != Status::Closed) fail("a closed mailbox receiver took a message");
      } else if (s == Status::Ok) {
        if (taken_ || newest == 0) fail("a message taken twice, or never sent");
        taken_ = true;
        check(newest, length);
      } else if (s != (taken_ || newest == 0 ? end_status() : Status::Ok)) {
        fail("a mailbox take returned the wrong status");
      }
      return;
    }
    if (s == Status::Ok) {
      if (newest <= r.seen) fail("a watch returned a version twice");
      r.seen = newest;
      check(newest, length);
    } else if (s != (newest > r.seen ? Status::Ok : end_status())) {
      fail("a watch receive returned the wrong status");
    }
  }

  void latest(uint8_t which) {
    if (readers_.empty() || slot_.mailbox()) return;
    uint32_t length = UINT32_MAX;
    const Status s = readers_[which % readers_.size()].reader->read_latest(sink(false, &length));
    if (hostile_) return;
    if (lengths_.empty() ? s != Status::Empty : s != Status::Ok) fail("read_latest of an intact watch");
    if (s == Status::Ok) check(lengths_.size(), length);
  }

  // What a receive that finds nothing new returns.
  Status end_status() const {
    const uint32_t st = ch_.memory.state();
    return (st & state_bits::kSenderClosed) ? Status::Closed : (st & state_bits::kSenderGone) ? Status::Disconnected : Status::Empty;
  }

  void check(uint64_t version, uint32_t length) const {
    if (length != lengths_[version - 1] || std::memcmp(value_.data(), pattern(version), length) != 0) fail("a value changed in transit");
  }

  void set_state(uint8_t how) {
    // An errored sender makes every read Errored: not modelled, so the check stops there.
    const uint32_t bits[] = {state_bits::kSenderClosed, state_bits::kSenderGone, state_bits::kReceiverClosed, state_bits::kSenderErrored};
    ch_.memory.set_state(bits[how % 4]);
    if (bits[how % 4] == state_bits::kSenderErrored) hostile_ = true;
  }

  void stats() {
    const ValueStats s = slot_.stats();
    if (hostile_ || !slot_.mailbox()) return;
    if (s.dropped != dropped_) fail("dropped does not count the messages replaced unread");
    const bool waiting = !lengths_.empty() && !taken_;
    if (s.pending != waiting || s.pending_bytes != (waiting ? lengths_.back() : 0)) fail("pending does not say what waits");
  }

  Channel& ch_;
  ValueSlot slot_;
  Bytes value_;  // where sinks copy to
  std::optional<ValueWriter> writer_;
  std::vector<Reader> readers_;
  std::vector<uint32_t> lengths_;  // by version - 1: every value sent
  uint64_t dropped_ = 0;
  bool taken_ = false;
  bool hostile_ = false;
};

void patch(Channel& ch, Input& in) {
  const ValueSlot slot(ch.memory);
  const uint64_t stride = value_buffer_stride(slot.capacity());
  const uint32_t i = in.u8() % kValueBuffers;
  uint8_t* region = ch.memory.ring();
  switch (static_cast<Region>(in.u8() % static_cast<uint8_t>(Region::kCount))) {
    case Region::Latest: {
      // A version near the current one or anything, any index (3 is out of range), any flags.
      const uint64_t now = slot.control().latest.load();
      const uint8_t how = in.u8();
      const uint64_t version = (how & 1) ? value_word::version_of(now) + (how >> 5) - 2 : in.u32();
      slot.control().latest.store((version << value_word::kVersionShift) | ((how >> 1) & 0xf));
      return;
    }
    case Region::Pin: slot.pin().held.store(in.u8() % 3); return;
    case Region::BufferHeader: {
      ValueBufferHeader& h = slot.buffer(i);
      const uint8_t how = in.u8();
      if (how % 3 == 0) h.seq.store(h.seq.load() + 1 + (how >> 7));  // odd: "being written"; or a changed even one
      if (how % 3 == 1) h.version.store(h.version.load() + (how >> 2) % 3 - 1);
      if (how % 3 == 2) h.length.store((how & 0x80) ? in.u64() : slot.capacity() + (how >> 2) % 3 - 1);
      return;
    }
    case Region::BufferData: scribble(region + kValueControlBytes + i * stride, stride, in); return;
    case Region::HeaderLines: scribble(ch.base() + offsetof(Header, state), offsetof(Header, error) - offsetof(Header, state), in); return;
    case Region::Field: write_field(ch, in); return;
    case Region::Anywhere: scribble(ch.base(), ch.size(), in); return;
    case Region::kCount: return;
  }
}

}  // namespace

// Per kind and capacity: values of each length sent, received, read, taken, replaced
// unread; then one patch of each region (its bytes left to the fuzzer) and more of the same.
std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (uint8_t kind = 0; kind < 2; ++kind) {
    for (uint8_t cfg = 0; cfg < kValueConfigs; ++cfg) {
      for (uint8_t region = 0; region < static_cast<uint8_t>(Region::kCount); ++region) {
        Writer w;
        auto op = [&w](Op o) -> Writer& { return w.u8(static_cast<uint8_t>(o)); };
        w.u8(kind).u8(cfg).u8(14);
        op(Op::AddReader).u8(0);
        op(Op::AddReader).u8(2);
        op(Op::Send).u16(1);
        op(Op::Receive).u8(0).u8(0);
        op(Op::Send).u16(4096);
        op(Op::Send).u16(13);
        op(Op::Receive).u8(1).u8(0);
        op(Op::Latest).u8(0);
        op(Op::Receive).u8(0).u8(0);
        op(Op::Receive).u8(0).u8(7);
        op(Op::Stats);
        op(Op::Send).u16(200);
        op(Op::Reattach);
        op(Op::Ready);
        w.u8(1).u8(0).u8(region).u8(0x21).u32(0).u32(0);
        op(Op::Receive).u8(0).u8(0);
        op(Op::Latest).u8(1);
        op(Op::Send).u16(8);
        op(Op::Receive).u8(1).u8(0);
        op(Op::Stats);
        out.push_back(w.done());
      }
    }
  }
  return out;
}

}  // namespace ringport::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringport;
  using namespace ringport::fuzz;
  Input in(data, size);
  const ChannelKind kind = (in.u8() & 1) ? ChannelKind::Mailbox : ChannelKind::Watch;
  Channel ch(value_config(kind, in.u8()));
  Driver driver(ch);
  for (uint8_t n = in.u8() % 48; n > 0; --n) driver.step(in);
  const uint8_t patches = in.u8() % 16;
  if (patches) driver.mark_hostile();
  for (uint8_t n = 0; n < patches; ++n) patch(ch, in);
  for (int steps = 0; steps < 400 && !in.empty(); ++steps) driver.step(in);
  return 0;
}
