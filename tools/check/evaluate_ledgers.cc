// Coupons (invariant 2), points (3) and wallets (4): rows against records, the steps' rows
// against their replays, and steps of orders the order journal does not have.
#include <fmt/format.h>

#include <algorithm>

#include "ipc/deployment.h"

#include "tools/check/pass.h"

namespace flashsaga::tools {

using domains::CouponRow;
using domains::CouponState;
using domains::OrderStatus;
using domains::StepState;
using ipc::Domain;

namespace {
std::string_view state_name(StepState s) {
  return domains::step_state_name(s);
}
std::string_view coupon_state(std::uint8_t s) {
  return domains::coupon_state_name(static_cast<CouponState>(s));
}
}  // namespace

void Pass::evaluate_templates() {
  for (auto& [id, t] : m_.templates) {
    if (!t.has_row) {
      add(2, 0, Domain::coupon, t.last_seq, fmt::format("no-template-{}", id),
          fmt::format("coupons or records name template {}, which has no row", id));
      continue;
    }
    ++report_.templates;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, id); };
    if (t.created_records == 0)
      add(2, 0, Domain::coupon, 0, kind("no-created"),
          fmt::format("template {} has no coupon_template_created record", id));
    if (t.row.issued != t.coupons || t.row.issued != t.issued_records)
      add(2, 0, Domain::coupon, t.last_seq, kind("issued"),
          fmt::format("template {}: issued {}, but {} coupon rows and {} coupon_issued records", id,
                      t.row.issued, t.coupons, t.issued_records));
    if (t.row.quantity > 0 && t.row.issued > t.row.quantity)
      add(2, 0, Domain::coupon, t.last_seq, kind("quantity"),
          fmt::format("template {}: {} issued, more than its quantity {}", id, t.row.issued,
                      t.row.quantity));
  }
  for (auto& [key, n] : m_.coupons_per_holder)
    if (n > 1)
      add(2, 0, Domain::coupon, 0, fmt::format("per-user-{}-{}", key.first, key.second),
          fmt::format("user {} holds {} coupons of template {} (at most one)", key.second, n,
                      key.first));
}

void Pass::evaluate_coupon(std::uint64_t id, const CouponFacts& c) {
  const CouponRow& r = c.row;
  const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, id); };
  const auto available = static_cast<std::uint8_t>(CouponState::available);
  const auto used = static_cast<std::uint8_t>(CouponState::used);
  if (c.issued_records == 0)
    add(2, 0, Domain::coupon, 0, kind("no-issued"),
        fmt::format("coupon {} has no coupon_issued record", id));
  else if (r.state != c.j_state || r.order_id != c.j_holder)
    add(2, r.order_id, Domain::coupon, c.last_seq, kind("row-vs-journal"),
        fmt::format("coupon {} row is {} (order {}), its records say {} (order {})", id,
                    coupon_state(r.state), r.order_id, coupon_state(c.j_state), c.j_holder));
  std::vector<std::uint64_t> live_holders;
  for (std::uint64_t o : c.applied_steps) {
    auto it = m_.orders.find(o);
    if (it != m_.orders.end() && it->second.has_row &&
        it->second.status != static_cast<std::uint8_t>(OrderStatus::cancelled))
      live_holders.push_back(o);
  }
  if (live_holders.size() > 1) {
    std::string list;
    for (std::uint64_t o : live_holders) list += (list.empty() ? "" : ", ") + std::to_string(o);
    add(2, live_holders.back(), Domain::coupon, c.last_seq, kind("two-live"),
        fmt::format("coupon {} is held by {} live orders at once ({})", id, live_holders.size(),
                    list));
  }
  if (r.state == available && r.order_id != 0)
    add(2, r.order_id, Domain::coupon, c.last_seq, kind("available-holder"),
        fmt::format("coupon {} is available but names order {}", id, r.order_id));
  if (r.state == available)
    for (std::uint64_t o : c.applied_steps)
      add(2, o, Domain::coupon, c.last_seq, kind("available-applied"),
          fmt::format("coupon {} is available, but order {}'s coupon step still holds it", id, o));
  if (r.state == available) return;
  const DomainStep* s = step_of(Domain::coupon, r.order_id);
  const bool ok = s != nullptr && s->has_row &&
                  static_cast<StepState>(s->row_state) == StepState::applied && s->row_ref == id &&
                  (s->row_flag == 1) == (r.state == used);
  if (!ok)
    add(2, r.order_id, Domain::coupon, c.last_seq, kind("holder-step"),
        fmt::format("coupon {} is {} by order {}, but that order's coupon step does not say so", id,
                    coupon_state(r.state), r.order_id));
}

void Pass::evaluate_coupon_steps() {
  for (auto& [order, s] : m_.steps[idx(Domain::coupon)]) {
    if (!s.has_row) {
      add(2, order, Domain::coupon, s.replay.last_sequence, "no-step-row",
          "coupon records but no step row");
      continue;
    }
    if (static_cast<StepState>(s.row_state) != s.replay.state || (s.row_flag == 1) != s.replay.used)
      add(2, order, Domain::coupon, s.replay.last_sequence, "step-row",
          fmt::format("step row says {}{}, its records say {}{}",
                      state_name(static_cast<StepState>(s.row_state)), s.row_flag ? " (used)" : "",
                      state_name(s.replay.state), s.replay.used ? " (used)" : ""));
  }
}

void Pass::evaluate_coupons() {
  evaluate_templates();
  for (auto& [id, c] : m_.coupons) {
    if (c.has_row) {
      ++report_.coupons;
      evaluate_coupon(id, c);
    } else if (c.issued_records > 0) {
      add(2, 0, Domain::coupon, c.last_seq, fmt::format("no-row-{}", id),
          fmt::format("coupon {} was issued but has no row", id));
    }  // records naming a coupon that never existed are reported where they are read
  }
  evaluate_coupon_steps();
}

void Pass::evaluate_points() {
  for (auto& [user, a] : m_.accounts) {
    ++report_.point_accounts;
    const auto it = m_.points.find(user);
    const Ledger* l = it == m_.points.end() ? nullptr : &it->second;
    const std::uint64_t seq = l ? l->last_seq : 0;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, user); };
    const std::int64_t identity = a.accrued - a.deducted + a.refunded + a.rewarded - a.revoked;
    if (a.balance != identity)
      add(3, 0, Domain::point, seq, kind("identity"),
          fmt::format("user {}: balance {} but accrued {} - deducted {} + refunded {} + rewarded "
                      "{} - revoked {} = {}",
                      user, a.balance, a.accrued, a.deducted, a.refunded, a.rewarded, a.revoked,
                      identity));
    if (a.balance < 0)
      add(3, 0, Domain::point, seq, kind("negative"),
          fmt::format("user {}: balance {} < 0", user, a.balance));
    if (a.refunded > a.deducted)
      add(3, 0, Domain::point, seq, kind("refunded-gt-deducted"),
          fmt::format("user {}: refunded {} more than deducted {}", user, a.refunded, a.deducted));
    const std::array<std::int64_t, 5> row = {a.accrued, a.deducted, a.refunded, a.rewarded,
                                             a.revoked};
    const std::array<std::int64_t, 5> j = l ? l->sums : std::array<std::int64_t, 5>{};
    const std::int64_t j_balance = l ? l->balance : 0;
    if (row != j || a.balance != j_balance)
      add(3, 0, Domain::point, seq, kind("row-vs-journal"),
          fmt::format("user {}: account row (balance {}: {}/{}/{}/{}/{}) differs from the journal "
                      "(balance {}: "
                      "{}/{}/{}/{}/{}) as accrued/deducted/refunded/rewarded/revoked",
                      user, a.balance, a.accrued, a.deducted, a.refunded, a.rewarded, a.revoked,
                      j_balance, j[0], j[1], j[2], j[3], j[4]));
  }
  for (auto& [user, l] : m_.points)
    if (l.sums != std::array<std::int64_t, 5>{} && m_.accounts.count(user) == 0)
      add(3, 0, Domain::point, l.last_seq, fmt::format("no-account-{}", user),
          fmt::format("user {}: the journal moves points ({}) but there is no account row", user,
                      l.balance));
  for (auto& [order, s] : m_.steps[idx(Domain::point)]) {
    if (!s.has_row) {
      add(3, order, Domain::point, s.replay.last_sequence, "no-step-row",
          "point records but no step row");
      continue;
    }
    const auto row_state = static_cast<StepState>(s.row_state);
    if (row_state != s.replay.state || s.row_flag != s.replay.reward_state ||
        (s.replay.forward > 0 && s.row_amount != s.replay.amount))
      add(3, order, Domain::point, s.replay.last_sequence, "step-row",
          fmt::format("step row says {} {} points (reward state {}), its records say {} {} (reward "
                      "state {})",
                      state_name(row_state), s.row_amount, s.row_flag, state_name(s.replay.state),
                      s.replay.amount, s.replay.reward_state));
  }
}

void Pass::evaluate_payments() {
  for (auto& [user, w] : m_.wallet_rows) {
    ++report_.wallets;
    const auto it = m_.wallets.find(user);
    const Ledger* l = it == m_.wallets.end() ? nullptr : &it->second;
    const std::uint64_t seq = l ? l->last_seq : 0;
    const auto kind = [&](std::string_view k) { return fmt::format("{}-{}", k, user); };
    const std::int64_t identity = w.deposits - w.charges + w.refunds;
    if (w.balance != identity)
      add(4, 0, Domain::payment, seq, kind("identity"),
          fmt::format("user {}: wallet balance {} but deposits {} - charges {} + refunds {} = {}",
                      user, w.balance, w.deposits, w.charges, w.refunds, identity));
    if (w.balance < 0)
      add(4, 0, Domain::payment, seq, kind("negative"),
          fmt::format("user {}: wallet {} < 0", user, w.balance));
    if (w.refunds > w.charges)
      add(4, 0, Domain::payment, seq, kind("refunds-gt-charges"),
          fmt::format("user {}: refunds {} exceed charges {}", user, w.refunds, w.charges));
    const std::int64_t jd = l ? l->sums[0] : 0, jc = l ? l->sums[1] : 0, jr = l ? l->sums[2] : 0;
    const std::int64_t jb = l ? l->balance : 0;
    if (w.deposits != jd || w.charges != jc || w.refunds != jr || w.balance != jb)
      add(4, 0, Domain::payment, seq, kind("row-vs-journal"),
          fmt::format("user {}: wallet row (balance {}, deposits {}, charges {}, refunds {}) "
                      "differs from the journal "
                      "(balance {}, deposits {}, charges {}, refunds {})",
                      user, w.balance, w.deposits, w.charges, w.refunds, jb, jd, jc, jr));
  }
  for (auto& [user, l] : m_.wallets)
    if (l.sums != std::array<std::int64_t, 5>{} && m_.wallet_rows.count(user) == 0)
      add(4, 0, Domain::payment, l.last_seq, fmt::format("no-wallet-{}", user),
          fmt::format("user {}: the journal moves money ({}) but there is no wallet row", user,
                      l.balance));
  evaluate_payment_steps();
}

// A charge whose request the order journal lost in a power loss (an order->payment EdgeSkip
// mark from before the charge's first record), for an order that was then cancelled and the
// charge given back: what the rules of docs/durability.md promise, not a violation.
bool Pass::undone_after_power_loss(const OrderFacts& order, const StepReplay& step) const {
  if (order.status != static_cast<std::uint8_t>(domains::OrderStatus::cancelled)) return false;
  if (step.state != StepState::refunded && step.state != StepState::voided) return false;
  const int edge =
      ipc::edge_index(ipc::domain_node(Domain::order), ipc::domain_node(Domain::payment), 0);
  return std::any_of(m_.edge_skips.begin(), m_.edge_skips.end(), [&](const domains::EdgeSkip& k) {
    return k.edge == static_cast<std::uint64_t>(edge) && step.first_sequence <= k.consumer_last;
  });
}

void Pass::evaluate_payment_steps() {
  for (auto& [order, s] : m_.steps[idx(Domain::payment)]) {
    if (!s.has_row) {
      add(4, order, Domain::payment, s.replay.last_sequence, "no-step-row",
          "payment records but no payments row");
      continue;
    }
    const auto row_state = static_cast<StepState>(s.row_state);
    if (row_state != s.replay.state || (s.replay.forward > 0 && s.row_amount != s.replay.amount))
      add(4, order, Domain::payment, s.replay.last_sequence, "step-row",
          fmt::format("payments row says {} {}, its records say {} {}", state_name(row_state),
                      s.row_amount, state_name(s.replay.state), s.replay.amount));
    if (s.replay.forward == 0) continue;
    auto it = m_.orders.find(order);
    if (it == m_.orders.end() || !it->second.has_row) continue;  // reported as an orphan
    if (it->second.requested_amount < 0 && undone_after_power_loss(it->second, s.replay))
      ++report_.undone_after_power_loss;
    else if (it->second.requested_amount < 0)
      add(4, order, Domain::payment, s.replay.first_sequence, "unrequested-charge",
          fmt::format("charge of {} that the order never requested", s.replay.amount));
    else if (it->second.requested_amount != s.replay.amount)
      add(4, order, Domain::payment, s.replay.first_sequence, "charge-amount",
          fmt::format("charged {}, the order requested {}", s.replay.amount,
                      it->second.requested_amount));
  }
}

void Pass::evaluate_orphans() {
  const std::array<std::pair<Domain, int>, 4> domains = {
      {{Domain::product, 1}, {Domain::coupon, 2}, {Domain::point, 3}, {Domain::payment, 4}}};
  for (const auto& [d, inv] : domains) {
    for (auto& [order, s] : m_.steps[idx(d)]) {
      auto it = m_.orders.find(order);
      if (it != m_.orders.end() && it->second.has_row) continue;
      const StepReplay& r = s.replay;
      const StepState state =
          r.state != StepState::none ? r.state : static_cast<StepState>(s.row_state);
      std::string what =
          d == Domain::payment && r.forward > 0
              ? fmt::format("a charge of {} for order {}, which the order journal does not have",
                            r.amount, order)
              : fmt::format("{} step ({}) for order {}, which the order journal does not have",
                            d == Domain::product  ? "stock"
                            : d == Domain::coupon ? "coupon"
                            : d == Domain::point  ? "points"
                                                  : "payment",
                            state_name(state), order);
      add(inv, order, d, r.first_sequence, "orphan", std::move(what));
    }
  }
  for (auto& [id, f] : m_.orders)
    if (!f.has_row && f.placed_records > 0)
      add(5, id, Domain::order, f.last_seq, "no-row", "order records but no order row");
}

}  // namespace flashsaga::tools
