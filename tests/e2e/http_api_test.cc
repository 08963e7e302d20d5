// Every route of API.md over real HTTP against a real deployment: the success answers with
// their JSON bodies field by field, and each route's error answers.
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fstream>

#include "engine/base/clock.h"
#include "tests/e2e/http_deployment.h"

namespace flashsaga::testing {
namespace {

class HttpApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { d_ = new HttpDeployment(); }
  static void TearDownTestSuite() {
    const int status = d_->stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n"
                                                               << d_->log();
    delete d_;
    d_ = nullptr;
  }
  static HttpDeployment& d() { return *d_; }

  // A fresh user (unique e-mail per call).
  static std::int64_t user(const std::string& name = "Buyer") {
    static int n = 0;
    const std::string email = "u" + std::to_string(++n) + "@example.com";
    auto r = d().post("/users", R"({"name":")" + name + R"(","email":")" + email + R"("})");
    EXPECT_EQ(r.status, 201) << r.body;
    return num(body_of(r), "id");
  }
  static std::int64_t product(std::int64_t price, std::int64_t stock,
                              const std::string& extra = "") {
    auto r = d().post("/products", R"({"name":"Lamp","price":)" + std::to_string(price) +
                                       R"(,"stock":)" + std::to_string(stock) + extra + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    return num(body_of(r), "id");
  }
  static json::object wait_order(std::int64_t id) {
    auto r = d().get("/orders/" + std::to_string(id) + "?wait=10000");
    EXPECT_EQ(r.status, 200) << r.body;
    return body_of(r);
  }

  static HttpDeployment* d_;
};
HttpDeployment* HttpApi::d_ = nullptr;

TEST_F(HttpApi, HealthzReportsEveryDomainReady) {
  auto r = d().get("/healthz");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const auto o = body_of(r);
  EXPECT_EQ(str(o, "status"), "ok");
  const auto& domains = o.at("domains").as_object();
  for (const char* name : {"user", "point", "product", "coupon", "order", "payment"})
    EXPECT_EQ(domains.at(name).as_string(), "ready") << name;
}

TEST_F(HttpApi, UsersAreCreatedReadAndPatched) {
  auto r = d().post("/users", R"({"name":"Ann","email":"ann@example.com"})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto o = body_of(r);
  const std::int64_t id = num(o, "id");
  EXPECT_GT(id, 0);
  EXPECT_EQ(str(o, "name"), "Ann");
  EXPECT_EQ(str(o, "email"), "ann@example.com");
  EXPECT_EQ(o.at("blocked").as_bool(), false);
  EXPECT_EQ(o.size(), 4u) << r.body;

  r = d().get("/users/" + std::to_string(id));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r), o);

  r = d().patch("/users/" + std::to_string(id), R"({"name":"Ann B","blocked":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  o = body_of(r);
  EXPECT_EQ(str(o, "name"), "Ann B");
  EXPECT_EQ(str(o, "email"), "ann@example.com");
  EXPECT_EQ(o.at("blocked").as_bool(), true);

  r = d().patch("/users/" + std::to_string(id), R"({"email":"ann.b@example.com","blocked":false})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(body_of(r), "email"), "ann.b@example.com");
  EXPECT_EQ(body_of(d().get("/users/" + std::to_string(id))).at("blocked").as_bool(), false);

  // An empty patch changes nothing and answers the user.
  r = d().patch("/users/" + std::to_string(id), "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(body_of(r), "name"), "Ann B");
}

TEST_F(HttpApi, UserErrors) {
  const std::int64_t a = user();
  const std::string a_email = str(body_of(d().get("/users/" + std::to_string(a))), "email");
  expect_error(d().post("/users", R"({"name":"X","email":")" + a_email + R"("})"), 409, "conflict",
               "email");
  // E-mail addresses compare case-insensitively.
  std::string upper = a_email;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  expect_error(d().post("/users", R"({"name":"X","email":")" + upper + R"("})"), 409, "conflict",
               "email");
  expect_error(d().post("/users", R"({"email":"x@example.com"})"), 422, "invalid_field", "name");
  expect_error(d().post("/users", R"({"name":"X"})"), 422, "invalid_field", "email");
  expect_error(d().post("/users", R"({"name":"X","email":"not-an-email"})"), 422, "invalid_field",
               "email");
  expect_error(d().post("/users", R"({"name":"","email":"y@example.com"})"), 422, "invalid_field",
               "name");
  expect_error(d().post("/users", R"({"name":7,"email":"y@example.com"})"), 422, "invalid_field",
               "name");
  expect_error(d().post("/users", R"({"name":"X","email":"y@example.com")"), 400, "bad_json");
  expect_error(d().post("/users", ""), 400, "bad_json");
  expect_error(d().post("/users", "[1]"), 422, "invalid_field");
  expect_error(d().get("/users/999999"), 404, "not_found");
  expect_error(d().get("/users/abc"), 404, "not_found");
  expect_error(d().patch("/users/999999", R"({"name":"Q"})"), 404, "not_found");
  expect_error(d().patch("/users/" + std::to_string(a), R"({"blocked":"yes"})"), 422,
               "invalid_field", "blocked");
  expect_error(d().patch("/users/" + std::to_string(a), R"({"name":null})"), 422, "invalid_field",
               "name");
  const std::int64_t b = user();
  expect_error(d().patch("/users/" + std::to_string(b), R"({"email":")" + a_email + R"("})"), 409,
               "conflict", "email");
}

TEST_F(HttpApi, PointsAccrueAndShowTheirHistory) {
  const std::int64_t u = user();
  const std::string base = "/users/" + std::to_string(u) + "/points";
  auto r = d().post(base, R"({"amount":500,"reason":"welcome"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(num(body_of(r), "balance"), 500);
  r = d().post(base, R"({"amount":250,"reason":"birthday"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(num(body_of(r), "balance"), 750);

  r = d().get(base);
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = body_of(r);
  EXPECT_EQ(num(o, "balance"), 750);
  const auto& h = o.at("history").as_array();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(str(h[0].as_object(), "kind"), "accrue");
  EXPECT_EQ(num(h[0].as_object(), "amount"), 500);
  EXPECT_EQ(str(h[0].as_object(), "reason"), "welcome");
  std::int64_t at = 0;
  EXPECT_TRUE(parse_rfc3339(str(h[0].as_object(), "at"), at));
  EXPECT_FALSE(h[0].as_object().contains("order_id"));
  EXPECT_EQ(str(h[1].as_object(), "reason"), "birthday");
  EXPECT_FALSE(o.contains("next"));

  // Paging: one entry per page, the cursor leads to the second, the last page has no next.
  r = d().get(base + "?limit=1");
  o = body_of(r);
  ASSERT_EQ(o.at("history").as_array().size(), 1u);
  const std::string next = str(o, "next");
  r = d().get(base + "?limit=1&after=" + next);
  o = body_of(r);
  ASSERT_EQ(o.at("history").as_array().size(), 1u);
  EXPECT_EQ(num(o.at("history").as_array()[0].as_object(), "amount"), 250);
  EXPECT_FALSE(o.contains("next"));

  expect_error(d().post(base, R"({"amount":0})"), 422, "invalid_field", "amount");
  expect_error(d().post(base, R"({"amount":-5})"), 422, "invalid_field", "amount");
  expect_error(d().post(base, R"({"amount":1.5})"), 422, "invalid_field", "amount");
  expect_error(d().post(base, R"({"reason":"x"})"), 422, "invalid_field", "amount");
  expect_error(d().post("/users/999999/points", R"({"amount":5})"), 404, "not_found");
  expect_error(d().get("/users/999999/points"), 404, "not_found");
  expect_error(d().get(base + "?limit=0"), 422, "invalid_field", "limit");
  expect_error(d().get(base + "?limit=1001"), 422, "invalid_field", "limit");
  expect_error(d().get(base + "?after=bogus"), 422, "invalid_field", "after");
}

TEST_F(HttpApi, WalletDepositsAndHistory) {
  const std::int64_t u = user();
  const std::string base = "/users/" + std::to_string(u) + "/wallet";
  auto r = d().get(base);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(num(body_of(r), "balance"), 0);
  EXPECT_TRUE(body_of(r).at("history").as_array().empty());
  r = d().post(base + "/deposits", R"({"amount":10000})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(num(body_of(r), "balance"), 10000);
  r = d().get(base);
  auto o = body_of(r);
  EXPECT_EQ(num(o, "balance"), 10000);
  ASSERT_EQ(o.at("history").as_array().size(), 1u);
  const auto& e = o.at("history").as_array()[0].as_object();
  EXPECT_EQ(str(e, "kind"), "deposit");
  EXPECT_EQ(num(e, "amount"), 10000);
  EXPECT_FALSE(e.contains("order_id"));
  expect_error(d().post(base + "/deposits", R"({"amount":0})"), 422, "invalid_field", "amount");
  expect_error(d().post(base + "/deposits", R"({"amount":"10"})"), 422, "invalid_field", "amount");
  expect_error(d().post(base + "/deposits", R"({"amount":1000000000001})"), 422, "invalid_field",
               "amount");
  expect_error(d().post("/users/999999/wallet/deposits", R"({"amount":5})"), 404, "not_found");
  expect_error(d().get("/users/999999/wallet"), 404, "not_found");
}

TEST_F(HttpApi, CouponTemplatesIssueFirstComeFirstServed) {
  auto r = d().post(
      "/coupon-templates",
      R"({"name":"Ten off","kind":"fixed","value":10,"max_discount":null,"min_order_amount":100,"quantity":2})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto t = body_of(r);
  const std::int64_t tid = num(t, "id");
  EXPECT_EQ(str(t, "name"), "Ten off");
  EXPECT_EQ(str(t, "kind"), "fixed");
  EXPECT_EQ(num(t, "value"), 10);
  EXPECT_EQ(num(t, "min_order_amount"), 100);
  EXPECT_EQ(num(t, "quantity"), 2);
  EXPECT_EQ(num(t, "issued"), 0);
  EXPECT_TRUE(t.at("expires_at").is_null());

  const std::int64_t a = user(), b = user(), c = user();
  r = d().post("/coupons", R"({"template_id":)" + std::to_string(tid) + R"(,"user_id":)" +
                               std::to_string(a) + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  auto k = body_of(r);
  const std::int64_t kid = num(k, "id");
  EXPECT_EQ(num(k, "template_id"), tid);
  EXPECT_EQ(num(k, "user_id"), a);
  EXPECT_EQ(str(k, "state"), "available");
  EXPECT_FALSE(k.contains("order_id"));
  EXPECT_EQ(body_of(d().get("/coupons/" + std::to_string(kid))), k);

  // One per user per template.
  expect_error(d().post("/coupons", R"({"template_id":)" + std::to_string(tid) + R"(,"user_id":)" +
                                        std::to_string(a) + "}"),
               409, "conflict", "user_id");
  r = d().post("/coupons", R"({"template_id":)" + std::to_string(tid) + R"(,"user_id":)" +
                               std::to_string(b) + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  // The template's quantity (2) is exhausted.
  expect_error(d().post("/coupons", R"({"template_id":)" + std::to_string(tid) + R"(,"user_id":)" +
                                        std::to_string(c) + "}"),
               409, "sold_out");
  EXPECT_EQ(num(body_of(d().get("/coupon-templates/" + std::to_string(tid))), "issued"), 2);

  r = d().get("/users/" + std::to_string(a) + "/coupons");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto coupons = body_of(r);
  const auto& list = coupons.at("coupons").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(num(list[0].as_object(), "id"), kid);

  // Percent template that expires soon: the coupon shows as expired once it has.
  const std::string soon = format_rfc3339(wall_now_ns() + 400'000'000);
  r = d().post("/coupon-templates",
               R"({"name":"Flash","kind":"percent","value":20,"max_discount":500,"expires_at":")" +
                   soon + R"("})");
  ASSERT_EQ(r.status, 201) << r.body;
  t = body_of(r);
  EXPECT_EQ(str(t, "kind"), "percent");
  EXPECT_EQ(num(t, "max_discount"), 500);
  EXPECT_TRUE(t.at("quantity").is_null());
  EXPECT_EQ(str(t, "expires_at"), soon);
  r = d().post("/coupons", R"({"template_id":)" + std::to_string(num(t, "id")) + R"(,"user_id":)" +
                               std::to_string(c) + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::int64_t expiring = num(body_of(r), "id");
  // Wait (bounded) for the template's expiry time to pass.
  std::string state;
  for (int i = 0; i < 500; ++i) {
    state = str(body_of(d().get("/coupons/" + std::to_string(expiring))), "state");
    if (state == "expired") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(state, "expired");
  // An expired template issues nothing more.
  expect_error(d().post("/coupons", R"({"template_id":)" + std::to_string(num(t, "id")) +
                                        R"(,"user_id":)" + std::to_string(a) + "}"),
               409, "conflict", "template_id");

  expect_error(d().post("/coupon-templates", R"({"name":"X","kind":"bogus","value":1})"), 422,
               "invalid_field", "kind");
  expect_error(d().post("/coupon-templates", R"({"name":"X","kind":"percent","value":101})"), 422,
               "invalid_field", "value");
  expect_error(d().post("/coupon-templates", R"({"name":"X","kind":"fixed","value":0})"), 422,
               "invalid_field", "value");
  expect_error(d().post("/coupon-templates",
                        R"({"name":"X","kind":"fixed","value":5,"expires_at":"tomorrow"})"),
               422, "invalid_field", "expires_at");
  expect_error(
      d().post("/coupon-templates", R"({"name":"X","kind":"fixed","value":5,"quantity":0})"), 422,
      "invalid_field", "quantity");
  expect_error(d().post("/coupons", R"({"template_id":999999,"user_id":1})"), 404, "not_found",
               "template_id");
  expect_error(
      d().post("/coupons", R"({"template_id":)" + std::to_string(tid) + R"(,"user_id":999999})"),
      404, "not_found", "user_id");
  expect_error(d().post("/coupons", R"({"user_id":1})"), 422, "invalid_field", "template_id");
  expect_error(d().get("/coupons/999999"), 404, "not_found");
  expect_error(d().get("/users/999999/coupons"), 404, "not_found");
}

TEST_F(HttpApi, ProductsAreCreatedListedPatchedAndRestocked) {
  const std::string starts = format_rfc3339(wall_now_ns() - 3'600'000'000'000);
  const std::string ends = format_rfc3339(wall_now_ns() + 3'600'000'000'000);
  auto r =
      d().post("/products",
               R"({"name":"Kettle","price":2500,"stock":10,"max_per_user":2,"sale_starts_at":")" +
                   starts + R"(","sale_ends_at":")" + ends + R"("})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto p = body_of(r);
  const std::int64_t id = num(p, "id");
  EXPECT_EQ(str(p, "name"), "Kettle");
  EXPECT_EQ(num(p, "price"), 2500);
  EXPECT_EQ(num(p, "max_per_user"), 2);
  EXPECT_EQ(str(p, "sale_starts_at"), starts);
  EXPECT_EQ(str(p, "sale_ends_at"), ends);
  const auto& stock = p.at("stock").as_object();
  EXPECT_EQ(num(stock, "available"), 10);
  EXPECT_EQ(num(stock, "reserved"), 0);
  EXPECT_EQ(num(stock, "sold"), 0);
  EXPECT_EQ(body_of(d().get("/products/" + std::to_string(id))), p);

  r = d().patch("/products/" + std::to_string(id),
                R"({"name":"Kettle 2","price":2000,"max_per_user":null,"sale_ends_at":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  p = body_of(r);
  EXPECT_EQ(str(p, "name"), "Kettle 2");
  EXPECT_EQ(num(p, "price"), 2000);
  EXPECT_TRUE(p.at("max_per_user").is_null());
  EXPECT_TRUE(p.at("sale_ends_at").is_null());
  EXPECT_EQ(str(p, "sale_starts_at"), starts);

  r = d().post("/products/" + std::to_string(id) + "/restock", R"({"quantity":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(num(body_of(r).at("stock").as_object(), "available"), 15);

  // Listing pages through every product.
  for (int i = 0; i < 3; ++i) product(10, 1);
  std::set<std::int64_t> seen;
  std::string after;
  for (int pages = 0; pages < 100; ++pages) {
    r = d().get("/products?limit=2" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(r.status, 200) << r.body;
    const auto o = body_of(r);
    const auto& items = o.at("products").as_array();
    EXPECT_LE(items.size(), 2u);
    for (const auto& it : items) EXPECT_TRUE(seen.insert(num(it.as_object(), "id")).second);
    if (!o.contains("next")) break;
    after = str(o, "next");
  }
  EXPECT_TRUE(seen.count(id));
  EXPECT_GE(seen.size(), 4u);
  EXPECT_EQ(body_of(d().get("/products?limit=1000")).at("products").as_array().size(), seen.size());

  expect_error(d().post("/products", R"({"name":"X","price":-1,"stock":1})"), 422, "invalid_field",
               "price");
  expect_error(d().post("/products", R"({"name":"X","price":1,"stock":-1})"), 422, "invalid_field",
               "stock");
  expect_error(d().post("/products", R"({"name":"X","price":1})"), 422, "invalid_field", "stock");
  expect_error(d().post("/products", R"({"price":1,"stock":1})"), 422, "invalid_field", "name");
  expect_error(d().post("/products", R"({"name":"X","price":1,"stock":1,"sale_starts_at":")" +
                                         ends + R"(","sale_ends_at":")" + starts + R"("})"),
               422, "invalid_field", "sale_ends_at");
  expect_error(
      d().post("/products",
               R"({"name":"X","price":1,"stock":1,"sale_starts_at":"2026-13-01T00:00:00Z"})"),
      422, "invalid_field", "sale_starts_at");
  expect_error(
      d().patch("/products/" + std::to_string(id), R"({"sale_ends_at":")" + starts + R"("})"), 422,
      "invalid_field", "sale_ends_at");
  expect_error(d().patch("/products/" + std::to_string(id), R"({"price":"cheap"})"), 422,
               "invalid_field", "price");
  expect_error(d().patch("/products/999999", R"({"price":1})"), 404, "not_found");
  expect_error(d().post("/products/" + std::to_string(id) + "/restock", R"({"quantity":0})"), 422,
               "invalid_field", "quantity");
  expect_error(d().post("/products/999999/restock", R"({"quantity":1})"), 404, "not_found");
  expect_error(d().get("/products/999999"), 404, "not_found");
  expect_error(d().get("/products?limit=abc"), 422, "invalid_field", "limit");
}

TEST_F(HttpApi, OrdersArePlacedReadCancelledAndPaid) {
  const std::int64_t u = user();
  ASSERT_EQ(
      d().post("/users/" + std::to_string(u) + "/wallet/deposits", R"({"amount":100000})").status,
      201);
  ASSERT_EQ(d().post("/users/" + std::to_string(u) + "/points", R"({"amount":300})").status, 201);
  const std::int64_t p1 = product(1000, 10), p2 = product(250, 10);
  auto r =
      d().post("/orders", R"({"user_id":)" + std::to_string(u) + R"(,"items":[{"product_id":)" +
                              std::to_string(p1) + R"(,"quantity":2},{"product_id":)" +
                              std::to_string(p2) + R"(,"quantity":4}],"points":100})");
  ASSERT_EQ(r.status, 202) << r.body;
  auto o = body_of(r);
  const std::int64_t id = num(o, "id");
  EXPECT_EQ(str(o, "status"), "PENDING");
  EXPECT_EQ(o.size(), 2u);

  o = wait_order(id);
  EXPECT_EQ(num(o, "id"), id);
  EXPECT_EQ(num(o, "user_id"), u);
  EXPECT_EQ(str(o, "status"), "COMPLETED");
  EXPECT_FALSE(o.contains("reason"));
  const auto& items = o.at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(num(items[0].as_object(), "product_id"), p1);
  EXPECT_EQ(num(items[0].as_object(), "quantity"), 2);
  EXPECT_EQ(num(items[0].as_object(), "price"), 1000);
  EXPECT_EQ(num(items[1].as_object(), "price"), 250);
  const auto& amounts = o.at("amounts").as_object();
  EXPECT_EQ(num(amounts, "subtotal"), 3000);
  EXPECT_EQ(num(amounts, "discount"), 0);
  EXPECT_EQ(num(amounts, "points"), 100);
  EXPECT_EQ(num(amounts, "paid"), 2900);
  const auto& steps = o.at("steps").as_object();
  // The product domain journals the sale just after the order completes.
  const std::string stock_step = str(steps, "stock");
  EXPECT_TRUE(stock_step == "sold" || stock_step == "reserved") << stock_step;
  const auto sold_by = mono_now_ns() + 10'000'000'000;
  while (mono_now_ns() < sold_by &&
         str(body_of(d().get("/orders/" + std::to_string(id))).at("steps").as_object(), "stock") !=
             "sold")
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(str(body_of(d().get("/orders/" + std::to_string(id))).at("steps").as_object(), "stock"),
            "sold");
  EXPECT_EQ(str(steps, "coupon"), "none");
  EXPECT_EQ(str(steps, "points"), "deducted");
  EXPECT_EQ(str(steps, "payment"), "approved");
  std::int64_t created = 0, updated = 0;
  EXPECT_TRUE(parse_rfc3339(str(o, "created_at"), created));
  EXPECT_TRUE(parse_rfc3339(str(o, "updated_at"), updated));
  EXPECT_LE(created, updated);

  r = d().get("/payments/" + std::to_string(id));
  ASSERT_EQ(r.status, 200) << r.body;
  auto pay = body_of(r);
  EXPECT_EQ(num(pay, "order_id"), id);
  EXPECT_EQ(str(pay, "state"), "approved");
  EXPECT_EQ(num(pay, "amount"), 2900);
  EXPECT_EQ(str(pay, "method"), "wallet");

  // Cancelling a completed order refunds it through the saga.
  r = d().post("/orders/" + std::to_string(id) + "/cancel", R"({"reason":"changed my mind"})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(num(body_of(r), "id"), id);
  EXPECT_EQ(str(body_of(r), "status"), "CANCELLED");
  // Every domain compensates on its own time: wait (bounded) for the last of them.
  const auto compensated = [&] {
    const auto order = body_of(d().get("/orders/" + std::to_string(id)));
    const auto& st = order.at("steps").as_object();
    return str(st, "stock") == "released" && str(st, "points") == "refunded" &&
           str(st, "payment") == "refunded";
  };
  const auto deadline = mono_now_ns() + 10'000'000'000;
  while (mono_now_ns() < deadline && !compensated())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(compensated());
  EXPECT_EQ(str(body_of(d().get("/payments/" + std::to_string(id))), "state"), "refunded");
  o = body_of(d().get("/orders/" + std::to_string(id)));
  EXPECT_EQ(str(o, "status"), "CANCELLED");
  EXPECT_EQ(str(o, "reason"), "cancelled_by_customer");
  EXPECT_EQ(str(o.at("steps").as_object(), "stock"), "released");
  EXPECT_EQ(num(body_of(d().get("/users/" + std::to_string(u) + "/wallet")), "balance"), 100000);
  EXPECT_EQ(
      num(body_of(d().get("/products/" + std::to_string(p1))).at("stock").as_object(), "available"),
      10);

  // A second cancel finds it final.
  expect_error(d().post("/orders/" + std::to_string(id) + "/cancel", ""), 409, "conflict");
  expect_error(d().post("/orders/999999/cancel", "{}"), 404, "not_found");
  expect_error(d().post("/orders/" + std::to_string(id) + "/cancel", R"({"reason":5})"), 422,
               "invalid_field", "reason");
  expect_error(d().get("/orders/999999"), 404, "not_found");
  expect_error(d().get("/orders/" + std::to_string(id) + "?wait=30001"), 422, "invalid_field",
               "wait");
  expect_error(d().get("/orders/" + std::to_string(id) + "?wait=soon"), 422, "invalid_field",
               "wait");
  expect_error(d().get("/payments/999999"), 404, "not_found");
}

TEST_F(HttpApi, OrdersRefusedAtTheDoor) {
  const std::int64_t u = user();
  const std::int64_t p = product(100, 10, R"(,"max_per_user":1)");
  const std::string later = format_rfc3339(wall_now_ns() + 3'600'000'000'000);
  const std::int64_t future = product(100, 10, R"(,"sale_starts_at":")" + later + R"(")");
  const auto order = [&](std::int64_t user_id, std::int64_t product_id, std::int64_t qty) {
    return d().post("/orders", R"({"user_id":)" + std::to_string(user_id) +
                                   R"(,"items":[{"product_id":)" + std::to_string(product_id) +
                                   R"(,"quantity":)" + std::to_string(qty) + "}]}");
  };
  auto r = order(u, future, 1);
  expect_error(r, 409, "not_on_sale");
  EXPECT_EQ(num(body_of(r), "product_id"), future);
  expect_error(order(u, 999999, 1), 404, "not_found", "items[0].product_id");
  expect_error(order(999999, p, 1), 404, "not_found", "user_id");
  // max_per_user = 1: a second unit is refused before the 202.
  expect_error(order(u, p, 2), 409, "limit_exceeded");
  const std::int64_t blocked = user();
  ASSERT_EQ(d().patch("/users/" + std::to_string(blocked), R"({"blocked":true})").status, 200);
  expect_error(order(blocked, p, 1), 422, "invalid_field", "user_id");
  r = order(u, p, 11);
  expect_error(r, 409, "sold_out");
  EXPECT_EQ(num(body_of(r), "product_id"), p);
  // Nothing was kept by any refusal.
  EXPECT_EQ(
      num(body_of(d().get("/products/" + std::to_string(p))).at("stock").as_object(), "available"),
      10);
}

TEST_F(HttpApi, UnknownRoutesAndWrongMethods) {
  for (const char* path :
       {"/nope", "/users/", "//users", "/users/1/nope", "/USERS", "/products/1/restock/x", "//"})
    expect_error(d().get(path), 404, "not_found");
  auto r = http_request(d().port(), "DELETE", "/users/1");
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "GET, PATCH");
  r = http_request(d().port(), "PUT", "/products");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET, POST");
  r = d().get("/orders");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "POST");
  r = d().post("/healthz", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET");
}

// HTTP/1.1 pipelining: requests sent back to back, before any answer is read, are all answered
// in the order they were sent, whichever way each goes through the gateway (the order hot path,
// a keyed order and its repeat, the general path, an immediate sold-out, bad bodies).
TEST_F(HttpApi, PipelinedRequestsAreAnsweredInOrder) {
  const std::int64_t u = user("Piper");
  const std::int64_t p = product(100, 2);
  const auto post = [](const std::string& body, const std::string& extra = "") {
    return "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::string items = R"("items":[{"product_id":)" + std::to_string(p) + R"(,"quantity":1}])";
  const std::string order = R"({"user_id":)" + std::to_string(u) + "," + items + "}";
  const std::vector<std::string> batch = {
      post(order),                                                     // 202
      post(order, "Idempotency-Key: pipe-1\r\n"),                      // 202
      post(order, "Idempotency-Key: pipe-1\r\n"),                      // the same 202, replayed
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",                      // 200
      post(order),                                                     // 409 sold_out (2 units)
      post(R"({"user_id":)" + std::to_string(u) + R"(,"items":[]})"),  // 422 items
      post(R"({"user_id":)" + std::to_string(u) + "," + items + R"(,"points":1.5})"),  // 422 points
  };
  HttpConnection c(d().port());
  ASSERT_TRUE(c.connected());
  for (const std::string& request : batch) ASSERT_TRUE(c.send_raw(request));
  std::vector<HttpResponse> r;
  for (std::size_t i = 0; i < batch.size(); ++i) r.push_back(c.read_response());
  ASSERT_EQ(r[0].status, 202) << r[0].body;
  ASSERT_EQ(r[1].status, 202) << r[1].body;
  EXPECT_NE(num(body_of(r[0]), "id"), num(body_of(r[1]), "id"));
  EXPECT_EQ(str(body_of(r[0]), "status"), "PENDING");
  ASSERT_EQ(r[2].status, 202) << r[2].body;
  EXPECT_EQ(r[2].body, r[1].body);
  EXPECT_EQ(r[2].header("idempotent-replayed"), "true");
  EXPECT_EQ(r[3].status, 200) << r[3].body;
  expect_error(r[4], 409, "sold_out");
  EXPECT_EQ(num(body_of(r[4]), "product_id"), p);
  expect_error(r[5], 422, "invalid_field", "items");
  expect_error(r[6], 422, "invalid_field", "points");
  // Still one open keep-alive connection.
  EXPECT_EQ(c.request("GET", "/healthz").status, 200);
}

TEST_F(HttpApi, IdempotencyKeyReplaysTheFirstAnswer) {
  const HttpHeaders key = {{"Idempotency-Key", "create-zoe-1"}};
  auto first = d().post("/users", R"({"name":"Zoe","email":"zoe@example.com"})", key);
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = d().post("/users", R"({"name":"Zoe","email":"zoe@example.com"})", key);
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  // Same key, another body: refused, and nothing created.
  expect_error(d().post("/users", R"({"name":"Zoe","email":"zoe2@example.com"})", key), 409,
               "conflict");
  const std::int64_t id = num(body_of(first), "id");
  expect_error(d().get("/users/" + std::to_string(id + 1)), 404, "not_found");

  // Deposits are not repeated.
  const std::int64_t u = user();
  const HttpHeaders dkey = {{"Idempotency-Key", "dep-" + std::to_string(u)}};
  const std::string path = "/users/" + std::to_string(u) + "/wallet/deposits";
  EXPECT_EQ(num(body_of(d().post(path, R"({"amount":70})", dkey)), "balance"), 70);
  EXPECT_EQ(num(body_of(d().post(path, R"({"amount":70})", dkey)), "balance"), 70);
  EXPECT_EQ(num(body_of(d().get("/users/" + std::to_string(u) + "/wallet")), "balance"), 70);
  // Error answers are kept too (they changed nothing), and bad keys are refused.
  auto bad = d().post("/users", R"({"name":"Q"})", {{"Idempotency-Key", "bad-1"}});
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(d().post("/users", R"({"name":"Q"})", {{"Idempotency-Key", "bad-1"}}).body, bad.body);
  expect_error(d().post("/users", R"({"name":"Q","email":"q@example.com"})",
                        {{"Idempotency-Key", std::string(300, 'k')}}),
               422, "invalid_field", "Idempotency-Key");
}

TEST_F(HttpApi, MetricsArePrometheusText) {
  ASSERT_EQ(d().get("/healthz").status, 200);
  auto r = d().get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("text/plain", 0), 0u);
  for (const char* family :
       {"flashsaga_http_requests_total", "flashsaga_orders_total",
        "flashsaga_saga_completion_seconds", "flashsaga_ring_depth",
        "flashsaga_ring_full_events_total", "flashsaga_journal_commits_total",
        "flashsaga_journal_commit_seconds_total", "flashsaga_domain_messages_invalid_total",
        "flashsaga_domain_messages_duplicate_total", "flashsaga_outbox_backlog",
        "flashsaga_stock_available", "flashsaga_stock_supplied", "flashsaga_sold_out_answers_total",
        "flashsaga_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_open_fds", "flashsaga_journal_map_used_bytes",
        "flashsaga_orders_admitted_total"}) {
    EXPECT_NE(r.body.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(r.body.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_NE(r.body.find(R"(flashsaga_http_requests_total{route="/healthz",status="200"})"),
            std::string::npos);
  EXPECT_NE(r.body.find(R"(flashsaga_ring_depth{from="port0",to="order"})"), std::string::npos);
  // Every sample line is `name{labels} value` or `name value`, names prefixed flashsaga_ (or
  // process_, the standard process families).
  std::istringstream lines(r.body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    EXPECT_TRUE(line.rfind("flashsaga_", 0) == 0 || line.rfind("process_", 0) == 0) << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
  }
  EXPECT_GT(samples, 50);
}

}  // namespace
}  // namespace flashsaga::testing

namespace flashsaga::testing {
namespace {

TEST_F(HttpApi, OpenApiDocumentIsServedAsCommitted) {
  auto r = d().get("/openapi.json");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  std::ifstream in(std::string(FLASHSAGA_SOURCE_DIR) + "/docs/openapi.json", std::ios::binary);
  const std::string committed((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
  ASSERT_FALSE(committed.empty());
  EXPECT_EQ(r.body, committed) << "the binary embeds another docs/openapi.json than the source's";
  EXPECT_EQ(str(body_of(r), "openapi").rfind("3.1.", 0), 0u);
}

TEST_F(HttpApi, SalePageAndItsStats) {
  auto page = d().get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("fetch(\"/stats\""), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos) << "the page fetches nothing elsewhere";
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  expect_error(d().post("/", "{}"), 405, "method_not_allowed");

  const std::int64_t p = product(100, 3);
  const std::int64_t u = user();
  const std::string wallet = "/users/" + std::to_string(u) + "/wallet/deposits";
  ASSERT_EQ(d().post(wallet, R"({"amount":1000})").status, 201);
  auto placed =
      d().post("/orders", R"({"user_id":)" + std::to_string(u) + R"(,"items":[{"product_id":)" +
                              std::to_string(p) + R"(,"quantity":1}]})");
  ASSERT_EQ(placed.status, 202) << placed.body;
  wait_order(num(body_of(placed), "id"));
  auto r = d().get("/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::object s = body_of(r);
  EXPECT_EQ(str(s, "source"), "gateway");
  EXPECT_EQ(str(s, "intake"), "open");
  EXPECT_GE(num(s.at("orders").as_object(), "completed"), 1);
  for (const char* name : {"user", "point", "product", "coupon", "order", "payment"})
    EXPECT_EQ(str(s.at("domains").as_object().at(name).as_object(), "state"), "ready") << name;
  bool found = false;
  for (const auto& v : s.at("products").as_array()) {
    const json::object& o = v.as_object();
    if (num(o, "id") != p) continue;
    found = true;
    EXPECT_EQ(num(o.at("stock").as_object(), "available"), 2);
    EXPECT_EQ(num(o.at("stock").as_object(), "total"), 3);
    EXPECT_EQ(num(o.at("orders").as_object(), "admitted"), 1);
    EXPECT_EQ(num(o.at("orders").as_object(), "completed"), 1);
    EXPECT_TRUE(o.at("on_sale").as_bool());
  }
  EXPECT_TRUE(found || p > 64) << r.body;
}

}  // namespace
}  // namespace flashsaga::testing
