// A real deployment behind the HTTP gateway, for the gateway's end-to-end tests: `flashsaga run`
// (supervisor, six domain processes, gateway) in a fresh temporary directory, on a free port,
// with a config the test writes; plus small JSON helpers over HttpResponse.
//
// Test-only header (it includes Boost.JSON); included by the tests/e2e/http_*_test.cc files.
//
// Example:
//   HttpDeployment d("request_timeout_ms = 500\n");   // lines for the [http] section
//   auto r = d.post("/users", R"({"name":"A","email":"a@example.com"})");
//   EXPECT_EQ(r.status, 201);
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/e2e/http_client.h"
#include "tests/e2e/settled_check.h"

namespace flashsaga::testing {

namespace json = boost::json;

class HttpDeployment {
 public:
  // `http_toml`: extra lines for the [http] section; `extra_toml`: other sections.
  explicit HttpDeployment(const std::string& http_toml = "", const std::string& extra_toml = "") {
    char tmpl[] = "/tmp/flashsaga-http-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    port_ = free_tcp_port();
    config_path_ = dir_ / "flashsaga.toml";
    std::ofstream(config_path_)
        << "[deployment]\ndata_dir = \"" << (dir_ / "data").string()
        << "\"\ndurability = \"nosync\"\n"
        << "[rings]\nsaga_capacity_slots = 4096\nport_capacity_slots = 1024\nports = 4\n"
        << "[stock]\nproducts_max = 4096\n"
        << "[journal]\nmap_size_mib = 64\n"
        << "[http]\nport = " << port_ << "\n"
        << http_toml << extra_toml;
    start();
  }

  ~HttpDeployment() {
    stop();
    std::error_code ec;
    if (std::getenv("FLASHSAGA_KEEP_TEST_DATA") == nullptr) std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    log_path_ = dir_ / "run.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::string exe = FLASHSAGA_EXE;
      std::string cfg = config_path_.string();
      ::execl(exe.c_str(), exe.c_str(), "run", "--config", cfg.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Bounded: until /healthz says every domain is ready.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        ADD_FAILURE() << "flashsaga run exited early (status " << status << "):\n" << log();
        return;
      }
      HttpConnection c(port_, 1000);
      if (c.connected() && c.request("GET", "/healthz").status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the deployment did not become healthy in time:\n" << log();
  }

  // Graceful stop (SIGTERM, bounded); returns the supervisor's wait status, -1 if not running.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = 0;
    return status;
  }

  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::uint16_t port() const noexcept { return port_; }
  const std::filesystem::path& dir() const noexcept { return dir_; }

  // `flashsaga check` over this deployment's journals, retried (bounded) while compensations
  // are still landing; fails the current test with every violation printed.
  void expect_check_clean(bool require_terminal = true) {
    const tools::CheckReport report = check_when_settled(dir_ / "data", require_terminal);
    std::ostringstream out;
    if (!report.violations.empty()) tools::print_check(report, out);
    EXPECT_EQ(report.error, "");
    EXPECT_TRUE(report.violations.empty()) << out.str();
  }

  HttpResponse get(const std::string& target, const HttpHeaders& h = {}) const {
    return http_request(port_, "GET", target, {}, h);
  }
  HttpResponse post(const std::string& target, const std::string& body,
                    const HttpHeaders& h = {}) const {
    return http_request(port_, "POST", target, body, h);
  }
  HttpResponse patch(const std::string& target, const std::string& body,
                     const HttpHeaders& h = {}) const {
    return http_request(port_, "PATCH", target, body, h);
  }

 private:
  std::filesystem::path dir_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  std::uint16_t port_ = 0;
  pid_t pid_ = 0;
};

// --- JSON helpers ---------------------------------------------------------------------------

// The body as a JSON object (an empty object, and a test failure, if it is not one).
inline json::object body_of(const HttpResponse& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "not a JSON object (status " << r.status << "): " << r.body;
    return {};
  }
  return v.as_object();
}

inline std::int64_t num(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) {
    ADD_FAILURE() << "missing " << key << " in " << json::serialize(o);
    return -1;
  }
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  ADD_FAILURE() << key << " is not an integer in " << json::serialize(o);
  return -1;
}

inline std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    ADD_FAILURE() << key << " is not a string in " << json::serialize(o);
    return {};
  }
  return std::string(v->as_string());
}

// Asserts an error answer: status, {"error": code, "message": non-empty, "field": field?}.
inline void expect_error(const HttpResponse& r, int status, std::string_view code,
                         std::string_view field = {}) {
  EXPECT_EQ(r.status, status) << r.body;
  const json::object o = body_of(r);
  EXPECT_EQ(str(o, "error"), code) << r.body;
  EXPECT_FALSE(str(o, "message").empty()) << r.body;
  if (!field.empty()) {
    EXPECT_EQ(str(o, "field"), field) << r.body;
  }
  EXPECT_EQ(r.header("content-type"), "application/json");
}

}  // namespace flashsaga::testing
