// BroadcastSenderWrap: a broadcast's producing end, on its owner's JS thread. Its
// receivers are ReceiverWrapOf<BroadcastConsumer> (receiver.cc).
#include "wraps.hh"

namespace ringport {

Napi::Function BroadcastSenderWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeBroadcastSender",
                     {InstanceMethod<&BroadcastSenderWrap::Send>("send"),
                      InstanceMethod<&BroadcastSenderWrap::SendBatch>("sendBatch"),
                      InstanceMethod<&BroadcastSenderWrap::Close>("close"),
                      InstanceMethod<&BroadcastSenderWrap::CloseWithError>("closeWithError")});
}

BroadcastSenderWrap::BroadcastSenderWrap(const Napi::CallbackInfo& info)
    : ObjectWrap(info), attachment_(Attachment::from(info[0], ChannelKind::Broadcast)) {
  Hub& hub = *attachment_.hub;
  producer_.emplace(hub.memory(), hub.heap());
  hub.memory().open_sender();
  endpoint_.emplace(info.Env(), info.This().As<Napi::Object>(), attachment_.hub, Side::Sender, kFirstProducerTicket);
}

Napi::Value BroadcastSenderWrap::Send(const Napi::CallbackInfo& info) {
  const Status s = send_value(info.Env(), *producer_, *attachment_.hub, info[0]);
  return Napi::Number::New(info.Env(), static_cast<int>(s));
}

Napi::Value BroadcastSenderWrap::SendBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), send_values(info.Env(), *producer_, *attachment_.hub, info[0].As<Napi::Array>()));
}

void BroadcastSenderWrap::Close(const Napi::CallbackInfo&) { endpoint_->end(true); }

void BroadcastSenderWrap::CloseWithError(const Napi::CallbackInfo& info) { close_with_error(info, *attachment_.hub, *endpoint_); }

}  // namespace ringport
