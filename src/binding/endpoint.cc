#include "endpoint.hh"

namespace ringport {

// Owned jointly by the endpoint and the threadsafe function, so that whichever of
// the two goes first (the endpoint's destructor, or Node finalizing the function at
// thread exit) the other can tell.
struct Endpoint::WakerSlot {
  std::shared_ptr<Hub> hub;
  Side side;
  napi_threadsafe_function tsfn = nullptr;
  bool finalized = false;
};

Endpoint::Endpoint(Napi::Env env, Napi::Object self, std::shared_ptr<Hub> hub, Side side, uint32_t ticket, Scope scope)
    : env_(env), hub_(std::move(hub)), side_(side), ticket_(ticket), scope_(scope) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_reference(env, self, 0, &self_));
  slot_ = std::make_shared<WakerSlot>();
  slot_->hub = hub_;
  slot_->side = side;
  auto* holder = new std::shared_ptr<WakerSlot>(slot_);
  napi_value name;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_string_utf8(env, "ringport.wake", NAPI_AUTO_LENGTH, &name));
  napi_status status = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, holder, finalize_waker, this,
                                                       call_js, &slot_->tsfn);
  if (status != napi_ok) {
    delete holder;
    NAPI_THROW_IF_FAILED_VOID(env, status);
  }
  // Not ref'd until something waits: an idle endpoint never keeps a process alive.
  napi_unref_threadsafe_function(env, slot_->tsfn);
  hub_->add_waker(side, slot_->tsfn);
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, on_env_cleanup, this));
  hook_added_ = true;
}

Endpoint::~Endpoint() {
  if (hook_added_) napi_remove_env_cleanup_hook(env_, on_env_cleanup, this);
  end(false);
  if (!slot_->finalized) {
    hub_->remove_waker(side_, slot_->tsfn);
    // abort: queued wake-ups are dropped (call_js sees a null env), never dispatched.
    napi_release_threadsafe_function(slot_->tsfn, napi_tsfn_abort);
  }
  if (self_) napi_delete_reference(env_, self_);
}

// Calls `self.onwake()`. Errors it throws are reported as uncaught exceptions; a
// thread that is being terminated cannot run JS, and that is fine.
void Endpoint::call_js(napi_env env, napi_value, void* context, void*) {
  // A null env means the function is being torn down: the endpoint may be gone.
  if (env == nullptr) return;
  auto* endpoint = static_cast<Endpoint*>(context);
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = nullptr, handler = nullptr, result;
  napi_valuetype type = napi_undefined;
  if (napi_get_reference_value(env, endpoint->self_, &self) == napi_ok && self != nullptr &&
      napi_get_named_property(env, self, "onwake", &handler) == napi_ok && napi_typeof(env, handler, &type) == napi_ok &&
      type == napi_function && napi_call_function(env, self, handler, 0, nullptr, &result) == napi_pending_exception) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok && napi_typeof(env, error, &type) == napi_ok && type == napi_object) {
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

void Endpoint::finalize_waker(napi_env, void* data, void*) {
  auto* holder = static_cast<std::shared_ptr<WakerSlot>*>(data);
  WakerSlot& slot = **holder;
  slot.finalized = true;
  slot.hub->remove_waker(slot.side, slot.tsfn);
  delete holder;
}

// The endpoint's thread is exiting (worker exit, terminate(), process.exit() in a
// worker): tell the peer, which may be waiting for us.
void Endpoint::on_env_cleanup(void* self) {
  auto* e = static_cast<Endpoint*>(self);
  e->hook_added_ = false;
  e->end(false);
}

// While something waits, the JS object is held strongly: a pending recv() or send()
// is then a GC root for its promises and the code awaiting them, as a pending socket
// read is. Otherwise an awaited, unreachable endpoint would be collected mid-wait.
void Endpoint::set_waiting(bool waiting) {
  if (waiting != waiting_) {
    uint32_t count;
    if (waiting) {
      napi_reference_ref(env_, self_, &count);
    } else {
      napi_reference_unref(env_, self_, &count);
    }
  }
  waiting_ = waiting;
  update_ref();
}

void Endpoint::set_refed(bool refed) {
  refed_ = refed;
  update_ref();
}

void Endpoint::update_ref() {
  const bool want = waiting_ && refed_ && !slot_->finalized;
  if (want == tsfn_refed_ || slot_->finalized) return;
  if (want) {
    napi_ref_threadsafe_function(env_, slot_->tsfn);
  } else {
    napi_unref_threadsafe_function(env_, slot_->tsfn);
  }
  tsfn_refed_ = want;
}

void Endpoint::end(bool graceful) {
  if (ended_) return;
  ended_ = true;
  if (side_ == Side::Receiver) {
    if (scope_ == Scope::Shared) hub_->set_state(graceful ? state_bits::kReceiverClosed : state_bits::kReceiverGone);
    return;
  }
  if (uint32_t bits = hub_->memory().end_sender(ticket_, graceful)) {
    hub_->set_state(bits);
  } else {
    hub_->wake(Side::Receiver);  // it may have to unblock a claim this sender left
  }
}

void Endpoint::end_all(uint32_t bits) {
  if (ended_) return;
  ended_ = true;
  hub_->memory().release_producer(ticket_);
  hub_->set_state(bits);
}

}  // namespace ringport
