// Google Benchmark suite of the core, side by side with Boost.Lockfree spsc_queue and
// moodycamel ReaderWriterQueue when their headers are installed.
//
//   cmake -S . -B build-bench -DRINGPORT_ADDON=OFF -DRINGPORT_BENCH=ON -DCMAKE_BUILD_TYPE=Release
//   cmake --build build-bench -j2 && build-bench/ringport_core_bench
//
// Every library moves fixed-size records through the same three cases:
//   <lib>/push_pop/<bytes>      one record in and out again, on one thread
//   <lib>/batch1000/<bytes>     1000 records in with one call, then 1000 out, on one thread
//                               (per_record = time per record)
//   <lib>/two_threads/<bytes>   a producer and a consumer thread, pinned to CPUs 0 and 1,
//                               streaming records (items/s); unpinned runs vary by 50% here
// ringport_queue is the channel as the binding uses it (QueueProducer::try_send,
// QueueConsumer::drain: one record is one message); ringport_ring is the raw record
// ring (claim / publish / peek / consume). The queues hold 1024 records of 64 bytes:
// ringport_queue by its 64 KiB capacity; ringport_ring, which has no byte budget, is
// the same 128 KiB ring (1820 records of 64 bytes with their 8-byte headers).
// Waiting threads pause, and yield every 128th wait (a third runnable thread on a
// 2-core machine would otherwise stall a pure spin for whole time slices).
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include "queue.hpp"

#ifdef RINGPORT_HAVE_BOOST
#include <boost/lockfree/spsc_queue.hpp>
#endif
#ifdef RINGPORT_HAVE_RWQ
#include <readerwriterqueue/readerwriterqueue.h>
#endif

namespace ringport::bench {
namespace {

constexpr std::size_t kRecords = 1024;  // queue size, in records of 64 bytes
constexpr std::size_t kBatch = 1000;

// A record: its first 8 bytes carry a sequence number the two-thread case checks.
template <std::size_t N>
struct Record {
  static_assert(N >= 8);
  uint8_t bytes[N];

  void set_seq(uint64_t seq) { std::memcpy(bytes, &seq, 8); }
  uint64_t seq() const {
    uint64_t s;
    std::memcpy(&s, bytes, 8);
    return s;
  }
};

// Adapters: `try_push(record)`, `try_push_n(records, n)` (as many of `n` records as
// fit, returning how many: each library's batch call, or a loop where it has none) and
// `try_pop(out, max)` (up to `max` records into `out`, returning how many), each
// library used the way it is meant to be. Producer and consumer state sit on their own
// 128-byte ranges, as they would in two threads.

template <std::size_t N>
class RingportQueue {
 public:
  static constexpr const char* kName = "ringport_queue";

  RingportQueue() {
    ChannelConfig cfg;
    cfg.capacity = kRecords * 64;
    Layout::compute(cfg, &layout_);
    words_.assign(layout_.total_bytes / 8, 0);
    ChannelMemory::initialize(bytes(), layout_.total_bytes, layout_);
    ChannelMemory::attach(bytes(), layout_.total_bytes, &memory_);
    producer_ = std::make_unique<Aligned<QueueProducer>>(memory_, heap_);
    consumer_ = std::make_unique<Aligned<QueueConsumer>>(memory_, heap_);
  }

  bool try_push(const Record<N>& r) {
    bool rang;
    return producer_->value.try_send(r.bytes, N, &rang) == Status::Ok;
  }

  // QueueProducer::try_send_batch: one handshake and one doorbell check per batch.
  std::size_t try_push_n(const Record<N>* in, std::size_t n) {
    bool rang;
    uint32_t sent = 0;
    auto next = [&](uint32_t i, const uint8_t** data, uint32_t* len) {
      *data = in[i].bytes;
      *len = N;
    };
    producer_->value.try_send_batch(static_cast<uint32_t>(n), next, &sent, &rang);
    return sent;
  }

  std::size_t try_pop(Record<N>* out, std::size_t max) {
    bool rang;
    std::size_t n = 0;
    // Inline payloads are copied out inside the callback, as the binding does.
    consumer_->value.drain(max, [&](Message& m) { std::memcpy(out[n++].bytes, m.data, N); }, &rang);
    return n;
  }

 private:
  template <class T>
  struct alignas(kFalseSharingRange) Aligned {
    Aligned(ChannelMemory& memory, HeapTable& heap) : value(memory, heap) {}
    T value;
  };
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words_.data()); }

  std::vector<uint64_t> words_;
  Layout layout_;
  ChannelMemory memory_;
  HeapTable heap_;
  std::unique_ptr<Aligned<QueueProducer>> producer_;
  std::unique_ptr<Aligned<QueueConsumer>> consumer_;
};

template <std::size_t N>
class RingportRing {
 public:
  static constexpr const char* kName = "ringport_ring";
  static constexpr uint64_t kRingBytes = kRecords * 64 * 2;

  bool try_push(const Record<N>& r) {
    uint8_t* at;
    if (producer_.ring.claim(RecordType::Inline, N, &at) != Status::Ok) return false;
    std::memcpy(at, r.bytes, N);
    producer_.ring.publish();
    return true;
  }

  // Claims and writes each record, then publishes them with one store.
  std::size_t try_push_n(const Record<N>* in, std::size_t n) {
    std::size_t pushed = 0;
    uint8_t* at;
    for (; pushed < n && producer_.ring.claim(RecordType::Inline, N, &at) == Status::Ok; ++pushed) {
      std::memcpy(at, in[pushed].bytes, N);
    }
    producer_.ring.publish();
    return pushed;
  }

  // Consumes up to `max` records, then returns their space with one publish.
  std::size_t try_pop(Record<N>* out, std::size_t max) {
    std::size_t n = 0;
    RecordView v;
    while (n < max && consumer_.ring.peek(&v) == Status::Ok) {
      std::memcpy(out[n++].bytes, v.payload, N);
      consumer_.ring.consume();
    }
    consumer_.ring.publish(false);  // one producer: consumed space needs no zeroing
    return n;
  }

 private:
  std::vector<uint64_t> words_ = std::vector<uint64_t>(kRingBytes / 8);
  uint8_t* ring() { return reinterpret_cast<uint8_t*>(words_.data()); }
  ProducerLine producer_line_{};
  ConsumerLine consumer_line_{};
  struct alignas(kFalseSharingRange) {
    RingProducer ring;
  } producer_{{ring(), kRingBytes, producer_line_, consumer_line_}};
  struct alignas(kFalseSharingRange) {
    RingConsumer ring;
  } consumer_{{ring(), kRingBytes, producer_line_, consumer_line_}};
};

#ifdef RINGPORT_HAVE_BOOST
template <std::size_t N>
class BoostSpsc {
 public:
  static constexpr const char* kName = "boost_spsc";
  bool try_push(const Record<N>& r) { return queue_.push(r); }
  std::size_t try_push_n(const Record<N>* in, std::size_t n) { return queue_.push(in, n); }
  std::size_t try_pop(Record<N>* out, std::size_t max) { return queue_.pop(out, max); }

 private:
  boost::lockfree::spsc_queue<Record<N>> queue_{kRecords};
};
#endif

#ifdef RINGPORT_HAVE_RWQ
template <std::size_t N>
class MoodycamelRwq {
 public:
  static constexpr const char* kName = "moodycamel_rwq";
  bool try_push(const Record<N>& r) { return queue_.try_enqueue(r); }  // never allocates
  std::size_t try_push_n(const Record<N>* in, std::size_t n) {  // no bulk enqueue in this queue
    std::size_t pushed = 0;
    while (pushed < n && queue_.try_enqueue(in[pushed])) ++pushed;
    return pushed;
  }
  std::size_t try_pop(Record<N>* out, std::size_t max) {
    std::size_t n = 0;
    while (n < max && queue_.try_dequeue(out[n])) ++n;
    return n;
  }

 private:
  moodycamel::ReaderWriterQueue<Record<N>> queue_{kRecords};
};
#endif

// --- The cases ---

// Pause while spinning; every 128th wait yields the core instead.
class Backoff {
 public:
  void wait() {
    if (++spins_ % 128 == 0) {
      std::this_thread::yield();
    } else {
      cpu_relax();
    }
  }

 private:
  uint32_t spins_ = 0;
};

template <template <std::size_t> class Queue, std::size_t N>
void push_pop(benchmark::State& state) {
  auto q = std::make_unique<Queue<N>>();
  Record<N> in{}, out{};
  for (auto _ : state) {
    if (!q->try_push(in) || q->try_pop(&out, 1) != 1) {
      state.SkipWithError("queue misbehaved");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * N);
}

template <template <std::size_t> class Queue, std::size_t N>
void batch(benchmark::State& state) {
  auto q = std::make_unique<Queue<N>>();
  std::vector<Record<N>> in(kBatch), out(kBatch);
  auto round_trip = [&] {
    if (q->try_push_n(in.data(), kBatch) != kBatch) return false;
    for (std::size_t got = 0; got < kBatch;) {
      const std::size_t n = q->try_pop(out.data(), kBatch - got);
      if (n == 0) return false;
      got += n;
    }
    return true;
  };
  for (auto _ : state) {
    if (!round_trip()) {
      state.SkipWithError("the queue did not hold 1000 records");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * N);
  state.counters["per_record"] = benchmark::Counter(kBatch, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Pins the calling thread to `cpu` (if there is such a CPU); returns the mask it had.
cpu_set_t pin_to(int cpu) {
  cpu_set_t before, mask;
  pthread_getaffinity_np(pthread_self(), sizeof before, &before);
  CPU_ZERO(&mask);
  CPU_SET(cpu, &mask);
  if (CPU_ISSET(cpu, &before)) pthread_setaffinity_np(pthread_self(), sizeof mask, &mask);
  return before;
}

// One iteration streams 64 Ki records from this thread to a consumer thread and waits
// until the consumer has them all; both sides spin (pause) when full or empty. The
// consumer checks that sequence numbers arrive in order.
template <template <std::size_t> class Queue, std::size_t N>
void two_threads(benchmark::State& state) {
  constexpr uint64_t kPerIteration = 64 * 1024;
  auto q = std::make_unique<Queue<N>>();
  struct alignas(kFalseSharingRange) Progress {
    std::atomic<uint64_t> consumed{0};
    std::atomic<bool> stop{false};
    std::atomic<bool> out_of_order{false};
  } progress;
  const cpu_set_t affinity = pin_to(0);  // one core each: no migrations mid-run
  std::thread consumer([&] {
    pin_to(1);
    Record<N> out[64];
    uint64_t next = 0;
    Backoff backoff;
    while (!progress.stop.load(std::memory_order_relaxed)) {
      const std::size_t n = q->try_pop(out, 64);
      if (n == 0) {
        backoff.wait();
        continue;
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (out[i].seq() != next++) progress.out_of_order.store(true, std::memory_order_relaxed);
      }
      // release: the records were read before the producer sees them counted.
      progress.consumed.store(next, std::memory_order_release);
    }
  });
  Record<N> in{};
  uint64_t seq = 0;
  Backoff backoff;
  for (auto _ : state) {
    for (const uint64_t end = seq + kPerIteration; seq < end; ++seq) {
      in.set_seq(seq);
      while (!q->try_push(in)) backoff.wait();
    }
    // acquire: pairs with the consumer's release; the iteration ends when all arrived.
    while (progress.consumed.load(std::memory_order_acquire) < seq) backoff.wait();
  }
  progress.stop.store(true, std::memory_order_relaxed);
  consumer.join();
  pthread_setaffinity_np(pthread_self(), sizeof affinity, &affinity);
  if (progress.out_of_order.load()) state.SkipWithError("records arrived out of order");
  state.SetItemsProcessed(state.iterations() * kPerIteration);
  state.SetBytesProcessed(state.iterations() * kPerIteration * N);
}

template <template <std::size_t> class Queue>
void register_library() {
  const std::string name = Queue<64>::kName;
  benchmark::RegisterBenchmark((name + "/push_pop/64").c_str(), push_pop<Queue, 64>);
  benchmark::RegisterBenchmark((name + "/push_pop/8").c_str(), push_pop<Queue, 8>);
  benchmark::RegisterBenchmark((name + "/batch1000/64").c_str(), batch<Queue, 64>);
  benchmark::RegisterBenchmark((name + "/batch1000/8").c_str(), batch<Queue, 8>);
  benchmark::RegisterBenchmark((name + "/two_threads/8").c_str(), two_threads<Queue, 8>)->UseRealTime();
  benchmark::RegisterBenchmark((name + "/two_threads/64").c_str(), two_threads<Queue, 64>)->UseRealTime();
}

}  // namespace
}  // namespace ringport::bench

int main(int argc, char** argv) {
  using namespace ringport::bench;
  register_library<RingportQueue>();
  register_library<RingportRing>();
#ifdef RINGPORT_HAVE_BOOST
  register_library<BoostSpsc>();
#else
  std::fprintf(stderr, "Boost.Lockfree not found: its cases are skipped. Install: apt-get install libboost-dev, then re-run cmake.\n");
#endif
#ifdef RINGPORT_HAVE_RWQ
  register_library<MoodycamelRwq>();
#else
  std::fprintf(stderr, "moodycamel ReaderWriterQueue not found: its cases are skipped. Install: apt-get install libreaderwriterqueue-dev, then re-run cmake.\n");
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
