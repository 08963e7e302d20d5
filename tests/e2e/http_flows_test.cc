// The order flows of SEED.md §4 through HTTP, against a real deployment: the happy path, sold
// out (409 at once, and nothing else happens anywhere), an invalid coupon (CANCELLED coupon_*,
// stock released) and a short wallet (CANCELLED insufficient_balance, points refunded, and no
// wallet refund record). Then idempotency under 100 concurrent repeats, the long poll, and a
// graceful stop with requests in flight.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/clock.h"
#include "tests/e2e/http_deployment.h"

namespace flashsaga::testing {
namespace {

constexpr std::int64_t settle_timeout_ns = 10'000'000'000;

std::string id_text(std::int64_t id) {
  return std::to_string(id);
}

// Samples of /metrics whose name starts with `prefix`, by full series text.
std::map<std::string, std::string> metric_series(const HttpDeployment& d,
                                                 const std::string& prefix) {
  std::map<std::string, std::string> out;
  std::istringstream lines(d.get("/metrics").body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const std::size_t space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

// Every domain's message and commit counters: what "nothing happened" is measured with.
std::map<std::string, std::string> domain_activity(const HttpDeployment& d) {
  auto a = metric_series(d, "flashsaga_domain_messages_in_total");
  auto b = metric_series(d, "flashsaga_journal_commits_total");
  a.insert(b.begin(), b.end());
  return a;
}

// Waits (bounded) until the domains have been quiet for a while: the saga's tail (the sale,
// the reward) has been applied everywhere.
std::map<std::string, std::string> quiet_activity(const HttpDeployment& d) {
  auto last = domain_activity(d);
  const std::int64_t deadline = mono_now_ns() + settle_timeout_ns;
  while (mono_now_ns() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    auto now = domain_activity(d);
    if (now == last) return now;
    last = std::move(now);
  }
  ADD_FAILURE() << "the domains did not settle";
  return last;
}

class Shop {
 public:
  explicit Shop(const HttpDeployment& d) : d_(d) {}

  std::int64_t user(std::int64_t wallet, std::int64_t points) {
    static int n = 0;
    auto r = d_.post(
        "/users", R"({"name":"Buyer","email":"flow)" + std::to_string(++n) + R"(@example.com"})");
    EXPECT_EQ(r.status, 201) << r.body;
    const std::int64_t id = num(body_of(r), "id");
    if (wallet > 0) {
      EXPECT_EQ(d_.post("/users/" + id_text(id) + "/wallet/deposits",
                        R"({"amount":)" + std::to_string(wallet) + "}")
                    .status,
                201);
    }
    if (points > 0) {
      EXPECT_EQ(d_.post("/users/" + id_text(id) + "/points",
                        R"({"amount":)" + std::to_string(points) + R"(,"reason":"welcome"})")
                    .status,
                201);
    }
    return id;
  }
  std::int64_t product(std::int64_t price, std::int64_t stock) {
    auto r = d_.post("/products", R"({"name":"Lamp","price":)" + std::to_string(price) +
                                      R"(,"stock":)" + std::to_string(stock) + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    return num(body_of(r), "id");
  }
  std::int64_t coupon(std::int64_t user, std::int64_t value) {
    auto r = d_.post("/coupon-templates",
                     R"({"name":"Off","kind":"fixed","value":)" + std::to_string(value) + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    r = d_.post("/coupons", R"({"template_id":)" + id_text(num(body_of(r), "id")) +
                                R"(,"user_id":)" + id_text(user) + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    return num(body_of(r), "id");
  }
  HttpResponse order(std::int64_t user, std::int64_t product, std::int64_t qty,
                     std::int64_t coupon = 0, std::int64_t points = 0, const HttpHeaders& h = {}) {
    std::string body = R"({"user_id":)" + id_text(user) + R"(,"items":[{"product_id":)" +
                       id_text(product) + R"(,"quantity":)" + std::to_string(qty) + "}]";
    if (coupon) body += R"(,"coupon_id":)" + id_text(coupon);
    if (points) body += R"(,"points":)" + std::to_string(points);
    return d_.post("/orders", body + "}", h);
  }
  json::object final_order(std::int64_t id) {
    auto r = d_.get("/orders/" + id_text(id) + "?wait=10000");
    EXPECT_EQ(r.status, 200) << r.body;
    auto o = body_of(r);
    EXPECT_NE(str(o, "status"), "PENDING") << r.body;
    return o;
  }
  json::object stock(std::int64_t product) {
    return body_of(d_.get("/products/" + id_text(product))).at("stock").as_object();
  }
  json::object wallet(std::int64_t user) {
    return body_of(d_.get("/users/" + id_text(user) + "/wallet"));
  }
  json::object points(std::int64_t user) {
    return body_of(d_.get("/users/" + id_text(user) + "/points"));
  }

 private:
  const HttpDeployment& d_;
};

std::vector<std::string> kinds(const json::object& ledger) {
  std::vector<std::string> out;
  for (const auto& e : ledger.at("history").as_array()) out.push_back(str(e.as_object(), "kind"));
  return out;
}

class HttpFlows : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { d_ = new HttpDeployment(); }
  static void TearDownTestSuite() {
    d_->expect_check_clean();  // every flow's journals prove DESIGN.md's invariants
    const int status = d_->stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n"
                                                               << d_->log();
    delete d_;
  }
  static HttpDeployment& d() { return *d_; }
  static HttpDeployment* d_;
};
HttpDeployment* HttpFlows::d_ = nullptr;

TEST_F(HttpFlows, HappyPathCompletesAndMovesEveryBalance) {
  Shop shop(d());
  const std::int64_t u = shop.user(10000, 500);
  const std::int64_t p = shop.product(1000, 10);
  const std::int64_t k = shop.coupon(u, 200);
  auto r = shop.order(u, p, 2, k, 500);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::int64_t id = num(body_of(r), "id");
  auto o = shop.final_order(id);
  EXPECT_EQ(str(o, "status"), "COMPLETED") << json::serialize(o);
  const auto& a = o.at("amounts").as_object();
  EXPECT_EQ(num(a, "subtotal"), 2000);
  EXPECT_EQ(num(a, "discount"), 200);
  EXPECT_EQ(num(a, "points"), 500);
  EXPECT_EQ(num(a, "paid"), 1300);
  const auto& s = o.at("steps").as_object();
  EXPECT_EQ(str(s, "coupon"), "applied");
  EXPECT_EQ(str(s, "points"), "deducted");
  EXPECT_EQ(str(s, "payment"), "approved");
  quiet_activity(d());
  EXPECT_EQ(str(body_of(d().get("/orders/" + id_text(id))).at("steps").as_object(), "stock"),
            "sold");

  const auto w = shop.wallet(u);
  EXPECT_EQ(num(w, "balance"), 8700);
  EXPECT_EQ(kinds(w), (std::vector<std::string>{"deposit", "charge"}));
  EXPECT_EQ(num(w.at("history").as_array()[1].as_object(), "order_id"), id);
  EXPECT_EQ(num(w.at("history").as_array()[1].as_object(), "amount"), 1300);
  const auto pts = shop.points(u);
  EXPECT_EQ(num(pts, "balance"), 13);  // 500 - 500 + 1% of 1300 as reward
  EXPECT_EQ(kinds(pts), (std::vector<std::string>{"accrue", "deduct", "reward"}));
  auto coupon = body_of(d().get("/coupons/" + id_text(k)));
  EXPECT_EQ(str(coupon, "state"), "used");
  EXPECT_EQ(num(coupon, "order_id"), id);
  const auto st = shop.stock(p);
  EXPECT_EQ(num(st, "available"), 8);
  EXPECT_EQ(num(st, "reserved"), 0);
  EXPECT_EQ(num(st, "sold"), 2);
  auto pay = body_of(d().get("/payments/" + id_text(id)));
  EXPECT_EQ(str(pay, "state"), "approved");
  EXPECT_EQ(num(pay, "amount"), 1300);
}

TEST_F(HttpFlows, SoldOutAnswersAtOnceAndNothingElseHappens) {
  Shop shop(d());
  const std::int64_t first = shop.user(10000, 0);
  const std::int64_t late = shop.user(10000, 300);
  const std::int64_t p = shop.product(500, 1);
  const std::int64_t k = shop.coupon(late, 100);
  auto r = shop.order(first, p, 1);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::int64_t id = num(body_of(r), "id");
  EXPECT_EQ(str(shop.final_order(id), "status"), "COMPLETED");
  const auto before = quiet_activity(d());

  const auto t0 = std::chrono::steady_clock::now();
  r = shop.order(late, p, 1, k, 300);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  expect_error(r, 409, "sold_out");
  EXPECT_EQ(num(body_of(r), "product_id"), p);
  EXPECT_LT(elapsed, std::chrono::seconds(1));

  // No domain heard of it: not a message, not a commit, anywhere.
  EXPECT_EQ(domain_activity(d()), before);
  expect_error(d().get("/orders/" + id_text(id + 1)), 404, "not_found");
  EXPECT_EQ(str(body_of(d().get("/coupons/" + id_text(k))), "state"), "available");
  EXPECT_EQ(num(shop.points(late), "balance"), 300);
  EXPECT_EQ(num(shop.wallet(late), "balance"), 10000);
  const auto st = shop.stock(p);
  EXPECT_EQ(num(st, "available"), 0);
  EXPECT_EQ(num(st, "sold"), 1);
  EXPECT_EQ(num(st, "reserved"), 0);
}

TEST_F(HttpFlows, InvalidCouponCancelsAndReleasesTheStock) {
  Shop shop(d());
  const std::int64_t u = shop.user(10000, 200);
  const std::int64_t other = shop.user(0, 0);
  const std::int64_t p = shop.product(700, 5);
  const std::int64_t not_mine = shop.coupon(other, 100);
  auto r = shop.order(u, p, 2, not_mine, 200);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::int64_t id = num(body_of(r), "id");
  auto o = shop.final_order(id);
  EXPECT_EQ(str(o, "status"), "CANCELLED");
  EXPECT_EQ(str(o, "reason"), "coupon_not_owned");
  EXPECT_EQ(str(o.at("steps").as_object(), "coupon"), "rejected");
  quiet_activity(d());
  o = body_of(d().get("/orders/" + id_text(id)));
  EXPECT_EQ(str(o.at("steps").as_object(), "stock"), "released");
  const auto st = shop.stock(p);
  EXPECT_EQ(num(st, "available"), 5);
  EXPECT_EQ(num(st, "reserved"), 0);
  EXPECT_EQ(num(st, "sold"), 0);
  // The coupon stays its owner's; the buyer paid nothing and has every point back.
  auto c = body_of(d().get("/coupons/" + id_text(not_mine)));
  EXPECT_EQ(str(c, "state"), "available");
  EXPECT_EQ(num(c, "user_id"), other);
  EXPECT_EQ(num(shop.wallet(u), "balance"), 10000);
  EXPECT_EQ(kinds(shop.wallet(u)), std::vector<std::string>{"deposit"});
  EXPECT_EQ(num(shop.points(u), "balance"), 200);
  expect_error(d().get("/payments/" + id_text(id)), 404, "not_found");

  // A coupon that does not exist at all: coupon_invalid.
  r = shop.order(u, p, 1, 999999);
  ASSERT_EQ(r.status, 202) << r.body;
  o = shop.final_order(num(body_of(r), "id"));
  EXPECT_EQ(str(o, "status"), "CANCELLED");
  EXPECT_EQ(str(o, "reason"), "coupon_invalid");
  quiet_activity(d());
  EXPECT_EQ(num(shop.stock(p), "available"), 5);
}

TEST_F(HttpFlows, InsufficientBalanceRefundsPointsAndNoWalletRefund) {
  Shop shop(d());
  const std::int64_t u = shop.user(50, 100);
  const std::int64_t p = shop.product(1000, 3);
  auto r = shop.order(u, p, 1, 0, 100);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::int64_t id = num(body_of(r), "id");
  auto o = shop.final_order(id);
  EXPECT_EQ(str(o, "status"), "CANCELLED");
  EXPECT_EQ(str(o, "reason"), "insufficient_balance");
  EXPECT_EQ(num(o.at("amounts").as_object(), "paid"), 0);
  quiet_activity(d());
  o = body_of(d().get("/orders/" + id_text(id)));
  const auto& s = o.at("steps").as_object();
  EXPECT_EQ(str(s, "stock"), "released");
  EXPECT_EQ(str(s, "points"), "refunded");
  EXPECT_EQ(str(s, "payment"), "declined");
  auto pay = body_of(d().get("/payments/" + id_text(id)));
  EXPECT_EQ(str(pay, "state"), "declined");
  EXPECT_EQ(num(pay, "amount"), 900);
  // Points: deducted, then refunded exactly once.
  const auto pts = shop.points(u);
  EXPECT_EQ(num(pts, "balance"), 100);
  EXPECT_EQ(kinds(pts), (std::vector<std::string>{"accrue", "deduct", "refund"}));
  // Wallet: nothing was charged, so nothing is refunded (SEED.md §5).
  const auto w = shop.wallet(u);
  EXPECT_EQ(num(w, "balance"), 50);
  EXPECT_EQ(kinds(w), std::vector<std::string>{"deposit"});
  EXPECT_EQ(num(shop.stock(p), "available"), 3);
}

TEST_F(HttpFlows, HundredConcurrentRepeatsOfOneKeyCreateOneOrder) {
  Shop shop(d());
  const std::int64_t u = shop.user(1'000'000, 0);
  const std::int64_t p = shop.product(100, 1000);
  constexpr int repeats = 100;
  std::vector<HttpResponse> answers(repeats);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  const std::string body = R"({"user_id":)" + id_text(u) + R"(,"items":[{"product_id":)" +
                           id_text(p) + R"(,"quantity":1}]})";
  for (int i = 0; i < repeats; ++i) {
    threads.emplace_back([&, i] {
      HttpConnection c(d().port());
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      answers[i] = c.request("POST", "/orders", body, {{"Idempotency-Key", "one-order-please"}});
    });
  }
  while (ready.load() < repeats) std::this_thread::yield();
  go.store(true);
  for (auto& t : threads) t.join();
  std::set<std::int64_t> ids;
  for (const auto& a : answers) {
    ASSERT_EQ(a.status, 202) << a.body;
    ids.insert(num(body_of(a), "id"));
  }
  ASSERT_EQ(ids.size(), 1u);
  const std::int64_t id = *ids.begin();
  EXPECT_EQ(str(shop.final_order(id), "status"), "COMPLETED");
  quiet_activity(d());
  expect_error(d().get("/orders/" + id_text(id + 1)), 404, "not_found");
  const auto st = shop.stock(p);
  EXPECT_EQ(num(st, "sold"), 1);
  EXPECT_EQ(num(st, "available"), 999);
  EXPECT_EQ(num(shop.wallet(u), "balance"), 1'000'000 - 100);
}

// --- Long poll and graceful stop, with a slow payment gateway -----------------------------------

class HttpSlowPayments : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    d_ = new HttpDeployment("", "[payment]\nadapter = \"pg\"\npg_latency_ms = 400\n");
  }
  static void TearDownTestSuite() { delete d_; }
  static HttpDeployment& d() { return *d_; }
  static HttpDeployment* d_;
};
HttpDeployment* HttpSlowPayments::d_ = nullptr;

TEST_F(HttpSlowPayments, LongPollWaitsForTheSagaToFinish) {
  Shop shop(d());
  const std::int64_t u = shop.user(0, 0);
  const std::int64_t p = shop.product(100, 10);
  auto r = shop.order(u, p, 1);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string path = "/orders/" + id_text(num(body_of(r), "id"));
  EXPECT_EQ(str(body_of(d().get(path)), "status"), "PENDING");
  // A short wait ends with the order still pending, after the wait.
  auto t0 = std::chrono::steady_clock::now();
  r = d().get(path + "?wait=100");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(95));
  EXPECT_EQ(str(body_of(r), "status"), "PENDING");
  // A long one returns as soon as the payment gateway has answered.
  t0 = std::chrono::steady_clock::now();
  r = d().get(path + "?wait=20000");
  const auto waited = std::chrono::steady_clock::now() - t0;
  auto o = body_of(r);
  EXPECT_EQ(str(o, "status"), "COMPLETED") << r.body;
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(str(o.at("steps").as_object(), "payment"), "approved");
  EXPECT_EQ(str(body_of(d().get("/payments/" + id_text(num(o, "id")))), "method"), "pg");
}

TEST_F(HttpSlowPayments, GracefulStopFinishesRequestsInFlightAndExitsZero) {
  Shop shop(d());
  const std::int64_t u = shop.user(0, 0);
  const std::int64_t p = shop.product(100, 10);
  auto r = shop.order(u, p, 1);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string path = "/orders/" + id_text(num(body_of(r), "id")) + "?wait=30000";
  HttpConnection idle(d().port());  // a kept-alive connection with nothing to do
  ASSERT_EQ(idle.request("GET", "/healthz").status, 200);
  // The gateway counts a long poll when it starts waiting on it: stop only once it has.
  auto long_polls = [&] {
    const std::string metrics = d().get("/metrics").body;
    const std::string name = "\nflashsaga_order_long_polls_total ";
    const std::size_t at = metrics.find(name);
    return at == std::string::npos ? -1LL : std::atoll(metrics.c_str() + at + name.size());
  };
  const long long polls_before = long_polls();
  HttpResponse polled;
  std::thread poller([&] { polled = http_request(d().port(), "GET", path); });
  for (int i = 0; i < 1000 && long_polls() <= polls_before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GT(long_polls(), polls_before);
  const auto t0 = std::chrono::steady_clock::now();
  const int status = d().stop();
  poller.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n"
                                                             << d().log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  EXPECT_EQ(polled.status, 200) << d().log();
  EXPECT_TRUE(idle.wait_closed(1000));
}

}  // namespace
}  // namespace flashsaga::testing
