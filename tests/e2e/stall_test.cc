// Stalls over real processes: a domain SIGSTOPped under load (not dead: the supervisor must not
// restart it, its rings fill and wait), then SIGCONTinued.
//
// While the payment domain is stopped, orders placed long enough before it resumes cannot be
// paid in time and are cancelled `timeout` by the order domain (as designed); orders placed
// well before the stall or after it resumes complete; nothing is applied twice (every
// compensation and late reply is checked by `flashsaga check`, which also proves money and
// stock are conserved). A stopped order domain, which runs the deadlines, times nothing out
// that it had already been answered for when it resumes.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tests/e2e/http_client.h"
#include "tests/e2e/live_deployment.h"
#include "tests/e2e/settled_check.h"
#include "tools/check/check.h"

namespace flashsaga {
namespace {

using ipc::OrderReason;
using testing::LiveDeployment;

constexpr std::int64_t timeout_ms = 1500;
constexpr std::int64_t ms_ns = 1'000'000;
// Orders accepted before a stall starts and after it ends: the load runs on either side of it.
constexpr std::size_t load_before_stall = 300;
constexpr std::size_t load_after_stall = 300;

struct Placed {
  std::uint64_t id;
  std::int64_t at_ns;  // monotonic, when the order was accepted
};

// Buyers placing orders at a bounded rate until stopped; every accepted order with its time.
class Load {
 public:
  Load(engine::Client& c, std::vector<std::uint64_t> users, std::uint32_t product)
      : c_(c), users_(std::move(users)), product_(product) {
    for (int t = 0; t < 3; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~Load() { stop(); }
  void stop() {
    running_ = false;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::vector<Placed> placed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return placed_;
  }
  std::size_t placed_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return placed_.size();
  }
  // Waits until `more` orders beyond those placed so far were accepted (at most 30 s): the load
  // is flowing, whatever the machine's speed.
  bool wait_for_more(std::size_t more) {
    const std::size_t target = placed_count() + more;
    const std::int64_t deadline = mono_now_ns() + 30'000 * ms_ns;
    while (placed_count() < target && mono_now_ns() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return placed_count() >= target;
  }

 private:
  void run(int t) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
    for (std::uint32_t n = 0; running_ && n < 1'000'000; ++n) {
      const engine::PlaceOutcome o = c_.place_order(users_[rng() % users_.size()], {{product_, 1}});
      if (o.accepted()) {
        std::lock_guard<std::mutex> lock(mutex_);
        placed_.push_back({o.order_id, mono_now_ns()});
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(4));  // ~250 orders/s per thread at most
    }
  }
  engine::Client& c_;
  std::vector<std::uint64_t> users_;
  std::uint32_t product_;
  std::atomic<bool> running_{true};
  std::mutex mutex_;
  std::vector<Placed> placed_;
  std::vector<std::thread> threads_;
};

// A catalog: one product with plenty of stock, buyers with plenty of money.
std::vector<std::uint64_t> seed_catalog(engine::Client& c, std::uint32_t* product) {
  std::vector<std::uint64_t> users;
  for (int i = 0; i < 40; ++i) {
    const auto u = c.create_user("buyer", "buyer" + std::to_string(i) + "@stall.example");
    EXPECT_TRUE(u.ok());
    EXPECT_TRUE(c.deposit(u.id, 1'000'000'000).ok());
    users.push_back(u.id);
  }
  const auto p = c.create_product("sku", 1000, 1'000'000);
  EXPECT_TRUE(p.ok());
  *product = static_cast<std::uint32_t>(p.id);
  return users;
}

struct Outcome {
  std::size_t completed = 0, timed_out = 0, other = 0;
};

void expect_check_clean(LiveDeployment& dep) {
  const tools::CheckReport report = testing::check_when_settled(dep.config().data_dir);
  std::ostringstream out;
  tools::print_check(report, out);
  EXPECT_EQ(report.error, "");
  EXPECT_TRUE(report.violations.empty()) << out.str();
}

// Stops `role` for stall_ms in the middle of a load; returns the orders with the stall's bounds.
std::vector<Placed> stall_under_load(LiveDeployment& dep, const std::string& role,
                                     std::int64_t stall_ms, std::int64_t* stopped_ns,
                                     std::int64_t* resumed_ns) {
  std::uint32_t product = 0;
  const auto users = seed_catalog(dep.client(), &product);
  const pid_t pid = dep.find_process(role);
  EXPECT_GT(pid, 0) << role;
  Load load(dep.client(), users, product);
  EXPECT_TRUE(load.wait_for_more(load_before_stall)) << "no load before the stall";
  *stopped_ns = mono_now_ns();
  EXPECT_EQ(::kill(pid, SIGSTOP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms));
  *resumed_ns = mono_now_ns();
  EXPECT_EQ(::kill(pid, SIGCONT), 0);
  EXPECT_TRUE(load.wait_for_more(load_after_stall)) << "the load did not resume after the stall";
  load.stop();
  // Not restarted: the same process is still the one running.
  EXPECT_EQ(dep.find_process(role), pid) << "a stopped process must not be replaced";
  return load.placed();
}

domains::OrderRow terminal(LiveDeployment& dep, std::uint64_t id) {
  domains::OrderRow row{};
  EXPECT_TRUE(dep.client().wait_terminal(id, 30'000, &row)) << "order " << id << " never ended";
  return row;
}

TEST(Stall, PaymentStoppedUnderLoadTimesOutWhatItMustAndNothingElse) {
  LiveDeployment dep("[saga]\nstep_timeout_ms = " + std::to_string(timeout_ms) + "\n");
  std::int64_t stopped = 0, resumed = 0;
  const auto placed = stall_under_load(dep, "payment", 3 * timeout_ms, &stopped, &resumed);
  ASSERT_GT(placed.size(), 200u);
  const std::int64_t margin = 300 * ms_ns;
  Outcome before, during, after;
  for (const Placed& p : placed) {
    const domains::OrderRow row = terminal(dep, p.id);
    const bool completed = row.status == static_cast<std::uint8_t>(domains::OrderStatus::completed);
    const bool timed_out = row.reason == static_cast<std::uint8_t>(OrderReason::timeout);
    Outcome* o = nullptr;  // near an edge of the stall, either outcome is right
    if (p.at_ns < stopped - margin)
      o = &before;
    else if (p.at_ns > stopped + margin && p.at_ns < resumed - timeout_ms * ms_ns - margin)
      o = &during;
    else if (p.at_ns > resumed + margin)
      o = &after;
    if (o == nullptr) continue;
    (completed ? o->completed : timed_out ? o->timed_out : o->other)++;
  }
  std::printf(
      "before: %zu completed, %zu timed out; stalled: %zu completed, %zu timed out; after: %zu "
      "completed, %zu timed out\n",
      before.completed, before.timed_out, during.completed, during.timed_out, after.completed,
      after.timed_out);
  EXPECT_GT(before.completed, 0u);
  EXPECT_EQ(before.timed_out + before.other, 0u) << "an order paid before the stall timed out";
  EXPECT_GT(during.timed_out, 0u);
  EXPECT_EQ(during.completed + during.other, 0u)
      << "an order the stopped payment domain could not pay completed";
  EXPECT_GT(after.completed, 0u);
  EXPECT_EQ(after.timed_out + after.other, 0u) << "an order placed after the resume timed out";
  expect_check_clean(dep);
}

TEST(Stall, OrderDomainStoppedUnderLoadTimesOutNothingItWasAnsweredFor) {
  // The order domain runs the deadlines: stopped for twice the timeout, it resumes with every
  // answer already in its rings and must apply them before judging any deadline.
  LiveDeployment dep("[saga]\nstep_timeout_ms = " + std::to_string(timeout_ms) + "\n");
  std::int64_t stopped = 0, resumed = 0;
  const auto placed = stall_under_load(dep, "order", 2 * timeout_ms, &stopped, &resumed);
  ASSERT_GT(placed.size(), 100u);
  Outcome all;
  for (const Placed& p : placed) {
    const domains::OrderRow row = terminal(dep, p.id);
    const bool completed = row.status == static_cast<std::uint8_t>(domains::OrderStatus::completed);
    const bool timed_out = row.reason == static_cast<std::uint8_t>(OrderReason::timeout);
    (completed ? all.completed : timed_out ? all.timed_out : all.other)++;
  }
  std::printf("%zu completed, %zu timed out, %zu other\n", all.completed, all.timed_out, all.other);
  EXPECT_EQ(all.timed_out, 0u) << "every step had answered: nothing should time out";
  EXPECT_EQ(all.other, 0u);
  expect_check_clean(dep);
}

}  // namespace
}  // namespace flashsaga

namespace flashsaga {
namespace {

// Whether any of these processes is still alive (a zombie counts as gone).
bool any_alive(const std::vector<pid_t>& pids) {
  for (pid_t p : pids)
    if (p > 0 && ipc::process_alive(static_cast<std::uint32_t>(p),
                                    ipc::process_start_ticks(static_cast<std::uint32_t>(p))))
      return true;
  return false;
}

TEST(SupervisorKilled, ChildrenExitAndANewRunOnTheSameDataRecovers) {
  // The choice (docs/durability.md): no adoption. Children die with the supervisor
  // (PR_SET_PDEATHSIG), and the next `flashsaga run` removes the dead one's segment and starts
  // every process from its journal; here it is started at once, while the old children may
  // still be on their way out.
  const std::uint16_t port = testing::free_tcp_port();
  LiveDeployment dep("[http]\nport = " + std::to_string(port) + "\n", /*gateway=*/true, "sync");
  std::uint32_t product = 0;
  const auto users = seed_catalog(dep.client(), &product);
  std::vector<pid_t> children;
  for (std::uint8_t d = 1; d <= domain_count; ++d)
    children.push_back(static_cast<pid_t>(
        dep.client().deployment().status(static_cast<ipc::Domain>(d)).pid.load()));
  children.push_back(dep.find_process("gateway"));
  ASSERT_GT(children.back(), 0);
  std::vector<Placed> placed;
  {
    Load load(dep.client(), users, product);
    EXPECT_TRUE(load.wait_for_more(load_before_stall)) << "no load before the kill";
    ASSERT_EQ(::kill(dep.supervisor_pid(), SIGKILL), 0);
    int status = 0;
    ::waitpid(dep.supervisor_pid(), &status, 0);
    // Every child notices, and exits, within a bounded time.
    const std::int64_t killed = mono_now_ns();
    while (any_alive(children) && mono_now_ns() - killed < 5'000 * ms_ns)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_FALSE(any_alive(children)) << "a child outlived its supervisor by 5 s";
    std::printf("every child gone %.1f ms after the supervisor's kill -9\n",
                static_cast<double>(mono_now_ns() - killed) / 1e6);
    load.stop();
    placed = load.placed();
  }
  ASSERT_GT(placed.size(), 50u);
  dep.forget_crashed(/*remove_segment=*/false);
  const std::int64_t restart = mono_now_ns();
  dep.start(/*gateway=*/true);
  std::printf("new run ready %.1f ms after start\n",
              static_cast<double>(mono_now_ns() - restart) / 1e6);
  // Nothing acknowledged is lost (sync), and new orders are taken.
  for (const Placed& p : placed) terminal(dep, p.id);
  const engine::PlaceOutcome after = dep.client().place_order(users[0], {{product, 1}});
  EXPECT_TRUE(after.accepted());
  terminal(dep, after.order_id);
  expect_check_clean(dep);
}

}  // namespace
}  // namespace flashsaga
