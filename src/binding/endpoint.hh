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
  // How a receiver's end reaches the channel: Shared for the one receiver of a queue
  // or a Mailbox (its senders are told); Local for one of a Watch's or a Broadcast's
  // many receivers.
  enum class Scope { Shared, Local };

  // JS thread. `self` is the JS object whose `onwake()` runs when the peer rings this
  // side's doorbell (held weakly). A sender endpoint passes its producer `ticket`.
  Endpoint(Napi::Env env, Napi::Object self, std::shared_ptr<Hub> hub, Side side, uint32_t ticket = 0,
           Scope scope = Scope::Shared);
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  Hub& hub() noexcept { return *hub_; }

  // JS thread. While waiting, the wake function keeps the event loop alive (unless
  // the user called unref()).
  void set_waiting(bool waiting);
  void set_refed(bool refed);

  // JS thread. Ends this endpoint — `graceful` for close(), else it is gone (thread
  // exit, termination, collection) — and tells the peer. Only the first call counts.
  // A (Shared) receiver ends the channel for the senders; a sender ends it for the
  // receiver only when it is the last sender.
  void end(bool graceful);
  // closeWithError(): ends this endpoint and the stream with `bits` at once.
  void end_all(uint32_t bits);
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
  uint32_t ticket_;
  Scope scope_;
  napi_ref self_ = nullptr;  // weak
  std::shared_ptr<WakerSlot> slot_;
  bool ended_ = false;
  bool waiting_ = false;
  bool refed_ = true;
  bool tsfn_refed_ = false;
  bool hook_added_ = false;
};

}  // namespace ringport
