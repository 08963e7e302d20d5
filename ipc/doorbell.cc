#include "ipc/doorbell.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>
#include <new>

#include "engine/base/assert.h"
#include "engine/base/clock.h"

namespace flashsaga::ipc {
namespace {

// A wait interrupted by signals is resumed with the remaining time, at most this many times.
constexpr int futex_wait_retry_count_max = 16;

std::uint32_t* futex_word(std::atomic<std::uint32_t>& a) noexcept {
  // std::atomic<uint32_t> is a plain 32-bit word (static_asserted in the header).
  return reinterpret_cast<std::uint32_t*>(&a);
}

// FUTEX_WAIT (shared, not FUTEX_PRIVATE_FLAG): sleeps while *word == expected, at most
// timeout_ns (relative). Returns 0 when woken, else the errno (EAGAIN: the word had changed,
// ETIMEDOUT, EINTR).
int futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
               std::int64_t timeout_ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
  const long rc = ::syscall(SYS_futex, futex_word(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
  return rc == 0 ? 0 : errno;
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  ::syscall(SYS_futex, futex_word(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// The store-buffer fences P2 and C2 (see doorbell.h). ThreadSanitizer does not model
// atomic_thread_fence (GCC rejects it under -fsanitize=thread), so a TSAN build replaces
// "fence; load sleepers" on the producer side with an acq_rel read-modify-write of sleepers:
// RMWs of one variable are totally ordered, so either the producer's RMW reads the consumer's
// increment (and rings) or the consumer's increment reads from the producer's release RMW (and
// then sees the published cursor). Same guarantee, and TSAN can check it. Release builds keep
// the fence because it does not write the doorbell's cache line on every publish.
#if defined(__SANITIZE_THREAD__)
std::uint32_t load_sleepers_after_publish(Doorbell& bell) noexcept {
  return bell.sleepers.fetch_add(0, std::memory_order_acq_rel);
}
void fence_after_announce() noexcept {}  // C1 is already an acq_rel RMW
#else
std::uint32_t load_sleepers_after_publish(Doorbell& bell) noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);   // P2: the publish before P3
  return bell.sleepers.load(std::memory_order_relaxed);  // P3
}
void fence_after_announce() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // C2: C1 before C3/C4
}
#endif

}  // namespace

void doorbell_init(Doorbell& bell) noexcept {
  ::new (static_cast<void*>(&bell)) Doorbell();  // value-initialised: every byte zero
  bell.epoch.store(0, std::memory_order_relaxed);
  bell.sleepers.store(0, std::memory_order_relaxed);
  bell.park_count.store(0, std::memory_order_relaxed);
  bell.wake_count.store(0, std::memory_order_relaxed);
}

void doorbell_ring(Doorbell& bell) noexcept {
  if (load_sleepers_after_publish(bell) == 0) return;  // P2 + P3: the common case
  bell.epoch.fetch_add(1, std::memory_order_release);  // P4
  bell.wake_count.fetch_add(1, std::memory_order_relaxed);
  futex_wake_all(bell.epoch);
}

DoorbellWake doorbell_park(Doorbell& bell, std::int64_t timeout_ns,
                           const std::function<bool()>& has_work) noexcept {
  FS_ASSERT(timeout_ns > 0);
  const std::uint32_t sleepers_before =
      bell.sleepers.fetch_add(1, std::memory_order_acq_rel);  // C1
  FS_ASSERT(sleepers_before < UINT32_MAX);
  fence_after_announce();                                                  // C2
  const std::uint32_t epoch = bell.epoch.load(std::memory_order_acquire);  // C3
  DoorbellWake wake = DoorbellWake::timed_out;
  if (has_work()) {  // C4
    wake = DoorbellWake::work;
  } else {
    bell.park_count.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t deadline_ns = mono_now_ns() + timeout_ns;
    std::int64_t remaining_ns = timeout_ns;
    for (int attempt = 0; attempt < futex_wait_retry_count_max; ++attempt) {  // C5
      const int err = futex_wait(bell.epoch, epoch, remaining_ns);
      if (err == 0 || err == EAGAIN) {
        // Woken, or the epoch had already moved: a producer rang. (A stray FUTEX_WAKE from
        // an unrelated waker on the same word also lands here; the caller re-polls anyway.)
        wake = DoorbellWake::rung;
        break;
      }
      if (err != EINTR) break;  // ETIMEDOUT (or anything unexpected): give up waiting.
      if (bell.epoch.load(std::memory_order_acquire) != epoch) {
        wake = DoorbellWake::rung;
        break;
      }
      remaining_ns = deadline_ns - mono_now_ns();
      if (remaining_ns <= 0) break;
    }
  }
  bell.sleepers.fetch_sub(1, std::memory_order_release);  // C6
  return wake;
}

void doorbell_wait(Doorbell& bell, std::int64_t timeout_ns,
                   const std::function<bool()>& has_work) noexcept {
  (void)doorbell_park(bell, timeout_ns, has_work);
}

}  // namespace flashsaga::ipc
