// Ring benchmarks: our SPSC ring in-process (two threads) and across two processes (fork),
// beside boost::lockfree::spsc_queue and moodycamel::ReaderWriterQueue (in-process; they are
// heap structures), for 64/128/256-byte payloads; and cross-process ping-pong latency.
//
// What is measured, so the figures can be read honestly:
// - Every throughput iteration moves messages_per_iteration items from a producer to a consumer
//   and waits until the consumer has taken all of them; time is wall time (UseRealTime). Each
//   benchmark runs 3 repetitions and shows mean/median/stddev; the summary uses medians.
// - Our ring has one slot format: a 256-byte Message. For the 64- and 128-byte rows our ring
//   still copies a whole 256-byte slot per item (the payload rides inside it); items/s is the
//   comparable figure, bytes/s counts payload bytes only. boost and moodycamel move elements of
//   exactly the payload size.
// - Producers publish one item per call (try_publish / push / try_enqueue) and spin with a CPU
//   pause when full. Our producer rings the consumer's doorbell on every publish (the seq_cst
//   fence and one load: the production path). Consumers use each queue's natural read path:
//   ours readable()/peek()/release(n) in place, boost consume_all() in place, moodycamel
//   try_dequeue() (a copy out). Every consumer checks the sequence of every item.
// - Producer and consumer are pinned to CPUs 0 and 1 when the host has two or more.
// - Ping-pong: one message there and one back across two rings between two processes, both
//   sides busy-polling ("spinning"), or the echo side parked on its doorbell between messages
//   ("parked": the wake-up latency of an idle domain). p50/p99/p999 are counters in ns.
//
// Run: build/ipc-rel/bench/ring_benchmark   (about 20 s; prints a ratio summary at the end)
#include <benchmark/benchmark.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <readerwriterqueue/readerwriterqueue.h>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/clock.h"
#include "ipc/doorbell.h"
#include "ipc/idle_strategy.h"
#include "ipc/message.h"
#include "ipc/spsc_ring.h"

namespace flashsaga::ipc {
namespace {

constexpr std::uint32_t ring_capacity = 4096;
constexpr std::uint64_t messages_per_iteration = 1u << 18;
constexpr std::uint64_t wait_spin_count_max = 1ull << 34;  // a wedged peer fails the run
constexpr std::size_t shared_header_bytes = 4096;
constexpr std::int64_t ping_pong_round_trips = 100'000;
constexpr std::int64_t ping_pong_parked_round_trips = 10'000;
constexpr std::int64_t park_settle_ns = 50'000;

void cpu_relax() noexcept {
  IdleStrategy::cpu_relax();
}

void pin_to_cpu(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::sched_setaffinity(0, sizeof(set), &set);
}

void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned cpu = 0; cpu < std::thread::hardware_concurrency(); ++cpu) CPU_SET(cpu, &set);
  ::sched_setaffinity(0, sizeof(set), &set);
}

template <std::size_t Bytes>
struct Payload {
  std::uint64_t sequence;
  std::array<std::byte, Bytes - sizeof(std::uint64_t)> rest;
};
static_assert(sizeof(Payload<64>) == 64);
static_assert(sizeof(Payload<256>) == 256);

// One anonymous MAP_SHARED mapping (inherited across fork):
// [0] doorbells and control words, [4096] ring region A, then ring region B.
struct SharedControl {
  Doorbell consumer_bell;
  Doorbell echo_bell;
  alignas(64) std::atomic<std::uint32_t> stop;
  alignas(64) std::atomic<std::uint64_t> consumer_errors;
};
static_assert(sizeof(SharedControl) <= shared_header_bytes);

class SharedRings {
 public:
  SharedRings() {
    bytes_ = shared_header_bytes + 2 * SpscRing::region_bytes(ring_capacity);
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    base_ = static_cast<std::byte*>(p);
    doorbell_init(control().consumer_bell);
    doorbell_init(control().echo_bell);
    a_ = SpscRing::format(base_ + shared_header_bytes, ring_capacity, Node{Domain::port, 0},
                          Node{Domain::order, 0});
    b_ = SpscRing::format(base_ + shared_header_bytes + SpscRing::region_bytes(ring_capacity),
                          ring_capacity, Node{Domain::order, 0}, Node{Domain::port, 0});
  }
  ~SharedRings() { ::munmap(base_, bytes_); }
  SharedRings(const SharedRings&) = delete;
  SharedRings& operator=(const SharedRings&) = delete;
  SharedControl& control() { return *reinterpret_cast<SharedControl*>(base_); }
  SpscRing a() const { return a_; }
  SpscRing b() const { return b_; }

 private:
  std::size_t bytes_ = 0;
  std::byte* base_ = nullptr;
  SpscRing a_, b_;
};

// --- Consumers (run in a thread or a forked child until stop) ------------------------------

void consume_ours(SpscRing ring, SharedControl& control) {
  RingConsumer consumer(ring);
  std::uint64_t expected = 0;
  std::uint64_t errors = 0;
  for (;;) {
    const std::size_t n = consumer.readable();
    if (n == 0) {
      if (control.stop.load(std::memory_order_acquire) != 0) break;
      cpu_relax();
      continue;
    }
    for (std::size_t i = 0; i < n; ++i) errors += consumer.peek(i).header.sequence != expected++;
    consumer.release(n);
  }
  control.consumer_errors.fetch_add(errors);
}

template <typename Queue, typename T>
void consume_boost(Queue& queue, std::atomic<bool>& stop, std::atomic<std::uint64_t>& errors) {
  std::uint64_t expected = 0;
  std::uint64_t bad = 0;
  for (;;) {
    const std::size_t n =
        queue.consume_all([&](const T& item) { bad += item.sequence != expected++; });
    if (n == 0) {
      if (stop.load(std::memory_order_acquire)) break;
      cpu_relax();
    }
  }
  errors += bad;
}

template <typename Queue, typename T>
void consume_moodycamel(Queue& queue, std::atomic<bool>& stop, std::atomic<std::uint64_t>& errors) {
  std::uint64_t expected = 0;
  std::uint64_t bad = 0;
  T item;
  for (;;) {
    if (queue.try_dequeue(item)) {
      bad += item.sequence != expected++;
      continue;
    }
    if (stop.load(std::memory_order_acquire)) break;
    cpu_relax();
  }
  errors += bad;
}

// --- Producers: one iteration = messages_per_iteration items, then wait until drained ------

bool produce_ours(RingProducer& producer, Message& m, std::uint64_t& sequence) {
  for (std::uint64_t i = 0; i < messages_per_iteration; ++i) {
    m.header.sequence = sequence++;
    std::uint64_t spins = 0;
    while (!producer.try_publish(m)) {
      if (++spins > wait_spin_count_max) return false;
      cpu_relax();
    }
  }
  std::uint64_t spins = 0;
  while (producer.ring().load_consumer_cursor(std::memory_order_acquire) != sequence) {
    if (++spins > wait_spin_count_max) return false;
    cpu_relax();
  }
  return true;
}

void report(benchmark::State& state, std::size_t payload_bytes, std::size_t moved_bytes,
            std::uint64_t errors) {
  const auto items = static_cast<std::int64_t>(state.iterations() * messages_per_iteration);
  state.SetItemsProcessed(items);
  state.SetBytesProcessed(items * static_cast<std::int64_t>(payload_bytes));
  state.counters["copied_bytes_per_item"] = static_cast<double>(moved_bytes);
  state.counters["errors"] = static_cast<double>(errors);
  if (errors != 0) state.SkipWithError("consumer saw out-of-order items");
}

template <std::size_t Bytes>
void ours_in_process(benchmark::State& state) {
  SharedRings shared;
  std::thread consumer([&] {
    pin_to_cpu(1);
    consume_ours(shared.a(), shared.control());
  });
  pin_to_cpu(0);
  RingProducer producer(shared.a(), &shared.control().consumer_bell);
  Message m = make_message(MessageType::payment_approved, Domain::payment, Domain::order,
                           PaymentApprovedBody{1});
  std::uint64_t sequence = 0;
  bool ok = true;
  for (auto _ : state) ok = ok && produce_ours(producer, m, sequence);
  shared.control().stop.store(1, std::memory_order_release);
  consumer.join();
  unpin();
  if (!ok) state.SkipWithError("consumer stopped draining");
  report(state, Bytes, sizeof(Message), shared.control().consumer_errors.load());
}

template <std::size_t Bytes>
void ours_cross_process(benchmark::State& state) {
  SharedRings shared;
  const pid_t pid = ::fork();
  if (pid < 0) {
    state.SkipWithError("fork failed");
    return;
  }
  if (pid == 0) {
    pin_to_cpu(1);
    consume_ours(shared.a(), shared.control());
    ::_exit(0);
  }
  pin_to_cpu(0);
  RingProducer producer(shared.a(), &shared.control().consumer_bell);
  Message m = make_message(MessageType::payment_approved, Domain::payment, Domain::order,
                           PaymentApprovedBody{1});
  std::uint64_t sequence = 0;
  bool ok = true;
  for (auto _ : state) ok = ok && produce_ours(producer, m, sequence);
  shared.control().stop.store(1, std::memory_order_release);
  int status = 0;
  ::waitpid(pid, &status, 0);
  unpin();
  if (!ok) state.SkipWithError("consumer stopped draining");
  report(state, Bytes, sizeof(Message), shared.control().consumer_errors.load());
}

template <std::size_t Bytes>
void boost_in_process(benchmark::State& state) {
  using T = Payload<Bytes>;
  boost::lockfree::spsc_queue<T> queue(ring_capacity);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> errors{0};
  std::thread consumer([&] {
    pin_to_cpu(1);
    consume_boost<decltype(queue), T>(queue, stop, errors);
  });
  pin_to_cpu(0);
  T item{};
  std::uint64_t sequence = 0;
  bool ok = true;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < messages_per_iteration; ++i) {
      item.sequence = sequence++;
      while (!queue.push(item)) cpu_relax();
    }
    std::uint64_t spins = 0;
    while (queue.write_available() != ring_capacity && ++spins < wait_spin_count_max) cpu_relax();
    ok = ok && spins < wait_spin_count_max;
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  unpin();
  if (!ok) state.SkipWithError("consumer stopped draining");
  report(state, Bytes, Bytes, errors.load());
}

template <std::size_t Bytes>
void moodycamel_in_process(benchmark::State& state) {
  using T = Payload<Bytes>;
  moodycamel::ReaderWriterQueue<T> queue(ring_capacity);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> errors{0};
  std::thread consumer([&] {
    pin_to_cpu(1);
    consume_moodycamel<decltype(queue), T>(queue, stop, errors);
  });
  pin_to_cpu(0);
  T item{};
  std::uint64_t sequence = 0;
  bool ok = true;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < messages_per_iteration; ++i) {
      item.sequence = sequence++;
      while (!queue.try_enqueue(item)) cpu_relax();
    }
    std::uint64_t spins = 0;
    while (queue.size_approx() != 0 && ++spins < wait_spin_count_max) cpu_relax();
    ok = ok && spins < wait_spin_count_max;
  }
  stop.store(true, std::memory_order_release);
  consumer.join();
  unpin();
  if (!ok) state.SkipWithError("consumer stopped draining");
  report(state, Bytes, Bytes, errors.load());
}

// --- Ping-pong across processes -----------------------------------------------------------

// The echo process: every message read from ring a goes back on ring b. Parks on its doorbell
// when `park` (the idle strategy with no spin and no yield), else busy-polls.
void echo(SharedRings& shared, bool park) {
  RingConsumer in(shared.a());
  RingProducer out(shared.b(), nullptr);  // the pinger busy-polls: nobody to wake
  IdleStrategy idle(park ? 0 : UINT32_MAX, 0, park_ns_max);
  Doorbell& bell = shared.control().echo_bell;
  const std::function<bool()> has_work = [&in] { return in.readable() > 0; };
  while (shared.control().stop.load(std::memory_order_acquire) == 0) {
    const std::size_t n = in.readable();
    for (std::size_t i = 0; i < n; ++i) {
      while (!out.try_publish(in.peek(i))) cpu_relax();
    }
    in.release(n);
    idle.idle(n, bell, has_work);
  }
}

void ping_pong(benchmark::State& state, bool park) {
  SharedRings shared;
  const pid_t pid = ::fork();
  if (pid < 0) {
    state.SkipWithError("fork failed");
    return;
  }
  if (pid == 0) {
    pin_to_cpu(1);
    echo(shared, park);
    ::_exit(0);
  }
  pin_to_cpu(0);
  RingProducer out(shared.a(), &shared.control().echo_bell);
  RingConsumer in(shared.b());
  Message m = make_message(MessageType::payment_approved, Domain::payment, Domain::order,
                           PaymentApprovedBody{1});
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(state.max_iterations));
  std::uint64_t sequence = 0;
  bool ok = true;
  for (auto _ : state) {
    m.header.sequence = ++sequence;
    const std::int64_t start_ns = mono_now_ns();
    if (!out.try_publish(m)) {
      ok = false;
      break;
    }
    std::uint64_t spins = 0;
    while (in.readable() == 0 && ++spins < wait_spin_count_max) cpu_relax();
    const std::int64_t rtt_ns = mono_now_ns() - start_ns;
    if (spins >= wait_spin_count_max || in.peek(0).header.sequence != sequence) {
      ok = false;
      break;
    }
    in.release(1);
    samples.push_back(rtt_ns);
    if (park) {  // let the echo side fall asleep again (outside the measured span)
      std::uint64_t waits = 0;
      while (shared.control().echo_bell.sleepers.load(std::memory_order_acquire) == 0 &&
             ++waits < wait_spin_count_max)
        cpu_relax();
      const std::int64_t announced_ns = mono_now_ns();  // then ~50 us to enter FUTEX_WAIT
      while (mono_now_ns() - announced_ns < park_settle_ns) cpu_relax();
    }
  }
  shared.control().stop.store(1, std::memory_order_release);
  doorbell_ring(shared.control().echo_bell);
  int status = 0;
  ::waitpid(pid, &status, 0);
  unpin();
  if (!ok || samples.empty()) {
    state.SkipWithError("echo process did not answer");
    return;
  }
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return static_cast<double>(samples[static_cast<std::size_t>(q * (samples.size() - 1))]);
  };
  state.counters["p50_ns"] = at(0.50);
  state.counters["p99_ns"] = at(0.99);
  state.counters["p999_ns"] = at(0.999);
  state.counters["max_ns"] = static_cast<double>(samples.back());
}

// --- Registration and the summary ---------------------------------------------------------

// Keeps the median items_per_second of each benchmark, to print the ratios after the table.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Aggregate || run.aggregate_name != "median") continue;
      auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) items_per_second_[run.benchmark_name()] = it->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // The first run whose name starts with prefix (names carry "/min_time:…/real_time" too).
  double items_per_second(const std::string& prefix) const {
    for (const auto& [name, value] : items_per_second_)
      if (name.rfind(prefix, 0) == 0) return value;
    return 0.0;
  }

 private:
  std::map<std::string, double> items_per_second_;
};

template <std::size_t Bytes>
void register_throughput() {
  const std::string size = "/" + std::to_string(Bytes) + "B";
  for (auto* b : {
           benchmark::RegisterBenchmark(("ours_in_process" + size).c_str(), ours_in_process<Bytes>),
           benchmark::RegisterBenchmark(("ours_cross_process" + size).c_str(),
                                        ours_cross_process<Bytes>),
           benchmark::RegisterBenchmark(("boost_spsc_in_process" + size).c_str(),
                                        boost_in_process<Bytes>),
           benchmark::RegisterBenchmark(("moodycamel_rwq_in_process" + size).c_str(),
                                        moodycamel_in_process<Bytes>),
       }) {
    // Three repetitions, medians shown: this host is shared, and a burst of someone else's
    // work in one repetition should not decide the figure.
    b->UseRealTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(0.2)
        ->Repetitions(3)
        ->DisplayAggregatesOnly(true);
  }
}

}  // namespace
}  // namespace flashsaga::ipc

int main(int argc, char** argv) {
  using namespace flashsaga::ipc;
  register_throughput<64>();
  register_throughput<128>();
  register_throughput<256>();
  benchmark::RegisterBenchmark("ours_ping_pong_cross_process/spinning",
                               [](benchmark::State& s) { ping_pong(s, false); })
      ->Iterations(ping_pong_round_trips)
      ->Unit(benchmark::kNanosecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("ours_ping_pong_cross_process/parked",
                               [](benchmark::State& s) { ping_pong(s, true); })
      ->Iterations(ping_pong_parked_round_trips)
      ->Unit(benchmark::kNanosecond)
      ->UseRealTime();

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  std::printf(
      "\nSummary (median items/s of 3 repetitions; ours moves a 256-byte slot per item at "
      "every payload size)\n");
  for (const char* size : {"64B", "128B", "256B"}) {
    const std::string s = size;
    const double ours_x = reporter.items_per_second("ours_cross_process/" + s + "/");
    const double ours_in = reporter.items_per_second("ours_in_process/" + s + "/");
    const double boost_in = reporter.items_per_second("boost_spsc_in_process/" + s + "/");
    const double mc_in = reporter.items_per_second("moodycamel_rwq_in_process/" + s + "/");
    if (boost_in <= 0.0) continue;
    std::printf(
        "  %-5s ours cross-process %.1f M/s, ours in-process %.1f M/s, boost spsc %.1f M/s,"
        " moodycamel %.1f M/s; ratio cross-process ours / in-process boost = %.2f\n",
        size, ours_x / 1e6, ours_in / 1e6, boost_in / 1e6, mc_in / 1e6, ours_x / boost_in);
  }
  benchmark::Shutdown();
  return 0;
}
