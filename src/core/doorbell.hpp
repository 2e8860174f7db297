// Doorbell: the sleep/wake handshake between a waiting side and the side that makes
// progress for it, with no lost wake-up.
//
// Design (a Dekker-style handshake; both fences are seq_cst):
//   sleeper:  e = epoch; sleepers = 1; fence; re-check the condition; sleep while epoch == e
//   waker:    publish progress;      fence; if sleepers: sleepers = 0, epoch++, wake
// Either the sleeper's re-check sees the progress, or the waker sees the flag: the two
// fences cannot both miss the other side's store. The waker rings only when someone
// flagged that it sleeps, so a busy stream makes no system calls. A ring wakes both
// kinds of sleeper: a thread in futex_wait on `epoch` (sendSync/recvSync) and, through
// the caller, an event loop waiting asynchronously.
// The waker's fence is measured at ~2.5 ns of a 35 ns one-message send and drain. An
// asymmetric pair (a compiler barrier for wakers, membarrier(2) for sleepers, as the
// producer-mode handshake does) would save it, but a membarrier costs ~14 us on this
// VM, and a JavaScript receiver or sender arms once per ~60 messages: far more than
// the fences it saves.
#pragma once

#include <atomic>
#include <cstdint>

#include "layout.hpp"
#include "platform.hpp"

namespace ringport {

class Doorbell {
 public:
  explicit Doorbell(DoorbellLine& line) noexcept : line_(&line) {}

  // Flags that the caller is about to sleep. Re-check the condition afterwards; if it
  // still holds, sleep with the returned epoch (or wait for an async wake).
  uint32_t prepare_sleep() noexcept {
    // acquire: an epoch bump seen here happened after the progress it announces.
    const uint32_t epoch = line_->epoch.load(std::memory_order_acquire);
    // relaxed + the fence: the fence orders this store before the caller's re-check.
    line_->sleepers.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return epoch;
  }

  // Sleeps until a ring after prepare_sleep(), a timeout, or a spurious wake.
  WaitResult sleep(uint32_t epoch, int64_t timeout_ns) noexcept { return futex_wait(&line_->epoch, epoch, timeout_ns); }

  // Called after publishing progress. Returns true if a sleeper was flagged (and the
  // futex rung); the caller then also wakes asynchronous waiters.
  [[gnu::always_inline]] bool ring_if_sleeping() noexcept {
    // seq_cst fence: pairs with prepare_sleep()'s fence; orders our publish before the load.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // relaxed: the fences order it; take_flag() re-checks before anyone is woken.
    return line_->sleepers.load(std::memory_order_relaxed) != 0 && take_flag();
  }

  // Wakes every sleeper unconditionally (close, disconnect).
  [[gnu::noinline]] void ring() noexcept {
    // release: pairs with prepare_sleep()'s acquire load of epoch.
    line_->epoch.fetch_add(1, std::memory_order_release);
    futex_wake_all(&line_->epoch);
  }

 private:
  // A sleeper is flagged: of several wakers, one takes the flag and rings.
  [[gnu::noinline]] bool take_flag() noexcept {
    // acq_rel: one exchange wins; acquire orders the ring after the sleeper's flag.
    if (line_->sleepers.exchange(0, std::memory_order_acq_rel) == 0) return false;
    ring();
    return true;
  }

  DoorbellLine* line_;
};

}  // namespace ringport
