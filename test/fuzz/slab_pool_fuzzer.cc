// The slab pool's free lists and leases over hostile descriptors and heads: acquire,
// release, double release and is_leased, interleaved with input-chosen writes of the
// slab descriptors (next links, lease words), the class heads and the pool counters.
// Every slab handed out is touched whole (ASan). While nothing hostile was written:
// a slab is never leased twice at once, a lease is leased until released, and a
// second release of a lease is a no-op.
//
// Input: a config byte, then operations {op, arguments} until the input ends.
#include <set>
#include <utility>

#include "fuzz_harness.hpp"

namespace ringport::fuzz {
namespace {

enum class PoolOp : uint8_t { Acquire, Release, ReleaseAgain, ReleaseForged, IsLeased, ClassFor, WriteMeta, WriteHead, WriteCounter, Scribble, kCount };

class PoolDriver {
 public:
  explicit PoolDriver(Channel& ch) : ch_(ch), pool_(ch.base(), ch.memory.layout(), ch.header()) {}

  void step(Input& in) {
    const Layout& l = ch_.layout;
    switch (static_cast<PoolOp>(in.u8() % static_cast<uint8_t>(PoolOp::kCount))) {
      case PoolOp::Acquire: acquire(in.u8() % l.class_count); break;
      case PoolOp::Release: release(in.u8()); break;
      case PoolOp::ReleaseAgain:
        if (!released_.empty() && pool_.release(released_[in.u8() % released_.size()]) && !hostile_) fail("a second release returned a slab");
        break;
      case PoolOp::ReleaseForged: {
        const Lease forged{in.u8() % (l.class_count + 1), in.u32(), in.u32()};
        if (pool_.release(forged)) hostile_ = true;  // someone else's slab: the books no longer hold
        break;
      }
      case PoolOp::IsLeased:
        if (!held_.empty() && !pool_.is_leased(held_[in.u8() % held_.size()]) && !hostile_) fail("a held lease is not leased");
        (void)pool_.is_leased(Lease{in.u8() % (l.class_count + 1), in.u32(), in.u32()});
        break;
      case PoolOp::ClassFor: {
        uint32_t cls;
        if (pool_.class_for(in.u32(), &cls) && cls >= l.class_count) fail("class_for out of range");
        break;
      }
      case PoolOp::WriteMeta: {
        const SlabClassInfo& k = l.classes[in.u8() % l.class_count];
        auto* meta = reinterpret_cast<uint32_t*>(ch_.base() + k.meta_offset) + in.u32() % (2 * k.slab_count);
        *meta = small_or_any(in, k.slab_count);
        hostile_ = true;
        break;
      }
      case PoolOp::WriteHead: {
        std::atomic<uint64_t>& top = ch_.header().class_heads[in.u8() % l.class_count].top;
        top.store((uint64_t{in.u32()} << 32) | small_or_any(in, l.classes[0].slab_count));
        hostile_ = true;
        break;
      }
      case PoolOp::WriteCounter: {
        PoolCounters& c = ch_.header().pool;
        (in.u8() & 1 ? c.in_use : c.high_water).store(static_cast<int64_t>(in.u64()));
        hostile_ = true;
        break;
      }
      case PoolOp::Scribble:
        scribble(ch_.base(), ch_.size(), in);
        hostile_ = true;
        break;
      case PoolOp::kCount: break;
    }
  }

  ~PoolDriver() {
    for (const Lease& l : held_) pool_.release(l);
  }

 private:
  // Mostly values near the valid range of links and lease words, sometimes any.
  static uint32_t small_or_any(Input& in, uint32_t count) {
    const uint8_t how = in.u8();
    return (how & 3) ? how % (2 * count + 3) : in.u32();
  }

  void acquire(uint32_t cls) {
    Lease l;
    if (pool_.acquire(cls, &l) != Status::Ok) return;
    if (l.cls != cls || l.index >= ch_.layout.classes[cls].slab_count) fail("a lease outside its class");
    touch(pool_.data(l), pool_.slab_size(cls));
    if (!hostile_) {
      for (const Lease& h : held_) {
        if (h.cls == l.cls && h.index == l.index) fail("a slab leased twice at once");
      }
    }
    if (held_.size() < 64) {
      held_.push_back(l);
    } else {
      pool_.release(l);
    }
  }

  void release(uint8_t which) {
    if (held_.empty()) return;
    const size_t i = which % held_.size();
    const Lease l = held_[i];
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    if (!pool_.release(l) && !hostile_) fail("the first release of a lease did not return the slab");
    if (released_.size() < 64) released_.push_back(l);
  }

  Channel& ch_;
  SlabPool pool_;
  std::vector<Lease> held_;
  std::vector<Lease> released_;
  bool hostile_ = false;
};

}  // namespace

// Valid use: fill and empty each class, with double releases.
std::vector<Bytes> seeds() {
  std::vector<Bytes> out;
  for (uint8_t cfg = 0; cfg < kConfigs; ++cfg) {
    Writer w;
    w.u8(cfg);
    for (uint8_t cls = 0; cls < 3; ++cls) {
      for (int i = 0; i < 5; ++i) w.u8(static_cast<uint8_t>(PoolOp::Acquire)).u8(cls);
      w.u8(static_cast<uint8_t>(PoolOp::IsLeased)).u8(1).u8(0).u32(0).u32(1);
      for (int i = 0; i < 3; ++i) w.u8(static_cast<uint8_t>(PoolOp::Release)).u8(static_cast<uint8_t>(i));
      w.u8(static_cast<uint8_t>(PoolOp::ReleaseAgain)).u8(0);
      w.u8(static_cast<uint8_t>(PoolOp::Acquire)).u8(cls);
    }
    out.push_back(w.done());
  }
  return out;
}

}  // namespace ringport::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ringport::fuzz;
  Input in(data, size);
  Channel ch(config(in.u8()));
  PoolDriver driver(ch);
  for (int steps = 0; steps < 1000 && !in.empty(); ++steps) driver.step(in);
  return 0;
}
