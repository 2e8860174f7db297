// Doorbell: the sleep/wake handshake between a waiting side and the side that makes
// progress for it, with no lost wake-up.
//
// Design (a Dekker-style handshake with asymmetric barriers, platform.hpp):
//   sleeper:  e = epoch; sleepers = 1; heavy barrier; re-check the condition; sleep while epoch == e
//   waker:    publish progress;       light barrier; if sleepers: sleepers = 0, epoch++, wake
// Either the sleeper's re-check sees the progress, or the waker sees the flag: the heavy
// barrier runs a full fence on every thread of the process, so the two sides cannot
// both miss the other's store. Wakers run on every send and every drain, sleepers only
// when there is nothing to do: the waker pays a compiler barrier, the sleeper a
// membarrier(2) system call (~14 us on this VM; a futex sleep and wake cost more).
// Without membarrier both sides fall back to seq_cst fences. The waker rings only when
// someone flagged that it sleeps, so a busy stream makes no system calls. A ring wakes
// both kinds of sleeper: a thread in futex_wait on `epoch` (sendSync/recvSync) and,
// through the caller, an event loop waiting asynchronously.
#pragma once

#include <atomic>
#include <cstdint>

#include "layout.hpp"
#include "platform.hpp"

namespace ringport {

class Doorbell {
 public:
  explicit Doorbell(DoorbellLine& line) noexcept : line_(&line), asymmetric_(asymmetric_barriers()) {}

  // Flags that the caller is about to sleep. Re-check the condition afterwards; if it
  // still holds, sleep with the returned epoch (or wait for an async wake).
  uint32_t prepare_sleep() noexcept {
    // acquire: an epoch bump seen here happened after the progress it announces.
    const uint32_t epoch = line_->epoch.load(std::memory_order_acquire);
    // relaxed + the heavy barrier: it orders this store before the caller's re-check
    // and before the load of the flag by any waker that published after it.
    line_->sleepers.store(1, std::memory_order_relaxed);
    heavy_barrier();
    return epoch;
  }

  // Sleeps until a ring after prepare_sleep(), a timeout, or a spurious wake.
  WaitResult sleep(uint32_t epoch, int64_t timeout_ns) noexcept { return futex_wait(&line_->epoch, epoch, timeout_ns); }

  // Called after publishing progress. Returns true if a sleeper was flagged (and the
  // futex rung); the caller then also wakes asynchronous waiters.
  bool ring_if_sleeping() noexcept {
    // The light barrier pairs with prepare_sleep()'s heavy one; orders our publish before the load.
    light_barrier(asymmetric_);
    // relaxed: the barriers order it; an exchange below re-checks before anyone is woken.
    if (line_->sleepers.load(std::memory_order_relaxed) == 0) return false;
    // acq_rel: of several wakers, one takes the flag and rings.
    if (line_->sleepers.exchange(0, std::memory_order_acq_rel) == 0) return false;
    ring();
    return true;
  }

  // Wakes every sleeper unconditionally (close, disconnect).
  void ring() noexcept {
    // release: pairs with prepare_sleep()'s acquire load of epoch.
    line_->epoch.fetch_add(1, std::memory_order_release);
    futex_wake_all(&line_->epoch);
  }

 private:
  DoorbellLine* line_;
  bool asymmetric_;  // asymmetric_barriers(), cached off the hot path
};

}  // namespace ringport
