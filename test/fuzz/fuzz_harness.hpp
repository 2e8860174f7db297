// What every libFuzzer target of the core shares: the byte encoding of fuzz inputs
// (read front to back, so seeds are easy to write), a valid channel in a buffer of
// exactly its size with poisoned gaps between its regions (ASan reports a byte touched
// outside them), scribbles of hostile bytes into it, and the seed list each target
// provides.
//
// Adding a target (a new channel kind, say): write test/fuzz/<name>_fuzzer.cc with
// LLVMFuzzerTestOneInput and ringport::fuzz::seeds() (valid inputs to start from).
// test/fuzz/CMakeLists.txt builds every *_fuzzer.cc and scripts/fuzz.js runs each.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include <sanitizer/asan_interface.h>

#include "layout.hpp"
#include "queue.hpp"

namespace ringport::fuzz {

using Bytes = std::vector<uint8_t>;

// Defined by each target: inputs that drive valid channels (the seed corpus).
std::vector<Bytes> seeds();

// A broken invariant that is not a memory error: report it like a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "ringport fuzz invariant broken: %s\n", what);
  std::abort();
}

// Reads a fuzz input front to back. Past the end every read yields zeros, so any
// input, however short, is a complete program.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

  bool empty() const { return p_ == end_; }
  uint8_t u8() { return p_ == end_ ? 0 : *p_++; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return u16() | (uint32_t{u16()} << 16); }
  uint64_t u64() { return u32() | (uint64_t{u32()} << 32); }
  // The next n bytes, fewer at the end.
  std::span<const uint8_t> take(size_t n) {
    const size_t k = n < static_cast<size_t>(end_ - p_) ? n : static_cast<size_t>(end_ - p_);
    std::span<const uint8_t> out(p_, k);
    p_ += k;
    return out;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// Writes inputs in Input's encoding (seeds).
class Writer {
 public:
  Writer& u8(uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  Writer& u16(uint16_t v) { return u8(static_cast<uint8_t>(v)).u8(static_cast<uint8_t>(v >> 8)); }
  Writer& u32(uint32_t v) { return u16(static_cast<uint16_t>(v)).u16(static_cast<uint16_t>(v >> 16)); }
  Writer& u64(uint64_t v) { return u32(static_cast<uint32_t>(v)).u32(static_cast<uint32_t>(v >> 32)); }
  Writer& bytes(const uint8_t* p, size_t n) {
    out_.insert(out_.end(), p, p + n);
    return *this;
  }
  Bytes done() const { return out_; }

 private:
  Bytes out_;
};

// Small geometries, so that a run wraps rings and empties pools in a few operations.
// Each is valid; the fuzzer picks one with a byte.
inline constexpr uint32_t kMaxMessage = 80 * 1024;
inline ChannelConfig config(uint8_t selector) {
  ChannelConfig c;
  c.max_message_size = kMaxMessage;
  switch (selector % 5) {
    case 0:  // the smallest ring (4 KiB), one class of 2 slabs
      c.capacity = 64;
      c.pool_slabs = 2;
      break;
    case 1:  // test_channel.hpp's small_config(): ring 8 KiB, 4 slabs of 4 KiB
      c.capacity = 4096;
      c.slab_size = 4096;
      break;
    case 2:  // two classes (4 and 32 KiB)
      c.capacity = 16384;
      c.pool_slabs = 2;
      c.slab_size = 4096;
      break;
    case 3:  // almost nothing inline: descriptors and slabs for all but tiny messages
      c.capacity = 4096;
      c.inline_max = 16;
      c.pool_slabs = 3;
      break;
    default:  // three classes, a small maximum message size
      c.capacity = 64 * 1024;
      c.slab_size = 4096;
      c.pool_slabs = 2;
      c.max_message_size = 40000;
      break;
  }
  return c;
}
inline constexpr uint8_t kConfigs = 5;

// The same geometries for a broadcast (whose slab descriptors carry reference counts).
inline ChannelConfig broadcast_config(uint8_t selector) {
  ChannelConfig c = config(selector);
  c.kind = static_cast<uint32_t>(ChannelKind::Broadcast);
  return c;
}

// Value slots (Watch, Mailbox) of a few capacities, odd ones included: a value fills
// its buffer's last word partly.
inline ChannelConfig value_config(ChannelKind kind, uint8_t selector) {
  constexpr uint64_t kCapacities[] = {1, 8, 13, 200, 4096};
  ChannelConfig c;
  c.kind = static_cast<uint32_t>(kind);
  c.capacity = kCapacities[selector % std::size(kCapacities)];
  return c;
}
inline constexpr uint8_t kValueConfigs = 5;

// Spaces the regions of a computed layout kRedZone bytes apart (header | ring or value
// slot | descriptors of each class, with a broadcast's reference words | arena of
// each class). The layout stays valid.
inline constexpr uint64_t kRedZone = 64;
inline Layout spaced(Layout l) {
  uint64_t at = kHeaderBytes + kRedZone;
  l.ring_offset = at;
  at += l.ring_bytes + kRedZone;
  for (uint32_t c = 0; c < l.class_count; ++c) {
    l.classes[c].meta_offset = at;
    at += uint64_t{l.classes[c].slab_count} * meta_bytes_per_slab(l.kind) + kRedZone;
  }
  for (uint32_t c = 0; c < l.class_count; ++c) {
    l.classes[c].arena_offset = at;
    at += uint64_t{l.classes[c].slab_count} * l.classes[c].slab_size + kRedZone;
  }
  l.total_bytes = at - kRedZone;  // past the end is ASan's own red zone
  return l;
}

// A formatted, attached channel in a heap buffer of exactly layout.total_bytes, so
// that ASan reports a byte touched past its end or before its start. With
// `red_zones`, the layout is spaced() and the gaps are poisoned: a step past the
// ring, a class's descriptors or its arena is reported too, although those bytes
// are inside the shared memory.
struct Channel {
  explicit Channel(const ChannelConfig& cfg, bool red_zones = true) {
    if (Layout::compute(cfg, &layout) != Status::Ok) fail("fuzz config does not compute");
    if (red_zones) layout = spaced(layout);
    buffer.assign(layout.total_bytes, 0);
    if (ChannelMemory::initialize(base(), size(), layout) != Status::Ok) fail("initialize");
    if (ChannelMemory::attach(base(), size(), &memory) != Status::Ok) fail("attach of a fresh channel");
    if (red_zones) poison_gaps();
  }
  ~Channel() { ASAN_UNPOISON_MEMORY_REGION(base(), size()); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  uint8_t* base() { return buffer.data(); }
  uint64_t size() const { return buffer.size(); }
  Header& header() { return memory.header(); }

  Layout layout;
  Bytes buffer;  // operator new: 16-byte aligned
  ChannelMemory memory;

 private:
  void poison_gaps() {
    uint64_t end = kHeaderBytes;  // of the region before the next gap
    auto next_region = [&](uint64_t from, uint64_t bytes) {
      ASAN_POISON_MEMORY_REGION(base() + end, from - end);
      end = from + bytes;
    };
    next_region(layout.ring_offset, layout.ring_bytes);
    for (uint32_t c = 0; c < layout.class_count; ++c) next_region(layout.classes[c].meta_offset, layout.classes[c].slab_count * meta_bytes_per_slab(layout.kind));
    for (uint32_t c = 0; c < layout.class_count; ++c) {
      next_region(layout.classes[c].arena_offset, uint64_t{layout.classes[c].slab_count} * layout.classes[c].slab_size);
    }
  }
};

// Copies `n` bytes out so that ASan checks the whole range (a few calls, not n).
inline void touch(const uint8_t* p, size_t n) {
  static uint8_t sink[64 * 1024];
  for (size_t done = 0; done < n; done += sizeof sink) std::memcpy(sink, p + done, n - done < sizeof sink ? n - done : sizeof sink);
}

// Writes input bytes at an input-chosen offset of the shared memory: what any thread
// holding the handle may do at any time.
inline void scribble(uint8_t* base, uint64_t size, Input& in) {
  const uint64_t at = in.u32() % size;
  const uint64_t want = 1 + in.u8() % 16;
  const std::span<const uint8_t> b = in.take(want < size - at ? want : size - at);
  for (size_t k = 0; k < b.size(); ++k) {
    if (!__asan_address_is_poisoned(base + at + k)) base[at + k] = b[k];  // a red zone is not shared memory
  }
}

// Offsets of the header words whose values steer control flow, so that the fuzzer
// reaches them without guessing offsets: {offset, width in bytes}.
struct Field {
  uint32_t offset;
  uint8_t width;
};
inline constexpr Field kHeaderFields[] = {
    {offsetof(Header, state) + offsetof(StateLine, state), 4},
    {offsetof(Header, state) + offsetof(StateLine, roles), 4},
    {offsetof(Header, state) + offsetof(StateLine, producer_mode), 4},
    {offsetof(Header, state) + offsetof(StateLine, senders_open), 4},
    {offsetof(Header, state) + offsetof(StateLine, senders_died), 4},
    {offsetof(Header, producer) + offsetof(ProducerLine, tail), 8},
    {offsetof(Header, producer) + offsetof(ProducerLine, messages), 8},
    {offsetof(Header, producer) + offsetof(ProducerLine, bytes), 8},
    {offsetof(Header, producer) + offsetof(ProducerLine, single_sending), 4},
    {offsetof(Header, consumer) + offsetof(ConsumerLine, head), 8},
    {offsetof(Header, consumer) + offsetof(ConsumerLine, messages), 8},
    {offsetof(Header, consumer) + offsetof(ConsumerLine, bytes), 8},
    {offsetof(Header, data_bell) + offsetof(DoorbellLine, sleepers), 4},
    {offsetof(Header, space_bell) + offsetof(DoorbellLine, sleepers), 4},
    {offsetof(Header, pool) + offsetof(PoolCounters, in_use), 8},
    {offsetof(Header, pool) + offsetof(PoolCounters, high_water), 8},
    {offsetof(Header, class_heads), 8},
    {offsetof(Header, class_heads) + sizeof(ClassHead), 8},
    {offsetof(Header, class_heads) + 2 * sizeof(ClassHead), 8},
    {offsetof(Header, error) + offsetof(ErrorArea, name_len), 4},
    {offsetof(Header, error) + offsetof(ErrorArea, message_len), 4},
    {offsetof(Header, error) + offsetof(ErrorArea, code_len), 4},
    {offsetof(Header, producers), 4},
    {offsetof(Header, producers) + 4, 4},
};

// Sets a header field to a value the input picks: absolute, a nudge of the current
// value (positions by a record or a ring), or an extreme.
inline void write_field(Channel& ch, Input& in) {
  const Field f = kHeaderFields[in.u8() % std::size(kHeaderFields)];
  uint8_t* p = ch.base() + f.offset;
  uint64_t v = 0;
  std::memcpy(&v, p, f.width);
  const uint8_t how = in.u8();
  switch (how % 5) {
    case 0: v = in.u8(); break;
    case 1: v += static_cast<int8_t>(in.u8()) * uint64_t{8}; break;
    case 2: v += (in.u8() % 4) * ch.layout.ring_bytes - ch.layout.ring_bytes; break;
    case 3: v = in.u64(); break;
    default: v = (how & 0x80) ? ~uint64_t{0} >> (in.u8() % 64) : uint64_t{1} << (in.u8() % 64); break;
  }
  std::memcpy(p, &v, f.width);
}

}  // namespace ringport::fuzz
