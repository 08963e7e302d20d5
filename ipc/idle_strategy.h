// IdleStrategy: what a consumer's duty cycle does when a pass found no work.
//
// Requires: one IdleStrategy per consumer thread (it is process-local state, not shared); the
//   Doorbell is the consumer's own bell in shared memory, rung by every producer feeding it.
// Guarantees: back-off in three steps (Aeron's BackoffIdleStrategy, simplified): up to
//   idle_spin_count_max calls spin with a CPU pause; then up to idle_yield_count_max calls
//   sched_yield(); after that every call parks on the doorbell for at most park_ns_max, so an
//   idle deployment sleeps (~0% CPU) yet wakes at least every park_ns_max to check deadlines.
//   Any call with work_count > 0 resets to the spin step. Never allocates, locks or throws.
// Memory ordering: none of its own; parking goes through doorbell_wait(), whose has_work()
//   re-check and fences make a wake-up impossible to lose (see doorbell.h).
//
// Example (a domain's duty cycle):
//   IdleStrategy idle;
//   const std::function<bool()> has_work = [&] { return input.readable() > 0; };
//   for (std::uint64_t pass = 0; pass < pass_count_max && running; ++pass) {
//     const std::size_t done = do_work();   // drains up to drain_count_max messages
//     idle.idle(done, bell, has_work);
//   }
#pragma once

#include <sched.h>

#include <cstddef>
#include <cstdint>
#include <functional>

#include "engine/base/assert.h"
#include "engine/base/limits.h"
#include "ipc/doorbell.h"

namespace flashsaga::ipc {

class IdleStrategy {
 public:
  IdleStrategy() noexcept = default;
  // Custom limits (tests, benchmarks). park_ns must be > 0.
  IdleStrategy(std::uint32_t spin_count_max, std::uint32_t yield_count_max,
               std::int64_t park_ns) noexcept
      : spin_count_max_(spin_count_max), yield_count_max_(yield_count_max), park_ns_(park_ns) {
    FS_ASSERT(park_ns > 0);
  }

  void idle(std::size_t work_count, Doorbell& bell,
            const std::function<bool()>& has_work) noexcept {
    idle(work_count, bell, has_work, park_ns_);
  }

  // Same, parking at most park_ns this time (a caller with a timer parks until it is due).
  void idle(std::size_t work_count, Doorbell& bell, const std::function<bool()>& has_work,
            std::int64_t park_ns) noexcept {
    if (work_count > 0) {
      reset();
      return;
    }
    if (spins_ < spin_count_max_) {
      ++spins_;
      cpu_relax();
      return;
    }
    if (yields_ < yield_count_max_) {
      ++yields_;
      ::sched_yield();
      return;
    }
    ++parks_;
    doorbell_wait(bell, park_ns > 0 ? park_ns : 1, has_work);
  }

  void reset() noexcept {
    spins_ = 0;
    yields_ = 0;
  }

  // Times this strategy parked on the doorbell (for metrics and tests).
  std::uint64_t park_count() const noexcept { return parks_; }

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }

 private:
  std::uint32_t spin_count_max_ = idle_spin_count_max;
  std::uint32_t yield_count_max_ = idle_yield_count_max;
  std::int64_t park_ns_ = park_ns_max;
  std::uint32_t spins_ = 0;
  std::uint32_t yields_ = 0;
  std::uint64_t parks_ = 0;
};

}  // namespace flashsaga::ipc
