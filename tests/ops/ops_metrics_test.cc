// /metrics by the book, against a live deployment: `promtool check metrics` (Debian's
// prometheus) finds nothing to say; build info, per-process resources for every process of the
// deployment, journal map use and the per-product order families are there and agree with
// what happened; every metric the Grafana dashboard and the alert rules use exists.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "tests/ops/ops_metrics.h"

namespace flashsaga::testing {
namespace {

class OpsMetrics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    d_ = new HttpDeployment();
    sale_ = new SmallSale(make_sale(*d_, {{"Lamp", 500, 5}, {"Desk", 700, 100}}, 8));
    // 8 buyers on 5 units of the first product: 5 admitted and completed, 3 sold out.
    for (std::int64_t u : sale_->users) {
      auto r = place(*d_, u, sale_->products[0]);
      EXPECT_TRUE(r.status == 202 || r.status == 409) << r.body;
      if (r.status == 202)
        (void)d_->get("/orders/" + std::to_string(num(body_of(r), "id")) + "?wait=10000");
    }
    auto r = place(*d_, sale_->users[0], sale_->products[1]);
    EXPECT_EQ(r.status, 202) << r.body;
    (void)d_->get("/orders/" + std::to_string(num(body_of(r), "id")) + "?wait=10000");
  }
  static void TearDownTestSuite() {
    delete d_;
    delete sale_;
  }
  static std::string metrics() {
    auto r = d_->get("/metrics");
    EXPECT_EQ(r.status, 200);
    return r.body;
  }
  static HttpDeployment* d_;
  static SmallSale* sale_;
};
HttpDeployment* OpsMetrics::d_ = nullptr;
SmallSale* OpsMetrics::sale_ = nullptr;

TEST_F(OpsMetrics, PromtoolCheckMetricsIsClean) {
  if (!have_program("promtool"))
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus; tools/setup.sh)";
  const std::string path = d_->dir().string() + "/metrics.txt";
  std::ofstream(path) << metrics();
  std::string out;
  const int rc = run_command("promtool check metrics < " + path, out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool's lint findings:\n" << out;
}

TEST_F(OpsMetrics, BuildInfoAndEveryProcessOfTheDeployment) {
  const Exposition m(metrics());
  bool build = false;
  for (const auto& [key, value] : m.samples)
    if (key.rfind("flashsaga_build_info{version=\"", 0) == 0) build = value == 1;
  EXPECT_TRUE(build);
  EXPECT_EQ(m.types.at("process_cpu_seconds_total"), "counter");
  for (const char* p :
       {"supervisor", "user", "point", "product", "coupon", "order", "payment", "gateway"}) {
    const std::string l = std::string("{process=\"") + p + "\"}";
    EXPECT_GE(m.at("process_cpu_seconds_total" + l), 0) << p;
    EXPECT_GT(m.at("process_resident_memory_bytes" + l), 1 << 20) << p;
    EXPECT_GE(m.at("process_open_fds" + l), 3) << p;
  }
  // The CPU counter only grows.
  const double before = m.at("process_cpu_seconds_total{process=\"gateway\"}");
  EXPECT_GE(Exposition(metrics()).at("process_cpu_seconds_total{process=\"gateway\"}"), before);
}

TEST_F(OpsMetrics, JournalMapUse) {
  const Exposition m(metrics());
  for (const char* d : {"user", "point", "product", "coupon", "order", "payment"}) {
    const std::string l = std::string("{domain=\"") + d + "\"}";
    const double used = m.at("flashsaga_journal_map_used_bytes" + l);
    EXPECT_GT(used, 0) << d;
    EXPECT_LE(used, m.at("flashsaga_journal_map_size_bytes" + l)) << d;
    EXPECT_LE(m.at("flashsaga_journal_map_size_bytes" + l),
              m.at("flashsaga_journal_map_max_bytes" + l))
        << d;
  }
}

TEST_F(OpsMetrics, OrderFamiliesAgreeWithTheSale) {
  const Exposition m(metrics());
  const std::string hot = "{product=\"" + std::to_string(sale_->products[0]) + "\"}";
  const std::string other = "{product=\"" + std::to_string(sale_->products[1]) + "\"}";
  EXPECT_EQ(m.at("flashsaga_product_orders_admitted_total" + hot), 5);
  EXPECT_EQ(m.at("flashsaga_product_orders_completed_total" + hot), 5);
  EXPECT_EQ(m.at("flashsaga_product_orders_cancelled_total" + hot), 0);
  EXPECT_EQ(m.at("flashsaga_product_orders_admitted_total" + other), 1);
  EXPECT_EQ(m.at("flashsaga_orders_admitted_total"), 6);
  EXPECT_EQ(m.at("flashsaga_orders_completed_total"), 6);
  EXPECT_EQ(m.at("flashsaga_product_saga_completion_seconds_count" + hot), 5);
  EXPECT_EQ(m.at("flashsaga_sold_out_answers_total"), 3);
  EXPECT_EQ(m.at("flashsaga_stock_available" + hot), 0);
  EXPECT_EQ(m.at("flashsaga_stock_supplied" + hot), 5);
  EXPECT_EQ(m.types.count("flashsaga_stock_total"), 0u)
      << "renamed: a gauge must not end in _total";
}

// The words of `text` that start with flashsaga_ or process_ (metric names), [a-z0-9_]+.
std::set<std::string> metric_names(const std::string& text) {
  std::set<std::string> out;
  auto word = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i > 0 && word(text[i - 1])) continue;
    if (text.compare(i, 10, "flashsaga_") != 0 && text.compare(i, 8, "process_") != 0) continue;
    std::size_t end = i;
    while (end < text.size() && word(text[end])) ++end;
    out.insert(text.substr(i, end - i));
    i = end;
  }
  return out;
}

// Every family the dashboard and the alert rules query is one /metrics declares.
TEST_F(OpsMetrics, DashboardAndAlertRulesUseOnlyExistingFamilies) {
  const Exposition m(metrics());
  for (const char* file :
       {"/tools/deploy/flashsaga-dashboard.json", "/tools/deploy/flashsaga-alerts.yml"}) {
    const std::string text = read_file(std::string(FLASHSAGA_SOURCE_DIR) + file);
    ASSERT_FALSE(text.empty()) << file;
    const std::set<std::string> used = metric_names(text);
    EXPECT_GT(used.size(), 5u) << file;
    for (std::string n : used) {
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (n.size() > std::strlen(suffix) &&
            n.compare(n.size() - std::strlen(suffix), std::string::npos, suffix) == 0 &&
            m.types.count(n.substr(0, n.size() - std::strlen(suffix))))
          n = n.substr(0, n.size() - std::strlen(suffix));
      EXPECT_EQ(m.types.count(n), 1u)
          << file << " uses " << n << ", which /metrics does not declare";
    }
  }
}

}  // namespace
}  // namespace flashsaga::testing
