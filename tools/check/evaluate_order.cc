// Each order against its row, its records and the four steps (invariants 5 and 6).
#include <fmt/format.h>

#include "tools/check/pass.h"

namespace flashsaga::tools {

using domains::OrderStatus;
using domains::StepState;
using ipc::Domain;

namespace {

constexpr std::array<Domain, 4> step_domains = {Domain::product, Domain::coupon, Domain::point,
                                                Domain::payment};

std::string_view state_name(StepState s) {
  return domains::step_state_name(s);
}

std::string_view step_noun(Domain d) {
  switch (d) {
    case Domain::product:
      return "stock";
    case Domain::coupon:
      return "coupon";
    case Domain::point:
      return "points";
    case Domain::payment:
      return "payment";
    default:
      return "step";
  }
}

}  // namespace

const DomainStep* Pass::step_of(Domain d, std::uint64_t order) const {
  const auto& steps = m_.steps[idx(d)];
  const auto it = steps.find(order);
  return it == steps.end() ? nullptr : &it->second;
}

// The stock step as the product journal has it: replayed from its records, or `reserved` for
// an order the bulk counts cover and no record names yet.
StepState Pass::stock_state(std::uint64_t order) const {
  const DomainStep* s = step_of(Domain::product, order);
  if (s != nullptr && s->replay.first_sequence != 0) return s->replay.state;
  return order <= m_.reservations.through ? StepState::reserved : StepState::none;
}

bool Pass::in_flight(std::uint64_t order, const OrderFacts& f, Domain d) const {
  if (opt_.require_terminal) return false;
  if (m_.outbox_inflight.count(order * 8 + idx(d)) != 0) return true;
  // Not counted by the product domain yet, but the count that covers it is on its way.
  if (d == Domain::product && order > m_.reservations.through && order <= m_.reservations.in_flight)
    return true;
  return f.updated_ns >= now_ - opt_.inflight_grace_ns;
}

// A step the order is still waiting on: in flight while young or in the outbox, else a finding.
void Pass::not_yet(std::uint64_t id, const OrderFacts& f, Domain d, std::string_view kind,
                   std::string what) {
  if (in_flight(id, f, d)) {
    ++report_.inflight;
    return;
  }
  const DomainStep* s = step_of(d, id);
  add(5, id, d, s != nullptr ? s->replay.last_sequence : 0, kind, std::move(what));
}

void Pass::order_against_row(std::uint64_t id, const OrderFacts& f) {
  const auto status = static_cast<OrderStatus>(f.status);
  const auto status_name = domains::order_status_name(status);
  if (f.placed_records == 0)
    add(5, id, Domain::order, f.last_seq, "no-pending-record",
        "order row without its order_pending record");
  if (f.j_status != f.status)
    add(5, id, Domain::order, f.last_seq, "row-vs-journal",
        fmt::format("order row says {}, its records say {}", status_name,
                    domains::order_status_name(static_cast<OrderStatus>(f.j_status))));
  if (f.in_pending_table != (status == OrderStatus::pending))
    add(5, id, Domain::order, f.last_seq, "pending-table",
        fmt::format("order is {} but {} the pending table", status_name,
                    f.in_pending_table ? "in" : "not in"));
  if (status == OrderStatus::cancelled && f.was_completed != f.j_was_completed)
    add(5, id, Domain::order, f.finished_seq, "was-completed",
        "row and journal disagree on whether it had completed");
}

void Pass::pending_order(std::uint64_t id, const OrderFacts& f) {
  if (opt_.require_terminal)
    add(5, id, Domain::order, f.last_seq, "not-terminal",
        "order is still PENDING (--require-terminal)");
  else if (f.deadline_ns != 0 && f.deadline_ns < now_ - opt_.inflight_grace_ns)
    ++report_.overdue;
  for (Domain d : step_domains) {
    const DomainStep* s = step_of(d, id);
    if (s == nullptr ||
        (s->replay.compensations == 0 && s->replay.state != StepState::cancelled_before_apply))
      continue;
    add(5, id, d, s->replay.last_sequence, "compensated-live",
        fmt::format("{} step compensated ({}) although the order is PENDING", step_noun(d),
                    state_name(s->replay.state)));
  }
}

void Pass::completed_order(std::uint64_t id, const OrderFacts& f) {
  const auto compensated = [&](Domain d) {
    const DomainStep* s = step_of(d, id);
    return s != nullptr &&
           (s->replay.compensations > 0 || s->replay.state == StepState::cancelled_before_apply);
  };
  const auto state_of = [&](Domain d) {
    const DomainStep* s = step_of(d, id);
    return s != nullptr ? s->replay.state : StepState::none;
  };
  const auto seq_of = [&](Domain d) {
    const DomainStep* s = step_of(d, id);
    return s != nullptr ? s->replay.last_sequence : 0;
  };
  for (Domain d : step_domains)
    if (compensated(d))
      add(5, id, d, seq_of(d), "compensated-completed",
          fmt::format("{} step compensated ({}) although the order is COMPLETED", step_noun(d),
                      state_name(state_of(d))));
  const StepState stock = stock_state(id);
  if (stock != StepState::sold && !compensated(Domain::product))
    not_yet(id, f, Domain::product, "completed-stock",
            fmt::format("order COMPLETED but its stock is {} (never sold)", state_name(stock)));
  const StepState pay = state_of(Domain::payment);
  if (pay != StepState::approved && !compensated(Domain::payment))
    add(5, id, Domain::payment, seq_of(Domain::payment), "completed-unpaid",
        fmt::format("order COMPLETED but its payment is {} (never approved)", state_name(pay)));
  if (f.coupon_id != 0) {
    const DomainStep* c = step_of(Domain::coupon, id);
    if (state_of(Domain::coupon) != StepState::applied && !compensated(Domain::coupon))
      add(5, id, Domain::coupon, seq_of(Domain::coupon), "completed-coupon",
          fmt::format("order COMPLETED with coupon {} but its coupon step is {}", f.coupon_id,
                      state_name(state_of(Domain::coupon))));
    else if (c != nullptr && c->replay.state == StepState::applied && !c->replay.used)
      not_yet(id, f, Domain::coupon, "completed-coupon-unused",
              fmt::format("order COMPLETED but coupon {} is still held, not used", f.coupon_id));
  }
  if (f.points_to_use > 0 && state_of(Domain::point) != StepState::deducted &&
      !compensated(Domain::point))
    add(5, id, Domain::point, seq_of(Domain::point), "completed-points",
        fmt::format("order COMPLETED using {} points but its point step is {}", f.points_to_use,
                    state_name(state_of(Domain::point))));
}

void Pass::cancelled_order(std::uint64_t id, const OrderFacts& f) {
  for (Domain d : step_domains) {
    const DomainStep* s = step_of(d, id);
    const StepState state = d == Domain::product ? stock_state(id)
                            : s != nullptr       ? s->replay.state
                                                 : StepState::none;
    StepReplay at;
    at.state = state;
    if (!step_needs_compensation(d, at)) continue;
    const bool paid = d == Domain::payment && state == StepState::approved;
    not_yet(id, f, d, "missing-compensation",
            fmt::format("order CANCELLED but its {} step is still {}{}: compensation missing",
                        step_noun(d), state_name(state),
                        paid ? fmt::format(" ({} charged)", s->replay.amount) : ""));
  }
  const DomainStep* p = step_of(Domain::point, id);
  if (f.was_completed == 1 && p != nullptr && p->replay.reward_state == 1 && p->replay.reward > 0)
    not_yet(
        id, f, Domain::point, "missing-revoke",
        fmt::format("refunded order's reward of {} points was never revoked", p->replay.reward));
}

// Invariant 6: what a completed order paid.
void Pass::order_money(std::uint64_t id, const OrderFacts& f) {
  const std::int64_t expected = f.subtotal - f.discount - f.points_used;
  if (f.items_subtotal != f.subtotal)
    add(6, id, Domain::order, f.finished_seq, "subtotal",
        fmt::format("subtotal {} but its items add up to {}", f.subtotal, f.items_subtotal));
  if (f.paid != expected)
    add(6, id, Domain::order, f.finished_seq, "paid",
        fmt::format("paid {} but subtotal {} - discount {} - points {} = {}", f.paid, f.subtotal,
                    f.discount, f.points_used, expected));
  if (f.paid < 0)
    add(6, id, Domain::order, f.finished_seq, "negative-paid", fmt::format("paid {} < 0", f.paid));
  if (f.completed_paid >= 0 && f.completed_paid != f.paid)
    add(6, id, Domain::order, f.finished_seq, "completed-record",
        fmt::format("order_completed says paid {}, the row says {}", f.completed_paid, f.paid));
  if (f.requested_amount >= 0 && f.requested_amount != f.paid)
    add(6, id, Domain::order, f.requested_seq, "requested",
        fmt::format("payment requested {}, the order paid {}", f.requested_amount, f.paid));
  if (const DomainStep* pay = step_of(Domain::payment, id); pay != nullptr) {
    if (pay->has_row && pay->row_amount != f.paid)
      add(6, id, Domain::payment, pay->replay.last_sequence, "payment-row",
          fmt::format("payment row says {}, the order paid {}", pay->row_amount, f.paid));
    if (pay->replay.forward > 0 && pay->replay.amount != f.paid)
      add(6, id, Domain::payment, pay->replay.last_sequence, "payment-record",
          fmt::format("payment_approved charged {}, the order paid {}", pay->replay.amount,
                      f.paid));
  }
  if (const DomainStep* c = step_of(Domain::coupon, id);
      c != nullptr && c->replay.forward > 0 && c->replay.amount != f.discount)
    add(6, id, Domain::coupon, c->replay.last_sequence, "discount",
        fmt::format("coupon step gave a discount of {}, the order counted {}", c->replay.amount,
                    f.discount));
  if (const DomainStep* p = step_of(Domain::point, id);
      p != nullptr && p->replay.forward > 0 && p->replay.amount != f.points_used)
    add(6, id, Domain::point, p->replay.last_sequence, "points-used",
        fmt::format("point step deducted {}, the order counted {}", p->replay.amount,
                    f.points_used));
}

void Pass::evaluate_order(std::uint64_t id, const OrderFacts& f) {
  order_against_row(id, f);
  const auto status = static_cast<OrderStatus>(f.status);
  if (status == OrderStatus::pending) return pending_order(id, f);
  if (status == OrderStatus::completed) completed_order(id, f);
  if (status == OrderStatus::cancelled) cancelled_order(id, f);
  if (status == OrderStatus::completed ||
      (status == OrderStatus::cancelled && f.was_completed == 1))
    order_money(id, f);
}

void Pass::evaluate_orders() {
  for (auto& [id, f] : m_.orders) {
    if (!f.has_row) continue;
    ++report_.orders;
    switch (static_cast<OrderStatus>(f.status)) {
      case OrderStatus::pending:
        ++report_.pending;
        break;
      case OrderStatus::completed:
        ++report_.completed;
        break;
      case OrderStatus::cancelled:
        ++report_.cancelled;
        if (f.was_completed) ++report_.refunded_orders;
        break;
      default:
        add(5, id, Domain::order, f.last_seq, "status",
            fmt::format("order row with status {}", f.status));
        continue;
    }
    evaluate_order(id, f);
  }
}

}  // namespace flashsaga::tools
