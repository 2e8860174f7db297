// The limit row of `npm run bench`: what this machine allows for the work every
// transport in the JS benchmark does. One thread copies each message from a source
// buffer into shared memory; another reads it there, one byte per 64-byte line and the
// last byte, as the JS receivers do (bench/js/touch.js). No validation, no pool, no
// wake-ups: two spinning threads over a ring of fixed-size slots, so ringport's paths
// can be given as a fraction of it.
//
//   g++ -O3 -DNDEBUG -std=c++20 -pthread bench/cpp/limit.cc -o build-bench/ringport_limit
//   build-bench/ringport_limit <bytes> [seconds=1]
//
// (bench/run.js builds and runs it.) Prints one JSON line: { size, ringBytes, messages,
// seconds, msgPerSec, bytesPerSec }: the best of three rings, 256 KiB, 1 MiB and 4 MiB
// (the capacity the JS cases get), each with at least 2 slots, each measured for a
// third of `seconds` after a warm-up. Which ring is fastest depends on the size and on
// the caches: a small ring stays in a core's cache, a large one lets the threads run
// further apart. A limit has to be the best the machine does, not one arbitrary setup
// (with a 4 MiB ring alone, a first quick run put ringport's autoRelease above it at 1 MiB).
//
// Design: slot i of `slots` carries message number n when n % slots == i. The producer
// owns `written`, the consumer owns `read`; each is a monotonic message count on its
// own 128-byte range, and each side caches the other's count, re-reading it only when
// the cached one says full or empty. Neither count ever moves backwards.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RINGPORT_LIMIT_PAUSE() _mm_pause()
#else
#define RINGPORT_LIMIT_PAUSE() std::this_thread::yield()
#endif

namespace {

constexpr std::size_t kRingSizes[] = {256 << 10, 1 << 20, 4 << 20};
constexpr std::size_t kMaxSize = (4 << 20) / 2;
constexpr std::size_t kLine = 64;
constexpr double kWarmupSeconds = 0.1;  // per ring; 0.3 s in all, as the JS cases' 0.2 s and their start

struct alignas(128) Counter {
  std::atomic<uint64_t> value{0};
};

struct Shared {
  Counter written;  // producer -> consumer: messages published
  Counter read;     // consumer -> producer: messages consumed
  Counter stop;     // main -> producer: 1 once the window has closed
};

// Spin with a pause; every 128th wait yields the core (a third runnable thread on a
// 2-core machine would otherwise stall a pure spin for a whole time slice).
void wait_a_little(uint32_t& spins) {
  if (++spins % 128 == 0) {
    std::this_thread::yield();
  } else {
    RINGPORT_LIMIT_PAUSE();
  }
}

// The JS receivers' read: one byte per line and the last one.
uint64_t touch(const uint8_t* bytes, std::size_t size) {
  uint64_t sum = bytes[size - 1];
  for (std::size_t i = 0; i < size; i += kLine) sum += bytes[i];
  return sum;
}

void produce(Shared& shared, uint8_t* ring, std::size_t slots, std::size_t size, const uint8_t* source) {
  uint64_t n = 0;
  uint64_t read_cached = 0;
  uint32_t spins = 0;
  // relaxed: the stop flag only ends the loop; the consumer learns the end from `written`.
  while (shared.stop.value.load(std::memory_order_relaxed) == 0) {
    while (n - read_cached == slots) {
      // acquire: pairs with the consumer's release; its reads of the slot are done.
      read_cached = shared.read.value.load(std::memory_order_acquire);
      if (n - read_cached == slots) wait_a_little(spins);
    }
    std::memcpy(ring + (n % slots) * size, source, size);
    // release: the copy is visible before the consumer sees the message counted.
    shared.written.value.store(++n, std::memory_order_release);
  }
  // The end of the stream: the count with its top bit set.
  shared.written.value.store(n | (uint64_t{1} << 63), std::memory_order_release);
}

struct Consumed {
  uint64_t messages = 0;
  uint64_t checksum = 0;
};

Consumed consume(Shared& shared, const uint8_t* ring, std::size_t slots, std::size_t size) {
  constexpr uint64_t kEnd = uint64_t{1} << 63;
  Consumed out;
  uint64_t written_cached = 0;
  uint32_t spins = 0;
  for (;;) {
    if (out.messages == (written_cached & ~kEnd)) {
      if (written_cached & kEnd) return out;
      // acquire: pairs with the producer's release; the slot's bytes are visible.
      written_cached = shared.written.value.load(std::memory_order_acquire);
      if (out.messages == (written_cached & ~kEnd) && !(written_cached & kEnd)) wait_a_little(spins);
      continue;
    }
    out.checksum += touch(ring + (out.messages % slots) * size, size);
    // release: the slot has been read before the producer may overwrite it.
    shared.read.value.store(++out.messages, std::memory_order_release);
  }
}

struct Measured {
  double msg_per_sec = 0;
  uint64_t messages = 0;
  double seconds = 0;
  bool bytes_ok = false;
};

// One ring of `slots` slots: a warm-up, then messages consumed per second over `seconds`.
Measured measure(std::size_t size, std::size_t slots, double seconds, const std::vector<uint8_t>& source) {
  auto ring = std::make_unique<uint8_t[]>(slots * size);
  Shared shared;
  Consumed consumed;
  std::thread consumer([&] { consumed = consume(shared, ring.get(), slots, size); });
  std::thread producer([&] { produce(shared, ring.get(), slots, size, source.data()); });
  using Clock = std::chrono::steady_clock;
  std::this_thread::sleep_for(std::chrono::duration<double>(kWarmupSeconds));
  // The window: messages consumed between two reads of the consumer's count.
  const auto start = Clock::now();
  const uint64_t window_start = shared.read.value.load(std::memory_order_relaxed);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const uint64_t window_end = shared.read.value.load(std::memory_order_relaxed);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  shared.stop.value.store(1, std::memory_order_relaxed);
  producer.join();
  consumer.join();
  Measured m;
  m.messages = window_end - window_start;
  m.seconds = elapsed;
  m.msg_per_sec = static_cast<double>(m.messages) / elapsed;
  m.bytes_ok = consumed.checksum == consumed.messages * touch(source.data(), size);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const long size_arg = argc > 1 ? std::atol(argv[1]) : 0;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (size_arg <= 0 || size_arg > long{kMaxSize} || !(seconds > 0)) {
    std::fprintf(stderr, "usage: %s <bytes, up to %zu> [seconds > 0]\n", argv[0], kMaxSize);
    return 2;
  }
  const auto size = static_cast<std::size_t>(size_arg);
  std::vector<uint8_t> source(size);
  for (std::size_t i = 0; i < size; ++i) source[i] = static_cast<uint8_t>(32 + (i * 37) % 95);  // bench/js/payload.js

  Measured best;
  std::size_t best_ring = 0;
  for (const std::size_t ring_bytes : kRingSizes) {
    const std::size_t slots = std::max<std::size_t>(2, ring_bytes / size);
    const Measured m = measure(size, slots, seconds / std::size(kRingSizes), source);
    if (!m.bytes_ok) {
      std::fprintf(stderr, "the bytes read are not the payload's (ring of %zu slots)\n", slots);
      return 1;
    }
    if (m.msg_per_sec > best.msg_per_sec) best = m, best_ring = slots * size;
  }
  std::printf("{\"size\":%zu,\"ringBytes\":%zu,\"messages\":%llu,\"seconds\":%.6f,\"msgPerSec\":%.1f,\"bytesPerSec\":%.1f}\n", size, best_ring,
              static_cast<unsigned long long>(best.messages), best.seconds, best.msg_per_sec, best.msg_per_sec * static_cast<double>(size));
  return 0;
}
