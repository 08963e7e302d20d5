// The live sale page (GET /) in real headless Chromium (Debian's chromium, driven by
// playwright-core from npm: tests/ops/sale_page.mjs) during a running sale: its numbers change
// while orders flow, and once the sale settles every number it shows is what /metrics says.
// A screenshot of the page during the sale is left at build/<preset>/sale-page.png.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/ops/ops_metrics.h"

namespace flashsaga::testing {
namespace {

constexpr int load_threads = 2;
constexpr int load_orders_max = 20000;                      // a bound on the whole load
constexpr auto load_pause = std::chrono::milliseconds(20);  // ~100 orders/s in all
constexpr auto load_time_max = std::chrono::seconds(90);

std::string chromium_path() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (std::filesystem::exists(p)) return p;
  return {};
}

// Orders over keep-alive connections until `stop` (or the bounds), cycling buyers and products.
void load(const HttpDeployment& d, const SmallSale& sale, int thread, std::atomic<bool>& stop) {
  HttpConnection c(d.port());
  const auto deadline = std::chrono::steady_clock::now() + load_time_max;
  for (int i = thread;
       i < load_orders_max && !stop.load() && std::chrono::steady_clock::now() < deadline;
       i += load_threads) {
    const std::int64_t user = sale.users[static_cast<std::size_t>(i) % sale.users.size()];
    const std::int64_t product = sale.products[static_cast<std::size_t>(i) % sale.products.size()];
    const HttpResponse r =
        c.request("POST", "/orders",
                  R"({"user_id":)" + std::to_string(user) + R"(,"items":[{"product_id":)" +
                      std::to_string(product) + R"(,"quantity":1}]})");
    EXPECT_TRUE(r.status == 202 || r.status == 409) << r.status << " " << r.body;
    std::this_thread::sleep_for(load_pause);
  }
}

// Every order the journal holds has ended (bounded wait).
bool settled(const HttpDeployment& d) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const json::object s = body_of(d.get("/stats"));
    const json::object& o = s.at("orders").as_object();
    if (num(o, "admitted") == num(o, "completed") + num(o, "cancelled")) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// sale_page.mjs, the browser's driver, as a child process; it talks through files in `dir`.
class Driver {
 public:
  Driver(const HttpDeployment& d, const std::string& chromium, const std::string& npm,
         const std::string& screenshot)
      : progress_((d.dir() / "progress").string()),
        settled_((d.dir() / "settled").string()),
        log_((d.dir() / "sale_page.log").string()) {
    pid_ = ::fork();
    if (pid_ != 0) return;
    const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    const std::string script = std::string(FLASHSAGA_SOURCE_DIR) + "/tests/ops/sale_page.mjs";
    const std::string url = "http://127.0.0.1:" + std::to_string(d.port());
    ::execlp("node", "node", script.c_str(), "--npm", npm.c_str(), "--url", url.c_str(),
             "--chromium", chromium.c_str(), "--interval", "250", "--screenshot",
             screenshot.c_str(), "--progress", progress_.c_str(), "--settled", settled_.c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ~Driver() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
    }
  }
  // Until the driver wrote `step` (true), exited, or the deadline passed.
  bool wait_for(const char* step, std::chrono::steady_clock::time_point deadline) {
    while (!poll_exit() && std::chrono::steady_clock::now() < deadline) {
      if (read_file(progress_).find(step) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  void signal_settled() { std::ofstream(settled_) << "settled\n"; }
  // Until it exits (true) or the deadline passes.
  bool wait_exit(std::chrono::steady_clock::time_point deadline) {
    while (!poll_exit() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return exited_;
  }
  int exit_code() const { return exited_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  std::string output() const { return read_file(log_); }

 private:
  bool poll_exit() {
    if (!exited_ && ::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }
  std::string progress_, settled_, log_;
  pid_t pid_ = 0;
  int status_ = 0;
  bool exited_ = false;
};

TEST(SalePage, NumbersChangeDuringTheSaleAndMatchMetrics) {
  const std::string chromium = chromium_path();
  if (chromium.empty())
    GTEST_SKIP() << "chromium is not installed (Debian package chromium; tools/setup.sh)";
  if (!have_program("node")) GTEST_SKIP() << "node is not installed (tools/setup.sh)";
  const std::string npm = FLASHSAGA_NPM_DIR;
  if (!std::filesystem::exists(npm + "/node_modules/playwright-core"))
    GTEST_SKIP() << "playwright-core is not in " << npm
                 << " (ctest's npm_test_tools installs it; it was skipped)";

  HttpDeployment d;
  // A hot SKU that sells out during the test, and a plentiful one.
  const SmallSale sale =
      make_sale(d, {{"Sneaker drop", 129000, 300}, {"Team socks", 4900, 5000}}, 40);
  const std::string shot = std::filesystem::current_path().string() + "/sale-page.png";
  Driver driver(d, chromium, npm, shot);
  // The page is up: start the sale. It saw the numbers change: stop the load, let sagas end.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  if (driver.wait_for("loaded", deadline)) {
    for (int t = 0; t < load_threads; ++t) threads.emplace_back([&, t] { load(d, sale, t, stop); });
    driver.wait_for("changed", deadline);
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_TRUE(settled(d)) << "orders still pending a minute after the load stopped";
  driver.signal_settled();
  ASSERT_TRUE(driver.wait_exit(deadline + std::chrono::seconds(60)))
      << "sale_page.mjs did not finish:\n"
      << driver.output();
  const std::string out = driver.output();
  if (driver.exit_code() == 77) GTEST_SKIP() << out;
  EXPECT_EQ(driver.exit_code(), 0) << out;
  std::printf("%s", out.c_str());
  EXPECT_TRUE(std::filesystem::exists(shot)) << out;
  d.expect_check_clean();
}

}  // namespace
}  // namespace flashsaga::testing
