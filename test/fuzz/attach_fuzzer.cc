// Header and layout validation: ChannelMemory::attach over a buffer whose first bytes
// (identity block, header lines) and whose length come from the input. Whatever it
// accepts must describe a ring and slab classes inside the buffer; then a consumer, a
// producer and the slab pool run over that geometry, touching every byte they are
// handed.
//
// Input: a config byte (a valid channel fills the buffer first), the buffer length as
// a u32, then bytes that overwrite the buffer from offset 0.
#include "fuzz_harness.hpp"

namespace ringport::fuzz {
namespace {

constexpr uint32_t kMaxBuffer = 4u << 20;

// What the rest of the core relies on once attach() said Ok, restated independently.
void check_geometry(const Layout& l, uint64_t bytes) {
  auto inside = [&](uint64_t offset, uint64_t n) { return offset <= bytes && n <= bytes - offset; };
  if (!inside(l.ring_offset, l.ring_bytes) || l.ring_offset < kHeaderBytes || !is_pow2(l.ring_bytes)) fail("ring outside the buffer");
  if (l.class_count == 0 || l.class_count > kMaxSlabClasses) fail("class count");
  for (uint32_t c = 0; c < l.class_count; ++c) {
    const SlabClassInfo& k = l.classes[c];
    if (!inside(k.meta_offset, uint64_t{k.slab_count} * sizeof(SlabMeta))) fail("slab descriptors outside the buffer");
    if (!inside(k.arena_offset, uint64_t{k.slab_count} * k.slab_size)) fail("slab arena outside the buffer");
  }
}

// Runs each side once over an accepted (possibly odd) geometry.
void exercise(ChannelMemory& memory) {
  const Layout& l = memory.layout();
  HeapTable heap;
  static Bytes payload(512 * 1024);
  std::vector<uint32_t> sizes = {0, 8, l.inline_max, l.inline_max + 1};
  for (uint32_t c = 0; c < l.class_count; ++c) sizes.push_back(l.classes[c].slab_size);
  sizes.push_back(l.classes[l.class_count - 1].slab_size + 1);

  QueueProducer producer(memory, heap);
  bool rang;
  for (uint32_t len : sizes) {
    if (len > payload.size()) continue;
    (void)producer.poll_room(len);
    (void)producer.try_send(payload.data(), len, &rang);
  }
  uint32_t ticket;
  if (memory.claim_producer(&ticket) == Status::Ok) {
    QueueProducer second(memory, heap, ticket);
    (void)second.try_send(payload.data(), 8, &rang);
    memory.release_producer(ticket);
  }

  QueueConsumer consumer(memory, heap);
  (void)consumer.ready();
  (void)consumer.drain(
      1000,
      [&](Message& m) {
        touch(m.data, m.length);
        if (m.owner == Message::Owner::Slab) consumer.pool().release(m.lease);
      },
      &rang);
  consumer.discard_all();

  SlabPool& pool = consumer.pool();
  std::vector<Lease> leases;
  Lease lease;
  for (uint32_t c = 0; c < l.class_count; ++c) {
    for (int i = 0; i < 8 && pool.acquire(c, &lease) == Status::Ok; ++i) {
      touch(pool.data(lease), pool.slab_size(c));
      leases.push_back(lease);
    }
  }
  for (const Lease& x : leases) pool.release(x);

  std::string_view name, message, code;
  if (memory.read_error(&name, &message, &code)) touch(reinterpret_cast<const uint8_t*>(message.data()), message.size());
}

}  // namespace

// Valid channels of each config, whole headers, at their exact size.
std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (uint8_t cfg = 0; cfg < kConfigs; ++cfg) {
    Channel ch(config(cfg), false);
    Writer w;
    w.u8(cfg).u32(static_cast<uint32_t>(ch.size())).bytes(ch.base(), kHeaderBytes);
    out.push_back(w.done());
  }
  return out;
}

}  // namespace ringport::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringport;
  using namespace ringport::fuzz;
  Input in(data, size);
  Channel valid(config(in.u8()), false);  // copied whole below: no poisoned gaps
  const uint32_t bytes = in.u32() % kMaxBuffer;
  Bytes buffer(bytes);
  if (bytes) std::memcpy(buffer.data(), valid.base(), bytes < valid.size() ? bytes : valid.size());
  const std::span<const uint8_t> header = in.take(bytes);
  if (!header.empty()) std::memcpy(buffer.data(), header.data(), header.size());

  ChannelMemory memory;
  if (ChannelMemory::attach(buffer.data(), bytes, &memory) != Status::Ok) return 0;
  check_geometry(memory.layout(), bytes);
  exercise(memory);
  return 0;
}
