// BroadcastSenderWrap: a broadcast's producing end, on its owner's JS thread. Its
// receivers are ReceiverWrapOf<BroadcastConsumer> (receiver.cc).
#include "wraps.hh"

namespace ringport {

Napi::Function BroadcastSenderWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeBroadcastSender",
                     {InstanceMethod<&BroadcastSenderWrap::Close>("close"),
                      InstanceMethod<&BroadcastSenderWrap::CloseWithError>("closeWithError")});
}

BroadcastSenderWrap::BroadcastSenderWrap(const Napi::CallbackInfo& info)
    : ObjectWrap(info), attachment_(Attachment::from(info[0], ChannelKind::Broadcast)) {
  Hub& hub = *attachment_.hub;
  producer_.emplace(hub.memory(), hub.heap());
  hub.memory().open_sender();
  endpoint_.emplace(info.Env(), info.This().As<Napi::Object>(), attachment_.hub, Side::Sender, kFirstProducerTicket);
  const napi_property_descriptor hot[] = {direct_method<BroadcastSenderWrap, &BroadcastSenderWrap::Send>("send", this),
                                          direct_method<BroadcastSenderWrap, &BroadcastSenderWrap::SendBatch>("sendBatch", this)};
  NAPI_THROW_IF_FAILED_VOID(info.Env(), napi_define_properties(info.Env(), info.This(), std::size(hot), hot));
}

// true for Ok, else the status (send_answer(); lib/instant-sender.js).
napi_value BroadcastSenderWrap::Send(napi_env env, napi_value data) {
  const Status s = send_value(Napi::Env(env), *producer_, *attachment_.hub, data);
  return send_answer(env, s);
}

Napi::Value BroadcastSenderWrap::SendBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), send_values(info.Env(), *producer_, *attachment_.hub, info[0].As<Napi::Array>()));
}

void BroadcastSenderWrap::Close(const Napi::CallbackInfo&) { endpoint_->end(true); }

void BroadcastSenderWrap::CloseWithError(const Napi::CallbackInfo& info) { close_with_error(info, *attachment_.hub, *endpoint_); }

}  // namespace ringport
