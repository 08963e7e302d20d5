// api: the routes of API.md, over an Exchange (engine/gateway/exchange.h).
//
// Requires: an attached Deployment, a Store over the journals, and the shared Idempotency
//   table and Metrics. The server calls handle() and place_order_fast() on the connection's
//   I/O thread, with that thread's port in the Exchange (or OrderReplies).
// Guarantees:
//   - handle() never throws and answers every request exactly once, now or later;
//   - GETs read journals only; writes go to the owning domain through the port, and their
//     answer is built from a snapshot taken after the domain's reply (which it sends after its
//     commit), so a 201 always shows what was committed;
//   - POST /orders reserves stock by CAS here, in the caller's thread; place_order_fast() is
//     its hot path (body read without a DOM, engine/gateway/order_body.h; the Idempotency-Key,
//     if any, through the same table as dispatch()):
//     it answers through OrderReplies, or returns false when the request must go to handle();
//   - every POST with an Idempotency-Key goes through the Idempotency table first;
//   - no handler blocks: replies and long-poll re-checks come back through Exchange::post.
//
// Routes live in routes.cc (users, points, wallets, coupons, products, operations),
// orders.cc (orders and payments) and console.cc (GET /, /stats, /openapi.json); routes.cc and
// orders.cc are the only translation units that see Boost.JSON with json_io.cc and
// sale_stats.cc.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "engine/config.h"
#include "ipc/deployment.h"
#include "engine/gateway/exchange.h"
#include "engine/gateway/idempotency.h"
#include "engine/gateway/metrics.h"
#include "engine/gateway/sale_stats.h"
#include "engine/gateway/store.h"
#include "engine/port.h"
#include "ipc/message.h"

namespace flashsaga::gateway {

inline constexpr std::size_t page_limit_default = 100;
inline constexpr std::size_t page_limit_max = 1000;
inline constexpr std::int64_t order_wait_ms_max = 30'000;
// Long-poll re-check interval: starts short (most sagas finish in a few ms), then backs off.
inline constexpr std::int64_t poll_interval_ms_min = 2;
inline constexpr std::int64_t poll_interval_ms_max = 10;
// Saga latency for /metrics: orders read from the journal per scrape, and orders remembered as
// still pending (to be observed once they end).
inline constexpr std::size_t metrics_order_scan_max = 50'000;
inline constexpr std::size_t metrics_pending_orders_max = 1u << 16;
// A domain whose heartbeat is older than this is not healthy.
inline constexpr std::int64_t heartbeat_stale_ns = 2'000'000'000;

// Path parameters of a matched route: the {id} segment, if the route has one.
struct PathParams {
  bool id_valid = false;
  std::uint64_t id = 0;
  std::string id_text;
};

class Api {
 public:
  // gateway_ports: bit p set for every port the gateway's I/O threads own (for /metrics).
  Api(const engine::Config& config, ipc::Deployment& deployment, Store& store,
      Idempotency& idempotency, Metrics& metrics, std::uint64_t gateway_ports);

  void handle(const Request& request, ExchangePtr exchange) noexcept;
  // POST /orders without an Idempotency-Key (see above). Answers exactly once when true.
  bool place_order_fast(const Request& request, OrderReplies& replies, std::uint64_t token);
  // The port's reply to an order placed by place_order_fast (its callback lands here).
  void finish_order(OrderContext& context, std::uint64_t token,
                    const engine::PortReply& reply) noexcept;

  // Graceful stop: long polls answer at their next check instead of waiting out `wait`.
  void begin_stop() noexcept { stopping_.store(true, std::memory_order_release); }
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

  // Handler signature, one per (route, method); public for the route table in routes.cc.
  using Handler = void (Api::*)(const Request&, const PathParams&, const ExchangePtr&);

  // routes.cc
  void create_user(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_user(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void patch_user(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void accrue_points(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_points(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void deposit(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_wallet(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_user_coupons(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void create_template(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_template(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void issue_coupon(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_coupon(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void create_product(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void list_products(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_product(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void patch_product(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void restock(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void healthz(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void metrics(const Request& req, const PathParams& p, const ExchangePtr& ex);
  // console.cc
  void openapi(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void sale_page(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void stats(const Request& req, const PathParams& p, const ExchangePtr& ex);
  // orders.cc
  void place_order(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_order(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void cancel_order(const Request& req, const PathParams& p, const ExchangePtr& ex);
  void get_payment(const Request& req, const PathParams& p, const ExchangePtr& ex);

 private:
  using ReplyFn = std::function<void(const ipc::Message& reply)>;

  void dispatch(const Request& request, ExchangePtr exchange);
  // Sends a command to its domain; `on_reply` runs on the connection's strand with the reply.
  // Answers 503 itself when the port is full (overloaded) or the reply never comes (unavailable).
  void command(const ExchangePtr& ex, ipc::Domain to, const ipc::Message& message,
               ipc::MessageType reply_type, ReplyFn on_reply);
  // Shared by GET /orders/{id} and its long poll.
  void answer_order(const ExchangePtr& ex, std::uint64_t id, std::int64_t deadline_ns,
                    std::int64_t interval_ms);
  // Feeds the saga latency histogram with orders that became terminal since the last scrape.
  void observe_orders();

  const engine::Config& config_;
  ipc::Deployment& deployment_;
  Store& store_;
  Idempotency& idempotency_;
  Metrics& metrics_;
  const std::uint64_t gateway_ports_;
  std::atomic<bool> stopping_{false};
  std::mutex observe_mutex_;
  std::uint64_t observe_next_id_ = 1;        // orders below were all seen once
  std::set<std::uint64_t> observe_pending_;  // seen PENDING, to be observed when they end
  SaleTracker sale_;                         // GET /stats and the per-product /metrics families
};

}  // namespace flashsaga::gateway
