// Record decoding under hostile memory: a valid channel carries some valid traffic,
// then input bytes overwrite parts of its ring, header lines (positions, counters,
// state, mode), producer slots, slab descriptors and arena; then the consumer
// (drain, discard_all, ready) and the producers (try_send, poll_room, try_commit)
// run over what is left.
//
// Input: a config byte; a count and that many valid operations; a count and that many
// patches {region, offset, length, bytes}; then operations until the input ends.
#include "queue_driver.hpp"

namespace ringport::fuzz {
namespace {

enum class Region : uint8_t { Ring, HeaderLines, ProducerSlots, SlabMetas, Arena, Anywhere, Field, Record, kCount };

void patch(Channel& ch, Input& in) {
  const auto region = static_cast<Region>(in.u8() % static_cast<uint8_t>(Region::kCount));
  const Layout& l = ch.layout;
  uint64_t from = 0, size = ch.size();
  switch (region) {
    case Region::Ring: from = l.ring_offset, size = l.ring_bytes; break;
    case Region::HeaderLines: from = offsetof(Header, state), size = offsetof(Header, error) - from; break;
    case Region::ProducerSlots: from = offsetof(Header, producers), size = sizeof(ProducerSlots); break;
    case Region::SlabMetas: from = l.classes[0].meta_offset, size = l.classes[0].arena_offset - from; break;
    case Region::Arena: from = l.classes[0].arena_offset, size = ch.size() - from; break;
    case Region::Anywhere: break;
    case Region::Field: write_field(ch, in); return;
    case Region::Record: write_record(ch, in); return;
    case Region::kCount: return;
  }
  scribble(ch.base() + from, size, in);
}

}  // namespace

std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (uint8_t cfg = 0; cfg < kConfigs; ++cfg) {
    for (uint8_t region = 0; region < static_cast<uint8_t>(Region::kCount); ++region) {
      // Valid traffic that wraps the ring and leaves messages of each kind buffered,
      // some from a second producer (claim markers, multi mode).
      QueueScript s(cfg);
      s.u8(14);
      for (uint32_t i = 0; i < 6; ++i) s.send(0, 7, i * 700 + 1);
      s.drain(6).add_producer();
      for (uint8_t k = 0; k < 6; ++k) s.send(k & 1, k, 300);
      // One patch of this region (zero bytes: the fuzzer fills them in).
      s.u8(1).u8(region).u32(8).u8(7).u32(0).u32(0);
      // Then the consumer and a producer over it.
      s.drain(70).send(0, 3, 100).op(QueueOp::Ready).op(QueueOp::PollRoom).u8(1).u8(1).u8(8).op(QueueOp::DiscardAll);
      out.push_back(s.done());
    }
  }
  return out;
}

}  // namespace ringport::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringport::fuzz;
  Input in(data, size);
  Channel ch(config(in.u8()));
  QueueDriver driver(ch);
  for (uint8_t n = in.u8() % 48; n > 0; --n) driver.step(in, false);
  const uint8_t patches = in.u8() % 24;
  if (patches) driver.mark_hostile();
  for (uint8_t n = 0; n < patches; ++n) patch(ch, in);
  for (int steps = 0; steps < 500 && !in.empty(); ++steps) driver.step(in, false);
  return 0;
}
