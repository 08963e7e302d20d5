// model: what one pass of the checker learns about a deployment, kept compact (a deployment
// has millions of orders): per order, per step, per product, coupon, template and ledger, the
// facts its rows state beside the facts its journal records add up to. Internal to
// tools/check; the reading (read_*.cc) fills it, the evaluation (evaluate_*.cc) judges it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "domains/rows.h"
#include "ipc/message.h"
#include "tools/check/check.h"

namespace flashsaga::tools {

constexpr std::size_t idx(ipc::Domain d) {
  return static_cast<std::size_t>(d);
}

// A finding, with a key that is stable across snapshots: invariant, order, domain and kind.
struct Finding {
  Violation v;
  std::string key;
};

class Findings {
 public:
  explicit Findings(std::vector<Finding>& out) : out_(out) {}
  void add(int invariant, std::uint64_t order, ipc::Domain d, std::uint64_t sequence,
           std::string_view kind, std::string what);

 private:
  std::vector<Finding>& out_;
};

// What the order journal and row say about one order.
struct OrderFacts {
  bool has_row = false;
  bool in_pending_table = false;
  std::uint8_t status = 0;    // row
  std::uint8_t j_status = 0;  // journal replay
  std::uint8_t reason = 0;
  std::uint8_t was_completed = 0;
  std::uint8_t j_was_completed = 0;
  std::uint8_t item_count = 0;
  std::uint16_t placed_records = 0;
  std::uint64_t user_id = 0, coupon_id = 0;
  std::int64_t subtotal = 0, items_subtotal = 0, discount = 0, points_to_use = 0, points_used = 0,
               paid = 0;
  std::int64_t requested_amount = -1, completed_paid = -1;
  std::int64_t updated_ns = 0, deadline_ns = 0;
  std::uint64_t placed_seq = 0, last_seq = 0, requested_seq = 0, finished_seq = 0;
};

// One domain's step of one order: its row, and its records replayed.
struct DomainStep {
  bool has_row = false;
  std::uint8_t row_state = 0;
  std::uint8_t row_flag = 0;    // coupon: used; point: reward_state; payment: method
  std::uint8_t item_count = 0;  // product
  std::int64_t row_amount = 0;  // coupon discount, point amount, payment amount
  std::uint64_t row_ref = 0;    // coupon id; payment user
  StepReplay replay;
};

struct Ledger {  // points or wallet, replayed from the journal
  std::int64_t balance = 0;
  // point: accrued deducted refunded rewarded revoked; wallet: deposits charges refunds
  std::array<std::int64_t, 5> sums{};
  std::uint64_t last_seq = 0;
};

struct ProductFacts {
  bool has_row = false;
  domains::ProductRow row{};
  std::uint32_t created_records = 0;
  std::int64_t j_total = 0, j_reserved = 0, j_sold = 0;
  std::int64_t j_stock = 0;         // initial + restocks: j_total without the lease moves
  std::int64_t j_reservations = 0;  // units of stock_reserved records (the bulk counts)
  std::int64_t order_units = 0;     // units of the orders those counts cover (order journal)
  std::int64_t step_sold = 0;       // units of sold step rows
  std::uint64_t last_seq = 0;
};

struct CouponFacts {
  bool has_row = false;
  domains::CouponRow row{};
  std::uint32_t issued_records = 0;
  std::uint64_t template_id = 0, user_id = 0;
  std::uint8_t j_state = 0;  // CouponState per journal replay
  std::uint64_t j_holder = 0;
  std::uint64_t last_seq = 0;
  std::vector<std::uint64_t> applied_steps;  // orders whose coupon step row is applied
};

struct TemplateFacts {
  bool has_row = false;
  domains::TemplateRow row{};
  std::uint32_t created_records = 0;
  std::int64_t coupons = 0, issued_records = 0;
  std::uint64_t last_seq = 0;
};

// The product domain's bulk reservations: every order up to `through` is counted.
struct Reservations {
  std::uint64_t through = 0;      // the highest last_order_id of a stock_reserved record
  std::uint64_t through_seq = 0;  // that record's sequence
  std::uint64_t in_flight = 0;    // the highest last_order_id of a Reservations message on its way
  bool counter_present = false;   // the product view's last_order_seen counter
  std::uint64_t counter = 0;
  std::uint64_t orders_max = 0;  // the highest order id the order journal placed
};

using UserProduct = std::pair<std::uint64_t, std::uint64_t>;

struct Model {
  std::unordered_map<std::uint64_t, OrderFacts> orders;
  std::array<std::unordered_map<std::uint64_t, DomainStep>, 7>
      steps;  // product, coupon, point, payment
  std::unordered_map<std::uint64_t, ProductFacts> products;
  std::unordered_map<std::uint64_t, CouponFacts> coupons;
  std::unordered_map<std::uint64_t, TemplateFacts> templates;
  std::unordered_map<std::uint64_t, Ledger> points, wallets;
  std::unordered_map<std::uint64_t, domains::PointAccount> accounts;
  std::unordered_map<std::uint64_t, domains::Wallet> wallet_rows;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint32_t>
      coupons_per_holder;                             // (template, user)
  std::map<UserProduct, std::int64_t> live_rows;      // the order view's live table
  std::map<UserProduct, std::int64_t> live_expected;  // counted units of live orders' rows
  std::unordered_set<std::uint64_t> outbox_inflight;  // order * 8 + destination domain
  std::array<std::unordered_map<std::uint64_t, std::uint64_t>, 7>
      inbox;  // per domain: edge -> last seq
  Reservations reservations;
  // Saga edges whose producer journal lost messages its consumer had applied (a power loss
  // under interval; the supervisor's domains::EdgeSkip marks, from every journal).
  std::vector<domains::EdgeSkip> edge_skips;
};

}  // namespace flashsaga::tools
