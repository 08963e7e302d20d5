#include "tools/status.h"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "bench/http_client.h"
#include "ipc/deployment.h"
#include "engine/gateway/sale_stats.h"
#include "engine/gateway/store.h"

namespace flashsaga::tools {
namespace {

namespace json = boost::json;

struct StatusOptions {
  std::string url;
  bool watch = false;
  bool json = false;
  int interval_ms = 1000;
  int count = 0;  // --watch: redraws; 0 until interrupted
};

// Where the numbers come from: the gateway's GET /stats, or the deployment itself.
class Source {
 public:
  virtual ~Source() = default;
  virtual bool sample(std::string& body, std::string& error) = 0;
  virtual std::string where() const = 0;
};

class UrlSource final : public Source {
 public:
  static std::unique_ptr<UrlSource> open(const std::string& url, std::string& error) {
    std::string rest = url;
    if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
    const std::size_t slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    const std::size_t colon = authority.rfind(':');
    std::string host = authority.substr(0, colon);
    int port = 80;
    if (colon != std::string::npos) port = std::atoi(authority.c_str() + colon + 1);
    if (host == "localhost") host = "127.0.0.1";
    if (host.empty() || port <= 0 || port > 65535 || url.rfind("https://", 0) == 0) {
      error = "--url must look like http://127.0.0.1:8080 (an IPv4 address, plain HTTP)";
      return nullptr;
    }
    return std::unique_ptr<UrlSource>(new UrlSource(url, host, static_cast<std::uint16_t>(port)));
  }
  bool sample(std::string& body, std::string& error) override {
    const bench::HttpResponse r = client_.request("GET", "/stats");
    if (r.status != 200) {
      error = "GET " + url_ + "/stats: " +
              (r.status == 0 ? r.error : "status " + std::to_string(r.status) + ": " + r.body);
      return false;
    }
    body = r.body;
    return true;
  }
  std::string where() const override { return "gateway " + url_; }

 private:
  UrlSource(std::string url, const std::string& host, std::uint16_t port)
      : url_(std::move(url)), client_(host, port, 5000) {
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
  }
  std::string url_;
  bench::HttpClient client_;
};

class DataSource final : public Source {
 public:
  static std::unique_ptr<DataSource> open(const engine::Config& config, std::string& error) {
    std::unique_ptr<ipc::Deployment> deployment;
    if (!ipc::Deployment::attach(config.data_dir, config.geometry, deployment, &error)) {
      error = "no running deployment in " + config.data_dir.string() + ": " + error;
      return nullptr;
    }
    return std::unique_ptr<DataSource>(new DataSource(config, std::move(deployment)));
  }
  bool sample(std::string& body, std::string& error) override {
    if (!sale_.update(store_)) {
      error = "the order journal in " + config_.data_dir.string() +
              " cannot be read: " + store_.last_error();
      return false;
    }
    body = gateway::stats_json(*deployment_, store_, sale_, std::nullopt, "journals");
    return true;
  }
  std::string where() const override { return "journals in " + config_.data_dir.string(); }

 private:
  DataSource(const engine::Config& config, std::unique_ptr<ipc::Deployment> deployment)
      : config_(config),
        deployment_(std::move(deployment)),
        store_(config_),
        sale_(data_scan_max) {}
  static constexpr std::size_t data_scan_max = 100'000'000;  // a whole journal in one look
  engine::Config config_;
  std::unique_ptr<ipc::Deployment> deployment_;
  gateway::Store store_;
  gateway::SaleTracker sale_;
};

std::int64_t integer(const json::value* v) {
  if (!v) return -1;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return -1;
}

std::string count_text(const json::value* v) {
  return v && !v->is_null() ? std::to_string(integer(v)) : "-";
}

std::string rate_text(const json::value* now, const json::value* before, double dt_s) {
  if (!now || !before || now->is_null() || before->is_null() || dt_s <= 0) return "-";
  char buf[32];
  std::snprintf(
      buf, sizeof buf, "%.1f/s",
      static_cast<double>(std::max<std::int64_t>(integer(now) - integer(before), 0)) / dt_s);
  return buf;
}

std::string seconds_text(const json::value* v) {
  if (!v || v->is_null()) return "-";
  const double s = v->is_double() ? v->as_double() : static_cast<double>(integer(v));
  char buf[32];
  if (s < 1) {
    std::snprintf(buf, sizeof buf, "%.*f ms", s < 0.01 ? 2 : 1, s * 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  }
  return buf;
}

const json::value* path(const json::value& root, std::initializer_list<std::string_view> keys) {
  const json::value* v = &root;
  for (std::string_view k : keys) {
    if (!v->is_object()) return nullptr;
    v = v->as_object().if_contains(k);
    if (!v) return nullptr;
  }
  return v;
}

const json::value* product_before(const json::value* before, std::int64_t id) {
  const json::value* list = before ? path(*before, {"products"}) : nullptr;
  if (!list || !list->is_array()) return nullptr;
  for (const json::value& p : list->as_array())
    if (integer(path(p, {"id"})) == id) return &p;
  return nullptr;
}

// The one-screen summary of `now` (rates against `before`, taken dt_s earlier, if any).
std::string render(const json::value& now, const json::value* before, double dt_s,
                   const std::string& where) {
  std::ostringstream out;
  char line[256];
  auto get = [&](std::initializer_list<std::string_view> keys) { return path(now, keys); };
  auto was = [&](std::initializer_list<std::string_view> keys) {
    return before ? path(*before, keys) : nullptr;
  };
  out << "flashsaga status   " << json::value_to<std::string>(*get({"at"})) << "   (" << where
      << ")\n\n";
  out << "intake:            " << json::value_to<std::string>(*get({"intake"}))
      << (get({"stopping"})->as_bool() ? "   (stopping)" : "") << "\n";
  for (const char* k : {"admitted", "completed", "cancelled"}) {
    std::snprintf(line, sizeof line, "%-19s%12s   %s\n", ("orders " + std::string(k) + ":").c_str(),
                  count_text(get({"orders", k})).c_str(),
                  rate_text(get({"orders", k}), was({"orders", k}), dt_s).c_str());
    out << line;
  }
  std::snprintf(line, sizeof line, "%-19s%12s   %s\n",
                "sold-out answers:", count_text(get({"sold_out_answers"})).c_str(),
                rate_text(get({"sold_out_answers"}), was({"sold_out_answers"}), dt_s).c_str());
  out << line;
  out << "saga p50 / p99:    " << seconds_text(get({"orders", "saga_p50_seconds"})) << " / "
      << seconds_text(get({"orders", "saga_p99_seconds"})) << "\n";
  out << "ring depth:        max " << count_text(get({"rings", "depth_max"})) << ", total "
      << count_text(get({"rings", "depth_total"})) << "\n\n";
  std::snprintf(line, sizeof line, "%-9s %-13s %8s %12s %8s\n", "DOMAIN", "STATE", "RESTARTS",
                "HEARTBEAT", "OUTBOX");
  out << line;
  for (const auto& [name, d] : get({"domains"})->as_object()) {
    std::snprintf(line, sizeof line, "%-9s %-13s %8s %12s %8s\n", std::string(name).c_str(),
                  json::value_to<std::string>(d.at("state")).c_str(),
                  count_text(path(d, {"restarts"})).c_str(),
                  seconds_text(path(d, {"heartbeat_age_seconds"})).c_str(),
                  count_text(path(d, {"outbox_backlog"})).c_str());
    out << line;
  }
  out << "\n";
  std::snprintf(line, sizeof line, "%-5s %-20s %15s %8s %8s %11s %11s %11s %10s %10s\n", "ID",
                "PRODUCT ON SALE", "LEFT/TOTAL", "RESERVED", "SOLD", "ADMITTED", "COMPLETED",
                "CANCELLED", "P50", "P99");
  out << line;
  int shown = 0;
  for (const json::value& p : get({"products"})->as_array()) {
    if (!path(p, {"on_sale"})->as_bool()) continue;
    ++shown;
    const std::int64_t id = integer(path(p, {"id"}));
    const json::value* b = product_before(before, id);
    auto rate = [&](std::string_view k) {
      return rate_text(path(p, {"orders", k}), b ? path(*b, {"orders", k}) : nullptr, dt_s);
    };
    const std::string left =
        count_text(path(p, {"stock", "available"})) + "/" + count_text(path(p, {"stock", "total"}));
    std::snprintf(line, sizeof line, "%-5lld %-20.20s %15s %8s %8s %11s %11s %11s %10s %10s\n",
                  static_cast<long long>(id), json::value_to<std::string>(p.at("name")).c_str(),
                  left.c_str(), count_text(path(p, {"stock", "reserved"})).c_str(),
                  count_text(path(p, {"stock", "sold"})).c_str(), rate("admitted").c_str(),
                  rate("completed").c_str(), rate("cancelled").c_str(),
                  seconds_text(path(p, {"orders", "saga_p50_seconds"})).c_str(),
                  seconds_text(path(p, {"orders", "saga_p99_seconds"})).c_str());
    out << line;
  }
  if (shown == 0) out << "(no product is on sale)\n";
  return out.str();
}

bool parse(const std::string& body, json::value& out, std::string& error) {
  boost::system::error_code ec;
  out = json::parse(body, ec);
  if (ec || !out.is_object() || !path(out, {"orders"}) || !path(out, {"products"}) ||
      !path(out, {"domains"})) {
    error = "the stats are not what GET /stats answers: " + body.substr(0, 200);
    return false;
  }
  return true;
}

int run_status(const StatusOptions& o, Source& source) {
  std::string body, error;
  json::value before, now;
  auto take = [&](json::value& into) {
    return source.sample(body, error) && parse(body, into, error);
  };
  if (!take(before)) {
    std::fprintf(stderr, "flashsaga status: %s\n", error.c_str());
    return 1;
  }
  if (o.json) {
    std::cout << body << "\n";
    return 0;
  }
  const auto interval = std::chrono::milliseconds(o.interval_ms);
  for (int shown = 0; !o.watch || o.count == 0 || shown < o.count; ++shown) {
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(interval);
    if (!take(now)) {
      std::fprintf(stderr, "flashsaga status: %s\n", error.c_str());
      return 1;
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.watch) std::cout << "\x1b[H\x1b[2J";
    std::cout << render(now, &before, dt, source.where()) << std::flush;
    if (!o.watch) break;
    before = now;
  }
  return 0;
}

}  // namespace

void add_status_command(CLI::App& app, const std::function<engine::Config()>& config) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand(
      "status", "the live sale on one screen (what GET / shows), from a gateway or the journals");
  cmd->add_option("--url", o->url,
                  "the gateway to ask, e.g. http://127.0.0.1:8080 (default: read --data directly)");
  cmd->add_flag("--watch", o->watch,
                "redraw every --interval until interrupted (or --count times)");
  cmd->add_option("--interval", o->interval_ms,
                  "milliseconds between samples (rates are over this)")
      ->check(CLI::Range(50, 3'600'000));
  cmd->add_option("--count", o->count, "with --watch: stop after this many screens (0: never)")
      ->check(CLI::Range(0, 1'000'000));
  cmd->add_flag("--json", o->json, "print one sample as GET /stats JSON and exit");
  cmd->footer(
      "Examples:\n"
      "  flashsaga status --url http://127.0.0.1:8080\n"
      "  flashsaga status --data ./data --watch");
  cmd->callback([o, config] {
    std::string error;
    std::unique_ptr<Source> source;
    if (!o->url.empty()) {
      source = UrlSource::open(o->url, error);
    } else {
      source = DataSource::open(config(), error);
    }
    if (!source) {
      std::fprintf(stderr, "flashsaga status: %s\n", error.c_str());
      std::exit(1);
    }
    std::exit(run_status(*o, *source));
  });
}

}  // namespace flashsaga::tools
