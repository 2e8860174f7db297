// Drop-oldest channels: a full send drops the oldest unread messages (inline, slab,
// heap, across a wrap), the budget and the counters stay exact, the consumer never
// loses a message it took, and a two-thread stress with a slow consumer.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

// Message `seq`: its sequence number in the first 8 bytes, then bytes derived from it.
std::vector<uint8_t> numbered(uint64_t seq, uint32_t len) {
  std::vector<uint8_t> v(len < 8 ? 8 : len);
  std::memcpy(v.data(), &seq, 8);
  test::fill_payload(v.data() + 8, static_cast<uint32_t>(v.size() - 8), seq);
  return v;
}

// The sequence number of a received message, or ~0 if its content is not intact.
uint64_t seq_of(const Message& m) {
  uint64_t seq;
  if (m.length < 8) return ~0ull;
  std::memcpy(&seq, m.data, 8);
  return test::payload_matches(m.data + 8, m.length - 8, seq) ? seq : ~0ull;
}

// Small (test_channel.hpp's: capacity 4 KiB, ring 8 KiB, inline up to 1 KiB, four
// 4 KiB slabs, heap beyond), dropping oldest.
ChannelConfig drop_config() {
  ChannelConfig cfg = test::small_config();
  cfg.overflow = Overflow::DropOldest;
  return cfg;
}

class DropOldestTest : public testing::Test {
 protected:
  DropOldestTest() : ch_(drop_config()) {}

  Status send(uint64_t seq, uint32_t len) {
    const std::vector<uint8_t> data = numbered(seq, len);
    bool rang;
    return producer_.try_send(data.data(), len, &rang);
  }

  // Drains everything ready; returns the sequence numbers (slabs released).
  std::vector<uint64_t> receive(Status* end = nullptr) {
    std::vector<uint64_t> seqs;
    bool rang;
    Status s;
    while ((s = consumer_.drain(1000, [&](Message& m) {
              seqs.push_back(seq_of(m));
              if (m.owner == Message::Owner::Slab) consumer_.pool().release(m.lease);
            }, &rang)) == Status::Ok) {
      if (seqs.size() > test::kMostMessages) {
        ADD_FAILURE() << "drain never ran dry";
        break;
      }
    }
    if (end) *end = s;
    return seqs;
  }

  ChannelStats stats() const { return ch_.memory.stats(); }
  uint64_t head() { return ch_.header().consumer.head.load(); }
  uint64_t taken() { return ch_.header().consumer.taken.load(); }
  uint64_t tail() { return ch_.header().producer.tail.load(); }

  test::TestChannel ch_;
  QueueProducer producer_{ch_.memory, ch_.heap};
  QueueConsumer consumer_{ch_.memory, ch_.heap};
};

// A batch publishes once at its end, but what it must drop may be its own records:
// those before the full one are published first, so they can be dropped.
TEST_F(DropOldestTest, BatchLargerThanTheCapacityDropsItsOwnOldestRecords) {
  std::vector<std::vector<uint8_t>> batch;
  for (uint64_t i = 0; i < 20; ++i) batch.push_back(numbered(i, 600));  // 12000 bytes into 4096
  uint32_t sent = 0;
  bool rang;
  auto next = [&](uint32_t i, const uint8_t** data, uint32_t* len) {
    *data = batch[i].data();
    *len = 600;
  };
  ASSERT_EQ(producer_.try_send_batch(20, next, &sent, &rang), Status::Ok);
  EXPECT_EQ(sent, 20u);
  const std::vector<uint64_t> got = receive();
  ASSERT_FALSE(got.empty());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], 20 - got.size() + i) << "the newest, in order";
  const ChannelStats s = stats();
  EXPECT_EQ(s.sent, 20u);
  EXPECT_EQ(s.received + s.dropped, 20u);
  EXPECT_EQ(s.bytes_sent, s.bytes_received + s.dropped_bytes);
}

TEST_F(DropOldestTest, FullChannelDropsTheOldestInlineMessage) {
  for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(send(i, 1000), Status::Ok);  // 4000 of 4096 bytes
  EXPECT_EQ(producer_.poll_room(1000), Status::Ok) << "a send always finds room";
  ASSERT_EQ(send(4, 1000), Status::Ok);
  ChannelStats s = stats();
  EXPECT_EQ(s.sent, 5u);
  EXPECT_EQ(s.dropped, 1u);
  EXPECT_EQ(s.dropped_bytes, 1000u);
  EXPECT_EQ(receive(), (std::vector<uint64_t>{1, 2, 3, 4}));
  s = stats();
  EXPECT_EQ(s.sent, s.received + s.dropped);
  EXPECT_EQ(s.bytes_sent, s.bytes_received + s.dropped_bytes);
  EXPECT_EQ(head(), tail());
  EXPECT_EQ(taken(), tail());
}

TEST_F(DropOldestTest, DroppedSlabMessageReturnsItsSlab) {
  ASSERT_EQ(send(0, 2000), Status::Ok);  // slabs: over inline_max (1 KiB), within 4 KiB
  ASSERT_EQ(send(1, 2000), Status::Ok);
  EXPECT_EQ(stats().pool_in_use, 2);
  ASSERT_EQ(send(2, 2000), Status::Ok);  // 6000 > 4096: drops 0
  EXPECT_EQ(stats().dropped, 1u);
  EXPECT_EQ(stats().pool_in_use, 2) << "the dropped message's slab came back";
  EXPECT_EQ(receive(), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(stats().pool_in_use, 0);
}

TEST_F(DropOldestTest, DroppedHeapMessageRecyclesItsBlock) {
  ASSERT_EQ(send(0, 5000), Status::Ok);  // larger than every slab and than the capacity
  EXPECT_EQ(ch_.heap.size(), 1u);
  ASSERT_EQ(send(1, 2000), Status::Ok);  // a slab; the channel is over capacity: drops 0
  EXPECT_EQ(stats().dropped, 1u);
  EXPECT_EQ(stats().dropped_bytes, 5000u);
  EXPECT_EQ(ch_.heap.size(), 0u) << "the dropped block left the table";
  EXPECT_EQ(ch_.heap.spare_bytes(), 8192u) << "and was kept for reuse";
  ASSERT_EQ(send(2, 5000), Status::Ok);  // drops 1, reuses the block
  EXPECT_EQ(ch_.heap.spare_bytes(), 0u);
  EXPECT_EQ(receive(), (std::vector<uint64_t>{2}));
  EXPECT_EQ(stats().pool_in_use, 0);
}

TEST_F(DropOldestTest, DropAcrossAWrapWithPadding) {
  const uint64_t ring = ch_.layout.ring_bytes;  // 8 KiB
  uint64_t seq = 0;
  for (; tail() < ring - 128; ++seq) {  // 1008-byte records: 8064 bytes, 128 left before the end
    ASSERT_EQ(send(seq, 1000), Status::Ok);
    ASSERT_EQ(receive().size(), 1u);
  }
  ASSERT_EQ(tail(), ring - 128);
  const uint64_t first = seq;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(send(seq++, 1000), Status::Ok);  // the first after a padding record
  EXPECT_EQ(header_at(ch_.memory.ring(), ring - 128).load() >> 32, static_cast<uint32_t>(RecordType::Padding));
  ASSERT_EQ(send(seq++, 1000), Status::Ok);  // drops the padding and the message after it
  EXPECT_EQ(stats().dropped, 1u) << "padding is not a message";
  EXPECT_EQ(head(), ring + 1008) << "the dropped space went back to the ring";
  const std::vector<uint64_t> got = receive();
  EXPECT_EQ(got, (std::vector<uint64_t>{first + 1, first + 2, first + 3, first + 4}));
  EXPECT_EQ(head(), tail());
}

// Sends of mixed sizes through every path, draining now and then: every message is
// received or dropped exactly once, in order, and what is buffered never exceeds the
// capacity (or one message, when it alone is larger).
TEST_F(DropOldestTest, BudgetAndCountersStayExact) {
  std::vector<uint64_t> received;
  uint64_t sent_bytes = 0;
  for (uint64_t seq = 0; seq < 3000; ++seq) {
    const uint64_t h = test::mix(seq);
    const uint32_t len = h % 10 < 7 ? static_cast<uint32_t>(8 + h % 900) : h % 10 < 9 ? 1100 + h % 2900 : 4200 + h % 3000;
    ASSERT_EQ(send(seq, len), Status::Ok);
    sent_bytes += len;
    const ChannelStats s = stats();
    const uint64_t buffered = s.bytes_sent - s.bytes_received - s.dropped_bytes;
    EXPECT_TRUE(buffered <= ch_.layout.capacity || buffered == len) << "seq " << seq << ": " << buffered;
    if ((h >> 20) % 7 == 0) {
      const std::vector<uint64_t> got = receive();
      received.insert(received.end(), got.begin(), got.end());
    }
  }
  const std::vector<uint64_t> got = receive();
  received.insert(received.end(), got.begin(), got.end());
  for (std::size_t i = 1; i < received.size(); ++i) ASSERT_LT(received[i - 1], received[i]) << "at " << i;
  EXPECT_EQ(received.back(), 2999u) << "the last message is never dropped";
  const ChannelStats s = stats();
  EXPECT_EQ(s.sent, 3000u);
  EXPECT_EQ(s.received, received.size());
  EXPECT_EQ(s.sent, s.received + s.dropped);
  EXPECT_GT(s.dropped, 1000u);
  EXPECT_EQ(s.bytes_sent, sent_bytes);
  EXPECT_EQ(s.bytes_sent, s.bytes_received + s.dropped_bytes);
  EXPECT_EQ(s.pool_in_use, 0);
  EXPECT_EQ(ch_.heap.size(), 0u);
}

TEST_F(DropOldestTest, CommitOfAReservationDropsToo) {
  for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(send(i, 1000), Status::Ok);
  Lease lease;
  ASSERT_EQ(producer_.pool().acquire(0, &lease), Status::Ok);
  const std::vector<uint8_t> data = numbered(4, 3000);
  std::memcpy(producer_.pool().data(lease), data.data(), data.size());
  bool rang;
  ASSERT_EQ(producer_.try_commit(lease, 3000, &rang), Status::Ok);
  EXPECT_EQ(stats().dropped, 3u);
  EXPECT_EQ(receive(), (std::vector<uint64_t>{3, 4}));
}

TEST_F(DropOldestTest, ASecondProducerIsRefused) {
  uint32_t ticket;
  EXPECT_EQ(ch_.memory.claim_producer(&ticket), Status::RoleTaken);
  EXPECT_EQ(ch_.memory.producer_mode_approx(), producer_mode::kSingle);
}

TEST_F(DropOldestTest, SendAfterTheReceiverClosedIsDisconnected) {
  ch_.memory.set_state(state_bits::kReceiverClosed);
  EXPECT_EQ(send(0, 10), Status::Disconnected);
  EXPECT_EQ(producer_.poll_room(10), Status::Disconnected);
}

// --- The ring protocol itself: taken, head, and who releases what. ---

class DropOldestRingTest : public DropOldestTest {
 protected:
  RingProducer ring_producer_{ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer};
  RingConsumer ring_consumer_{ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer,
                              &ch_.header().producers, true};

  void push(uint64_t seq) {
    uint8_t* at = nullptr;
    ASSERT_EQ(ring_producer_.claim(RecordType::Inline, 16, &at), Status::Ok);
    std::memcpy(at, &seq, 8);
    std::memcpy(at + 8, &seq, 8);
    ring_producer_.publish();
  }
  static uint64_t seq_in(const RecordView& r) {
    uint64_t seq;
    std::memcpy(&seq, r.payload, 8);
    return seq;
  }
};

// The producer drops past the records the consumer took; the space of its drop comes
// back only after the consumer releases what it holds, and the consumer resumes after
// the drop.
TEST_F(DropOldestRingTest, ProducerDropsPastWhatTheConsumerHolds) {
  for (uint64_t i = 0; i < 3; ++i) push(i);
  RecordView a, b;
  ASSERT_EQ(ring_consumer_.take(&a), Status::Ok);
  EXPECT_EQ(taken(), 24u) << "one 24-byte record taken";
  ASSERT_EQ(ring_producer_.drop_oldest(&b), Status::Ok);
  EXPECT_EQ(seq_in(b), 1u);
  EXPECT_EQ(ring_producer_.release_dropped(), Status::Full) << "the consumer still holds record 0";
  EXPECT_EQ(seq_in(a), 0u) << "and its bytes are intact";
  EXPECT_TRUE(ring_consumer_.publish(false));
  EXPECT_EQ(head(), 24u);
  EXPECT_EQ(ring_producer_.release_dropped(), Status::Ok);
  EXPECT_EQ(head(), 48u);
  RecordView c;
  ASSERT_EQ(ring_consumer_.take(&c), Status::Ok);
  EXPECT_EQ(seq_in(c), 2u) << "record 1 was dropped";
  EXPECT_TRUE(ring_consumer_.publish(false));
  EXPECT_EQ(head(), 72u);
  EXPECT_EQ(ring_consumer_.take(&c), Status::Empty);
  EXPECT_EQ(ring_producer_.drop_oldest(&b), Status::Empty) << "nothing left to drop";
}

TEST_F(DropOldestRingTest, ARecordBeingTakenCannotBeDropped) {
  push(0);
  ch_.header().consumer.taken.store(1);  // pinned, as inside the consumer's take()
  RecordView r;
  EXPECT_EQ(ring_producer_.drop_oldest(&r), Status::Empty);
  ch_.header().consumer.taken.store(0);
  EXPECT_EQ(ring_producer_.drop_oldest(&r), Status::Ok);
}

TEST_F(DropOldestRingTest, PollLeavesTheRecordDroppable) {
  push(0);
  ASSERT_EQ(ring_consumer_.poll(), Status::Ok);
  EXPECT_EQ(taken(), 0u);
  RecordView r;
  ASSERT_EQ(ring_producer_.drop_oldest(&r), Status::Ok);
  ASSERT_EQ(ring_producer_.release_dropped(), Status::Ok);
  EXPECT_EQ(ring_consumer_.poll(), Status::Empty);
}

// A producer that took a record and was gone before releasing it (it cannot be in a
// Node thread, which ends only between native calls) does not block the consumer.
TEST_F(DropOldestRingTest, ConsumerReleasesPastTheDropOfAProducerThatIsGone) {
  for (uint64_t i = 0; i < 3; ++i) push(i);
  RecordView r;
  ASSERT_EQ(ring_producer_.drop_oldest(&r), Status::Ok);  // record 0, never released
  ASSERT_EQ(ring_consumer_.take(&r), Status::Ok);
  EXPECT_EQ(seq_in(r), 1u);
  EXPECT_TRUE(ch_.memory.release_producer(kFirstProducerTicket));
  EXPECT_TRUE(ring_consumer_.publish(false));
  EXPECT_EQ(head(), 48u);
}

// A live producer that dropped records and, after the stall bound, has still not
// released them (only overwritten positions can say so: a send releases within a few
// instructions): the consumer stops waiting, releases nothing, and its ring is Corrupt
// from then on. Found by attach_fuzzer as a receiver spinning forever.
TEST_F(DropOldestRingTest, ConsumerGivesUpOnAReleaseThatNeverComes) {
  RingConsumer consumer(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer,
                        &ch_.header().producers, true, /*stall_ns=*/10'000'000);
  for (uint64_t i = 0; i < 3; ++i) push(i);
  RecordView r;
  ASSERT_EQ(ring_producer_.drop_oldest(&r), Status::Ok);  // record 0, never released; the producer stays live
  ASSERT_EQ(consumer.take(&r), Status::Ok);
  EXPECT_EQ(seq_in(r), 1u);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(consumer.publish(false));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(10));
  EXPECT_EQ(head(), 0u) << "nothing released past the producer's drop";
  EXPECT_EQ(consumer.take(&r), Status::Corrupt);
  EXPECT_EQ(consumer.poll(), Status::Corrupt);
}

// The same through the channel's consumer (its bound is a second): the receive
// that finds the ring broken reports Corrupt.
TEST_F(DropOldestRingTest, ReceiverReportsCorruptWhenAReleaseNeverComes) {
  for (uint64_t i = 0; i < 3; ++i) ASSERT_EQ(send(i, 1000), Status::Ok);
  RingProducer dropper(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer);
  RecordView r;
  ASSERT_EQ(dropper.drop_oldest(&r), Status::Ok);  // message 0, never released
  Status end;
  EXPECT_EQ(receive(&end), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(end, Status::Corrupt);
}

TEST_F(DropOldestRingTest, CorruptTakenIsCorrupt) {
  push(0);
  ch_.header().consumer.taken.store(4096);  // past the tail
  RecordView r;
  EXPECT_EQ(ring_producer_.drop_oldest(&r), Status::Corrupt);
  EXPECT_EQ(ring_consumer_.take(&r), Status::Corrupt);
  ch_.header().consumer.taken.store(12);  // misaligned
  EXPECT_EQ(ring_producer_.drop_oldest(&r), Status::Corrupt);
  EXPECT_EQ(ring_consumer_.take(&r), Status::Corrupt);
}

// A send that must wait for the consumer to release what it took ends when the
// receiver is gone instead.
TEST_F(DropOldestRingTest, SendWaitingForTheConsumerEndsWhenTheReceiverIsGone) {
  for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(send(i, 1000), Status::Ok);
  RecordView r;
  for (int i = 0; i < 4; ++i) ASSERT_EQ(ring_consumer_.take(&r), Status::Ok);  // taken, never released
  std::thread receiver_dies([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ch_.memory.set_state(state_bits::kReceiverGone);
  });
  EXPECT_EQ(send(4, 1000), Status::Disconnected);
  receiver_dies.join();
}

// --- Two threads: a producer much faster than the consumer. ---

// The stress geometry of test_channel.hpp with a 16 KiB capacity, dropping the oldest.
ChannelConfig stress_config() {
  ChannelConfig cfg = test::stress_config();
  cfg.capacity = 16 * 1024;
  cfg.overflow = Overflow::DropOldest;
  return cfg;
}

uint32_t stress_size(uint64_t seq) {
  const uint64_t h = test::mix(seq), pick = h % 1000, r = h >> 32;
  if (pick < 900) return static_cast<uint32_t>(8 + r % 300);    // inline
  if (pick < 998) return static_cast<uint32_t>(513 + r % 6000);  // slab
  return static_cast<uint32_t>(40000 + r % 10000);              // over every class: heap
}

// Stress messages: the sequence number, then bytes of a fixed pattern from a
// seq-dependent offset, so that both sides work at memcpy/memcmp speed.
struct StressTraffic {
  static constexpr uint32_t kSlack = 4096;
  StressTraffic() : pattern(50000 + kSlack) { test::fill_payload(pattern.data(), static_cast<uint32_t>(pattern.size()), 7); }
  const uint8_t* tail_of(uint64_t seq) const { return pattern.data() + test::mix(~seq) % kSlack; }
  void write(uint64_t seq, std::vector<uint8_t>* out) const {
    const uint32_t len = stress_size(seq);
    out->resize(len);
    std::memcpy(out->data(), &seq, 8);
    std::memcpy(out->data() + 8, tail_of(seq), len - 8);
  }
  // The sequence number of an intact message, or ~0.
  uint64_t check(const Message& m) const {
    uint64_t seq;
    if (m.length < 8) return ~0ull;
    std::memcpy(&seq, m.data, 8);
    return m.length == stress_size(seq) && std::memcmp(m.data + 8, tail_of(seq), m.length - 8) == 0 ? seq : ~0ull;
  }
  std::vector<uint8_t> pattern;
};

// The consumer alternates between keeping up (taking records while the producer drops
// right behind them) and dawdling (the producer drops most of the stream).
TEST(DropOldestStress, SlowConsumerSeesAnIncreasingSubsequenceOfIntactMessages) {
  test::TestChannel ch(stress_config());
  const uint64_t count = test::stress_count(2'000'000, 300'000);
  const StressTraffic traffic;
  std::atomic<bool> producer_failed{false};
  std::thread producer_thread([&] {
    QueueProducer producer(ch.memory, ch.heap);
    std::vector<uint8_t> buffer;
    for (uint64_t seq = 0; seq < count; ++seq) {
      traffic.write(seq, &buffer);
      bool rang;
      const Status s = producer.try_send(buffer.data(), static_cast<uint32_t>(buffer.size()), &rang);
      if (s != Status::Ok) {
        ADD_FAILURE() << "try_send at " << seq << ": " << testing::PrintToString(s);
        producer_failed = true;
        break;
      }
    }
    ch.memory.set_state(state_bits::kSenderClosed);
  });

  uint64_t received = 0, bad = 0, out_of_order = 0, last = 0;
  Status end = Status::Ok;
  std::thread consumer_thread([&] {
    QueueConsumer consumer(ch.memory, ch.heap);
    test::Waiter wait{64};
    uint64_t drains = 0;
    end = test::consume_until_end(consumer, wait, [&](Message& m) {
      const uint64_t seq = traffic.check(m);
      if (seq == ~0ull) {
        if (bad++ == 0) ADD_FAILURE() << "torn or wrong-sized message after seq " << last;
      } else {
        if (received && seq <= last && out_of_order++ == 0) ADD_FAILURE() << "seq " << seq << " after " << last;
        last = seq;
      }
      if (m.owner == Message::Owner::Slab) consumer.pool().release(m.lease);
      ++received;
      if (++drains % 4096 < 2048) {  // dawdle for half of the time
        for (int i = 0; i < 64; ++i) cpu_relax();
      }
    });
  });
  producer_thread.join();
  consumer_thread.join();

  EXPECT_FALSE(producer_failed.load());
  EXPECT_EQ(end, Status::Closed);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(last, count - 1) << "the tail end of the stream arrives";
  const ChannelStats s = ch.memory.stats();
  EXPECT_EQ(s.sent, count);
  EXPECT_EQ(s.received, received);
  EXPECT_EQ(s.sent, s.received + s.dropped);
  EXPECT_EQ(s.bytes_sent, s.bytes_received + s.dropped_bytes);
  EXPECT_GT(s.dropped, 0u);
  EXPECT_GT(s.received, 0u);
  EXPECT_EQ(s.pool_in_use, 0) << "every slab came back exactly once";
  EXPECT_LE(s.pool_high_water, static_cast<int64_t>(s.pool_slabs));
  EXPECT_EQ(ch.heap.size(), 0u);
  std::printf("[ drop     ] %llu sent, %llu received, %llu dropped, %llu heap fallbacks\n",
              static_cast<unsigned long long>(s.sent), static_cast<unsigned long long>(s.received),
              static_cast<unsigned long long>(s.dropped), static_cast<unsigned long long>(s.pool_fallbacks));
}

}  // namespace
}  // namespace ringport
