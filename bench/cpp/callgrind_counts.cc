// Instructions per message of the core's single-thread cases, for callgrind: counts
// that repeat to the instruction on a shared machine, where timings vary by 30 %.
// The loops are those of core_bench.cc: `push_pop` (one message in and out) and
// `batch` (QueueProducer::try_send_batch of 1000, then QueueConsumer::drain until all
// 1000 are out), on a 64 KiB queue; `ring_*` the same on the raw record ring.
//
//   cmake --build build-bench --target ringport_callgrind_counts
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_*'
//            build-bench/ringport_callgrind_counts queue_push_pop 8 100000
//   callgrind_annotate callgrind.out.<pid> | grep 'PROGRAM TOTALS'   (÷ 100000)
// Sizes are 8 or 64 bytes, compile-time constants as in core_bench.cc's records (a
// copy of a run-time length calls memcpy, ~40 instructions more a message).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "queue.hpp"

namespace ringport::bench {
namespace {

struct Queue {
  Queue() {
    ChannelConfig cfg;
    cfg.capacity = 1024 * 64;
    Layout::compute(cfg, &layout);
    words.assign(layout.total_bytes / 8, 0);
    auto* base = reinterpret_cast<uint8_t*>(words.data());
    ChannelMemory::initialize(base, layout.total_bytes, layout);
    ChannelMemory::attach(base, layout.total_bytes, &memory);
    producer = std::make_unique<QueueProducer>(memory, heap);
    consumer = std::make_unique<QueueConsumer>(memory, heap);
  }
  std::vector<uint64_t> words;
  Layout layout;
  ChannelMemory memory;
  HeapTable heap;
  std::unique_ptr<QueueProducer> producer;
  std::unique_ptr<QueueConsumer> consumer;
};

// Messages of `n` bytes; `count` messages in all.
template <uint32_t n>
[[gnu::noinline]] void run_queue_push_pop(long count) {
  Queue q;
  std::vector<uint8_t> in(n), out(n);
  for (long i = 0; i < count; ++i) {
    bool rang;
    std::size_t got = 0;
    if (q.producer->try_send(in.data(), n, &rang) != Status::Ok) std::abort();
    q.consumer->drain(1, [&](Message& m) { std::memcpy(out.data(), m.data, n), ++got; }, &rang);
    if (got != 1) std::abort();
  }
}

template <uint32_t n>
[[gnu::noinline]] void run_queue_batch(long count) {
  Queue q;
  std::vector<uint8_t> in(1000 * n), out(1000 * n);
  for (long i = 0; i < count / 1000; ++i) {
    bool rang;
    uint32_t sent;
    q.producer->try_send_batch(1000, [&](uint32_t k, const uint8_t** d, uint32_t* l) { *d = &in[k * n], *l = n; }, &sent, &rang);
    if (sent != 1000) std::abort();
    for (std::size_t got = 0; got < 1000;) {
      const std::size_t before = got;
      q.consumer->drain(1000 - got, [&](Message& m) { std::memcpy(&out[got++ * n], m.data, n); }, &rang);
      if (got == before) std::abort();
    }
  }
}

// The raw ring, as core_bench.cc's RingportRing: claim, copy, publish; peek, copy, consume, publish.
template <uint32_t n>
[[gnu::noinline]] void run_ring(long count, uint32_t per_publish) {
  std::vector<uint64_t> words(1024 * 64 * 2 / 8);
  ProducerLine producer_line{};
  ConsumerLine consumer_line{};
  auto* ring = reinterpret_cast<uint8_t*>(words.data());
  RingProducer producer(ring, words.size() * 8, producer_line, consumer_line);
  RingConsumer consumer(ring, words.size() * 8, producer_line, consumer_line);
  std::vector<uint8_t> in(per_publish * n), out(per_publish * n);
  for (long i = 0; i < count / per_publish; ++i) {
    uint8_t* at;
    for (uint32_t k = 0; k < per_publish; ++k) {
      if (producer.claim(RecordType::Inline, n, &at) != Status::Ok) std::abort();
      std::memcpy(at, &in[k * n], n);
    }
    producer.publish();
    for (uint32_t k = 0; k < per_publish; ++k) {
      RecordView v;
      if (consumer.peek(&v) != Status::Ok) std::abort();
      std::memcpy(&out[k * n], v.payload, n);
      consumer.consume();
    }
    consumer.publish(false);
  }
}

template <uint32_t n>
bool run(std::string_view which, long count) {
  if (which == "queue_push_pop") {
    run_queue_push_pop<n>(count);
  } else if (which == "queue_batch") {
    run_queue_batch<n>(count);
  } else if (which == "ring_push_pop") {
    run_ring<n>(count, 1);
  } else if (which == "ring_batch") {
    run_ring<n>(count, 1000);
  } else {
    return false;
  }
  return true;
}

}  // namespace
}  // namespace ringport::bench

int main(int argc, char** argv) {
  using namespace ringport::bench;
  const std::string_view which = argc > 1 ? argv[1] : "";
  const std::string_view bytes = argc > 2 ? argv[2] : "8";
  const long count = argc > 3 ? std::atol(argv[3]) : 100000;
  const bool ran = count >= 1000 && (bytes == "8" ? run<8>(which, count) : bytes == "64" && run<64>(which, count));
  if (!ran) {
    std::fprintf(stderr, "usage: %s queue_push_pop|queue_batch|ring_push_pop|ring_batch [8|64] [messages >= 1000]\n", argv[0]);
    return 2;
  }
  return 0;
}
