// Broadcast core: fan-out, lag, shared slabs and heap blocks, close, corruption, and
// a multi-threaded stress (one producer, concurrent receivers).
#include <atomic>
#include <thread>
#include <vector>

#include "broadcast.hpp"
#include "test_channel.hpp"

namespace ringport {
namespace {

using test::TestChannel;

// A broadcast of 16 KiB capacity: ring 32 KiB, inline payloads up to 1 KiB, slab
// classes of 4 KiB and 32 KiB, 4 slabs each; larger messages take the shared heap
// fallback. The ring keeps 16 KiB of messages: 157 of 104 bytes.
ChannelConfig broadcast_config() {
  ChannelConfig cfg;
  cfg.capacity = 1 << 14;
  cfg.slab_size = 4096;
  cfg.inline_max = 1024;
  cfg.kind = static_cast<uint32_t>(ChannelKind::Broadcast);
  return cfg;
}
constexpr uint64_t kHeld104 = (1 << 14) / 104;  // messages of 104 bytes the ring keeps

// Messages carry their index in their first 8 bytes, then test payload bytes.
std::vector<uint8_t> numbered(uint64_t index, uint32_t len) {
  std::vector<uint8_t> v = test::make_payload(len, index);
  if (len >= 8) std::memcpy(v.data(), &index, 8);
  return v;
}
uint64_t index_of(const Message& m) {
  uint64_t index;
  std::memcpy(&index, m.data, 8);
  return index;
}
bool intact(const Message& m) {
  const uint64_t index = index_of(m);
  for (uint32_t i = 8; i < m.length; ++i) {
    if (m.data[i] != test::payload_byte(index, i)) return false;
  }
  return true;
}

Status send(BroadcastProducer& p, uint64_t index, uint32_t len) {
  const std::vector<uint8_t> v = numbered(index, len);
  bool rang;
  return p.try_send(v.data(), len, &rang);
}

// Drains everything ready; returns the indexes received (returning shared memory at once).
struct Received {
  std::vector<uint64_t> indexes;
  Status last = Status::Ok;
};
Received drain_all(BroadcastConsumer& c, HeapTable&) {
  Received r;
  bool rang;
  for (;;) {
    r.last = c.drain(
        64,
        [&](Message& m) {
          EXPECT_TRUE(intact(m));
          r.indexes.push_back(index_of(m));
          if (m.owner == Message::Owner::SharedSlab) c.slabs().unref(m.lease);
        },
        &rang);
    if (r.last != Status::Ok) return r;
    if (r.indexes.size() > test::kMostMessages) {
      ADD_FAILURE() << "drain never ran dry";
      return r;
    }
  }
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

TEST(Broadcast, EveryReceiverGetsEveryMessageInOrder) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer a(ch.memory, ch.heap), b(ch.memory, ch.heap), c(ch.memory, ch.heap);
  for (uint64_t i = 0; i < 6; ++i) ASSERT_EQ(send(p, i, i % 2 ? 3000 : 40), Status::Ok);  // slab and inline
  for (BroadcastConsumer* r : {&a, &b, &c}) {
    const Received got = drain_all(*r, ch.heap);
    EXPECT_EQ(got.last, Status::Empty);
    EXPECT_EQ(got.indexes, range(0, 6));
    EXPECT_EQ(r->received(), 6u);
  }
  EXPECT_EQ(ch.memory.stats().received, 18u);
}

TEST(Broadcast, ADrainStopsAfterAMessageItsVisitorRefuses) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer r(ch.memory, ch.heap);
  for (uint64_t i = 0; i < 5; ++i) ASSERT_EQ(send(p, i, i % 2 ? 3000 : 40), Status::Ok);
  std::vector<uint64_t> got;
  bool rang;
  const auto take_one = [&](Message& m) {
    EXPECT_TRUE(intact(m));
    got.push_back(index_of(m));
    if (m.owner == Message::Owner::SharedSlab) r.slabs().unref(m.lease);
    return false;
  };
  ASSERT_EQ(r.drain(64, take_one, &rang), Status::Ok);
  EXPECT_EQ(got, range(0, 1));
  EXPECT_EQ(r.received(), 1u);
  EXPECT_EQ(drain_all(r, ch.heap).indexes, range(1, 5));
  EXPECT_EQ(r.received(), 5u);
}

TEST(Broadcast, AReceiverSeesOnlyMessagesSentAfterItAttached) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  ASSERT_EQ(send(p, 0, 16), Status::Ok);
  ASSERT_EQ(send(p, 1, 16), Status::Ok);
  BroadcastConsumer late(ch.memory, ch.heap);
  ASSERT_EQ(send(p, 2, 16), Status::Ok);
  EXPECT_EQ(drain_all(late, ch.heap).indexes, range(2, 3));
}

TEST(Broadcast, ALaggingReceiverReportsExactlyWhatItMissedThenContinuesFromTheOldest) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer r(ch.memory, ch.heap);
  ASSERT_EQ(send(p, 0, 100), Status::Ok);
  ASSERT_EQ(drain_all(r, ch.heap).indexes, range(0, 1));
  for (uint64_t i = 1; i <= 500; ++i) ASSERT_EQ(send(p, i, 104), Status::Ok);
  bool rang;
  ASSERT_EQ(r.drain(64, [](Message&) { FAIL(); }, &rang), Status::Lagged);
  const uint64_t missed = r.missed();
  EXPECT_EQ(missed, 500u - kHeld104) << "the ring keeps `capacity` bytes of messages";
  const Received rest = drain_all(r, ch.heap);
  EXPECT_EQ(rest.last, Status::Empty);
  EXPECT_EQ(rest.indexes, range(1 + missed, 501)) << "continues right after what it missed, up to the newest";
  EXPECT_EQ(r.lag_events(), 1u);
  EXPECT_EQ(ch.header().consumer.lagged.load(), 1u);
}

TEST(Broadcast, ALagFoundAfterSomeDeliveriesIsReportedByTheNextDrain) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer r(ch.memory, ch.heap);
  for (uint64_t i = 0; i < 300; ++i) ASSERT_EQ(send(p, i, 104), Status::Ok);
  bool rang;
  // The receiver attached at 0, but the first records are gone: it lags at once.
  ASSERT_EQ(r.drain(64, [](Message&) {}, &rang), Status::Lagged);
  const uint64_t first = r.missed();
  EXPECT_EQ(first, 300u - kHeld104);
  std::vector<uint64_t> got;
  ASSERT_EQ(r.drain(10, [&](Message& m) { got.push_back(index_of(m)); }, &rang), Status::Ok);
  EXPECT_EQ(got, range(first, first + 10));
  for (uint64_t i = 300; i < 400; ++i) ASSERT_EQ(send(p, i, 104), Status::Ok);  // laps the receiver again
  got.clear();
  // Messages still held behind the cursor are delivered first; the lag is found when
  // the cursor reaches evicted records: then Ok now, and Lagged on the next drain.
  Status s = r.drain(64, [&](Message& m) { got.push_back(index_of(m)); }, &rang);
  if (s == Status::Ok) s = r.drain(64, [&](Message& m) { got.push_back(index_of(m)); }, &rang);
  ASSERT_EQ(s, Status::Lagged);
  const Received rest = drain_all(r, ch.heap);
  ASSERT_FALSE(rest.indexes.empty());
  EXPECT_EQ(first + 10 + got.size() + r.missed(), rest.indexes.front()) << "missed counts exactly the gap";
  EXPECT_EQ(rest.indexes, range(rest.indexes.front(), 400));
}

TEST(Broadcast, ASlabIsSharedByReceiversAndFreedByTheLastReference) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer a(ch.memory, ch.heap), b(ch.memory, ch.heap);
  ASSERT_EQ(send(p, 7, 3000), Status::Ok);
  bool rang;
  Message ma, mb;
  ASSERT_EQ(a.drain(1, [&](Message& m) { ma = std::move(m); }, &rang), Status::Ok);
  ASSERT_EQ(b.drain(1, [&](Message& m) { mb = std::move(m); }, &rang), Status::Ok);
  ASSERT_EQ(ma.owner, Message::Owner::SharedSlab);
  EXPECT_EQ(ma.data, mb.data) << "zero-copy: both receivers see the same slab";
  EXPECT_EQ(ch.memory.stats().pool_in_use, 1);
  // Evict the record: the ring's reference goes, the receivers' stay.
  for (uint64_t i = 0; i < 200; ++i) ASSERT_EQ(send(p, i, 104), Status::Ok);
  EXPECT_EQ(ch.memory.stats().pool_in_use, 1);
  EXPECT_TRUE(intact(ma));
  a.slabs().unref(ma.lease);
  EXPECT_EQ(ch.memory.stats().pool_in_use, 1);
  b.slabs().unref(mb.lease);
  EXPECT_EQ(ch.memory.stats().pool_in_use, 0);
  b.slabs().unref(mb.lease);  // a second release is a no-op
  EXPECT_EQ(ch.memory.stats().pool_in_use, 0);
}

TEST(Broadcast, WhenThePoolRunsOutTheRingKeepsFewerLargeMessagesRatherThanFallBack) {
  ChannelConfig cfg = broadcast_config();
  cfg.pool_slabs = 2;  // 4 KiB and 32 KiB classes of 2 slabs: 4 slabs, while the byte
                       // budget would keep 5 messages of 3000 bytes (16 KiB / 3000 B)
  TestChannel ch(cfg);
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer r(ch.memory, ch.heap);
  for (uint64_t i = 0; i < 100; ++i) {
    ASSERT_EQ(send(p, i, 3000), Status::Ok);
    EXPECT_LE(ch.memory.stats().pool_in_use, 4);
  }
  EXPECT_EQ(ch.memory.stats().pool_fallbacks, 0u);
  bool rang;
  ASSERT_EQ(r.drain(64, [](Message&) {}, &rang), Status::Lagged);
  EXPECT_EQ(r.missed(), 96u);
  EXPECT_EQ(drain_all(r, ch.heap).indexes, range(96, 100));
}

TEST(Broadcast, WhenReceiversHoldEverySlabLargeMessagesShareAHeapBlock) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer r(ch.memory, ch.heap);
  std::vector<Message> held;
  bool rang;
  for (uint64_t i = 0; i < 14; ++i) {
    ASSERT_EQ(send(p, i, 3000), Status::Ok);
    ASSERT_EQ(r.drain(1, [&](Message& m) { held.push_back(std::move(m)); }, &rang), Status::Ok);
  }
  ASSERT_EQ(held[11].owner, Message::Owner::SharedSlab);
  ASSERT_EQ(held[12].owner, Message::Owner::SharedHeap) << "8 + 4 slabs (both classes), all held";
  EXPECT_EQ(ch.memory.stats().pool_in_use, 12) << "the receiver holds every slab";
  EXPECT_EQ(ch.memory.stats().pool_fallbacks, 2u);
  for (const Message& m : held) EXPECT_TRUE(intact(m));
  // 40 KB: larger than every class.
  ASSERT_EQ(send(p, 99, 40000), Status::Ok);
  ASSERT_EQ(r.drain(1, [&](Message& m) { held.push_back(std::move(m)); }, &rang), Status::Ok);
  EXPECT_EQ(held.back().owner, Message::Owner::SharedHeap);
  EXPECT_TRUE(intact(held.back()));
  for (uint64_t i = 0; i < 200; ++i) ASSERT_EQ(send(p, i, 104), Status::Ok);  // evicts all
  EXPECT_EQ(ch.heap.size(), 0u) << "the table let go; the receiver's references keep the blocks";
  EXPECT_TRUE(intact(held.back()));
  for (Message& m : held) {
    if (m.owner == Message::Owner::SharedSlab) r.slabs().unref(m.lease);
  }
  EXPECT_EQ(ch.memory.stats().pool_in_use, 0);
}

TEST(Broadcast, CloseDrainsThenEnds_ErrorEndsAtOnce_GoneDisconnects) {
  for (const uint32_t bits : {state_bits::kSenderClosed, state_bits::kSenderErrored, state_bits::kSenderGone}) {
    TestChannel ch(broadcast_config());
    BroadcastProducer p(ch.memory, ch.heap);
    BroadcastConsumer r(ch.memory, ch.heap);
    ASSERT_EQ(send(p, 0, 50), Status::Ok);
    ch.memory.set_state(bits);
    bool rang;
    EXPECT_EQ(send(p, 1, 50), Status::Closed);
    const Received got = drain_all(r, ch.heap);
    if (bits == state_bits::kSenderErrored) {
      EXPECT_EQ(got.last, Status::Errored);
      EXPECT_TRUE(got.indexes.empty());
    } else {
      EXPECT_EQ(got.indexes, range(0, 1));
      EXPECT_EQ(got.last, bits == state_bits::kSenderClosed ? Status::Closed : Status::Disconnected);
    }
    EXPECT_EQ(r.drain(1, [](Message&) {}, &rang), got.last) << "an end is final";
  }
}

TEST(Broadcast, ClosingOneReceiverLeavesTheOthersAndTheProducerAlone) {
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer a(ch.memory, ch.heap), b(ch.memory, ch.heap);
  a.close();
  ASSERT_EQ(send(p, 0, 50), Status::Ok);
  bool rang;
  EXPECT_EQ(a.drain(1, [](Message&) {}, &rang), Status::Closed);
  EXPECT_EQ(drain_all(b, ch.heap).indexes, range(0, 1));
}

TEST(Broadcast, ScribbledRecordsAreCorruptNotACrash) {
  struct Case {
    const char* name;
    uint64_t word;
  };
  const Case cases[] = {{"length past the ring", header_word(1 << 20, static_cast<uint32_t>(RecordType::Inline))},
                        {"unknown type", header_word(8, 0x7f)},
                        {"padding of the wrong length", header_word(24, static_cast<uint32_t>(RecordType::Padding))},
                        {"a slab record of the wrong size", header_word(40, static_cast<uint32_t>(RecordType::Slab))},
                        {"inline over inline_max", header_word(2000, static_cast<uint32_t>(RecordType::Inline))}};
  for (const Case& c : cases) {
    TestChannel ch(broadcast_config());
    BroadcastProducer p(ch.memory, ch.heap);
    BroadcastConsumer r(ch.memory, ch.heap);
    ASSERT_EQ(send(p, 0, 3000), Status::Ok);
    header_at(ch.memory.ring(), 0).store(c.word);
    bool rang;
    EXPECT_EQ(r.drain(1, [](Message&) {}, &rang), Status::Corrupt) << c.name;
  }
  TestChannel ch(broadcast_config());
  BroadcastProducer p(ch.memory, ch.heap);
  BroadcastConsumer r(ch.memory, ch.heap);
  ASSERT_EQ(send(p, 0, 3000), Status::Ok);
  SlabRef forged{0, 3, 77, 100};  // a slab never leased under that generation
  store_words(ch.memory.ring(), kBroadcastHeaderBytes, reinterpret_cast<const uint8_t*>(&forged), sizeof forged);
  bool rang;
  EXPECT_EQ(r.drain(1, [](Message&) {}, &rang), Status::Corrupt) << "a forged slab reference";
  ch.header().producer.tail.store(3);
  EXPECT_EQ(r.drain(1, [](Message&) {}, &rang), Status::Corrupt) << "a misaligned tail";
}

// One producer thread, three receiver threads, mixed sizes (inline, slab, heap);
// receivers hold some buffers for a while, and one is slow so that it lags. Every
// message a receiver gets is intact and in order; received + missed == sent.
TEST(BroadcastStress, ReceiversSeeIntactOrderedMessagesAndCountWhatTheyMissed) {
  ChannelConfig cfg = broadcast_config();
  cfg.capacity = 1 << 16;
  cfg.slab_size = 4096;
  TestChannel ch(cfg);
  const uint64_t total = test::stress_count(300'000, 30'000);
  BroadcastProducer p(ch.memory, ch.heap);
  constexpr int kReceivers = 3;
  std::vector<std::unique_ptr<BroadcastConsumer>> consumers;
  for (int i = 0; i < kReceivers; ++i) consumers.push_back(std::make_unique<BroadcastConsumer>(ch.memory, ch.heap));
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  std::vector<uint64_t> received(kReceivers), missed(kReceivers);
  for (int i = 0; i < kReceivers; ++i) {
    threads.emplace_back([&, i] {
      BroadcastConsumer& c = *consumers[i];
      std::vector<Message> held;
      int64_t last = -1;
      bool rang;
      for (uint64_t n = 0;; ++n) {
        const Status s = c.drain(
            16,
            [&](Message& m) {
              const int64_t index = static_cast<int64_t>(index_of(m));
              if (index <= last || !intact(m) || m.length != 8 + index % 7 * (index % 97 == 0 ? 3000 : 300)) {
                ADD_FAILURE() << "receiver " << i << ": message " << index << " after " << last << ", " << m.length << " bytes";
                failed = true;
              }
              last = index;
              if (index % 5 == 0) held.push_back(std::move(m));
              else if (m.owner == Message::Owner::SharedSlab) c.slabs().unref(m.lease);
            },
            &rang);
        if (held.size() > 8) {
          for (Message& m : held) {
            if (m.owner == Message::Owner::SharedSlab) c.slabs().unref(m.lease);
          }
          held.clear();
        }
        if (s == Status::Closed) break;
        if (s != Status::Ok && s != Status::Empty && s != Status::Lagged) {
          ADD_FAILURE() << "receiver " << i << " ended with " << testing::PrintToString(s) << " after " << last;
          failed = true;
          break;
        }
        if (i == 2 && n % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));  // the slow one
      }
      for (Message& m : held) {
        if (m.owner == Message::Owner::SharedSlab) c.slabs().unref(m.lease);
      }
      received[i] = c.received();
      missed[i] = c.missed_total();
    });
  }
  for (uint64_t i = 0; i < total; ++i) {
    const uint32_t len = static_cast<uint32_t>(8 + i % 7 * (i % 97 == 0 ? 3000 : 300));
    ASSERT_EQ(send(p, i, len), Status::Ok);
  }
  ch.memory.set_state(state_bits::kSenderClosed);
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(failed);
  for (int i = 0; i < kReceivers; ++i) EXPECT_EQ(received[i] + missed[i], total) << "receiver " << i;
  EXPECT_GT(missed[2], 0u) << "the slow receiver lagged";
  // Only the ring's own references remain: at most one per slab record still held.
  EXPECT_LE(ch.memory.stats().pool_in_use, static_cast<int64_t>(ch.layout.slab_count()));
}

}  // namespace
}  // namespace ringport
