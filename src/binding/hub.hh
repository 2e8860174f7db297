// Hub: the process-wide native side of one channel. Every thread that attaches to
// the same SharedArrayBuffer shares one Hub (found by the buffer's address), which
// owns what must not live in shared memory: the validated geometry, the heap
// fallback table, and the threadsafe functions that wake each side's event loop.
#pragma once

#include <node_api.h>

#include <memory>
#include <mutex>
#include <vector>

#include "heap_table.hpp"
#include "queue.hpp"

namespace ringport {

enum class Side { Receiver = 0, Sender = 1 };

class Hub {
 public:
  // The hub for the channel at `base`, creating it on first attach. Fails with the
  // status of ChannelMemory::attach() when the memory is not a valid channel.
  static std::shared_ptr<Hub> attach(uint8_t* base, uint64_t bytes, Status* status);

  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  ChannelMemory& memory() noexcept { return memory_; }
  HeapTable& heap() noexcept { return heap_; }

  // Registers a function that wakes an event loop of `side` (one per endpoint: a
  // channel may have several senders).
  void add_waker(Side side, napi_threadsafe_function waker);
  void remove_waker(Side side, napi_threadsafe_function waker);
  // Any thread: asks every event loop of `side` to re-check the channel. Never blocks.
  void wake(Side side);

  // Sets state bits and wakes both sides (close, closeWithError, disconnect).
  void set_state(uint32_t bits);

 private:
  explicit Hub(const ChannelMemory& memory) : memory_(memory) {}

  ChannelMemory memory_;
  HeapTable heap_;
  std::mutex mu_;  // guards wakers_: a threadsafe function is never called after it is finalized
  std::vector<napi_threadsafe_function> wakers_[2];
};

}  // namespace ringport
