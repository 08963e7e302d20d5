// options: what each domain's logic is told at construction, in the domains' own terms.
//
// The deployment's Config (engine/config.h) is read by the domain process, which turns it into
// these (engine/domain_process.h); a test or the simulator fills them directly. A logic keeps
// its own copy: changing an options struct after construction changes nothing. Defaults are
// the shipped configuration's.
//
// Example:
//   domains::OrderDomain order({.step_timeout_ms = 500, .reward_rate_bp = 0});
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/base/limits.h"

namespace flashsaga::domains {

// Orders kept in memory per order-keyed table (a power of two): the most recent ids; older
// rows are read from the domain's view when a late message needs them.
inline constexpr std::size_t order_window_default = std::size_t{1} << 18;

struct OrderOptions {
  std::int64_t step_timeout_ms = 5000;  // a step that does not answer cancels the order
  std::int64_t reward_rate_bp = 100;    // reward points per completed order, basis points of paid
  std::size_t window = order_window_default;
};

// Which payment adapter charges orders. Stable numbers (config: payment.adapter).
enum class PaymentAdapter : std::uint8_t { wallet = 0, pg = 1 };

struct PaymentOptions {
  PaymentAdapter adapter = PaymentAdapter::wallet;
  std::int64_t pg_latency_ms = 0;         // simulated external gateway: answer delay
  std::uint32_t pg_decline_permille = 0;  // share of charges the PG declines
  std::uint32_t pg_hang_permille = 0;     // share of charges the PG never answers
  std::uint64_t pg_seed = 1;              // decisions are a pure function of (seed, order id)
  std::size_t window = order_window_default;
};

// Which cell of a cluster this deployment is (engine/cluster.h): ids it creates for users and
// products are those with id % cells == cell. The default is a single host (every id).
struct CellOptions {
  std::uint32_t cell = 0;
  std::uint32_t cells = 1;
  // The first id >= from (from >= 1) that this cell may create.
  constexpr std::uint64_t own_id_from(std::uint64_t from) const noexcept {
    if (cells <= 1) return from;
    const std::uint64_t r = from % cells;
    return r <= cell ? from + (cell - r) : from + (cells - r) + cell;
  }
  constexpr bool owns(std::uint64_t id) const noexcept { return cells <= 1 || id % cells == cell; }
};

struct ProductOptions {
  // Product ids are in [1, products_max) when no deployment is attached (tests, simulation);
  // with one, its geometry's products_max rules.
  std::uint32_t products_max = products_max_default;
  std::size_t window = order_window_default;
  CellOptions cell{};  // a cluster cell creates only its own product ids, and takes replicas
};

struct StepOptions {  // point and coupon: per-order steps
  std::size_t window = order_window_default;
};

}  // namespace flashsaga::domains
