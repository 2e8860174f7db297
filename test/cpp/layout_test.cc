// Layout::compute / validate and ChannelMemory::initialize / attach.
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

using test::TestChannel;

Layout computed(const ChannelConfig& cfg) {
  Layout l;
  EXPECT_EQ(Layout::compute(cfg, &l), Status::Ok);
  return l;
}

// Every region lies inside total_bytes, is aligned, and no two overlap.
void expect_regions_sound(const Layout& l) {
  struct Region {
    uint64_t begin, end;
  };
  std::vector<Region> regions{{0, kHeaderBytes}, {l.ring_offset, l.ring_offset + l.ring_bytes}};
  for (uint32_t c = 0; c < l.class_count; ++c) {
    const SlabClassInfo& k = l.classes[c];
    EXPECT_EQ(k.arena_offset % 4096, 0u);
    regions.push_back({k.meta_offset, k.meta_offset + uint64_t{k.slab_count} * sizeof(SlabMeta)});
    regions.push_back({k.arena_offset, k.arena_offset + uint64_t{k.slab_count} * k.slab_size});
  }
  for (std::size_t i = 0; i < regions.size(); ++i) {
    EXPECT_LE(regions[i].end, l.total_bytes);
    for (std::size_t j = i + 1; j < regions.size(); ++j) {
      EXPECT_TRUE(regions[i].end <= regions[j].begin || regions[j].end <= regions[i].begin) << "regions " << i << " and " << j;
    }
  }
  EXPECT_EQ(l.validate(l.total_bytes), Status::Ok);
}

TEST(Layout, Defaults) {
  const Layout l = computed(ChannelConfig{});
  EXPECT_EQ(l.kind, static_cast<uint32_t>(ChannelKind::Queue));
  EXPECT_EQ(l.capacity, uint64_t{1} << 20);
  EXPECT_EQ(l.ring_offset, kHeaderBytes);
  EXPECT_EQ(l.ring_bytes, uint64_t{2} << 20);  // twice the capacity
  EXPECT_EQ(l.max_message_size, uint64_t{1} << 30);
  EXPECT_EQ(l.inline_max, kDefaultInlineMax);
  // Classes grow 8x from 16 KiB until one holds the whole capacity.
  ASSERT_EQ(l.class_count, 3u);
  EXPECT_EQ(l.classes[0].slab_size, 16u * 1024);
  EXPECT_EQ(l.classes[1].slab_size, 128u * 1024);
  EXPECT_EQ(l.classes[2].slab_size, 1024u * 1024);
  EXPECT_EQ(l.classes[0].slab_count, 128u);  // kDefaultPoolCapacities * capacity / slab_size
  EXPECT_EQ(l.classes[1].slab_count, 16u);
  EXPECT_EQ(l.classes[2].slab_count, 4u);  // at least 4
  EXPECT_EQ(l.slab_count(), 148u);
  expect_regions_sound(l);
}

TEST(Layout, TinyCapacityIsRaisedToMinimums) {
  ChannelConfig cfg;
  cfg.capacity = 1;
  const Layout l = computed(cfg);
  EXPECT_EQ(l.capacity, kMinCapacity);
  EXPECT_EQ(l.ring_bytes, kMinRingBytes);
  EXPECT_EQ(l.inline_max, kMinRingBytes / 8);  // inline records stay small next to the ring
  ASSERT_EQ(l.class_count, 1u);
  EXPECT_EQ(l.classes[0].slab_size, kDefaultSlabSize);
  EXPECT_EQ(l.classes[0].slab_count, 4u);
  expect_regions_sound(l);
}

TEST(Layout, RoundsToPowersOfTwoAndInlineMaxToEight) {
  ChannelConfig cfg;
  cfg.capacity = 5000;
  cfg.slab_size = 5000;
  cfg.inline_max = 1001;
  const Layout l = computed(cfg);
  EXPECT_EQ(l.capacity, 8192u);
  EXPECT_EQ(l.ring_bytes, 16384u);
  EXPECT_EQ(l.classes[0].slab_size, 8192u);
  EXPECT_EQ(l.inline_max, 1000u);
  cfg.slab_size = 100;  // below the minimum slab
  EXPECT_EQ(computed(cfg).classes[0].slab_size, kMinSlabSize);
}

TEST(Layout, ExplicitPoolSlabsAndMaxCapacity) {
  ChannelConfig cfg;
  cfg.capacity = kMaxCapacity;
  cfg.pool_slabs = 2;
  const Layout l = computed(cfg);
  EXPECT_EQ(l.capacity, kMaxCapacity);
  EXPECT_EQ(l.class_count, kMaxSlabClasses);
  for (uint32_t c = 0; c < l.class_count; ++c) EXPECT_EQ(l.classes[c].slab_count, 2u) << "pool_slabs is taken as given";
  expect_regions_sound(l);
}

TEST(Layout, SweepOfConfigsGivesSoundRegions) {
  for (uint64_t capacity : {1ull, 64ull, 4095ull, 4096ull, 100000ull, 1ull << 20, 1ull << 24}) {
    for (uint32_t slab : {0u, 4096u, 65536u, 1u << 20}) {
      for (uint32_t pool : {0u, 1u, 7u, 100u}) {
        ChannelConfig cfg;
        cfg.capacity = capacity;
        cfg.slab_size = slab;
        cfg.pool_slabs = pool;
        SCOPED_TRACE(testing::Message() << "capacity " << capacity << " slab " << slab << " pool " << pool);
        expect_regions_sound(computed(cfg));
      }
    }
  }
}

TEST(Layout, ComputeRejectsBadValues) {
  const std::vector<std::pair<const char*, std::function<void(ChannelConfig&)>>> bad{
      {"capacity 0", [](ChannelConfig& c) { c.capacity = 0; }},
      {"capacity over max", [](ChannelConfig& c) { c.capacity = kMaxCapacity + 1; }},
      {"max_message_size 0", [](ChannelConfig& c) { c.max_message_size = 0; }},
      {"max_message_size over 4 GiB", [](ChannelConfig& c) { c.max_message_size = uint64_t{UINT32_MAX} + 1; }},
      {"slab_size over 1 GiB", [](ChannelConfig& c) { c.slab_size = (1u << 30) + 1; }},
      {"pool_slabs over max", [](ChannelConfig& c) { c.pool_slabs = kMaxSlabCount + 1; }},
      {"unknown overflow", [](ChannelConfig& c) { c.overflow = static_cast<Overflow>(2); }},
  };
  for (const auto& [name, corrupt] : bad) {
    ChannelConfig cfg;
    corrupt(cfg);
    Layout l;
    l.capacity = 12345;
    EXPECT_EQ(Layout::compute(cfg, &l), Status::InvalidArgument) << name;
    EXPECT_EQ(l.capacity, 12345u) << name << ": output written on failure";
  }
}

TEST(Layout, IdentityRoundTrip) {
  for (const Overflow overflow : {Overflow::Refuse, Overflow::DropOldest}) {
    ChannelConfig cfg;
    cfg.overflow = overflow;
    const Layout l = computed(cfg);
    EXPECT_EQ(l.drops_oldest(), overflow == Overflow::DropOldest);
    const IdentityBlock id = l.to_identity();
    EXPECT_EQ(id.magic, kMagic);
    EXPECT_EQ(id.version, kLayoutVersion);
    const Layout back = Layout::from_identity(id);
    const IdentityBlock again = back.to_identity();  // no padding: every byte is a field
    EXPECT_EQ(std::memcmp(&again, &id, sizeof id), 0);
    EXPECT_EQ(back.overflow, overflow);
  }
}

TEST(Layout, ValidateRejectsEachCorruptedField) {
  ChannelConfig cfg;
  cfg.capacity = 1 << 16;
  cfg.slab_size = 4096;
  const Layout good = computed(cfg);
  ASSERT_EQ(good.class_count, 3u);
  const uint64_t buffer = good.total_bytes;
  ASSERT_EQ(good.validate(buffer), Status::Ok);
  const uint64_t huge = ~uint64_t{7};  // aligned, and wraps any addition
  const std::vector<std::pair<const char*, std::function<void(Layout&)>>> corruptions{
      {"kind", [](Layout& l) { l.kind = 5; }},
      {"overflow", [](Layout& l) { l.overflow = static_cast<Overflow>(2); }},
      {"total_bytes 0", [](Layout& l) { l.total_bytes = 0; }},
      {"total_bytes past buffer", [](Layout& l) { l.total_bytes += 8; }},
      {"capacity not a power of two", [](Layout& l) { l.capacity += 1; }},
      {"capacity 0", [](Layout& l) { l.capacity = 0; }},
      {"capacity over max", [](Layout& l) { l.capacity = kMaxCapacity * 2; }},
      {"max_message_size 0", [](Layout& l) { l.max_message_size = 0; }},
      {"max_message_size over 4 GiB", [](Layout& l) { l.max_message_size = uint64_t{UINT32_MAX} + 1; }},
      {"ring_offset inside header", [](Layout& l) { l.ring_offset = 8; }},
      {"ring_offset misaligned", [](Layout& l) { l.ring_offset += 4; }},
      {"ring_offset past the end (wraps)", [huge](Layout& l) { l.ring_offset = huge - l.ring_bytes + 8; }},
      {"ring_bytes not a power of two", [](Layout& l) { l.ring_bytes -= 8; }},
      {"ring_bytes too small", [](Layout& l) { l.ring_bytes = kMinRingBytes / 2; }},
      {"ring_bytes past the end", [](Layout& l) { l.ring_bytes *= 64; }},
      {"inline_max misaligned", [](Layout& l) { l.inline_max += 1; }},
      {"inline_max over ring/8", [](Layout& l) { l.inline_max = static_cast<uint32_t>(l.ring_bytes / 8 + 8); }},
      {"class_count 0", [](Layout& l) { l.class_count = 0; }},
      {"class_count over max", [](Layout& l) { l.class_count = kMaxSlabClasses + 1; }},
      {"slab_size not a power of two", [](Layout& l) { l.classes[1].slab_size += 8; }},
      {"slab_size too small", [](Layout& l) { l.classes[0].slab_size = kMinSlabSize / 2; }},
      {"slab sizes not increasing", [](Layout& l) { l.classes[1].slab_size = l.classes[0].slab_size; }},
      {"slab_count 0", [](Layout& l) { l.classes[2].slab_count = 0; }},
      {"slab_count over max", [](Layout& l) { l.classes[2].slab_count = kMaxSlabCount + 1; }},
      {"meta_offset inside the ring", [](Layout& l) { l.classes[0].meta_offset = l.ring_offset; }},
      {"meta_offset misaligned", [](Layout& l) { l.classes[0].meta_offset += 4; }},
      {"meta_offset past the end", [](Layout& l) { l.classes[0].meta_offset = l.total_bytes; }},
      {"meta_offset wraps", [huge](Layout& l) { l.classes[0].meta_offset = huge; }},
      {"arena_offset inside the ring", [](Layout& l) { l.classes[1].arena_offset = l.ring_offset + 64; }},
      {"arena_offset misaligned", [](Layout& l) { l.classes[1].arena_offset += 4; }},
      {"arena past the end", [](Layout& l) { l.classes[2].arena_offset += 4096; }},
      {"arena_offset wraps", [huge](Layout& l) { l.classes[2].arena_offset = huge - 4096 + 8; }},
  };
  for (const auto& [name, corrupt] : corruptions) {
    Layout l = good;
    corrupt(l);
    EXPECT_EQ(l.validate(buffer), Status::Corrupt) << name;
  }
  EXPECT_EQ(good.validate(buffer - 1), Status::Corrupt) << "buffer smaller than total_bytes";
}

TEST(ChannelMemory, InitializeAndAttach) {
  TestChannel ch;
  EXPECT_EQ(ch.memory.base(), ch.base);
  EXPECT_EQ(std::memcmp(&ch.memory.layout(), &ch.layout, sizeof ch.layout), 0);
  EXPECT_EQ(ch.memory.ring(), ch.base + ch.layout.ring_offset);
  EXPECT_EQ(ch.memory.state(), 0u);
  const ChannelStats s = ch.memory.stats();
  EXPECT_EQ(s.sent, 0u);
  EXPECT_EQ(s.pool_slabs, ch.layout.slab_count());
  EXPECT_EQ(s.pool_in_use, 0);
}

// A SAB's data may be only 8-byte aligned: every shared struct must cope with that
// (under UBSan, a struct that demands more alignment is reported here).
TEST(ChannelMemory, WorksOnABufferAlignedToEightOnly) {
  TestChannel ch(test::small_config(), /*misalign=*/true);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(ch.base) % 16, 8u);
  EXPECT_EQ(ch.memory.claim_role(role_bits::kSender), Status::Ok);
  QueueProducer producer(ch.memory, ch.heap);
  QueueConsumer consumer(ch.memory, ch.heap);
  bool rang;
  const uint8_t byte = 42;
  ASSERT_EQ(producer.try_send(&byte, 1, &rang), Status::Ok);
  uint32_t got = 0;
  ASSERT_EQ(consumer.drain(8, [&](Message& m) { got = m.data[0]; }, &rang), Status::Ok);
  EXPECT_EQ(got, 42u);
}

TEST(ChannelMemory, InitializeRejectsMisalignedOrSmallBuffer) {
  const Layout l = computed(test::small_config());
  std::vector<uint64_t> words(l.total_bytes / 8 + 1);
  uint8_t* base = reinterpret_cast<uint8_t*>(words.data());
  EXPECT_EQ(ChannelMemory::initialize(base + 4, l.total_bytes, l), Status::InvalidArgument);
  EXPECT_EQ(ChannelMemory::initialize(base, l.total_bytes - 1, l), Status::InvalidArgument);
}

TEST(ChannelMemory, AttachRejectsForeignOrDamagedBuffers) {
  TestChannel ch;
  const uint64_t n = ch.layout.total_bytes;
  ChannelMemory m;
  EXPECT_EQ(ChannelMemory::attach(nullptr, n, &m), Status::Corrupt) << "null";
  EXPECT_EQ(ChannelMemory::attach(ch.base + 4, n - 8, &m), Status::Corrupt) << "misaligned";
  EXPECT_EQ(ChannelMemory::attach(ch.base, kHeaderBytes - 8, &m), Status::Corrupt) << "smaller than a header";
  EXPECT_EQ(ChannelMemory::attach(ch.base, n - 8, &m), Status::Corrupt) << "smaller than total_bytes";

  IdentityBlock& id = ch.header().identity;
  const IdentityBlock saved = id;
  id.magic ^= 1;
  EXPECT_EQ(ChannelMemory::attach(ch.base, n, &m), Status::Corrupt) << "magic";
  id = saved;
  id.version = kLayoutVersion + 1;
  EXPECT_EQ(ChannelMemory::attach(ch.base, n, &m), Status::Corrupt) << "version";
  id = saved;
  id.ring_bytes = 3;
  EXPECT_EQ(ChannelMemory::attach(ch.base, n, &m), Status::Corrupt) << "geometry";
  id = saved;
  std::vector<uint64_t> zeros(n / 8);
  EXPECT_EQ(ChannelMemory::attach(reinterpret_cast<uint8_t*>(zeros.data()), n, &m), Status::Corrupt) << "blank buffer";
  EXPECT_EQ(m.base(), nullptr) << "a failed attach leaves the view unbound";
  EXPECT_EQ(ChannelMemory::attach(ch.base, n, &m), Status::Ok);
}

TEST(ChannelMemory, GeometryIsAPrivateCopy) {
  TestChannel ch;
  ch.header().identity.ring_bytes = 1;  // after attach: ignored
  ch.header().identity.class_count = 99;
  EXPECT_EQ(ch.memory.layout().ring_bytes, ch.layout.ring_bytes);
  EXPECT_EQ(ch.memory.layout().class_count, ch.layout.class_count);
}

TEST(ChannelMemory, RolesAreClaimedOnce) {
  TestChannel ch;
  EXPECT_EQ(ch.memory.claim_role(role_bits::kSender), Status::Ok);
  EXPECT_EQ(ch.memory.claim_role(role_bits::kSender), Status::RoleTaken);
  EXPECT_EQ(ch.memory.claim_role(role_bits::kReceiver), Status::Ok);
  EXPECT_EQ(ch.memory.claim_role(role_bits::kReceiver), Status::RoleTaken);
}

}  // namespace
}  // namespace ringport
