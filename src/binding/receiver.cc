// ReceiverWrap: the consuming end, on its owner's JS thread, and the external
// buffers it hands out.
#include <cstring>

#include "wraps.hh"

namespace ringport {

// Keeps the SharedArrayBuffer (and the hub) alive while the receiver or any buffer
// it handed out lives: V8 frees a SharedArrayBuffer's memory when no thread holds
// it, even while external buffers still point into it (DESIGN.md, Buffer pool).
// JS thread only: external buffer finalizers run on the thread that created them.
struct Arena {
  Attachment attachment;
  std::size_t refs = 1;  // the receiver + each live buffer
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

  void give_back(napi_env env) {
    if (returned) return;
    returned = true;
    if (owner == Message::Owner::Heap) {
      int64_t unused;
      napi_adjust_external_memory(env, -static_cast<int64_t>(length), &unused);
    }
    Message m{owner, nullptr, length, lease, std::move(block), std::move(shared)};
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

// Copies `m` into a fresh ArrayBuffer (small messages, or a runtime without external
// buffers). Returns nullptr on allocation failure.
napi_value copy_out(napi_env env, const Message& m) {
  void* data;
  napi_value out;
  if (napi_create_arraybuffer(env, m.length, &data, &out) != napi_ok) return nullptr;
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
  consumer_.emplace(hub.memory(), hub.heap());
  endpoint_.emplace(info.Env(), info.This().template As<Napi::Object>(), arena_->attachment.hub, Side::Receiver, 0,
                    kBroadcast ? Endpoint::Scope::Local : Endpoint::Scope::Shared);
  using W = ReceiverWrapOf;
  const napi_property_descriptor hot[] = {direct_method<W, &W::Poll>("poll", this), direct_method<W, &W::PollBatch>("pollBatch", this),
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

// An external ArrayBuffer over a slab or heap message, which returns its memory when
// released or collected; a copy (memory returned now) in copying mode, or where the
// runtime refuses an external buffer after all. nullptr on allocation failure.
template <class Consumer>
napi_value ReceiverWrapOf<Consumer>::wrap_external(napi_env env, Message& m) {
  napi_value buffer = nullptr;
  if (copy_) {
    buffer = copy_out(env, m);
    return_memory(arena_->attachment.hub.get(), m);
    return buffer;
  }
  auto* lease = new (std::nothrow) BufferLease{arena_, m.owner, m.lease, std::move(m.block), std::move(m.shared), m.data, m.length};
  if (lease && napi_create_external_arraybuffer(env, const_cast<uint8_t*>(m.data), m.length, &BufferLease::finalize, lease,
                                                &buffer) == napi_ok) {
    ++arena_->refs;
    arena_->live[m.data] = lease;
    if (m.owner == Message::Owner::Heap) {
      int64_t unused;
      napi_adjust_external_memory(env, m.length, &unused);
    }
    return buffer;
  }
  // No external buffers here (e.g. a sandboxed runtime): copy, and give back now.
  buffer = copy_out(env, m);
  if (lease) {
    lease->give_back(env);
    delete lease;
  } else {
    return_memory(arena_->attachment.hub.get(), m);
  }
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
        napi_value buffer = m.owner == Message::Owner::Ring ? copy_out(env, m) : wrap_external(env, m);
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

// (max) -> [packed: ArrayBuffer, count, large: ArrayBuffer[]] | status.
// `packed` starts with `count` u32 lengths, then the small payloads back to back: one
// ArrayBuffer for the whole batch instead of one per message. A length with
// kLargeMessage set is the index of a large message's own buffer in `large`.
template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::PollBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t max = info[0].As<Napi::Number>().Uint32Value();
  napi_value large;
  NAPI_THROW_IF_FAILED(env, napi_create_array(env, &large), Napi::Value());
  batch_lengths_.clear();
  batch_bytes_.clear();
  uint32_t large_count = 0;
  bool failed = false;
  bool rang = false;
  const Status s = consumer_->drain(
      max ? max : 1,
      [&](Message& m) noexcept {
        try {
          if (m.owner == Message::Owner::Ring) {
            batch_lengths_.push_back(m.length);
            batch_bytes_.insert(batch_bytes_.end(), m.data, m.data + m.length);
            return;
          }
          napi_value buffer = wrap_external(env, m);
          if (buffer == nullptr || napi_set_element(env, large, large_count, buffer) != napi_ok) {
            failed = true;
            return;
          }
          batch_lengths_.push_back(kLargeMessage | large_count++);
        } catch (const std::bad_alloc&) {
          failed = true;
        }
      },
      &rang);
  if (rang) arena_->attachment.hub->wake(Side::Sender);
  if (failed) throw Napi::Error::New(env, "out of memory while receiving");
  if (s != Status::Ok) return Napi::Number::New(env, static_cast<int>(s));
  const size_t header = batch_lengths_.size() * sizeof(uint32_t);
  void* data;
  napi_value packed;
  NAPI_THROW_IF_FAILED(env, napi_create_arraybuffer(env, header + batch_bytes_.size(), &data, &packed), Napi::Value());
  std::memcpy(data, batch_lengths_.data(), header);
  if (!batch_bytes_.empty()) std::memcpy(static_cast<uint8_t*>(data) + header, batch_bytes_.data(), batch_bytes_.size());
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(uint32_t{0}, Napi::Value(env, packed));
  out.Set(uint32_t{1}, Napi::Number::New(env, static_cast<double>(batch_lengths_.size())));
  out.Set(uint32_t{2}, Napi::Value(env, large));
  return out;
}

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t max = info[0].As<Napi::Number>().Uint32Value();
  napi_value list;
  const Status s = drain(env, max ? max : 1, &list);
  if (s == Status::Ok) return Napi::Value(env, list);
  return Napi::Number::New(env, static_cast<int>(s));
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
      env, consumer_->data_bell(), timeout_ns(info[0]), Status::Empty, [&] { return drain(env, 1, &list); },
      [&] { return !consumer_->ready(); });
  if (s == Status::Ok) return Napi::Array(env, list).Get(uint32_t{0});
  return Napi::Number::New(env, static_cast<int>(s));
}

template <class Consumer>
Napi::Value ReceiverWrapOf<Consumer>::Arm(const Napi::CallbackInfo& info) {
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
