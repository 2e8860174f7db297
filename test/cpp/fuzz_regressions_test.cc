// Regressions from fuzzing (test/fuzz, README-fuzz.md): hostile shared memory that
// once made native code spin forever, overflow a signed counter, or write past the
// ring. Each test sets up the state the failing input boiled down to; the inputs
// themselves are in test/fuzz/regressions and replay with every fuzz run.
#include <climits>
#include <vector>

#include <gtest/gtest.h>

#include "broadcast.hpp"
#include "test_channel.hpp"
#include "value_slot.hpp"

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

// broadcast_fuzzer (regressions/broadcast_fuzzer/receiver-at-odd-tail): a receiver
// starts at the tail it reads from the header; a forged tail that is not a multiple
// of 8, once the real one had moved past it, made its first read a misaligned
// atomic load of a record header (UBSan; undefined behaviour, a torn read on some
// CPUs). The receiver must report Corrupt without reading the ring.
TEST(FuzzRegression, BroadcastReceiverStartingAtAMisalignedTailReportsCorrupt) {
  ChannelConfig cfg = test::small_config();
  cfg.kind = static_cast<uint32_t>(ChannelKind::Broadcast);
  test::TestChannel ch(cfg);
  BroadcastProducer producer(ch.memory, ch.heap);
  ch.header().producer.tail.store(13);  // forged: receivers start here
  BroadcastConsumer receiver(ch.memory, ch.heap);
  ch.header().producer.tail.store(0);
  const std::vector<uint8_t> bytes(100, 7);
  bool rang;
  ASSERT_EQ(producer.try_send(bytes.data(), 100, &rang), Status::Ok);  // the real tail: 128
  int delivered = 0;
  EXPECT_EQ(receiver.drain(8, [&](Message&) { ++delivered; }, &rang), Status::Corrupt);
  EXPECT_EQ(delivered, 0);
}

// Found writing broadcast_fuzzer (regressions/broadcast_fuzzer/odd-pair-version-oldest-
// past-tail, written by hand, timed out before the fix): a lagging receiver re-reads `oldest` and the (tail, sequence) pair until they agree.
// With the pair's version forged odd (each snapshot() spins ~1000 times) and `oldest`
// forged past the tail, 1000 looks made every receive spin ~0.5 s before Corrupt;
// the looks are now bounded by release_stall_bound_ns() (a fuzz build: two looks). The
// receiver learns nothing from the forged words, and lags correctly once they are
// honest again.
TEST(FuzzRegression, BroadcastLagOverAForgedPairVersionFailsWithoutCountingAnything) {
  ChannelConfig cfg = test::small_config();
  cfg.kind = static_cast<uint32_t>(ChannelKind::Broadcast);
  test::TestChannel ch(cfg);
  BroadcastConsumer receiver(ch.memory, ch.heap);
  BroadcastProducer producer(ch.memory, ch.heap);
  const std::vector<uint8_t> bytes(100, 7);
  bool rang;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(producer.try_send(bytes.data(), 100, &rang), Status::Ok);  // the ring keeps ~40
  ProducerLine& line = ch.header().producer;
  const uint64_t oldest = ch.header().consumer.head.load(), version = line.single_sending.load();
  line.single_sending.store(version + 1);                              // "mid-publish"
  ch.header().consumer.head.store(line.tail.load() + cfg.capacity);  // past the tail
  int delivered = 0;
  EXPECT_EQ(receiver.drain(1000, [&](Message&) { ++delivered; }, &rang), Status::Corrupt);
  EXPECT_EQ(receiver.missed_total(), 0u);
  EXPECT_EQ(receiver.lag_events(), 0u);
  line.single_sending.store(version);
  ch.header().consumer.head.store(oldest);
  ASSERT_EQ(receiver.drain(1000, [&](Message&) { ++delivered; }, &rang), Status::Lagged);
  EXPECT_GT(receiver.missed(), 0u);
  EXPECT_EQ(receiver.drain(1000, [&](Message&) { ++delivered; }, &rang), Status::Ok);
  EXPECT_EQ(delivered + receiver.missed_total(), 100u);
}

// value_slot_fuzzer (regressions/value_slot_fuzzer/forged-pin-and-odd-seq): a pin
// word forged "held" (no pinned read runs) and the front buffer's seq forged odd
// ("being written", no writer writes) made every Watch read retry forever: the
// optimistic copy never settles and the pin is never free. It gives up with Corrupt
// after stall_bound_ns(), and reads again once the words are honest.
TEST(FuzzRegression, ForgedPinAndOddSeqFailAWatchReadInsteadOfSpinning) {
  ChannelConfig cfg;
  cfg.kind = static_cast<uint32_t>(ChannelKind::Watch);
  cfg.capacity = 64;
  test::TestChannel ch(cfg);
  ValueWriter writer(ch.memory);
  ValueReader reader(ch.memory);
  const uint8_t value[3] = {1, 2, 3};
  bool rang;
  ASSERT_EQ(writer.try_send(value, sizeof value, &rang), Status::Ok);
  ValueSlot slot(ch.memory);
  ValueBufferHeader& front = slot.buffer(value_word::index_of(slot.control().latest.load()));
  slot.pin().held.store(1);
  front.seq.fetch_add(1);  // odd
  std::vector<uint8_t> out;
  auto sink = [&](uint32_t length, uint8_t** to) {
    out.assign(length, 0);
    *to = out.data();
    return true;
  };
  EXPECT_EQ(reader.receive(sink), Status::Corrupt);
  EXPECT_EQ(reader.read_latest(sink), Status::Corrupt);
  slot.pin().held.store(0);
  front.seq.fetch_add(1);  // even again
  ASSERT_EQ(reader.receive(sink), Status::Ok);
  EXPECT_EQ(out, std::vector<uint8_t>(value, value + 3));
}

}  // namespace
}  // namespace ringport
