// metrics: what the gateway counts, and /metrics in the Prometheus text format.
//
// Requires: nothing; any thread may count. Per-request counts go to the calling thread's own
//   shard (an I/O thread binds its shard once with bind_thread(); any other thread shares the
//   last one): a shard's mutex is only ever contended by a scrape, which sums every shard.
// Guarantees: every name starts with flashsaga_, every family has # HELP and # TYPE, label
//   values are escaped. Deployment-wide numbers (rings, domains, stock) are read from shared
//   memory when rendered, so they are as fresh as the scrape.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <deque>

#include "ipc/deployment.h"

namespace flashsaga::gateway {

class Store;

// Products whose stock is exported (ids 1..N): the hot SKUs of a flash sale are the first ones.
inline constexpr std::uint32_t metrics_products_max = 64;
// Terminal orders remembered so each is observed once in the latency histogram.
inline constexpr std::size_t metrics_observed_orders_max = 1u << 16;
// Counting shards: one per I/O thread (config http.threads is at most 64), one for the rest.
inline constexpr std::uint32_t metrics_thread_shards_max = 64;

class Metrics {
 public:
  // Labels must be static strings (route patterns, outcome and reason names): they are kept
  // as views, so counting never allocates after a label pair's first use.
  void http_request(std::string_view route, int status);
  void order_outcome(std::string_view outcome, std::string_view reason);
  void sold_out_answer();
  std::uint64_t sold_out_answers() const;
  // The calling thread counts into shard `index` (< metrics_thread_shards_max) from now on.
  static void bind_thread(std::uint32_t index) noexcept;
  // A terminal order seen by a read; counted in the saga latency histogram once per order.
  void order_terminal(std::uint64_t order_id, std::int64_t created_ns, std::int64_t updated_ns);

  std::atomic<std::int64_t> connections{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> long_polls{0};

  // The whole exposition. idem_entries/idem_replays come from the idempotency table;
  // gateway_ports has bit p set for every port the gateway's I/O threads own.
  std::string render(ipc::Deployment& deployment, const Store& store, std::uint64_t gateway_ports,
                     std::size_t idem_entries, std::uint64_t idem_replays);

 private:
  static constexpr std::array<double, 14> latency_bounds_s = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::map<std::pair<std::string_view, int>, std::uint64_t> http;
    std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> orders;
    std::uint64_t sold_out = 0;
  };
  Shard& shard() noexcept;

  std::array<Shard, metrics_thread_shards_max + 1> shards_;
  std::mutex mutex_;  // the latency histogram
  std::array<std::uint64_t, latency_bounds_s.size() + 1> latency_buckets_{};
  double latency_sum_s_ = 0;
  std::uint64_t latency_count_ = 0;
  std::unordered_set<std::uint64_t> observed_;
  std::deque<std::uint64_t> observed_order_;
};

}  // namespace flashsaga::gateway
