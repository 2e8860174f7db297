// Doorbell: the sleep flag, epochs, futex sleeps and wakes, and how the queue rings it.
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class DoorbellTest : public testing::Test {
 protected:
  // Blocks until the bell's sleeper flag is up, then a little longer, so that the
  // sleeping thread is (almost certainly) inside futex_wait.
  void wait_for_sleeper() {
    while (line_.sleepers.load() == 0) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);
  }

  DoorbellLine line_{};
  Doorbell bell_{line_};
};

TEST_F(DoorbellTest, RingIfSleepingDoesNothingWithoutASleeper) {
  EXPECT_FALSE(bell_.ring_if_sleeping());
  EXPECT_EQ(line_.epoch.load(), 0u) << "a busy stream makes no wake-ups";
}

TEST_F(DoorbellTest, PrepareSleepRaisesTheFlagAndOneRingTakesIt) {
  const uint32_t epoch = bell_.prepare_sleep();
  EXPECT_EQ(epoch, 0u);
  EXPECT_EQ(line_.sleepers.load(), 1u);
  EXPECT_TRUE(bell_.ring_if_sleeping());
  EXPECT_EQ(line_.sleepers.load(), 0u);
  EXPECT_EQ(line_.epoch.load(), epoch + 1);
  EXPECT_FALSE(bell_.ring_if_sleeping()) << "the flag is taken by the first ring";
  EXPECT_EQ(line_.epoch.load(), epoch + 1);
  EXPECT_EQ(bell_.prepare_sleep(), epoch + 1) << "the next sleep waits on the new epoch";
}

TEST_F(DoorbellTest, SleepOnAStaleEpochReturnsAtOnce) {
  const uint32_t epoch = bell_.prepare_sleep();
  bell_.ring_if_sleeping();  // the progress the sleeper missed
  const auto start = Clock::now();
  EXPECT_EQ(bell_.sleep(epoch, 5'000'000'000), WaitResult::Woken);
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_F(DoorbellTest, SleepWithATimeoutTimesOut) {
  const uint32_t epoch = bell_.prepare_sleep();
  const auto start = Clock::now();
  // Spurious wakes are allowed: sleep until the deadline as a caller would.
  const Deadline deadline(30'000'000);
  WaitResult r;
  do {
    r = bell_.sleep(epoch, deadline.remaining_ns());
  } while (r == WaitResult::Woken);
  EXPECT_GE(Clock::now() - start, 29ms);
  EXPECT_EQ(line_.sleepers.load(), 1u) << "a timed-out sleeper leaves its flag; the next ring clears it";
}

TEST_F(DoorbellTest, ZeroTimeoutDoesNotBlock) {
  const uint32_t epoch = bell_.prepare_sleep();
  EXPECT_EQ(bell_.sleep(epoch, 0), WaitResult::TimedOut);
}

TEST_F(DoorbellTest, FutexSleepIsWokenByAnotherThread) {
  std::atomic<bool> progress{false};
  std::atomic<int> timeouts{0};
  std::thread sleeper([&] {
    for (;;) {
      const uint32_t epoch = bell_.prepare_sleep();
      // acquire: pairs with the release store of `progress` below.
      if (progress.load(std::memory_order_acquire)) return;
      if (bell_.sleep(epoch, 10'000'000'000) == WaitResult::TimedOut) ++timeouts;
    }
  });
  wait_for_sleeper();
  const auto start = Clock::now();
  progress.store(true, std::memory_order_release);
  EXPECT_TRUE(bell_.ring_if_sleeping());
  sleeper.join();
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(timeouts.load(), 0);
}

TEST_F(DoorbellTest, UnconditionalRingWakesASleeper) {
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    const uint32_t epoch = line_.epoch.load();
    line_.sleepers.store(1);
    while (line_.epoch.load() == epoch) bell_.sleep(epoch, 10'000'000'000);
    woke = true;
  });
  wait_for_sleeper();
  bell_.ring();
  sleeper.join();
  EXPECT_TRUE(woke.load());
}

// --- The queue rings the bells ---

class QueueDoorbellTest : public testing::Test {
 protected:
  test::TestChannel ch_;
  QueueProducer producer_{ch_.memory, ch_.heap};
  QueueConsumer consumer_{ch_.memory, ch_.heap};
};

TEST_F(QueueDoorbellTest, SendRingsAConsumerThatFlaggedItSleeps) {
  Doorbell data = consumer_.data_bell();
  const uint32_t epoch = data.prepare_sleep();
  ASSERT_FALSE(consumer_.ready()) << "the re-check: still nothing";
  const uint8_t byte = 1;
  bool rang = false;
  ASSERT_EQ(producer_.try_send(&byte, 1, &rang), Status::Ok);
  EXPECT_TRUE(rang);
  EXPECT_EQ(data.sleep(epoch, 1'000'000'000), WaitResult::Woken) << "the epoch moved on";
  ASSERT_EQ(producer_.try_send(&byte, 1, &rang), Status::Ok);
  EXPECT_FALSE(rang) << "nobody sleeps now";
}

TEST_F(QueueDoorbellTest, DrainRingsAProducerThatFlaggedItSleeps) {
  const std::vector<uint8_t> data(4096);
  bool rang;
  ASSERT_EQ(producer_.try_send(data.data(), 4096, &rang), Status::Ok);
  ASSERT_EQ(producer_.try_send(data.data(), 1, &rang), Status::Full);
  Doorbell space = producer_.space_bell();
  space.prepare_sleep();
  ASSERT_EQ(producer_.poll_room(1), Status::Full) << "the re-check: still full";
  ASSERT_EQ(consumer_.drain(10, [&](Message& m) { consumer_.pool().release(m.lease); }, &rang), Status::Ok);
  EXPECT_TRUE(rang);
  EXPECT_EQ(producer_.poll_room(1), Status::Ok);
}

TEST_F(QueueDoorbellTest, CloseWakesASleepingConsumer) {
  std::atomic<Status> end{Status::Ok};
  std::thread receiver([&] {
    Doorbell bell = consumer_.data_bell();
    for (;;) {
      bool rang;
      const Status s = consumer_.drain(16, [](Message&) {}, &rang);
      if (s != Status::Empty) {
        end = s;
        return;
      }
      const uint32_t epoch = bell.prepare_sleep();
      if (consumer_.ready()) continue;
      bell.sleep(epoch, 10'000'000'000);
    }
  });
  while (ch_.header().data_bell.sleepers.load() == 0) std::this_thread::yield();
  std::this_thread::sleep_for(20ms);
  const auto start = Clock::now();
  ch_.memory.set_state(state_bits::kSenderClosed);
  receiver.join();
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(end.load(), Status::Closed);
}

// spin_until: the poll a receiver runs before it arms the doorbell.
TEST(SpinUntil, PollsOnceWhenDoneOrWithoutABudget) {
  int polls = 0;
  EXPECT_TRUE(spin_until(1'000'000'000, [&] { return ++polls > 0; }));
  EXPECT_EQ(polls, 1) << "done at the first poll: no pause, no clock";
  polls = 0;
  EXPECT_FALSE(spin_until(0, [&] { return ++polls > 1; }));
  EXPECT_EQ(polls, 1) << "budget 0: one poll";
}

TEST(SpinUntil, GivesUpWhenTheBudgetRunsOut) {
  int polls = 0;
  EXPECT_FALSE(spin_until(200'000, [&] { return ++polls < 0; }));
  EXPECT_GT(polls, 1);
}

TEST(SpinUntil, SeesAnotherThreadsProgress) {
  std::atomic<bool> progress{false};
  std::thread peer([&] {
    std::this_thread::sleep_for(1ms);
    // release: pairs with the acquire load in the poll.
    progress.store(true, std::memory_order_release);
  });
  // The budget (100 s) is far beyond the test's timeout: only the store can end it.
  EXPECT_TRUE(spin_until(100'000'000'000, [&] { return progress.load(std::memory_order_acquire); }));
  peer.join();
}

}  // namespace
}  // namespace ringport
