// Crashes under HTTP load: buyers POST /orders over keep-alive connections while a killer
// kill -9s the gateway and random domain processes. A buyer whose connection breaks retries
// with the same Idempotency-Key. Afterwards: every order answered 202 exists and is terminal,
// one key never produced two orders, and `flashsaga check` proves every invariant.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "bench/http_client.h"
#include "tests/e2e/http_client.h"
#include "tests/e2e/live_deployment.h"
#include "tests/e2e/settled_check.h"

namespace flashsaga {
namespace {

using testing::LiveDeployment;

std::uint64_t id_in(const std::string& body) {
  static const std::regex id_re("\"id\":([0-9]+)");
  std::smatch m;
  return std::regex_search(body, m, id_re) ? std::stoull(m[1]) : 0;
}

TEST(HttpChaos, GatewayAndDomainsKilledUnderHttpLoadLoseNoAcknowledgedOrderAndDuplicateNone) {
  const std::uint64_t seed =
      std::getenv("FLASHSAGA_SEED") ? std::strtoull(std::getenv("FLASHSAGA_SEED"), nullptr, 10) : 5;
  const std::uint16_t port = testing::free_tcp_port();
  std::printf("seed %llu, port %u\n", static_cast<unsigned long long>(seed), port);
  LiveDeployment dep("[http]\nport = " + std::to_string(port) +
                         "\nrequest_timeout_ms = 2000\n[supervisor]\nrestart_backoff_ms = 20\n",
                     true);
  bench::HttpClient seeder("127.0.0.1", port);
  constexpr int buyers = 60;
  for (int i = 0; i < 200 && seeder.request("GET", "/healthz").status != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Stock for the whole run: a sold-out product would answer 409 after the last kill, and the
  // test needs orders accepted then (the load takes ~100k orders in CI's 50 kills).
  const std::uint64_t product = id_in(
      seeder.request("POST", "/products", R"({"name":"hot","price":1000,"stock":10000000})").body);
  ASSERT_NE(product, 0u);
  std::vector<std::uint64_t> users;
  for (int i = 0; i < buyers; ++i) {
    const std::uint64_t u =
        id_in(seeder
                  .request("POST", "/users",
                           "{\"name\":\"b\",\"email\":\"b" + std::to_string(i) + "@x.example\"}")
                  .body);
    ASSERT_NE(u, 0u);
    ASSERT_EQ(seeder
                  .request("POST", "/users/" + std::to_string(u) + "/wallet/deposits",
                           R"({"amount":100000000})")
                  .status,
              201);
    users.push_back(u);
  }

  std::atomic<bool> running{true};
  std::mutex mutex;
  std::map<std::string, std::uint64_t> order_of_key;  // Idempotency-Key -> order id (202)
  std::atomic<std::uint64_t> retries{0}, refused{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t)
    clients.emplace_back([&, t] {
      bench::HttpClient http("127.0.0.1", port, 5'000);
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(t));
      for (std::uint64_t n = 0; running.load(); ++n) {
        std::string key(1, 'k');  // appended: "k" + a temporary trips GCC 12's -Wrestrict at -O3
        key += std::to_string(t) + "-" + std::to_string(n);
        const std::string body = "{\"user_id\":" + std::to_string(users[rng() % users.size()]) +
                                 ",\"items\":[{\"product_id\":" + std::to_string(product) +
                                 ",\"quantity\":1}]}";
        // Retry the same key until an answer comes (the gateway may be dead or restarting).
        for (int attempt = 0; attempt < 400; ++attempt) {
          bench::HttpResponse r = http.request("POST", "/orders", body, {{"Idempotency-Key", key}});
          if (r.status == 202) {
            std::lock_guard<std::mutex> lock(mutex);
            order_of_key[key] = id_in(r.body);
            break;
          }
          if (r.status == 409 || r.status == 404 || r.status == 422) {
            ++refused;
            break;
          }
          ++retries;  // connection error or 503 while something restarts
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
    });

  // 50 kills in CI, a third of them the gateway; FLASHSAGA_CHAOS_KILLS=1000 for the long profile.
  const int kills =
      std::getenv("FLASHSAGA_CHAOS_KILLS") ? std::atoi(std::getenv("FLASHSAGA_CHAOS_KILLS")) : 50;
  std::vector<std::string> schedule;
  std::mt19937_64 krng(seed);
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + krng() % 150));
    const bool gateway = k % 3 == 0;
    const std::string role =
        gateway
            ? "gateway"
            : std::string(ipc::domain_name(static_cast<ipc::Domain>(1 + krng() % domain_count)));
    const pid_t pid = dep.find_process(role);
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) schedule.push_back(role + ":" + std::to_string(pid));
  }
  // The load goes on after the last kill until 50 more orders were accepted (at most 30 s): the
  // restarted processes take orders again.
  const auto accepted = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return order_of_key.size();
  };
  const std::size_t after_kills = accepted() + 50;
  const std::int64_t resume_deadline = mono_now_ns() + 30'000'000'000;
  while (accepted() < after_kills && mono_now_ns() < resume_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(accepted(), after_kills) << "no orders accepted after the last kill";
  running.store(false);
  for (auto& c : clients) c.join();
  std::string text;
  for (const auto& s : schedule) text += s + " ";
  std::printf("kill schedule: %s\n%zu orders acknowledged, %llu retries\n", text.c_str(),
              order_of_key.size(), static_cast<unsigned long long>(retries.load()));
  EXPECT_GE(schedule.size(), static_cast<std::size_t>(kills * 3 / 4))
      << "the killer did not get to kill";
  EXPECT_GT(order_of_key.size(), 100u);

  // One key never became two orders, and every acknowledged order exists and ends.
  std::map<std::uint64_t, std::string> key_of_order;
  for (const auto& [key, id] : order_of_key) {
    ASSERT_NE(id, 0u);
    EXPECT_TRUE(key_of_order.emplace(id, key).second) << "order " << id << " answered for two keys";
  }
  engine::Client& c = dep.client();
  for (const auto& [key, id] : order_of_key) {
    ASSERT_TRUE(c.order(id).has_value())
        << "acknowledged order " << id << " (key " << key << ") is missing";
    EXPECT_TRUE(c.wait_terminal(id, 30'000)) << "order " << id << " never ended";
  }
  const tools::CheckReport report = testing::check_when_settled(dep.config().data_dir);
  if (!report.violations.empty()) tools::print_check(report, std::cerr);
  EXPECT_EQ(report.error, "");
  EXPECT_TRUE(report.violations.empty())
      << report.violations.size() << " violations (seed " << seed << ")";
}

}  // namespace
}  // namespace flashsaga
