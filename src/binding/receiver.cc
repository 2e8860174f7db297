// ReceiverWrap: the consuming end, on its owner's JS thread, and the external
// buffers it hands out.
#include <cstring>

#include "wraps.hh"

namespace ringport {

// Keeps the SharedArrayBuffer (and the hub) alive while the receiver or any buffer
// it handed out lives: V8 frees a SharedArrayBuffer's memory when no thread holds
// it, even while external buffers still point into it.
// JS thread only: external buffer finalizers run on the thread that created them.
struct Arena {
  Attachment attachment;
  std::size_t refs = 1;  // the receiver + each live buffer
  uint64_t lent_bytes = 0;  // payload bytes of the live buffers (ReceiverWrapOf::lends())
  struct BufferLease* by_data(const void* data) {
    auto it = live.find(data);
    return it == live.end() ? nullptr : it->second;
  }
  void unref() {
    if (--refs == 0) delete this;
  }
  std::unordered_map<const void*, struct BufferLease*> live;
};

// Gives back the memory a received message holds: its slab, its heap block, or its
// reference to a broadcast's shared slab or block. Any thread with the hub.
void return_memory(Hub* hub, Message& m) {
  ChannelMemory& memory = hub->memory();
  switch (m.owner) {
    case Message::Owner::Slab:
      SlabPool(memory.base(), memory.layout(), memory.header()).release(m.lease);
      break;
    case Message::Owner::SharedSlab:
      SharedSlabs(memory.base(), memory.layout(), memory.header()).unref(m.lease);
      break;
    case Message::Owner::Heap:
      hub->heap().recycle(std::move(m.block));
      break;
    case Message::Owner::SharedHeap:
      m.shared.reset();
      break;
    case Message::Owner::Ring:
      break;
  }
}

// What one external buffer holds: a (shared) slab or heap block, returned once.
struct BufferLease {
  Arena* arena;
  Message::Owner owner;
  Lease lease;
  HeapBlock block;
  std::shared_ptr<HeapBlock> shared;
  const void* data;
  uint32_t length;
  bool returned = false;

  // The message whose memory this lease holds, that memory moved into it.
  Message take_message() { return Message{owner, static_cast<const uint8_t*>(data), length, lease, std::move(block), std::move(shared)}; }

  void give_back(napi_env env) {
    if (returned) return;
    returned = true;
    arena->lent_bytes -= length;
    if (owner == Message::Owner::Heap) {
      int64_t unused;
      napi_adjust_external_memory(env, -static_cast<int64_t>(length), &unused);
    }
    Message m = take_message();
    return_memory(arena->attachment.hub.get(), m);
    auto it = arena->live.find(data);
    if (it != arena->live.end() && it->second == this) arena->live.erase(it);
  }

  static void finalize(napi_env env, void*, void* hint) {
    auto* self = static_cast<BufferLease*>(hint);
    self->give_back(env);
    Arena* arena = self->arena;
    delete self;
    arena->unref();
  }
};

namespace {

// Copies at least this long go to memory that is not zero-filled first. Below it,
// napi_create_arraybuffer() (which clears every byte the copy then overwrites) costs
// less than napi_create_buffer() (left uninitialized, but it makes a Node Buffer
// too); from 16 KiB on, clearing costs more. A copying receiver, ns per message
// taken with tryRecv(): 4 KiB 903 cleared / 1,054 not; 16 KiB 2,544 / 2,542;
// 64 KiB 9,340 / 8,225.
constexpr uint32_t kUninitializedCopyMin = 16 * 1024;

// Messages at least this long are always lent (ReceiverWrapOf::lends()).
constexpr uint32_t kLentAlwaysMin = 128 * 1024;

// Copies `m` into a fresh ArrayBuffer that V8 owns (small messages, messages this
// receiver does not lend, a runtime without external buffers). Returns nullptr on
// allocation failure.
napi_value copy_out(napi_env env, const Message& m) {
  void* data;
  napi_value out;
  if (m.length < kUninitializedCopyMin) {
    if (napi_create_arraybuffer(env, m.length, &data, &out) != napi_ok) return nullptr;
  } else {
    napi_value view;
    if (napi_create_buffer(env, m.length, &data, &view) != napi_ok ||
        napi_get_typedarray_info(env, view, nullptr, nullptr, nullptr, &out, nullptr) != napi_ok) {
      return nullptr;
    }
  }
  if (m.length) std::memcpy(data, m.data, m.length);
  return out;
}

}  // namespace

template <class Consumer>
Napi::Function ReceiverWrapOf<Consumer>::Define(Napi::Env env) {
  using W = ReceiverWrapOf;
  std::vector<typename Napi::ObjectWrap<W>::PropertyDescriptor> methods{
      W::template InstanceMethod<&W::Discard>("discard"),   W::template InstanceMethod<&W::RecvSync>("recvSync"),
      W::template InstanceMethod<&W::Arm>("arm"),
      W::template InstanceMethod<&W::Close>("close"),       W::template InstanceMethod<&W::ErrorInfo>("errorInfo"),
      W::template InstanceMethod<&W::SetWaiting>("setWaiting"), W::template InstanceMethod<&W::SetRefed>("setRefed")};
  if constexpr (kBroadcast) {
    methods.push_back(W::template InstanceMethod<&W::Missed>("missed"));
    methods.push_back(W::template InstanceMethod<&W::Stats>("stats"));
  }
  return W::DefineClass(env, kBroadcast ? "NativeBroadcastReceiver" : "NativeReceiver", methods);
}

template <class Consumer>
ReceiverWrapOf<Consumer>::ReceiverWrapOf(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ReceiverWrapOf>(info),
      arena_(new Arena{Attachment::from(info[0], kBroadcast ? ChannelKind::Broadcast : ChannelKind::Queue)}),
      copy_(info[1].ToBoolean()) {
  Hub& hub = *arena_->attachment.hub;
  lend_budget_ = hub.memory().layout().capacity / 8;
  consumer_.emplace(hub.memory(), hub.heap());
  endpoint_.emplace(info.Env(), info.This().template As<Napi::Object>(), arena_->attachment.hub, Side::Receiver, 0,
                    kBroadcast ? Endpoint::Scope::Local : Endpoint::Scope::Shared);
  using W = ReceiverWrapOf;
  const napi_property_descriptor hot[] = {direct_method<W, &W::PollInto>("pollInto", this),
                                          direct_method<W, &W::Release>("release", this)};
  NAPI_THROW_IF_FAILED_VOID(info.Env(), napi_define_properties(info.Env(), info.This(), std::size(hot), hot));
}

// Collected, or its thread is ending (finalizers run on worker exit and terminate()).
// A queue can never be received from again: what it buffers is dropped and its slabs
// and heap blocks returned, as close() does; else they would stay leased for as long
// as any sender holds the channel.
template <class Consumer>
ReceiverWrapOf<Consumer>::~ReceiverWrapOf() {
  endpoint_.reset();
  if constexpr (!kBroadcast) consumer_->discard_after_end();
  consumer_.reset();
  arena_->unref();
}

// Whether `m` goes out zero-copy (lent): while the buffers this receiver lent that
// are still live hold less than lend_budget_, or none is live.
//
// A receiver that releases what it took (autoRelease, release(), read(), the stream
// adapters) keeps getting zero-copy buffers. One that drops them leaves their slabs
// to the garbage collector, which may not run for thousands of messages: lent on,
// they ran the pool dry and sends fell back to heap blocks (87,782 fallbacks in 1.5 s
// of 64 KiB messages to a plain `for await`), whose external memory then drove full
// collections. Past the budget a message is copied into memory V8 owns and its slab
// goes back at once; lending resumes once collected buffers bring the live bytes back.
//
// The budget, an eighth of the capacity, leaves the pool room for a full ring: the
// pool has two capacities of slab bytes per class, and a message may fill only half
// its slab (64 KiB in a 128 KiB slab), so a ring full of them takes all the class's
// slabs but the larger classes' few.
//
// From kLentAlwaysMin bytes on a message is lent whatever the budget says: a fresh
// allocation that large comes from mmap (glibc's default threshold is 128 KiB) and
// takes a page fault per 4 KiB, so a copy costs more than what lending past the
// budget costs (the sender falls back to heap blocks, which it recycles). Plain `for
// await` dropping its buffers, worker -> main, msg/s in 3 interleaved runs each
// (bench/js/throughput.js for-await <size> w2m 1, idle machine), lent always against
// copied past the budget: 64 KiB 56.8-60.4 k / 63.7-76.4 k; 256 KiB 17.0-17.8 k /
// 13.7-17.4 k; 1 MiB 4.4-4.7 k / 3.4-3.8 k. JS thread only (arena_ is).
template <class Consumer>
bool ReceiverWrapOf<Consumer>::lends(const Message& m) const noexcept {
  const uint64_t live = arena_->lent_bytes;
  return live == 0 || live + m.length <= lend_budget_ || m.length >= kLentAlwaysMin;
}

// Whether a poll should go on taking messages that may be lent: not once the live
// lent buffers reach the budget. What stays in the ring waits for this receiver to
// release some (the next poll lends it) rather than being copied now.
template <class Consumer>
bool ReceiverWrapOf<Consumer>::lends_more() const noexcept {
  return arena_->lent_bytes < lend_budget_;
}

// A slab or heap message as an ArrayBuffer. Lent (`*lent`) when this receiver lends
// it (lends()): an external buffer over the message's memory, which goes back when the
// buffer is released or collected. Otherwise a copy, and the memory goes back now: in
// copying mode, past the lending budget, or where the runtime refuses an external
// buffer after all. nullptr on allocation failure.
template <class Consumer>
napi_value ReceiverWrapOf<Consumer>::wrap_external(napi_env env, Message& m, bool* lent) {
  *lent = false;
  if (copy_ || !lends(m)) {
    napi_value buffer = copy_out(env, m);
    return_memory(arena_->attachment.hub.get(), m);
    return buffer;
  }
  napi_value buffer = nullptr;
  auto* lease = new (std::nothrow) BufferLease{arena_, m.owner, m.lease, std::move(m.block), std::move(m.shared), m.data, m.length};
  if (lease && napi_create_external_arraybuffer(env, const_cast<uint8_t*>(m.data), m.length, &BufferLease::finalize, lease,
                                                &buffer) == napi_ok) {
    ++arena_->refs;
    arena_->live[m.data] = lease;
    arena_->lent_bytes += m.length;
    if (m.owner == Message::Owner::Heap) {
      int64_t unused;
      napi_adjust_external_memory(env, m.length, &unused);
    }
    *lent = true;
    return buffer;
  }
  // No external buffers here (e.g. a sandboxed runtime): copy, and give back now.
  if (lease) {
    m = lease->take_message();
    delete lease;
  }
  buffer = copy_out(env, m);
  return_memory(arena_->attachment.hub.get(), m);
  return buffer;
}

// Receives up to `max` messages into a new array at *out. Small payloads are copied;
// slab and heap payloads become external ArrayBuffers.
template <class Consumer>
Status ReceiverWrapOf<Consumer>::drain(Napi::Env env, std::size_t max, napi_value* out) {
  napi_value list;
  NAPI_THROW_IF_FAILED(env, napi_create_array(env, &list), Status::Corrupt);
  uint32_t count = 0;
  bool failed = false;
  bool rang = false;
  const Status s = consumer_->drain(
      max,
      [&](Message& m) noexcept {
        bool lent;
        napi_value buffer = m.owner == Message::Owner::Ring ? copy_out(env, m) : wrap_external(env, m, &lent);
        if (buffer == nullptr || napi_set_element(env, list, count, buffer) != napi_ok) {
          failed = true;
          return;
        }
        ++count;
      },
      &rang);
  if (rang) arena_->attachment.hub->wake(Side::Sender);
  if (failed) throw Napi::Error::New(env, "out of memory while receiving");
  *out = list;
  return s;
}

// (max, staging: ArrayBuffer, stageMax) -> count | -status
// | large: ArrayBuffer[] | undefined (this thread is stopping).
// Copies small messages back to back into the caller's `staging` buffer, after a
// header of 1 + max u32 rounded up to 8 bytes (lib/batch.js Staging): [0] the count,
// [1 + i] message i's length, or kLargeMessage | its index in `large` for a message
// that gets its own buffer: a pool or heap message (flagged kLentMessage too if it
// was lent: its buffer is one release() can give back), one larger than `stageMax`,
// or one that does not fit. Stops early once a lent buffer brings the live lent bytes
// to the budget (lends_more()). Returns `large` if there was any, else the
// count; -status when there was nothing. A batch of small messages costs one crossing
// and no allocation here: lib/receiver.js cuts them out of `staging`. The staging
// memory is an ArrayBuffer's backing store, which V8 never moves.
template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::PollInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t max = info[0].As<Napi::Number>().Uint32Value();
  const uint32_t stage_max = info[2].As<Napi::Number>().Uint32Value();
  void* data;
  size_t size;
  NAPI_THROW_IF_FAILED(env, napi_get_arraybuffer_info(env, info[1], &data, &size), Napi::Value());
  const size_t header = ((size_t{max} + 1) * sizeof(uint32_t) + 7) & ~size_t{7};
  if (max == 0 || max >= kLentMessage || data == nullptr || size < header) {
    throw Napi::RangeError::New(env, "the staging buffer is too small");
  }
  // A thread stopping after an uncaught exception still runs the microtasks queued,
  // so a receive loop that keeps finding messages would never stop: undefined tells
  // lib/receiver.js to throw (making an ArrayBuffer, which fails then, used to).
  if (env_stopping(env)) return env.Undefined();
  auto* const lengths = static_cast<uint32_t*>(data);  // ArrayBuffer memory is aligned for any element type
  napi_value large = nullptr;
  uint32_t large_count = 0;
  bool failed = false;
  bool rang = false;
  // A message that gets its own buffer: its length word for `lengths`, with `*more`
  // false once the lent buffers reach the budget; 0 if no buffer could be made
  // (`failed`). Out of line, so that the staged path keeps its state in registers.
  auto take_large = [&] [[gnu::noinline]] (Message& m, bool* more) noexcept -> uint32_t {
    bool lent = false;
    napi_value buffer = m.owner == Message::Owner::Ring ? copy_out(env, m) : wrap_external(env, m, &lent);
    if (buffer == nullptr || (large == nullptr && napi_create_array(env, &large) != napi_ok) ||
        napi_set_element(env, large, large_count, buffer) != napi_ok) {
      failed = true;
      return 0;
    }
    *more = !lent || lends_more();
    // Only a lent buffer holds memory that release() gives back.
    return kLargeMessage | (lent ? kLentMessage : 0) | large_count++;
  };
  // The visitor holds what its staged path changes or reads as fields of its own, one
  // load away (drain() holds it by reference), and loads and stores them all before
  // the copy: after it (a call, which may write anywhere) they would be loaded again.
  struct Stage {
    uint8_t* const payload;
    const size_t room;
    uint32_t* const lengths;
    const uint32_t stage_max;
    decltype(take_large)& own_buffer;
    size_t used = 0;
    uint32_t count = 0;

    bool operator()(Message& m) noexcept {
      const uint32_t length = m.length;
      if (m.owner != Message::Owner::Ring || length > stage_max || length > room - used) [[unlikely]] {
        bool more = true;
        const uint32_t word = own_buffer(m, &more);
        if (word == 0) return false;
        lengths[1 + count++] = word;
        return more;
      }
      uint8_t* const to = payload + used;
      used += length;
      lengths[1 + count++] = length;
      if (length) std::memcpy(to, m.data, length);
      return true;
    }
  } stage{static_cast<uint8_t*>(data) + header, size - header, lengths, stage_max, take_large};
  const Status s = consumer_->drain(max, stage, &rang);
  if (rang) arena_->attachment.hub->wake(Side::Sender);
  if (failed) throw Napi::Error::New(env, "out of memory while receiving");
  if (s != Status::Ok) return Napi::Number::New(env, -static_cast<int>(s));
  lengths[0] = stage.count;
  if (large != nullptr) return Napi::Value(env, large);
  return Napi::Number::New(env, stage.count);
}

// Drops up to `n` buffered messages without making buffers of them.
template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::Discard(const Napi::CallbackInfo& info) {
  const uint32_t n = info[0].As<Napi::Number>().Uint32Value();
  uint32_t dropped = 0;
  bool rang = false;
  if (n) {
    consumer_->drain(
        n,
        [&](Message& m) noexcept {
          return_memory(arena_->attachment.hub.get(), m);
          ++dropped;
        },
        &rang);
  }
  if (rang) arena_->attachment.hub->wake(Side::Sender);
  return Napi::Number::New(info.Env(), dropped);
}

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::RecvSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_value list = nullptr;
  const Status s = block_until(
      env, consumer_->data_bell(), timeout_ns(info[0]), spin_ns(info[1]), Status::Empty, [&] { return drain(env, 1, &list); },
      [&] { return !consumer_->ready(); });
  if (s == Status::Ok) return Napi::Array(env, list).Get(uint32_t{0});
  return Napi::Number::New(env, static_cast<int>(s));
}

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::Arm(const Napi::CallbackInfo& info) {
  // Polls first: a message due within the budget costs no sleep and no wake (a
  // threadsafe function call, then the kernel, on both threads).
  if (spin_until(spin_ns(info[0]), [&] { return consumer_->ready(); })) return Napi::Boolean::New(info.Env(), false);
  consumer_->data_bell().prepare_sleep();
  return Napi::Boolean::New(info.Env(), !consumer_->ready());
}

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool is_buffer = false;
  if (napi_is_arraybuffer(env, info[0], &is_buffer) != napi_ok || !is_buffer) return Napi::Boolean::New(env, false);
  void* data;
  size_t length;
  NAPI_THROW_IF_FAILED(env, napi_get_arraybuffer_info(env, info[0], &data, &length), Napi::Value());
  BufferLease* lease = data ? arena_->by_data(data) : nullptr;
  if (lease == nullptr || lease->returned || lease->length != length) return Napi::Boolean::New(env, false);
  NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, info[0]), Napi::Value());
  lease->give_back(env);
  return Napi::Boolean::New(env, true);
}

// The receiver is done. A queue's senders get ERR_CHANNEL_DISCONNECTED, and buffered
// messages are dropped and their slabs returned; a broadcast goes on for the others.
template <class Consumer>
void ReceiverWrapOf<Consumer>::Close(const Napi::CallbackInfo&) {
  endpoint_->end(true);
  if constexpr (kBroadcast) {
    consumer_->close();
  } else {
    consumer_->discard_after_end();
  }
}

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::ErrorInfo(const Napi::CallbackInfo& info) {
  return error_info(info.Env(), arena_->attachment.hub->memory());
}

template <class Consumer>
void ReceiverWrapOf<Consumer>::SetWaiting(const Napi::CallbackInfo& info) { endpoint_->set_waiting(info[0].As<Napi::Boolean>()); }
template <class Consumer>
void ReceiverWrapOf<Consumer>::SetRefed(const Napi::CallbackInfo& info) { endpoint_->set_refed(info[0].As<Napi::Boolean>()); }

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::Missed(const Napi::CallbackInfo& info) {
  if constexpr (kBroadcast) return Napi::Number::New(info.Env(), static_cast<double>(consumer_->missed()));
  return Napi::Number::New(info.Env(), 0);
}

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  if constexpr (kBroadcast) {
    const BroadcastConsumer& c = *consumer_;
    out.Set("received", Napi::Number::New(env, static_cast<double>(c.received())));
    out.Set("bytesReceived", Napi::Number::New(env, static_cast<double>(c.received_bytes())));
    out.Set("lagged", Napi::Number::New(env, static_cast<double>(c.lag_events())));
    out.Set("missed", Napi::Number::New(env, static_cast<double>(c.missed_total())));
    out.Set("pending", Napi::Number::New(env, static_cast<double>(c.pending_approx())));
  }
  return out;
}

template class ReceiverWrapOf<QueueConsumer>;
template class ReceiverWrapOf<BroadcastConsumer>;

}  // namespace ringport
