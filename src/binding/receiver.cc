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

// What one external buffer holds: a slab lease or a heap block, returned once.
struct BufferLease {
  Arena* arena;
  Message::Owner owner;
  Lease lease;
  HeapBlock block;
  const void* data;
  uint32_t length;
  bool returned = false;

  void give_back(napi_env env) {
    if (returned) return;
    returned = true;
    if (owner == Message::Owner::Slab) {
      ChannelMemory& m = arena->attachment.hub->memory();
      SlabPool(m.base(), m.layout(), m.header()).release(lease);
    } else {
      arena->attachment.hub->heap().recycle(std::move(block));
      int64_t unused;
      napi_adjust_external_memory(env, -static_cast<int64_t>(length), &unused);
    }
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

Napi::Function ReceiverWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeReceiver",
                     {InstanceMethod<&ReceiverWrap::Poll>("poll"), InstanceMethod<&ReceiverWrap::PollBatch>("pollBatch"),
                      InstanceMethod<&ReceiverWrap::Discard>("discard"), InstanceMethod<&ReceiverWrap::RecvSync>("recvSync"),
                      InstanceMethod<&ReceiverWrap::Arm>("arm"), InstanceMethod<&ReceiverWrap::Release>("release"),
                      InstanceMethod<&ReceiverWrap::Close>("close"), InstanceMethod<&ReceiverWrap::ErrorInfo>("errorInfo"),
                      InstanceMethod<&ReceiverWrap::SetWaiting>("setWaiting"),
                      InstanceMethod<&ReceiverWrap::SetRefed>("setRefed")});
}

ReceiverWrap::ReceiverWrap(const Napi::CallbackInfo& info)
    : ObjectWrap(info), arena_(new Arena{Attachment::from(info[0], ChannelKind::Queue)}) {
  Hub& hub = *arena_->attachment.hub;
  consumer_.emplace(hub.memory(), hub.heap());
  endpoint_.emplace(info.Env(), info.This().As<Napi::Object>(), arena_->attachment.hub, Side::Receiver);
}

ReceiverWrap::~ReceiverWrap() {
  endpoint_.reset();
  consumer_.reset();
  arena_->unref();
}

// Receives up to `max` messages into a new array at *out. Small payloads are copied;
// slab and heap payloads become external ArrayBuffers that return their memory when
// released or collected.
// An external ArrayBuffer over a slab or heap message, which returns its memory when
// released or collected; a copy (memory returned now) where the runtime refuses
// external buffers. nullptr on allocation failure.
napi_value ReceiverWrap::wrap_external(napi_env env, Message& m) {
  napi_value buffer = nullptr;
  auto* lease = new (std::nothrow) BufferLease{arena_, m.owner, m.lease, std::move(m.block), m.data, m.length};
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
  buffer = copy_out(env, Message{m.owner, lease ? static_cast<const uint8_t*>(lease->data) : m.data, m.length});
  if (lease) {
    lease->give_back(env);
    delete lease;
  }
  return buffer;
}

// Receives up to `max` messages into a new array at *out. Small payloads are copied;
// slab and heap payloads become external ArrayBuffers.
Status ReceiverWrap::drain(Napi::Env env, std::size_t max, napi_value* out) {
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
Napi::Value ReceiverWrap::PollBatch(const Napi::CallbackInfo& info) {
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

Napi::Value ReceiverWrap::Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t max = info[0].As<Napi::Number>().Uint32Value();
  napi_value list;
  const Status s = drain(env, max ? max : 1, &list);
  if (s == Status::Ok) return Napi::Value(env, list);
  return Napi::Number::New(env, static_cast<int>(s));
}

// Drops up to `n` buffered messages without making buffers of them.
Napi::Value ReceiverWrap::Discard(const Napi::CallbackInfo& info) {
  const uint32_t n = info[0].As<Napi::Number>().Uint32Value();
  uint32_t dropped = 0;
  bool rang = false;
  if (n) {
    consumer_->drain(
        n,
        [&](Message& m) noexcept {
          give_back(m, consumer_->pool(), arena_->attachment.hub->heap());
          ++dropped;
        },
        &rang);
  }
  if (rang) arena_->attachment.hub->wake(Side::Sender);
  return Napi::Number::New(info.Env(), dropped);
}

Napi::Value ReceiverWrap::RecvSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_value list = nullptr;
  const Status s = block_until(
      env, consumer_->data_bell(), timeout_ns(info[0]), Status::Empty, [&] { return drain(env, 1, &list); },
      [&] { return !consumer_->ready(); });
  if (s == Status::Ok) return Napi::Array(env, list).Get(uint32_t{0});
  return Napi::Number::New(env, static_cast<int>(s));
}

Napi::Value ReceiverWrap::Arm(const Napi::CallbackInfo& info) {
  consumer_->data_bell().prepare_sleep();
  return Napi::Boolean::New(info.Env(), !consumer_->ready());
}

Napi::Value ReceiverWrap::Release(const Napi::CallbackInfo& info) {
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

// The receiver is done: senders get ERR_CHANNEL_DISCONNECTED; buffered messages
// are dropped and their slabs returned.
void ReceiverWrap::Close(const Napi::CallbackInfo&) {
  endpoint_->end(true);
  consumer_->discard_all();
}

Napi::Value ReceiverWrap::ErrorInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string_view name, message, code;
  Napi::Array out = Napi::Array::New(env, 3);
  if (!arena_->attachment.hub->memory().read_error(&name, &message, &code)) return out;
  out.Set(uint32_t{0}, Napi::String::New(env, name.data(), name.size()));
  out.Set(uint32_t{1}, Napi::String::New(env, message.data(), message.size()));
  out.Set(uint32_t{2}, Napi::String::New(env, code.data(), code.size()));
  return out;
}

void ReceiverWrap::SetWaiting(const Napi::CallbackInfo& info) { endpoint_->set_waiting(info[0].As<Napi::Boolean>()); }
void ReceiverWrap::SetRefed(const Napi::CallbackInfo& info) { endpoint_->set_refed(info[0].As<Napi::Boolean>()); }

}  // namespace ringport
