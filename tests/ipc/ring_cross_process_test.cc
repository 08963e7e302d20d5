// SPSC ring across processes: a forked producer process streams messages to the test process,
// which checks every message's sequence, fields and checksum; and a producer killed with SIGKILL
// mid-stream leaves only whole, contiguous messages behind.
//
// Built twice (tests/ipc/CMakeLists.txt): FLASHSAGA_STREAM_MESSAGE_COUNT is 200k for the quick
// and sanitizer runs and 10M for the slow run. After fork() the child touches only the shared
// mapping (plus pure functions: seal, the clock) and leaves with _exit().
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>

#include "engine/base/clock.h"
#include "ipc/doorbell.h"
#include "ipc/idle_strategy.h"
#include "ipc/message.h"
#include "ipc/spsc_ring.h"

#ifndef FLASHSAGA_STREAM_MESSAGE_COUNT
#define FLASHSAGA_STREAM_MESSAGE_COUNT 200000
#endif

namespace flashsaga::ipc {
namespace {

constexpr std::uint32_t ring_capacity = 1024;
constexpr std::size_t producer_batch_max = 64;
constexpr std::size_t consumer_batch_max = 97;
constexpr std::int64_t stream_deadline_ns = 120'000'000'000;
constexpr std::size_t ring_offset_bytes = 4096;

// Exit codes of the producer child.
constexpr int child_ok = 0;
constexpr int child_timed_out = 3;

// One anonymous MAP_SHARED mapping: inherited by fork(), so both processes see the same pages.
// Layout: [0] consumer doorbell, [4096] ring region.
class SharedMapping {
 public:
  explicit SharedMapping(std::size_t bytes) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    base_ = static_cast<std::byte*>(p);
  }
  ~SharedMapping() { ::munmap(base_, bytes_); }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  Doorbell& bell() { return *reinterpret_cast<Doorbell*>(base_); }
  void* ring_region() { return base_ + ring_offset_bytes; }

 private:
  std::size_t bytes_;
  std::byte* base_;
};

std::uint64_t xorshift(std::uint64_t& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

// Every field but the checksum is a function of the sequence, so the consumer can check each.
void fill(Message& m, std::uint64_t sequence) {
  m.header.sequence = sequence;
  m.header.order_id = sequence * 31 + 7;
  m.header.correlation = sequence ^ 0xC0FFEEull;
  const PaymentApprovedBody body{static_cast<std::int64_t>(sequence * 3)};
  std::memcpy(m.body.data(), &body, sizeof(body));
  seal(m);
}

Message template_message() {
  return make_message(MessageType::payment_approved, Domain::payment, Domain::order,
                      PaymentApprovedBody{0});
}

bool intact(const Message& m, std::uint64_t expected_sequence) {
  return validate(m) == MessageError::ok && m.header.sequence == expected_sequence &&
         m.header.order_id == expected_sequence * 31 + 7 &&
         m.header.correlation == (expected_sequence ^ 0xC0FFEEull) &&
         body_as<PaymentApprovedBody>(m).amount == static_cast<std::int64_t>(expected_sequence * 3);
}

// The producer child: publishes sequences 1..count with random batch sizes (single publishes
// and batches), backing off with pause/yield when the ring is full. Returns an exit code.
int produce(SpscRing ring, Doorbell* bell, std::uint64_t count, std::uint64_t seed) {
  RingProducer producer(ring, bell);
  std::array<Message, producer_batch_max> batch;
  batch.fill(template_message());
  std::uint64_t rng = seed;
  std::uint64_t next = 1;
  std::uint32_t full_streak = 0;
  const std::int64_t start_ns = mono_now_ns();
  while (next <= count) {
    if (mono_now_ns() - start_ns > stream_deadline_ns) return child_timed_out;
    const std::uint64_t r = xorshift(rng);
    std::size_t published = 0;
    if (r % 4 == 0) {
      fill(batch[0], next);
      published = producer.try_publish(batch[0]) ? 1 : 0;
    } else {
      const std::size_t want = static_cast<std::size_t>(
          std::min<std::uint64_t>(1 + (r >> 8) % producer_batch_max, count - next + 1));
      for (std::size_t i = 0; i < want; ++i) fill(batch[i], next + i);
      published = producer.try_publish_batch(std::span<const Message>(batch.data(), want));
    }
    next += published;
    if (published > 0) {
      full_streak = 0;
    } else if (++full_streak < 64) {
      IdleStrategy::cpu_relax();
    } else {
      ::sched_yield();
    }
  }
  return child_ok;
}

struct ConsumeResult {
  std::uint64_t received = 0;
  std::uint64_t bad = 0;
  std::uint64_t first_bad_sequence = 0;
};

// Reads up to `until` messages (or until the deadline), in random batch sizes, checking each.
void consume(RingConsumer& consumer, Doorbell& bell, std::uint64_t until, std::uint64_t seed,
             ConsumeResult& result) {
  IdleStrategy idle;
  const std::function<bool()> has_work = [&consumer] { return consumer.readable() > 0; };
  std::uint64_t rng = seed;
  const std::int64_t start_ns = mono_now_ns();
  while (result.received < until && mono_now_ns() - start_ns < stream_deadline_ns) {
    const std::uint64_t r = xorshift(rng);
    const std::size_t take = std::min<std::size_t>(
        {consumer.readable(), 1 + static_cast<std::size_t>(r % consumer_batch_max),
         static_cast<std::size_t>(until - result.received)});
    for (std::size_t i = 0; i < take; ++i) {
      const std::uint64_t expected = result.received + 1 + i;
      if (!intact(consumer.peek(i), expected)) {
        if (result.bad == 0) result.first_bad_sequence = expected;
        ++result.bad;
      }
    }
    consumer.release(take);
    result.received += take;
    if (r % 8192 == 0) {  // now and then stall, so the producer finds the ring full
      for (int spin = 0; spin < 20000; ++spin) IdleStrategy::cpu_relax();
    }
    idle.idle(take, bell, has_work);
  }
}

int wait_child(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

TEST(RingAcrossProcesses, DeliversEveryMessageWholeAndInOrder) {
  constexpr std::uint64_t count = FLASHSAGA_STREAM_MESSAGE_COUNT;
#if defined(FLASHSAGA_UNDER_SANITIZER)
  if (count > 1'000'000) GTEST_SKIP() << "too slow under a sanitizer; the 200k run covers it";
#endif
  SharedMapping shared(ring_offset_bytes + SpscRing::region_bytes(ring_capacity));
  doorbell_init(shared.bell());
  SpscRing ring = SpscRing::format(shared.ring_region(), ring_capacity, Node{Domain::payment, 0},
                                   Node{Domain::order, 0});
  const std::int64_t start_ns = mono_now_ns();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(produce(ring, &shared.bell(), count, 0x9E3779B97F4A7C15ull));

  RingConsumer consumer(ring);
  ConsumeResult result;
  consume(consumer, shared.bell(), count, 0xD1B54A32D192ED03ull, result);
  if (result.received < count) ::kill(pid, SIGKILL);  // never leave a child behind
  EXPECT_EQ(wait_child(pid), child_ok);
  const double seconds = static_cast<double>(mono_now_ns() - start_ns) / 1e9;

  EXPECT_EQ(result.received, count);
  EXPECT_EQ(result.bad, 0u) << "first bad sequence " << result.first_bad_sequence;
  EXPECT_EQ(ring.depth(), 0u);
  EXPECT_EQ(consumer.readable(), 0u);
  EXPECT_GE(ring.load_producer_cursor(std::memory_order_relaxed) / ring_capacity,
            count / ring_capacity);
  std::printf(
      "streamed %llu messages in %.2f s (%.1f M/s), %llu wrap-arounds, %llu full events, "
      "%llu consumer parks\n",
      static_cast<unsigned long long>(count), seconds, count / seconds / 1e6,
      static_cast<unsigned long long>(count / ring_capacity),
      static_cast<unsigned long long>(ring.full_events()),
      static_cast<unsigned long long>(shared.bell().park_count.load()));
}

#if !defined(FLASHSAGA_STREAM_ONLY)

TEST(RingAcrossProcesses, KilledProducerLeavesOnlyWholeContiguousMessages) {
  constexpr int round_count = 4;
  constexpr std::uint64_t endless = std::uint64_t{1} << 40;  // the child is killed long before
  SharedMapping shared(ring_offset_bytes + SpscRing::region_bytes(ring_capacity));
  for (int round = 0; round < round_count; ++round) {
    doorbell_init(shared.bell());
    SpscRing ring = SpscRing::format(shared.ring_region(), ring_capacity, Node{Domain::payment, 0},
                                     Node{Domain::order, 0});
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(produce(ring, &shared.bell(), endless, 0x1234567ull + round));

    RingConsumer consumer(ring);
    ConsumeResult result;
    const std::uint64_t kill_after = 20'000 + static_cast<std::uint64_t>(round) * 7'919;
    consume(consumer, shared.bell(), kill_after, 0xABCDEFull + round, result);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    EXPECT_EQ(wait_child(pid), 128 + SIGKILL);

    // The producer is gone; whatever it published is final. Read all of it.
    const std::uint64_t published = ring.load_producer_cursor(std::memory_order_acquire);
    consume(consumer, shared.bell(), published, 0x777ull + round, result);
    EXPECT_EQ(consumer.refresh(), 0u);
    EXPECT_EQ(result.received, published) << "round " << round;
    EXPECT_GE(result.received, kill_after);
    EXPECT_EQ(result.bad, 0u) << "round " << round << ": first bad sequence "
                              << result.first_bad_sequence;

    // A restarted producer continues right after the last message the dead one published.
    RingProducer restarted(ring, &shared.bell());
    Message m = template_message();
    fill(m, published + 1);
    ASSERT_TRUE(restarted.try_publish(m));
    ASSERT_EQ(consumer.readable(), 1u);
    EXPECT_TRUE(intact(consumer.peek(0), published + 1));
    consumer.release(1);
  }
}

#endif  // !FLASHSAGA_STREAM_ONLY

}  // namespace
}  // namespace flashsaga::ipc
