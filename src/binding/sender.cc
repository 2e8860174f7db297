// SenderWrap: the producing end, on its owner's JS thread.
#include "wraps.hh"

namespace ringport {

Napi::Function SenderWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeSender",
                     {InstanceMethod<&SenderWrap::Room>("room"),
                      InstanceMethod<&SenderWrap::Reserve>("reserve"), InstanceMethod<&SenderWrap::Commit>("commit"),
                      InstanceMethod<&SenderWrap::Abort>("abort"), InstanceMethod<&SenderWrap::SendSync>("sendSync"),
                      InstanceMethod<&SenderWrap::Arm>("arm"), InstanceMethod<&SenderWrap::Close>("close"),
                      InstanceMethod<&SenderWrap::CloseWithError>("closeWithError"),
                      InstanceMethod<&SenderWrap::SetWaiting>("setWaiting"),
                      InstanceMethod<&SenderWrap::SetRefed>("setRefed")});
}

// (view, additional): the channel's first sender (its role already claimed by the
// caller), or with `additional` one more producer, which upgrades the channel to
// multi-producer. Throws ERR_CHANNEL_ROLE_TAKEN when every producer slot is taken, and
// always for a 'dropOldest' channel, which has one producer.
SenderWrap::SenderWrap(const Napi::CallbackInfo& info) : ObjectWrap(info), attachment_(Attachment::from(info[0], ChannelKind::Queue)) {
  Hub& hub = *attachment_.hub;
  uint32_t ticket = kFirstProducerTicket;
  if (info[1].ToBoolean()) {
    if (hub.memory().claim_producer(&ticket) != Status::Ok) {
      throw_channel_error(info.Env(), "ERR_CHANNEL_ROLE_TAKEN",
                          hub.memory().layout().drops_oldest()
                              ? "a 'dropOldest' channel has a single sender (it drops messages in place, which several "
                                "senders cannot share), and that sender was already claimed"
                              : "every producer slot of this channel is taken");
    }
    producer_.emplace(hub.memory(), hub.heap(), ticket);
  } else {
    producer_.emplace(hub.memory(), hub.heap());
  }
  hub.memory().open_sender();
  endpoint_.emplace(info.Env(), info.This().As<Napi::Object>(), attachment_.hub, Side::Sender, ticket);
  const napi_property_descriptor hot[] = {direct_method<SenderWrap, &SenderWrap::Send>("send", this),
                                          direct_method<SenderWrap, &SenderWrap::SendBatch>("sendBatch", this),
                                          direct_method<SenderWrap, &SenderWrap::SendPacked>("sendPacked", this)};
  NAPI_THROW_IF_FAILED_VOID(info.Env(), napi_define_properties(info.Env(), info.This(), std::size(hot), hot));
}

// Collected, or its thread is ending (finalizers run on worker exit and terminate()):
// nothing can commit or abort its reservations any more, so their slabs go back to the
// pool; else a producer that dies between reserve() and commit() leaks them for good.
SenderWrap::~SenderWrap() {
  for (const auto& [key, generation] : reserved_) {
    producer_->pool().release(Lease{static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key), generation});
  }
}

namespace {
uint64_t reservation_key(const Lease& lease) { return (uint64_t{lease.cls} << 32) | lease.index; }
}  // namespace

// true for Ok, else the status (send_answer(); lib/sender.js #sendOne).
napi_value SenderWrap::Send(napi_env env, napi_value data) {
  const Status s = send_value(Napi::Env(env), *producer_, *attachment_.hub, data);
  return send_answer(env, s);
}

Napi::Value SenderWrap::SendBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), send_values(info.Env(), *producer_, *attachment_.hub, info[0].As<Napi::Array>()));
}

// (bytes: Uint8Array, lengths: Uint32Array, count) -> how many were sent before one
// did not fit: message i is the next lengths[i] bytes of `bytes`. One crossing, one
// doorbell check, and no per-message N-API calls, which cost more than the send itself
// for small messages (lib/sender.js packs small sendBatch() lists).
Napi::Value SenderWrap::SendPacked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* bytes;
  size_t size;
  bytes_of(env, info[0], &bytes, &size);
  const uint8_t* raw_lengths;
  size_t lengths_size;
  bytes_of(env, info[1], &raw_lengths, &lengths_size);
  const uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  if (count > lengths_size / sizeof(uint32_t)) throw Napi::RangeError::New(env, "more messages than lengths");
  const auto* lengths = reinterpret_cast<const uint32_t*>(raw_lengths);  // a Uint32Array's data is 4-byte aligned
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) total += lengths[i];
  if (total > size) throw Napi::RangeError::New(env, "the lengths add up to more than the bytes");
  size_t at = 0;
  uint32_t sent;
  bool rang;
  producer_->try_send_batch(
      count,
      [&](uint32_t i, const uint8_t** data, uint32_t* len) {
        *data = bytes + at;
        *len = lengths[i];
        at += lengths[i];
      },
      &sent, &rang);
  if (rang) attachment_.hub->wake(Side::Receiver);
  return Napi::Number::New(env, sent);
}

Napi::Value SenderWrap::Room(const Napi::CallbackInfo& info) {
  const uint32_t len = info[0].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), static_cast<int>(producer_->poll_room(len)));
}

// Leases a slab for a zero-copy send; JS writes into it through a view of the
// SharedArrayBuffer at `offset`. null when no slab of that size is free.
Napi::Value SenderWrap::Reserve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t size = info[0].As<Napi::Number>().Uint32Value();
  SlabPool& pool = producer_->pool();
  Lease lease;
  if (pool.acquire_for(size, &lease) != Status::Ok) return env.Null();
  try {
    reserved_[reservation_key(lease)] = lease.generation;
  } catch (const std::bad_alloc&) {
    pool.release(lease);
    return env.Null();  // JS falls back to ordinary memory, as with an empty pool
  }
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(uint32_t{0}, Napi::Number::New(env, static_cast<double>(pool.data(lease) - attachment_.hub->memory().base())));
  out.Set(uint32_t{1}, Napi::Number::New(env, lease.cls));
  out.Set(uint32_t{2}, Napi::Number::New(env, lease.index));
  out.Set(uint32_t{3}, Napi::Number::New(env, lease.generation));
  return out;
}

Napi::Value SenderWrap::Commit(const Napi::CallbackInfo& info) {
  const Lease lease{info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value(),
                    info[2].As<Napi::Number>().Uint32Value()};
  bool rang;
  Status s = producer_->try_commit(lease, info[3].As<Napi::Number>().Uint32Value(), &rang);
  if (s == Status::Ok) reserved_.erase(reservation_key(lease));  // the receiver's now (try_commit checked the generation)
  if (rang) attachment_.hub->wake(Side::Receiver);
  // lib/sender.js commits only leases it reserved and has not committed or aborted, at
  // most their size: a refused lease means its slab descriptor was overwritten in
  // shared memory (found by test/55.scribbler.test.js).
  if (s == Status::InvalidArgument) s = Status::Corrupt;
  return Napi::Number::New(info.Env(), static_cast<int>(s));
}

void SenderWrap::Abort(const Napi::CallbackInfo& info) {
  const Lease lease{info[0].As<Napi::Number>().Uint32Value(), info[1].As<Napi::Number>().Uint32Value(),
                    info[2].As<Napi::Number>().Uint32Value()};
  if (auto it = reserved_.find(reservation_key(lease)); it != reserved_.end() && it->second == lease.generation) reserved_.erase(it);
  producer_->pool().release(lease);
}

Napi::Value SenderWrap::SendSync(const Napi::CallbackInfo& info) {
  const uint8_t* data;
  size_t length;
  bytes_of(info.Env(), info[0], &data, &length);
  if (length > UINT32_MAX) return Napi::Number::New(info.Env(), static_cast<int>(Status::TooLarge));
  const uint32_t len = static_cast<uint32_t>(length);
  const Status s = block_until(
      info.Env(), producer_->space_bell(), timeout_ns(info[1]), kDefaultSpinNs, Status::Full,
      [&] {
        bool rang;
        const Status sent = producer_->try_send(data, len, &rang);
        if (rang) attachment_.hub->wake(Side::Receiver);
        return sent;
      },
      [&] { return producer_->poll_room(len) == Status::Full; });
  return Napi::Number::New(info.Env(), static_cast<int>(s));
}

Napi::Value SenderWrap::Arm(const Napi::CallbackInfo& info) {
  const uint32_t len = info[0].As<Napi::Number>().Uint32Value();
  producer_->space_bell().prepare_sleep();
  return Napi::Boolean::New(info.Env(), producer_->poll_room(len) == Status::Full);
}

void SenderWrap::Close(const Napi::CallbackInfo&) { endpoint_->end(true); }


void SenderWrap::CloseWithError(const Napi::CallbackInfo& info) { close_with_error(info, *attachment_.hub, *endpoint_); }

void SenderWrap::SetWaiting(const Napi::CallbackInfo& info) { endpoint_->set_waiting(info[0].As<Napi::Boolean>()); }
void SenderWrap::SetRefed(const Napi::CallbackInfo& info) { endpoint_->set_refed(info[0].As<Napi::Boolean>()); }

}  // namespace ringport
