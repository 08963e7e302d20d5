#include "engine/gateway/sale_stats.h"

#include <algorithm>

#include "domains/rows.h"
#include "engine/base/clock.h"
#include "engine/gateway/api.h"
#include "engine/gateway/json_io.h"

namespace flashsaga::gateway {
namespace {

using domains::OrderRow;
using domains::OrderStatus;

bool terminal(const OrderRow& row) {
  return row.status == static_cast<std::uint8_t>(OrderStatus::completed) ||
         row.status == static_cast<std::uint8_t>(OrderStatus::cancelled);
}

// The distinct followed products of an order (ids 1..sale_products_max), at most 8.
std::size_t products_of(const OrderRow& row, std::array<std::uint32_t, line_items_max>& out) {
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < row.item_count && i < line_items_max; ++i) {
    const std::uint32_t id = row.items[i].product_id;
    if (id == 0 || id > sale_products_max) continue;
    if (std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), id) == out.begin() + n)
      out[n++] = id;
  }
  return n;
}

using ProductCounts = std::array<SaleCounts, sale_products_max + 1>;

void count_new(const OrderRow& row, SaleCounts& total, ProductCounts& products) {
  std::array<std::uint32_t, line_items_max> ids{};
  const std::size_t n = products_of(row, ids);
  ++total.admitted;
  for (std::size_t i = 0; i < n; ++i) ++products[ids[i]].admitted;
}

void count_end(const OrderRow& row, SaleCounts& total, ProductCounts& products) {
  const bool completed = row.status == static_cast<std::uint8_t>(OrderStatus::completed);
  const double s = row.updated_ns > row.created_ns
                       ? static_cast<double>(row.updated_ns - row.created_ns) / 1e9
                       : 0.0;
  std::array<std::uint32_t, line_items_max> ids{};
  const std::size_t n = products_of(row, ids);
  auto count = [&](SaleCounts& c) {
    ++(completed ? c.completed : c.cancelled);
    c.saga.observe(s);
  };
  count(total);
  for (std::size_t i = 0; i < n; ++i) count(products[ids[i]]);
}

json::value seconds_or_null(std::optional<double> s) {
  if (!s) return nullptr;
  return *s;
}

json::object orders_json(const SaleCounts& c) {
  json::object o;
  o["admitted"] = c.admitted;
  o["completed"] = c.completed;
  o["cancelled"] = c.cancelled;
  o["saga_p50_seconds"] = seconds_or_null(c.saga.quantile(0.5));
  o["saga_p99_seconds"] = seconds_or_null(c.saga.quantile(0.99));
  return o;
}

json::object domains_json(ipc::Deployment& deployment) {
  json::object out;
  const std::int64_t now = mono_now_ns();
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    const auto domain = static_cast<ipc::Domain>(d);
    ipc::DomainStatus& st = deployment.status(domain);
    const auto state = static_cast<ipc::DomainState>(st.state.load(std::memory_order_acquire));
    const std::int64_t beat = st.heartbeat_ns.load(std::memory_order_acquire);
    std::string_view shown = ipc::domain_state_name(state);
    if (state == ipc::DomainState::ready && (beat == 0 || now - beat > heartbeat_stale_ns))
      shown = "unresponsive";
    json::object o;
    o["state"] = shown;
    o["restarts"] = st.restarts.load(std::memory_order_relaxed);
    o["heartbeat_age_seconds"] =
        beat > 0 ? json::value(static_cast<double>(std::max<std::int64_t>(now - beat, 0)) / 1e9)
                 : json::value(nullptr);
    o["outbox_backlog"] = st.outbox_backlog.load(std::memory_order_relaxed);
    out[ipc::domain_name(domain)] = std::move(o);
  }
  return out;
}

json::object product_json(const ipc::StockSlot& slot, const domains::ProductRow& row,
                          const SaleCounts& counts, std::int64_t now_wall) {
  const std::int64_t total = slot.total.load(std::memory_order_relaxed);
  const std::int64_t available =
      std::clamp<std::int64_t>(slot.available.load(std::memory_order_acquire), 0,
                               std::max<std::int64_t>(total - row.sold, 0));
  const std::int64_t starts = slot.sale_starts_ns.load(std::memory_order_relaxed);
  const std::int64_t ends = slot.sale_ends_ns.load(std::memory_order_relaxed);
  json::object stock;
  stock["available"] = available;
  stock["reserved"] = std::max<std::int64_t>(total - row.sold - available, 0);
  stock["sold"] = row.sold;
  stock["total"] = total;
  json::object o;
  o["id"] = row.id;
  o["name"] = row.name.view();
  o["price"] = row.price;
  o["on_sale"] = (starts == 0 || now_wall >= starts) && (ends == 0 || now_wall < ends);
  o["stock"] = std::move(stock);
  o["orders"] = orders_json(counts);
  return o;
}

json::array products_json(ipc::Deployment& deployment, Store& store, const SaleTracker& sale) {
  json::array out;
  Snapshot s;
  if (!store.begin(ipc::Domain::product, s)) return out;
  const journal::TableId table = s.table("products");
  const std::int64_t now_wall = wall_now_ns();
  const std::uint32_t last = std::min(sale_products_max, deployment.geometry().products_max - 1);
  for (std::uint32_t id = 1; id <= last; ++id) {
    ipc::StockSlot& slot = deployment.stock(id);
    if (slot.exists.load(std::memory_order_acquire) == 0) continue;
    domains::ProductRow row{};
    if (s.get(table, journal::key_u64(id), row) != Lookup::found) continue;
    out.push_back(product_json(slot, row, sale.product(id), now_wall));
  }
  return out;
}

}  // namespace

void SagaHistogram::observe(double seconds) noexcept {
  std::size_t b = 0;
  while (b < bounds_s.size() && seconds > bounds_s[b]) ++b;
  ++buckets[b];
  ++count;
  sum_s += seconds;
}

std::optional<double> SagaHistogram::quantile(double q) const noexcept {
  if (count == 0) return std::nullopt;
  const double rank = q * static_cast<double>(count);
  std::uint64_t below = 0;
  for (std::size_t b = 0; b < bounds_s.size(); ++b) {
    if (static_cast<double>(below + buckets[b]) >= rank && buckets[b] > 0) {
      const double lo = b == 0 ? 0.0 : bounds_s[b - 1];
      return lo + (bounds_s[b] - lo) * (rank - static_cast<double>(below)) /
                      static_cast<double>(buckets[b]);
    }
    below += buckets[b];
  }
  return bounds_s.back();  // in the +Inf bucket: the highest finite bound, as Prometheus does
}

bool SaleTracker::update(Store& store) {
  std::lock_guard<std::mutex> lock(mutex_);
  Snapshot s;
  if (!store.begin(ipc::Domain::order, s)) return false;
  const journal::TableId orders = s.table("orders");
  for (auto it = pending_.begin(); it != pending_.end();) {
    OrderRow row{};
    const Lookup l = s.get(orders, journal::key_u64(*it), row);
    if (l == Lookup::unavailable) return false;
    if (l == Lookup::found && !terminal(row)) {
      ++it;
      continue;
    }
    if (l == Lookup::found) count_end(row, total_, products_);
    it = pending_.erase(it);
  }
  std::uint64_t next = next_id_;
  const journal::Status st = s.txn().scan(orders, journal::key_u64(next_id_), scan_max_,
                                          [&](journal::Bytes key, journal::Bytes value) {
                                            OrderRow row{};
                                            if (!journal::from_bytes(value, row)) return false;
                                            if (!terminal(row) && pending_.size() >= pending_max)
                                              return false;  // the next update takes it
                                            count_new(row, total_, products_);
                                            if (terminal(row)) {
                                              count_end(row, total_, products_);
                                            } else {
                                              pending_.insert(row.id);
                                            }
                                            next = journal::u64_from_key(key) + 1;
                                            return true;
                                          });
  next_id_ = next;
  return st.ok();
}

SaleCounts SaleTracker::total() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return total_;
}

SaleCounts SaleTracker::product(std::uint32_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return id >= 1 && id <= sale_products_max ? products_[id] : SaleCounts{};
}

std::string stats_json(ipc::Deployment& deployment, Store& store, const SaleTracker& sale,
                       std::optional<std::uint64_t> sold_out_answers, std::string_view source) {
  ipc::ControlBlock& c = deployment.control();
  const bool open = c.intake_open.load(std::memory_order_acquire) != 0 &&
                    c.degraded_domains.load(std::memory_order_acquire) == 0;
  std::uint64_t depth_max = 0, depth_total = 0;
  for (int e = 0; e < deployment.edge_count(); ++e) {
    const std::uint64_t d = deployment.ring(deployment.edge_from(e), deployment.edge_to(e)).depth();
    depth_max = std::max(depth_max, d);
    depth_total += d;
  }
  json::object rings;
  rings["depth_max"] = depth_max;
  rings["depth_total"] = depth_total;
  json::object o;
  o["at"] = format_rfc3339(wall_now_ns());
  o["source"] = source;
  o["intake"] = open ? "open" : "paused";
  o["stopping"] = c.stopping.load(std::memory_order_acquire) != 0;
  o["sold_out_answers"] = sold_out_answers ? json::value(*sold_out_answers) : json::value(nullptr);
  o["orders"] = orders_json(sale.total());
  o["domains"] = domains_json(deployment);
  o["rings"] = std::move(rings);
  o["products"] = products_json(deployment, store, sale);
  return json::serialize(o);
}

}  // namespace flashsaga::gateway
