// `flashsaga bench` end to end, tiny: the real binary starts its own deployments, sells, waits
// for every saga, runs `flashsaga check` and writes its JSON report; the test asserts the report
// has every figure the benchmark promises and that check is clean.
//   1. --driver http --durability both: POST /orders over keep-alive connections against the
//      deployment's own gateway, sync then nosync, reported side by side.
//   2. --driver client --half-peak: a closed-loop run, then an open-loop run at half its peak.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace flashsaga {
namespace {

namespace json = boost::json;

class BenchSmoke : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flashsaga-bench-smoke-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    if (std::getenv("FLASHSAGA_KEEP_TEST_DATA") == nullptr) std::filesystem::remove_all(dir_, ec);
  }

  // Runs `flashsaga bench ARGS --json FILE`; returns its exit status, fills `report` and `output`.
  int bench(const std::string& args, json::value& report, std::string& output) {
    const std::filesystem::path out = dir_ / "bench.json", log = dir_ / "bench.log";
    const std::string command = std::string(FLASHSAGA_EXE) + " bench " + args + " --quiet --json " +
                                out.string() + " > " + log.string() + " 2>&1";
    const int status = std::system(command.c_str());
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    output = text.str();
    std::stringstream body;
    body << std::ifstream(out).rdbuf();
    boost::system::error_code ec;
    report = json::parse(body.str(), ec);
    if (ec)
      ADD_FAILURE() << "the JSON report does not parse: " << ec.message() << "\n"
                    << body.str() << "\n"
                    << output;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::filesystem::path dir_;
};

const json::object& object_at(const json::object& o, const char* key) {
  static const json::object empty;
  const json::value* v = o.if_contains(key);
  EXPECT_TRUE(v != nullptr && v->is_object())
      << "missing object " << key << " in " << json::serialize(o);
  return v != nullptr && v->is_object() ? v->as_object() : empty;
}

std::uint64_t count_at(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  EXPECT_TRUE(v != nullptr && v->is_number()) << "missing number " << key;
  return v != nullptr && v->is_int64() ? static_cast<std::uint64_t>(v->as_int64()) : 0;
}

double number_at(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  EXPECT_TRUE(v != nullptr && v->is_number()) << "missing number " << key;
  return v != nullptr && v->is_number() ? v->to_number<double>() : 0.0;
}

// Every figure one run reports, with the values a small clean flash sale must have.
void expect_run(const json::object& run, std::uint64_t attempts, std::uint64_t stock, bool http) {
  SCOPED_TRACE(json::serialize(run));
  EXPECT_EQ(count_at(run, "attempts"), attempts);
  EXPECT_EQ(count_at(run, "admitted"), stock);   // every unit sold once ...
  EXPECT_EQ(count_at(run, "completed"), stock);  // ... and every saga completed
  EXPECT_EQ(count_at(run, "sold_out"), attempts - stock);
  EXPECT_EQ(count_at(run, "lost"), 0u);
  for (const char* rate : {"admitted_per_s", "completed_per_s", "sold_out_per_s", "attempts_per_s"})
    EXPECT_GT(number_at(run, rate), 0.0) << rate;
  EXPECT_TRUE(run.contains("cancelled_by_reason"));
  const json::object& latency = object_at(run, "latency_ns");
  EXPECT_EQ(count_at(latency, "count"), stock);
  std::uint64_t last = 0;
  for (const char* q : {"p50", "p90", "p99", "p999", "max"}) {
    const std::uint64_t v = count_at(latency, q);
    EXPECT_GE(v, last) << q;
    last = v;
  }
  EXPECT_GT(last, 0u);
  EXPECT_GT(number_at(run, "cpu_s_per_1k_orders"), 0.0);
  EXPECT_GT(number_at(run, "journal_bytes_per_order"), 0.0);
  EXPECT_GT(number_at(run, "commits_per_order"), 0.0);
  EXPECT_TRUE(run.contains("fsyncs_per_order"));
  EXPECT_GT(count_at(object_at(run, "ring_depth_peak"), "order"), 0u);
  EXPECT_FALSE(object_at(run, "cpu_s_by_process").empty());
  EXPECT_EQ(run.at("check").as_object().at("clean"), json::value(true));
  EXPECT_EQ(run.at("check_clean"), json::value(true));
  if (http) {
    const json::object& h = object_at(run, "http");
    const json::object& status = object_at(h, "status");
    EXPECT_EQ(count_at(status, "202"), stock);
    EXPECT_EQ(count_at(status, "409 sold_out"), attempts - stock);
    EXPECT_GT(count_at(object_at(h, "latency_ns"), "p99"), 0u);
  }
}

TEST_F(BenchSmoke, HttpDriverUnderBothDurabilitiesReportsEveryFigureSideBySideAndCheckIsClean) {
  json::value report;
  std::string output;
  const int status = bench(
      "flash-sale --driver http --connections 8 --durability both --orders 1500 --stock 300 --buyers 100",
      report, output);
  EXPECT_EQ(status, 0) << output;
  ASSERT_TRUE(report.is_object()) << output;
  const json::object& o = report.as_object();
  EXPECT_EQ(o.at("durability"), json::value("both"));
  EXPECT_EQ(o.at("check_clean"), json::value(true));
  for (const char* d : {"sync", "nosync"}) {
    SCOPED_TRACE(d);
    const json::object& run = object_at(o, d);
    EXPECT_EQ(run.at("durability"), json::value(d));
    EXPECT_EQ(run.at("driver"), json::value("http"));
    expect_run(run, 1500, 300, true);
  }
  EXPECT_EQ(o.at("nosync").at("fsyncs_per_order").to_number<double>(), 0.0);
  // The human table holds both columns.
  EXPECT_NE(output.find("sync"), std::string::npos);
  EXPECT_NE(output.find("nosync"), std::string::npos);
  EXPECT_NE(output.find("HTTP latency"), std::string::npos);
}

TEST_F(BenchSmoke, HalfPeakRunsOpenLoopAtHalfTheClosedLoopPeakAndReportsItsP99) {
  json::value report;
  std::string output;
  const int status = bench(
      "flash-sale --durability nosync --half-peak --half-peak-seconds 1 --orders 3000 --stock 2000 "
      "--buyers 100 --window 256",
      report, output);
  EXPECT_EQ(status, 0) << output;
  ASSERT_TRUE(report.is_object()) << output;
  const json::object& peak = report.as_object();
  expect_run(peak, 3000, 2000, false);
  const json::object& half = object_at(peak, "half_peak");
  const double peak_rate = number_at(half, "peak_completed_per_s");
  EXPECT_GT(peak_rate, 0.0);
  EXPECT_NEAR(number_at(half, "rate"), peak_rate / 2, 1.0);
  EXPECT_EQ(count_at(half, "target_p99_ns"), 5'000'000u);
  EXPECT_GT(count_at(half, "p99_ns"), 0u);
  EXPECT_TRUE(half.at("met").is_bool());
  const json::object& run = object_at(half, "run");
  EXPECT_EQ(run.at("loop"), json::value("open"));
  EXPECT_EQ(run.at("check_clean"), json::value(true));
  EXPECT_GT(count_at(object_at(run, "admission_latency_ns"), "count"), 0u);
  EXPECT_NE(output.find("half peak (nosync)"), std::string::npos) << output;
}

}  // namespace
}  // namespace flashsaga
