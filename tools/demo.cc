// flashsaga demo: a whole flash sale a newcomer can watch, against the real HTTP API.
//
// 1. starts a deployment (`flashsaga run`) on the embedded defaults in ./demo-data;
// 2. seeds a catalog through HTTP: a hot SKU with little stock and one-per-customer, a normal
//    catalog, buyers with wallets (a few empty), points, and a limited 10%-off coupon;
// 3. lets many concurrent buyers (keep-alive connections) hit POST /orders, with live progress;
// 4. waits for every accepted order to end (long-polling GET /orders/{id}?wait=), then prints
//    what sold, what was refused and why, what was cancelled and why, latency percentiles, and
//    `flashsaga check`'s verdict; stops the deployment cleanly and leaves the data for the
//    inspector.
#include "tools/demo.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "bench/histogram.h"
#include "bench/http_client.h"
#include "engine/base/clock.h"
#include "tools/check/check.h"

namespace flashsaga::tools {
namespace {

namespace json = boost::json;
using bench::HttpClient;
using bench::HttpResponse;

constexpr std::int64_t ready_timeout_ns = 60'000'000'000;

std::uint64_t id_of(const HttpResponse& r) {
  try {
    return json::parse(r.body).as_object().at("id").to_number<std::uint64_t>();
  } catch (...) {
    return 0;
  }
}

std::string field(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  if (!v) return "";
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

struct Tally {
  std::mutex mutex;
  std::map<std::string, std::uint64_t> answers;  // "202", "409 sold_out", ...
  std::vector<std::uint64_t> accepted;
  std::atomic<std::uint64_t> sent{0};
  void add(const std::string& key, std::uint64_t order_id) {
    std::lock_guard<std::mutex> lock(mutex);
    ++answers[key];
    if (order_id != 0) accepted.push_back(order_id);
  }
};

}  // namespace

int run_demo(const DemoOptions& opt) {
  const std::filesystem::path data = std::filesystem::absolute(opt.data_dir);
  if (std::filesystem::exists(data / "order")) {
    fmt::print("flashsaga demo: removing the previous demo's data in {}\n", data.string());
    std::filesystem::remove_all(data);
  }
  fmt::print("flashsaga demo: starting a deployment in {} (HTTP on 127.0.0.1:{})\n", data.string(), opt.port);
  const pid_t supervisor = ::fork();
  if (supervisor == 0) {
    const std::string exe = opt.executable.string(), dir = data.string(), port = std::to_string(opt.port);
    ::execl(exe.c_str(), exe.c_str(), "run", "--data", dir.c_str(), "--port", port.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto stop = [&] {
    ::kill(supervisor, SIGTERM);
    int status = 0;
    ::waitpid(supervisor, &status, 0);
  };

  HttpClient http("127.0.0.1", opt.port);
  const std::int64_t deadline = mono_now_ns() + ready_timeout_ns;
  while (http.request("GET", "/healthz").status != 200) {
    int status = 0;
    if (::waitpid(supervisor, &status, WNOHANG) == supervisor || mono_now_ns() > deadline) {
      fmt::print(stderr, "flashsaga demo: the deployment did not become healthy (is port {} free?)\n", opt.port);
      if (mono_now_ns() > deadline) stop();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // --- Seed -------------------------------------------------------------------------------------
  const auto seeded = mono_now_ns();
  const std::uint64_t hot = id_of(http.request(
      "POST", "/products",
      fmt::format(R"({{"name":"Limited sneaker drop","price":129000,"stock":{},"max_per_user":1}})", opt.hot_stock)));
  std::vector<std::uint64_t> catalog;
  for (int i = 0; i < 20; ++i)
    catalog.push_back(id_of(http.request(
        "POST", "/products", fmt::format(R"({{"name":"Catalog item {}","price":{},"stock":100000}})", i, 5000 + i * 700))));
  const std::uint64_t coupon_template = id_of(http.request(
      "POST", "/coupon-templates",
      R"({"name":"10% off, first 100","kind":"percent","value":10,"max_discount":20000,"quantity":100})"));
  std::vector<std::uint64_t> buyers(opt.buyers, 0);
  std::vector<std::uint64_t> coupons(opt.buyers, 0);
  std::atomic<std::uint64_t> issued{0}, coupon_sold_out{0};
  std::vector<std::thread> seeders;
  constexpr std::uint32_t seeders_count = 8;
  for (std::uint32_t k = 0; k < seeders_count; ++k)
    seeders.emplace_back([&, k] {
      HttpClient conn("127.0.0.1", opt.port);
      for (std::uint64_t i = k; i < opt.buyers; i += seeders_count) {
        buyers[i] = id_of(conn.request("POST", "/users",
                                       fmt::format(R"({{"name":"Buyer {}","email":"buyer{}@demo.example"}})", i, i)));
        // Every 20th buyer forgot to top up the wallet: their orders end insufficient_balance.
        if (i % 20 != 7)
          conn.request("POST", fmt::format("/users/{}/wallet/deposits", buyers[i]), R"({"amount":1000000})");
        if (i % 3 == 0)
          conn.request("POST", fmt::format("/users/{}/points", buyers[i]), R"({"amount":5000,"reason":"welcome"})");
        if (i % 2 == 0) {  // half the buyers race for the 100 coupons
          HttpResponse r = conn.request(
              "POST", "/coupons", fmt::format(R"({{"template_id":{},"user_id":{}}})", coupon_template, buyers[i]));
          if (r.status == 201) {
            coupons[i] = id_of(r);
            ++issued;
          } else if (r.status == 409) {
            ++coupon_sold_out;
          }
        }
      }
    });
  for (auto& t : seeders) t.join();
  std::vector<std::uint64_t> issued_coupons;
  for (std::uint64_t c : coupons)
    if (c != 0) issued_coupons.push_back(c);
  fmt::print("seeded in {:.2f} s: hot SKU #{} ({} units, one per customer), {} catalog items, {} buyers, "
             "{} coupons issued ({} requests refused: the template was exhausted)\n",
             static_cast<double>(mono_now_ns() - seeded) / 1e9, hot, opt.hot_stock, catalog.size(), buyers.size(),
             issued.load(), coupon_sold_out.load());

  // --- The sale -------------------------------------------------------------------------------------
  fmt::print("\nthe sale opens: {} buyers on {} connections, {} order attempts\n", opt.buyers, opt.connections,
             opt.attempts);
  Tally tally;
  std::atomic<bool> selling{true};
  const std::int64_t sale_start = mono_now_ns();
  std::vector<std::thread> connections;
  for (std::uint32_t k = 0; k < opt.connections; ++k)
    connections.emplace_back([&, k] {
      HttpClient conn("127.0.0.1", opt.port);
      std::mt19937_64 rng(opt.seed * 7919 + k);
      while (true) {
        const std::uint64_t n = tally.sent.fetch_add(1);
        if (n >= opt.attempts) break;
        const std::uint64_t b = rng() % buyers.size();
        std::string body;
        const bool wants_hot = rng() % 10 < 7;  // most of the crowd came for the drop
        if (wants_hot) {
          body = fmt::format(R"({{"user_id":{},"items":[{{"product_id":{},"quantity":1}}]}})", buyers[b], hot);
        } else {
          const std::uint64_t p = catalog[rng() % catalog.size()];
          std::string extras;
          if (coupons[b] != 0 && rng() % 4 == 0) {
            extras += fmt::format(R"(,"coupon_id":{})", coupons[b]);
          } else if (!issued_coupons.empty() && rng() % 50 == 0) {
            // Now and then someone tries a coupon that is not theirs.
            extras += fmt::format(R"(,"coupon_id":{})", issued_coupons[rng() % issued_coupons.size()]);
          }
          if (b % 3 == 0 && rng() % 2 == 0) extras += R"(,"points":1000)";
          body = fmt::format(R"({{"user_id":{},"items":[{{"product_id":{},"quantity":{}}}]{}}})", buyers[b], p,
                             1 + rng() % 2, extras);
        }
        HttpResponse r = conn.request("POST", "/orders", body, {{"Idempotency-Key", fmt::format("demo-{}-{}", k, n)}});
        std::string key = std::to_string(r.status);
        std::uint64_t order = 0;
        if (r.status == 202) {
          order = id_of(r);
        } else if (r.status != 0) {
          try {
            const std::string error = field(json::parse(r.body).as_object(), "error");
            key += ' ';  // not " " + error: GCC 12's -Wrestrict false positive at -O3
            key += error;
          } catch (...) {
          }
        } else {
          key = "connection error";
        }
        tally.add(key, order);
      }
    });
  std::thread progress([&] {
    HttpClient conn("127.0.0.1", opt.port);
    std::uint64_t last = 0;
    while (selling.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      const std::uint64_t sent = std::min<std::uint64_t>(tally.sent.load(), opt.attempts);
      std::string left = "?";
      try {
        HttpResponse r = conn.request("GET", fmt::format("/products/{}", hot));
        left = field(json::parse(r.body).as_object().at("stock").as_object(), "available");
      } catch (...) {
      }
      std::uint64_t accepted = 0, sold_out = 0;
      {
        std::lock_guard<std::mutex> lock(tally.mutex);
        accepted = tally.accepted.size();
        sold_out = tally.answers["409 sold_out"];
      }
      fmt::print("  {:>6.1f} s  {:>7} requests ({:>6}/s)  accepted {:>6}  sold out {:>6}  hot SKU left {:>5}\n",
                 static_cast<double>(mono_now_ns() - sale_start) / 1e9, sent, (sent - last) * 2, accepted, sold_out, left);
      std::fflush(stdout);
      last = sent;
    }
  });
  for (auto& t : connections) t.join();
  const double sale_seconds = static_cast<double>(mono_now_ns() - sale_start) / 1e9;
  selling.store(false);
  progress.join();

  // --- Outcomes -------------------------------------------------------------------------------------
  std::map<std::string, std::uint64_t> outcomes;
  bench::LatencyHistogram latency;
  std::uint64_t hot_sold = 0, revenue = 0;
  for (std::uint64_t id : tally.accepted) {
    HttpResponse r = http.request("GET", fmt::format("/orders/{}?wait=30000", id));
    try {
      const json::object o = json::parse(r.body).as_object();
      const std::string status = field(o, "status");
      const std::string reason = field(o, "reason");
      ++outcomes[reason.empty() ? status : status + " (" + reason + ")"];
      std::int64_t created = 0, updated = 0;
      if (parse_rfc3339(field(o, "created_at"), created) && parse_rfc3339(field(o, "updated_at"), updated))
        latency.record(updated - created);
      if (status == "COMPLETED") {
        revenue += o.at("amounts").as_object().at("paid").to_number<std::uint64_t>();
        for (const auto& item : o.at("items").as_array())
          if (item.as_object().at("product_id").to_number<std::uint64_t>() == hot) ++hot_sold;
      }
    } catch (...) {
      ++outcomes["unreadable answer"];
    }
  }

  fmt::print("\n=== flash sale summary ===\n");
  fmt::print("{} requests in {:.2f} s ({:.0f} requests/s over HTTP, {} connections)\n", opt.attempts, sale_seconds,
             static_cast<double>(opt.attempts) / sale_seconds, opt.connections);
  fmt::print("answers at the door:\n");
  for (const auto& [k, n] : tally.answers) fmt::print("  {:<28}{:>8}\n", k, n);
  fmt::print("accepted orders, once every saga ended:\n");
  for (const auto& [k, n] : outcomes) fmt::print("  {:<40}{:>8}\n", k, n);
  fmt::print("hot SKU: {} of {} units sold (none oversold: check below)\n", hot_sold, opt.hot_stock);
  fmt::print("revenue: {}.{:02} (smallest unit / 100)\n", revenue / 100, revenue % 100);
  fmt::print("saga latency (created -> ended, the order's own timestamps): p50 {:.1f} ms  p99 {:.1f} ms  max {:.1f} ms\n",
             static_cast<double>(latency.quantile(0.5)) / 1e6, static_cast<double>(latency.quantile(0.99)) / 1e6,
             static_cast<double>(latency.max()) / 1e6);

  CheckOptions check_options;
  check_options.data_dir = data;
  check_options.require_terminal = true;
  const CheckReport report = run_check(check_options);
  const bool clean = report.error.empty() && report.violations.empty();
  fmt::print("flashsaga check: {}\n", clean ? "clean — every invariant holds"
                                             : fmt::format("{} violation(s)", report.violations.size()));
  if (!clean) print_check(report, std::cout);
  stop();
  const std::string exe = opt.executable.string();
  fmt::print("\nthe deployment stopped; its journals stay in {} for the inspector:\n"
             "  {} journal ls --data {}\n  {} trace {} --data {}\n  {} check --data {}\n",
             data.string(), exe, data.string(), exe, tally.accepted.empty() ? 1 : tally.accepted.front(), data.string(),
             exe, data.string());
  return clean ? 0 : 1;
}

}  // namespace flashsaga::tools
