// Reading the six journals' records (and the order journal's outbox) into the Model: running
// balances and stock, each order's steps replayed through the step tables, the bulk
// reservations, and what the order domain sent that its consumers have not applied yet.
#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <limits>

#include "tools/check/pass.h"

namespace flashsaga::tools {

using domains::CouponRow;
using domains::CouponState;
using domains::Event;
using domains::OrderRow;
using domains::OrderStatus;
using domains::PaymentMethod;
using domains::ProductRow;
using domains::RecordType;
using domains::StepState;
using domains::TemplateRow;
using ipc::Domain;

namespace {

std::string_view type_name(RecordType t) {
  return domains::record_type_name(t);
}

// A field of a stored message (outbox entries are stored without their zero tail).
template <typename T>
T message_field(const journal::Entry& e, std::size_t offset) {
  T v{};
  if (offset + sizeof v <= e.stored.size()) std::memcpy(&v, e.stored.data() + offset, sizeof v);
  return v;
}

}  // namespace

bool Pass::record_problem(Domain d, const journal::RecordView& r, std::string& problem) {
  const auto type = static_cast<RecordType>(r.header.type);
  if (!record_type_known(r.header.type)) {
    problem = fmt::format(
        "{} journal: record {} has type {}, which this flashsaga does not know (written by a newer "
        "version?)",
        ipc::domain_name(d), r.sequence, r.header.type);
    return true;
  }
  if (!payload_size_ok(type, r.payload.size())) {
    problem = fmt::format(
        "{} journal: record {} ({}) has a {}-byte payload, expected {} (run `flashsaga journal "
        "verify`)",
        ipc::domain_name(d), r.sequence, type_name(type), r.payload.size(), payload_size_for(type));
    return true;
  }
  const Domain owner = domains::record_domain(type);
  if (owner != d && owner != Domain::none) {
    problem =
        fmt::format("{} journal: record {} is a {} record, which only the {} domain writes",
                    ipc::domain_name(d), r.sequence, type_name(type), ipc::domain_name(owner));
    return true;
  }
  return false;
}

bool Pass::read_records(Domain d, const RecordFn& fn, bool with_outbox) {
  std::string problem;
  std::uint64_t count = 0;
  journal::Status inner;
  journal::Status s = snap(d).journal.batches(
      1, std::numeric_limits<std::size_t>::max(), [&](const journal::BatchView& b) {
        bool stopped = false;
        inner = journal::for_each_record(
            b, 1,
            [&](const journal::RecordView& r) {
              ++count;
              if (record_problem(d, r, problem)) return false;
              const auto type = static_cast<RecordType>(r.header.type);
              if (type == RecordType::batch_note)
                return true;  // a batch without an event of its own
              if (!record_carries_event(type)) {
                fn(r, nullptr);
                return true;
              }
              Event e;
              std::memcpy(&e, r.payload.data(), sizeof e);
              if (type == RecordType::message_invalid) {
                report_.invalid_messages.push_back(
                    {d, r.sequence, e.subject, static_cast<std::uint16_t>(e.other), e.reason});
                return true;
              }
              fn(r, &e);
              return true;
            },
            &stopped);
        if (inner.ok() && !stopped && with_outbox) on_order_outbox(b);
        return inner.ok() && !stopped;
      });
  report_.records[idx(d)] = count;
  if (s.ok()) s = inner;
  if (!s.ok())
    return fail(fmt::format("{} journal: {} (run `flashsaga journal verify`)", ipc::domain_name(d),
                            s.message()));
  if (!problem.empty()) return fail(problem);
  return true;
}

void Pass::step_record(Domain d, int inv, const journal::RecordView& r, const Event& e) {
  const std::uint64_t order = r.header.order_id;
  const auto type = static_cast<RecordType>(r.header.type);
  if (order == 0) {
    add(inv, 0, d, r.sequence, "no-order",
        fmt::format("{} record without an order id", type_name(type)));
    return;
  }
  DomainStep& step = m_.steps[idx(d)][order];
  // The stock step of an order the bulk counts cover starts reserved.
  if (d == Domain::product && step.replay.first_sequence == 0 && order <= m_.reservations.through)
    replay_reserved(step.replay);
  const std::uint32_t items =
      step.has_row && step.item_count > 0 ? step.item_count : line_items_max;
  std::string wrong = replay_step(step.replay, type, e, r.sequence, items);
  if (!wrong.empty())
    add(inv, order, d, r.sequence, fmt::format("seq-{}", type_name(type)), std::move(wrong));
}

// --- point, payment ----------------------------------------------------------------------------

void Pass::on_point_record(const journal::RecordView& r, const Event& e) {
  const auto type = static_cast<RecordType>(r.header.type);
  Ledger& l = m_.points[e.subject];
  l.last_seq = r.sequence;
  // accrued deducted refunded rewarded revoked, and whether each adds or takes
  constexpr std::array<std::pair<RecordType, int>, 5> moves = {
      {{RecordType::points_accrued, 1},
       {RecordType::points_deducted, -1},
       {RecordType::points_refunded, 1},
       {RecordType::points_rewarded, 1},
       {RecordType::points_reward_revoked, -1}}};
  std::int64_t delta = 0;
  for (std::size_t k = 0; k < moves.size(); ++k) {
    if (moves[k].first != type) continue;
    l.sums[k] += e.amount;
    delta = moves[k].second * e.amount;
  }
  l.balance += delta;
  const std::uint64_t order = r.header.order_id;
  if (e.amount < 0)
    add(3, order, Domain::point, r.sequence, "negative-amount",
        fmt::format("{} moves a negative amount ({})", type_name(type), e.amount));
  if (e.balance != l.balance)
    add(3, order, Domain::point, r.sequence, "running-balance",
        fmt::format("user {}: {} says the balance is {}, the journal adds up to {}", e.subject,
                    type_name(type), e.balance, l.balance));
  if (l.balance < 0)
    add(3, order, Domain::point, r.sequence, "negative-balance",
        fmt::format("user {}: the point balance goes negative ({})", e.subject, l.balance));
  if (type != RecordType::points_accrued) step_record(Domain::point, 3, r, e);
}

void Pass::on_payment_record(const journal::RecordView& r, const Event& e) {
  const auto type = static_cast<RecordType>(r.header.type);
  const auto wallet = static_cast<std::int64_t>(PaymentMethod::wallet);
  Ledger& l = m_.wallets[e.subject];
  // deposits, charges and refunds by wallet (a PG charge moves no wallet)
  int k = -1, sign = 1;
  if (type == RecordType::wallet_deposited) k = 0;
  if (type == RecordType::payment_approved && e.extra == wallet && e.amount > 0) {
    k = 1;
    sign = -1;
  }
  if (type == RecordType::payment_refunded && e.extra == wallet && e.amount > 0) k = 2;
  const bool moved = k >= 0;
  if (moved) {
    l.sums[static_cast<std::size_t>(k)] += e.amount;
    l.balance += sign * e.amount;
  }
  if (type == RecordType::payment_approved) report_.money_charged += e.amount;
  if (type == RecordType::payment_refunded) report_.money_refunded += e.amount;
  const std::uint64_t order = r.header.order_id;
  if (moved) {
    l.last_seq = r.sequence;
    if (e.amount < 0)
      add(4, order, Domain::payment, r.sequence, "negative-amount",
          fmt::format("{} moves a negative amount ({})", type_name(type), e.amount));
    if (e.balance != l.balance)
      add(4, order, Domain::payment, r.sequence, "running-balance",
          fmt::format("user {}: {} says the wallet holds {}, the journal adds up to {}", e.subject,
                      type_name(type), e.balance, l.balance));
    if (l.balance < 0)
      add(4, order, Domain::payment, r.sequence, "negative-balance",
          fmt::format("user {}: the wallet goes negative ({})", e.subject, l.balance));
  }
  if (type != RecordType::wallet_deposited) step_record(Domain::payment, 4, r, e);
}

// --- product -----------------------------------------------------------------------------------

void Pass::on_product_row_record(const journal::RecordView& r) {
  const auto type = static_cast<RecordType>(r.header.type);
  ProductRow p;
  std::memcpy(&p, r.payload.data(), sizeof p);
  ProductFacts& f = m_.products[p.id];
  f.last_seq = r.sequence;
  if (type == RecordType::product_created) {
    if (++f.created_records > 1)
      add(1, 0, Domain::product, r.sequence, fmt::format("created-twice-{}", p.id),
          fmt::format("product {} created twice", p.id));
    f.j_total = p.total;
    f.j_stock = p.total;
  } else if (p.total != f.j_total) {
    add(1, 0, Domain::product, r.sequence, fmt::format("update-total-{}", p.id),
        fmt::format("product {}: product_updated carries total {}, the journal says {}", p.id,
                    p.total, f.j_total));
  }
}

void Pass::on_reservation(const journal::RecordView& r, const Event& e, ProductFacts& f) {
  Reservations& res = m_.reservations;
  if (r.header.order_id != 0)
    add(1, r.header.order_id, Domain::product, r.sequence, "reserved-per-order",
        fmt::format("stock_reserved names order {}: reservations are counted in bulk (order id 0)",
                    r.header.order_id));
  if (e.other < res.through)
    add(1, 0, Domain::product, r.sequence, fmt::format("reservations-order-{}", r.sequence),
        fmt::format(
            "stock_reserved counts orders up to {} after a count up to {} (bulk counts go up)",
            e.other, res.through));
  if (e.amount <= 0)
    add(1, 0, Domain::product, r.sequence, fmt::format("reserved-units-{}", r.sequence),
        fmt::format("stock_reserved of {} units of product {}", e.amount, e.subject));
  if (e.other >= res.through) {
    res.through = e.other;
    res.through_seq = r.sequence;
  }
  f.j_reservations += e.amount;
  f.j_reserved += e.amount;
}

// A sale or a release of one order's line item, and what it does to the product's counters.
void Pass::on_stock_record(const journal::RecordView& r, const Event& e, ProductFacts& f) {
  const std::uint64_t order = r.header.order_id;
  step_record(Domain::product, 1, r, e);
  if (static_cast<RecordType>(r.header.type) == RecordType::stock_sold) {
    f.j_reserved -= e.amount;
    f.j_sold += e.amount;
    return;
  }
  // A release gives back from where its move started: reserved, or sold (a refund).
  const DomainStep* step = order != 0 ? step_of(Domain::product, order) : nullptr;
  const StepState origin = step != nullptr ? step->replay.phase_from : StepState::none;
  if (origin == StepState::sold)
    f.j_sold -= e.amount;
  else if (origin == StepState::reserved)
    f.j_reserved -= e.amount;
}

void Pass::on_product_record(const journal::RecordView& r, const Event& e) {
  const auto type = static_cast<RecordType>(r.header.type);
  if (type == RecordType::stock_cancelled_before_apply) {
    add(1, r.header.order_id, Domain::product, r.sequence, "gate",
        "stock_cancelled_before_apply: the product domain never closes a gate (an order's "
        "reservation comes first)");
    return;
  }
  ProductFacts& f = m_.products[e.subject];
  f.last_seq = r.sequence;
  if (f.created_records == 0)
    add(1, r.header.order_id, Domain::product, r.sequence, fmt::format("uncreated-{}", e.subject),
        fmt::format("{} for product {}, which was never created", type_name(type), e.subject));
  const auto total_problem = [&](std::string_view kind, std::string_view verb) {
    if (e.balance != f.j_total)
      add(1, 0, Domain::product, r.sequence, fmt::format("{}-{}", kind, e.subject),
          fmt::format("product {}: {} total {}, the journal adds up to {}", e.subject, verb,
                      e.balance, f.j_total));
  };
  switch (type) {
    case RecordType::product_restocked:
      f.j_total += e.amount;
      f.j_stock += e.amount;
      if (e.amount <= 0)
        add(1, 0, Domain::product, r.sequence, fmt::format("restock-{}", e.subject),
            fmt::format("product {} restocked by {} units", e.subject, e.amount));
      return total_problem("restock-total", "restock says");
    case RecordType::stock_reconciled:
      return total_problem("reconcile-total", "reconciliation saw");
    case RecordType::lease_out:
    case RecordType::lease_in: {  // leases move units between cells' totals (docs/cells.md)
      const bool leaves = type == RecordType::lease_out;
      f.j_total += leaves ? -e.amount : e.amount;
      if (e.amount <= 0)
        add(1, 0, Domain::product, r.sequence, fmt::format("lease-{}-{}", e.subject, r.sequence),
            fmt::format("product {}: {} of {} units", e.subject, type_name(type), e.amount));
      return total_problem("lease-total", type_name(type));
    }
    case RecordType::stock_reserved:
      on_reservation(r, e, f);
      break;
    case RecordType::stock_sold:
    case RecordType::stock_released:
      on_stock_record(r, e, f);
      break;
    default:
      return;
  }
  const std::int64_t available = f.j_total - f.j_reserved - f.j_sold;
  const std::uint64_t order = r.header.order_id;
  if (e.balance != available)
    add(1, order, Domain::product, r.sequence,
        fmt::format("available-{}-{}", e.subject, r.sequence),
        fmt::format("product {}: {} says {} available, the journal adds up to {}", e.subject,
                    type_name(type), e.balance, available));
  if (available < 0)
    add(1, order, Domain::product, r.sequence, fmt::format("oversold-{}-{}", e.subject, r.sequence),
        fmt::format("product {} oversold: {} units reserved or sold of a total of {}", e.subject,
                    f.j_reserved + f.j_sold, f.j_total));
}

// --- coupon ------------------------------------------------------------------------------------

void Pass::on_coupon_row_record(const journal::RecordView& r) {
  if (static_cast<RecordType>(r.header.type) == RecordType::coupon_template_created) {
    TemplateRow t;
    std::memcpy(&t, r.payload.data(), sizeof t);
    TemplateFacts& f = m_.templates[t.id];
    f.last_seq = r.sequence;
    if (++f.created_records > 1)
      add(2, 0, Domain::coupon, r.sequence, fmt::format("template-twice-{}", t.id),
          fmt::format("coupon template {} created twice", t.id));
    return;
  }
  CouponRow c;
  std::memcpy(&c, r.payload.data(), sizeof c);
  CouponFacts& f = m_.coupons[c.id];
  f.last_seq = r.sequence;
  f.template_id = c.template_id;
  f.user_id = c.user_id;
  f.j_state = static_cast<std::uint8_t>(CouponState::available);
  TemplateFacts& t = m_.templates[c.template_id];
  t.issued_records += 1;
  t.last_seq = r.sequence;
  if (++f.issued_records > 1)
    add(2, 0, Domain::coupon, r.sequence, fmt::format("issued-twice-{}", c.id),
        fmt::format("coupon {} issued twice", c.id));
  if (t.created_records == 0)
    add(2, 0, Domain::coupon, r.sequence, fmt::format("issued-uncreated-{}", c.id),
        fmt::format("coupon {} issued from template {}, which was never created", c.id,
                    c.template_id));
  if (t.row.quantity > 0 && t.issued_records > t.row.quantity)
    add(2, 0, Domain::coupon, r.sequence, fmt::format("over-issued-{}", c.template_id),
        fmt::format("template {} issued {} coupons, more than its quantity {}", c.template_id,
                    t.issued_records, t.row.quantity));
}

void Pass::on_coupon_record(const journal::RecordView& r, const Event& e) {
  const auto type = static_cast<RecordType>(r.header.type);
  const std::uint64_t order = r.header.order_id;
  step_record(Domain::coupon, 2, r, e);
  if (type == RecordType::coupon_rejected || type == RecordType::coupon_cancelled_before_apply)
    return;
  auto it = m_.coupons.find(e.subject);
  if (it == m_.coupons.end() || it->second.issued_records == 0) {
    add(2, order, Domain::coupon, r.sequence, "unissued",
        fmt::format("{} for coupon {}, which was never issued", type_name(type), e.subject));
    return;
  }
  CouponFacts& f = it->second;
  f.last_seq = r.sequence;
  const auto held = static_cast<std::uint8_t>(CouponState::held);
  const auto used = static_cast<std::uint8_t>(CouponState::used);
  const auto available = static_cast<std::uint8_t>(CouponState::available);
  if (type == RecordType::coupon_applied) {
    if (f.j_holder != 0 && f.j_holder != order)
      add(2, order, Domain::coupon, r.sequence, "double-hold",
          fmt::format("coupon {} applied to order {} while order {} holds it ({})", e.subject,
                      order, f.j_holder, f.j_state == used ? "used" : "held"));
    else if (f.j_state != available)
      add(2, order, Domain::coupon, r.sequence, "apply-unavailable",
          fmt::format("coupon {} applied although it is not available", e.subject));
    f.j_holder = order;
    f.j_state = held;
  } else if (type == RecordType::coupon_used) {
    if (f.j_holder != order || f.j_state != held)
      add(2, order, Domain::coupon, r.sequence, "use-unheld",
          fmt::format("coupon {} used by order {}, which does not hold it (holder {})", e.subject,
                      order, f.j_holder));
    f.j_holder = order;
    f.j_state = used;
  } else if (type == RecordType::coupon_released) {
    if (f.j_holder != order) {
      add(2, order, Domain::coupon, r.sequence, "release-unheld",
          fmt::format("coupon {} released by order {}, which does not hold it (holder {})",
                      e.subject, order, f.j_holder));
      return;
    }
    f.j_holder = 0;
    f.j_state = available;
  }
}

// --- order -------------------------------------------------------------------------------------

void Pass::on_order_placed(const journal::RecordView& r, OrderFacts& f) {
  const std::uint64_t id = r.header.order_id;
  if (++f.placed_records > 1)
    add(5, id, Domain::order, r.sequence, "placed-twice", fmt::format("order {} placed twice", id));
  f.placed_seq = r.sequence;
  f.j_status = static_cast<std::uint8_t>(OrderStatus::pending);
  m_.reservations.orders_max = std::max(m_.reservations.orders_max, id);
  if (id > m_.reservations.through) return;
  // The bulk counts the product domain journaled cover this order: its units are in them.
  OrderRow o;
  std::memcpy(&o, r.payload.data(), sizeof o);
  for (std::uint32_t i = 0; i < o.item_count && i < line_items_max; ++i)
    if (auto p = m_.products.find(o.items[i].product_id); p != m_.products.end())
      p->second.order_units += o.items[i].quantity;
}

void Pass::on_order_record(const journal::RecordView& r, const Event* e) {
  const auto type = static_cast<RecordType>(r.header.type);
  const std::uint64_t id = r.header.order_id;
  if (type == RecordType::order_rejected) {
    ++report_.rejected;
    return;
  }
  if (id == 0) {
    add(5, 0, Domain::order, r.sequence, "no-order",
        fmt::format("{} record without an order id", type_name(type)));
    return;
  }
  OrderFacts& f = m_.orders[id];
  f.last_seq = r.sequence;
  const auto pending = static_cast<std::uint8_t>(OrderStatus::pending);
  const auto completed = static_cast<std::uint8_t>(OrderStatus::completed);
  const auto status_name = [&] {
    return domains::order_status_name(static_cast<OrderStatus>(f.j_status));
  };
  switch (type) {
    case RecordType::order_pending:
      return on_order_placed(r, f);
    case RecordType::order_payment_requested:
      if (f.requested_amount >= 0)
        add(4, id, Domain::order, r.sequence, "requested-twice",
            "payment requested twice for the order");
      f.requested_amount = e->amount;
      f.requested_seq = r.sequence;
      return;
    case RecordType::order_completed:
      if (f.j_status != pending)
        add(5, id, Domain::order, r.sequence, "complete-from",
            fmt::format("order completed from status {}", status_name()));
      f.j_status = completed;
      f.completed_paid = e->amount;
      f.finished_seq = r.sequence;
      return;
    case RecordType::order_cancelled:
      if (f.j_status != pending && f.j_status != completed)
        add(5, id, Domain::order, r.sequence, "cancel-from",
            fmt::format("order cancelled from status {}", status_name()));
      if ((e->extra == 1) != (f.j_status == completed))
        add(5, id, Domain::order, r.sequence, "cancel-was-completed",
            fmt::format("order_cancelled says was_completed={}, but the order was {}", e->extra,
                        status_name()));
      f.j_was_completed = f.j_status == completed ? 1 : 0;
      f.j_status = static_cast<std::uint8_t>(OrderStatus::cancelled);
      f.finished_seq = r.sequence;
      return;
    default:
      return;  // order_step: the order's view of each answer; the row keeps the last
  }
}

// Messages the order domain committed that their consumer has not applied yet: in flight.
void Pass::on_order_outbox(const journal::BatchView& b) {
  (void)journal::for_each_entry(b, journal::Section::outbox, [&](const journal::Entry& e) {
    const auto to = static_cast<Domain>(
        message_field<std::uint8_t>(e, offsetof(ipc::MessageHeader, destination)));
    if (idx(to) >= m_.inbox.size()) return;
    const auto& inbox = m_.inbox[idx(to)];
    const auto it = inbox.find(e.tag);
    const std::uint64_t applied = it == inbox.end() ? 0 : it->second;
    if (message_field<std::uint64_t>(e, offsetof(ipc::MessageHeader, sequence)) <= applied) return;
    const auto order = message_field<std::uint64_t>(e, offsetof(ipc::MessageHeader, order_id));
    if (order != 0) m_.outbox_inflight.insert(order * 8 + idx(to));
    const auto type = message_field<std::uint16_t>(e, offsetof(ipc::MessageHeader, type));
    if (to == Domain::product &&
        type == static_cast<std::uint16_t>(ipc::MessageType::reservations)) {
      const auto last = message_field<std::uint64_t>(
          e, offsetof(ipc::Message, body) + offsetof(ipc::ReservationsBody, last_order_id));
      m_.reservations.in_flight = std::max(m_.reservations.in_flight, last);
    }
  });
}

// --- the six journals --------------------------------------------------------------------------

bool Pass::read_user_journal() {
  return read_records(Domain::user, [](const journal::RecordView&, const Event*) {});
}

bool Pass::read_point_journal() {
  return read_records(Domain::point, [&](const journal::RecordView& r, const Event* e) {
    if (e != nullptr) on_point_record(r, *e);
  });
}

bool Pass::read_product_journal() {
  return read_records(Domain::product, [&](const journal::RecordView& r, const Event* e) {
    if (e == nullptr)
      on_product_row_record(r);
    else
      on_product_record(r, *e);
  });
}

bool Pass::read_coupon_journal() {
  return read_records(Domain::coupon, [&](const journal::RecordView& r, const Event* e) {
    if (e == nullptr)
      on_coupon_row_record(r);
    else
      on_coupon_record(r, *e);
  });
}

bool Pass::read_payment_journal() {
  return read_records(Domain::payment, [&](const journal::RecordView& r, const Event* e) {
    if (e != nullptr) on_payment_record(r, *e);
  });
}

bool Pass::read_order_journal() {
  return read_records(
      Domain::order, [&](const journal::RecordView& r, const Event* e) { on_order_record(r, e); },
      true);
}

bool Pass::read() {
  // Order last: every effect in the other journals has its cause in the order snapshot.
  for (Domain d : journal_domains) {
    if (journal::Status s = take_snapshot(d, envs_[idx(d)], snaps_[idx(d)]); !s.ok())
      return fail(s.message());
    report_.view_positions[idx(d)] = snaps_[idx(d)].position.last_sequence;
  }
  // Cursors first: the order journal's outbox is judged against every consumer's inbox.
  for (Domain d : journal_domains)
    if (!read_cursors(d)) return false;
  return read_user_rows() && read_user_journal() && read_point_rows() && read_point_journal() &&
         read_product_rows() && read_product_journal() && read_coupon_rows() &&
         read_coupon_journal() && read_payment_rows() && read_payment_journal() &&
         read_order_rows() && read_order_journal();
}

}  // namespace flashsaga::tools
