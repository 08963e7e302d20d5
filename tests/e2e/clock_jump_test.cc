// The wall clock stepped back and forward under a real deployment (HTTP, every process), with
// Debian's libfaketime: LD_PRELOAD into `flashsaga run` (its children inherit it), the offset
// read from a FAKETIME timestamp file this test rewrites during the run, the monotonic clock
// left alone (FAKETIME_DONT_FAKE_MONOTONIC). libfaketime, not a clock seam in the code: the
// binary under test is the one that ships, and every clock read (ours, LMDB's, libc's) moves.
//
// What must hold:
//   - saga deadlines and the simulated PG's answer delay run on the monotonic clock: an hour
//     forward times nothing out early, an hour back does not hold a timeout for an hour;
//   - sale windows are absolute wall times (what the operator set): they follow the wall clock;
//   - afterwards `flashsaga check` is clean (journal record times stay increasing).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>

#include "engine/base/clock.h"
#include "tests/e2e/http_deployment.h"

namespace flashsaga::testing {
namespace {

const char* const faketime_lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

// Sets the environment a child inherits for the lifetime of this object.
class FaketimeEnv {
 public:
  explicit FaketimeEnv(const std::filesystem::path& file) : file_(file) {
    set("+0");
    ::setenv("LD_PRELOAD", faketime_lib, 1);
    ::setenv("FAKETIME_TIMESTAMP_FILE", file_.c_str(), 1);
    ::setenv("FAKETIME_NO_CACHE", "1", 1);
    ::setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
  }
  ~FaketimeEnv() { unset(); }
  // After the deployment started: this process keeps its own clock.
  void unset() {
    ::unsetenv("LD_PRELOAD");
    ::unsetenv("FAKETIME_TIMESTAMP_FILE");
    ::unsetenv("FAKETIME_NO_CACHE");
    ::unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
  }
  // "+3600", "-3600": the deployment's wall clock relative to the real one, from now on.
  void set(const std::string& offset) {
    const std::filesystem::path tmp = file_.string() + ".tmp";
    std::ofstream(tmp) << offset << "\n";
    std::filesystem::rename(tmp, file_);  // atomic: a reader never sees half a line
  }

 private:
  std::filesystem::path file_;
};

pid_t find_role(const HttpDeployment& d, const std::string& role) {
  const std::string data = (d.dir() / "data").string();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    const std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    if (cmdline.find(std::string("\0domain\0", 8) + role + '\0') != std::string::npos &&
        cmdline.find(data) != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return 0;
}

class ClockJump : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(faketime_lib))
      GTEST_SKIP() << "libfaketime is not installed (tools/setup.sh)";
    char tmpl[] = "/tmp/flashsaga-faketime-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    env_ = std::make_unique<FaketimeEnv>(dir_ / "offset");
    // PG answers after 1.5 s; a step that does not answer in 3 s cancels the order.
    d_ = std::make_unique<HttpDeployment>(
        "", "[saga]\nstep_timeout_ms = 3000\n[payment]\nadapter = \"pg\"\npg_latency_ms = 1500\n");
    env_->unset();
    ASSERT_EQ(d_->post("/users", R"({"name":"Kim","email":"kim@example.com"})").status, 201);
    ASSERT_EQ(d_->post("/products", R"({"name":"Shoe","price":1000,"stock":100})").status, 201);
  }
  void TearDown() override {
    d_.reset();
    env_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::string place() {
    const HttpResponse r =
        d_->post("/orders", R"({"user_id":1,"items":[{"product_id":1,"quantity":1}]})");
    EXPECT_EQ(r.status, 202) << r.body;
    return std::to_string(num(body_of(r), "id"));
  }
  json::object wait_order(const std::string& id, int wait_ms) {
    return body_of(d_->get("/orders/" + id + "?wait=" + std::to_string(wait_ms)));
  }

  std::filesystem::path dir_;
  std::unique_ptr<FaketimeEnv> env_;
  std::unique_ptr<HttpDeployment> d_;
};

TEST_F(ClockJump, AnHourForwardTimesNothingOutEarly) {
  const std::string id = place();
  env_->set("+3600");
  const std::int64_t t0 = mono_now_ns();
  const json::object o = wait_order(id, 15000);
  EXPECT_EQ(str(o, "status"), "COMPLETED") << json::serialize(o);
  // The PG's 1.5 s delay was not cut short by the jump either.
  EXPECT_GE(mono_now_ns() - t0, 1'000'000'000) << "the PG answered early";
  // Orders placed on the stepped clock complete too, and the next step back changes nothing.
  const std::string second = place();
  env_->set("-3600");
  EXPECT_EQ(str(wait_order(second, 15000), "status"), "COMPLETED");
  d_->expect_check_clean();
}

TEST_F(ClockJump, AnHourBackDoesNotHoldATimeoutForAnHour) {
  const pid_t payment = find_role(*d_, "payment");
  ASSERT_GT(payment, 0);
  ASSERT_EQ(::kill(payment, SIGSTOP), 0);  // the payment step cannot answer
  const std::string id = place();
  env_->set("-3600");
  const std::int64_t t0 = mono_now_ns();
  const json::object o = wait_order(id, 20000);
  const double waited_s = static_cast<double>(mono_now_ns() - t0) / 1e9;
  ::kill(payment, SIGCONT);
  EXPECT_EQ(str(o, "status"), "CANCELLED") << json::serialize(o);
  EXPECT_EQ(str(o, "reason"), "timeout") << json::serialize(o);
  EXPECT_LT(waited_s, 10.0);
  d_->expect_check_clean();
}

TEST_F(ClockJump, SaleWindowsFollowTheWallClock) {
  // A sale that opens in an hour (real time) and lasts two.
  const std::int64_t hour = 3600LL * 1'000'000'000;
  const std::string body = R"({"sale_starts_at":")" + format_rfc3339(wall_now_ns() + hour) +
                           R"(","sale_ends_at":")" + format_rfc3339(wall_now_ns() + 3 * hour) +
                           R"("})";
  ASSERT_EQ(d_->patch("/products/1", body).status, 200);
  const std::string order = R"({"user_id":1,"items":[{"product_id":1,"quantity":1}]})";
  expect_error(d_->post("/orders", order), 409, "not_on_sale");
  env_->set("+7200");  // inside the window
  const HttpResponse in = d_->post("/orders", order);
  EXPECT_EQ(in.status, 202) << in.body;
  env_->set("+14400");  // after it
  expect_error(d_->post("/orders", order), 409, "not_on_sale");
  env_->set("+0");
  expect_error(d_->post("/orders", order), 409, "not_on_sale");
  if (in.status == 202) {
    EXPECT_EQ(str(wait_order(std::to_string(num(body_of(in), "id")), 15000), "status"),
              "COMPLETED");
  }
  d_->expect_check_clean();
}

}  // namespace
}  // namespace flashsaga::testing
