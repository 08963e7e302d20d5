// Randomized sagas and kill -9 chaos over real processes.
//
// A seeded mixed load — hundreds of buyers over a mixed catalog with a share of sold-outs,
// someone else's coupons, empty wallets, PG declines and PG hangs (step timeouts) — runs
// through the client library. The chaos variant kill -9s random domain processes while it
// runs. Afterwards every accepted order must be terminal and present, and `flashsaga check`
// must prove every invariant from the journals. The seed (and the kill schedule) is printed
// so a failure can be replayed: FLASHSAGA_SEED=<n> ./chaos_test.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "tests/e2e/live_deployment.h"
#include "tests/e2e/settled_check.h"

namespace flashsaga {
namespace {

using ipc::Domain;
using testing::LiveDeployment;

std::uint64_t seed_from_env(std::uint64_t fallback) {
  const char* s = std::getenv("FLASHSAGA_SEED");
  return s ? std::strtoull(s, nullptr, 10) : fallback;
}

struct World {
  std::vector<std::uint64_t> users;
  std::vector<std::uint32_t> products;
  std::vector<std::uint64_t> coupons;  // coupons[i] belongs to users[i] (0: none)
};

World build_world(engine::Client& c, std::mt19937_64& rng, std::size_t users,
                  std::size_t products) {
  World w;
  auto tpl = c.create_coupon_template(ipc::CouponKind::percent, 15, 0, 0, 3'000);
  EXPECT_TRUE(tpl.ok());
  for (std::size_t i = 0; i < users; ++i) {
    auto u = c.create_user("buyer", "buyer" + std::to_string(i) + "@chaos.example");
    EXPECT_TRUE(u.ok());
    w.users.push_back(u.id);
    // One in eight has an empty wallet; the rest can pay for a few orders.
    if (i % 8 != 0) {
      EXPECT_TRUE(c.deposit(u.id, static_cast<std::int64_t>(20'000 + rng() % 200'000)).ok());
    }
    if (i % 3 == 0) {
      EXPECT_TRUE(c.accrue_points(u.id, 2'000, "chaos").ok());
    }
    w.coupons.push_back(i % 2 == 0 ? c.issue_coupon(tpl.id, u.id).id : 0);
  }
  for (std::size_t i = 0; i < products; ++i) {
    // A few scarce SKUs sell out; the rest are plentiful.
    const std::int64_t stock =
        i < 3 ? 20 : 100'000'000;  // never sells out, even in the long profile
    auto p = c.create_product("sku", 500 + static_cast<std::int64_t>(rng() % 5'000), stock,
                              i == 1 ? 1 : 0);
    EXPECT_TRUE(p.ok());
    w.products.push_back(static_cast<std::uint32_t>(p.id));
  }
  return w;
}

struct LoadResult {
  std::vector<std::uint64_t> acknowledged;       // order ids answered `accepted`
  std::vector<std::int64_t> acknowledged_at_ns;  // monotonic time of each acknowledgement
  std::uint64_t attempts = 0, sold_out = 0, refused = 0, unavailable = 0, lost_replies = 0;
};

// Places at least `orders` orders with at most `window` in flight, and goes on (up to
// orders_max) while *keep_going is set — so a killer on the side gets to finish its schedule.
// rate > 0 paces the attempts (orders/s), so a long schedule keeps a load without piling up
// millions of orders.
LoadResult run_load(engine::Client& c, const World& w, std::uint64_t seed, std::uint64_t orders,
                    std::uint32_t window, const std::atomic<bool>* keep_going = nullptr,
                    double rate = 0) {
  constexpr std::uint64_t orders_max = 4'000'000;  // a bound, far beyond the long chaos profile
  LoadResult out;
  std::mt19937_64 rng(seed);
  std::mutex mutex;
  std::atomic<std::uint32_t> in_flight{0};
  const std::int64_t start_ns = mono_now_ns();
  for (std::uint64_t i = 0; i < orders_max && (i < orders || (keep_going && keep_going->load()));
       ++i) {
    if (rate > 0) {
      const auto due = start_ns + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / rate);
      const std::int64_t wait = due - mono_now_ns();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    }
    while (in_flight.load() >= window) std::this_thread::sleep_for(std::chrono::microseconds(100));
    const std::size_t u = rng() % w.users.size();
    engine::PlaceRequest req;
    req.user_id = w.users[u];
    req.item_count = 1 + static_cast<std::uint32_t>(rng() % 3);
    for (std::uint32_t k = 0; k < req.item_count; ++k)
      req.items[k] = ipc::LineItem{w.products[rng() % w.products.size()],
                                   1 + static_cast<std::uint32_t>(rng() % 2), 0};
    const int roll = static_cast<int>(rng() % 100);
    if (roll < 10 && w.coupons[u] != 0)
      req.coupon_id = w.coupons[u];
    else if (roll < 13)
      req.coupon_id = w.coupons[(u + 2) % w.coupons.size()];  // someone else's (or none)
    if (rng() % 4 == 0) req.points = 500;
    req.idempotency_key = seed * 1'000'003 + i + 1;
    ++out.attempts;
    in_flight.fetch_add(1);
    const auto now = c.port().place_order(req, [&](const engine::PortReply& r) {
      std::lock_guard<std::mutex> lock(mutex);
      if (r.timed_out) {
        ++out.lost_replies;
      } else {
        const auto b = ipc::body_as<ipc::PlaceOrderReplyBody>(r.message);
        if (b.result == static_cast<std::uint8_t>(ipc::PlaceResult::accepted) ||
            b.result == static_cast<std::uint8_t>(ipc::PlaceResult::duplicate)) {
          out.acknowledged.push_back(r.message.header.order_id);
          out.acknowledged_at_ns.push_back(mono_now_ns());
        } else
          ++out.refused;
      }
      in_flight.fetch_sub(1);
    });
    if (now.status != engine::PlaceStatus::submitted) {
      in_flight.fetch_sub(1);
      std::lock_guard<std::mutex> lock(mutex);
      if (now.status == engine::PlaceStatus::sold_out)
        ++out.sold_out;
      else
        ++out.unavailable;
    }
  }
  for (int i = 0; i < 60'000 && in_flight.load() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(in_flight.load(), 0u);
  return out;
}

void expect_all_terminal_and_check_clean(LiveDeployment& dep, const LoadResult& load,
                                         std::uint64_t seed) {
  engine::Client& c = dep.client();
  for (std::uint64_t id : load.acknowledged) {
    domains::OrderRow row{};
    ASSERT_TRUE(c.order(id).has_value())
        << "acknowledged order " << id << " is missing (seed " << seed << ")";
    EXPECT_TRUE(c.wait_terminal(id, 30'000, &row))
        << "order " << id << " never ended (seed " << seed << ")";
  }
  // Let the last compensations land, then prove the invariants from the journals.
  const tools::CheckReport report = testing::check_when_settled(dep.config().data_dir);
  EXPECT_EQ(report.error, "") << "seed " << seed;
  if (!report.violations.empty()) tools::print_check(report, std::cerr);
  EXPECT_TRUE(report.violations.empty())
      << report.violations.size() << " violations (seed " << seed << ")";
}

const char* mixed_config =
    "[saga]\nstep_timeout_ms = 1000\n"
    "[payment]\nadapter = \"pg\"\npg_decline_permille = 60\npg_hang_permille = 15\npg_latency_ms = 1\n";

class RandomizedSagas : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(RandomizedSagas, ThousandsOfMixedOrdersEndTerminalWithEveryInvariantHolding) {
  const std::uint64_t seed = seed_from_env(GetParam());
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  LiveDeployment dep(mixed_config);
  World w = build_world(dep.client(), rng, 200, 12);
  LoadResult load = run_load(dep.client(), w, seed, 3'000, 256);
  EXPECT_GT(load.acknowledged.size(), 1'000u);
  EXPECT_GT(load.sold_out, 0u);
  EXPECT_EQ(load.lost_replies, 0u);
  expect_all_terminal_and_check_clean(dep, load, seed);
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomizedSagas, ::testing::Values(1, 2, 3));

TEST(Chaos, KillingRandomDomainsUnderLoadLosesNothingAndCompensatesNothingTwice) {
  const std::uint64_t seed = seed_from_env(11);
  const int kills =
      std::getenv("FLASHSAGA_CHAOS_KILLS") ? std::atoi(std::getenv("FLASHSAGA_CHAOS_KILLS")) : 50;
  std::printf("seed %llu, %d kills\n", static_cast<unsigned long long>(seed), kills);
  std::mt19937_64 rng(seed);
  LiveDeployment dep(std::string(mixed_config) + "[supervisor]\nrestart_backoff_ms = 20\n");
  World w = build_world(dep.client(), rng, 200, 12);

  std::atomic<bool> killing{true};
  std::vector<std::string> schedule;
  std::vector<std::int64_t> recovery_ns;  // kill -> the restarted domain is ready
  std::int64_t first_kill_ns = 0, last_kill_ns = 0;
  const std::int64_t load_start_ns = mono_now_ns();
  std::thread killer([&] {
    std::mt19937_64 krng(seed ^ 0x9E3779B97F4A7C15ull);
    // A second of load without kills first: the baseline for the throughput dip.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (int k = 0; k < kills; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + krng() % 150));
      const auto d = static_cast<Domain>(1 + krng() % domain_count);
      const auto pid = static_cast<pid_t>(dep.client().deployment().status(d).pid.load());
      const std::int64_t killed_at = mono_now_ns();
      if (pid <= 0 || ::kill(pid, SIGKILL) != 0) continue;
      if (first_kill_ns == 0) first_kill_ns = killed_at;
      last_kill_ns = killed_at;
      schedule.push_back(std::string(ipc::domain_name(d)) + ":" + std::to_string(pid));
      // Wait (bounded) until the supervisor has it back, so kills spread over the load.
      for (int i = 0; i < 20'000; ++i) {
        if (dep.client().deployment().status(d).pid.load() != static_cast<std::uint32_t>(pid) &&
            dep.client().deployment().status(d).state.load() ==
                static_cast<std::uint32_t>(ipc::DomainState::ready)) {
          recovery_ns.push_back(mono_now_ns() - killed_at);
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    killing.store(false);
  });
  // The CI profile runs the load flat out; a long one (FLASHSAGA_CHAOS_RATE, orders/s) paces it.
  const double rate =
      std::getenv("FLASHSAGA_CHAOS_RATE") ? std::atof(std::getenv("FLASHSAGA_CHAOS_RATE")) : 0;
  LoadResult load = run_load(dep.client(), w, seed, 4'000, 256, &killing, rate);
  killer.join();
  std::string kill_text;
  for (const auto& s : schedule) kill_text += s + " ";
  std::printf("kill schedule: %s\n", kill_text.c_str());
  // Recovery (includes the supervisor's restart back-off of 20 ms) and the throughput dip.
  if (!recovery_ns.empty()) {
    std::sort(recovery_ns.begin(), recovery_ns.end());
    const auto at = [&](double q) {
      return static_cast<double>(recovery_ns[std::min(
                 recovery_ns.size() - 1,
                 static_cast<std::size_t>(q * static_cast<double>(recovery_ns.size())))]) /
             1e6;
    };
    std::printf(
        "recovery after a kill -9 (kill -> restarted domain ready), %zu kills: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        recovery_ns.size(), at(0.5), at(0.99), static_cast<double>(recovery_ns.back()) / 1e6);
  }
  if (first_kill_ns > load_start_ns && last_kill_ns > first_kill_ns) {
    std::size_t before = 0, during = 0;
    for (std::int64_t t : load.acknowledged_at_ns) {
      if (t < first_kill_ns)
        ++before;
      else if (t <= last_kill_ns)
        ++during;
    }
    const double rate_before =
        static_cast<double>(before) / (static_cast<double>(first_kill_ns - load_start_ns) / 1e9);
    const double rate_during =
        static_cast<double>(during) / (static_cast<double>(last_kill_ns - first_kill_ns) / 1e9);
    std::printf(
        "acknowledged orders/s (window 256): %.0f before the first kill, %.0f while killing (%.0f%%)\n",
        rate_before, rate_during, 100.0 * rate_during / std::max(rate_before, 1.0));
  }
  EXPECT_EQ(recovery_ns.size(), schedule.size()) << "a killed domain did not come back within 4 s";
  EXPECT_GE(schedule.size(), static_cast<std::size_t>(kills * 3 / 4))
      << "the killer did not get to kill";
  EXPECT_GT(load.acknowledged.size(), 500u);
  expect_all_terminal_and_check_clean(dep, load, seed);
}

TEST(Chaos, EveryProcessKilledAtOnceOrTheSupervisorKilledRecoversFromTheJournalsAlone) {
  const std::uint64_t seed = seed_from_env(21);
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  // sync: every acknowledged order was fsynced before its reply left.
  LiveDeployment dep(mixed_config, false, "sync");
  World w = build_world(dep.client(), rng, 100, 8);
  std::vector<std::uint64_t> acknowledged;
  for (int round = 0; round < 3; ++round) {
    // Crash in the middle of a load: the killer fires while orders are in flight.
    std::atomic<bool> loading{true};
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 200));
      dep.kill_everything();
      loading.store(false);
    });
    LoadResult load;
    {
      std::mt19937_64 lrng(seed + static_cast<std::uint64_t>(round));
      // Place orders until the crash; replies that never come are lost, not failures.
      engine::Client* c = &dep.client();
      std::mutex mutex;
      std::atomic<int> in_flight{0};
      for (std::uint64_t i = 0; i < 200'000 && loading.load(); ++i) {
        while (in_flight.load() > 128 && loading.load())
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        if (!loading.load()) break;
        engine::PlaceRequest req;
        req.user_id = w.users[lrng() % w.users.size()];
        req.item_count = 1;
        req.items[0] = ipc::LineItem{w.products[3 + lrng() % (w.products.size() - 3)], 1, 0};
        in_flight.fetch_add(1);
        auto now = c->port().place_order(req, [&](const engine::PortReply& r) {
          if (!r.timed_out && ipc::body_as<ipc::PlaceOrderReplyBody>(r.message).result ==
                                  static_cast<std::uint8_t>(ipc::PlaceResult::accepted)) {
            std::lock_guard<std::mutex> lock(mutex);
            acknowledged.push_back(r.message.header.order_id);
          }
          in_flight.fetch_sub(1);
        });
        if (now.status != engine::PlaceStatus::submitted) in_flight.fetch_sub(1);
      }
    }
    killer.join();
    // Rounds 0 and 2 lose the shared memory too (power loss); round 1 is the supervisor killed
    // alone (its children follow it by PR_SET_PDEATHSIG): the next supervisor finds the dead
    // one's segment, removes it and restarts every domain from its journal.
    dep.forget_crashed(/*remove_segment=*/round != 1);
    dep.start();  // from the data directory alone
  }
  std::printf("%zu orders acknowledged across 3 crashes\n", acknowledged.size());
  EXPECT_GT(acknowledged.size(), 100u);
  LoadResult all;
  all.acknowledged = acknowledged;
  expect_all_terminal_and_check_clean(dep, all, seed);
}

}  // namespace
}  // namespace flashsaga
