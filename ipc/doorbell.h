// Doorbell: how a producer wakes a parked consumer in another process.
//
// Requires: the Doorbell lives in memory shared by every process that rings or waits on it (a
//   MAP_SHARED mapping, e.g. inside the Segment payload), 64-byte aligned, and was initialised
//   once with doorbell_init() before any process uses it. One doorbell per consumer process;
//   every producer that feeds that consumer (one per input ring) rings the same bell.
// Guarantees: an eventcount over a futex. No lost wake-ups: if a producer publishes and then
//   rings, a consumer that is about to park either sees the work in its has_work() re-check or
//   is woken by the ring. Ringing costs one load when nobody sleeps. A parked consumer uses no
//   CPU and wakes at least every timeout_ns (so deadlines are still checked). The futex is not
//   FUTEX_PRIVATE, so it works across processes; nothing here allocates, locks or throws.
//
// Memory ordering (the classic store-buffer pattern, closed by two seq_cst fences):
//
//   producer                              consumer
//   -------                              --------
//   P1 publish (release store of cursor)   C1 sleepers += 1
//   P2 atomic_thread_fence(seq_cst)        C2 atomic_thread_fence(seq_cst)
//   P3 load sleepers                       C3 e = load epoch (acquire)
//   P4 if sleepers != 0:                   C4 has_work()? -> return  (reads the cursor)
//        epoch += 1; FUTEX_WAKE(epoch)     C5 FUTEX_WAIT(epoch, e, timeout)
//                                          C6 sleepers -= 1
//
//   The fences forbid "P3 reads 0 and C4 reads the old cursor" at once, so either the producer
//   rings or the consumer sees the work. If the producer rings after C3, the kernel's FUTEX_WAIT
//   compares epoch with e atomically and returns at once; if it rings during C5, FUTEX_WAKE
//   wakes the waiter. epoch may wrap; only inequality matters.
//   (A ThreadSanitizer build, which cannot model fences, uses an acq_rel RMW of sleepers for
//   P2+P3 instead; doorbell.cc says why that is equivalent.)
//
// Example:
//   // consumer process, once:        doorbell_init(bell)   (by the segment's creator)
//   // producer, after publishing:    doorbell_ring(bell);   (RingProducer does this for you)
//   // consumer, when idle:
//   doorbell_wait(bell, park_ns_max, [&] { return consumer.readable() > 0; });
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "engine/base/limits.h"

namespace flashsaga::ipc {

struct alignas(64) Doorbell {
  std::atomic<std::uint32_t> epoch;     // bumped by a producer when a sleeper may be waiting
  std::atomic<std::uint32_t> sleepers;  // consumers announcing they are about to park
  // Statistics (relaxed, for metrics and tests): futex waits entered, futex wakes issued.
  std::atomic<std::uint64_t> park_count;
  std::atomic<std::uint64_t> wake_count;
  std::byte reserved[40];
};
static_assert(sizeof(Doorbell) == cache_line_size_bytes, "a doorbell fills one cache line");
static_assert(alignof(Doorbell) == cache_line_size_bytes);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "the futex word must be a plain lock-free 32-bit integer");
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "the futex word must be exactly 32 bits");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "a lock-free atomic is address-free, so it works in shared memory");

// Why doorbell_park() returned. Stable numbers.
enum class DoorbellWake : std::uint8_t {
  work = 0,       // has_work() was true before parking: never slept
  rung = 1,       // the epoch moved: a producer rang (or rang just before we parked)
  timed_out = 2,  // timeout_ns elapsed (or a signal interrupted the wait at the end)
};

// Sets every field to zero. Call once, before any process rings or waits.
void doorbell_init(Doorbell& bell) noexcept;

// Producer side, after publishing: cheap (one load) when nobody sleeps; else epoch++ and
// FUTEX_WAKE of every waiter. Contains the seq_cst fence P2 above, so callers need none.
void doorbell_ring(Doorbell& bell) noexcept;

// Consumer side: announce sleep, re-check has_work() (to never lose a wake-up), then futex-wait
// on epoch for at most timeout_ns. Returns when rung, timed out, or has_work() was true.
// timeout_ns: 1..park_ns_max is typical; must be > 0.
void doorbell_wait(Doorbell& bell, std::int64_t timeout_ns,
                   const std::function<bool()>& has_work) noexcept;

// doorbell_wait() that also says why it returned.
DoorbellWake doorbell_park(Doorbell& bell, std::int64_t timeout_ns,
                           const std::function<bool()>& has_work) noexcept;

}  // namespace flashsaga::ipc
