// Stock (invariant 1): each product's row against its records and step rows, the bulk
// reservations against the orders they count, each order's stock step, and the order domain's
// live units per customer.
#include <fmt/format.h>

#include "tools/check/pass.h"

namespace flashsaga::tools {

using domains::OrderStatus;
using domains::ProductRow;
using domains::StepState;
using ipc::Domain;

namespace {
std::string_view state_name(StepState s) {
  return domains::step_state_name(s);
}
}  // namespace

void Pass::evaluate_product(std::uint64_t id, ProductFacts& p) {
  ++report_.products;
  report_.units_total += p.row.total;
  report_.units_reserved += p.row.reserved;
  report_.units_sold += p.row.sold;
  report_.product_stock[id] = p.j_stock;
  const ProductRow& r = p.row;
  const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, id); };
  if (p.created_records == 0)
    add(1, 0, Domain::product, 0, kind("no-created"),
        fmt::format("product {} has no product_created record", id));
  else if (r.total != p.j_total)
    add(1, 0, Domain::product, p.last_seq, kind("total"),
        fmt::format("product {}: row total {} but initial + restocks = {}", id, r.total,
                    p.j_total));
  if (r.reserved != p.j_reserved)
    add(1, 0, Domain::product, p.last_seq, kind("reserved"),
        fmt::format("product {}: row reserved {}, the journal adds up to {} (units counted in bulk "
                    "less those "
                    "sold or released since)",
                    id, r.reserved, p.j_reserved));
  if (r.sold != p.step_sold || r.sold != p.j_sold)
    add(1, 0, Domain::product, p.last_seq, kind("sold"),
        fmt::format("product {}: row sold {}, sold steps hold {}, the journal adds up to {}", id,
                    r.sold, p.step_sold, p.j_sold));
  if (p.j_reservations != p.order_units)
    add(1, 0, Domain::product, p.last_seq, kind("reservations"),
        fmt::format(
            "product {}: stock_reserved records count {} units for the orders up to {}, whose "
            "order_pending records hold {}",
            id, p.j_reservations, m_.reservations.through, p.order_units));
  if (r.reserved < 0 || r.sold < 0)
    add(1, 0, Domain::product, p.last_seq, kind("negative"),
        fmt::format("product {}: negative counters (reserved {}, sold {})", id, r.reserved,
                    r.sold));
  if (r.total - r.reserved - r.sold < 0)
    add(1, 0, Domain::product, p.last_seq, kind("oversold"),
        fmt::format("product {} oversold by {} units: total {} < reserved {} + sold {}", id,
                    r.reserved + r.sold - r.total, r.total, r.reserved, r.sold));
}

void Pass::evaluate_products() {
  for (auto& [id, p] : m_.products) {
    if (p.has_row) {
      evaluate_product(id, p);
    } else if (p.created_records > 0) {
      add(1, 0, Domain::product, p.last_seq, fmt::format("no-row-{}", id),
          fmt::format("product {} has records but no row", id));
    }
  }
  evaluate_reservations();
  evaluate_stock_steps();
  evaluate_live();
}

// The bulk counts cover orders 1..through: the order journal has them, the product view's
// counter says the same, and every order above is covered by a count still on its way.
void Pass::evaluate_reservations() {
  const Reservations& res = m_.reservations;
  report_.reservations_through = res.through;
  if (res.through > res.orders_max)
    add(1, 0, Domain::product, res.through_seq, "reservations-beyond",
        fmt::format(
            "stock_reserved counts orders up to {}, but the order journal placed only up to {}",
            res.through, res.orders_max));
  if (res.counter_present && res.counter != res.through)
    add(1, 0, Domain::product, res.through_seq, "last-order-seen",
        fmt::format(
            "the product view's last_order_seen is {}, its stock_reserved records count up to {}",
            res.counter, res.through));
  for (const auto& [id, f] : m_.orders) {
    if (f.placed_records == 0 || id <= res.through) continue;
    if (!opt_.require_terminal && id <= res.in_flight) {
      ++report_.inflight;
      continue;
    }
    add(1, id, Domain::order, f.placed_seq, "uncounted",
        opt_.require_terminal
            ? fmt::format(
                  "order {}'s units are not counted by the product domain yet (--require-terminal)",
                  id)
            : fmt::format("order {}'s units were never counted by the product domain, and no "
                          "Reservations message "
                          "covering it is on its way",
                          id));
  }
}

void Pass::evaluate_stock_steps() {
  for (auto& [order, s] : m_.steps[idx(Domain::product)]) {
    if (!s.has_row) {
      add(1, order, Domain::product, s.replay.last_sequence, "no-step-row",
          "stock records but no step row");
      continue;
    }
    if (s.replay.last_sequence == 0) {
      add(1, order, Domain::product, 0, "step-row-alone",
          fmt::format("step row says {}, but no record sold or released the order's stock",
                      state_name(static_cast<StepState>(s.row_state))));
      continue;
    }
    if (static_cast<StepState>(s.row_state) != s.replay.state)
      add(1, order, Domain::product, s.replay.last_sequence, "step-row",
          fmt::format("step row says {}, its records say {}",
                      state_name(static_cast<StepState>(s.row_state)), state_name(s.replay.state)));
  }
}

// live: (user, product) -> units of that product in the user's pending or completed orders,
// counting only lines of products that had a per-customer limit when the order was placed.
void Pass::evaluate_live() {
  for (const auto& [key, want] : m_.live_expected) {
    const auto it = m_.live_rows.find(key);
    const std::int64_t have = it == m_.live_rows.end() ? 0 : it->second;
    if (have != want)
      add(1, 0, Domain::order, 0, fmt::format("live-{}-{}", key.first, key.second),
          fmt::format(
              "user {} holds {} counted units of product {} in live orders, the live table says {}",
              key.first, want, key.second, have));
  }
  for (const auto& [key, have] : m_.live_rows) {
    if (m_.live_expected.count(key) != 0) continue;
    add(1, 0, Domain::order, 0, fmt::format("live-{}-{}", key.first, key.second),
        fmt::format("the live table says user {} holds {} units of product {}, but no live order "
                    "counts any",
                    key.first, have, key.second));
  }
}

}  // namespace flashsaga::tools
