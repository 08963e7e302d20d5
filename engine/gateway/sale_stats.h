// sale_stats: the live numbers of a sale, read from shared memory and the order journal, for
// GET /stats (the sale page), `flashsaga status` and the per-product /metrics families.
//
// Requires: a Store over the deployment's journals; update() and the readers may be called
//   from any thread (one mutex).
// Guarantees:
//   - counts come from the order journal, so they include orders placed through any port
//     (gateway or client library) and survive a gateway restart (a new tracker re-reads the
//     journal from order 1, at most `scan_max` orders per update);
//   - every order is counted admitted once, and completed or cancelled once when it ends;
//     its saga time (terminal - created) goes into the histogram of every product it holds;
//   - at most `pending_max` orders are followed while pending: when that many are, new orders
//     wait for the next update (counts lag, they are never lost).
//
// Example:
//   SaleTracker sale;
//   sale.update(store);
//   const std::string body = stats_json(deployment, store, sale, sold_out, "gateway");
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "ipc/deployment.h"
#include "engine/gateway/store.h"

namespace flashsaga::gateway {

// Products followed one by one (ids 1..N), as for the stock families of /metrics.
inline constexpr std::uint32_t sale_products_max = 64;

// A saga-time histogram with the bounds of flashsaga_saga_completion_seconds.
struct SagaHistogram {
  static constexpr std::array<double, 14> bounds_s = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};
  std::array<std::uint64_t, bounds_s.size() + 1> buckets{};  // not cumulative; last: +Inf
  std::uint64_t count = 0;
  double sum_s = 0;

  void observe(double seconds) noexcept;
  // Prometheus histogram_quantile's estimate (linear within a bucket); nullopt when empty.
  std::optional<double> quantile(double q) const noexcept;
};

struct SaleCounts {
  std::uint64_t admitted = 0;
  std::uint64_t completed = 0;
  std::uint64_t cancelled = 0;
  SagaHistogram saga;
};

class SaleTracker {
 public:
  static constexpr std::size_t scan_max_default = 50'000;
  static constexpr std::size_t pending_max = 1u << 16;

  explicit SaleTracker(std::size_t scan_max = scan_max_default) : scan_max_(scan_max) {}

  // Reads orders created since the last update and re-reads the pending ones. False when the
  // order journal cannot be read (the counts stay as they were).
  bool update(Store& store);

  SaleCounts total() const;
  // Product ids 1..sale_products_max.
  SaleCounts product(std::uint32_t id) const;

 private:
  const std::size_t scan_max_;
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 1;        // orders below were all read once
  std::set<std::uint64_t> pending_;  // read while PENDING, to be counted when they end
  SaleCounts total_;
  std::array<SaleCounts, sale_products_max + 1> products_{};  // index = product id; [0] unused
};

// The GET /stats body (docs/openapi.json, schema Stats). `sold_out_answers`: the gateway's
// count, nullopt when not known (read from the journals). `source`: "gateway" or "journals".
std::string stats_json(ipc::Deployment& deployment, Store& store, const SaleTracker& sale,
                       std::optional<std::uint64_t> sold_out_answers, std::string_view source);

}  // namespace flashsaga::gateway
