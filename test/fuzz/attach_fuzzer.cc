// Header and layout validation: ChannelMemory::attach over a buffer whose first bytes
// (identity block, header lines) and whose length come from the input. Whatever it
// accepts must describe a ring (or value slot) and slab classes inside the buffer;
// then the ends of the kind it claims run over that geometry, touching every byte
// they are handed: a queue's consumer, producers and slab pool; a broadcast's
// producer and receivers; a Watch or Mailbox writer and readers.
//
// Input: a config byte (bits 5-6: the kind of the valid channel that fills the buffer
// first; 0 a queue, 1 a broadcast, 2 a Watch, 3 a Mailbox), the buffer length as a
// u32, then bytes that overwrite the buffer from offset 0.
#include "broadcast.hpp"
#include "fuzz_harness.hpp"
#include "value_slot.hpp"

namespace ringport::fuzz {
namespace {

constexpr uint32_t kMaxBuffer = 4u << 20;

// What the rest of the core relies on once attach() said Ok, restated independently.
void check_geometry(const Layout& l, uint64_t bytes) {
  auto inside = [&](uint64_t offset, uint64_t n) { return offset <= bytes && n <= bytes - offset; };
  if (!inside(l.ring_offset, l.ring_bytes) || l.ring_offset < kHeaderBytes) fail("ring outside the buffer");
  if (is_value_kind(l.kind)) {
    if (l.ring_bytes != value_region_bytes(l.capacity) || l.class_count != 0) fail("value slot geometry");
    return;
  }
  if (!is_pow2(l.ring_bytes)) fail("ring size");
  if (l.class_count == 0 || l.class_count > kMaxSlabClasses) fail("class count");
  for (uint32_t c = 0; c < l.class_count; ++c) {
    const SlabClassInfo& k = l.classes[c];
    if (!inside(k.meta_offset, uint64_t{k.slab_count} * meta_bytes_per_slab(l.kind))) fail("slab descriptors outside the buffer");
    if (!inside(k.arena_offset, uint64_t{k.slab_count} * k.slab_size)) fail("slab arena outside the buffer");
  }
}

// The valid channel a config byte names.
ChannelConfig valid_config(uint8_t selector) {
  switch ((selector >> 5) & 3) {
    case 0: return config(selector);
    case 1: return broadcast_config(selector);
    case 2: return value_config(ChannelKind::Watch, selector);
    default: return value_config(ChannelKind::Mailbox, selector);
  }
}

// Message sizes of every path a geometry has: empty, inline, each slab class, the heap.
std::vector<uint32_t> sizes_of(const Layout& l) {
  std::vector<uint32_t> sizes = {0, 8, l.inline_max, l.inline_max + 1};
  for (uint32_t c = 0; c < l.class_count; ++c) sizes.push_back(l.classes[c].slab_size);
  sizes.push_back(l.classes[l.class_count - 1].slab_size + 1);
  return sizes;
}
Bytes& payload() {
  static Bytes bytes(512 * 1024);
  return bytes;
}

// Runs each side of a queue once over an accepted (possibly odd) geometry.
void exercise_queue(ChannelMemory& memory) {
  const Layout& l = memory.layout();
  HeapTable heap;
  QueueProducer producer(memory, heap);
  bool rang;
  for (uint32_t len : sizes_of(l)) {
    if (len > payload().size()) continue;
    (void)producer.poll_room(len);
    (void)producer.try_send(payload().data(), len, &rang);
  }
  uint32_t ticket;
  if (memory.claim_producer(&ticket) == Status::Ok) {
    QueueProducer second(memory, heap, ticket);
    (void)second.try_send(payload().data(), 8, &rang);
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

// A broadcast: a receiver from the start and one that joins late, each draining
// everything (slab references dropped at once, or a few held across the next sends).
void exercise_broadcast(ChannelMemory& memory) {
  HeapTable heap;
  BroadcastConsumer early(memory, heap);
  BroadcastProducer producer(memory, heap);
  std::vector<Lease> held;
  bool rang;
  auto drain = [&](BroadcastConsumer& c) {
    (void)c.ready();
    for (int round = 0; round < 4; ++round) {
      (void)c.drain(
          1000,
          [&](Message& m) {
            touch(m.data, m.length);
            if (m.owner != Message::Owner::SharedSlab) return;
            if (held.size() < 4) {
              held.push_back(m.lease);
            } else {
              c.slabs().unref(m.lease);
            }
          },
          &rang);
    }
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t len : sizes_of(memory.layout())) {
      if (len <= payload().size()) (void)producer.try_send(payload().data(), len, &rang);
    }
    drain(early);
  }
  BroadcastConsumer late(memory, heap);
  (void)producer.try_send(payload().data(), 8, &rang);
  drain(late);
  for (const Lease& l : held) early.slabs().unref(l);
}

// A Watch or Mailbox: values of each length sent and read (optimistically, pinned,
// latest) or taken.
void exercise_value(ChannelMemory& memory) {
  ValueWriter writer(memory);
  ValueReader optimistic(memory), pinned(memory, 0);
  const ValueSlot slot(memory);
  Bytes value(slot.capacity());
  auto sink = [&](uint32_t length, uint8_t** to) {
    if (length > value.size()) fail("a value slot sink asked for more than the capacity");
    *to = value.data();
    return true;
  };
  bool rang;
  for (uint64_t len : {uint64_t{0}, uint64_t{1}, slot.capacity()}) {
    if (len > payload().size()) continue;
    (void)writer.try_send(payload().data(), static_cast<uint32_t>(len), &rang);
    (void)optimistic.receive(sink);
    (void)optimistic.read_latest(sink);
    (void)pinned.receive(sink);
    (void)pinned.ready();
    (void)slot.stats();
  }
}

void exercise(ChannelMemory& memory) {
  switch (static_cast<ChannelKind>(memory.layout().kind)) {
    case ChannelKind::Queue: exercise_queue(memory); break;
    case ChannelKind::Broadcast: exercise_broadcast(memory); break;
    case ChannelKind::Watch:
    case ChannelKind::Mailbox: exercise_value(memory); break;
  }
}

}  // namespace

// Valid channels of each kind and config, whole headers, at their exact size.
std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (uint8_t kind = 0; kind < 4; ++kind) {
    for (uint8_t cfg = 0; cfg < kConfigs; ++cfg) {
      const uint8_t selector = static_cast<uint8_t>(kind << 5 | cfg);
      Channel ch(valid_config(selector), false);
      Writer w;
      w.u8(selector).u32(static_cast<uint32_t>(ch.size())).bytes(ch.base(), kHeaderBytes);
      out.push_back(w.done());
    }
  }
  return out;
}

}  // namespace ringport::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringport;
  using namespace ringport::fuzz;
  Input in(data, size);
  Channel valid(valid_config(in.u8()), false);  // copied whole below: no poisoned gaps
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
