// Many producers: the upgrade from single to multi mode, producer slots, claims left
// by dead producers, and a stress of four producers joining, leaving and dying
// around one consumer.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

using test::make_payload;
using test::payload_matches;

// Messages carry (stream, seq) in their first 16 bytes and bytes derived from both
// after that, so that the consumer can check per-producer order and content.
struct Tagged {
  uint64_t stream, seq;
};

std::vector<uint8_t> tagged_payload(uint64_t stream, uint64_t seq, uint32_t len) {
  std::vector<uint8_t> v(len < 16 ? 16 : len);
  std::memcpy(v.data(), &stream, 8);
  std::memcpy(v.data() + 8, &seq, 8);
  test::fill_payload(v.data() + 16, len > 16 ? len - 16 : 0, test::mix(stream) ^ seq);
  return v;
}

bool read_tagged(const Message& m, Tagged* t) {
  if (m.length < 16) return false;
  std::memcpy(&t->stream, m.data, 8);
  std::memcpy(&t->seq, m.data + 8, 8);
  return payload_matches(m.data + 16, m.length - 16, test::mix(t->stream) ^ t->seq);
}

Status send_tagged(QueueProducer& p, uint64_t stream, uint64_t seq, uint32_t len = 40) {
  const std::vector<uint8_t> data = tagged_payload(stream, seq, len);
  bool rang;
  return p.try_send(data.data(), len, &rang);
}

// Drains everything; returns the tags in arrival order (slabs released).
std::vector<Tagged> drain_tagged(QueueConsumer& c, Status* end = nullptr) {
  std::vector<Tagged> out;
  bool rang;
  Status s;
  while ((s = c.drain(1000, [&](Message& m) {
            Tagged t{};
            EXPECT_TRUE(read_tagged(m, &t)) << "content of message " << out.size();
            out.push_back(t);
            if (m.owner == Message::Owner::Slab) c.pool().release(m.lease);
          }, &rang)) == Status::Ok) {
    if (out.size() > test::kMostMessages) {
      ADD_FAILURE() << "drain never ran dry";
      break;
    }
  }
  if (end) *end = s;
  return out;
}

class MultiProducerTest : public testing::Test {
 protected:
  explicit MultiProducerTest(const ChannelConfig& cfg = test::small_config()) : ch_(cfg) {}

  uint32_t claim() {
    uint32_t ticket = 0;
    EXPECT_EQ(ch_.memory.claim_producer(&ticket), Status::Ok);
    return ticket;
  }
  uint32_t mode() const { return ch_.memory.producer_mode_approx(); }
  uint64_t head_word(uint64_t offset) { return header_at(ch_.memory.ring(), offset).load(); }

  // With `flag` up after a first send, as if its owner were inside an operation, a
  // second producer's send waits for the upgrade until the flag drops 50 ms later.
  void expect_upgrade_waits_for(std::atomic<uint32_t>& flag) {
    QueueProducer first(ch_.memory, ch_.heap);
    ASSERT_EQ(send_tagged(first, 1, 0), Status::Ok);
    flag.store(1);
    QueueProducer second(ch_.memory, ch_.heap, claim());
    std::thread finisher([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      flag.store(0, std::memory_order_release);
    });
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(send_tagged(second, 2, 0), Status::Ok);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));
    finisher.join();
    EXPECT_EQ(mode(), producer_mode::kMulti);
    EXPECT_EQ(drain_tagged(consumer_).size(), 2u);
  }

  test::TestChannel ch_;
  QueueConsumer consumer_{ch_.memory, ch_.heap};
};

TEST_F(MultiProducerTest, ChannelStartsSingleAndUpgradesWhenASecondProducerJoins) {
  QueueProducer first(ch_.memory, ch_.heap);
  ASSERT_EQ(send_tagged(first, 1, 0), Status::Ok);
  EXPECT_EQ(mode(), producer_mode::kSingle);
  QueueProducer second(ch_.memory, ch_.heap, claim());
  EXPECT_EQ(mode(), producer_mode::kUpgrading) << "asked, not yet done";
  ASSERT_EQ(send_tagged(second, 2, 0), Status::Ok);
  EXPECT_EQ(mode(), producer_mode::kMulti) << "the idle first producer did not have to act";
  ASSERT_EQ(send_tagged(first, 1, 1), Status::Ok);
  const std::vector<Tagged> got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].stream, 1u);
  EXPECT_EQ(got[1].stream, 2u);
  EXPECT_EQ(got[2].stream, 1u);
  EXPECT_EQ(got[2].seq, 1u);
}

TEST_F(MultiProducerTest, UpgradeWithRecordsInFlight) {
  QueueProducer first(ch_.memory, ch_.heap);
  const uint32_t sizes[] = {40, 2000, 100, 1500};  // inline and slab
  for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(send_tagged(first, 1, i, sizes[i]), Status::Ok);
  std::vector<Tagged> got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 4u);
  // Buffered, unread, when the second producer joins.
  for (uint64_t i = 4; i < 8; ++i) ASSERT_EQ(send_tagged(first, 1, i, i == 5 ? 2000 : 200), Status::Ok);
  QueueProducer second(ch_.memory, ch_.heap, claim());
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_EQ(send_tagged(second, 2, i, 150), Status::Ok);
    ASSERT_EQ(send_tagged(first, 1, 8 + i, 120), Status::Ok);
  }
  EXPECT_EQ(mode(), producer_mode::kMulti);
  got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 12u);
  std::map<uint64_t, uint64_t> next{{1, 4}, {2, 0}};
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq, next[got[i].stream]++) << "message " << i;
    if (i < 4) {
      EXPECT_EQ(got[i].stream, 1u) << "records published before the upgrade come first";
    }
  }
  const ChannelStats s = ch_.memory.stats();
  EXPECT_EQ(s.sent, 16u);
  EXPECT_EQ(s.received, 16u);
  EXPECT_EQ(s.bytes_sent, s.bytes_received);
}

// A single-mode send in progress (its flag up) holds the upgrade back until it ends.
TEST_F(MultiProducerTest, UpgradeWaitsForASingleModeSendInProgress) {
  expect_upgrade_waits_for(ch_.header().producer.single_sending);  // as if the first producer were inside try_send
}

// Single mode leaves consumed space dirty; the upgrade zeroes the free space, and from
// then on the consumer zeroes what it releases.
TEST_F(MultiProducerTest, UpgradeZeroesWhatSingleModeLeftDirty) {
  QueueProducer first(ch_.memory, ch_.heap);
  uint64_t seq = 0;
  for (int round = 0; round < 8; ++round) {  // 8 x 7 x 512 bytes: laps of the 8 KiB ring
    for (int i = 0; i < 7; ++i) ASSERT_EQ(send_tagged(first, 1, seq++, 500), Status::Ok);
    ASSERT_EQ(drain_tagged(consumer_).size(), 7u);
  }
  const uint8_t* ring = ch_.memory.ring();
  const uint64_t bytes = ch_.layout.ring_bytes;
  EXPECT_NE(std::count(ring, ring + bytes, 0), static_cast<std::ptrdiff_t>(bytes)) << "single mode does not zero";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(send_tagged(first, 1, seq++, 300), Status::Ok);  // unread across the upgrade
  QueueProducer second(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(send_tagged(second, 2, 0, 100), Status::Ok);
  EXPECT_EQ(mode(), producer_mode::kMulti);
  const uint64_t head = ch_.header().consumer.head.load(), tail = ch_.header().producer.tail.load();
  for (uint64_t p = tail; p < head + bytes; ++p) ASSERT_EQ(ring[p & (bytes - 1)], 0) << "free position " << p;
  ASSERT_EQ(send_tagged(first, 1, seq++, 200), Status::Ok);
  EXPECT_EQ(drain_tagged(consumer_).size(), 5u);
  for (uint64_t i = 0; i < bytes; ++i) ASSERT_EQ(ring[i], 0) << "offset " << i;
}

// A release by the consumer in progress (its flag up) holds the upgrade back until it ends.
TEST_F(MultiProducerTest, UpgradeWaitsForAReleaseInProgress) {
  expect_upgrade_waits_for(ch_.header().consumer.releasing);  // as if the consumer were inside finish()
}

// The first producer sees the request at its next send and completes the upgrade itself.
TEST_F(MultiProducerTest, FirstProducerCompletesTheUpgradeAtItsNextSend) {
  QueueProducer first(ch_.memory, ch_.heap);
  QueueProducer second(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(mode(), producer_mode::kUpgrading);
  ASSERT_EQ(send_tagged(first, 1, 0), Status::Ok);
  EXPECT_EQ(mode(), producer_mode::kMulti);
  // Its record went through a claim: the marker named its ticket.
  EXPECT_EQ(static_cast<uint32_t>(head_word(0) >> 40), kFirstProducerTicket);
  ASSERT_EQ(send_tagged(second, 2, 0), Status::Ok);
  EXPECT_EQ(drain_tagged(consumer_).size(), 2u);
}

// The first producer died inside a single-mode send: its flag stays up and it left a
// header past tail. Once it is declared gone, the next producer takes over.
TEST_F(MultiProducerTest, UpgradeWhenTheFirstProducerIsGoneMidSend) {
  QueueProducer first(ch_.memory, ch_.heap);
  ASSERT_EQ(send_tagged(first, 1, 0), Status::Ok);
  const uint64_t tail = ch_.header().producer.tail.load();
  ch_.header().producer.single_sending.store(1);
  header_at(ch_.memory.ring(), tail).store(header_word(40, static_cast<uint32_t>(RecordType::Inline)));  // unpublished
  QueueProducer second(ch_.memory, ch_.heap, claim());
  EXPECT_TRUE(ch_.memory.producer_gone(kFirstProducerTicket));
  ASSERT_EQ(send_tagged(second, 2, 0, 16), Status::Ok);
  EXPECT_EQ(mode(), producer_mode::kMulti);
  const std::vector<Tagged> got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].stream, 1u);
  EXPECT_EQ(got[1].stream, 2u) << "the dead send's header was wiped, not delivered";
}

TEST_F(MultiProducerTest, ChannelInMultiModeFromTheStart) {
  QueueProducer a(ch_.memory, ch_.heap, claim());
  QueueProducer b(ch_.memory, ch_.heap, claim());
  for (uint64_t i = 0; i < 50; ++i) {
    ASSERT_EQ(send_tagged(a, 1, i), Status::Ok);
    ASSERT_EQ(send_tagged(b, 2, i, 2000), Status::Ok);  // slabs
    std::vector<Tagged> got = drain_tagged(consumer_);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].seq, i);
    EXPECT_EQ(got[1].seq, i);
  }
  EXPECT_EQ(ch_.memory.stats().pool_in_use, 0);
}

TEST_F(MultiProducerTest, WrapWithPaddingUnderMultiProducers) {
  QueueProducer a(ch_.memory, ch_.heap, claim());
  const uint32_t b_ticket = claim();
  QueueProducer b(ch_.memory, ch_.heap, b_ticket);
  const uint64_t ring = ch_.layout.ring_bytes;
  uint64_t seq = 0;
  auto send_and_read = [&](uint32_t len) {
    ASSERT_EQ(send_tagged(a, 1, seq++, len), Status::Ok);
    ASSERT_EQ(drain_tagged(consumer_).size(), 1u);
  };
  while (ch_.header().producer.tail.load() % ring != ring - 512) send_and_read(504);  // 512-byte records
  send_and_read(408);  // 416 bytes: 96 left before the end
  const uint64_t before = ch_.header().producer.tail.load();
  ASSERT_EQ(send_tagged(b, 2, 0, 400), Status::Ok);
  const uint64_t pad = header_at(ch_.memory.ring(), before % ring).load();
  EXPECT_EQ(pad & 0xff00000000ull, uint64_t{static_cast<uint32_t>(RecordType::Padding)} << 32);
  EXPECT_EQ(static_cast<uint32_t>(pad >> 40), b_ticket) << "padding names its producer";
  EXPECT_EQ(ch_.header().producer.tail.load(), before + (ring - before % ring) + record_size(400));
  ASSERT_EQ(send_tagged(a, 1, seq, 16), Status::Ok);
  const std::vector<Tagged> got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].stream, 2u);
  EXPECT_EQ(got[1].seq, seq);
}

TEST_F(MultiProducerTest, ConsumedSpaceIsZeroed) {
  QueueProducer a(ch_.memory, ch_.heap, claim());
  for (uint64_t round = 0; round < 5; ++round) {  // 5 x 10 x 312 bytes: wraps, with padding
    for (uint64_t i = 0; i < 10; ++i) ASSERT_EQ(send_tagged(a, 1, round * 10 + i, 300), Status::Ok);
    ASSERT_EQ(drain_tagged(consumer_).size(), 10u);
  }
  const uint8_t* ring = ch_.memory.ring();
  for (uint64_t i = 0; i < ch_.layout.ring_bytes; ++i) ASSERT_EQ(ring[i], 0) << "offset " << i;
}

// A claim holds back the records behind it until it is committed...
TEST_F(MultiProducerTest, ClaimOfALiveProducerHoldsBackTheRecordsBehindIt) {
  const uint32_t ticket = claim();
  QueueProducer a(ch_.memory, ch_.heap, ticket);
  QueueProducer b(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(send_tagged(b, 2, 0), Status::Ok);  // completes the upgrade
  RingClaimer claimer(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer, ticket);
  uint8_t* at;
  uint64_t offset;
  ASSERT_EQ(claimer.claim(RecordType::Inline, 40, &at, &offset), Status::Ok);
  ASSERT_EQ(send_tagged(b, 2, 1), Status::Ok);
  EXPECT_EQ(drain_tagged(consumer_).size(), 1u) << "only the record before the claim";
  EXPECT_FALSE(consumer_.ready());
  const std::vector<uint8_t> data = tagged_payload(1, 0, 40);
  std::memcpy(at, data.data(), 40);
  claimer.commit(offset, RecordType::Inline, 40);
  const std::vector<Tagged> got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].stream, 1u);
  EXPECT_EQ(got[1].seq, 1u);
}

// ...and when its producer dies before committing, the consumer abandons it: the
// records behind it arrive, and its reserved bytes return to the budget.
TEST_F(MultiProducerTest, DeadProducerMidClaimIsUnblocked) {
  const uint32_t ticket = claim();
  QueueProducer b(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(send_tagged(b, 2, 0), Status::Ok);
  // What send_multi does up to the claim, then the thread dies mid-copy.
  ch_.header().producer.bytes.fetch_add(3000);
  RingClaimer claimer(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer, ticket);
  uint8_t* at;
  uint64_t offset;
  ASSERT_EQ(claimer.claim(RecordType::Slab, 3000, &at, &offset), Status::Ok);
  std::memset(at, 0xab, 5);
  ASSERT_EQ(send_tagged(b, 2, 1), Status::Ok);
  EXPECT_EQ(send_tagged(b, 2, 2, 1100), Status::Full) << "the dead claim's 3000 bytes count";
  EXPECT_EQ(drain_tagged(consumer_).size(), 1u);
  EXPECT_FALSE(consumer_.ready());
  EXPECT_TRUE(ch_.memory.producer_gone(ticket));
  EXPECT_FALSE(ch_.memory.producer_gone(ticket)) << "twice is harmless";
  EXPECT_TRUE(consumer_.ready());
  std::vector<Tagged> got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq, 1u);
  ASSERT_EQ(send_tagged(b, 2, 2, 4000), Status::Ok) << "the budget is whole again";
  got = drain_tagged(consumer_);
  ASSERT_EQ(got.size(), 1u);
  const ChannelStats s = ch_.memory.stats();
  EXPECT_EQ(s.sent, 3u);
  EXPECT_EQ(s.received, 3u);
  EXPECT_EQ(s.bytes_sent, s.bytes_received);
  const uint8_t* ring = ch_.memory.ring();
  for (uint64_t i = 0; i < ch_.layout.ring_bytes; ++i) ASSERT_EQ(ring[i], 0) << "abandoned space zeroed too";
}

// A claim whose slot was released and re-claimed by someone else is stale.
TEST_F(MultiProducerTest, ClaimOfAReusedSlotIsAbandoned) {
  const uint32_t old_ticket = claim();
  QueueProducer b(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(send_tagged(b, 2, 0), Status::Ok);
  RingClaimer claimer(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer, old_ticket);
  uint8_t* at;
  uint64_t offset;
  ASSERT_EQ(claimer.claim(RecordType::Inline, 8, &at, &offset), Status::Ok);
  EXPECT_TRUE(ch_.memory.release_producer(old_ticket));
  const uint32_t new_ticket = claim();
  EXPECT_EQ(ticket_index(new_ticket), ticket_index(old_ticket));
  EXPECT_NE(new_ticket, old_ticket);
  EXPECT_FALSE(ch_.memory.release_producer(old_ticket)) << "a stale ticket frees nothing";
  EXPECT_TRUE(ch_.memory.producer_live(new_ticket));
  ASSERT_EQ(send_tagged(b, 2, 1), Status::Ok);
  EXPECT_EQ(drain_tagged(consumer_).size(), 2u);
}

TEST_F(MultiProducerTest, ProducerSlotsExhausted) {
  std::vector<uint32_t> tickets;
  uint32_t t = 0;
  while (ch_.memory.claim_producer(&t) == Status::Ok && tickets.size() < kMaxProducers) tickets.push_back(t);
  EXPECT_EQ(tickets.size(), kMaxProducers - 1) << "slot 0 is the first producer's";
  EXPECT_EQ(ch_.memory.claim_producer(&t), Status::RoleTaken);
  EXPECT_TRUE(ch_.memory.producer_live(kFirstProducerTicket));
  EXPECT_TRUE(ch_.memory.release_producer(tickets[10]));
  ASSERT_EQ(ch_.memory.claim_producer(&t), Status::Ok);
  EXPECT_EQ(ticket_index(t), ticket_index(tickets[10]));
  EXPECT_EQ(ticket_generation(t), ticket_generation(tickets[10]) + 1);
  EXPECT_FALSE(ch_.memory.release_producer(make_ticket(kMaxProducers, 1))) << "out of range";
}

TEST_F(MultiProducerTest, BackpressureIsSharedAcrossProducers) {
  QueueProducer a(ch_.memory, ch_.heap, claim());
  QueueProducer b(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(send_tagged(a, 1, 0, 3000), Status::Ok);
  EXPECT_EQ(send_tagged(b, 2, 0, 1097), Status::Full) << "3000 + 1097 > 4096";
  EXPECT_EQ(b.poll_room(1097), Status::Full);
  EXPECT_EQ(b.poll_room(1096), Status::Ok);
  ASSERT_EQ(send_tagged(b, 2, 0, 1096), Status::Ok);
  EXPECT_EQ(drain_tagged(consumer_).size(), 2u);
  ASSERT_EQ(send_tagged(a, 1, 1, 6000), Status::Ok) << "larger than the capacity, accepted when empty";
  EXPECT_EQ(send_tagged(b, 2, 1, 16), Status::Full);
  EXPECT_EQ(drain_tagged(consumer_).size(), 1u);
  EXPECT_EQ(ch_.memory.stats().bytes_sent, ch_.memory.stats().bytes_received);
}

TEST_F(MultiProducerTest, ClosedAndDisconnectedApplyToEveryProducer) {
  QueueProducer a(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(send_tagged(a, 1, 0), Status::Ok);
  ch_.memory.set_state(state_bits::kSenderClosed);
  EXPECT_EQ(send_tagged(a, 1, 1), Status::Closed);
  Status end;
  EXPECT_EQ(drain_tagged(consumer_, &end).size(), 1u);
  EXPECT_EQ(end, Status::Closed);
}

// --- Corrupt claim markers: a status, never an out-of-bounds access. ---

TEST_F(MultiProducerTest, CorruptClaimMarkersAreCorrupt) {
  QueueProducer a(ch_.memory, ch_.heap, claim());
  ASSERT_EQ(send_tagged(a, 1, 0, 40), Status::Ok);  // 56 bytes at 0
  auto marker = [](uint32_t length, uint32_t type, uint32_t owner) { return header_word(length, type | kClaimedBit | owner << 8); };
  const uint32_t inline_type = static_cast<uint32_t>(RecordType::Inline);
  for (uint64_t word : {marker(40, inline_type, make_ticket(kMaxProducers, 1)),  // no such slot
                        marker(4000, inline_type, make_ticket(1, 1)),            // past the tail
                        marker(40, static_cast<uint32_t>(RecordType::Padding), make_ticket(1, 1)),
                        header_word(40, static_cast<uint32_t>(RecordType::Abandoned) | 7 << 8)}) {  // claimed as nothing
    header_at(ch_.memory.ring(), 0).store(word);
    RingConsumer peeker(ch_.memory.ring(), ch_.layout.ring_bytes, ch_.header().producer, ch_.header().consumer, &ch_.header().producers);
    RecordView r{};
    EXPECT_EQ(peeker.peek(&r), Status::Corrupt) << std::hex << word;
  }
}

TEST_F(MultiProducerTest, CorruptProducerModeIsCorrupt) {
  QueueProducer a(ch_.memory, ch_.heap, claim());
  ch_.header().state.producer_mode.store(77);
  EXPECT_EQ(send_tagged(a, 1, 0), Status::Corrupt);
}

// --- Stress: four producers joining and leaving at random, one dying mid-claim. ---

uint32_t stress_size(uint64_t stream, uint64_t seq) {
  const uint64_t h = test::mix(stream * 0x100000001b3ull + seq);
  const uint64_t pick = h % 1000, r = h >> 32;
  // Nothing over the capacity: with four producers the channel is rarely empty, which
  // such a message waits for.
  if (pick < 985) return static_cast<uint32_t>(16 + r % 100);  // inline
  if (pick < 999) return static_cast<uint32_t>(513 + r % 6000);  // slab, class 0 or 1
  return static_cast<uint32_t>(40000 + r % 20000);               // slab of the largest class, or heap when none is free
}

TEST(MultiProducerStress, FourProducersJoinLeaveAndOneDiesMidClaim) {
  test::TestChannel ch(test::stress_config());
  const uint64_t total = test::stress_count(5'000'000, 300'000);
  constexpr int kThreads = 4;
  std::atomic<uint64_t> budget{total};  // records left to send, over all threads
  std::atomic<bool> consumer_done{false};
  std::atomic<uint64_t> timeouts{0}, failures{0};
  // sent[stream]: how many records that stream sent (a stream is one producer tenure).
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> sent(kThreads);
  std::atomic<uint64_t> dead_stream{~0ull};

  auto run_session = [&](QueueProducer& p, uint64_t stream, uint64_t count, std::vector<std::pair<uint64_t, uint64_t>>& log) {
    test::Waiter wait{64};
    test::Patience patience("room for the next record");
    uint64_t seq = 0;
    for (; seq < count; ++seq) {
      const uint32_t len = stress_size(stream, seq);
      const std::vector<uint8_t> data = tagged_payload(stream, seq, len);
      for (;;) {
        bool rang;
        const Status s = p.try_send(data.data(), len, &rang);
        if (s == Status::Ok) break;
        if (s != Status::Full || !patience.ok()) {
          if (s != Status::Full && failures++ == 0) ADD_FAILURE() << "try_send: " << testing::PrintToString(s);
          log.emplace_back(stream, seq);
          return;
        }
        wait.wait(p.space_bell(), [&] { return p.poll_room(len) == Status::Full; });
      }
      wait.reset();
    }
    timeouts += wait.timeouts;
    log.emplace_back(stream, seq);
  };

  auto producer = [&](int thread) {
    std::mt19937_64 rng(thread * 7919 + 1);
    for (uint32_t session = 0;; ++session) {
      // Join at a random moment (the first producer at once); send a random share; leave.
      if (thread != 0 || session != 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
      uint64_t want = 1 + rng() % (total / 12 + 1);
      uint64_t left = budget.load();
      do {
        if (left == 0) return;
        want = want < left ? want : left;
      } while (!budget.compare_exchange_weak(left, left - want));
      const uint64_t stream = (uint64_t{static_cast<uint32_t>(thread)} << 32) | session;
      if (thread == 0 && session == 0) {  // the first producer: single mode until the others join
        QueueProducer p(ch.memory, ch.heap);
        run_session(p, stream, want, sent[thread]);
        ch.memory.release_producer(kFirstProducerTicket);
        continue;
      }
      uint32_t ticket;
      if (ch.memory.claim_producer(&ticket) != Status::Ok) {
        ADD_FAILURE() << "no producer slot";
        return;
      }
      QueueProducer p(ch.memory, ch.heap, ticket);
      const bool dies = thread == 3 && session == 1;
      run_session(p, stream, want, sent[thread]);
      if (dies) {
        // Mid-claim death, as send_multi would leave it: bytes reserved, record
        // claimed, payload half written, never committed.
        dead_stream = stream;
        ch.header().producer.bytes.fetch_add(100);
        RingClaimer claimer(ch.memory.ring(), ch.layout.ring_bytes, ch.header().producer, ch.header().consumer, ticket);
        uint8_t* at;
        uint64_t offset;
        test::Patience patience("room for the dying claim");
        while (claimer.claim(RecordType::Inline, 100, &at, &offset) == Status::Full) {
          if (!patience.ok()) return;
          std::this_thread::yield();
        }
        std::memset(at, 0xee, 50);
        ch.memory.producer_gone(ticket);
        return;  // this thread is dead
      }
      ch.memory.release_producer(ticket);
    }
  };

  std::map<uint64_t, uint64_t> next_seq;
  uint64_t received = 0, bad = 0, out_of_order = 0;
  Status end = Status::Ok;
  std::thread consumer_thread([&] {
    QueueConsumer consumer(ch.memory, ch.heap);
    test::Waiter wait{64};
    end = test::consume_until_end(consumer, wait, [&](Message& m) {
      Tagged t{};
      const bool content_ok = read_tagged(m, &t) && m.length == stress_size(t.stream, t.seq);
      if (!content_ok && bad++ == 0) ADD_FAILURE() << "bad content at message " << received;
      if (content_ok) {
        uint64_t& next = next_seq[t.stream];
        if (t.seq != next && out_of_order++ == 0) ADD_FAILURE() << "stream " << t.stream << ": seq " << t.seq << " for " << next;
        next = t.seq + 1;
      }
      if (m.owner == Message::Owner::Slab) consumer.pool().release(m.lease);
      ++received;
    });
    timeouts += wait.timeouts;
    consumer_done = true;
  });

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> producers;
  for (int i = 0; i < kThreads; ++i) producers.emplace_back(producer, i);
  for (std::thread& t : producers) t.join();
  ch.memory.set_state(state_bits::kSenderClosed);
  consumer_thread.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_EQ(end, Status::Closed);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(out_of_order, 0u);
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(timeouts.load(), 0u) << "lost wake-ups";
  uint64_t sent_total = 0, streams = 0;
  for (const auto& log : sent) {
    for (const auto& [stream, count] : log) {
      sent_total += count;
      ++streams;
      EXPECT_EQ(next_seq[stream], count) << "stream " << stream << " lost or doubled records";
    }
  }
  EXPECT_EQ(sent_total, total);
  EXPECT_EQ(received, total);
  EXPECT_NE(dead_stream.load(), ~0ull) << "the dying producer got its turn";
  EXPECT_EQ(ch.memory.producer_mode_approx(), producer_mode::kMulti);
  const ChannelStats s = ch.memory.stats();
  EXPECT_EQ(s.sent, total);
  EXPECT_EQ(s.received, total);
  EXPECT_EQ(s.bytes_sent, s.bytes_received) << "the dead claim's bytes were given back";
  EXPECT_EQ(s.pool_in_use, 0);
  EXPECT_EQ(ch.heap.size(), 0u);
  std::printf("[ mp stress] %llu records in %llu producer tenures, %.2f s (%.2f M records/s), %llu heap fallbacks\n",
              static_cast<unsigned long long>(total), static_cast<unsigned long long>(streams), seconds, total / seconds / 1e6,
              static_cast<unsigned long long>(s.pool_fallbacks));
}

}  // namespace
}  // namespace ringport
