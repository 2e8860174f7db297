// The shared-memory format of a channel: one SharedArrayBuffer holds a header, the
// record ring, the slab descriptors and the slab arena (a queue), or a header and a
// value slot (Watch and Mailbox, value_slot.hpp; no slab pool).
//
//   0        512      640      768      896      1024     1152     1280     1792  3840   4096
//   +--------+--------+--------+--------+--------+--------+--------+--------+-----+------+
//   |identity| state  |producer|consumer|data    |space   |pool    | class  |error|prod- |
//   |(init   | flags, | tail,  | head,  |doorbell|doorbell|counters| heads  |area |ucer  |
//   | only)  | roles, | counts,| taken, |        |        |        |        |     |slots |
//   |        | mode   | drops, | counts,|        |        |        |        |     |      |
//   |        |        | busy   | busy   |        |        |        |        |     |      |
//   +--------+--------+--------+--------+--------+--------+--------+--------+-----+------+
//   4096: ring (ring_bytes, power of two) | slab descriptors | arena (page aligned)
//
// Every line written by one side only sits on its own 128-byte range (the producer
// line is shared by all producers once a channel has several: queue.hpp). The identity
// block is written once by the creating thread; an attaching thread copies it into a
// native `Layout`, validates it, and never reads it again: everything the shared
// memory says later is checked against that private copy (the shared memory is
// untrusted input).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "platform.hpp"
#include "status.hpp"

namespace ringport {

inline constexpr uint32_t kMagic = 0x54525052;  // "RPRT" little-endian
// 2: records are committed by their header word and consumed space is zeroed (many
// producers, record_ring.hpp); producer mode and slots.
// 3: the overflow policy in the identity block (drop-oldest channels: `taken`, drop
// counters); consumed space is zeroed only once a channel leaves single mode (the
// consumer's `releasing` flag).
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr uint32_t kMaxSlabClasses = 4;
inline constexpr std::size_t kHeaderBytes = 4096;
inline constexpr std::size_t kErrorAreaBytes = 2048;
inline constexpr uint64_t kMinCapacity = 64;
inline constexpr uint64_t kMaxCapacity = uint64_t{1} << 30;
inline constexpr uint64_t kMinRingBytes = 4096;
inline constexpr uint32_t kDefaultSlabSize = 16 * 1024;
inline constexpr uint32_t kMinSlabSize = 4096;
inline constexpr uint32_t kMaxSlabCount = 1u << 20;
// Payloads up to this size travel inline in the ring and are copied out on receive;
// larger ones go to a slab and reach JS zero-copy (an external buffer costs ~1.75 us).
inline constexpr uint32_t kDefaultInlineMax = 4096;
// Default slabs per class: enough for this many capacities of the class's slab size.
// One capacity is what the ring may hold if every message filled its slab; messages
// are smaller than their slab (a class takes sizes down to an eighth of its slab), and
// a receiver holds what it pulled besides. Measured (docs/performance.md): with 1, a
// 2 M-message soak of mixed sizes fell back to the heap 6.8 k times; with 2, none.
inline constexpr uint64_t kDefaultPoolCapacities = 2;

// What the shared memory holds. Every kind shares Header and the slab pool; the region
// at ring_offset is the kind's own (a record ring, a broadcast ring, a value slot).
enum class ChannelKind : uint32_t { Queue = 1, Broadcast = 2, Watch = 3, Mailbox = 4 };
inline constexpr bool is_known_kind(uint32_t kind) noexcept { return kind >= 1 && kind <= 4; }
// Kinds whose region at ring_offset is a value slot rather than a ring.
inline constexpr bool is_value_kind(uint32_t kind) noexcept {
  return kind == static_cast<uint32_t>(ChannelKind::Watch) || kind == static_cast<uint32_t>(ChannelKind::Mailbox);
}

// What a send does when the channel is full: report Full (the caller waits, rejects or
// buffers: JS's 'block', 'reject', 'grow'), or drop the oldest unread messages until it
// fits (JS's 'dropOldest'; queue.hpp). A drop-oldest channel has one producer.
enum class Overflow : uint32_t { Refuse = 0, DropOldest = 1 };

// State bits, set once with fetch_or and never cleared.
namespace state_bits {
inline constexpr uint32_t kSenderClosed = 1u << 0;    // graceful close: drain, then end
inline constexpr uint32_t kSenderErrored = 1u << 1;   // closeWithError: drop, then reject
inline constexpr uint32_t kSenderGone = 1u << 2;      // producer thread died or was collected
inline constexpr uint32_t kReceiverClosed = 1u << 3;  // receiver.close()
inline constexpr uint32_t kReceiverGone = 1u << 4;    // receiver thread died or was collected
inline constexpr uint32_t kReceiverEnded = kReceiverClosed | kReceiverGone;
}  // namespace state_bits

namespace role_bits {
inline constexpr uint32_t kSender = 1u << 0;
inline constexpr uint32_t kReceiver = 1u << 1;
}  // namespace role_bits

// StateLine::producer_mode. Only ever moves forward: Single -> Upgrading -> Clearing
// -> Multi (queue.hpp describes the protocol).
namespace producer_mode {
inline constexpr uint32_t kSingle = 0;     // the first producer publishes with plain stores of tail
inline constexpr uint32_t kUpgrading = 1;  // a second producer asked; waiting for the first producer and the consumer to be quiescent
inline constexpr uint32_t kClearing = 2;   // one producer zeroes the free space that single mode left dirty
inline constexpr uint32_t kMulti = 3;      // every producer claims with a CAS on tail and commits headers
}  // namespace producer_mode

// Producer slots: slot 0 belongs to the channel's first producer (role_bits::kSender);
// ChannelMemory::claim_producer() hands out 1..kMaxProducers-1. A slot word is
// (generation << 1) | live; a ticket names one tenure of a slot: (generation << 8) | index.
// Generations are 16 bits, as record headers carry them (record_ring.hpp).
inline constexpr uint32_t kMaxProducers = 64;
inline constexpr uint32_t kGenerationMask = 0xffff;
inline constexpr uint32_t make_ticket(uint32_t index, uint32_t generation) noexcept { return ((generation & kGenerationMask) << 8) | index; }
inline constexpr uint32_t ticket_index(uint32_t ticket) noexcept { return ticket & 0xff; }
inline constexpr uint32_t ticket_generation(uint32_t ticket) noexcept { return (ticket >> 8) & kGenerationMask; }
inline constexpr uint32_t kFirstProducerTicket = make_ticket(0, 1);  // live from initialize() on

// One size class of the slab pool, as the identity block stores it.
struct SlabClassInfo {
  uint32_t slab_size;
  uint32_t slab_count;
  uint64_t meta_offset;   // SlabMeta[slab_count]
  uint64_t arena_offset;  // slab_count * slab_size bytes
};
static_assert(sizeof(SlabClassInfo) == 24);

// Written once at creation; copied and validated by every attaching thread.
struct IdentityBlock {
  uint32_t magic;
  uint32_t version;
  uint32_t kind;
  uint32_t options;  // opaque to the core: JS-level choices (backpressure mode ...)
  uint64_t total_bytes;
  uint64_t capacity;
  uint64_t max_message_size;
  uint64_t ring_offset;
  uint64_t ring_bytes;
  uint32_t inline_max;
  uint32_t class_count;
  SlabClassInfo classes[kMaxSlabClasses];
  uint32_t overflow;  // Overflow
  uint32_t pad;       // 0: the size stays a multiple of 8 without implicit padding
};
static_assert(sizeof(IdentityBlock) == 168 && offsetof(IdentityBlock, overflow) == 160);  // no implicit padding

// The lines below keep their distance with explicit padding, not alignas: a
// SharedArrayBuffer's data is only 8-byte aligned (16 in practice), so a struct
// demanding 128 or 512 would be placed misaligned, which is undefined behaviour
// (UBSan reports it). Nothing in Header needs more than 8-byte alignment.
// Read by every send; written only by closes, role claims and the one-way mode change.
struct StateLine {
  std::atomic<uint32_t> state;          // state_bits
  std::atomic<uint32_t> roles;          // role_bits claimed so far
  std::atomic<uint32_t> producer_mode;  // producer_mode
  std::atomic<uint32_t> senders_open;   // Sender endpoints created and not yet ended
  std::atomic<uint32_t> senders_died;   // 1 once any sender ended without close()
  uint8_t pad[kFalseSharingRange - 20];
};

struct ProducerLine {
  // Single mode: the end of what the first producer published; only it stores tail.
  // Multi mode: the end of what producers claimed (CAS); headers say what is committed.
  std::atomic<uint64_t> tail;
  std::atomic<uint64_t> messages;
  std::atomic<uint64_t> bytes;  // multi mode: includes bytes reserved by sends in progress
  std::atomic<uint64_t> dropped;        // drop-oldest: messages dropped unread
  std::atomic<uint64_t> dropped_bytes;  // drop-oldest: their payload bytes
  std::atomic<uint32_t> single_sending;  // 1 while the first producer is inside a single-mode send
  uint8_t pad[kFalseSharingRange - 44];
};

struct ConsumerLine {
  // Space before head is free for producers. The consumer alone stores it, except in a
  // drop-oldest channel, where the owner of the record at head (the consumer, or the
  // producer that dropped it) releases it, in ring order (record_ring.hpp).
  std::atomic<uint64_t> head;
  std::atomic<uint64_t> messages;
  std::atomic<uint64_t> bytes;
  std::atomic<uint64_t> lagged;  // broadcast: times a receiver fell behind and skipped messages
  // Drop-oldest only: records before `taken` belong to the consumer or were dropped;
  // the consumer and the producer both move it by CAS (record_ring.hpp).
  std::atomic<uint64_t> taken;
  std::atomic<uint32_t> releasing;  // 1 while the consumer decides whether to zero and releases (queue.hpp)
  uint8_t pad[kFalseSharingRange - 44];
};

// A sleeper flag plus an epoch to futex-wait on (see doorbell.hpp).
struct DoorbellLine {
  std::atomic<uint32_t> sleepers;
  std::atomic<uint32_t> epoch;
  uint8_t pad[kFalseSharingRange - 8];
};

struct PoolCounters {
  std::atomic<int64_t> in_use;      // slabs leased now
  std::atomic<int64_t> high_water;  // most slabs ever leased at once
  std::atomic<uint64_t> fallbacks;  // sends that fell back to a heap block
  uint8_t pad[kFalseSharingRange - 24];
};

// Free-list head of one size class: (tag << 32) | (index + 1); 0 is empty.
struct ClassHead {
  std::atomic<uint64_t> top;
  uint8_t pad[kFalseSharingRange - 8];
};
static_assert(sizeof(StateLine) == kFalseSharingRange && sizeof(ProducerLine) == kFalseSharingRange &&
              sizeof(ConsumerLine) == kFalseSharingRange && sizeof(DoorbellLine) == kFalseSharingRange &&
              sizeof(PoolCounters) == kFalseSharingRange && sizeof(ClassHead) == kFalseSharingRange);

// Bytes of per-slab metadata: a SlabMeta, and for a broadcast also a reference-count
// word (broadcast.hpp), stored as SlabMeta[count] then uint64_t[count].
inline constexpr uint64_t meta_bytes_per_slab(uint32_t kind) noexcept {
  return kind == static_cast<uint32_t>(ChannelKind::Broadcast) ? 16 : 8;
}

// Per-slab descriptor. `lease` is (generation << 1) | leased; a lease names the
// generation it was handed out with, so a second release of it finds a newer
// generation and does nothing.
struct SlabMeta {
  std::atomic<uint32_t> next;   // index + 1 of the next free slab; 0 ends the list
  std::atomic<uint32_t> lease;
};
static_assert(sizeof(SlabMeta) == 8);

// closeWithError(): the error's name, message and code as UTF-8, truncated to fit.
struct ErrorArea {
  uint32_t name_len;
  uint32_t message_len;
  uint32_t code_len;
  uint32_t reserved;
  char text[kErrorAreaBytes - 16];
};
static_assert(sizeof(ErrorArea) == kErrorAreaBytes);

// Written when producers join and leave; read by the consumer only when a claim is stuck.
struct ProducerSlots {
  std::atomic<uint32_t> slot[kMaxProducers];  // (generation << 1) | live
};
static_assert(sizeof(ProducerSlots) == 256);

struct Header {
  IdentityBlock identity;
  uint8_t identity_pad[512 - sizeof(IdentityBlock)];
  StateLine state;
  ProducerLine producer;
  ConsumerLine consumer;
  DoorbellLine data_bell;   // the consumer sleeps here waiting for records
  DoorbellLine space_bell;  // the producer sleeps here waiting for room
  PoolCounters pool;
  ClassHead class_heads[kMaxSlabClasses];
  ErrorArea error;
  ProducerSlots producers;
};

// Offset table: this is the wire format; a change here is a layout version bump.
static_assert(offsetof(Header, identity) == 0);
static_assert(offsetof(Header, state) == 512);
static_assert(offsetof(Header, producer) == 640);
static_assert(offsetof(Header, consumer) == 768);
static_assert(offsetof(Header, data_bell) == 896);
static_assert(offsetof(Header, space_bell) == 1024);
static_assert(offsetof(Header, pool) == 1152);
static_assert(offsetof(Header, class_heads) == 1280);
static_assert(offsetof(Header, error) == 1792);
static_assert(offsetof(Header, producers) == 3840);
static_assert(offsetof(Header, state) + offsetof(StateLine, producer_mode) == 520);
static_assert(offsetof(Header, producer) + offsetof(ProducerLine, dropped) == 664);
static_assert(offsetof(Header, producer) + offsetof(ProducerLine, single_sending) == 680);
static_assert(offsetof(Header, consumer) + offsetof(ConsumerLine, taken) == 800);
static_assert(offsetof(Header, consumer) + offsetof(ConsumerLine, releasing) == 808);
static_assert(sizeof(Header) <= kHeaderBytes && alignof(Header) == 8);
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);

// What a user asks for; zero fields take defaults.
struct ChannelConfig {
  uint64_t capacity = 1 << 20;
  uint64_t max_message_size = uint64_t{1} << 30;
  uint32_t slab_size = 0;   // smallest slab class; 0: kDefaultSlabSize
  uint32_t pool_slabs = 0;  // slabs per class; 0: kDefaultPoolCapacities x `capacity` bytes per class (at least 4)
  uint32_t inline_max = kDefaultInlineMax;
  uint32_t options = 0;
  uint32_t kind = static_cast<uint32_t>(ChannelKind::Queue);
  Overflow overflow = Overflow::Refuse;
};

inline constexpr uint64_t round_up_pow2(uint64_t v) noexcept {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}
inline constexpr uint64_t align_up(uint64_t v, uint64_t a) noexcept { return (v + a - 1) & ~(a - 1); }
inline constexpr bool is_pow2(uint64_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

// Value slot geometry (value_slot.hpp has the structs): two control lines, then
// kValueBuffers buffers, each a 32-byte header and `capacity` bytes rounded up to 8,
// starting 64 bytes apart.
inline constexpr uint32_t kValueBuffers = 3;
inline constexpr uint64_t kValueControlBytes = 2 * kFalseSharingRange;
inline constexpr uint64_t kValueBufferHeaderBytes = 32;
inline constexpr uint64_t value_buffer_stride(uint64_t capacity) noexcept {
  return align_up(kValueBufferHeaderBytes + align_up(capacity, 8), 64);
}
inline constexpr uint64_t value_region_bytes(uint64_t capacity) noexcept {
  return kValueControlBytes + kValueBuffers * value_buffer_stride(capacity);
}

// The private, validated copy of a channel's geometry.
struct Layout {
  uint64_t total_bytes = 0;
  uint64_t capacity = 0;
  uint64_t max_message_size = 0;
  uint64_t ring_offset = 0;
  uint64_t ring_bytes = 0;
  uint32_t inline_max = 0;
  uint32_t class_count = 0;
  uint32_t kind = 0;
  uint32_t options = 0;
  Overflow overflow = Overflow::Refuse;
  SlabClassInfo classes[kMaxSlabClasses] = {};

  bool drops_oldest() const noexcept { return overflow == Overflow::DropOldest; }

  uint64_t slab_count() const noexcept {
    uint64_t n = 0;
    for (uint32_t c = 0; c < class_count; ++c) n += classes[c].slab_count;
    return n;
  }

  // Geometry for `cfg`, by kind (compute_queue, compute_value).
  static Status compute(const ChannelConfig& cfg, Layout* out) noexcept {
    if (!is_known_kind(cfg.kind)) return Status::InvalidArgument;
    if (cfg.capacity < 1 || cfg.capacity > kMaxCapacity) return Status::InvalidArgument;
    return is_value_kind(cfg.kind) ? compute_value(cfg, out) : compute_queue(cfg, out);
  }

  // A value slot: `capacity` is the largest value, exactly (not rounded), and the
  // only size limit; no ring, no slab pool.
  static Status compute_value(const ChannelConfig& cfg, Layout* out) noexcept {
    Layout l;
    l.kind = cfg.kind;
    l.options = cfg.options;
    l.capacity = cfg.capacity;
    l.max_message_size = cfg.capacity;
    l.ring_offset = kHeaderBytes;
    l.ring_bytes = value_region_bytes(cfg.capacity);
    l.total_bytes = l.ring_offset + l.ring_bytes;
    *out = l;
    return Status::Ok;
  }

  // Capacity rounded up to a power of two, a ring of twice that (so record headers
  // do not eat into the payload budget), and slab classes growing 8x from slab_size
  // until one holds a whole `capacity`.
  static Status compute_queue(const ChannelConfig& cfg, Layout* out) noexcept {
    if (cfg.max_message_size < 1 || cfg.max_message_size > UINT32_MAX) return Status::InvalidArgument;
    if (cfg.overflow != Overflow::Refuse && cfg.overflow != Overflow::DropOldest) return Status::InvalidArgument;
    Layout l;
    l.kind = cfg.kind;
    l.options = cfg.options;
    l.overflow = cfg.overflow;
    l.capacity = round_up_pow2(cfg.capacity < kMinCapacity ? kMinCapacity : cfg.capacity);
    l.max_message_size = cfg.max_message_size;
    l.ring_offset = kHeaderBytes;
    l.ring_bytes = l.capacity * 2 < kMinRingBytes ? kMinRingBytes : l.capacity * 2;
    l.inline_max = static_cast<uint32_t>(cfg.inline_max < l.ring_bytes / 8 ? cfg.inline_max : l.ring_bytes / 8) & ~7u;

    uint64_t slab = round_up_pow2(cfg.slab_size ? cfg.slab_size : kDefaultSlabSize);
    if (slab < kMinSlabSize) slab = kMinSlabSize;
    if (slab > (uint64_t{1} << 30)) return Status::InvalidArgument;
    uint64_t offset = l.ring_offset + l.ring_bytes;
    for (uint32_t c = 0; c < kMaxSlabClasses; ++c) {
      uint64_t count = cfg.pool_slabs;
      if (count == 0) count = kDefaultPoolCapacities * l.capacity / slab < 4 ? 4 : kDefaultPoolCapacities * l.capacity / slab;
      if (count > kMaxSlabCount) return Status::InvalidArgument;
      l.classes[c].slab_size = static_cast<uint32_t>(slab);
      l.classes[c].slab_count = static_cast<uint32_t>(count);
      l.classes[c].meta_offset = offset;
      offset += align_up(count * meta_bytes_per_slab(l.kind), 64);
      l.class_count = c + 1;
      if (slab >= l.capacity || slab << 3 > (uint64_t{1} << 30)) break;
      slab <<= 3;
    }
    offset = align_up(offset, 4096);
    for (uint32_t c = 0; c < l.class_count; ++c) {
      l.classes[c].arena_offset = offset;
      offset += uint64_t{l.classes[c].slab_count} * l.classes[c].slab_size;
    }
    l.total_bytes = offset;
    *out = l;
    return Status::Ok;
  }

  // Checks a layout read from untrusted memory against the buffer it came from.
  Status validate(uint64_t buffer_bytes) const noexcept {
    if (!is_known_kind(kind)) return Status::Corrupt;
    if (overflow != Overflow::Refuse && overflow != Overflow::DropOldest) return Status::Corrupt;
    if (total_bytes == 0 || total_bytes > buffer_bytes) return Status::Corrupt;
    // Each offset is checked against total_bytes before anything is added to it: a
    // hostile offset near 2^64 would otherwise wrap around the end checks.
    if (ring_offset < kHeaderBytes || ring_offset % 8 != 0 || ring_offset > total_bytes) return Status::Corrupt;
    return is_value_kind(kind) ? validate_value() : validate_queue();
  }

  // Exactly the geometry compute_value() makes for this capacity.
  Status validate_value() const noexcept {
    if (capacity < 1 || capacity > kMaxCapacity || max_message_size != capacity) return Status::Corrupt;
    if (ring_bytes != value_region_bytes(capacity) || ring_bytes > total_bytes - ring_offset) return Status::Corrupt;
    if (inline_max != 0 || class_count != 0) return Status::Corrupt;
    return Status::Ok;
  }

  Status validate_queue() const noexcept {
    if (!is_pow2(capacity) || capacity > kMaxCapacity) return Status::Corrupt;
    if (max_message_size == 0 || max_message_size > UINT32_MAX) return Status::Corrupt;
    if (!is_pow2(ring_bytes) || ring_bytes < kMinRingBytes || ring_bytes > total_bytes - ring_offset) return Status::Corrupt;
    if (inline_max % 8 != 0 || inline_max > ring_bytes / 8) return Status::Corrupt;
    if (class_count == 0 || class_count > kMaxSlabClasses) return Status::Corrupt;
    uint64_t ring_end = ring_offset + ring_bytes;
    for (uint32_t c = 0; c < class_count; ++c) {
      const SlabClassInfo& k = classes[c];
      if (!is_pow2(k.slab_size) || k.slab_size < kMinSlabSize) return Status::Corrupt;
      if (c > 0 && k.slab_size <= classes[c - 1].slab_size) return Status::Corrupt;
      if (k.slab_count == 0 || k.slab_count > kMaxSlabCount) return Status::Corrupt;
      if (k.meta_offset < ring_end || k.meta_offset % 8 != 0 || k.meta_offset > total_bytes) return Status::Corrupt;
      if (uint64_t{k.slab_count} * meta_bytes_per_slab(kind) > total_bytes - k.meta_offset) return Status::Corrupt;
      if (k.arena_offset < ring_end || k.arena_offset % 8 != 0 || k.arena_offset > total_bytes) return Status::Corrupt;
      if (uint64_t{k.slab_count} * k.slab_size > total_bytes - k.arena_offset) return Status::Corrupt;
    }
    return Status::Ok;
  }

  static Layout from_identity(const IdentityBlock& id) noexcept {
    Layout l;
    l.total_bytes = id.total_bytes;
    l.capacity = id.capacity;
    l.max_message_size = id.max_message_size;
    l.ring_offset = id.ring_offset;
    l.ring_bytes = id.ring_bytes;
    l.inline_max = id.inline_max;
    l.class_count = id.class_count;
    l.kind = id.kind;
    l.options = id.options;
    l.overflow = static_cast<Overflow>(id.overflow);
    std::memcpy(l.classes, id.classes, sizeof(l.classes));
    return l;
  }

  IdentityBlock to_identity() const noexcept {
    IdentityBlock id{};
    id.magic = kMagic;
    id.version = kLayoutVersion;
    id.kind = kind;
    id.options = options;
    id.overflow = static_cast<uint32_t>(overflow);
    id.total_bytes = total_bytes;
    id.capacity = capacity;
    id.max_message_size = max_message_size;
    id.ring_offset = ring_offset;
    id.ring_bytes = ring_bytes;
    id.inline_max = inline_max;
    id.class_count = class_count;
    std::memcpy(id.classes, classes, sizeof(id.classes));
    return id;
  }
};

}  // namespace ringport
