// Regressions from fuzzing (test/fuzz, README-fuzz.md): hostile shared memory that
// once made native code spin forever, overflow a signed counter, or write past the
// ring. Each test sets up the state the failing input boiled down to; the inputs
// themselves are in test/fuzz/regressions and replay with every fuzz run.
#include <climits>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

// Small max_message_size and ring: await_multi() gives up after ~1 s for these.
ChannelConfig small_upgrade_config() {
  ChannelConfig cfg = test::small_config();
  cfg.max_message_size = 4096;
  return cfg;
}

// attach_fuzzer: a header saying "clearing" (mode 2, once "taking over") while no producer is
// clearing made every send of a producer in multi mode spin in await_multi() forever.
TEST(FuzzRegression, ForgedClearingModeFailsSendsInsteadOfSpinning) {
  test::TestChannel ch(small_upgrade_config());
  QueueProducer first(ch.memory, ch.heap);
  uint32_t ticket = 0;
  ASSERT_EQ(ch.memory.claim_producer(&ticket), Status::Ok);
  QueueProducer second(ch.memory, ch.heap, ticket);
  ch.header().state.producer_mode.store(producer_mode::kClearing);
  const uint8_t byte = 7;
  bool rang;
  EXPECT_EQ(second.try_send(&byte, 1, &rang), Status::Corrupt);
  EXPECT_EQ(first.try_send(&byte, 1, &rang), Status::Corrupt);  // it sees the mode and goes multi too
}

// The same wait, for a forged "first producer is inside a send" flag while that
// producer is live and idle: the upgrade waited for a send that never ends.
TEST(FuzzRegression, ForgedSendInProgressFlagFailsTheUpgradeInsteadOfSpinning) {
  test::TestChannel ch(small_upgrade_config());
  QueueProducer first(ch.memory, ch.heap);
  uint32_t ticket = 0;
  ASSERT_EQ(ch.memory.claim_producer(&ticket), Status::Ok);
  QueueProducer second(ch.memory, ch.heap, ticket);  // asks for the upgrade
  ch.header().producer.single_sending.store(1);
  const uint8_t byte = 7;
  bool rang;
  EXPECT_EQ(second.try_send(&byte, 1, &rang), Status::Corrupt);
  // Once the flag is honest again, the upgrade completes and the channel works.
  ch.header().producer.single_sending.store(0);
  EXPECT_EQ(second.try_send(&byte, 1, &rang), Status::Ok);
}

// queue_records_fuzzer: a pool counter at INT64_MAX made acquire()'s "+ 1" a signed
// overflow (UBSan). The statistic wraps; the lease is fine.
TEST(FuzzRegression, PoolCounterAtInt64MaxDoesNotOverflowOnAcquire) {
  test::TestChannel ch;
  SlabPool pool(ch.memory.base(), ch.memory.layout(), ch.header());
  ch.header().pool.in_use.store(INT64_MAX);
  Lease lease{};
  ASSERT_EQ(pool.acquire(0, &lease), Status::Ok);
  EXPECT_EQ(ch.header().pool.in_use.load(), INT64_MIN);
  EXPECT_EQ(ch.header().pool.high_water.load(), 0);
  EXPECT_TRUE(pool.release(lease));
}

// Found reading the consumer for the fuzz harness (test/fuzz/regressions/
// queue_state_fuzzer/tail-laps-ahead-of-head replays it there): a tail moved one ring
// ahead each time the consumer caught up, over a padding record that fills the ring,
// let the read position run laps ahead of head (tail was checked against the read
// position, not against head); the next message's publish() then zeroed laps of
// memory past the end of the ring: the slab descriptors, the arena, then the heap.
TEST(FuzzRegression, TailALapAheadOfTheReadPositionCannotZeroPastTheRing) {
  constexpr uint64_t kRing = 4096;
  std::vector<uint64_t> memory(5 * kRing / 8);  // the ring, then 4 rings' worth of canary
  uint8_t* ring = reinterpret_cast<uint8_t*>(memory.data());
  std::memset(ring + kRing, 0xab, 4 * kRing);
  ProducerLine producer{};
  ConsumerLine consumer_line{};
  RingConsumer consumer(ring, kRing, producer, consumer_line);
  const RecordHeader padding{kRing - sizeof(RecordHeader), static_cast<uint32_t>(RecordType::Padding)};
  std::memcpy(ring, &padding, sizeof padding);
  RecordView r{};
  producer.tail.store(kRing);
  EXPECT_EQ(consumer.peek(&r), Status::Empty);  // a valid lap of padding
  producer.tail.store(2 * kRing);               // a second lap before head moved: impossible
  EXPECT_EQ(consumer.peek(&r), Status::Corrupt);
  producer.tail.store(3 * kRing);
  EXPECT_EQ(consumer.peek(&r), Status::Corrupt);
  const RecordHeader message{8, static_cast<uint32_t>(RecordType::Inline)};
  std::memcpy(ring, &message, sizeof message);
  producer.tail.store(3 * kRing + 16);
  if (consumer.peek(&r) == Status::Ok) {
    consumer.consume();
    consumer.publish(true);  // zeroing: the path that overran
  }
  for (uint64_t i = kRing; i < 5 * kRing; ++i) ASSERT_EQ(ring[i], 0xab) << "byte " << i - kRing << " past the ring";
}

}  // namespace
}  // namespace ringport
