#include "domains/order/order_domain.h"

#include <algorithm>

#include "domains/coupon/coupon_domain.h"
#include "domains/counters.h"
#include "engine/base/assert.h"

namespace flashsaga::domains {
namespace {

using ipc::Domain;
using ipc::Message;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::size_t timeouts_per_tick_max = drain_count_max;

bool is_done(std::uint8_t step) {
  const auto s = static_cast<StepState>(step);
  return s == StepState::applied || s == StepState::deducted || s == StepState::skipped;
}

ipc::OrderFinishedBody finished_body(const OrderRow& row) {
  ipc::OrderFinishedBody f{};
  f.user_id = row.user_id;
  f.coupon_id = row.coupon_id;
  f.paid = row.paid;
  f.reward_points = row.reward_points;
  f.item_count = row.item_count;
  f.items = row.items;
  return f;
}

template <typename Body>
Message order_message(MessageType type, Domain to, std::uint64_t order_id, const Body& body) {
  Message m = ipc::make_message(type, Domain::order, to, body);
  m.header.order_id = order_id;
  return m;
}

}  // namespace

journal::Status OrderDomain::recover(journal::Env& env, const journal::ReadTxn& txn) {
  t_orders_ = env.table("orders");
  t_pending_ = env.table("pending");
  t_live_ = env.table("live");
  t_idem_ = env.table("idem");
  t_counters_ = env.table("counters");
  journal::Status s = counter_get(txn, t_counters_, "next_order_id", next_order_id_);
  if (!s.ok()) return s;
  deadlines_.clear();
  journal::Status inner;
  s = txn.scan(t_pending_, {}, SIZE_MAX, [&](journal::Bytes key, journal::Bytes) {
    const std::uint64_t id = journal::u64_from_key(key);
    OrderRow row{};
    inner = txn.get_as(t_orders_, journal::key_u64(id), row);
    if (!inner.ok()) return false;
    FS_ASSERT(row.status == static_cast<std::uint8_t>(OrderStatus::pending));
    deadlines_.insert({row.deadline_ns, id});
    return true;
  });
  return s.ok() ? inner : s;
}

bool OrderDomain::tick_due(std::int64_t now_ns) const noexcept {
  return !deadlines_.empty() && now_ns > deadlines_.begin()->first;
}

journal::Status OrderDomain::tick(Batch& b, std::size_t* work) {
  for (std::size_t n = 0; n < timeouts_per_tick_max && tick_due(b.now_ns()); ++n) {
    const std::uint64_t id = deadlines_.begin()->second;
    OrderRow row{};
    journal::Status s = b.txn().get_as(t_orders_, journal::key_u64(id), row);
    if (!s.ok()) return s;
    FS_ASSERT(row.status == static_cast<std::uint8_t>(OrderStatus::pending));
    s = cancel(b, row, OrderReason::timeout);
    if (!s.ok()) return s;
    ++*work;
  }
  return {};
}

journal::Status OrderDomain::apply(Batch& b, const Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::place_order: return place(b, in);
    case MessageType::cancel_order: return cancel_request(b, in);
    case MessageType::coupon_applied:
    case MessageType::coupon_rejected:
    case MessageType::points_deducted:
    case MessageType::points_rejected:
    case MessageType::payment_approved:
    case MessageType::payment_declined: return step_answer(b, in);
    default: return {};  // not for us: validated, counted by the runtime, ignored
  }
}

std::int64_t OrderDomain::expected_discount(const Batch& b, std::uint64_t coupon_id, std::int64_t subtotal) const {
  const journal::ReadTxn* txn = b.peer(Domain::coupon);
  const journal::Env* env = b.peer_env(Domain::coupon);
  if (coupon_id == 0 || !txn || !env) return 0;
  CouponRow coupon{};
  if (!txn->get_as(env->table("coupons"), journal::key_u64(coupon_id), coupon).ok()) return 0;
  TemplateRow tpl{};
  if (!txn->get_as(env->table("templates"), journal::key_u64(coupon.template_id), tpl).ok()) return 0;
  return coupon_discount(tpl, subtotal);
}

journal::Status OrderDomain::reject(Batch& b, const Message& in, const ipc::PlaceOrderBody& body, OrderReason reason) {
  Event ev{};
  ev.subject = body.user_id;
  ev.other = in.header.correlation;
  ev.reason = static_cast<std::uint8_t>(reason);
  ev.state = static_cast<std::uint8_t>(OrderStatus::rejected);
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    ev.amount += body.items[i].quantity;
    b.stock_delta(body.items[i].product_id, body.items[i].quantity);  // the reservation goes back
  }
  journal::Status s = b.record(RecordType::order_rejected, 0, ev);
  if (!s.ok()) return s;
  ipc::PlaceOrderReplyBody r{};
  r.result = static_cast<std::uint8_t>(ipc::PlaceResult::rejected);
  r.reason = static_cast<std::uint8_t>(reason);
  r.status = static_cast<std::uint8_t>(OrderStatus::rejected);
  b.reply(in, order_message(MessageType::place_order_reply, Domain::port, 0, r));
  return {};
}

journal::Status OrderDomain::place(Batch& b, const Message& in) {
  const auto body = ipc::body_as<ipc::PlaceOrderBody>(in);
  // A retry of a request we already took: answer with the first order, keep nothing new.
  if (body.idempotency_key != 0) {
    std::uint64_t first = 0;
    journal::Status s = b.txn().get_as(t_idem_, journal::key_u64(body.idempotency_key), first);
    if (s.ok()) {
      OrderRow row{};
      s = b.txn().get_as(t_orders_, journal::key_u64(first), row);
      if (!s.ok()) return s;
      for (std::uint32_t i = 0; i < body.item_count; ++i)
        b.stock_delta(body.items[i].product_id, body.items[i].quantity);
      ipc::PlaceOrderReplyBody r{};
      r.result = static_cast<std::uint8_t>(ipc::PlaceResult::duplicate);
      r.status = row.status;
      b.reply(in, order_message(MessageType::place_order_reply, Domain::port, first, r));
      return {};
    }
    if (s.code() != journal::ErrorCode::not_found) return s;
  }

  const journal::ReadTxn* users = b.peer(Domain::user);
  const journal::Env* user_env = b.peer_env(Domain::user);
  if (!users || !user_env) return reject(b, in, body, OrderReason::unavailable);
  UserRow user{};
  journal::Status s = users->get_as(user_env->table("users"), journal::key_u64(body.user_id), user);
  if (s.code() == journal::ErrorCode::not_found) return reject(b, in, body, OrderReason::unknown_user);
  if (!s.ok()) return reject(b, in, body, OrderReason::unavailable);
  if (user.blocked != 0) return reject(b, in, body, OrderReason::blocked_user);

  // Per-customer limit: units in this user's live orders of each product, plus this order's.
  const journal::ReadTxn* products = b.peer(Domain::product);
  const journal::Env* product_env = b.peer_env(Domain::product);
  std::int64_t subtotal = 0;
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    const ipc::LineItem& item = body.items[i];
    subtotal += item.unit_price * item.quantity;
    if (!products || !product_env) continue;
    ProductRow product{};
    if (!products->get_as(product_env->table("products"), journal::key_u64(item.product_id), product).ok())
      return reject(b, in, body, OrderReason::unknown_product);
    if (product.max_per_user == 0) continue;
    std::int64_t units = 0;
    for (std::uint32_t j = 0; j < body.item_count; ++j)
      if (body.items[j].product_id == item.product_id) units += body.items[j].quantity;
    std::int64_t live = 0;
    s = b.txn().get_as(t_live_, journal::key_u64_u64(body.user_id, item.product_id), live);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) return s;
    if (live + units > product.max_per_user) return reject(b, in, body, OrderReason::limit_exceeded);
  }

  OrderRow row{};
  row.id = ++next_order_id_;
  row.user_id = body.user_id;
  row.coupon_id = body.coupon_id;
  row.idempotency_key = body.idempotency_key;
  row.points_requested = body.points_requested;
  row.subtotal = subtotal;
  const std::int64_t discount_cap = expected_discount(b, body.coupon_id, subtotal);
  row.points_to_use = std::clamp<std::int64_t>(subtotal - discount_cap, 0, body.points_requested);
  row.created_ns = b.now_ns();
  row.updated_ns = b.now_ns();
  row.deadline_ns = b.now_ns() + options_.step_timeout_ms * 1'000'000;
  row.status = static_cast<std::uint8_t>(OrderStatus::pending);
  row.step_stock = static_cast<std::uint8_t>(StepState::reserved);
  row.step_coupon = static_cast<std::uint8_t>(row.coupon_id != 0 ? StepState::pending : StepState::skipped);
  row.step_points = static_cast<std::uint8_t>(row.points_to_use > 0 ? StepState::pending : StepState::skipped);
  row.step_payment = static_cast<std::uint8_t>(StepState::none);
  row.item_count = body.item_count;
  row.items = body.items;

  if (!(s = counter_put(b.txn(), t_counters_, "next_order_id", next_order_id_)).ok()) return s;
  if (!(s = save(b, row)).ok()) return s;
  if (!(s = b.txn().put(t_pending_, journal::key_u64(row.id), {})).ok()) return s;
  if (!(s = change_live(b, row, +1)).ok()) return s;
  if (row.idempotency_key != 0 &&
      !(s = b.txn().put_as(t_idem_, journal::key_u64(row.idempotency_key), row.id)).ok())
    return s;
  if (!(s = b.record(RecordType::order_pending, row.id, row)).ok()) return s;
  deadlines_.insert({row.deadline_ns, row.id});

  ipc::OrderPlacedBody placed{};
  placed.user_id = row.user_id;
  placed.coupon_id = row.coupon_id;
  placed.points_to_use = row.points_to_use;
  placed.subtotal = row.subtotal;
  placed.item_count = row.item_count;
  placed.items = row.items;
  b.send(Domain::product, order_message(MessageType::order_placed, Domain::product, row.id, placed));
  if (row.coupon_id != 0)
    b.send(Domain::coupon, order_message(MessageType::order_placed, Domain::coupon, row.id, placed));
  if (row.points_to_use > 0)
    b.send(Domain::point, order_message(MessageType::order_placed, Domain::point, row.id, placed));

  ipc::PlaceOrderReplyBody r{};
  r.result = static_cast<std::uint8_t>(ipc::PlaceResult::accepted);
  r.status = row.status;
  b.reply(in, order_message(MessageType::place_order_reply, Domain::port, row.id, r));
  return maybe_request_payment(b, row);
}

journal::Status OrderDomain::step_answer(Batch& b, const Message& in) {
  OrderRow row{};
  journal::Status s = b.txn().get_as(t_orders_, journal::key_u64(in.header.order_id), row);
  if (s.code() == journal::ErrorCode::not_found) return {};  // not ours: ignore
  if (!s.ok()) return s;
  if (row.status != static_cast<std::uint8_t>(OrderStatus::pending)) return {};  // too late
  const auto type = static_cast<MessageType>(in.header.type);
  row.updated_ns = b.now_ns();
  switch (type) {
    case MessageType::coupon_applied: {
      if (row.step_coupon != static_cast<std::uint8_t>(StepState::pending)) return {};
      const auto a = ipc::body_as<ipc::CouponAppliedBody>(in);
      row.step_coupon = static_cast<std::uint8_t>(StepState::applied);
      row.discount = std::clamp<std::int64_t>(a.discount, 0, row.subtotal);
      if (!(s = record_step(b, row, OrderStep::coupon, StepState::applied, row.discount, OrderReason::none)).ok())
        return s;
      if (!(s = save(b, row)).ok()) return s;
      return maybe_request_payment(b, row);
    }
    case MessageType::points_deducted: {
      if (row.step_points != static_cast<std::uint8_t>(StepState::pending)) return {};
      row.step_points = static_cast<std::uint8_t>(StepState::deducted);
      row.points_used = ipc::body_as<ipc::PointsDeductedBody>(in).amount;
      if (!(s = record_step(b, row, OrderStep::points, StepState::deducted, row.points_used, OrderReason::none)).ok())
        return s;
      if (!(s = save(b, row)).ok()) return s;
      return maybe_request_payment(b, row);
    }
    case MessageType::payment_approved: {
      if (row.step_payment != static_cast<std::uint8_t>(StepState::pending)) return {};
      row.step_payment = static_cast<std::uint8_t>(StepState::approved);
      const std::int64_t amount = ipc::body_as<ipc::PaymentApprovedBody>(in).amount;
      if (!(s = record_step(b, row, OrderStep::payment, StepState::approved, amount, OrderReason::none)).ok())
        return s;
      return complete(b, row);
    }
    case MessageType::coupon_rejected:
    case MessageType::points_rejected:
    case MessageType::payment_declined: {
      const auto reason = static_cast<OrderReason>(ipc::body_as<ipc::StepRejectedBody>(in).reason);
      OrderStep step = OrderStep::payment;
      StepState state = StepState::declined;
      std::uint8_t* field = &row.step_payment;
      if (type == MessageType::coupon_rejected) {
        step = OrderStep::coupon;
        state = StepState::rejected;
        field = &row.step_coupon;
      } else if (type == MessageType::points_rejected) {
        step = OrderStep::points;
        state = StepState::rejected;
        field = &row.step_points;
      }
      if (*field != static_cast<std::uint8_t>(StepState::pending)) return {};
      *field = static_cast<std::uint8_t>(state);
      if (!(s = record_step(b, row, step, state, 0, reason)).ok()) return s;
      return cancel(b, row, reason);
    }
    default: return {};
  }
}

journal::Status OrderDomain::cancel_request(Batch& b, const Message& in) {
  const auto body = ipc::body_as<ipc::CancelOrderBody>(in);
  auto reason = static_cast<OrderReason>(body.reason);
  if (reason != OrderReason::cancelled_by_operator) reason = OrderReason::cancelled_by_customer;
  ipc::PlaceOrderReplyBody r{};
  OrderRow row{};
  journal::Status s = b.txn().get_as(t_orders_, journal::key_u64(in.header.order_id), row);
  if (s.code() == journal::ErrorCode::not_found) {
    r.result = static_cast<std::uint8_t>(ipc::PlaceResult::not_found);
    b.reply(in, order_message(MessageType::cancel_order_reply, Domain::port, in.header.order_id, r));
    return {};
  }
  if (!s.ok()) return s;
  const auto status = static_cast<OrderStatus>(row.status);
  if (status == OrderStatus::pending || status == OrderStatus::completed) {
    if (!(s = cancel(b, row, reason)).ok()) return s;
    r.result = static_cast<std::uint8_t>(ipc::PlaceResult::accepted);
  } else {
    r.result = static_cast<std::uint8_t>(ipc::PlaceResult::already_final);
  }
  r.status = row.status;
  r.reason = row.reason;
  b.reply(in, order_message(MessageType::cancel_order_reply, Domain::port, row.id, r));
  return {};
}

journal::Status OrderDomain::maybe_request_payment(Batch& b, OrderRow& row) {
  if (row.step_payment != static_cast<std::uint8_t>(StepState::none)) return {};
  if (!is_done(row.step_coupon) || !is_done(row.step_points)) return {};
  const std::int64_t paid = row.subtotal - row.discount - row.points_used;
  if (paid < 0) {
    // The coupon gave more than the discount the points were capped by; the template cannot
    // change, so this only happens if a peer journal was unreadable at placement. Refuse
    // rather than pay a negative amount.
    return cancel(b, row, OrderReason::coupon_invalid);
  }
  row.paid = paid;
  row.step_payment = static_cast<std::uint8_t>(StepState::pending);
  row.updated_ns = b.now_ns();
  journal::Status s = save(b, row);
  if (!s.ok()) return s;
  Event ev{};
  ev.subject = row.user_id;
  ev.amount = paid;
  ev.extra = row.discount;
  ev.balance = row.points_used;
  ev.state = static_cast<std::uint8_t>(StepState::pending);
  if (!(s = b.record(RecordType::order_payment_requested, row.id, ev)).ok()) return s;
  b.send(Domain::payment, order_message(MessageType::payment_requested, Domain::payment, row.id,
                                        ipc::PaymentRequestedBody{row.user_id, paid}));
  return {};
}

journal::Status OrderDomain::complete(Batch& b, OrderRow& row) {
  deadlines_.erase({row.deadline_ns, row.id});
  row.status = static_cast<std::uint8_t>(OrderStatus::completed);
  row.step_stock = static_cast<std::uint8_t>(StepState::sold);
  row.reward_points = row.paid * options_.reward_rate_bp / 10'000;
  row.updated_ns = b.now_ns();
  journal::Status s = save(b, row);
  if (!s.ok()) return s;
  if (!(s = b.txn().del(t_pending_, journal::key_u64(row.id))).ok()) return s;
  Event ev{};
  ev.subject = row.user_id;
  ev.amount = row.paid;
  ev.extra = row.reward_points;
  ev.state = row.status;
  if (!(s = b.record(RecordType::order_completed, row.id, ev)).ok()) return s;
  const ipc::OrderFinishedBody f = finished_body(row);
  b.send(Domain::product, order_message(MessageType::order_completed, Domain::product, row.id, f));
  if (row.coupon_id != 0)
    b.send(Domain::coupon, order_message(MessageType::order_completed, Domain::coupon, row.id, f));
  if (row.reward_points > 0)
    b.send(Domain::point, order_message(MessageType::order_completed, Domain::point, row.id, f));
  return {};
}

journal::Status OrderDomain::cancel(Batch& b, OrderRow& row, OrderReason reason) {
  const bool was_completed = row.status == static_cast<std::uint8_t>(OrderStatus::completed);
  journal::Status s;
  if (!was_completed) {
    deadlines_.erase({row.deadline_ns, row.id});
    if (!(s = b.txn().del(t_pending_, journal::key_u64(row.id))).ok()) return s;
  }
  row.status = static_cast<std::uint8_t>(OrderStatus::cancelled);
  row.reason = static_cast<std::uint8_t>(reason);
  row.was_completed = was_completed ? 1 : 0;
  row.step_stock = static_cast<std::uint8_t>(StepState::released);
  row.updated_ns = b.now_ns();
  if (!(s = save(b, row)).ok()) return s;
  if (!(s = change_live(b, row, -1)).ok()) return s;
  Event ev{};
  ev.subject = row.user_id;
  ev.amount = row.paid;
  ev.extra = row.was_completed;
  ev.state = row.status;
  ev.reason = row.reason;
  if (!(s = b.record(RecordType::order_cancelled, row.id, ev)).ok()) return s;
  ipc::OrderFinishedBody f = finished_body(row);
  f.reason = row.reason;
  f.was_completed = row.was_completed;
  // Every domain that may have done something for this order hears of it; each one's gate
  // decides from its own journal what, if anything, to undo.
  b.send(Domain::product, order_message(MessageType::order_cancelled, Domain::product, row.id, f));
  b.send(Domain::payment, order_message(MessageType::order_cancelled, Domain::payment, row.id, f));
  if (row.coupon_id != 0)
    b.send(Domain::coupon, order_message(MessageType::order_cancelled, Domain::coupon, row.id, f));
  if (row.points_to_use > 0 || (was_completed && row.reward_points > 0))
    b.send(Domain::point, order_message(MessageType::order_cancelled, Domain::point, row.id, f));
  return {};
}

journal::Status OrderDomain::save(Batch& b, const OrderRow& row) {
  return b.txn().put_as(t_orders_, journal::key_u64(row.id), row);
}

journal::Status OrderDomain::record_step(Batch& b, const OrderRow& row, OrderStep step, StepState state,
                                         std::int64_t amount, OrderReason reason) {
  Event ev{};
  ev.subject = row.user_id;
  ev.other = static_cast<std::uint64_t>(step);
  ev.amount = amount;
  ev.state = static_cast<std::uint8_t>(state);
  ev.reason = static_cast<std::uint8_t>(reason);
  return b.record(RecordType::order_step, row.id, ev);
}

journal::Status OrderDomain::change_live(Batch& b, const OrderRow& row, std::int64_t sign) {
  for (std::uint32_t i = 0; i < row.item_count; ++i) {
    const auto key = journal::key_u64_u64(row.user_id, row.items[i].product_id);
    std::int64_t live = 0;
    journal::Status s = b.txn().get_as(t_live_, key, live);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) return s;
    live += sign * row.items[i].quantity;
    FS_ASSERT(live >= 0);
    s = live == 0 ? b.txn().del(t_live_, key) : b.txn().put_as(t_live_, key, live);
    if (!s.ok() && s.code() != journal::ErrorCode::not_found) return s;
  }
  return {};
}

}  // namespace flashsaga::domains
