// SlabPool on one thread (leases, generations, counters, corrupt free lists) and
// HeapTable. The two-thread hammer is in stress_test.cc.
#include <set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "test_channel.hpp"

namespace ringport {
namespace {

// Three classes (4, 32 and 256 KiB) of 4 slabs each.
ChannelConfig pool_config() {
  ChannelConfig cfg;
  cfg.capacity = 64 * 1024;
  cfg.slab_size = 4096;
  cfg.pool_slabs = 4;
  return cfg;
}

class SlabPoolTest : public testing::Test {
 protected:
  // Every free slab of `cls`. Bounded by the class's slab count: a pool that hands
  // out more (a double release listed a slab twice, maybe in a cycle) fails here
  // instead of looping forever.
  std::vector<Lease> acquire_all(uint32_t cls) {
    std::vector<Lease> leases;
    Lease l;
    while (pool_.acquire(cls, &l) == Status::Ok) {
      leases.push_back(l);
      if (leases.size() > ch_.layout.classes[cls].slab_count) {
        ADD_FAILURE() << "class " << cls << " handed out more slabs than it has";
        break;
      }
    }
    return leases;
  }
  int64_t in_use() { return ch_.header().pool.in_use.load(); }
  int64_t high_water() { return ch_.header().pool.high_water.load(); }
  SlabMeta* metas(uint32_t cls) { return reinterpret_cast<SlabMeta*>(ch_.base + ch_.layout.classes[cls].meta_offset); }

  test::TestChannel ch_{pool_config()};
  SlabPool pool_{ch_.memory.base(), ch_.memory.layout(), ch_.memory.header()};
};

TEST_F(SlabPoolTest, ClassForPicksTheSmallestThatHolds) {
  ASSERT_EQ(ch_.layout.class_count, 3u);
  uint32_t cls = 99;
  EXPECT_TRUE(pool_.class_for(0, &cls));
  EXPECT_EQ(cls, 0u);
  EXPECT_TRUE(pool_.class_for(4096, &cls));
  EXPECT_EQ(cls, 0u);
  EXPECT_TRUE(pool_.class_for(4097, &cls));
  EXPECT_EQ(cls, 1u);
  EXPECT_TRUE(pool_.class_for(256 * 1024, &cls));
  EXPECT_EQ(cls, 2u);
  cls = 99;
  EXPECT_FALSE(pool_.class_for(256 * 1024 + 1, &cls));
  EXPECT_EQ(cls, 99u);
  EXPECT_EQ(pool_.slab_size(1), 32u * 1024);
}

TEST_F(SlabPoolTest, AcquireAllThenEmptyThenRecoverAfterRelease) {
  for (uint32_t cls = 0; cls < ch_.layout.class_count; ++cls) {
    std::vector<Lease> leases = acquire_all(cls);
    ASSERT_EQ(leases.size(), 4u) << "class " << cls;
    Lease l;
    EXPECT_EQ(pool_.acquire(cls, &l), Status::Empty) << "pool exhaustion";
    std::set<uint32_t> indices;
    for (const Lease& lease : leases) {
      EXPECT_EQ(lease.cls, cls);
      indices.insert(lease.index);
      EXPECT_TRUE(pool_.is_leased(lease));
    }
    EXPECT_EQ(indices.size(), 4u) << "each slab handed out once";
    ASSERT_TRUE(pool_.release(leases[2]));
    ASSERT_EQ(pool_.acquire(cls, &l), Status::Ok) << "recovers after a release";
    EXPECT_EQ(l.index, leases[2].index);
    EXPECT_EQ(l.generation, leases[2].generation + 1);
    leases[2] = l;
    for (const Lease& lease : leases) EXPECT_TRUE(pool_.release(lease));
  }
  EXPECT_EQ(in_use(), 0);
}

// acquire_for() takes the smallest class that holds the bytes, then larger classes
// while that one is empty, and says Empty only when none is left.
TEST_F(SlabPoolTest, AcquireForSpillsIntoLargerClassesBeforeGivingUp) {
  std::vector<Lease> leases;
  Lease l;
  for (uint32_t expected_cls = 1; expected_cls < 3; ++expected_cls) {
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(pool_.acquire_for(5000, &l), Status::Ok);
      EXPECT_EQ(l.cls, expected_cls) << "5000 bytes fit class 1 first, then class 2";
      leases.push_back(l);
    }
  }
  EXPECT_EQ(pool_.acquire_for(5000, &l), Status::Empty) << "classes 1 and 2 exhausted";
  ASSERT_EQ(pool_.acquire_for(100, &l), Status::Ok) << "class 0 is still free";
  EXPECT_EQ(l.cls, 0u);
  leases.push_back(l);
  EXPECT_EQ(pool_.acquire_for(256 * 1024 + 1, &l), Status::TooLarge);
  ASSERT_TRUE(pool_.release(leases[0]));
  ASSERT_EQ(pool_.acquire_for(5000, &l), Status::Ok) << "a release makes class 1 usable again";
  EXPECT_EQ(l.cls, 1u);
  leases[0] = l;
  for (const Lease& lease : leases) EXPECT_TRUE(pool_.release(lease));
  EXPECT_EQ(in_use(), 0);
}

TEST_F(SlabPoolTest, SlabsAreDistinctAndInsideTheirArena) {
  for (uint32_t cls = 0; cls < ch_.layout.class_count; ++cls) {
    const SlabClassInfo& k = ch_.layout.classes[cls];
    std::vector<Lease> leases = acquire_all(cls);
    std::set<uint8_t*> seen;
    for (const Lease& lease : leases) {
      uint8_t* p = pool_.data(lease);
      EXPECT_GE(p, ch_.base + k.arena_offset);
      EXPECT_LE(p + k.slab_size, ch_.base + k.arena_offset + uint64_t{k.slab_count} * k.slab_size);
      EXPECT_EQ((p - ch_.base - k.arena_offset) % k.slab_size, 0);
      std::memset(p, 0xab, k.slab_size);  // ASan: writable to the last byte
      seen.insert(p);
    }
    EXPECT_EQ(seen.size(), leases.size());
    for (const Lease& lease : leases) pool_.release(lease);
  }
}

TEST_F(SlabPoolTest, DoubleReleaseIsANoOpAndReturnsFalse) {
  Lease a;
  ASSERT_EQ(pool_.acquire(0, &a), Status::Ok);
  EXPECT_TRUE(pool_.release(a));
  EXPECT_FALSE(pool_.release(a));
  EXPECT_FALSE(pool_.is_leased(a));
  EXPECT_EQ(in_use(), 0);
  // The slab went back once: exactly four acquisitions succeed.
  EXPECT_EQ(acquire_all(0).size(), 4u);
}

TEST_F(SlabPoolTest, StaleLeaseReleaseIsANoOp) {
  Lease old_lease, new_lease;
  ASSERT_EQ(pool_.acquire(0, &old_lease), Status::Ok);
  ASSERT_TRUE(pool_.release(old_lease));
  ASSERT_EQ(pool_.acquire(0, &new_lease), Status::Ok);
  ASSERT_EQ(new_lease.index, old_lease.index) << "LIFO: the same slab comes back";
  EXPECT_FALSE(pool_.release(old_lease)) << "the old generation no longer owns it";
  EXPECT_TRUE(pool_.is_leased(new_lease));
  EXPECT_FALSE(pool_.is_leased(old_lease));
  EXPECT_EQ(in_use(), 1);
  EXPECT_TRUE(pool_.release(new_lease));
}

TEST_F(SlabPoolTest, ForgedLeasesAreRejected) {
  Lease l;
  ASSERT_EQ(pool_.acquire(1, &l), Status::Ok);
  EXPECT_FALSE(pool_.release(Lease{3, l.index, l.generation})) << "class out of range";
  EXPECT_FALSE(pool_.release(Lease{1, 4, l.generation})) << "index out of range";
  EXPECT_FALSE(pool_.release(Lease{1, UINT32_MAX, l.generation}));
  EXPECT_FALSE(pool_.release(Lease{1, l.index, l.generation + 1})) << "future generation";
  EXPECT_FALSE(pool_.release(Lease{0, l.index, l.generation})) << "other class";
  EXPECT_FALSE(pool_.is_leased(Lease{3, 0, 1}));
  EXPECT_TRUE(pool_.is_leased(l));
  EXPECT_TRUE(pool_.release(l));
}

TEST_F(SlabPoolTest, InUseAndHighWaterCounters) {
  std::vector<Lease> a = acquire_all(0);
  Lease b;
  ASSERT_EQ(pool_.acquire(2, &b), Status::Ok);
  EXPECT_EQ(in_use(), 5);
  EXPECT_EQ(high_water(), 5);
  for (const Lease& l : a) pool_.release(l);
  EXPECT_EQ(in_use(), 1);
  EXPECT_EQ(high_water(), 5) << "a high-water mark never falls";
  pool_.release(b);
  EXPECT_EQ(in_use(), 0);
  const ChannelStats s = ch_.memory.stats();
  EXPECT_EQ(s.pool_in_use, 0);
  EXPECT_EQ(s.pool_high_water, 5);
  EXPECT_EQ(s.pool_slabs, 12u);
}

TEST_F(SlabPoolTest, GenerationsGrowWithEveryLease) {
  uint32_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    Lease l;
    ASSERT_EQ(pool_.acquire(0, &l), Status::Ok);
    ASSERT_EQ(l.index, 0u);
    ASSERT_GT(l.generation, last);
    last = l.generation;
    ASSERT_TRUE(pool_.release(l));
  }
}

TEST_F(SlabPoolTest, CorruptFreeListHeadGivesCorrupt) {
  std::atomic<uint64_t>& top = ch_.header().class_heads[0].top;
  Lease l;
  for (uint64_t bad : {uint64_t{5}, uint64_t{0xffffffff}, (uint64_t{3} << 32) | 0x80000000u}) {
    top.store(bad);
    EXPECT_EQ(pool_.acquire(0, &l), Status::Corrupt) << bad;
  }
  EXPECT_EQ(in_use(), 0);
}

TEST_F(SlabPoolTest, CorruptFreeListLinkGivesCorrupt) {
  metas(1)[0].next.store(5);  // the head's successor is out of range
  Lease l;
  EXPECT_EQ(pool_.acquire(1, &l), Status::Corrupt);
  EXPECT_EQ(in_use(), 0);
  EXPECT_EQ(pool_.acquire(0, &l), Status::Ok) << "other classes are unaffected";
}

// --- HeapTable ---

TEST(HeapTable, PutThenTakeOnce) {
  HeapTable table;
  HeapBlock b = table.allocate(100);
  ASSERT_TRUE(b.data);
  std::memset(b.data.get(), 7, 100);
  const uint8_t* p = b.data.get();
  const uint64_t id = table.put(std::move(b));
  EXPECT_NE(id, 0u);
  EXPECT_EQ(table.size(), 1u);
  HeapBlock out;
  ASSERT_TRUE(table.take(id, 100, &out));
  EXPECT_EQ(out.data.get(), p);
  EXPECT_EQ(out.length, 100u);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.take(id, 100, &out)) << "taken already";
}

TEST(HeapTable, ForgedIdOrLengthFindsNothing) {
  HeapTable table;
  const uint64_t id = table.put(table.allocate(64));
  HeapBlock out;
  EXPECT_FALSE(table.take(0, 64, &out));
  EXPECT_FALSE(table.take(id + 1, 64, &out));
  EXPECT_FALSE(table.take(~uint64_t{0}, 64, &out));
  EXPECT_FALSE(table.take(id, 63, &out)) << "length must match";
  EXPECT_FALSE(out.data);
  EXPECT_EQ(table.size(), 1u) << "a failed take leaves the block filed";
  EXPECT_TRUE(table.take(id, 64, &out));
}

TEST(HeapTable, IdsAreFreshAndZeroLengthBlocksWork) {
  HeapTable table;
  std::set<uint64_t> ids;
  for (int i = 0; i < 100; ++i) ids.insert(table.put(table.allocate(0)));
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.count(0), 0u);
  HeapBlock out;
  EXPECT_TRUE(table.take(*ids.begin(), 0, &out));
  EXPECT_TRUE(out.data) << "a zero-length block still has a valid pointer";
}

TEST(HeapTable, RecycledBlocksAreReusedUpToALimit) {
  HeapTable table;
  HeapBlock a = table.allocate(100000);
  ASSERT_TRUE(a.data);
  EXPECT_EQ(a.allocated, 131072u) << "rounded up to a power of two";
  const uint8_t* p = a.data.get();
  table.recycle(std::move(a));
  EXPECT_EQ(table.spare_bytes(), 131072u);
  HeapBlock b = table.allocate(70000);
  EXPECT_EQ(b.data.get(), p) << "same size class: reused";
  EXPECT_EQ(b.length, 70000u);
  EXPECT_EQ(table.spare_bytes(), 0u);
  HeapBlock c = table.allocate(5000);
  EXPECT_NE(c.data.get(), p);
  std::vector<HeapBlock> many;
  for (uint64_t i = 0; i < HeapTable::kRecycleBytes / (1 << 20) + 4; ++i) many.push_back(table.allocate(1 << 20));
  for (auto& m : many) table.recycle(std::move(m));
  EXPECT_LE(table.spare_bytes(), HeapTable::kRecycleBytes);
}

}  // namespace
}  // namespace ringport
