// Module entry: helpers shared by the wraps, the ChannelWrap class, and Init.
#include <napi.h>

#include <cstdlib>
#include <cstring>

#include "wraps.hh"

namespace ringport {
namespace {

// Per-environment state: the ChannelError class lib/binding.js registers.
struct AddonData {
  Napi::FunctionReference channel_error;
};

uint64_t to_u64(const Napi::Value& v) { return v.IsNumber() ? static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()) : 0; }

Napi::Value layout_size(const Napi::CallbackInfo& info) {
  Layout layout;
  if (Layout::compute(config_from(info[0].As<Napi::Object>()), &layout) != Status::Ok) {
    throw Napi::RangeError::New(info.Env(), "channel options out of range");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(layout.total_bytes));
}

// format(view, options): writes a fresh channel into a zero-filled SharedArrayBuffer view.
void format(const Napi::CallbackInfo& info) {
  Layout layout;
  if (Layout::compute(config_from(info[1].As<Napi::Object>()), &layout) != Status::Ok) {
    throw Napi::RangeError::New(info.Env(), "channel options out of range");
  }
  const uint8_t* data;
  size_t length;
  bytes_of(info.Env(), info[0], &data, &length);
  if (ChannelMemory::initialize(const_cast<uint8_t*>(data), length, layout) != Status::Ok) {
    throw Napi::RangeError::New(info.Env(), "buffer too small for the channel");
  }
}

// Whether this runtime lets an addon wrap memory it owns in an ArrayBuffer. Electron's
// V8 sandbox refuses (napi_no_external_buffers_allowed); receivers there copy every
// message. Probed once per environment, at module init. RINGPORT_NO_EXTERNAL_BUFFERS=1
// makes the probe fail, as such a runtime would (tests use it).
bool external_buffers_allowed(napi_env env) {
  if (const char* simulate = std::getenv("RINGPORT_NO_EXTERNAL_BUFFERS"); simulate && std::strcmp(simulate, "1") == 0) return false;
  static uint8_t probe[8];  // never written: every thread may share it
  napi_value buffer;
  return napi_create_external_arraybuffer(env, probe, sizeof probe, nullptr, nullptr, &buffer) == napi_ok;
}

void set_error_class(const Napi::CallbackInfo& info) {
  info.Env().GetInstanceData<AddonData>()->channel_error = Napi::Persistent(info[0].As<Napi::Function>());
}

}  // namespace

void throw_channel_error(Napi::Env env, const char* code, const char* message) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->channel_error.IsEmpty()) throw Napi::Error::New(env, message);
  Napi::Object error = data->channel_error.New({Napi::String::New(env, message), Napi::String::New(env, code)});
  throw Napi::Error(env, error);
}

void bytes_of(Napi::Env env, napi_value value, const uint8_t** data, size_t* length) {
  bool is = false;
  void* p = nullptr;
  // Node answers any ArrayBufferView as a "buffer", with its byte length at once;
  // napi_get_typedarray_info tests the view against each element type in turn.
  if (napi_is_buffer(env, value, &is) == napi_ok && is && napi_get_buffer_info(env, value, &p, length) == napi_ok) {
    *data = static_cast<const uint8_t*>(p);
    return;
  }
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t elements;
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_typedarray_info(env, value, &type, &elements, &p, nullptr, nullptr));
    static constexpr uint8_t kElementSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};  // napi_typedarray_type order
    *data = static_cast<const uint8_t*>(p);
    *length = elements * (static_cast<size_t>(type) < sizeof kElementSize ? kElementSize[type] : 1);
    return;
  }
  if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_dataview_info(env, value, length, &p, nullptr, nullptr));
    *data = static_cast<const uint8_t*>(p);
    return;
  }
  if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) {
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_arraybuffer_info(env, value, &p, length));
    *data = static_cast<const uint8_t*>(p);
    return;
  }
  throw Napi::TypeError::New(env, "expected an ArrayBuffer or ArrayBufferView");
}

void close_with_error(const Napi::CallbackInfo& info, Hub& hub, Endpoint& endpoint) {
  if (endpoint.ended()) return;
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  const std::string message = info[1].As<Napi::String>().Utf8Value();
  const std::string code = info[2].As<Napi::String>().Utf8Value();
  hub.memory().write_error(name, message, code);
  endpoint.end_all(state_bits::kSenderErrored);
}

Napi::Value error_info(Napi::Env env, const ChannelMemory& memory) {
  std::string_view name, message, code;
  Napi::Array out = Napi::Array::New(env, 3);
  if (!memory.read_error(&name, &message, &code)) return out;
  out.Set(uint32_t{0}, Napi::String::New(env, name.data(), name.size()));
  out.Set(uint32_t{1}, Napi::String::New(env, message.data(), message.size()));
  out.Set(uint32_t{2}, Napi::String::New(env, code.data(), code.size()));
  return out;
}

ChannelConfig config_from(const Napi::Object& o) {
  ChannelConfig c;
  c.capacity = to_u64(o.Get("capacity"));
  c.max_message_size = to_u64(o.Get("maxMessageSize"));
  c.slab_size = static_cast<uint32_t>(to_u64(o.Get("slabSize")));
  c.pool_slabs = static_cast<uint32_t>(to_u64(o.Get("poolSlabs")));
  c.options = static_cast<uint32_t>(to_u64(o.Get("flags")));
  c.overflow = o.Get("dropOldest").ToBoolean() ? Overflow::DropOldest : Overflow::Refuse;
  if (const uint64_t kind = to_u64(o.Get("kind"))) c.kind = static_cast<uint32_t>(kind);
  const uint64_t inline_max = to_u64(o.Get("inlineMax"));
  if (inline_max) c.inline_max = static_cast<uint32_t>(inline_max);
  return c;
}

Attachment Attachment::from(const Napi::Value& view, ChannelKind kind) {
  Napi::Env env = view.Env();
  if (!view.IsTypedArray()) throw_channel_error(env, "ERR_INVALID_HANDLE", "not a ringport handle");
  const uint8_t* data;
  size_t length;
  bytes_of(env, view, &data, &length);
  Status status;
  auto hub = Hub::attach(const_cast<uint8_t*>(data), length, &status);
  if (!hub) throw_channel_error(env, "ERR_INVALID_HANDLE", "not a live ringport channel of this layout version");
  if (hub->memory().layout().kind != static_cast<uint32_t>(kind)) {
    throw_channel_error(env, "ERR_INVALID_HANDLE", "a handle of another kind of ringport channel");
  }
  return Attachment{Napi::Persistent(view.As<Napi::Object>()), std::move(hub)};
}

Napi::Function ChannelWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeChannel",
                     {InstanceMethod<&ChannelWrap::Claim>("claim"), InstanceMethod<&ChannelWrap::Close>("close"),
                      InstanceMethod<&ChannelWrap::Stats>("stats"), InstanceMethod<&ChannelWrap::Info>("info"),
                      InstanceMethod<&ChannelWrap::State>("state"), InstanceMethod<&ChannelWrap::SlotStats>("valueStats")});
}

ChannelWrap::ChannelWrap(const Napi::CallbackInfo& info)
    : ObjectWrap(info), attachment_(Attachment::from(info[0], static_cast<ChannelKind>(info[1].As<Napi::Number>().Uint32Value()))) {}

Napi::Value ChannelWrap::Claim(const Napi::CallbackInfo& info) {
  const uint32_t role = info[0].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), static_cast<int>(attachment_.hub->memory().claim_role(role)));
}

// Graceful close of the whole channel: no more sends; the receiver drains, then ends.
void ChannelWrap::Close(const Napi::CallbackInfo&) { attachment_.hub->set_state(state_bits::kSenderClosed); }

Napi::Value ChannelWrap::State(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), attachment_.hub->memory().state());
}

Napi::Value ChannelWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ChannelStats s = attachment_.hub->memory().stats();
  auto num = [&](double v) { return Napi::Number::New(env, v); };
  Napi::Object pool = Napi::Object::New(env);
  pool.Set("slabs", num(static_cast<double>(s.pool_slabs)));
  pool.Set("inUse", num(static_cast<double>(s.pool_in_use)));
  pool.Set("fallbacks", num(static_cast<double>(s.pool_fallbacks)));
  pool.Set("highWater", num(static_cast<double>(s.pool_high_water)));
  Napi::Object out = Napi::Object::New(env);
  out.Set("sent", num(static_cast<double>(s.sent)));
  out.Set("received", num(static_cast<double>(s.received)));
  out.Set("bytesSent", num(static_cast<double>(s.bytes_sent)));
  out.Set("bytesReceived", num(static_cast<double>(s.bytes_received)));
  out.Set("lagged", num(static_cast<double>(s.lagged)));
  out.Set("dropped", num(static_cast<double>(s.dropped)));
  out.Set("droppedBytes", num(static_cast<double>(s.dropped_bytes)));
  out.Set("pool", pool);
  return out;
}

Napi::Value ChannelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Layout& l = attachment_.hub->memory().layout();
  Napi::Object out = Napi::Object::New(env);
  out.Set("capacity", Napi::Number::New(env, static_cast<double>(l.capacity)));
  out.Set("maxMessageSize", Napi::Number::New(env, static_cast<double>(l.max_message_size)));
  out.Set("flags", Napi::Number::New(env, l.options));
  out.Set("kind", Napi::Number::New(env, l.kind));
  out.Set("inlineMax", Napi::Number::New(env, l.inline_max));
  out.Set("byteLength", Napi::Number::New(env, static_cast<double>(l.total_bytes)));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("Channel", ChannelWrap::Define(env));
  exports.Set("Sender", SenderWrap::Define(env));
  exports.Set("Receiver", ReceiverWrap::Define(env));
  exports.Set("BroadcastSender", BroadcastSenderWrap::Define(env));
  exports.Set("BroadcastReceiver", BroadcastReceiverWrap::Define(env));
  exports.Set("ValueSender", ValueSenderWrap::Define(env));
  exports.Set("ValueReceiver", ValueReceiverWrap::Define(env));
  exports.Set("layoutSize", Napi::Function::New<layout_size>(env, "layoutSize"));
  exports.Set("format", Napi::Function::New<format>(env, "format"));
  exports.Set("setErrorClass", Napi::Function::New<set_error_class>(env, "setErrorClass"));
  exports.Set("layoutVersion", Napi::Number::New(env, kLayoutVersion));
  exports.Set("externalBuffers", Napi::Boolean::New(env, external_buffers_allowed(env)));
  return exports;
}

}  // namespace ringport

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ringport::Init(env, exports); }
NODE_API_MODULE(ringport, InitModule)
