// options: what each domain's logic is told at construction — plain values, no config file.
//
// engine/ turns the deployment's configuration into these (engine/config.h), tests and the
// simulator fill them directly. Defaults are the shipped configuration's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashsaga::domains {

// Orders kept in memory per order-keyed table (a power of two): the most recent ids; older
// rows are read from the domain's view when a late message needs them.
inline constexpr std::size_t order_window_default = std::size_t{1} << 18;

struct OrderOptions {
  std::int64_t step_timeout_ms = 5000;  // a step that does not answer cancels the order
  std::int64_t reward_rate_bp = 100;    // reward points per completed order, basis points of paid
  std::size_t window = order_window_default;
};

enum class PaymentAdapter : std::uint8_t { wallet = 0, pg = 1 };

struct PaymentOptions {
  PaymentAdapter adapter = PaymentAdapter::wallet;
  std::int64_t pg_latency_ms = 0;          // simulated external gateway: answer delay
  std::uint32_t pg_decline_permille = 0;   // share of charges the PG declines
  std::uint32_t pg_hang_permille = 0;      // share of charges the PG never answers
  std::uint64_t pg_seed = 1;               // decisions are a pure function of (seed, order id)
  std::size_t window = order_window_default;
};

struct ProductOptions {
  std::uint32_t products_max = 1u << 17;  // ids below this (the shared-memory stock table)
  std::size_t window = order_window_default;
};

struct StepOptions {  // point and coupon: per-order steps
  std::size_t window = order_window_default;
};

}  // namespace flashsaga::domains
