// The queue as a state machine under attack: input-chosen operations (sends of every
// size class, drains, reserve/commit/abort, closes, producers joining and leaving,
// role claims) interleaved with input-chosen writes of hostile bytes anywhere in the
// shared memory, as a thread holding the handle may do at any moment.
//
// Input: a config byte, then operations (queue_driver.hpp's QueueOp and arguments).
#include "queue_driver.hpp"

namespace ringport::fuzz {

// Valid traffic: no scribbles, so the driver also checks the delivery contract.
std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (uint8_t cfg = 0; cfg < kConfigs; ++cfg) {
    // Laps of sends of every size kind and drains that hold some slabs for a while.
    QueueScript laps(cfg);
    for (uint32_t lap = 0; lap < 6; ++lap) {
      for (uint8_t kind = 0; kind < 8; ++kind) laps.send(0, kind, lap * 4099u + kind * 131u);
      laps.drain(5, 0x5).release_held(static_cast<uint8_t>(lap));
    }
    out.push_back(laps.done());

    // A second producer upgrades the channel; a zero-copy commit; producers leave
    // (one gone, one closed) and one joins again.
    QueueScript multi(cfg);
    multi.send(0, 1, 40).add_producer().send(1, 3, 3000).send(0, 2, 1);
    multi.reserve(4, 0x100).commit(1, 0, 100).drain(10);
    multi.end_producer(1, false).add_producer().send(1, 5, 10).end_producer(0, true);
    multi.drain(10).end_producer(1, true).drain(10);
    out.push_back(multi.done());

    // Closes: with an error, and by the receiver.
    QueueScript closes(cfg);
    closes.send(0, 1, 8).send(0, 3, 5000).op(QueueOp::CloseWithError).u8(20).u32(0x41414141).u32(0x42424242);
    closes.drain(3).send(0, 1, 9).op(QueueOp::ReceiverClose).send(0, 1, 9).drain(1);
    out.push_back(closes.done());
  }
  return out;
}

}  // namespace ringport::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringport::fuzz;
  Input in(data, size);
  Channel ch(config(in.u8()));
  QueueDriver driver(ch);
  for (int steps = 0; steps < 1000 && !in.empty(); ++steps) driver.step(in, true);
  return 0;
}
