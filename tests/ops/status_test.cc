// `flashsaga status` against a live deployment: the same numbers from the gateway (--url) and
// from shared memory and the journals (--data), --watch bounded by --count, --json, and a
// clear error for a deployment that is not there.
#include <gtest/gtest.h>

#include "tests/ops/ops_metrics.h"

namespace flashsaga::testing {
namespace {

class Status : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    d_ = new HttpDeployment();
    sale_ = new SmallSale(make_sale(*d_, {{"Lamp", 900, 3}}, 5));
    for (std::int64_t u : sale_->users) {
      auto r = place(*d_, u, sale_->products[0]);
      if (r.status == 202)
        (void)d_->get("/orders/" + std::to_string(num(body_of(r), "id")) + "?wait=10000");
    }
  }
  static void TearDownTestSuite() {
    delete d_;
    delete sale_;
  }
  static std::string status(const std::string& args, int expect_rc = 0) {
    std::string out;
    const int rc = run_command(std::string(FLASHSAGA_EXE) + " status " + args, out);
    EXPECT_EQ(rc, expect_rc) << out;
    return out;
  }
  static std::string url() { return "--url http://127.0.0.1:" + std::to_string(d_->port()); }
  static std::string data() {
    return "--config " + (d_->dir() / "flashsaga.toml").string() + " --data " +
           (d_->dir() / "data").string();
  }
  static HttpDeployment* d_;
  static SmallSale* sale_;
};
HttpDeployment* Status::d_ = nullptr;
SmallSale* Status::sale_ = nullptr;

// The first word after `label` at the start of a line of the screen ("" if there is none).
std::string value_of(const std::string& out, const std::string& label) {
  const std::size_t at = out.find("\n" + label);
  if (at == std::string::npos) return {};
  std::istringstream rest(out.substr(at + 1 + label.size()));
  std::string word;
  rest >> word;
  return word;
}

// The lines every screen has, with this sale's numbers (3 units, 5 buyers).
void expect_screen(const std::string& out, bool from_gateway) {
  EXPECT_EQ(value_of(out, "intake:"), "open") << out;
  EXPECT_EQ(value_of(out, "orders admitted:"), "3") << out;
  EXPECT_EQ(value_of(out, "orders completed:"), "3") << out;
  EXPECT_EQ(value_of(out, "orders cancelled:"), "0") << out;
  EXPECT_EQ(value_of(out, "sold-out answers:"), from_gateway ? "2" : "-") << out;
  for (const char* d : {"user ", "point ", "product ", "coupon ", "order ", "payment "})
    EXPECT_NE(out.find(std::string(d)), std::string::npos) << d << "\n" << out;
  EXPECT_EQ(out.find("down"), std::string::npos) << out;
  EXPECT_NE(out.find("0/3"), std::string::npos) << "stock left/total of the product\n" << out;
  EXPECT_NE(out.find("0.0/s"), std::string::npos) << "rates over the interval (nothing moves now)\n"
                                                  << out;
}

TEST_F(Status, FromTheGateway) {
  const std::string out = status(url() + " --interval 200");
  expect_screen(out, true);
  EXPECT_NE(out.find("(gateway http://127.0.0.1:"), std::string::npos) << out;
}

TEST_F(Status, FromTheJournalsWithoutTheGateway) {
  const std::string out = status(data() + " --interval 200");
  expect_screen(out, false);
  EXPECT_NE(out.find("(journals in "), std::string::npos) << out;
}

TEST_F(Status, WatchRedrawsCountTimes) {
  const std::string out = status(url() + " --watch --interval 100 --count 3");
  std::size_t screens = 0;
  for (std::size_t at = out.find("flashsaga status"); at != std::string::npos;
       at = out.find("flashsaga status", at + 1))
    ++screens;
  EXPECT_EQ(screens, 3u) << out;
  EXPECT_NE(out.find("\x1b[2J"), std::string::npos) << "each screen clears the terminal";
}

TEST_F(Status, JsonIsWhatGetStatsAnswers) {
  const std::string out = status(url() + " --json");
  const json::object o = json::parse(out).as_object();
  EXPECT_EQ(o.at("source").as_string(), "gateway");
  EXPECT_EQ(o.at("orders").at("admitted").to_number<std::int64_t>(), 3);
  const json::object j = json::parse(status(data() + " --json")).as_object();
  EXPECT_EQ(j.at("source").as_string(), "journals");
  EXPECT_TRUE(j.at("sold_out_answers").is_null());
  EXPECT_EQ(j.at("orders").at("completed").to_number<std::int64_t>(), 3);
}

TEST_F(Status, NoDeploymentThereIsAClearError) {
  const std::string out = status("--data " + (d_->dir() / "nothing-here").string(), 1);
  EXPECT_NE(out.find("flashsaga status: no running deployment in"), std::string::npos) << out;
  const std::string bad = status("--url http://127.0.0.1:1", 1);
  EXPECT_NE(bad.find("flashsaga status: GET http://127.0.0.1:1/stats"), std::string::npos) << bad;
  EXPECT_NE(status("--url ftp://x", 1).find("--url must look like"), std::string::npos);
}

}  // namespace
}  // namespace flashsaga::testing
