// The queue channel on one thread: message paths, backpressure, the end states and
// the error area, statistics, and corrupt records.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

using test::make_payload;
using test::payload_matches;

// What a test keeps of a received message: inline bytes are copied, as the API
// requires; slab leases are kept to release later.
struct Received {
  Message::Owner owner;
  uint32_t length;
  bool matches;
  Lease lease;
};

class QueueTest : public testing::Test {
 protected:
  explicit QueueTest(const ChannelConfig& cfg = test::small_config()) : ch_(cfg) {}

  Status send(uint32_t len, uint64_t seq = 0) {
    const std::vector<uint8_t> data = make_payload(len + 1, seq);  // never a null pointer
    bool rang = true;
    const Status s = producer_.try_send(data.data(), len, &rang);
    EXPECT_FALSE(rang) << "no consumer sleeps in these tests";
    return s;
  }

  // Drains up to `max` messages; their payloads are checked against seq first_seq, +1...
  Status receive(std::vector<Received>* out, uint64_t first_seq = 0, std::size_t max = 1000) {
    bool rang = true;
    const Status s = consumer_.drain(max, [&](Message& m) {
      out->push_back({m.owner, m.length, payload_matches(m.data, m.length, first_seq + out->size()), m.lease});
    }, &rang);
    EXPECT_FALSE(rang) << "no producer sleeps in these tests";
    return s;
  }

  // Receives exactly one message and releases its slab.
  Received receive_one(uint64_t seq = 0) {
    std::vector<Received> got;
    EXPECT_EQ(receive(&got, seq, 1), Status::Ok);
    EXPECT_EQ(got.size(), 1u);
    if (got.empty()) return {};
    EXPECT_TRUE(got[0].matches) << "seq " << seq;
    if (got[0].owner == Message::Owner::Slab) {
      EXPECT_TRUE(consumer_.pool().release(got[0].lease));
    }
    return got[0];
  }

  ChannelStats stats() const { return ch_.memory.stats(); }

  test::TestChannel ch_;
  QueueProducer producer_{ch_.memory, ch_.heap};
  QueueConsumer consumer_{ch_.memory, ch_.heap};
};

TEST_F(QueueTest, EmptyChannelDrainsEmpty) {
  std::vector<Received> got;
  EXPECT_EQ(receive(&got), Status::Empty);
  EXPECT_TRUE(got.empty());
  EXPECT_FALSE(consumer_.ready());
}

TEST_F(QueueTest, SmallMessageTravelsInline) {
  ASSERT_EQ(ch_.layout.inline_max, 1024u);
  ASSERT_EQ(send(100, 3), Status::Ok);
  EXPECT_TRUE(consumer_.ready());
  const Received r = receive_one(3);
  EXPECT_EQ(r.owner, Message::Owner::Ring);
  EXPECT_EQ(r.length, 100u);
  ASSERT_EQ(send(1024, 4), Status::Ok) << "inline_max itself is inline";
  EXPECT_EQ(receive_one(4).owner, Message::Owner::Ring);
  EXPECT_EQ(stats().pool_high_water, 0);
}

TEST_F(QueueTest, ZeroLengthMessage) {
  ASSERT_EQ(send(0), Status::Ok);
  const Received r = receive_one();
  EXPECT_EQ(r.owner, Message::Owner::Ring);
  EXPECT_EQ(r.length, 0u);
  EXPECT_EQ(stats().sent, 1u);
}

// An empty JS Uint8Array may have no backing store: its data pointer is null.
TEST_F(QueueTest, ZeroLengthMessageWithANullPointer) {
  bool rang;
  ASSERT_EQ(producer_.try_send(nullptr, 0, &rang), Status::Ok);
  EXPECT_EQ(receive_one().length, 0u);
}

TEST_F(QueueTest, MediumMessageTravelsInASlab) {
  ASSERT_EQ(send(2000, 5), Status::Ok);
  EXPECT_EQ(stats().pool_in_use, 1);
  std::vector<Received> got;
  ASSERT_EQ(receive(&got, 5), Status::Ok);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].owner, Message::Owner::Slab);
  EXPECT_EQ(got[0].length, 2000u);
  EXPECT_TRUE(got[0].matches);
  EXPECT_EQ(stats().pool_in_use, 1) << "the receiver holds the slab until it releases it";
  EXPECT_TRUE(consumer_.pool().release(got[0].lease));
  EXPECT_FALSE(consumer_.pool().release(got[0].lease));
  EXPECT_EQ(stats().pool_in_use, 0);
  EXPECT_EQ(stats().pool_fallbacks, 0u);
}

TEST_F(QueueTest, MessageLargerThanTheLargestClassFallsBackToTheHeap) {
  ASSERT_EQ(ch_.layout.classes[ch_.layout.class_count - 1].slab_size, 4096u);
  ASSERT_EQ(send(4097, 6), Status::Ok);
  EXPECT_EQ(ch_.heap.size(), 1u);
  EXPECT_EQ(stats().pool_fallbacks, 1u);
  const Received r = receive_one(6);
  EXPECT_EQ(r.owner, Message::Owner::Heap);
  EXPECT_EQ(r.length, 4097u);
  EXPECT_EQ(ch_.heap.size(), 0u) << "the receiver owns the block now";
}

TEST_F(QueueTest, MessageTooLargeForMaxMessageSize) {
  ChannelConfig cfg = test::small_config();
  cfg.max_message_size = 2000;
  test::TestChannel ch(cfg);
  QueueProducer producer(ch.memory, ch.heap);
  const std::vector<uint8_t> data(2001);
  bool rang;
  EXPECT_EQ(producer.try_send(data.data(), 2000, &rang), Status::Ok);
  EXPECT_EQ(producer.try_send(data.data(), 2001, &rang), Status::TooLarge);
  EXPECT_EQ(ch.memory.stats().sent, 1u);
}

// A batch's runs of inline messages check the size as a single send does, also where
// the maximum is below the inline limit.
TEST_F(QueueTest, BatchStopsAtAMessageTooLargeForMaxMessageSize) {
  ChannelConfig cfg = test::small_config();
  cfg.max_message_size = 100;
  test::TestChannel ch(cfg);
  ASSERT_GT(ch.layout.inline_max, 101u);
  QueueProducer producer(ch.memory, ch.heap);
  const std::vector<uint8_t> data(101);
  const uint32_t lengths[] = {100, 50, 101, 10};
  uint32_t sent;
  bool rang;
  auto next = [&](uint32_t i, const uint8_t** d, uint32_t* len) {
    *d = data.data();
    *len = lengths[i];
  };
  EXPECT_EQ(producer.try_send_batch(4, next, &sent, &rang), Status::TooLarge);
  EXPECT_EQ(sent, 2u);
  EXPECT_EQ(ch.memory.stats().sent, 2u);
  EXPECT_EQ(ch.memory.stats().bytes_sent, 150u);
}

// A channel smaller than its inline limit: a batch takes an inline message larger
// than the capacity into an empty channel, as a single send does, and nothing after it.
TEST_F(QueueTest, BatchTakesAMessageLargerThanTheCapacityIntoAnEmptyChannel) {
  ChannelConfig cfg = test::small_config();
  cfg.capacity = 64;
  test::TestChannel ch(cfg);
  ASSERT_EQ(ch.layout.capacity, 64u);
  ASSERT_GT(ch.layout.inline_max, 200u);
  QueueProducer producer(ch.memory, ch.heap);
  QueueConsumer consumer(ch.memory, ch.heap);
  std::vector<std::vector<uint8_t>> payloads;
  const uint32_t lengths[] = {200, 10, 10, 10};
  for (uint64_t seq = 0; seq < 4; ++seq) payloads.push_back(make_payload(lengths[seq], seq));
  auto from = [&](uint32_t first) {
    return [&, first](uint32_t i, const uint8_t** d, uint32_t* len) {
      *d = payloads[first + i].data();
      *len = lengths[first + i];
    };
  };
  uint32_t sent;
  bool rang;
  EXPECT_EQ(producer.try_send_batch(4, from(0), &sent, &rang), Status::Full);
  EXPECT_EQ(sent, 1u) << "200 B alone, then the channel is over its capacity";
  EXPECT_EQ(producer.try_send_batch(3, from(1), &sent, &rang), Status::Full);
  std::vector<uint32_t> got;
  uint64_t seq = 0;
  const auto take = [&](Message& m) {
    EXPECT_EQ(m.owner, Message::Owner::Ring);
    EXPECT_TRUE(payload_matches(m.data, m.length, seq++));
    got.push_back(m.length);
  };
  ASSERT_EQ(consumer.drain(10, take, &rang), Status::Ok);
  EXPECT_EQ(producer.try_send_batch(3, from(1), &sent, &rang), Status::Ok);
  EXPECT_EQ(sent, 3u) << "30 B fit";
  ASSERT_EQ(consumer.drain(10, take, &rang), Status::Ok);
  EXPECT_EQ(got, (std::vector<uint32_t>{200, 10, 10, 10}));
}

TEST_F(QueueTest, BackpressureCountsPayloadBytes) {
  for (int i = 0; i < 4; ++i) ASSERT_EQ(send(1000, i), Status::Ok);
  EXPECT_EQ(send(97), Status::Full) << "4000 + 97 > 4096";
  EXPECT_EQ(producer_.poll_room(97), Status::Full);
  EXPECT_EQ(producer_.poll_room(96), Status::Ok);
  ASSERT_EQ(send(96, 4), Status::Ok) << "exactly the capacity";
  EXPECT_EQ(send(0), Status::Ok) << "an empty message costs no bytes";
  EXPECT_EQ(send(1), Status::Full);
  EXPECT_EQ(stats().pool_in_use, 0) << "a Full send takes no slab";
  receive_one(0);
  EXPECT_EQ(send(1001), Status::Full);
  EXPECT_EQ(send(1000, 6), Status::Ok);  // seq 5 is the empty message
  std::vector<Received> got;
  ASSERT_EQ(receive(&got, 1), Status::Ok);
  ASSERT_EQ(got.size(), 6u);
  for (const Received& r : got) EXPECT_TRUE(r.matches);
}

TEST_F(QueueTest, SendBatchStopsAtTheFirstThatDoesNotFitAndRingsOncePerBatch) {
  std::vector<std::vector<uint8_t>> payloads;
  for (uint64_t seq = 0; seq < 10; ++seq) payloads.push_back(make_payload(501, seq));
  const auto from = [&](uint32_t first) {
    return [&payloads, first](uint32_t i, const uint8_t** data, uint32_t* len) {
      *data = payloads[first + i].data();
      *len = 500;
    };
  };
  uint32_t sent = 99;
  bool rang = true;
  EXPECT_EQ(producer_.try_send_batch(0, from(0), &sent, &rang), Status::Ok);
  EXPECT_EQ(sent, 0u);
  EXPECT_FALSE(rang);
  consumer_.data_bell().prepare_sleep();  // the consumer sleeps: the batch must wake it
  EXPECT_EQ(producer_.try_send_batch(10, from(0), &sent, &rang), Status::Full) << "8 x 500 B fill 4096 B";
  EXPECT_EQ(sent, 8u);
  EXPECT_TRUE(rang);
  EXPECT_EQ(stats().sent, 8u);
  std::vector<Received> got;
  ASSERT_EQ(receive(&got, 0), Status::Ok);
  ASSERT_EQ(got.size(), 8u);
  for (const Received& r : got) EXPECT_TRUE(r.matches);
  EXPECT_EQ(producer_.try_send_batch(2, from(8), &sent, &rang), Status::Ok);
  EXPECT_EQ(sent, 2u);
  EXPECT_FALSE(rang) << "nobody sleeps any more";
  got.clear();
  ASSERT_EQ(receive(&got, 8), Status::Ok);
  ASSERT_EQ(got.size(), 2u);
  for (const Received& r : got) EXPECT_TRUE(r.matches);
}

TEST_F(QueueTest, MessageLargerThanTheCapacityIsAcceptedWhenEmpty) {
  ASSERT_EQ(send(1), Status::Ok);
  EXPECT_EQ(send(5000), Status::Full) << "not while anything is buffered";
  EXPECT_EQ(receive_one().length, 1u);
  ASSERT_EQ(send(5000, 1), Status::Ok);
  EXPECT_EQ(send(1), Status::Full) << "5000 buffered > capacity";
  EXPECT_EQ(receive_one(1).length, 5000u);
  EXPECT_EQ(send(1), Status::Ok);
}

TEST_F(QueueTest, PoolExhaustionSpillsIntoLargerClassesThenFallsBackToTheHeap) {
  ChannelConfig cfg;
  cfg.capacity = 64 * 1024;
  cfg.slab_size = 4096;
  cfg.pool_slabs = 4;
  cfg.inline_max = 1024;
  test::TestChannel ch(cfg);
  QueueProducer producer(ch.memory, ch.heap);
  QueueConsumer consumer(ch.memory, ch.heap);
  bool rang;
  // Classes of 4, 32 and 256 KiB, 4 slabs each: 12 slabs, then the heap.
  for (uint64_t i = 0; i < 14; ++i) {
    const std::vector<uint8_t> data = make_payload(2000, i);
    ASSERT_EQ(producer.try_send(data.data(), 2000, &rang), Status::Ok);
  }
  ChannelStats s = ch.memory.stats();
  EXPECT_EQ(s.pool_in_use, 12);
  EXPECT_EQ(s.pool_fallbacks, 2u);
  std::vector<Message::Owner> owners;
  std::vector<uint32_t> classes;
  uint64_t seq = 0;
  ASSERT_EQ(consumer.drain(100, [&](Message& m) {
    EXPECT_TRUE(payload_matches(m.data, m.length, seq++));
    owners.push_back(m.owner);
    if (m.owner == Message::Owner::Slab) {
      classes.push_back(m.lease.cls);
      consumer.pool().release(m.lease);
    }
  }, &rang), Status::Ok);
  std::vector<Message::Owner> expected(12, Message::Owner::Slab);
  expected.insert(expected.end(), 2, Message::Owner::Heap);
  EXPECT_EQ(owners, expected);
  EXPECT_EQ(classes, (std::vector<uint32_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2})) << "a full class spills into the next";
  EXPECT_EQ(ch.memory.stats().pool_in_use, 0);
  EXPECT_EQ(ch.heap.size(), 0u);
}

TEST_F(QueueTest, DrainStopsAtMax) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(send(8, i), Status::Ok);
  std::vector<Received> got;
  ASSERT_EQ(receive(&got, 0, 2), Status::Ok);
  EXPECT_EQ(got.size(), 2u);
  ASSERT_EQ(receive(&got, 0, 100), Status::Ok);
  EXPECT_EQ(got.size(), 5u);
  for (const Received& r : got) EXPECT_TRUE(r.matches);
}

TEST_F(QueueTest, DrainStopsAfterAMessageItsVisitorRefuses) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(send(8, i), Status::Ok);
  std::vector<uint64_t> seen;
  bool rang;
  const auto take_two = [&](Message& m) {
    EXPECT_TRUE(payload_matches(m.data, m.length, seen.size()));
    seen.push_back(seen.size());
    return seen.size() % 2 != 0;  // stop after every second message
  };
  ASSERT_EQ(consumer_.drain(100, take_two, &rang), Status::Ok);
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(ch_.memory.stats().received, 2u) << "the rest stays in the ring";
  ASSERT_EQ(consumer_.drain(100, take_two, &rang), Status::Ok);
  ASSERT_EQ(consumer_.drain(100, take_two, &rang), Status::Ok);
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(consumer_.drain(100, take_two, &rang), Status::Empty);
}

TEST_F(QueueTest, ManyMessagesThroughEveryPathAndManyWraps) {
  // Sizes cycle through inline, slab and heap; the consumer drains every few sends.
  const uint32_t sizes[] = {0, 1, 7, 8, 100, 1024, 1025, 2000, 4096, 4097, 5000, 300};
  uint64_t next = 0, received = 0;
  for (int round = 0; round < 3000; ++round) {
    for (int k = 0; k < 3; ++k) {
      const Status s = send(sizes[next % std::size(sizes)], next);
      if (s == Status::Full) break;
      ASSERT_EQ(s, Status::Ok);
      ++next;
    }
    std::vector<Received> got;
    ASSERT_EQ(receive(&got, received), Status::Ok);
    for (const Received& r : got) {
      ASSERT_TRUE(r.matches) << "seq " << received;
      ASSERT_EQ(r.length, sizes[received % std::size(sizes)]);
      if (r.owner == Message::Owner::Slab) consumer_.pool().release(r.lease);
      ++received;
    }
  }
  EXPECT_EQ(next, received);
  const ChannelStats s = stats();
  EXPECT_EQ(s.sent, received);
  EXPECT_EQ(s.received, received);
  EXPECT_EQ(s.bytes_sent, s.bytes_received);
  EXPECT_GT(ch_.header().producer.tail.load(), 50 * ch_.layout.ring_bytes);
  EXPECT_EQ(s.pool_in_use, 0);
  EXPECT_GT(s.pool_fallbacks, 0u);
}

TEST_F(QueueTest, StatsCountMessagesAndBytes) {
  ASSERT_EQ(send(10), Status::Ok);
  ASSERT_EQ(send(2000), Status::Ok);
  ChannelStats s = stats();
  EXPECT_EQ(s.sent, 2u);
  EXPECT_EQ(s.bytes_sent, 2010u);
  EXPECT_EQ(s.received, 0u);
  std::vector<Received> got;
  ASSERT_EQ(receive(&got), Status::Ok);
  s = stats();
  EXPECT_EQ(s.received, 2u);
  EXPECT_EQ(s.bytes_received, 2010u);
  consumer_.pool().release(got[1].lease);
}

// --- End states ---

TEST_F(QueueTest, CloseDrainsThenReportsClosed) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(send(500 * i, i), Status::Ok);  // 0, 500 and 1000 bytes
  ch_.memory.set_state(state_bits::kSenderClosed);
  EXPECT_EQ(send(1), Status::Closed) << "no send after close";
  EXPECT_EQ(producer_.poll_room(1), Status::Closed);
  EXPECT_TRUE(consumer_.ready());
  std::vector<Received> got;
  ASSERT_EQ(receive(&got, 0, 2), Status::Ok);
  ASSERT_EQ(receive(&got, 0, 2), Status::Ok);
  ASSERT_EQ(got.size(), 3u);
  for (const Received& r : got) EXPECT_TRUE(r.matches);
  EXPECT_EQ(receive(&got), Status::Closed);
  EXPECT_EQ(receive(&got), Status::Closed) << "and stays closed";
  EXPECT_TRUE(consumer_.ready());
}

TEST_F(QueueTest, SenderGoneDrainsThenReportsDisconnected) {
  ASSERT_EQ(send(5000, 0), Status::Ok);
  ch_.memory.set_state(state_bits::kSenderGone);
  EXPECT_EQ(send(1), Status::Closed);
  std::vector<Received> got;
  ASSERT_EQ(receive(&got), Status::Ok);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].matches);
  EXPECT_EQ(receive(&got), Status::Disconnected);
}

TEST_F(QueueTest, ErroredDropsDataAndReportsErrored) {
  ASSERT_EQ(send(10), Status::Ok);
  ASSERT_EQ(send(3000), Status::Ok);
  ch_.memory.write_error("TypeError", "boom: the producer failed", "ERR_BOOM");
  ch_.memory.set_state(state_bits::kSenderErrored);
  EXPECT_EQ(send(1), Status::Closed);
  EXPECT_TRUE(consumer_.ready());
  std::vector<Received> got;
  EXPECT_EQ(receive(&got), Status::Errored);
  EXPECT_TRUE(got.empty()) << "buffered data is dropped";
  std::string_view name, message, code;
  ASSERT_TRUE(ch_.memory.read_error(&name, &message, &code));
  EXPECT_EQ(name, "TypeError");
  EXPECT_EQ(message, "boom: the producer failed");
  EXPECT_EQ(code, "ERR_BOOM");
  EXPECT_EQ(stats().pool_in_use, 0) << "the errored drain returned the dropped message's slab";
}

TEST_F(QueueTest, ErrorTextIsTruncatedToTheArea) {
  constexpr std::size_t room = sizeof(ErrorArea::text);
  std::string_view name, message, code;
  const std::string n(1000, 'n'), c(500, 'c'), m(1000, 'm');
  ch_.memory.write_error(n, m, c);
  ASSERT_TRUE(ch_.memory.read_error(&name, &message, &code));
  EXPECT_EQ(name, n);
  EXPECT_EQ(code, c);
  EXPECT_EQ(message, m.substr(0, room - 1500)) << "the message gives way first";

  const std::string huge(room + 10, 'x');
  ch_.memory.write_error(huge, "msg", "code");
  ASSERT_TRUE(ch_.memory.read_error(&name, &message, &code));
  EXPECT_EQ(name.size(), room);
  EXPECT_TRUE(code.empty());
  EXPECT_TRUE(message.empty());

  ch_.memory.write_error({}, {}, {});  // an error with no name, message or code
  ASSERT_TRUE(ch_.memory.read_error(&name, &message, &code));
  EXPECT_TRUE(name.empty() && message.empty() && code.empty());
}

TEST_F(QueueTest, CorruptErrorLengthsAreRejected) {
  ch_.memory.write_error("Error", "m", "c");
  ErrorArea& e = ch_.header().error;
  std::string_view name, message, code;
  e.message_len = sizeof e.text;  // name + code + message now overruns the area
  EXPECT_FALSE(ch_.memory.read_error(&name, &message, &code));
  e.message_len = UINT32_MAX;
  e.name_len = UINT32_MAX;
  e.code_len = UINT32_MAX;
  EXPECT_FALSE(ch_.memory.read_error(&name, &message, &code));
}

TEST_F(QueueTest, ReceiverClosedDisconnectsTheProducer) {
  ASSERT_EQ(send(10), Status::Ok);
  ch_.memory.set_state(state_bits::kReceiverClosed);
  EXPECT_EQ(send(10), Status::Disconnected);
  EXPECT_EQ(producer_.poll_room(10), Status::Disconnected);
  std::vector<Received> got;
  EXPECT_EQ(receive(&got), Status::Closed) << "the closed receiver reads nothing more";
}

TEST_F(QueueTest, ReceiverGoneDisconnectsTheProducer) {
  ch_.memory.set_state(state_bits::kReceiverGone);
  EXPECT_EQ(send(10), Status::Disconnected);
}

TEST_F(QueueTest, DiscardAfterEndReturnsEverySlabAndHeapBlock) {
  ChannelConfig cfg;
  cfg.capacity = 64 * 1024;
  cfg.slab_size = 4096;
  cfg.pool_slabs = 2;
  cfg.inline_max = 1024;
  test::TestChannel ch(cfg);
  QueueProducer producer(ch.memory, ch.heap);
  QueueConsumer consumer(ch.memory, ch.heap);
  bool rang;
  for (uint64_t i = 0; i < 16; ++i) {
    const std::vector<uint8_t> data = make_payload(i % 2 ? 100 : 3000, i);  // inline, slab or heap
    ASSERT_EQ(producer.try_send(data.data(), static_cast<uint32_t>(data.size()), &rang), Status::Ok);
  }
  ASSERT_EQ(ch.memory.stats().pool_in_use, 6) << "three classes of two slabs";
  ASSERT_EQ(ch.heap.size(), 2u);
  ch.memory.set_state(state_bits::kReceiverGone);
  consumer.discard_after_end();
  EXPECT_EQ(ch.memory.stats().pool_in_use, 0);
  EXPECT_EQ(ch.heap.size(), 0u);
  const std::vector<uint8_t> late = make_payload(3000, 9);
  EXPECT_EQ(producer.try_send(late.data(), 3000, &rang), Status::Disconnected);
  EXPECT_EQ(ch.memory.stats().pool_in_use, 0) << "a refused send leaves nothing behind";
}

TEST_F(QueueTest, SenderCloseWinsOverReceiverEnd) {
  ch_.memory.set_state(state_bits::kReceiverClosed);
  ch_.memory.set_state(state_bits::kSenderClosed);
  EXPECT_EQ(send(10), Status::Closed);
}

// --- Corrupt records: the consumer reports Corrupt and never touches foreign memory. ---

class QueueCorruptionTest : public QueueTest {
 protected:
  // Publishes a raw record of `type` carrying `payload`, as a hostile producer could.
  template <class T>
  void forge(RecordType type, const T& payload) {
    RingProducer ring(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer);
    uint8_t* at = nullptr;
    ASSERT_EQ(ring.claim(type, sizeof payload, &at), Status::Ok);
    std::memcpy(at, &payload, sizeof payload);
    ring.publish();
  }
  Status drain_status() {
    std::vector<Received> got;
    const Status s = receive(&got);
    EXPECT_TRUE(got.empty());
    return s;
  }
};

TEST_F(QueueCorruptionTest, SlabRecordWithAForgedLease) {
  forge(RecordType::Slab, SlabRef{0, 1, 1, 100});  // slab 1 was never leased
  EXPECT_EQ(drain_status(), Status::Corrupt);
  EXPECT_EQ(drain_status(), Status::Corrupt) << "the record is not skipped";
}

TEST_F(QueueCorruptionTest, SlabRecordWithOutOfRangeFields) {
  Lease l{};
  ASSERT_EQ(consumer_.pool().acquire(0, &l), Status::Ok);
  forge(RecordType::Slab, SlabRef{l.cls, l.index, l.generation, 4097});  // longer than the slab
  EXPECT_EQ(drain_status(), Status::Corrupt);
}

TEST_F(QueueCorruptionTest, SlabRecordWithAnOutOfRangeClass) {
  forge(RecordType::Slab, SlabRef{9, 0, 1, 100});
  EXPECT_EQ(drain_status(), Status::Corrupt);
}

TEST_F(QueueCorruptionTest, SlabRecordOfTheWrongSize) {
  forge(RecordType::Slab, uint64_t{0});
  EXPECT_EQ(drain_status(), Status::Corrupt);
}

TEST_F(QueueCorruptionTest, HeapRecordWithAForgedId) {
  forge(RecordType::Heap, HeapRef{12345, 100, 0});
  EXPECT_EQ(drain_status(), Status::Corrupt);
}

TEST_F(QueueCorruptionTest, HeapRecordWithTheWrongLength) {
  ASSERT_EQ(send(5000), Status::Ok);
  RecordView r{};
  RingConsumer peeker(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer);
  ASSERT_EQ(peeker.peek(&r), Status::Ok);
  HeapRef ref;
  std::memcpy(&ref, r.payload, sizeof ref);
  ref.length = 4999;
  std::memcpy(const_cast<uint8_t*>(r.payload), &ref, sizeof ref);
  EXPECT_EQ(drain_status(), Status::Corrupt);
  EXPECT_EQ(ch_.heap.size(), 1u) << "the block stays filed";
}

TEST_F(QueueCorruptionTest, ReceivedCountAheadOfSentIsCorrupt) {
  for (int i = 0; i < 4; ++i) ASSERT_EQ(send(1000), Status::Ok);
  ch_.header().consumer.bytes.store(1u << 20);
  EXPECT_EQ(send(1000), Status::Corrupt);
}

}  // namespace
}  // namespace ringport

namespace ringport {
namespace {

TEST_F(QueueTest, ReservedSlabIsCommittedWithoutACopy) {
  SlabPool& pool = producer_.pool();
  Lease lease;
  ASSERT_EQ(pool.acquire(0, &lease), Status::Ok);
  const std::vector<uint8_t> payload = make_payload(3000, 9);
  std::memcpy(pool.data(lease), payload.data(), payload.size());
  bool rang;
  ASSERT_EQ(producer_.try_commit(lease, 3000, &rang), Status::Ok);
  std::vector<Received> got;
  ASSERT_EQ(receive(&got, 9, 1), Status::Ok);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].owner, Message::Owner::Slab);
  EXPECT_EQ(got[0].lease.index, lease.index) << "the reserved slab itself travels";
  EXPECT_TRUE(got[0].matches);
  EXPECT_EQ(stats().bytes_sent, 3000u);
}

TEST_F(QueueTest, CommitOfAStaleOrOversizedLeaseIsRefused) {
  SlabPool& pool = producer_.pool();
  Lease lease;
  ASSERT_EQ(pool.acquire(0, &lease), Status::Ok);
  bool rang;
  EXPECT_EQ(producer_.try_commit(lease, pool.slab_size(0) + 1, &rang), Status::InvalidArgument);
  ASSERT_TRUE(pool.release(lease));
  EXPECT_EQ(producer_.try_commit(lease, 10, &rang), Status::InvalidArgument) << "released: stale";
  std::vector<Received> got;
  EXPECT_EQ(receive(&got), Status::Empty);
}

TEST_F(QueueTest, CommitWaitsForRoomLikeASend) {
  ASSERT_EQ(send(4000, 1), Status::Ok);  // nearly the whole 4 KiB capacity
  SlabPool& pool = producer_.pool();
  Lease lease;
  ASSERT_EQ(pool.acquire(0, &lease), Status::Ok);
  bool rang;
  EXPECT_EQ(producer_.try_commit(lease, 2000, &rang), Status::Full);
  EXPECT_TRUE(pool.is_leased(lease)) << "a refused commit leaves the lease with the caller";
  receive_one(1);
  EXPECT_EQ(producer_.try_commit(lease, 2000, &rang), Status::Ok);
}

}  // namespace
}  // namespace ringport
