// Threads streaming millions of messages: a producer and a consumer through every
// path of the queue, the raw ring with one producer and with two claiming producers,
// and two threads hammering one slab pool.
// Counts shrink under sanitizers (test_channel.hpp); RINGPORT_STRESS_SCALE grows them.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

constexpr uint32_t kLargestSlab = 256 * 1024;  // test::stress_config()'s largest class

// Message `seq` is `size_of(seq)` bytes of `pattern` starting at a seq-dependent
// offset: the producer sends straight from the pattern and the consumer compares
// against it, so order, length and content are all checked at memcmp speed.
struct Traffic {
  static uint32_t size_of(uint64_t seq) {
    const uint64_t h = test::mix(seq);
    const uint64_t pick = h % 10000, r = h >> 32;
    if (pick < 9500) return static_cast<uint32_t>(r % 200);                    // inline
    if (pick < 9999) return static_cast<uint32_t>(513 + r % 8000);             // slab, class 0 or 1
    return static_cast<uint32_t>(kLargestSlab + 1 + r % (64 * 1024));         // heap: over every class
  }
  static uint32_t offset_of(uint64_t seq) { return static_cast<uint32_t>(test::mix(~seq) % kPatternSlack); }

  Traffic() : pattern(kLargestSlab + 64 * 1024 + kPatternSlack) { test::fill_payload(pattern.data(), static_cast<uint32_t>(pattern.size()), 99); }
  const uint8_t* data_of(uint64_t seq) const { return pattern.data() + offset_of(seq); }

  static constexpr uint32_t kPatternSlack = 64 * 1024;
  std::vector<uint8_t> pattern;
};

// `batch` > 1: the producer sends with try_send_batch(), 1 to `batch` messages a call,
// and the consumer drains up to `batch` a call.
void run_queue_stress(uint64_t count, uint32_t spins, uint32_t batch = 1) {
  test::TestChannel ch(test::stress_config());
  ASSERT_EQ(ch.layout.inline_max, 512u);
  ASSERT_EQ(ch.layout.classes[ch.layout.class_count - 1].slab_size, kLargestSlab);
  const Traffic traffic;
  test::Waiter producer_wait{spins}, consumer_wait{spins};
  uint64_t oversize = 0;

  std::thread producer_thread([&] {
    QueueProducer producer(ch.memory, ch.heap);
    test::Patience patience("room for the next message");
    for (uint64_t seq = 0; seq < count;) {
      const uint32_t len = Traffic::size_of(seq);
      bool rang;
      Status s;
      uint32_t sent = 0;
      if (batch == 1) {
        s = producer.try_send(traffic.data_of(seq), len, &rang);
        sent = s == Status::Ok;
      } else {
        const uint64_t want = std::min<uint64_t>(1 + test::mix(seq) % batch, count - seq);
        auto next = [&](uint32_t i, const uint8_t** data, uint32_t* n) {
          *data = traffic.data_of(seq + i);
          *n = Traffic::size_of(seq + i);
        };
        s = producer.try_send_batch(static_cast<uint32_t>(want), next, &sent, &rang);
      }
      for (uint32_t i = 0; i < sent; ++i) oversize += Traffic::size_of(seq + i) > kLargestSlab;
      seq += sent;
      if (sent) producer_wait.reset();
      if (s == Status::Ok) continue;
      if (s != Status::Full || !patience.ok()) {
        if (s != Status::Full) ADD_FAILURE() << "send: " << testing::PrintToString(s);
        return ch.memory.set_state(state_bits::kSenderErrored);
      }
      producer_wait.wait(producer.space_bell(), [&] { return producer.poll_room(Traffic::size_of(seq)) == Status::Full; });
    }
    ch.memory.set_state(state_bits::kSenderClosed);
  });

  uint64_t received = 0, mismatches = 0, wrong_owner = 0, failed_releases = 0;
  Status end = Status::Ok;
  std::thread consumer_thread([&] {
    QueueConsumer consumer(ch.memory, ch.heap);
    auto check = [&](Message& m) {
      const uint32_t len = Traffic::size_of(received);
      if (m.length != len || std::memcmp(m.data, traffic.data_of(received), len) != 0) {
        if (mismatches++ == 0) ADD_FAILURE() << "first mismatch at seq " << received << ", length " << m.length << " for " << len;
      }
      const bool owner_ok = len <= 512 ? m.owner == Message::Owner::Ring
                            : len > kLargestSlab ? m.owner == Message::Owner::Heap
                                                 : m.owner != Message::Owner::Ring;
      wrong_owner += !owner_ok;
      if (m.owner == Message::Owner::Slab) failed_releases += !consumer.pool().release(m.lease);
      ++received;
    };
    end = test::consume_until_end(consumer, consumer_wait, check, batch == 1 ? 64 : batch);
  });

  producer_thread.join();
  consumer_thread.join();
  EXPECT_EQ(end, Status::Closed);
  EXPECT_EQ(received, count);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(wrong_owner, 0u);
  EXPECT_EQ(failed_releases, 0u);
  EXPECT_EQ(producer_wait.timeouts + consumer_wait.timeouts, 0u) << "lost wake-ups";
  const ChannelStats s = ch.memory.stats();
  EXPECT_EQ(s.sent, count);
  EXPECT_EQ(s.received, count);
  EXPECT_EQ(s.bytes_sent, s.bytes_received);
  EXPECT_EQ(s.pool_in_use, 0);
  EXPECT_LE(s.pool_high_water, static_cast<int64_t>(s.pool_slabs));
  EXPECT_GE(s.pool_fallbacks, oversize);
  EXPECT_GT(oversize, 0u);
  EXPECT_EQ(ch.heap.size(), 0u);
  std::printf("[ stress   ] %llu messages, %llu MiB, %llu heap fallbacks (%llu oversize), pool high water %lld/%llu, "
              "sleeps: producer %llu, consumer %llu\n",
              static_cast<unsigned long long>(count), static_cast<unsigned long long>(s.bytes_sent >> 20),
              static_cast<unsigned long long>(s.pool_fallbacks), static_cast<unsigned long long>(oversize),
              static_cast<long long>(s.pool_high_water), static_cast<unsigned long long>(s.pool_slabs),
              static_cast<unsigned long long>(producer_wait.sleeps), static_cast<unsigned long long>(consumer_wait.sleeps));
}

TEST(QueueStress, MixedSizesInOrderSpinThenSleep) { run_queue_stress(test::stress_count(10'000'000, 2'000'000), 256); }

// No spinning: every wait goes through the doorbell, so the sleep/wake handshake runs
// hundreds of thousands of times.
TEST(QueueStress, EveryWaitSleepsOnTheDoorbell) { run_queue_stress(test::stress_count(1'000'000, 400'000), 0); }

// Batches both ways: try_send_batch() stores tail once per call, drain() reads runs of
// records between one tail read and the next, across wraps, slabs and heap blocks.
TEST(QueueStress, BatchesInOrderSpinThenSleep) { run_queue_stress(test::stress_count(10'000'000, 2'000'000), 256, 300); }
TEST(QueueStress, BatchesEveryWaitSleeps) { run_queue_stress(test::stress_count(1'000'000, 400'000), 0, 50); }

// The receiver ends while the producer is sending slab and heap messages as fast as it
// can: whatever lands in the ring, before or during the end, is returned by
// discard_after_end(), and every send after it is refused.
TEST(QueueStress, ReceiverEndWhileSendingLeavesNothingLeased) {
  const uint64_t rounds = test::stress_count(600, 150);
  ChannelConfig cfg = test::stress_config();
  cfg.pool_slabs = 4;  // runs out: heap blocks too
  for (uint64_t round = 0; round < rounds; ++round) {
    test::TestChannel ch(cfg);
    const Traffic traffic;
    std::atomic<bool> started{false};  // relaxed: only a hint to start receiving
    Status last = Status::Ok;
    std::thread producer_thread([&] {
      QueueProducer producer(ch.memory, ch.heap);
      test::Patience patience("the send that sees the receiver gone");
      for (uint64_t seq = round;; ++seq) {
        bool rang;
        last = producer.try_send(traffic.data_of(seq), 600 + static_cast<uint32_t>(test::mix(seq) % 4000), &rang);
        started.store(true, std::memory_order_relaxed);
        if (last != Status::Ok && last != Status::Full) return;
        if (last == Status::Full && !patience.ok()) return;
      }
    });
    {
      // Receives (keeping the ring from filling up) for a random while, then ends.
      QueueConsumer consumer(ch.memory, ch.heap);
      while (!started.load(std::memory_order_relaxed)) std::this_thread::yield();
      for (uint64_t drains = test::mix(round) % 64; drains > 0; --drains) {
        bool rang;
        consumer.drain(8, [&](Message& m) {
          if (m.owner == Message::Owner::Slab) consumer.pool().release(m.lease);
        }, &rang);
      }
      ch.memory.set_state(state_bits::kReceiverGone);
      consumer.discard_after_end();
    }
    producer_thread.join();
    ASSERT_EQ(last, Status::Disconnected);
    const ChannelStats s = ch.memory.stats();
    ASSERT_EQ(s.pool_in_use, 0) << "round " << round;
    ASSERT_EQ(ch.heap.size(), 0u) << "round " << round;
  }
}

// --- The raw ring from two threads: its own release/acquire pairs, with no queue
// byte budget or heap-table mutex to hide a missing one from TSan. ---

TEST(RingStress, TwoThreadsManyWrapsInOrder) {
  constexpr uint64_t kRingBytes = 4096;  // small: a wrap, usually with padding, every few records
  const uint64_t count = test::stress_count(5'000'000, 1'000'000);
  const Traffic traffic;
  auto size_of = [](uint64_t seq) { return static_cast<uint32_t>(test::mix(seq) % 600); };
  std::vector<uint64_t> memory(kRingBytes / 8);
  uint8_t* ring = reinterpret_cast<uint8_t*>(memory.data());
  ProducerLine producer_line{};
  ConsumerLine consumer_line{};

  std::thread producer_thread([&] {
    RingProducer producer(ring, kRingBytes, producer_line, consumer_line);
    test::Patience patience("room in the ring");
    for (uint64_t seq = 0; seq < count; ++seq) {
      const uint32_t len = size_of(seq);
      uint8_t* at;
      Status s;
      while ((s = producer.claim(RecordType::Inline, len, &at)) == Status::Full) {
        producer.publish();  // let the consumer see what is claimed so far
        if (!patience.ok()) return;
        std::this_thread::yield();
      }
      if (s != Status::Ok) return ADD_FAILURE() << "claim: " << testing::PrintToString(s);
      std::memcpy(at, traffic.data_of(seq), len);
      if (test::mix(seq) >> 60 == 0) producer.publish();  // several claims share a publish
    }
    producer.publish();
  });

  uint64_t received = 0, mismatches = 0;
  std::thread consumer_thread([&] {
    RingConsumer consumer(ring, kRingBytes, producer_line, consumer_line);
    test::Patience patience("the next record");
    while (received < count) {
      RecordView r;
      const Status s = consumer.peek(&r);
      if (s == Status::Empty) {
        consumer.publish(false);
        if (!patience.ok()) return;
        std::this_thread::yield();
        continue;
      }
      if (s != Status::Ok) return ADD_FAILURE() << "peek: " << testing::PrintToString(s);
      const uint32_t len = size_of(received);
      if (r.length != len || std::memcmp(r.payload, traffic.data_of(received), len) != 0) {
        if (mismatches++ == 0) ADD_FAILURE() << "first mismatch at seq " << received;
      }
      consumer.consume();
      ++received;
      if (received % 4 == 0) consumer.publish(false);
    }
    consumer.publish(false);
  });
  producer_thread.join();
  consumer_thread.join();
  EXPECT_EQ(received, count);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(producer_line.tail.load(), consumer_line.head.load());
  EXPECT_GT(producer_line.tail.load(), count * 8);
}

// --- Two producers on the raw ring. Each claims by CAS on tail and publishes its
// record through the record's own header word: RingClaimer::commit()'s release,
// paired with the consumer's acquire of that word, is all that orders the payload.
// No tail publish, byte budget or heap-table mutex adds an edge here, so TSan
// reports a weakened commit (the queue-level stress in multi_producer_test.cc may
// hide one behind those). ---

TEST(RingStress, TwoClaimersInlineRecordsEachInOrder) {
  constexpr uint64_t kRingBytes = 4096;  // small: claims wrap, with padding, every few records
  constexpr uint32_t kProducers = 2;
  const uint64_t per_producer = test::stress_count(1'000'000, 200'000);
  // Record `seq` of producer `id`: its tag (id << 48 | seq), then payload bytes of the tag.
  auto tag_of = [](uint64_t id, uint64_t seq) { return id << 48 | seq; };
  auto size_of = [](uint64_t tag) { return 8 + static_cast<uint32_t>(test::mix(tag) % 300); };
  std::vector<uint64_t> memory(kRingBytes / 8);
  uint8_t* ring = reinterpret_cast<uint8_t*>(memory.data());
  ProducerLine producer_line{};
  ConsumerLine consumer_line{};

  auto produce = [&](uint32_t id) {
    RingClaimer claimer(ring, kRingBytes, producer_line, consumer_line, /*owner ticket*/ id + 1);
    test::Patience patience("room in the ring");
    for (uint64_t seq = 0; seq < per_producer; ++seq) {
      const uint64_t tag = tag_of(id, seq);
      const uint32_t len = size_of(tag);
      uint8_t* at;
      uint64_t offset;
      Status s;
      while ((s = claimer.claim(RecordType::Inline, len, &at, &offset)) == Status::Full) {
        if (!patience.ok()) return;
        std::this_thread::yield();
      }
      if (s != Status::Ok) return ADD_FAILURE() << "claim: " << testing::PrintToString(s);
      std::memcpy(at, &tag, 8);
      test::fill_payload(at + 8, len - 8, tag);
      claimer.commit(offset, RecordType::Inline, len);
    }
  };

  uint64_t received = 0, mismatches = 0, out_of_order = 0;
  std::thread consumer_thread([&] {
    RingConsumer consumer(ring, kRingBytes, producer_line, consumer_line);
    std::vector<uint64_t> next(kProducers, 0);
    test::Patience patience("the next committed record");
    while (received < kProducers * per_producer) {
      RecordView r;
      const Status s = consumer.peek(&r);
      if (s == Status::Empty) {
        consumer.publish(true);  // zeroed: a stale header must never pass for a commit
        if (!patience.ok()) return;
        std::this_thread::yield();
        continue;
      }
      if (s != Status::Ok) return ADD_FAILURE() << "peek: " << testing::PrintToString(s);
      uint64_t tag = 0;
      if (r.length >= 8) std::memcpy(&tag, r.payload, 8);
      const uint64_t id = tag >> 48, seq = tag & ((uint64_t{1} << 48) - 1);
      if (id >= kProducers || r.length != size_of(tag) || !test::payload_matches(r.payload + 8, r.length - 8, tag)) {
        if (mismatches++ == 0) ADD_FAILURE() << "first damaged record at " << received;
      } else if (seq != next[id]++) {
        if (out_of_order++ == 0) ADD_FAILURE() << "producer " << id << ": record " << seq << " out of order";
      }
      consumer.consume();
      ++received;
      if (received % 4 == 0) consumer.publish(true);
    }
    consumer.publish(true);
  });
  std::vector<std::thread> producers;
  for (uint32_t id = 0; id < kProducers; ++id) producers.emplace_back(produce, id);
  for (std::thread& t : producers) t.join();
  consumer_thread.join();
  EXPECT_EQ(received, kProducers * per_producer);
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(producer_line.tail.load(), consumer_line.head.load());
}

// --- SlabPool from two threads: no slab is ever held twice. ---

// A lease in one word, to pass between threads; 0 is "none".
uint64_t encode(const Lease& l) { return (uint64_t{1} << 63) | (uint64_t{l.generation} << 24) | (uint64_t{l.cls} << 20) | l.index; }
Lease decode(uint64_t w) { return Lease{static_cast<uint32_t>(w >> 20) & 0xf, static_cast<uint32_t>(w) & 0xfffff, static_cast<uint32_t>(w >> 24) & 0x7fffffff}; }

TEST(SlabPoolStress, TwoThreadsNeverHoldTheSameSlab) {
  ChannelConfig cfg;
  cfg.capacity = 64 * 1024;
  cfg.slab_size = 4096;
  cfg.pool_slabs = 4;
  test::TestChannel ch(cfg);
  const Layout& layout = ch.memory.layout();
  ASSERT_EQ(layout.class_count, 3u);
  const uint64_t ops = test::stress_count(4'000'000, 1'000'000);

  // holders[cls * 4 + index]: 1 while some thread holds the slab.
  std::vector<std::atomic<uint32_t>> holders(12);
  std::atomic<uint64_t> exchange{0};  // a lease in transit between the threads
  std::atomic<uint64_t> double_holds{0}, clobbered{0}, errors{0}, acquired{0}, empties{0};

  auto worker = [&](uint64_t seed) {
    SlabPool pool(ch.memory.base(), layout, ch.memory.header());
    std::mt19937_64 rng(seed);
    std::vector<Lease> held;
    // Each slab holds a stamp of its lease at both ends; a second holder would change it.
    auto stamp = [&](const Lease& l) {
      const uint64_t v = test::mix(encode(l));
      uint8_t* p = pool.data(l);
      std::memcpy(p, &v, 8);
      std::memcpy(p + pool.slab_size(l.cls) - 8, &v, 8);
    };
    auto stamp_intact = [&](const Lease& l) {
      const uint64_t v = test::mix(encode(l));
      uint64_t a, b;
      const uint8_t* p = pool.data(l);
      std::memcpy(&a, p, 8);
      std::memcpy(&b, p + pool.slab_size(l.cls) - 8, 8);
      return a == v && b == v;
    };
    auto give_back = [&](const Lease& l) {
      clobbered += !stamp_intact(l);
      holders[l.cls * 4 + l.index].store(0);
      errors += !pool.release(l);
      errors += pool.release(l);  // a double release must do nothing
    };
    for (uint64_t i = 0; i < ops; ++i) {
      const uint64_t r = rng();
      switch (r % 8) {
        case 0: case 1: case 2: {
          if (held.size() >= 8) break;
          Lease l;
          const Status s = pool.acquire(static_cast<uint32_t>((r >> 8) % 3), &l);
          if (s == Status::Empty) {
            ++empties;
            break;
          }
          if (s != Status::Ok) {
            ++errors;
            break;
          }
          ++acquired;
          double_holds += holders[l.cls * 4 + l.index].exchange(1) != 0;
          stamp(l);
          held.push_back(l);
          break;
        }
        case 3: case 4: case 5:
          if (!held.empty()) {
            const std::size_t k = (r >> 8) % held.size();
            give_back(held[k]);
            held[k] = held.back();
            held.pop_back();
          }
          break;
        case 6:  // hand a lease to the other thread, taking whatever it left
          if (!held.empty()) {
            const uint64_t got = exchange.exchange(encode(held.back()));
            held.pop_back();
            if (got) held.push_back(decode(got));
          }
          break;
        case 7: {  // a stale lease: a released one, or a forged generation
          if (held.empty()) break;
          const Lease& l = held[(r >> 8) % held.size()];
          errors += pool.release(Lease{l.cls, l.index, l.generation - 1});
          errors += pool.release(Lease{l.cls, l.index, l.generation + 1});
          errors += !pool.is_leased(l);
          break;
        }
      }
    }
    for (const Lease& l : held) give_back(l);
  };
  std::thread a(worker, 1), b(worker, 2);
  a.join();
  b.join();

  SlabPool pool(ch.memory.base(), layout, ch.memory.header());
  if (const uint64_t left = exchange.load()) {
    holders[decode(left).cls * 4 + decode(left).index].store(0);
    EXPECT_TRUE(pool.release(decode(left)));
  }
  EXPECT_EQ(double_holds.load(), 0u);
  EXPECT_EQ(clobbered.load(), 0u);
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GT(acquired.load(), ops / 4);
  EXPECT_GT(empties.load(), 0u) << "the pool ran dry now and then";
  EXPECT_EQ(ch.memory.stats().pool_in_use, 0);
  EXPECT_LE(ch.memory.stats().pool_high_water, 12);
  // Every slab is back on its free list exactly once.
  for (uint32_t cls = 0; cls < 3; ++cls) {
    std::vector<bool> seen(4);
    Lease l;
    Status s;
    int n = 0;
    while ((s = pool.acquire(cls, &l)) == Status::Ok) {
      EXPECT_FALSE(seen[l.index]) << "slab " << cls << "/" << l.index << " listed twice";
      seen[l.index] = true;
      if (++n > 4) break;  // a cycle in the free list would hand out slabs forever
    }
    EXPECT_EQ(s, Status::Empty);
    EXPECT_EQ(n, 4) << "class " << cls;
  }
}

}  // namespace
}  // namespace ringport
