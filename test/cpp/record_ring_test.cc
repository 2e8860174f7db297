// RecordRing: the raw claim/publish/peek/consume protocol on one thread, and the
// consumer's and producer's defences against corrupt positions and headers.
#include <algorithm>
#include <deque>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "record_ring.hpp"
#include "test_channel.hpp"

namespace ringport {
namespace {

constexpr uint64_t kRingBytes = 4096;

class RecordRingTest : public testing::Test {
 protected:
  // Writes one record of `len` payload bytes derived from `seq`, and publishes it.
  Status push(uint32_t len, uint64_t seq = 0, RecordType type = RecordType::Inline) {
    uint8_t* at = nullptr;
    const Status s = producer_.claim(type, len, &at);
    if (s != Status::Ok) return s;
    test::fill_payload(at, len, seq);
    producer_.publish();
    return s;
  }

  // Reads, checks and consumes one record; returns its length.
  uint32_t pop(uint64_t seq = 0) {
    RecordView r{};
    EXPECT_EQ(consumer_.peek(&r), Status::Ok);
    EXPECT_TRUE(test::payload_matches(r.payload, r.length, seq)) << "seq " << seq;
    consumer_.consume();
    consumer_.publish(false);
    return r.length;
  }

  RecordHeader header_at(uint64_t offset) const {
    RecordHeader h;
    std::memcpy(&h, ring() + offset, sizeof h);
    return h;
  }
  void set_header_at(uint64_t offset, uint32_t length, uint32_t type) {
    const RecordHeader h{length, type};
    std::memcpy(ring() + offset, &h, sizeof h);
  }

  // Moves both sides to `position` by pushing and popping records: the ring is empty
  // there, and the next claim starts at that offset.
  void advance_to(uint64_t position) {
    while (producer_.published() < position) {
      const uint64_t left = position - producer_.published();
      ASSERT_EQ(push(static_cast<uint32_t>(std::min<uint64_t>(left, 512) - sizeof(RecordHeader))), Status::Ok);
      pop();
    }
    ASSERT_EQ(producer_.published(), position);
  }

  uint8_t* ring() const { return reinterpret_cast<uint8_t*>(const_cast<uint64_t*>(memory_.data())); }

  // consume_run() over a ring whose record at ring offset `corrupt` is damaged: it
  // accepts only the records before it, each within the published bytes and the
  // ring, and leaves the damaged one to peek(), which reports Corrupt.
  void expect_run_stops_at(uint64_t corrupt) {
    RingConsumer consumer(ring(), kRingBytes, producer_line_, consumer_line_);
    const uint64_t start = consumer_line_.head.load(), tail = producer_line_.tail.load();
    uint64_t accepted = 0;
    const std::size_t n = consumer.consume_run(100, [&](RecordView r) {
      const uint64_t offset = static_cast<uint64_t>(r.payload - ring()) - sizeof(RecordHeader);
      const uint64_t end = offset + record_size(r.length);
      const uint64_t position = start + accepted;  // the records before it were whole
      if (end > kRingBytes || position + (end - offset) > tail || offset == corrupt) {
        ADD_FAILURE() << "accepted a record of " << r.length << " bytes at offset " << offset;
        return false;  // stop here: copying it would read out of bounds
      }
      accepted += end - offset;
      return true;
    });
    EXPECT_EQ((start + accepted) & (kRingBytes - 1), corrupt) << n << " records accepted";
    RecordView r{};
    EXPECT_EQ(consumer.peek(&r), Status::Corrupt);
  }

  std::vector<uint64_t> memory_ = std::vector<uint64_t>(kRingBytes / 8);
  ProducerLine producer_line_{};
  ConsumerLine consumer_line_{};
  RingProducer producer_{ring(), kRingBytes, producer_line_, consumer_line_};
  RingConsumer consumer_{ring(), kRingBytes, producer_line_, consumer_line_};
};

TEST_F(RecordRingTest, EmptyRingPeeksEmpty) {
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Empty);
  EXPECT_FALSE(consumer_.publish(false)) << "nothing consumed, nothing to release";
}

TEST_F(RecordRingTest, RoundTripOfOneRecord) {
  ASSERT_EQ(push(100, 7, RecordType::Slab), Status::Ok);
  EXPECT_EQ(producer_line_.tail.load(), record_size(100));
  RecordView r{};
  ASSERT_EQ(consumer_.peek(&r), Status::Ok);
  EXPECT_EQ(r.type, RecordType::Slab);
  EXPECT_EQ(r.length, 100u);
  EXPECT_EQ(r.payload, ring() + sizeof(RecordHeader));
  EXPECT_TRUE(test::payload_matches(r.payload, 100, 7));
  consumer_.consume();
  EXPECT_EQ(consumer_.peek(&r), Status::Empty);
  EXPECT_TRUE(consumer_.publish(false));
  EXPECT_EQ(consumer_line_.head.load(), record_size(100));
}

TEST_F(RecordRingTest, ClaimedRecordsAreInvisibleUntilPublished) {
  uint8_t* at;
  ASSERT_EQ(producer_.claim(RecordType::Inline, 8, &at), Status::Ok);
  ASSERT_EQ(producer_.claim(RecordType::Inline, 16, &at), Status::Ok);
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Empty);
  producer_.publish();  // one publish for both claims
  ASSERT_EQ(consumer_.peek(&r), Status::Ok);
  EXPECT_EQ(r.length, 8u);
  consumer_.consume();
  ASSERT_EQ(consumer_.peek(&r), Status::Ok);
  EXPECT_EQ(r.length, 16u);
}

TEST_F(RecordRingTest, PeekWithoutConsumeReturnsTheSameRecord) {
  ASSERT_EQ(push(24, 1), Status::Ok);
  RecordView a{}, b{};
  ASSERT_EQ(consumer_.peek(&a), Status::Ok);
  ASSERT_EQ(consumer_.peek(&b), Status::Ok);
  EXPECT_EQ(a.payload, b.payload);
}

TEST_F(RecordRingTest, ZeroLengthRecord) {
  ASSERT_EQ(push(0), Status::Ok);
  EXPECT_EQ(producer_.published(), sizeof(RecordHeader));
  EXPECT_EQ(pop(), 0u);
}

TEST_F(RecordRingTest, RecordsAreEightByteAligned) {
  for (uint32_t len : {1u, 7u, 8u, 9u, 15u}) {
    const uint64_t before = producer_.published();
    ASSERT_EQ(push(len, len), Status::Ok);
    EXPECT_EQ(producer_.published() - before, align_up(sizeof(RecordHeader) + len, 8));
    EXPECT_EQ(pop(len), len);
  }
}

TEST_F(RecordRingTest, FullRingUsesEveryByte) {
  for (int i = 0; i < 64; ++i) ASSERT_EQ(push(56, i), Status::Ok);  // 64 records of 64 bytes
  EXPECT_EQ(producer_line_.tail.load() - consumer_line_.head.load(), kRingBytes) << "no spare slot";
  EXPECT_EQ(push(0), Status::Full);
  EXPECT_EQ(producer_.has_room(0), Status::Full);
  EXPECT_EQ(pop(0), 56u);
  EXPECT_EQ(producer_.has_room(56), Status::Ok);
  EXPECT_EQ(producer_.has_room(57), Status::Full);
  ASSERT_EQ(push(56, 64), Status::Ok);
  for (int i = 1; i <= 64; ++i) EXPECT_EQ(pop(i), 56u);
}

TEST_F(RecordRingTest, OneRecordAsLargeAsTheRing) {
  ASSERT_EQ(push(kRingBytes - sizeof(RecordHeader), 5), Status::Ok);
  EXPECT_EQ(push(0), Status::Full);
  EXPECT_EQ(pop(5), kRingBytes - sizeof(RecordHeader));
}

TEST_F(RecordRingTest, RecordLargerThanTheRingIsTooLarge) {
  uint8_t* at = nullptr;
  const uint32_t len = kRingBytes - sizeof(RecordHeader) + 1;
  EXPECT_EQ(producer_.claim(RecordType::Inline, len, &at), Status::TooLarge);
  EXPECT_EQ(producer_.has_room(len), Status::TooLarge);
  EXPECT_EQ(producer_.claim(RecordType::Inline, UINT32_MAX, &at), Status::TooLarge);
  EXPECT_EQ(at, nullptr);
  EXPECT_EQ(push(16), Status::Ok) << "a refused claim leaves the ring usable";
}

// Full means "wait for the consumer". A record that needs a padding record plus
// itself, more than the whole ring, could never fit at this position however far the
// consumer advances: it must be TooLarge, or a caller waiting on Full hangs forever.
TEST_F(RecordRingTest, RecordThatCannotFitAfterTheWrapIsTooLargeNotFull) {
  advance_to(kRingBytes - 64);
  uint8_t* at = nullptr;
  const uint32_t len = kRingBytes - 32;  // fits the ring, but not after 64 bytes of padding
  EXPECT_EQ(producer_.claim(RecordType::Inline, len, &at), Status::TooLarge);
  EXPECT_EQ(producer_.has_room(len), Status::TooLarge);
  EXPECT_EQ(producer_line_.tail.load(), kRingBytes - 64) << "nothing claimed";
  ASSERT_EQ(push(kRingBytes / 2 - sizeof(RecordHeader), 9), Status::Ok) << "half the ring always fits";
  EXPECT_EQ(pop(9), kRingBytes / 2 - sizeof(RecordHeader));
}

TEST_F(RecordRingTest, WrapWritesAPaddingRecordThatTheConsumerSkips) {
  advance_to(kRingBytes - 96);
  ASSERT_EQ(push(200, 11), Status::Ok);
  const RecordHeader pad = header_at(kRingBytes - 96);
  EXPECT_EQ(pad.type, static_cast<uint32_t>(RecordType::Padding));
  EXPECT_EQ(record_size(pad.length), 96u);
  EXPECT_EQ(header_at(0).length, 200u);
  EXPECT_EQ(producer_.published(), kRingBytes + record_size(200)) << "padding counts as used";
  RecordView r{};
  ASSERT_EQ(consumer_.peek(&r), Status::Ok);
  EXPECT_EQ(r.payload, ring() + sizeof(RecordHeader)) << "record starts at offset 0";
  EXPECT_EQ(pop(11), 200u);
  EXPECT_EQ(consumer_line_.head.load(), producer_line_.tail.load());
}

TEST_F(RecordRingTest, FullAfterWrapWithAPaddingRecord) {
  advance_to(kRingBytes - 96);
  // 96 bytes of padding + 208 for the first record, then fill the rest exactly.
  ASSERT_EQ(push(200, 1), Status::Ok);
  const uint64_t left = kRingBytes - (producer_line_.tail.load() - consumer_line_.head.load());
  ASSERT_EQ(left, kRingBytes - 96 - 208);
  ASSERT_EQ(push(static_cast<uint32_t>(left - sizeof(RecordHeader)), 2), Status::Ok);
  EXPECT_EQ(push(0), Status::Full);
  // Popping frees the padding and the first record: 96 bytes before the end, 208 after.
  EXPECT_EQ(pop(1), 200u);
  EXPECT_EQ(producer_.published() % kRingBytes, kRingBytes - 96) << "the next claim wraps again";
  EXPECT_EQ(producer_.has_room(88), Status::Ok) << "fits before the end";
  EXPECT_EQ(producer_.has_room(200), Status::Ok) << "96 of padding + 208";
  EXPECT_EQ(producer_.has_room(201), Status::Full);
  EXPECT_EQ(pop(2), left - sizeof(RecordHeader));
}

// 200 bytes are free, 56 of them before the end: a 160-byte record fits in the free
// space but not after the 56 bytes of padding it needs.
TEST_F(RecordRingTest, FullWhenThePaddingTakesTheRoom) {
  advance_to(144);
  ASSERT_EQ(push(3888, 1), Status::Ok);  // 144 .. 4040
  EXPECT_EQ(push(152), Status::Full);
  EXPECT_EQ(producer_.has_room(136), Status::Ok) << "56 + 144 = 200";
  EXPECT_EQ(producer_.has_room(137), Status::Full);
  EXPECT_EQ(pop(1), 3888u);
  ASSERT_EQ(push(152, 2), Status::Ok);
  EXPECT_EQ(header_at(kRingBytes - 56).type, static_cast<uint32_t>(RecordType::Padding));
  EXPECT_EQ(pop(2), 152u);
}

TEST_F(RecordRingTest, ManyWrapsAgainstAModelFifo) {
  std::mt19937_64 rng(1);
  std::deque<std::pair<uint64_t, uint32_t>> model;  // (seq, length)
  uint64_t next_seq = 0;
  for (int step = 0; step < 200000; ++step) {
    if (rng() % 2) {
      const uint32_t len = static_cast<uint32_t>(rng() % 700);
      const Status s = push(len, next_seq);
      ASSERT_TRUE(s == Status::Ok || s == Status::Full);
      if (s == Status::Ok) model.emplace_back(next_seq++, len);
    } else if (!model.empty()) {
      const auto [seq, len] = model.front();
      model.pop_front();
      ASSERT_EQ(pop(seq), len);
    } else {
      RecordView r{};
      ASSERT_EQ(consumer_.peek(&r), Status::Empty);
    }
  }
  EXPECT_GT(producer_.published(), 100 * kRingBytes);
}

// --- Corrupt shared values: always a status, never an out-of-bounds access. ---

TEST_F(RecordRingTest, TailBeyondARingAheadIsCorrupt) {
  ASSERT_EQ(push(8), Status::Ok);
  producer_line_.tail.store(kRingBytes + 8);
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Corrupt);
}

TEST_F(RecordRingTest, TailBehindHeadIsCorrupt) {
  advance_to(512);
  producer_line_.tail.store(256);
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Corrupt);
}

TEST_F(RecordRingTest, MisalignedTailIsCorrupt) {
  producer_line_.tail.store(12);
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Corrupt);
}

TEST_F(RecordRingTest, HeaderLengthPastTheTailIsCorrupt) {
  ASSERT_EQ(push(16), Status::Ok);
  set_header_at(0, 64, static_cast<uint32_t>(RecordType::Inline));
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Corrupt);
}

TEST_F(RecordRingTest, HeaderLengthPastTheRingEndIsCorrupt) {
  for (int i = 0; i < 64; ++i) ASSERT_EQ(push(56), Status::Ok);  // a full ring: tail - head = 4096
  for (uint32_t len : {uint32_t{kRingBytes}, uint32_t{kRingBytes} - 7, UINT32_MAX, UINT32_MAX - 7}) {
    set_header_at(0, len, static_cast<uint32_t>(RecordType::Inline));
    RecordView r{};
    EXPECT_EQ(consumer_.peek(&r), Status::Corrupt) << len;
  }
}

// consume_run() (the drain path) checks record sizes itself: it stops before a corrupt
// record without handing it out, consuming nothing of it, and peek() then reports it.
// `accept` fails the test if it is given a record that is not wholly published.
TEST_F(RecordRingTest, ConsumeRunStopsBeforeAHeaderLengthPastTheTail) {
  ASSERT_EQ(push(16, 1), Status::Ok);
  ASSERT_EQ(push(16, 2), Status::Ok);  // 24 bytes at offset 24; the tail is 48
  set_header_at(24, 64, static_cast<uint32_t>(RecordType::Inline));
  expect_run_stops_at(24);
}

TEST_F(RecordRingTest, ConsumeRunStopsBeforeAHeaderLengthPastTheRingEnd) {
  advance_to(kRingBytes - 64);
  ASSERT_EQ(push(56, 1), Status::Ok);  // the last 64 bytes of the ring
  ASSERT_EQ(push(2040, 2), Status::Ok);  // wraps: the tail is past the ring's end
  for (uint32_t len : {uint32_t{64}, uint32_t{kRingBytes}, UINT32_MAX - 7}) {
    set_header_at(kRingBytes - 64, len, static_cast<uint32_t>(RecordType::Inline));
    expect_run_stops_at(kRingBytes - 64);
  }
}

TEST_F(RecordRingTest, UnknownRecordTypeIsCorrupt) {
  ASSERT_EQ(push(16), Status::Ok);
  for (uint32_t type : {0u, 5u, 0xffffffffu}) {
    set_header_at(0, 16, type);
    RecordView r{};
    EXPECT_EQ(consumer_.peek(&r), Status::Corrupt) << type;
  }
}

TEST_F(RecordRingTest, PaddingThatDoesNotReachTheEndIsCorrupt) {
  ASSERT_EQ(push(120), Status::Ok);
  set_header_at(0, 120, static_cast<uint32_t>(RecordType::Padding));
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Corrupt);
}

TEST_F(RecordRingTest, PaddingPastTheTailIsCorrupt) {
  advance_to(kRingBytes - 96);
  ASSERT_EQ(push(8), Status::Ok);  // 16 bytes published at 4000
  set_header_at(kRingBytes - 96, 88, static_cast<uint32_t>(RecordType::Padding));  // reaches the end, past the tail
  RecordView r{};
  EXPECT_EQ(consumer_.peek(&r), Status::Corrupt);
}

TEST_F(RecordRingTest, HeadAheadOfTailIsCorruptForTheProducer) {
  for (int i = 0; i < 64; ++i) ASSERT_EQ(push(56), Status::Ok);  // full: the next claim re-reads head
  consumer_line_.head.store(kRingBytes + 64);
  EXPECT_EQ(push(8), Status::Corrupt);
  EXPECT_EQ(producer_.has_room(8), Status::Corrupt);
}

TEST_F(RecordRingTest, HeadMoreThanARingBehindIsCorruptForTheProducer) {
  advance_to(2 * kRingBytes);
  for (int i = 0; i < 64; ++i) ASSERT_EQ(push(56), Status::Ok);
  consumer_line_.head.store(kRingBytes - 64);
  EXPECT_EQ(push(8), Status::Corrupt);
}

TEST_F(RecordRingTest, MisalignedHeadIsCorruptForTheProducer) {
  for (int i = 0; i < 64; ++i) ASSERT_EQ(push(56), Status::Ok);
  consumer_line_.head.store(68);
  EXPECT_EQ(push(8), Status::Corrupt);
}

TEST_F(RecordRingTest, MisalignedStartingPositionsAreIgnored) {
  producer_line_.tail.store(13);
  consumer_line_.head.store(13);
  RingProducer producer(ring(), kRingBytes, producer_line_, consumer_line_);
  RingConsumer consumer(ring(), kRingBytes, producer_line_, consumer_line_);
  uint8_t* at = nullptr;
  ASSERT_EQ(producer.claim(RecordType::Inline, 8, &at), Status::Ok);
  EXPECT_EQ(at, ring() + sizeof(RecordHeader)) << "restarts at 0";
  producer.publish();
  RecordView r{};
  EXPECT_EQ(consumer.peek(&r), Status::Ok);
}

}  // namespace
}  // namespace ringport
