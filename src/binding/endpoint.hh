// Endpoint: what a sender or receiver needs beyond its core half: the threadsafe
// function that wakes its event loop, and the promise to tell the peer when it goes
// away without closing (its thread exits or is terminated, or it is collected).
#pragma once

#include <napi.h>

#include <memory>

#include "hub.hh"

namespace ringport {

class Endpoint {
 public:
  // JS thread. `self` is the JS object whose `onwake()` runs when the peer rings this
  // side's doorbell (held weakly). `gone_bits` are the state bits set if the endpoint
  // ends without close().
  Endpoint(Napi::Env env, Napi::Object self, std::shared_ptr<Hub> hub, Side side, uint32_t gone_bits);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  Hub& hub() noexcept { return *hub_; }

  // JS thread. While waiting, the wake function keeps the event loop alive (unless
  // the user called unref()).
  void set_waiting(bool waiting);
  void set_refed(bool refed);

  // JS thread. Ends this endpoint with `bits` (a close) and wakes the peer; later
  // calls, and the implicit "gone" at exit or collection, do nothing.
  void end(uint32_t bits);
  bool ended() const noexcept { return ended_; }

  // Wakes the other side's event loop.
  void wake_peer() { hub_->wake(side_ == Side::Receiver ? Side::Sender : Side::Receiver); }

 private:
  struct WakerSlot;
  static void call_js(napi_env env, napi_value, void* context, void*);
  static void finalize_waker(napi_env, void* data, void*);
  static void on_env_cleanup(void* self);
  void update_ref();

  napi_env env_;
  std::shared_ptr<Hub> hub_;
  Side side_;
  uint32_t gone_bits_;
  napi_ref self_ = nullptr;  // weak
  std::shared_ptr<WakerSlot> slot_;
  bool ended_ = false;
  bool waiting_ = false;
  bool refed_ = true;
  bool tsfn_refed_ = false;
  bool hook_added_ = false;
};

}  // namespace ringport
