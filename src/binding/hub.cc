#include "hub.hh"

#include <unordered_map>

namespace ringport {
namespace {

// Hubs by shared-memory address. The address cannot be reused while a hub lives:
// every hub holder also holds a reference to the SharedArrayBuffer.
std::mutex registry_mu;
std::unordered_map<const uint8_t*, std::weak_ptr<Hub>>& registry() {
  static auto* map = new std::unordered_map<const uint8_t*, std::weak_ptr<Hub>>();  // never destroyed: outlives worker exits
  return *map;
}

}  // namespace

std::shared_ptr<Hub> Hub::attach(uint8_t* base, uint64_t bytes, Status* status) {
  ChannelMemory memory;
  *status = ChannelMemory::attach(base, bytes, &memory);
  if (*status != Status::Ok) return nullptr;
  std::lock_guard<std::mutex> lock(registry_mu);
  auto& slot = registry()[base];
  if (auto hub = slot.lock()) return hub;
  std::shared_ptr<Hub> hub(new Hub(memory));
  slot = hub;
  return hub;
}

Hub::~Hub() {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto it = registry().find(memory_.base());
  if (it != registry().end() && it->second.expired()) registry().erase(it);
}

void Hub::add_waker(Side side, napi_threadsafe_function waker) {
  std::lock_guard<std::mutex> lock(mu_);
  wakers_[static_cast<int>(side)].push_back(waker);
}

void Hub::remove_waker(Side side, napi_threadsafe_function waker) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& list = wakers_[static_cast<int>(side)];
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (*it == waker) {
      list.erase(it);
      return;
    }
  }
}

void Hub::wake(Side side) {
  std::lock_guard<std::mutex> lock(mu_);
  for (napi_threadsafe_function f : wakers_[static_cast<int>(side)]) {
    // Non-blocking: the queue is unbounded, and the doorbell already coalesces calls
    // to one per sleep. napi_closing (the thread is exiting) is fine to ignore.
    napi_call_threadsafe_function(f, nullptr, napi_tsfn_nonblocking);
  }
}

void Hub::set_state(uint32_t bits) {
  memory_.set_state(bits);
  wake(Side::Receiver);
  wake(Side::Sender);
}

}  // namespace ringport
