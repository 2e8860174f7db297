// The JS-visible native classes. Each method says which thread runs it: always the
// JS thread of the object's own environment (a worker's or the main thread).
#pragma once

#include <napi.h>

#include <memory>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "endpoint.hh"
#include "broadcast.hpp"
#include "hub.hh"
#include "value_slot.hpp"

namespace ringport {

// The SharedArrayBuffer view an object keeps alive, and the hub it attached to.
struct Attachment {
  Napi::ObjectReference view;
  std::shared_ptr<Hub> hub;
  // Attaches to the channel in `view` (a Uint8Array over the SharedArrayBuffer);
  // throws a ChannelError ERR_INVALID_HANDLE if it is not a channel of `kind`.
  static Attachment from(const Napi::Value& view, ChannelKind kind);
};

// Throws the ChannelError for `code`; `ChannelError` is registered by lib/binding.js.
[[noreturn]] void throw_channel_error(Napi::Env env, const char* code, const char* message);

// Pointer and length of an ArrayBuffer, TypedArray or DataView; throws a TypeError otherwise.
void bytes_of(Napi::Env env, napi_value value, const uint8_t** data, size_t* length);

// Reads ChannelConfig fields from a JS options object validated by lib/validate.js.
ChannelConfig config_from(const Napi::Object& options);

// A sender's closeWithError(name, message, code): stores the error for the receivers,
// then ends `endpoint` and the stream at once. A no-op once the endpoint ended.
void close_with_error(const Napi::CallbackInfo& info, Hub& hub, Endpoint& endpoint);

// The error closeWithError() stored: [name, message, code], or [] if it is unreadable.
Napi::Value error_info(Napi::Env env, const ChannelMemory& memory);

// A timeout in ms from JS (negative or not a number: none) in nanoseconds (-1: none).
inline int64_t timeout_ns(const Napi::Value& ms) {
  if (!ms.IsNumber()) return -1;
  const double v = ms.As<Napi::Number>().DoubleValue();
  return v < 0 ? -1 : static_cast<int64_t>(v * 1e6);
}

// True once this thread's environment is being torn down (worker.terminate(), or
// process.exit() elsewhere in the worker): N-API then refuses every call that could
// run JS, which a property read on a fresh object is.
inline bool env_stopping(napi_env env) {
  napi_value object, value;
  if (napi_create_object(env, &object) != napi_ok) return true;
  return napi_get_named_property(env, object, "x", &value) != napi_ok;
}

// How long sendSync/recvSync and an async receive poll before they sleep, unless a
// receiver's `spin` option says otherwise (lib/receiver.js DEFAULT_SPIN_US, in ns).
// A wake through the kernel costs ~15-35 us here; see docs/performance.md.
inline constexpr int64_t kDefaultSpinNs = 50'000;

// A spin budget in µs from JS (not a number: the default) in nanoseconds.
inline int64_t spin_ns(const Napi::Value& us) {
  if (!us.IsNumber()) return kDefaultSpinNs;
  const double v = us.As<Napi::Number>().DoubleValue();
  return v > 0 ? static_cast<int64_t>(v * 1e3) : 0;
}

// The loop of sendSync/recvSync: retries `attempt()` while it returns `blocked`,
// first polling `still_blocked()` for up to `spin` ns (a round trip through the
// kernel costs far more), then sleeping on `bell` with the doorbell
// handshake: flag, then re-check with `still_blocked()`, then sleep. Sleeps are sliced
// so that a terminating thread notices within kSleepSlice: a blocked thread would
// otherwise make terminate() hang. Returns the first other status, TimedOut, or
// Closed when the thread is stopping.
template <class Attempt, class StillBlocked>
Status block_until(napi_env env, Doorbell bell, int64_t timeout, int64_t spin, Status blocked, Attempt attempt,
                   StillBlocked still_blocked) {
  constexpr int64_t kSleepSlice = 50'000'000;  // ns
  Deadline deadline(timeout);
  for (bool spun = false;;) {
    const Status s = attempt();
    if (s != blocked) return s;
    if (!spun) {
      spun = true;  // once per call: after a sleep the peer is known to be slow
      const int64_t left = deadline.remaining_ns();
      if (spin_until(left < 0 || left > spin ? spin : left, [&] { return !still_blocked(); })) continue;
    }
    const uint32_t epoch = bell.prepare_sleep();
    if (!still_blocked()) continue;
    if (deadline.passed()) return Status::TimedOut;
    const int64_t left = deadline.remaining_ns();
    if (bell.sleep(epoch, left < 0 || left > kSleepSlice ? kSleepSlice : left) == WaitResult::TimedOut && env_stopping(env)) {
      return Status::Closed;
    }
  }
}

// Hot methods (a send or a receive per message) as own properties of each native
// object, made with the wrap as the function's data: an InstanceMethod finds its wrap
// with ObjectWrap::Unwrap on every call, a private-symbol lookup that measured ~12 % of
// a 64 B send. Only lib/ holds the native object, so nothing calls these functions
// after the object (and with it the wrap) is gone.
template <class W, Napi::Value (W::*Method)(const Napi::CallbackInfo&)>
napi_value call_direct(napi_env env, napi_callback_info cb) {
  try {
    Napi::CallbackInfo info(env, cb);
    return (static_cast<W*>(info.Data())->*Method)(info);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

template <class W, Napi::Value (W::*Method)(const Napi::CallbackInfo&)>
napi_property_descriptor direct_method(const char* name, W* self) {
  return {name, nullptr, &call_direct<W, Method>, nullptr, nullptr, nullptr, napi_default, self};
}

// The same for a one-argument method called once per message, without
// node-addon-api's CallbackInfo, which fetches six arguments and `this` on every call:
// with the Napi::Number result (napi_create_double) that was ~130 of the 683
// instructions of a 64 B trySend() under callgrind (docs/performance.md, "One native
// call per message"). A missing argument is undefined; a method that cannot run
// (N-API refuses a stopping thread, and cannot throw there either) answers undefined.
template <class W, napi_value (W::*Method)(napi_env, napi_value)>
napi_value call_direct_1(napi_env env, napi_callback_info cb) {
  size_t argc = 1;
  napi_value arg = nullptr;
  void* self = nullptr;
  if (napi_get_cb_info(env, cb, &argc, &arg, nullptr, &self) != napi_ok) return nullptr;
  try {
    return (static_cast<W*>(self)->*Method)(env, arg);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  }
}

template <class W, napi_value (W::*Method)(napi_env, napi_value)>
napi_property_descriptor direct_method(const char* name, W* self) {
  return {name, nullptr, &call_direct_1<W, Method>, nullptr, nullptr, nullptr, napi_default, self};
}

class ChannelWrap : public Napi::ObjectWrap<ChannelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ChannelWrap(const Napi::CallbackInfo& info);  // (view, kind)

 private:
  Napi::Value Claim(const Napi::CallbackInfo& info);  // (role) -> status
  void Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value State(const Napi::CallbackInfo& info);
  Napi::Value SlotStats(const Napi::CallbackInfo& info);  // Watch/Mailbox: { dropped, pending, pendingBytes } (value_slot.cc)

  Attachment attachment_;
};

class SenderWrap : public Napi::ObjectWrap<SenderWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SenderWrap(const Napi::CallbackInfo& info);  // (view)
  ~SenderWrap();

 private:
  napi_value Send(napi_env env, napi_value data);          // (data) -> true if sent, else status; never waits
  Napi::Value SendBatch(const Napi::CallbackInfo& info); // (data[]) -> how many were sent before one did not fit
  Napi::Value SendPacked(const Napi::CallbackInfo& info); // (bytes, lengths, count) -> the same, for packed messages
  Napi::Value Room(const Napi::CallbackInfo& info);      // (length) -> status a send of that size would get
  Napi::Value Reserve(const Napi::CallbackInfo& info);   // (size) -> [offset, cls, index, generation] | null
  Napi::Value Commit(const Napi::CallbackInfo& info);    // (cls, index, generation, length) -> status
  void Abort(const Napi::CallbackInfo& info);            // (cls, index, generation)
  Napi::Value SendSync(const Napi::CallbackInfo& info);  // (data, timeoutMs) -> status; blocks
  Napi::Value Arm(const Napi::CallbackInfo& info);       // (length) -> true if the caller must wait
  void Close(const Napi::CallbackInfo& info);
  void CloseWithError(const Napi::CallbackInfo& info);   // (name, message, code)
  void SetWaiting(const Napi::CallbackInfo& info);
  void SetRefed(const Napi::CallbackInfo& info);

  Attachment attachment_;
  std::optional<QueueProducer> producer_;
  std::optional<Endpoint> endpoint_;
  // Leases from reserve() neither committed nor aborted yet: generation by
  // (cls << 32 | index). Given back when this sender goes away.
  std::unordered_map<uint64_t, uint32_t> reserved_;
};

struct Arena;

// The receiving end of a queue (QueueConsumer) or of a broadcast (BroadcastConsumer):
// the same JS-facing methods over either core consumer.
template <class Consumer>
class ReceiverWrapOf : public Napi::ObjectWrap<ReceiverWrapOf<Consumer>> {
 public:
  static constexpr bool kBroadcast = std::is_same_v<Consumer, BroadcastConsumer>;
  static Napi::Function Define(Napi::Env env);
  explicit ReceiverWrapOf(const Napi::CallbackInfo& info);  // (view, copy): `copy` makes every message a plain copy
  ~ReceiverWrapOf();

 private:
  Napi::Value PollInto(const Napi::CallbackInfo& info);  // (max, staging, stageMax) -> count | -status | large[]
  Napi::Value Discard(const Napi::CallbackInfo& info);   // (n) -> how many messages were dropped
  Napi::Value RecvSync(const Napi::CallbackInfo& info);  // (timeoutMs, spinUs) -> ArrayBuffer | status
  Napi::Value Arm(const Napi::CallbackInfo& info);       // (spinUs) -> true if the caller must wait
  Napi::Value Release(const Napi::CallbackInfo& info);   // (buffer) -> bool
  void Close(const Napi::CallbackInfo& info);
  Napi::Value ErrorInfo(const Napi::CallbackInfo& info);
  void SetWaiting(const Napi::CallbackInfo& info);
  void SetRefed(const Napi::CallbackInfo& info);
  Napi::Value Missed(const Napi::CallbackInfo& info);    // broadcast: messages skipped at the last lag
  Napi::Value Stats(const Napi::CallbackInfo& info);     // broadcast: this receiver's counters

  Status drain(Napi::Env env, std::size_t max, napi_value* out);
  napi_value wrap_external(napi_env env, Message& m, bool* lent);
  bool lends(const Message& m) const noexcept;
  bool lends_more() const noexcept;

  static constexpr uint32_t kLargeMessage = 0x80000000u;  // PollInto: not in `staging`
  static constexpr uint32_t kLentMessage = 0x40000000u;   // PollInto: a lent buffer (release() gives its memory back)

  Arena* arena_;
  bool copy_;  // no external buffers: each message is copied and its memory returned at once
  uint64_t lend_budget_;  // lends(): payload bytes this receiver's live lent buffers may hold
  std::optional<Consumer> consumer_;
  std::optional<Endpoint> endpoint_;
};

using ReceiverWrap = ReceiverWrapOf<QueueConsumer>;
using BroadcastReceiverWrap = ReceiverWrapOf<BroadcastConsumer>;

// A broadcast's producing end: sends never wait.
class BroadcastSenderWrap : public Napi::ObjectWrap<BroadcastSenderWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BroadcastSenderWrap(const Napi::CallbackInfo& info);  // (view), the sender role claimed

 private:
  napi_value Send(napi_env env, napi_value data);         // (data) -> true if sent, else status
  Napi::Value SendBatch(const Napi::CallbackInfo& info);  // (data[]) -> how many were sent before one failed
  void Close(const Napi::CallbackInfo& info);
  void CloseWithError(const Napi::CallbackInfo& info);    // (name, message, code)

  Attachment attachment_;
  std::optional<BroadcastProducer> producer_;
  std::optional<Endpoint> endpoint_;
};

// Shared by the sender wraps. `send_value`: one ArrayBuffer or view through `producer`,
// waking the receivers if a sleeper was flagged. `send_values`: a list, one crossing;
// returns how many went before the first that did not.
template <class Producer>
Status send_value(Napi::Env env, Producer& producer, Hub& hub, napi_value value) {
  const uint8_t* data;
  size_t length;
  bytes_of(env, value, &data, &length);
  if (length > UINT32_MAX) return Status::TooLarge;
  bool rang;
  const Status s = producer.try_send(data, static_cast<uint32_t>(length), &rang);
  if (rang) hub.wake(Side::Receiver);
  return s;
}

// What a native send answers: true for Ok (a value V8 already has: the common answer
// allocates nothing), else the Status. Never undefined, which is what a method N-API
// refuses to run returns in a stopping thread (lib/binding.js unlessStopping()).
inline napi_value send_answer(napi_env env, Status s) {
  napi_value answer;
  const napi_status made = s == Status::Ok ? napi_get_boolean(env, true, &answer) : napi_create_int32(env, static_cast<int32_t>(s), &answer);
  NAPI_THROW_IF_FAILED(env, made, nullptr);
  return answer;
}

template <class Producer>
uint32_t send_values(Napi::Env env, Producer& producer, Hub& hub, const Napi::Array& list) {
  const uint32_t n = list.Length();
  bool woke = false;
  uint32_t sent = 0;
  for (; sent < n; ++sent) {
    const uint8_t* data;
    size_t length;
    bytes_of(env, list.Get(sent), &data, &length);
    if (length > UINT32_MAX) break;
    bool rang;
    if (producer.try_send(data, static_cast<uint32_t>(length), &rang) != Status::Ok) break;
    woke |= rang;
  }
  if (woke) hub.wake(Side::Receiver);
  return sent;
}

// The sending end of a Watch or a Mailbox (value_slot.cc).
class ValueSenderWrap : public Napi::ObjectWrap<ValueSenderWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ValueSenderWrap(const Napi::CallbackInfo& info);  // (view, kind); the caller claimed the sender role

 private:
  napi_value Send(napi_env env, napi_value value);  // (data) -> true if sent, else status; never waits
  void Close(const Napi::CallbackInfo& info);
  void CloseWithError(const Napi::CallbackInfo& info);  // (name, message, code)

  Attachment attachment_;
  std::optional<ValueWriter> writer_;
  std::optional<Endpoint> endpoint_;
};

// A receiving end of a Watch (one of many) or of a Mailbox (the one).
class ValueReceiverWrap : public Napi::ObjectWrap<ValueReceiverWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ValueReceiverWrap(const Napi::CallbackInfo& info);  // (view, kind); a Mailbox caller claimed the role

 private:
  Napi::Value Recv(const Napi::CallbackInfo& info);    // () -> ArrayBuffer | status; never waits
  Napi::Value Latest(const Napi::CallbackInfo& info);  // () -> ArrayBuffer | status (Watch)
  Napi::Value Arm(const Napi::CallbackInfo& info);     // () -> true if the caller must wait
  void Close(const Napi::CallbackInfo& info);
  Napi::Value ErrorInfo(const Napi::CallbackInfo& info);
  void SetWaiting(const Napi::CallbackInfo& info);
  void SetRefed(const Napi::CallbackInfo& info);

  template <class Read>
  Napi::Value copy_out(Napi::Env env, Read read);

  Attachment attachment_;
  std::optional<ValueReader> reader_;
  std::optional<Endpoint> endpoint_;
};

}  // namespace ringport
