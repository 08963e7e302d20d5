#include "engine/gateway/metrics.h"

#include <algorithm>
#include <cstdio>

#include "engine/base/clock.h"
#include "engine/gateway/store.h"

namespace flashsaga::gateway {
namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string node_name(ipc::Node n) {
  if (n.domain == ipc::Domain::port) return "port" + std::to_string(n.port);
  return std::string(ipc::domain_name(n.domain));
}

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: already formatted `a="x",b="y"` (escaped), or empty.
  void sample(std::string_view name, const std::string& labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    write(name, labels, buf);
  }
  void sample(std::string_view name, const std::string& labels, std::uint64_t value) {
    write(name, labels, std::to_string(value));
  }
  void sample(std::string_view name, const std::string& labels, std::int64_t value) {
    write(name, labels, std::to_string(value));
  }
  std::string take() { return std::move(out_); }

 private:
  void write(std::string_view name, const std::string& labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string out_;
};

std::string label(std::string_view key, std::string_view value) {
  return std::string(key) + "=\"" + escape_label(value) + "\"";
}

}  // namespace

namespace {
thread_local std::uint32_t thread_shard = metrics_thread_shards_max;
}  // namespace

void Metrics::bind_thread(std::uint32_t index) noexcept {
  thread_shard = std::min(index, metrics_thread_shards_max);
}

Metrics::Shard& Metrics::shard() noexcept {
  return shards_[thread_shard];
}

void Metrics::http_request(std::string_view route, int status) {
  Shard& s = shard();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.http[{route, status}];
}

void Metrics::order_outcome(std::string_view outcome, std::string_view reason) {
  Shard& s = shard();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.orders[{outcome, reason}];
}

void Metrics::sold_out_answer() {
  Shard& s = shard();
  std::lock_guard<std::mutex> lock(s.mutex);
  ++s.sold_out;
}

std::uint64_t Metrics::sold_out_answers() const {
  std::uint64_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mutex);
    n += s.sold_out;
  }
  return n;
}

void Metrics::order_terminal(std::uint64_t order_id, std::int64_t created_ns,
                             std::int64_t updated_ns) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!observed_.insert(order_id).second) return;
  observed_order_.push_back(order_id);
  if (observed_order_.size() > metrics_observed_orders_max) {
    observed_.erase(observed_order_.front());
    observed_order_.pop_front();
  }
  const double s =
      updated_ns > created_ns ? static_cast<double>(updated_ns - created_ns) / 1e9 : 0.0;
  std::size_t b = 0;
  while (b < latency_bounds_s.size() && s > latency_bounds_s[b]) ++b;
  ++latency_buckets_[b];
  latency_sum_s_ += s;
  ++latency_count_;
}

namespace {

// The saga completion histogram (cumulative buckets, Prometheus style).
template <std::size_t N>
void write_latency(Writer& w, const std::array<double, N>& bounds,
                   const std::array<std::uint64_t, N + 1>& buckets, double sum_s,
                   std::uint64_t count) {
  w.family(
      "flashsaga_saga_completion_seconds", "histogram",
      "Time from an order's PENDING record to its terminal record (updated - created), per order, "
      "observed from the order journal.");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b < bounds.size(); ++b) {
    cumulative += buckets[b];
    char le[32];
    std::snprintf(le, sizeof le, "%g", bounds[b]);
    w.sample("flashsaga_saga_completion_seconds_bucket", label("le", le), cumulative);
  }
  cumulative += buckets.back();
  w.sample("flashsaga_saga_completion_seconds_bucket", label("le", "+Inf"), cumulative);
  w.sample("flashsaga_saga_completion_seconds_sum", "", sum_s);
  w.sample("flashsaga_saga_completion_seconds_count", "", count);
}

struct GatewayGauges {
  std::uint64_t sold_out;
  std::int64_t connections;
  std::uint64_t connections_refused;
  std::uint64_t long_polls;
  std::size_t idem_entries;
  std::uint64_t idem_replays;
};

void write_gateway_gauges(Writer& w, const GatewayGauges& g) {
  w.family("flashsaga_sold_out_answers_total", "counter",
           "Orders answered 409 sold_out by this gateway (no IPC).");
  w.sample("flashsaga_sold_out_answers_total", "", g.sold_out);
  w.family("flashsaga_http_connections", "gauge", "Open HTTP connections.");
  w.sample("flashsaga_http_connections", "", g.connections);
  w.family("flashsaga_http_connections_refused_total", "counter",
           "Connections answered 503 overloaded because http.connections_max were open.");
  w.sample("flashsaga_http_connections_refused_total", "", g.connections_refused);
  w.family("flashsaga_order_long_polls_total", "counter", "GET /orders/{id}?wait= requests.");
  w.sample("flashsaga_order_long_polls_total", "", g.long_polls);
  w.family("flashsaga_idempotency_entries", "gauge",
           "Idempotency-Key entries remembered by the gateway.");
  w.sample("flashsaga_idempotency_entries", "", static_cast<std::uint64_t>(g.idem_entries));
  w.family(
      "flashsaga_idempotency_replays_total", "counter",
      "POSTs answered from (or waiting for) an earlier request with the same Idempotency-Key.");
  w.sample("flashsaga_idempotency_replays_total", "", g.idem_replays);
}

// Depth and full events of every directed ring.
void write_rings(Writer& w, ipc::Deployment& deployment) {
  // Rings.
  w.family("flashsaga_ring_depth", "gauge",
           "Messages published and not yet consumed, per directed ring.");
  for (int e = 0; e < deployment.edge_count(); ++e) {
    const std::string l = label("from", node_name(deployment.edge_from(e))) + "," +
                          label("to", node_name(deployment.edge_to(e)));
    w.sample("flashsaga_ring_depth", l,
             deployment.ring(deployment.edge_from(e), deployment.edge_to(e)).depth());
  }
  w.family("flashsaga_ring_full_events_total", "counter",
           "Times a producer found the ring full, per directed ring.");
  for (int e = 0; e < deployment.edge_count(); ++e) {
    const std::string l = label("from", node_name(deployment.edge_from(e))) + "," +
                          label("to", node_name(deployment.edge_to(e)));
    w.sample("flashsaga_ring_full_events_total", l,
             deployment.ring(deployment.edge_from(e), deployment.edge_to(e)).full_events());
  }
}

// The per-domain counters the domains keep in their status blocks.
void write_domain_counters(Writer& w, ipc::Deployment& deployment) {
  // Domains.
  struct DomainCounter {
    const char* name;
    const char* type;
    const char* help;
    std::atomic<std::uint64_t> ipc::DomainStatus::*field;
  };
  static const DomainCounter counters[] = {
      {"flashsaga_domain_messages_in_total", "counter", "Messages consumed by the domain.",
       &ipc::DomainStatus::messages_in},
      {"flashsaga_domain_messages_out_total", "counter", "Messages published by the domain.",
       &ipc::DomainStatus::messages_out},
      {"flashsaga_domain_messages_invalid_total", "counter",
       "Input messages that failed validation and were set aside.",
       &ipc::DomainStatus::messages_invalid},
      {"flashsaga_domain_messages_duplicate_total", "counter",
       "Input messages dropped as duplicates.", &ipc::DomainStatus::messages_duplicate},
      {"flashsaga_journal_commits_total", "counter", "Journal write transactions committed.",
       &ipc::DomainStatus::commits},
      {"flashsaga_journal_commit_errors_total", "counter", "Journal commits that failed.",
       &ipc::DomainStatus::commit_errors},
      {"flashsaga_journal_records_total", "counter", "Journal records appended.",
       &ipc::DomainStatus::journal_records},
      {"flashsaga_outbox_backlog", "gauge", "Committed messages not yet in a ring.",
       &ipc::DomainStatus::outbox_backlog},
      {"flashsaga_domain_ring_full_events_total", "counter",
       "Outputs of the domain that found a ring full.", &ipc::DomainStatus::ring_full_events},
  };
  for (const DomainCounter& c : counters) {
    w.family(c.name, c.type, c.help);
    for (std::uint8_t d = 1; d <= domain_count; ++d) {
      auto& st = deployment.status(static_cast<ipc::Domain>(d));
      w.sample(c.name, label("domain", ipc::domain_name(static_cast<ipc::Domain>(d))),
               (st.*c.field).load(std::memory_order_relaxed));
    }
  }
  w.family("flashsaga_journal_commit_seconds_total", "counter",
           "Time spent in journal commits (fsync included).");
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    auto& st = deployment.status(static_cast<ipc::Domain>(d));
    w.sample("flashsaga_journal_commit_seconds_total",
             label("domain", ipc::domain_name(static_cast<ipc::Domain>(d))),
             static_cast<double>(st.commit_ns_total.load(std::memory_order_relaxed)) / 1e9);
  }
}

// Lifecycle, restarts, heartbeat and whether the gateway reads the domain's journal.
void write_domain_health(Writer& w, ipc::Deployment& deployment, const Store& store) {
  w.family("flashsaga_domain_state", "gauge",
           "Domain lifecycle state: 0 down, 1 starting, 2 recovering, 3 ready, 4 degraded.");
  w.family("flashsaga_domain_restarts_total", "counter",
           "Restarts of the domain process by the supervisor.");
  w.family("flashsaga_domain_heartbeat_age_seconds", "gauge",
           "Seconds since the domain's last duty cycle.");
  const std::int64_t now = mono_now_ns();
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    auto& st = deployment.status(static_cast<ipc::Domain>(d));
    const std::string l = label("domain", ipc::domain_name(static_cast<ipc::Domain>(d)));
    w.sample("flashsaga_domain_state", l,
             static_cast<std::uint64_t>(st.state.load(std::memory_order_relaxed)));
    w.sample("flashsaga_domain_restarts_total", l,
             static_cast<std::uint64_t>(st.restarts.load(std::memory_order_relaxed)));
    const std::int64_t hb = st.heartbeat_ns.load(std::memory_order_relaxed);
    w.sample("flashsaga_domain_heartbeat_age_seconds", l,
             hb > 0 ? static_cast<double>(now - hb) / 1e9 : -1.0);
  }
  w.family("flashsaga_gateway_journal_open", "gauge",
           "1 when the gateway has the domain's journal open for reads.");
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    w.sample("flashsaga_gateway_journal_open",
             label("domain", ipc::domain_name(static_cast<ipc::Domain>(d))),
             static_cast<std::uint64_t>(store.is_open(static_cast<ipc::Domain>(d)) ? 1 : 0));
  }
}

// Intake and the ports' reservations in flight.
void write_intake(Writer& w, ipc::Deployment& deployment, std::uint64_t gateway_ports) {
  // Intake and ports.
  ipc::ControlBlock& c = deployment.control();
  w.family("flashsaga_intake_open", "gauge",
           "1 when ports may reserve stock; 0 while stock is reconciled.");
  w.sample("flashsaga_intake_open", "",
           static_cast<std::uint64_t>(c.intake_open.load(std::memory_order_relaxed)));
  w.family("flashsaga_stock_reconciliations_total", "counter",
           "Stock recomputations from the journals.");
  w.sample("flashsaga_stock_reconciliations_total", "",
           c.reconcile_count.load(std::memory_order_relaxed));
  w.family("flashsaga_port_reservations_in_flight", "gauge",
           "Reservations taken by a port and not yet in a ring.");
  for (std::uint32_t p = 0; p < deployment.geometry().ports; ++p) {
    w.sample("flashsaga_port_reservations_in_flight",
             label("port", std::to_string(p)) +
                 (((gateway_ports >> p) & 1) != 0 ? ",gateway=\"1\"" : ""),
             deployment.port(p).inflight.load(std::memory_order_relaxed));
  }
}

// Stock of the hot SKUs: available goes into w, supplied comes back as its own family text.
std::string write_stock(Writer& w, ipc::Deployment& deployment) {
  // Stock of the hot SKUs.
  w.family("flashsaga_stock_available", "gauge",
           "Units that can still be reserved, per product (first products only).");
  Writer totals;
  totals.family("flashsaga_stock_supplied", "gauge",
                "Units put on sale so far, per product: initial stock plus restocks "
                "(first products only).");
  const std::uint32_t last = std::min(metrics_products_max, deployment.geometry().products_max - 1);
  for (std::uint32_t id = 1; id <= last; ++id) {
    ipc::StockSlot& slot = deployment.stock(id);
    if (slot.exists.load(std::memory_order_acquire) == 0) continue;
    const std::string l = label("product", std::to_string(id));
    w.sample("flashsaga_stock_available", l, slot.available.load(std::memory_order_relaxed));
    totals.sample("flashsaga_stock_supplied", l, slot.total.load(std::memory_order_relaxed));
  }
  return totals.take();
}

}  // namespace

std::string Metrics::render(ipc::Deployment& deployment, const Store& store,
                            std::uint64_t gateway_ports, std::size_t idem_entries,
                            std::uint64_t idem_replays) {
  Writer w;
  std::map<std::pair<std::string_view, int>, std::uint64_t> http;
  std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> orders;
  std::uint64_t sold_out = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mutex);
    for (const auto& [key, n] : s.http) http[key] += n;
    for (const auto& [key, n] : s.orders) orders[key] += n;
    sold_out += s.sold_out;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    w.family("flashsaga_http_requests_total", "counter",
             "HTTP requests answered, by route and status.");
    for (const auto& [key, n] : http)
      w.sample("flashsaga_http_requests_total",
               label("route", key.first) + "," + label("status", std::to_string(key.second)), n);
    w.family(
        "flashsaga_orders_total", "counter",
        "POST /orders answers by outcome (accepted, duplicate, rejected, sold_out, ...) and reason.");
    for (const auto& [key, n] : orders)
      w.sample("flashsaga_orders_total",
               label("outcome", key.first) + "," + label("reason", key.second), n);
    write_latency(w, latency_bounds_s, latency_buckets_, latency_sum_s_, latency_count_);
  }
  write_gateway_gauges(
      w, GatewayGauges{sold_out, connections.load(std::memory_order_relaxed),
                       connections_refused.load(std::memory_order_relaxed),
                       long_polls.load(std::memory_order_relaxed), idem_entries, idem_replays});
  write_rings(w, deployment);
  write_domain_counters(w, deployment);
  write_domain_health(w, deployment, store);
  write_intake(w, deployment, gateway_ports);
  return w.take() + write_stock(w, deployment);
}

}  // namespace flashsaga::gateway
