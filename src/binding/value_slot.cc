// ValueSenderWrap and ValueReceiverWrap: the ends of a Watch or a Mailbox, on their
// owner's JS thread. A value is copied into the slot by send and out of it into a
// fresh ArrayBuffer by each receive: the slot is rewritten in place, so nothing in it
// can be lent to JS zero-copy.
#include "wraps.hh"

namespace ringport {
namespace {

ChannelKind value_kind(const Napi::Value& kind) {
  const uint32_t k = kind.As<Napi::Number>().Uint32Value();
  if (!is_value_kind(k)) throw Napi::TypeError::New(kind.Env(), "not the kind of a value channel");
  return static_cast<ChannelKind>(k);
}

}  // namespace

Napi::Function ValueSenderWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeValueSender",
                     {InstanceMethod<&ValueSenderWrap::Close>("close"), InstanceMethod<&ValueSenderWrap::CloseWithError>("closeWithError")});
}

ValueSenderWrap::ValueSenderWrap(const Napi::CallbackInfo& info)
    : ObjectWrap(info), attachment_(Attachment::from(info[0], value_kind(info[1]))) {
  Hub& hub = *attachment_.hub;
  writer_.emplace(hub.memory());
  hub.memory().open_sender();
  // The endpoint tells the receivers when this sender closes, dies or is collected.
  endpoint_.emplace(info.Env(), info.This().As<Napi::Object>(), attachment_.hub, Side::Sender, kFirstProducerTicket);
  const napi_property_descriptor hot[] = {direct_method<ValueSenderWrap, &ValueSenderWrap::Send>("send", this)};
  NAPI_THROW_IF_FAILED_VOID(info.Env(), napi_define_properties(info.Env(), info.This(), std::size(hot), hot));
}

// true for Ok, else the status (send_answer(); lib/instant-sender.js).
napi_value ValueSenderWrap::Send(napi_env env, napi_value value) {
  const uint8_t* data;
  size_t length;
  bytes_of(Napi::Env(env), value, &data, &length);
  Status s = Status::TooLarge;
  if (length <= UINT32_MAX) {
    bool rang;
    s = writer_->try_send(data, static_cast<uint32_t>(length), &rang);
    if (rang) attachment_.hub->wake(Side::Receiver);  // every receiver's event loop re-checks
  }
  return send_answer(env, s);
}

void ValueSenderWrap::Close(const Napi::CallbackInfo&) { endpoint_->end(true); }

void ValueSenderWrap::CloseWithError(const Napi::CallbackInfo& info) { close_with_error(info, *attachment_.hub, *endpoint_); }

Napi::Function ValueReceiverWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeValueReceiver",
                     {InstanceMethod<&ValueReceiverWrap::Recv>("recv"), InstanceMethod<&ValueReceiverWrap::Latest>("latest"),
                      InstanceMethod<&ValueReceiverWrap::Arm>("arm"), InstanceMethod<&ValueReceiverWrap::Close>("close"),
                      InstanceMethod<&ValueReceiverWrap::ErrorInfo>("errorInfo"),
                      InstanceMethod<&ValueReceiverWrap::SetWaiting>("setWaiting"),
                      InstanceMethod<&ValueReceiverWrap::SetRefed>("setRefed")});
}

// A Mailbox receiver's end (close, thread exit, collection) disconnects the sender; a
// Watch receiver's concerns no one else.
ValueReceiverWrap::ValueReceiverWrap(const Napi::CallbackInfo& info)
    : ObjectWrap(info), attachment_(Attachment::from(info[0], value_kind(info[1]))) {
  ChannelMemory& memory = attachment_.hub->memory();
  const bool mailbox = memory.layout().kind == static_cast<uint32_t>(ChannelKind::Mailbox);
  reader_.emplace(memory);
  endpoint_.emplace(info.Env(), info.This().As<Napi::Object>(), attachment_.hub, Side::Receiver, 0,
                    mailbox ? Endpoint::Scope::Shared : Endpoint::Scope::Local);
}

// Runs `read(sink)` with a sink that allocates the ArrayBuffer the value is copied
// into: the buffer, or the status when there is none.
template <class Read>
Napi::Value ValueReceiverWrap::copy_out(Napi::Env env, Read read) {
  napi_value buffer = nullptr;
  const Status s = read([&](uint32_t length, uint8_t** to) {
    void* data = nullptr;
    if (napi_create_arraybuffer(env, length, &data, &buffer) != napi_ok) return false;
    *to = static_cast<uint8_t*>(data);
    return true;
  });
  if (s == Status::InvalidArgument) throw Napi::Error::New(env, "out of memory while receiving");
  if (s == Status::Ok) return Napi::Value(env, buffer);
  return Napi::Number::New(env, static_cast<int>(s));
}

Napi::Value ValueReceiverWrap::Recv(const Napi::CallbackInfo& info) {
  if (endpoint_->ended()) return Napi::Number::New(info.Env(), static_cast<int>(Status::Closed));
  return copy_out(info.Env(), [&](auto&& sink) { return reader_->receive(sink); });
}

Napi::Value ValueReceiverWrap::Latest(const Napi::CallbackInfo& info) {
  return copy_out(info.Env(), [&](auto&& sink) { return reader_->read_latest(sink); });
}

Napi::Value ValueReceiverWrap::Arm(const Napi::CallbackInfo& info) {
  reader_->data_bell().prepare_sleep();
  return Napi::Boolean::New(info.Env(), !reader_->ready());
}

void ValueReceiverWrap::Close(const Napi::CallbackInfo&) { endpoint_->end(true); }

Napi::Value ValueReceiverWrap::ErrorInfo(const Napi::CallbackInfo& info) { return error_info(info.Env(), attachment_.hub->memory()); }

void ValueReceiverWrap::SetWaiting(const Napi::CallbackInfo& info) { endpoint_->set_waiting(info[0].As<Napi::Boolean>()); }
void ValueReceiverWrap::SetRefed(const Napi::CallbackInfo& info) { endpoint_->set_refed(info[0].As<Napi::Boolean>()); }

Napi::Value ChannelWrap::SlotStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ChannelMemory& memory = attachment_.hub->memory();
  if (!is_value_kind(memory.layout().kind)) return env.Undefined();
  const ValueStats s = ValueSlot(memory).stats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("dropped", Napi::Number::New(env, static_cast<double>(s.dropped)));
  out.Set("pending", Napi::Number::New(env, static_cast<double>(s.pending)));
  out.Set("pendingBytes", Napi::Number::New(env, static_cast<double>(s.pending_bytes)));
  return out;
}

}  // namespace ringport
