// Doorbell and IdleStrategy: a parked consumer really sleeps (in the kernel, not spinning), a
// producer in another process wakes it, and no wake-up is lost under a stress loop.
// Nothing here sleeps to "wait for" something: every wait is a bounded loop on a condition.
#include "ipc/doorbell.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include "engine/base/clock.h"
#include "ipc/idle_strategy.h"
#include "ipc/message.h"
#include "ipc/spsc_ring.h"

namespace flashsaga::ipc {
namespace {

constexpr std::uint32_t ring_capacity = 16;
constexpr std::size_t ring_offset_bytes = 4096;
constexpr std::size_t results_offset_bytes = 64;
constexpr std::int64_t condition_deadline_ns = 20'000'000'000;

// What the forked consumer reports back through the shared mapping.
struct ChildReport {
  std::atomic<std::uint32_t> wake;  // DoorbellWake
  std::atomic<std::uint32_t> readable;
  std::atomic<std::int64_t> parked_ns;
};

// One anonymous MAP_SHARED mapping, inherited by fork():
// [0] doorbell, [64] child report, [4096] ring region.
class SharedMapping {
 public:
  SharedMapping() : bytes_(ring_offset_bytes + SpscRing::region_bytes(ring_capacity)) {
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    base_ = static_cast<std::byte*>(p);
    doorbell_init(bell());
    ring_ = SpscRing::format(base_ + ring_offset_bytes, ring_capacity, Node{Domain::order, 0},
                             Node{Domain::payment, 0});
  }
  ~SharedMapping() { ::munmap(base_, bytes_); }
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  Doorbell& bell() { return *reinterpret_cast<Doorbell*>(base_); }
  ChildReport& report() { return *reinterpret_cast<ChildReport*>(base_ + results_offset_bytes); }
  SpscRing ring() const { return ring_; }

 private:
  std::size_t bytes_;
  std::byte* base_;
  SpscRing ring_;
};

Message numbered(std::uint64_t sequence) {
  Message m = make_message(MessageType::payment_approved, Domain::payment, Domain::order,
                           PaymentApprovedBody{1});
  m.header.sequence = sequence;
  seal(m);
  return m;
}

// Field 3 of /proc/<pid>/stat: 'R' running, 'S' sleeping (interruptible), 'Z' zombie, ...
char process_state(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  char text[512];
  const ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  if (n <= 0) return '?';
  text[n] = '\0';
  const char* p = std::strrchr(text, ')');
  return (p != nullptr && p[1] == ' ') ? p[2] : '?';
}

std::int64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int wait_child(pid_t pid) {
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

TEST(Doorbell, RingingWithNobodyAsleepWakesNobody) {
  SharedMapping shared;
  doorbell_ring(shared.bell());
  EXPECT_EQ(shared.bell().epoch.load(), 0u);
  EXPECT_EQ(shared.bell().wake_count.load(), 0u);
}

TEST(Doorbell, ParkReturnsAtOnceWhenWorkIsAlreadyThere) {
  SharedMapping shared;
  EXPECT_EQ(doorbell_park(shared.bell(), 10'000'000'000, [] { return true; }), DoorbellWake::work);
  EXPECT_EQ(shared.bell().sleepers.load(), 0u);
  EXPECT_EQ(shared.bell().park_count.load(), 0u);
}

TEST(Doorbell, ParkTimesOutWhenNobodyRings) {
  SharedMapping shared;
  const std::int64_t start_ns = mono_now_ns();
  EXPECT_EQ(doorbell_park(shared.bell(), 2'000'000, [] { return false; }), DoorbellWake::timed_out);
  EXPECT_GE(mono_now_ns() - start_ns, 2'000'000);
  EXPECT_EQ(shared.bell().sleepers.load(), 0u);
  EXPECT_EQ(shared.bell().park_count.load(), 1u);
}

TEST(Doorbell, ParkedConsumerIsWokenByAProducerInAnotherProcess) {
  constexpr std::int64_t park_ns = 10'000'000'000;  // far longer than the test should take
  SharedMapping shared;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // consumer: park until rung
    RingConsumer consumer(shared.ring());
    const std::int64_t start_ns = mono_now_ns();
    const DoorbellWake wake =
        doorbell_park(shared.bell(), park_ns, [&consumer] { return consumer.readable() > 0; });
    shared.report().parked_ns.store(mono_now_ns() - start_ns);
    shared.report().readable.store(static_cast<std::uint32_t>(consumer.readable()));
    shared.report().wake.store(static_cast<std::uint32_t>(wake));
    ::_exit(0);
  }

  // Producer: wait until the consumer announced itself, entered the futex wait, and the kernel
  // shows it sleeping; only then publish and ring.
  bool parked = false;
  const std::int64_t start_ns = mono_now_ns();
  while (!parked && mono_now_ns() - start_ns < condition_deadline_ns) {
    parked = shared.bell().sleepers.load() == 1 && shared.bell().park_count.load() == 1 &&
             process_state(pid) == 'S';
    if (!parked) ::sched_yield();
  }
  EXPECT_TRUE(parked) << "the consumer never parked";
  RingProducer producer(shared.ring(), &shared.bell());
  ASSERT_TRUE(producer.try_publish(numbered(1)));
  EXPECT_EQ(wait_child(pid), 0);

  EXPECT_EQ(static_cast<DoorbellWake>(shared.report().wake.load()), DoorbellWake::rung);
  EXPECT_EQ(shared.report().readable.load(), 1u);
  EXPECT_LT(shared.report().parked_ns.load(), park_ns / 2) << "woken by the timeout, not the ring";
  EXPECT_EQ(shared.bell().wake_count.load(), 1u);
  EXPECT_EQ(shared.bell().sleepers.load(), 0u);
}

// --- No lost wake-ups under stress --------------------------------------------------------
// The producer publishes one message at a time, after a random delay, and waits until it was
// consumed; the consumer parks whenever the ring is empty, with a long timeout. A lost
// wake-up shows as a park that timed out.

constexpr std::int64_t stress_park_ns = 2'000'000'000;

// Returns 0 on success, 3 on deadline.
int stress_produce(SpscRing ring, Doorbell* bell, std::uint64_t count, std::uint64_t seed) {
  RingProducer producer(ring, bell);
  Message m = numbered(0);
  std::uint64_t rng = seed;
  const std::int64_t start_ns = mono_now_ns();
  for (std::uint64_t s = 1; s <= count; ++s) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    // Log-uniform delays (0 .. 2047 pauses): many land right where the consumer is between
    // "ring looks empty" and "futex wait", which is where a lost wake-up would hide.
    const std::uint64_t delay = (rng >> 8) % (std::uint64_t{1} << ((rng >> 4) % 12));
    for (std::uint64_t i = 0; i < delay; ++i) IdleStrategy::cpu_relax();
    m.header.sequence = s;
    if (!producer.try_publish(m)) return 4;  // cannot be full: we wait for each message
    std::uint32_t spins = 0;
    while (ring.load_consumer_cursor(std::memory_order_acquire) < s) {
      if (mono_now_ns() - start_ns > condition_deadline_ns) return 3;
      if (++spins < 256)
        IdleStrategy::cpu_relax();
      else
        ::sched_yield();
    }
  }
  return 0;
}

struct StressResult {
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t timed_out = 0;
  std::uint64_t rung = 0;
};

StressResult stress_consume(SpscRing ring, Doorbell& bell, std::uint64_t count) {
  RingConsumer consumer(ring);
  const std::function<bool()> has_work = [&consumer] { return consumer.readable() > 0; };
  StressResult result;
  const std::int64_t start_ns = mono_now_ns();
  while (result.received < count && mono_now_ns() - start_ns < condition_deadline_ns) {
    const std::size_t n = consumer.readable();
    if (n == 0) {
      const DoorbellWake wake = doorbell_park(bell, stress_park_ns, has_work);
      if (wake == DoorbellWake::timed_out) ++result.timed_out;
      if (wake == DoorbellWake::rung) ++result.rung;
      continue;
    }
    for (std::size_t i = 0; i < n; ++i)
      if (consumer.peek(i).header.sequence != result.received + 1 + i) ++result.out_of_order;
    consumer.release(n);
    result.received += n;
  }
  return result;
}

TEST(Doorbell, NoWakeUpIsLostBetweenProcesses) {
  constexpr std::uint64_t count = 20'000;
  SharedMapping shared;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(stress_produce(shared.ring(), &shared.bell(), count, 0x5EEDull));
  const StressResult result = stress_consume(shared.ring(), shared.bell(), count);
  if (result.received < count) ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(result.received, count);
  EXPECT_EQ(result.out_of_order, 0u);
  EXPECT_EQ(result.timed_out, 0u) << "a wake-up was lost";
  EXPECT_GT(shared.bell().park_count.load(), 0u) << "the consumer never parked: no stress";
  std::printf("%llu messages, %llu parks, %llu woken by the producer\n",
              static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(shared.bell().park_count.load()),
              static_cast<unsigned long long>(result.rung));
}

TEST(Doorbell, NoWakeUpIsLostBetweenThreads) {
  constexpr std::uint64_t count = 5'000;
  SharedMapping shared;
  int produced = -1;
  std::thread producer([&] { produced = stress_produce(shared.ring(), &shared.bell(), count, 7); });
  const StressResult result = stress_consume(shared.ring(), shared.bell(), count);
  producer.join();
  EXPECT_EQ(produced, 0);
  EXPECT_EQ(result.received, count);
  EXPECT_EQ(result.out_of_order, 0u);
  EXPECT_EQ(result.timed_out, 0u) << "a wake-up was lost";
}

// --- IdleStrategy -------------------------------------------------------------------------

TEST(IdleStrategy, SpinsThenYieldsThenParks) {
  SharedMapping shared;
  IdleStrategy idle(3, 2, 1'000'000);
  const std::function<bool()> no_work = [] { return false; };
  for (int i = 0; i < 5; ++i) idle.idle(0, shared.bell(), no_work);  // 3 spins, 2 yields
  EXPECT_EQ(idle.park_count(), 0u);
  EXPECT_EQ(shared.bell().park_count.load(), 0u);
  idle.idle(0, shared.bell(), no_work);
  idle.idle(0, shared.bell(), no_work);
  EXPECT_EQ(idle.park_count(), 2u);
  EXPECT_EQ(shared.bell().park_count.load(), 2u);
}

TEST(IdleStrategy, WorkResetsTheBackOff) {
  SharedMapping shared;
  IdleStrategy idle(3, 2, 1'000'000);
  const std::function<bool()> no_work = [] { return false; };
  for (int i = 0; i < 6; ++i) idle.idle(0, shared.bell(), no_work);
  EXPECT_EQ(idle.park_count(), 1u);
  idle.idle(1, shared.bell(), no_work);
  for (int i = 0; i < 5; ++i) idle.idle(0, shared.bell(), no_work);
  EXPECT_EQ(idle.park_count(), 1u);  // back to spinning and yielding first
}

TEST(IdleStrategy, ParkDoesNotSleepWhenWorkArrivedMeanwhile) {
  SharedMapping shared;
  IdleStrategy idle(0, 0, 10'000'000'000);
  const std::int64_t start_ns = mono_now_ns();
  idle.idle(0, shared.bell(), [] { return true; });
  EXPECT_LT(mono_now_ns() - start_ns, 1'000'000'000);
  EXPECT_EQ(shared.bell().park_count.load(), 0u);
}

TEST(IdleStrategy, IdleConsumerUsesAlmostNoCpu) {
  // Watch until the consumer has parked park_count_min times (on a loaded host the 50 yields
  // alone can take a while: each hands the CPU to someone else), bounded by the deadline.
  constexpr std::uint64_t park_count_min = 10;
  constexpr std::uint32_t pass_count_max = 1'000'000;
  SharedMapping shared;
  RingConsumer consumer(shared.ring());
  const std::function<bool()> has_work = [&consumer] { return consumer.readable() > 0; };
  // The production spin and yield limits; parks of at most 20 ms so a short watch sees many.
  constexpr std::int64_t park_ns = std::min<std::int64_t>(park_ns_max, 20'000'000);
  IdleStrategy idle(idle_spin_count_max, idle_yield_count_max, park_ns);
  const std::int64_t wall_start_ns = mono_now_ns();
  const std::int64_t cpu_start_ns = thread_cpu_ns();
  for (std::uint32_t pass = 0; pass < pass_count_max; ++pass) {
    if (idle.park_count() >= park_count_min) break;
    if (mono_now_ns() - wall_start_ns >= condition_deadline_ns) break;
    idle.idle(consumer.readable(), shared.bell(), has_work);
  }
  const std::int64_t wall_ns = mono_now_ns() - wall_start_ns;
  const std::int64_t cpu_ns = thread_cpu_ns() - cpu_start_ns;
  EXPECT_GE(idle.park_count(), park_count_min);
  EXPECT_GE(wall_ns, static_cast<std::int64_t>(park_count_min - 1) * park_ns);  // really slept
  EXPECT_LT(cpu_ns * 100, wall_ns * 5)
      << "an idle consumer used " << 100.0 * cpu_ns / wall_ns << "% of a core";
  std::printf("idle consumer: %.3f%% of a core over %.0f ms, %llu parks\n",
              100.0 * static_cast<double>(cpu_ns) / static_cast<double>(wall_ns), wall_ns / 1e6,
              static_cast<unsigned long long>(idle.park_count()));
}

}  // namespace
}  // namespace flashsaga::ipc
