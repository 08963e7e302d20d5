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

void stop_deployment(pid_t supervisor) {
  ::kill(supervisor, SIGTERM);
  int status = 0;
  ::waitpid(supervisor, &status, 0);
}

// What the demo seeded: the hot SKU, the catalog, the buyers and the coupons they won.
struct World {
  std::uint64_t hot = 0;
  std::vector<std::uint64_t> catalog;
  std::vector<std::uint64_t> buyers;
  std::vector<std::uint64_t> coupons;         // per buyer, 0: none
  std::vector<std::uint64_t> issued_coupons;  // every coupon issued
};

// Starts `flashsaga run` on the demo's data directory; returns its pid once /healthz answers,
// or 0 (after saying why).
pid_t start_deployment(const DemoOptions& opt, const std::filesystem::path& data,
                       HttpClient& http) {
  if (std::filesystem::exists(data / "order")) {
    fmt::print("flashsaga demo: removing the previous demo's data in {}\n", data.string());
    std::filesystem::remove_all(data);
  }
  fmt::print("flashsaga demo: starting a deployment in {} (HTTP on 127.0.0.1:{})\n", data.string(),
             opt.port);
  const pid_t supervisor = ::fork();
  if (supervisor == 0) {
    const std::string exe = opt.executable.string(), dir = data.string(),
                      port = std::to_string(opt.port);
    ::execl(exe.c_str(), exe.c_str(), "run", "--data", dir.c_str(), "--port", port.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const std::int64_t deadline = mono_now_ns() + ready_timeout_ns;
  while (http.request("GET", "/healthz").status != 200) {
    int status = 0;
    if (::waitpid(supervisor, &status, WNOHANG) == supervisor || mono_now_ns() > deadline) {
      fmt::print(stderr,
                 "flashsaga demo: the deployment did not become healthy (is port {} free?)\n",
                 opt.port);
      if (mono_now_ns() > deadline) stop_deployment(supervisor);
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return supervisor;
}

// One buyer: an account, a wallet top-up (not every 20th), points (every 3rd), and for half of
// them a try at the 100 coupons.
void seed_buyer(HttpClient& conn, World& w, std::uint64_t i, std::uint64_t coupon_template,
                std::atomic<std::uint64_t>& issued, std::atomic<std::uint64_t>& coupon_sold_out) {
  w.buyers[i] = id_of(
      conn.request("POST", "/users",
                   fmt::format(R"({{"name":"Buyer {}","email":"buyer{}@demo.example"}})", i, i)));
  // Every 20th buyer forgot to top up the wallet: their orders end insufficient_balance.
  if (i % 20 != 7)
    conn.request("POST", fmt::format("/users/{}/wallet/deposits", w.buyers[i]),
                 R"({"amount":1000000})");
  if (i % 3 == 0)
    conn.request("POST", fmt::format("/users/{}/points", w.buyers[i]),
                 R"({"amount":5000,"reason":"welcome"})");
  if (i % 2 != 0) return;  // half the buyers race for the 100 coupons
  HttpResponse r = conn.request(
      "POST", "/coupons",
      fmt::format(R"({{"template_id":{},"user_id":{}}})", coupon_template, w.buyers[i]));
  if (r.status == 201) {
    w.coupons[i] = id_of(r);
    ++issued;
  } else if (r.status == 409) {
    ++coupon_sold_out;
  }
}

World seed(const DemoOptions& opt, HttpClient& http) {
  const auto seeded = mono_now_ns();
  World w;
  w.hot = id_of(http.request(
      "POST", "/products",
      fmt::format(R"({{"name":"Limited sneaker drop","price":129000,"stock":{},"max_per_user":1}})",
                  opt.hot_stock)));
  constexpr int catalog_items = 20;
  for (int i = 0; i < catalog_items; ++i)
    w.catalog.push_back(
        id_of(http.request("POST", "/products",
                           fmt::format(R"({{"name":"Catalog item {}","price":{},"stock":100000}})",
                                       i, 5000 + i * 700))));
  const std::uint64_t coupon_template = id_of(http.request(
      "POST", "/coupon-templates",
      R"({"name":"10% off, first 100","kind":"percent","value":10,"max_discount":20000,"quantity":100})"));
  w.buyers.assign(opt.buyers, 0);
  w.coupons.assign(opt.buyers, 0);
  std::atomic<std::uint64_t> issued{0}, coupon_sold_out{0};
  std::vector<std::thread> seeders;
  constexpr std::uint32_t seeders_count = 8;
  for (std::uint32_t k = 0; k < seeders_count; ++k)
    seeders.emplace_back([&, k] {
      HttpClient conn("127.0.0.1", opt.port);
      for (std::uint64_t i = k; i < opt.buyers; i += seeders_count)
        seed_buyer(conn, w, i, coupon_template, issued, coupon_sold_out);
    });
  for (auto& t : seeders) t.join();
  for (std::uint64_t c : w.coupons)
    if (c != 0) w.issued_coupons.push_back(c);
  fmt::print(
      "seeded in {:.2f} s: hot SKU #{} ({} units, one per customer), {} catalog items, {} buyers, "
      "{} coupons issued ({} requests refused: the template was exhausted)\n",
      static_cast<double>(mono_now_ns() - seeded) / 1e9, w.hot, opt.hot_stock, w.catalog.size(),
      w.buyers.size(), issued.load(), coupon_sold_out.load());
  return w;
}

// One order attempt's body: most of the crowd came for the drop; the rest buy from the
// catalog, some with their coupon (now and then one that is not theirs) or points.
std::string order_body(const World& w, std::mt19937_64& rng) {
  const std::uint64_t b = rng() % w.buyers.size();
  if (rng() % 10 < 7)
    return fmt::format(R"({{"user_id":{},"items":[{{"product_id":{},"quantity":1}}]}})",
                       w.buyers[b], w.hot);
  const std::uint64_t p = w.catalog[rng() % w.catalog.size()];
  std::string extras;
  if (w.coupons[b] != 0 && rng() % 4 == 0) {
    extras += fmt::format(R"(,"coupon_id":{})", w.coupons[b]);
  } else if (!w.issued_coupons.empty() && rng() % 50 == 0) {
    extras += fmt::format(R"(,"coupon_id":{})", w.issued_coupons[rng() % w.issued_coupons.size()]);
  }
  if (b % 3 == 0 && rng() % 2 == 0) extras += R"(,"points":1000)";
  return fmt::format(R"({{"user_id":{},"items":[{{"product_id":{},"quantity":{}}}]{}}})",
                     w.buyers[b], p, 1 + rng() % 2, extras);
}

// The answer's tally key: "202", "409 sold_out", ..., or "connection error".
std::string answer_key(const HttpResponse& r) {
  if (r.status == 0) return "connection error";
  std::string key = std::to_string(r.status);
  if (r.status == 202) return key;
  try {
    const std::string error = field(json::parse(r.body).as_object(), "error");
    key += ' ';  // not " " + error: GCC 12's -Wrestrict false positive at -O3
    key += error;
  } catch (...) {
  }
  return key;
}

void sale_connection(const DemoOptions& opt, const World& w, Tally& tally, std::uint32_t k) {
  HttpClient conn("127.0.0.1", opt.port);
  std::mt19937_64 rng(opt.seed * 7919 + k);
  for (;;) {
    const std::uint64_t n = tally.sent.fetch_add(1);
    if (n >= opt.attempts) break;
    HttpResponse r = conn.request("POST", "/orders", order_body(w, rng),
                                  {{"Idempotency-Key", fmt::format("demo-{}-{}", k, n)}});
    tally.add(answer_key(r), r.status == 202 ? id_of(r) : 0);
  }
}

// Every half second: requests sent, accepted, sold out and what is left of the hot SKU.
void print_progress(const DemoOptions& opt, const World& w, Tally& tally,
                    const std::atomic<bool>& selling, std::int64_t sale_start) {
  HttpClient conn("127.0.0.1", opt.port);
  std::uint64_t last = 0;
  while (selling.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::uint64_t sent = std::min<std::uint64_t>(tally.sent.load(), opt.attempts);
    std::string left = "?";
    try {
      HttpResponse r = conn.request("GET", fmt::format("/products/{}", w.hot));
      left = field(json::parse(r.body).as_object().at("stock").as_object(), "available");
    } catch (...) {
    }
    std::uint64_t accepted = 0, sold_out = 0;
    {
      std::lock_guard<std::mutex> lock(tally.mutex);
      accepted = tally.accepted.size();
      sold_out = tally.answers["409 sold_out"];
    }
    fmt::print(
        "  {:>6.1f} s  {:>7} requests ({:>6}/s)  accepted {:>6}  sold out {:>6}  hot SKU left {:>5}\n",
        static_cast<double>(mono_now_ns() - sale_start) / 1e9, sent, (sent - last) * 2, accepted,
        sold_out, left);
    std::fflush(stdout);
    last = sent;
  }
}

// Runs the sale; returns its duration in seconds.
double run_sale(const DemoOptions& opt, const World& w, Tally& tally) {
  fmt::print("\nthe sale opens: {} buyers on {} connections, {} order attempts\n", opt.buyers,
             opt.connections, opt.attempts);
  std::atomic<bool> selling{true};
  const std::int64_t sale_start = mono_now_ns();
  std::vector<std::thread> connections;
  for (std::uint32_t k = 0; k < opt.connections; ++k)
    connections.emplace_back([&, k] { sale_connection(opt, w, tally, k); });
  std::thread progress([&] { print_progress(opt, w, tally, selling, sale_start); });
  for (auto& t : connections) t.join();
  const double seconds = static_cast<double>(mono_now_ns() - sale_start) / 1e9;
  selling.store(false);
  progress.join();
  return seconds;
}

struct Outcomes {
  std::map<std::string, std::uint64_t> by_status;
  bench::LatencyHistogram latency;
  std::uint64_t hot_sold = 0, revenue = 0;
};

// Waits for every accepted order to end (GET ?wait=) and tallies how they ended.
Outcomes gather_outcomes(HttpClient& http, const World& w, const Tally& tally) {
  Outcomes out;
  for (std::uint64_t id : tally.accepted) {
    HttpResponse r = http.request("GET", fmt::format("/orders/{}?wait=30000", id));
    try {
      const json::object o = json::parse(r.body).as_object();
      const std::string status = field(o, "status");
      const std::string reason = field(o, "reason");
      ++out.by_status[reason.empty() ? status : status + " (" + reason + ")"];
      std::int64_t created = 0, updated = 0;
      if (parse_rfc3339(field(o, "created_at"), created) &&
          parse_rfc3339(field(o, "updated_at"), updated))
        out.latency.record(updated - created);
      if (status != "COMPLETED") continue;
      out.revenue += o.at("amounts").as_object().at("paid").to_number<std::uint64_t>();
      for (const auto& item : o.at("items").as_array())
        if (item.as_object().at("product_id").to_number<std::uint64_t>() == w.hot) ++out.hot_sold;
    } catch (...) {
      ++out.by_status["unreadable answer"];
    }
  }
  return out;
}

void print_summary(const DemoOptions& opt, const Tally& tally, const Outcomes& out,
                   double sale_seconds) {
  fmt::print("\n=== flash sale summary ===\n");
  fmt::print("{} requests in {:.2f} s ({:.0f} requests/s over HTTP, {} connections)\n",
             opt.attempts, sale_seconds, static_cast<double>(opt.attempts) / sale_seconds,
             opt.connections);
  fmt::print("answers at the door:\n");
  for (const auto& [k, n] : tally.answers) fmt::print("  {:<28}{:>8}\n", k, n);
  fmt::print("accepted orders, once every saga ended:\n");
  for (const auto& [k, n] : out.by_status) fmt::print("  {:<40}{:>8}\n", k, n);
  fmt::print("hot SKU: {} of {} units sold (none oversold: check below)\n", out.hot_sold,
             opt.hot_stock);
  fmt::print("revenue: {}.{:02} (smallest unit / 100)\n", out.revenue / 100, out.revenue % 100);
  fmt::print(
      "saga latency (created -> ended, the order's own timestamps): p50 {:.1f} ms  p99 {:.1f} ms  max {:.1f} ms\n",
      static_cast<double>(out.latency.quantile(0.5)) / 1e6,
      static_cast<double>(out.latency.quantile(0.99)) / 1e6,
      static_cast<double>(out.latency.max()) / 1e6);
}

}  // namespace

int run_demo(const DemoOptions& opt) {
  const std::filesystem::path data = std::filesystem::absolute(opt.data_dir);
  HttpClient http("127.0.0.1", opt.port);
  const pid_t supervisor = start_deployment(opt, data, http);
  if (supervisor == 0) return 1;
  const World world = seed(opt, http);
  Tally tally;
  const double sale_seconds = run_sale(opt, world, tally);
  print_summary(opt, tally, gather_outcomes(http, world, tally), sale_seconds);

  CheckOptions check_options;
  check_options.data_dir = data;
  check_options.require_terminal = true;
  const CheckReport report = run_check(check_options);
  const bool clean = report.error.empty() && report.violations.empty();
  fmt::print("flashsaga check: {}\n",
             clean ? "clean — every invariant holds"
                   : fmt::format("{} violation(s)", report.violations.size()));
  if (!clean) print_check(report, std::cout);
  stop_deployment(supervisor);
  const std::string exe = opt.executable.string();
  fmt::print(
      "\nthe deployment stopped; its journals stay in {} for the inspector:\n"
      "  {} journal ls --data {}\n  {} trace {} --data {}\n  {} check --data {}\n",
      data.string(), exe, data.string(), exe, tally.accepted.empty() ? 1 : tally.accepted.front(),
      data.string(), exe, data.string());
  return clean ? 0 : 1;
}

}  // namespace flashsaga::tools
