// The value slot of Watch and Mailbox (value_slot.hpp): geometry, edge cases by name,
// the pin protocol step by step, corrupted memory, and multi-thread stress runs that
// check every value read is whole and versions only move forward.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"
#include "value_slot.hpp"

namespace ringport {
namespace {

using test::TestChannel;

ChannelConfig value_config(ChannelKind kind, uint64_t capacity) {
  ChannelConfig cfg;
  cfg.kind = static_cast<uint32_t>(kind);
  cfg.capacity = capacity;
  return cfg;
}

// A reader's sink that keeps what it was given.
struct Captured {
  std::vector<uint8_t> bytes;
  uint32_t calls = 0;
  auto sink() {
    return [this](uint32_t length, uint8_t** to) {
      ++calls;
      bytes.assign(length, 0xEE);  // overwritten by the copy
      *to = bytes.data();
      return true;
    };
  }
  std::string text() const { return std::string(bytes.begin(), bytes.end()); }
};

Status send(ValueWriter& w, const std::string& s) {
  bool rang;
  return w.try_send(reinterpret_cast<const uint8_t*>(s.data()), static_cast<uint32_t>(s.size()), &rang);
}

Status receive(ValueReader& r, std::string* out) {
  Captured c;
  const Status s = r.receive(c.sink());
  *out = c.text();
  return s;
}

// "prefix<n>" (a helper: g++ 12 warns falsely about "literal" + std::string).
std::string numbered(const char* prefix, int n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

std::string received(ValueReader& r) {
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Ok);
  return out;
}

TEST(ValueLayout, ExactCapacityNoPoolThreeBuffers) {
  for (ChannelKind kind : {ChannelKind::Watch, ChannelKind::Mailbox}) {
    Layout l;
    ASSERT_EQ(Layout::compute(value_config(kind, 1000), &l), Status::Ok);
    EXPECT_EQ(l.kind, static_cast<uint32_t>(kind));
    EXPECT_EQ(l.capacity, 1000u);  // the largest value, not rounded
    EXPECT_EQ(l.max_message_size, 1000u);
    EXPECT_EQ(l.class_count, 0u);
    EXPECT_EQ(l.inline_max, 0u);
    EXPECT_EQ(l.ring_offset, kHeaderBytes);
    EXPECT_EQ(value_buffer_stride(1000), 1088u);  // 32 + 1000 rounded to 8, then to 64
    EXPECT_EQ(l.ring_bytes, 256u + 3 * 1088u);
    EXPECT_EQ(l.total_bytes, l.ring_offset + l.ring_bytes);
    EXPECT_EQ(l.validate(l.total_bytes), Status::Ok);
    EXPECT_EQ(l.validate(l.total_bytes - 1), Status::Corrupt);
  }
  Layout l;
  EXPECT_EQ(Layout::compute(value_config(ChannelKind::Watch, 0), &l), Status::InvalidArgument);
  EXPECT_EQ(Layout::compute(value_config(ChannelKind::Watch, kMaxCapacity + 1), &l), Status::InvalidArgument);
  ASSERT_EQ(Layout::compute(value_config(ChannelKind::Mailbox, kMaxCapacity), &l), Status::Ok);
  EXPECT_EQ(l.validate(l.total_bytes), Status::Ok);
}

TEST(ValueLayout, ValidateRejectsEachCorruptedField) {
  Layout good;
  ASSERT_EQ(Layout::compute(value_config(ChannelKind::Watch, 4096), &good), Status::Ok);
  const uint64_t buffer = good.total_bytes + 65536;
  const std::vector<std::pair<const char*, std::function<void(Layout&)>>> corruptions{
      {"capacity 0", [](Layout& l) { l.capacity = 0; }},
      {"capacity over the maximum", [](Layout& l) { l.capacity = l.max_message_size = kMaxCapacity + 1; }},
      {"max_message_size not the capacity", [](Layout& l) { l.max_message_size = l.capacity + 1; }},
      {"capacity grown without the region", [](Layout& l) { l.capacity = l.max_message_size = l.capacity + 64; }},
      {"ring_bytes short", [](Layout& l) { l.ring_bytes -= 64; }},
      {"ring_bytes long", [](Layout& l) { l.ring_bytes += 64; }},
      {"region past total_bytes", [](Layout& l) { l.total_bytes -= 8; }},
      {"ring_offset inside the header", [](Layout& l) { l.ring_offset = 8; }},
      {"ring_offset near 2^64", [](Layout& l) { l.ring_offset = ~uint64_t{7}; }},
      {"a slab class", [](Layout& l) { l.class_count = 1; }},
      {"inline_max", [](Layout& l) { l.inline_max = 8; }},
      {"unknown kind", [](Layout& l) { l.kind = 5; }},
  };
  for (const auto& [name, corrupt] : corruptions) {
    Layout l = good;
    corrupt(l);
    EXPECT_EQ(l.validate(buffer), Status::Corrupt) << name;
  }
}

TEST(ValueLayout, AttachChecksTheBufferHoldsTheRegion) {
  TestChannel ch(value_config(ChannelKind::Mailbox, 100));
  ChannelMemory m;
  EXPECT_EQ(ChannelMemory::attach(ch.base, ch.layout.total_bytes, &m), Status::Ok);
  EXPECT_EQ(ChannelMemory::attach(ch.base, ch.layout.total_bytes - 8, &m), Status::Corrupt);
}

TEST(Watch, NothingBeforeTheFirstSend) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueReader r(ch.memory);
  Captured c;
  EXPECT_EQ(r.receive(c.sink()), Status::Empty);
  EXPECT_EQ(r.read_latest(c.sink()), Status::Empty);
  EXPECT_EQ(c.calls, 0u);
  EXPECT_FALSE(r.ready());
}

TEST(Watch, FreshReaderGetsTheCurrentValueAtOnce) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ASSERT_EQ(send(w, "before"), Status::Ok);
  ValueReader late(ch.memory);
  EXPECT_TRUE(late.ready());
  EXPECT_EQ(received(late), "before");
  EXPECT_FALSE(late.ready());
  std::string out;
  EXPECT_EQ(receive(late, &out), Status::Empty);
}

TEST(Watch, ReceiveSkipsToTheNewestUnseenValue) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  for (int i = 1; i <= 10; ++i) ASSERT_EQ(send(w, numbered("v", i)), Status::Ok);
  EXPECT_EQ(received(r), "v10");
  EXPECT_EQ(r.seen(), 10u);
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Empty);
  ASSERT_EQ(send(w, "v11"), Status::Ok);
  EXPECT_EQ(received(r), "v11");
}

TEST(Watch, ReadersAreIndependentAndReadLatestMarksNothing) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader a(ch.memory), b(ch.memory);
  ASSERT_EQ(send(w, "one"), Status::Ok);
  EXPECT_EQ(received(a), "one");
  Captured c;
  ASSERT_EQ(b.read_latest(c.sink()), Status::Ok);
  EXPECT_EQ(c.text(), "one");
  EXPECT_EQ(received(b), "one");  // read_latest() did not mark it seen
  ASSERT_EQ(a.read_latest(c.sink()), Status::Ok);  // nor does being seen hide it from read_latest()
  EXPECT_EQ(c.text(), "one");
  EXPECT_EQ(ch.memory.stats().received, 2u);  // read_latest() is not a receive
}

TEST(Watch, ValueLengthsAroundWordBoundariesAndTheCapacity) {
  constexpr uint32_t kCapacity = 61;  // not a multiple of 8
  TestChannel ch(value_config(ChannelKind::Watch, kCapacity));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  bool rang;
  for (uint32_t len = 0; len <= kCapacity; ++len) {
    const auto payload = test::make_payload(len, len);
    ASSERT_EQ(w.try_send(payload.data(), len, &rang), Status::Ok) << len;
    Captured c;
    ASSERT_EQ(r.receive(c.sink()), Status::Ok) << len;
    ASSERT_EQ(c.bytes, payload) << len;
  }
  const auto big = test::make_payload(kCapacity + 1, 0);
  EXPECT_EQ(w.try_send(big.data(), kCapacity + 1, &rang), Status::TooLarge);
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Empty);  // the refused send changed nothing
}

TEST(Watch, AnEmptyValueIsAValue) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  ASSERT_EQ(send(w, ""), Status::Ok);
  Captured c;
  ASSERT_EQ(r.receive(c.sink()), Status::Ok);
  EXPECT_EQ(c.calls, 1u);
  EXPECT_TRUE(c.bytes.empty());
  EXPECT_EQ(r.seen(), 1u);
}

TEST(Watch, GracefulCloseDeliversTheLastUnseenValueThenEnds) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory), idle(ch.memory);
  ASSERT_EQ(send(w, "first"), Status::Ok);
  EXPECT_EQ(received(idle), "first");
  ASSERT_EQ(send(w, "last"), Status::Ok);
  ch.memory.set_state(state_bits::kSenderClosed);
  EXPECT_EQ(send(w, "late"), Status::Closed);
  EXPECT_TRUE(r.ready());
  EXPECT_EQ(received(r), "last");
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Closed);
  EXPECT_EQ(received(idle), "last");
  EXPECT_EQ(receive(idle, &out), Status::Closed);
}

TEST(Watch, ADeadSenderDisconnectsAfterItsLastValue) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  ASSERT_EQ(send(w, "last words"), Status::Ok);
  ch.memory.set_state(state_bits::kSenderGone);
  EXPECT_EQ(received(r), "last words");
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Disconnected);
}

TEST(Watch, CloseWithErrorIsImmediate) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  ASSERT_EQ(send(w, "unseen"), Status::Ok);
  ch.memory.set_state(state_bits::kSenderErrored);
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Errored);
  EXPECT_TRUE(r.ready());
}

TEST(Watch, ReceiversLeavingDoNotStopTheSender) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ch.memory.set_state(state_bits::kReceiverGone);  // never set by Watch receivers; harmless if it were
  EXPECT_EQ(send(w, "still"), Status::Ok);
}

TEST(Watch, ASleepingReaderIsRungBySend) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  r.data_bell().prepare_sleep();
  EXPECT_FALSE(r.ready());
  bool rang = false;
  ASSERT_EQ(w.try_send(reinterpret_cast<const uint8_t*>("x"), 1, &rang), Status::Ok);
  EXPECT_TRUE(rang);
  ASSERT_EQ(w.try_send(reinterpret_cast<const uint8_t*>("y"), 1, &rang), Status::Ok);
  EXPECT_FALSE(rang);  // nobody flagged a sleep since
}

TEST(Watch, ASinkThatRefusesGivesInvalidArgumentAndKeepsTheValueUnseen) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  ASSERT_EQ(send(w, "kept"), Status::Ok);
  EXPECT_EQ(r.receive([](uint32_t, uint8_t**) { return false; }), Status::InvalidArgument);
  EXPECT_EQ(received(r), "kept");
}

TEST(Watch, StatsCountSendsAndReceives) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader a(ch.memory), b(ch.memory);
  ASSERT_EQ(send(w, "12345"), Status::Ok);
  ASSERT_EQ(send(w, "123"), Status::Ok);
  received(a);
  received(b);
  const ChannelStats s = ch.memory.stats();
  EXPECT_EQ(s.sent, 2u);
  EXPECT_EQ(s.bytes_sent, 8u);
  EXPECT_EQ(s.received, 2u);
  EXPECT_EQ(s.bytes_received, 6u);
  EXPECT_EQ(ValueSlot(ch.memory).stats().pending, 0u);  // a Watch holds no queue
}

TEST(Mailbox, OverwritesCountAsDroppedAndATakeEmptiesTheSlot) {
  TestChannel ch(value_config(ChannelKind::Mailbox, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  const ValueSlot slot(ch.memory);
  ASSERT_EQ(send(w, "a"), Status::Ok);
  ASSERT_EQ(send(w, "b"), Status::Ok);
  ASSERT_EQ(send(w, "cc"), Status::Ok);
  EXPECT_EQ(slot.stats().dropped, 2u);
  EXPECT_EQ(slot.stats().pending, 1u);
  EXPECT_EQ(slot.stats().pending_bytes, 2u);
  EXPECT_EQ(received(r), "cc");
  EXPECT_EQ(slot.stats().pending, 0u);
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Empty);
  EXPECT_FALSE(r.ready());
  ASSERT_EQ(send(w, "d"), Status::Ok);  // replaces a taken message: not a drop
  EXPECT_EQ(received(r), "d");
  EXPECT_EQ(slot.stats().dropped, 2u);
  EXPECT_EQ(ch.memory.stats().sent, 4u);
  EXPECT_EQ(ch.memory.stats().received, 2u);
}

// The binding's sink fails when the receiving thread is being stopped (terminate()
// from another thread) between the take and the copy: the message is gone all the same.
TEST(Mailbox, ATakeWhoseSinkRefusesStillCountsTheMessageReceived) {
  TestChannel ch(value_config(ChannelKind::Mailbox, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  const ValueSlot slot(ch.memory);
  ASSERT_EQ(send(w, "lost"), Status::Ok);
  EXPECT_EQ(r.receive([](uint32_t, uint8_t**) { return false; }), Status::InvalidArgument);
  EXPECT_EQ(slot.stats().pending, 0u);
  EXPECT_EQ(ch.memory.stats().received, 1u);
  EXPECT_EQ(ch.memory.stats().bytes_received, 4u);
  ASSERT_EQ(send(w, "next"), Status::Ok);  // replaces a taken message: not a drop
  EXPECT_EQ(slot.stats().dropped, 0u);
  EXPECT_EQ(received(r), "next");
}

TEST(Mailbox, AFreshReceiverTakesAMessageSentBeforeIt) {
  TestChannel ch(value_config(ChannelKind::Mailbox, 64));
  ValueWriter w(ch.memory);
  ASSERT_EQ(send(w, "early"), Status::Ok);
  ValueReader r(ch.memory);
  EXPECT_TRUE(r.ready());
  EXPECT_EQ(received(r), "early");
}

TEST(Mailbox, AnEndedReceiverDisconnectsTheSender) {
  for (uint32_t bit : {state_bits::kReceiverClosed, state_bits::kReceiverGone}) {
    TestChannel ch(value_config(ChannelKind::Mailbox, 64));
    ValueWriter w(ch.memory);
    ASSERT_EQ(send(w, "x"), Status::Ok);
    ch.memory.set_state(bit);
    EXPECT_EQ(send(w, "y"), Status::Disconnected) << bit;
  }
}

TEST(Mailbox, AClosedReceiverReceivesClosed) {
  TestChannel ch(value_config(ChannelKind::Mailbox, 64));
  ValueWriter w(ch.memory);
  ValueReader r(ch.memory);
  ASSERT_EQ(send(w, "unread"), Status::Ok);
  ch.memory.set_state(state_bits::kReceiverClosed);
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Closed);
}

TEST(Mailbox, TheUnreadMessageOutlivesAGracefulOrDeadSender) {
  for (uint32_t bit : {state_bits::kSenderClosed, state_bits::kSenderGone}) {
    TestChannel ch(value_config(ChannelKind::Mailbox, 64));
    ValueWriter w(ch.memory);
    ValueReader r(ch.memory);
    ASSERT_EQ(send(w, "m"), Status::Ok);
    ch.memory.set_state(bit);
    EXPECT_EQ(received(r), "m");
    std::string out;
    EXPECT_EQ(receive(r, &out), bit == state_bits::kSenderClosed ? Status::Closed : Status::Disconnected);
  }
}

// The pin protocol, one step at a time: a reader that pinned the front keeps its
// buffer unwritten for as long as it holds the pin, however many sends follow.
TEST(ValueSlotPin, APinnedBufferIsNotWrittenUntilThePinIsReleased) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueSlot slot(ch.memory);
  ASSERT_EQ(send(w, "pinned"), Status::Ok);
  // A pinned read in progress, as pinned_read() does it.
  slot.pin().held.store(1);
  const uint64_t word = slot.control().latest.fetch_or(value_word::kPinned);
  const uint32_t pinned = value_word::index_of(word);
  const uint64_t seq = slot.buffer(pinned).seq.load();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(send(w, numbered("next ", i)), Status::Ok);
  EXPECT_EQ(slot.buffer(pinned).seq.load(), seq);
  EXPECT_EQ(slot.buffer(pinned).version.load(), value_word::version_of(word));
  ValueReader r(ch.memory);
  EXPECT_EQ(received(r), "next 9");  // the others carry on
  slot.pin().held.store(0);
  ASSERT_EQ(send(w, "a"), Status::Ok);
  ASSERT_EQ(send(w, "b"), Status::Ok);  // two sends: one of them reuses the released buffer
  EXPECT_NE(slot.buffer(pinned).seq.load(), seq);
}

TEST(ValueSlotPin, APinOnTheFrontIsHonouredByTheSendInProgress) {
  // The mark lands between choose() and the exchange in a real race; here, before a
  // send: the front it names is never the buffer a send writes, and the exchange
  // hands the mark to the writer.
  TestChannel ch(value_config(ChannelKind::Mailbox, 64));
  ValueWriter w(ch.memory);
  ValueSlot slot(ch.memory);
  ASSERT_EQ(send(w, "1"), Status::Ok);
  slot.pin().held.store(1);
  const uint32_t pinned = value_word::index_of(slot.control().latest.fetch_or(value_word::kPinned | value_word::kTaken));
  const uint64_t seq = slot.buffer(pinned).seq.load();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(send(w, "x"), Status::Ok);
  EXPECT_EQ(slot.buffer(pinned).seq.load(), seq);
  EXPECT_EQ(slot.stats().dropped, 4u);  // "1" was taken; four of the five x were overwritten unread
}

TEST(ValueSlotPin, AForcedPinnedReaderReadsLikeAnOptimisticOne) {
  TestChannel ch(value_config(ChannelKind::Watch, 64));
  ValueWriter w(ch.memory);
  ValueReader pinned(ch.memory, 0);
  ASSERT_EQ(send(w, "p"), Status::Ok);
  EXPECT_EQ(received(pinned), "p");
  std::string out;
  EXPECT_EQ(receive(pinned, &out), Status::Empty);
  EXPECT_EQ(ValueSlot(ch.memory).pin().held.load(), 0u);  // released
}

TEST(ValueSlotCorrupt, AnIndexOutOfRangeIsCorrupt) {
  for (ChannelKind kind : {ChannelKind::Watch, ChannelKind::Mailbox}) {
    TestChannel ch(value_config(kind, 64));
    ValueWriter w(ch.memory);
    ASSERT_EQ(send(w, "x"), Status::Ok);
    ValueSlot(ch.memory).control().latest.store(value_word::pack(7, 3));
    ValueReader r(ch.memory), pinned(ch.memory, 0);
    std::string out;
    EXPECT_EQ(receive(r, &out), Status::Corrupt);
    if (kind == ChannelKind::Watch) {
      EXPECT_EQ(receive(pinned, &out), Status::Corrupt);
    }
    ValueWriter again(ch.memory);  // a writer attaching to it still writes in bounds
    EXPECT_EQ(send(again, "y"), Status::Ok);
  }
}

TEST(ValueSlotCorrupt, AStableLengthOverTheCapacityIsCorrupt) {
  for (ChannelKind kind : {ChannelKind::Watch, ChannelKind::Mailbox}) {
    TestChannel ch(value_config(kind, 64));
    ValueWriter w(ch.memory);
    ASSERT_EQ(send(w, "x"), Status::Ok);
    ValueSlot slot(ch.memory);
    slot.buffer(value_word::index_of(slot.control().latest.load())).length.store(65);
    ValueReader r(ch.memory);
    Captured c;
    EXPECT_EQ(r.receive(c.sink()), Status::Corrupt);
    EXPECT_EQ(c.calls, 0u);  // nothing was copied
  }
}

TEST(ValueSlotCorrupt, APinnedReadThatFindsAnotherVersionIsCorrupt) {
  TestChannel ch(value_config(ChannelKind::Mailbox, 64));
  ValueWriter w(ch.memory);
  ASSERT_EQ(send(w, "x"), Status::Ok);
  ValueSlot slot(ch.memory);
  slot.buffer(value_word::index_of(slot.control().latest.load())).version.store(99);
  ValueReader r(ch.memory);
  std::string out;
  EXPECT_EQ(receive(r, &out), Status::Corrupt);
  EXPECT_EQ(slot.pin().held.load(), 0u);
}

// A writer caught between its odd and even seq: the state a reader meets when the
// writer publishes again and starts rewriting the buffer the reader just named (the
// version word not rewritten yet, the data half new). Frozen here, deterministically.
// The seqlock must refuse the buffer while its seq is odd: its re-check alone passes,
// as nothing moves during the copy.
TEST(ValueSlotSeqlock, AReadWhileTheSeqIsOddNeverReturnsTheValue) {
  for (ChannelKind kind : {ChannelKind::Watch, ChannelKind::Mailbox}) {
    TestChannel ch(value_config(kind, 64));
    ValueWriter w(ch.memory);
    ASSERT_EQ(send(w, "the old value, sixteen+"), Status::Ok);
    ValueSlot slot(ch.memory);
    const uint32_t front = value_word::index_of(slot.control().latest.load());
    ValueBufferHeader& h = slot.buffer(front);
    const uint64_t even = h.seq.load();
    ASSERT_EQ(even % 2, 0u);
    h.seq.store(even + 1);             // a write began
    std::memcpy(slot.data(front), "NEW WORD", 8);  // and got one word in
    ValueReader r(ch.memory);
    Captured c;
    EXPECT_NE(r.receive(c.sink()), Status::Ok) << c.text();
    EXPECT_NE(c.text(), "NEW WORDvalue, sixteen+") << "a torn value was returned";
    h.seq.store(even + 2);  // the writer is done with it; the reader goes on
    ASSERT_EQ(send(w, "next"), Status::Ok);
    EXPECT_EQ(received(r), "next");
  }
}

TEST(ValueSlotCorrupt, AStuckPinFailsAMailboxButNotAWatch) {
  for (ChannelKind kind : {ChannelKind::Watch, ChannelKind::Mailbox}) {
    TestChannel ch(value_config(kind, 64));
    ValueWriter w(ch.memory);
    ASSERT_EQ(send(w, "x"), Status::Ok);
    ValueSlot(ch.memory).pin().held.store(1);
    ValueReader r(ch.memory, 0);
    std::string out;
    // A Watch reader falls back to optimistic reads, which succeed while the writer rests.
    EXPECT_EQ(receive(r, &out), kind == ChannelKind::Watch ? Status::Ok : Status::Corrupt);
  }
}

// ---- Stress: one writer, several readers, values whose bytes encode their version.

// Value `v`: 8 bytes of v, then payload bytes of v; its length is a function of v.
struct Values {
  explicit Values(uint32_t capacity) : capacity(capacity) {}
  uint32_t size_of(uint64_t v) const { return 8 + static_cast<uint32_t>(test::mix(v) % (capacity - 7)); }
  std::vector<uint8_t> make(uint64_t v) const {
    std::vector<uint8_t> out(size_of(v));
    std::memcpy(out.data(), &v, 8);
    test::fill_payload(out.data() + 8, static_cast<uint32_t>(out.size() - 8), v);
    return out;
  }
  // The version in `bytes`, or 0 if they are not exactly a value.
  uint64_t check(const std::vector<uint8_t>& bytes) const {
    if (bytes.size() < 8) return 0;
    uint64_t v;
    std::memcpy(&v, bytes.data(), 8);
    if (v == 0 || bytes.size() != size_of(v)) return 0;
    return test::payload_matches(bytes.data() + 8, static_cast<uint32_t>(bytes.size() - 8), v) ? v : 0;
  }
  uint32_t capacity;
};

struct ReaderReport {
  uint64_t values = 0;
  uint64_t torn = 0;
  uint64_t backwards = 0;
  uint64_t last = 0;
  Status end = Status::Ok;
};

// Receives until the stream ends, checking each value; sleeps on the doorbell when
// nothing is new, as recv() does.
ReaderReport read_until_end(ValueReader& reader, const Values& values, bool watch) {
  ReaderReport report;
  test::Waiter wait{64};
  Captured c;
  for (;;) {
    const Status s = reader.receive(c.sink());
    if (s == Status::Ok) {
      wait.reset();
      const uint64_t v = values.check(c.bytes);
      if (v == 0) {
        ++report.torn;
      } else {
        if (v <= report.last) ++report.backwards;
        if (watch && v != reader.seen()) ++report.torn;
        report.last = v;
      }
      ++report.values;
      continue;
    }
    if (s != Status::Empty) {
      report.end = s;
      return report;
    }
    wait.wait(reader.data_bell(), [&] { return !reader.ready(); });
  }
}

TEST(ValueSlotStress, WatchReadersNeverSeeATornValueOrGoBack) {
  const uint64_t count = test::stress_count(200000, 20000);
  const Values values(4096);
  TestChannel ch(value_config(ChannelKind::Watch, values.capacity));
  // Readers with the default fallback, one that always pins first, and one that
  // calls read_latest() as well.
  constexpr int kReaders = 3;
  ReaderReport reports[kReaders];
  uint64_t latest_checked = 0, latest_torn = 0;
  std::vector<std::thread> readers;
  for (int k = 0; k < kReaders; ++k) {
    readers.emplace_back([&, k] {
      ValueReader reader(ch.memory, k == 1 ? 0 : ValueReader::kOptimisticAttempts);
      if (k != 2) {
        reports[k] = read_until_end(reader, values, true);
        return;
      }
      Captured c;
      ValueReader peeker(ch.memory);
      for (;;) {
        if (peeker.read_latest(c.sink()) == Status::Ok) {
          ++latest_checked;
          if (values.check(c.bytes) == 0) ++latest_torn;
        }
        const Status s = reader.receive(c.sink());
        if (s == Status::Ok) {
          const uint64_t v = values.check(c.bytes);
          if (v == 0 || v <= reports[k].last) ++reports[k].torn;
          reports[k].last = v;
          ++reports[k].values;
        } else if (s != Status::Empty) {
          reports[k].end = s;
          return;
        }
      }
    });
  }
  std::thread writer([&] {
    ValueWriter w(ch.memory);
    bool rang;
    for (uint64_t v = 1; v <= count; ++v) {
      const auto bytes = values.make(v);
      ASSERT_EQ(w.try_send(bytes.data(), static_cast<uint32_t>(bytes.size()), &rang), Status::Ok);
    }
    ch.memory.set_state(state_bits::kSenderClosed);
  });
  writer.join();
  for (auto& t : readers) t.join();
  for (int k = 0; k < kReaders; ++k) {
    SCOPED_TRACE(numbered("reader ", k));
    EXPECT_EQ(reports[k].torn, 0u);
    EXPECT_EQ(reports[k].backwards, 0u);
    EXPECT_EQ(reports[k].end, Status::Closed);
    EXPECT_EQ(reports[k].last, count);  // every reader ends on the final value
    EXPECT_GT(reports[k].values, 0u);
  }
  EXPECT_EQ(latest_torn, 0u);
  EXPECT_GT(latest_checked, 0u);
  std::printf("  watch: %llu values sent; readers saw %llu, %llu (always pinned), %llu; %llu latest() reads\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(reports[0].values),
              static_cast<unsigned long long>(reports[1].values), static_cast<unsigned long long>(reports[2].values),
              static_cast<unsigned long long>(latest_checked));
}

TEST(ValueSlotStress, MailboxTakesEachMessageAtMostOnceAndCountsTheRestAsDropped) {
  const uint64_t count = test::stress_count(200000, 20000);
  const Values values(2048);
  TestChannel ch(value_config(ChannelKind::Mailbox, values.capacity));
  ReaderReport report;
  std::thread reader_thread([&] {
    ValueReader reader(ch.memory);
    report = read_until_end(reader, values, false);
  });
  std::thread writer([&] {
    ValueWriter w(ch.memory);
    bool rang;
    for (uint64_t v = 1; v <= count; ++v) {
      const auto bytes = values.make(v);
      ASSERT_EQ(w.try_send(bytes.data(), static_cast<uint32_t>(bytes.size()), &rang), Status::Ok);
      if (v % 64 == 0) std::this_thread::yield();  // let the receiver take some
    }
    ch.memory.set_state(state_bits::kSenderClosed);
  });
  writer.join();
  reader_thread.join();
  EXPECT_EQ(report.torn, 0u);
  EXPECT_EQ(report.backwards, 0u);  // strictly increasing: none taken twice
  EXPECT_EQ(report.end, Status::Closed);
  EXPECT_EQ(report.last, count);  // the last message is never overwritten
  const uint64_t dropped = ValueSlot(ch.memory).stats().dropped;
  EXPECT_EQ(report.values + dropped, count);  // every message taken once or dropped once
  EXPECT_EQ(ch.memory.stats().received, report.values);
  std::printf("  mailbox: %llu sent, %llu taken, %llu dropped\n", static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(report.values), static_cast<unsigned long long>(dropped));
}

// A writer that never pauses, with values up to 64 KiB: optimistic reads lose often,
// and the pinned fallback must still let every read finish.
TEST(ValueSlotStress, ReadersKeepUpWithAWriterThatNeverPauses) {
  const uint64_t reads = test::stress_count(20000, 2000);
  const Values values(64 * 1024);
  TestChannel ch(value_config(ChannelKind::Watch, values.capacity));
  std::vector<std::vector<uint8_t>> contents;
  for (uint64_t v = 1; v <= 8; ++v) contents.push_back(values.make(v));
  std::atomic<bool> stop{false};
  uint64_t sent = 0;
  std::thread writer([&] {
    ValueWriter w(ch.memory);
    bool rang;
    while (!stop.load(std::memory_order_relaxed)) {
      const auto& bytes = contents[sent++ % contents.size()];
      ASSERT_EQ(w.try_send(bytes.data(), static_cast<uint32_t>(bytes.size()), &rang), Status::Ok);
    }
  });
  std::atomic<uint64_t> torn{0}, finished{0};
  std::vector<std::thread> readers;
  for (int k = 0; k < 2; ++k) {
    readers.emplace_back([&] {
      ValueReader reader(ch.memory);
      Captured c;
      for (uint64_t n = 0; n < reads;) {
        if (reader.read_latest(c.sink()) != Status::Ok) continue;  // before the first send
        if (values.check(c.bytes) == 0) ++torn;
        ++n;
        ++finished;
      }
    });
  }
  for (auto& t : readers) t.join();
  stop = true;
  writer.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(finished.load(), 2 * reads);
  std::printf("  %llu reads of values up to 64 KiB finished against %llu sends\n",
              static_cast<unsigned long long>(finished.load()), static_cast<unsigned long long>(sent));
}

}  // namespace
}  // namespace ringport
