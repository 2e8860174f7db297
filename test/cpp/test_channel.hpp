// Helpers shared by the core's unit tests: a channel over a private std::vector
// buffer, deterministic payloads, and iteration counts scaled for sanitizer builds.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <ostream>
#include <vector>

#include <gtest/gtest.h>

#include "queue.hpp"

namespace ringport {

// Lets gtest print a Status by name.
inline void PrintTo(Status s, std::ostream* os) {
  static constexpr const char* kNames[] = {"Ok",           "Full",     "Empty",    "Closed",          "Errored",  "Disconnected",
                                           "TooLarge",     "Corrupt",  "TimedOut", "InvalidArgument", "RoleTaken",
                                           "Lagged"};
  const auto i = static_cast<std::size_t>(s);
  *os << (i < std::size(kNames) ? kNames[i] : "Status?");
}

}  // namespace ringport

namespace ringport::test {

// Sanitized builds run 5-20x slower: stress tests scale their counts down there.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// `normal` iterations, or `sanitized` under a sanitizer; RINGPORT_STRESS_SCALE
// (a positive number) multiplies either, for longer soak runs.
inline uint64_t stress_count(uint64_t normal, uint64_t sanitized) {
  uint64_t n = kSanitized ? sanitized : normal;
  if (const char* scale = std::getenv("RINGPORT_STRESS_SCALE")) {
    const double f = std::strtod(scale, nullptr);
    if (f > 0) n = static_cast<uint64_t>(static_cast<double>(n) * f);
  }
  return n;
}

// A small channel: capacity 4 KiB (ring 8 KiB, inline_max 1 KiB), one 4 KiB slab
// class of 4 slabs. Messages over 4 KiB take the heap fallback.
inline ChannelConfig small_config() {
  ChannelConfig cfg;
  cfg.capacity = 4096;
  cfg.slab_size = 4096;
  return cfg;
}

// The two-thread stress geometry: capacity 64 KiB, inline payloads up to 512 bytes,
// three slab classes (4, 32 and 256 KiB) of 8 slabs each, so that slabs run out now
// and then.
inline ChannelConfig stress_config() {
  ChannelConfig cfg;
  cfg.capacity = 64 * 1024;
  cfg.slab_size = 4096;
  cfg.pool_slabs = 8;
  cfg.inline_max = 512;
  return cfg;
}

// A formatted, attached channel over an 8-byte aligned vector. `misalign` shifts the
// base by one word so that it is 8- but not 16-aligned, as a SAB may be.
struct TestChannel {
  explicit TestChannel(const ChannelConfig& cfg = small_config(), bool misalign = false) {
    EXPECT_EQ(Layout::compute(cfg, &layout), Status::Ok);
    words.assign(layout.total_bytes / 8 + 1, 0);
    base = reinterpret_cast<uint8_t*>(words.data() + (misalign ? 1 : 0));
    EXPECT_EQ(ChannelMemory::initialize(base, layout.total_bytes, layout), Status::Ok);
    EXPECT_EQ(ChannelMemory::attach(base, layout.total_bytes, &memory), Status::Ok);
  }

  Header& header() { return memory.header(); }

  std::vector<uint64_t> words;
  uint8_t* base = nullptr;
  Layout layout;
  ChannelMemory memory;
  HeapTable heap;
};

// splitmix64: a cheap, well-mixed function of a sequence number.
inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Payload bytes that depend on the message's sequence number and their offset.
inline uint8_t payload_byte(uint64_t seq, uint64_t i) { return static_cast<uint8_t>(mix(seq) >> ((i & 7) * 8)) ^ static_cast<uint8_t>(i >> 3); }

inline void fill_payload(uint8_t* p, uint32_t len, uint64_t seq) {
  for (uint32_t i = 0; i < len; ++i) p[i] = payload_byte(seq, i);
}

inline bool payload_matches(const uint8_t* p, uint32_t len, uint64_t seq) {
  for (uint32_t i = 0; i < len; ++i) {
    if (p[i] != payload_byte(seq, i)) return false;
  }
  return true;
}

// Waits as a blocking sendSync/recvSync would: spin `spins` times, then flag the
// sleep, re-check, and sleep on the doorbell. A sleep that times out means no one
// rang for seconds while the other side kept working: a lost wake-up.
struct Waiter {
  template <class StillBlocked>
  void wait(Doorbell bell, StillBlocked&& still_blocked) {
    if (spun++ < spins) {
      cpu_relax();
      return;
    }
    spun = 0;
    const uint32_t epoch = bell.prepare_sleep();
    if (!still_blocked()) return;
    ++sleeps;
    if (bell.sleep(epoch, 5'000'000'000) == WaitResult::TimedOut) ++timeouts;
  }
  void reset() { spun = 0; }

  uint32_t spins;
  uint32_t spun = 0;
  uint64_t sleeps = 0;
  uint64_t timeouts = 0;
};

// A bound on a test's wait for the code under test. A bug that makes the awaited
// state never come (a lost message, a slab never returned) then fails the test by
// name with what it waited for, instead of spinning until ctest's TIMEOUT kills the
// whole binary. Generous: stress tests under TSan take seconds, never minutes.
class Patience {
 public:
  explicit Patience(const char* what, std::chrono::seconds bound = std::chrono::seconds(60))
      : what_(what), deadline_(std::chrono::steady_clock::now() + bound) {}

  // True while the bound has not passed (a clock read: ask where the loop waits or
  // yields, not per message). The first false also records the failure.
  bool ok() {
    if (gave_up_) return false;
    if (std::chrono::steady_clock::now() < deadline_) return true;
    gave_up_ = true;
    ADD_FAILURE() << "gave up waiting for " << what_;
    return false;
  }

 private:
  const char* what_;
  std::chrono::steady_clock::time_point deadline_;
  bool gave_up_ = false;
};

// More messages than any single-threaded unit test has ready at once. A drain loop
// past it is stuck (a consumer that never advances hands out the same message
// forever, and its vector grows until the machine runs out of memory): it stops.
inline constexpr std::size_t kMostMessages = 1 << 20;

// A consumer thread's loop: drains in batches of `max` and, when empty, waits on the
// data doorbell (spin, then sleep) until the stream ends; returns how it ended, or
// TimedOut (a failure) if it does not end within Patience's bound.
template <class Consumer, class OnMessage>
Status consume_until_end(Consumer& consumer, Waiter& wait, OnMessage&& on_message, std::size_t max = 64) {
  Patience patience("the end of the stream (consume_until_end)");
  for (;;) {
    bool rang;  // the core rang the producer's futex itself; no async waker in tests
    const Status s = consumer.drain(max, on_message, &rang);
    if (s == Status::Ok) {
      wait.reset();
      continue;
    }
    if (s != Status::Empty) return s;
    if (!patience.ok()) return Status::TimedOut;
    wait.wait(consumer.data_bell(), [&] { return !consumer.ready(); });
  }
}

inline std::vector<uint8_t> make_payload(uint32_t len, uint64_t seq) {
  std::vector<uint8_t> v(len);
  fill_payload(v.data(), len, seq);
  return v;
}

}  // namespace ringport::test
