// Small platform pieces shared by the core: cache-line sizes, futex wait/wake,
// a CPU relax hint. Pure C++20 plus Linux syscalls; no Node headers.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>

#include <sched.h>

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ringport {

// Two lines: x86 prefetches cache lines in adjacent pairs, so counters written by
// different threads sit at least this far apart.
inline constexpr std::size_t kFalseSharingRange = 128;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Outcome of a bounded wait.
enum class WaitResult { Woken, TimedOut };

// Sleeps while `*word == expected`, at most `timeout_ns` (negative: forever).
// Spurious returns are allowed; callers re-check their condition in a loop.
// FUTEX_PRIVATE is right: every thread that shares a channel lives in this process.
inline WaitResult futex_wait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns) noexcept {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
    tsp = &ts;
  }
  long rc = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr, 0);
  if (rc == -1 && errno == ETIMEDOUT) return WaitResult::TimedOut;
  return WaitResult::Woken;
}

inline void futex_wake_all(std::atomic<uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}

// Asymmetric fences (as folly's asymmetricLightBarrier/asymmetricHeavyBarrier): a
// store-then-load handshake where one side runs on every send and the other almost
// never. The frequent side pays a compiler barrier; the rare side calls membarrier(2),
// which runs a full barrier on every running thread of this process (all threads that
// share a channel live in it). Where the kernel lacks the private expedited command
// both sides fall back to a seq_cst fence. The answer is computed once per process, so
// every caller agrees on it; call it before the first light_barrier() of a thread.
inline bool asymmetric_barriers() noexcept {
  static const bool available = [] {
    const long commands = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (commands < 0 || !(commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  }();
  return available;
}

// `asymmetric` is asymmetric_barriers(), cached by the caller off the hot path.
inline void light_barrier(bool asymmetric) noexcept {
  if (asymmetric) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

inline void heavy_barrier() noexcept {
  if (asymmetric_barriers()) {
    // Cannot fail once the process is registered (asymmetric_barriers() did that).
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

// Polls `done()` for at most `budget_ns` of wall-clock time; true as soon as it holds,
// false when the budget ran out (0: one poll). Bounded by time, not by iterations: a
// pause costs 3 to 140 cycles depending on the CPU, and a poll meant to cover a peer's
// reply must last the same everywhere. Every 16 polls it reads the clock (vDSO, ~20 ns)
// and yields the CPU: on a busy machine the peer this thread waits for may be queued
// on this very core (the kernel wakes a thread near its waker), and a pure spin would
// keep it from running until the budget ran out (docs/performance.md: on this VM a
// pure spin caught almost nothing under load, a yielding one nearly everything).
template <class Done>
bool spin_until(int64_t budget_ns, Done done) noexcept {
  if (done()) return true;
  if (budget_ns <= 0) return false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(budget_ns);
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      cpu_relax();
      if (done()) return true;
    }
    if (std::chrono::steady_clock::now() >= until) return false;
    sched_yield();
  }
}

// A deadline on the monotonic clock; a negative timeout means "never".
class Deadline {
 public:
  explicit Deadline(int64_t timeout_ns) noexcept
      : infinite_(timeout_ns < 0), at_(std::chrono::steady_clock::now() + std::chrono::nanoseconds(infinite_ ? 0 : timeout_ns)) {}

  // Nanoseconds left (0 once passed), or -1 for an infinite deadline.
  int64_t remaining_ns() const noexcept {
    if (infinite_) return -1;
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(at_ - std::chrono::steady_clock::now()).count();
    return left > 0 ? left : 0;
  }
  bool passed() const noexcept { return !infinite_ && remaining_ns() == 0; }

 private:
  bool infinite_;
  std::chrono::steady_clock::time_point at_;
};

}  // namespace ringport
