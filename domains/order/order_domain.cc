#include "domains/order/order_domain.h"

#include <algorithm>

#include "domains/coupon/coupon_domain.h"
#include "engine/base/assert.h"

namespace flashsaga::domains {
namespace {

using ipc::Domain;
using ipc::Message;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::uint16_t tag_orders = 0;
constexpr std::uint16_t tag_pending = 1;
constexpr std::uint16_t tag_live = 2;
constexpr std::uint16_t tag_idem = 3;
constexpr std::size_t timeouts_per_tick_max = drain_count_max;
constexpr std::size_t placed_per_batch_reserve = 4 * drain_count_max;

bool is_done(std::uint8_t step) {
  const auto s = static_cast<StepState>(step);
  return s == StepState::applied || s == StepState::deducted || s == StepState::skipped;
}

bool is_pending(const OrderRow& row) {
  return row.status == static_cast<std::uint8_t>(OrderStatus::pending);
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
  Message m = ipc::make_message(type, Domain::order, to, body, ipc::stamp_at_seal);
  m.header.order_id = order_id;
  return m;
}

void reply_place(Batch& b, const Message& in, MessageType type, std::uint64_t order_id,
                 ipc::PlaceResult result, std::uint8_t status, std::uint8_t reason = 0) {
  ipc::PlaceOrderReplyBody r{};
  r.result = static_cast<std::uint8_t>(result);
  r.status = status;
  r.reason = reason;
  b.reply(in, order_message(type, Domain::port, order_id, r));
}

}  // namespace

OrderDomain::OrderDomain(const OrderOptions& options) : options_(options), orders_(options.window) {
  placed_.reserve(placed_per_batch_reserve);
}

journal::Status OrderDomain::load(const journal::Env& view, const journal::ReadTxn& txn) {
  orders_.bind(tag_orders, view.table("orders"));
  pending_ids_.bind(tag_pending, view.table("pending"));
  live_.bind(tag_live, view.table("live"));
  idem_.bind(tag_idem, view.table("idem"));
  if (journal::Status s = orders_.load(txn); !s.ok()) return s;
  if (journal::Status s = live_.load(txn); !s.ok()) return s;
  if (journal::Status s = idem_.load(txn); !s.ok()) return s;
  next_order_id_ = orders_.high_id();
  std::vector<std::uint64_t> ids;
  if (journal::Status s = pending_ids_.load(txn, ids); !s.ok()) return s;
  deadlines_.clear();
  restored_.clear();
  for (std::uint64_t id : ids) {
    OrderRow row{};
    const bool found = orders_.get(txn, id, row);
    FS_ASSERT(found);  // a pending id always has its order row
    FS_ASSERT(is_pending(row));
    restored_.push_back({row.deadline_ns, id});
  }
  pending_ = ids.size();
  placed_.clear();
  return {};
}

bool OrderDomain::tick_due(std::int64_t mono_ns) const noexcept {
  return !restored_.empty() || (!deadlines_.empty() && mono_ns > deadlines_.front().first);
}

std::int64_t OrderDomain::next_due_ns() const noexcept {
  if (!restored_.empty()) return 0;  // now
  return deadlines_.empty() ? INT64_MAX : deadlines_.front().first + 1;
}

void OrderDomain::restore_deadlines(const Batch& b) {
  const std::int64_t timeout_ns = options_.step_timeout_ms * 1'000'000;
  const std::int64_t since =
      stopped_at_ns_ != 0 ? std::min(stopped_at_ns_, b.now_ns()) : b.now_ns();
  for (const auto& [wall_deadline, id] : restored_) {
    const std::int64_t left = std::clamp<std::int64_t>(wall_deadline - since, 0, timeout_ns);
    deadlines_.push_back({b.mono_ns() + left, id});
  }
  restored_.clear();
  std::sort(deadlines_.begin(), deadlines_.end());
}

void OrderDomain::forgive_own_stall(const Batch& b) {
  const std::int64_t timeout_ns = options_.step_timeout_ms * 1'000'000;
  const std::int64_t previous_tick = last_tick_mono_ns_;
  last_tick_mono_ns_ = b.mono_ns();
  if (deadlines_.empty()) return;
  // Not a stall: a tick came after the first deadline fell due (a backlog of timeouts being
  // worked through, a tick at a time), or the deadline is only a little overdue.
  const std::int64_t due = deadlines_.front().first;
  const std::int64_t late = b.mono_ns() - due;
  if (previous_tick >= due || late <= timeout_ns / 4) return;
  // Shifting every entry by the same amount and flooring them at one instant keeps the order.
  for (auto& [deadline, id] : deadlines_)
    deadline = std::max(deadline + late, b.mono_ns() + timeout_ns);
}

std::size_t OrderDomain::tick(Batch& b) {
  std::size_t work = 0;
  if (!restored_.empty()) restore_deadlines(b);
  forgive_own_stall(b);
  for (std::size_t n = 0; n < timeouts_per_tick_max && tick_due(b.mono_ns()); ++n) {
    const std::uint64_t id = deadlines_.front().second;
    deadlines_.pop_front();
    OrderRow row{};
    if (!orders_.get(b, id, row) || !is_pending(row)) continue;  // ended meanwhile
    cancel(b, row, OrderReason::timeout);
    ++work;
  }
  send_reservations(b);
  return work;
}

void OrderDomain::send_reservations(Batch& b) {
  // One message per up to reservations_per_message_max products, an order never split; each
  // says every order up to its last one is counted.
  ipc::ReservationsBody body{};
  const auto flush = [&](std::uint64_t last_order_id) {
    if (body.count == 0) return;
    body.last_order_id = last_order_id;
    b.send(Domain::product, order_message(MessageType::reservations, Domain::product, 0, body));
    body = ipc::ReservationsBody{};
  };
  std::uint64_t last_in_body = 0;
  for (const Placed& p : placed_) {
    std::uint8_t fresh = 0;  // products of this order not yet in the body
    for (std::uint32_t i = 0; i < p.item_count; ++i) {
      bool seen = false;
      for (std::uint8_t k = 0; k < body.count && !seen; ++k)
        seen = body.products[k].product_id == p.items[i].product_id;
      for (std::uint32_t j = 0; j < i && !seen; ++j)
        seen = p.items[j].product_id == p.items[i].product_id;
      fresh += seen ? 0 : 1;
    }
    if (body.count + fresh > ipc::reservations_per_message_max) flush(last_in_body);
    for (std::uint32_t i = 0; i < p.item_count; ++i) {
      std::uint8_t k = 0;
      while (k < body.count && body.products[k].product_id != p.items[i].product_id) ++k;
      if (k == body.count) body.products[body.count++].product_id = p.items[i].product_id;
      body.products[k].units += p.items[i].quantity;
    }
    last_in_body = p.id;
  }
  flush(last_in_body);
  placed_.clear();
}

void OrderDomain::apply(Batch& b, const Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::place_order:
      return place(b, in);
    case MessageType::cancel_order:
      return cancel_request(b, in);
    case MessageType::coupon_applied:
    case MessageType::coupon_rejected:
    case MessageType::points_deducted:
    case MessageType::points_rejected:
    case MessageType::payment_approved:
    case MessageType::payment_declined:
      return step_answer(b, in);
    default:
      return;  // not for us: validated, counted by the runtime, ignored
  }
}

std::int64_t OrderDomain::expected_discount(const Batch& b, std::uint64_t coupon_id,
                                            std::int64_t subtotal) const {
  const journal::ReadTxn* txn = b.peer(Domain::coupon);
  const journal::Env* env = b.peer_env(Domain::coupon);
  if (coupon_id == 0 || !txn || !env) return 0;
  CouponRow coupon{};
  if (!txn->get_as(env->table("coupons"), journal::key_u64(coupon_id), coupon).ok()) return 0;
  TemplateRow tpl{};
  if (!txn->get_as(env->table("templates"), journal::key_u64(coupon.template_id), tpl).ok())
    return 0;
  return coupon_discount(tpl, subtotal);
}

void OrderDomain::reject(Batch& b, const Message& in, const ipc::PlaceOrderBody& body,
                         OrderReason reason) {
  Event ev{};
  ev.subject = body.user_id;
  ev.other = in.header.correlation;
  ev.reason = static_cast<std::uint8_t>(reason);
  ev.state = static_cast<std::uint8_t>(OrderStatus::rejected);
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    ev.amount += body.items[i].quantity;
    b.stock_add(body.items[i].product_id, body.items[i].quantity);  // the reservation goes back
  }
  b.record(RecordType::order_rejected, 0, ev);
  reply_place(b, in, MessageType::place_order_reply, 0, ipc::PlaceResult::rejected,
              static_cast<std::uint8_t>(OrderStatus::rejected), static_cast<std::uint8_t>(reason));
}

// A retry of a request we already took: answer with the first order, keep nothing new.
bool OrderDomain::replay_duplicate(Batch& b, const Message& in, const ipc::PlaceOrderBody& body) {
  if (body.idempotency_key == 0) return false;
  std::uint64_t first = 0;
  if (!idem_.get(b, Key2{body.idempotency_key, 0}, first)) return false;
  OrderRow row{};
  const bool found = orders_.get(b, first, row);
  FS_ASSERT(found);  // an idempotency key is stored with its order
  for (std::uint32_t i = 0; i < body.item_count; ++i)
    b.stock_add(body.items[i].product_id, body.items[i].quantity);
  reply_place(b, in, MessageType::place_order_reply, first, ipc::PlaceResult::duplicate,
              row.status);
  return true;
}

// The checks before the 202: the user, every product, the per-customer limit. False when the
// order was rejected (the reply and the give-back are done).
bool OrderDomain::admit(Batch& b, const Message& in, const ipc::PlaceOrderBody& body,
                        std::int64_t* subtotal, std::uint8_t* counted) {
  const journal::ReadTxn* users = b.peer(Domain::user);
  const journal::Env* user_env = b.peer_env(Domain::user);
  OrderReason refusal = OrderReason::none;
  UserRow user{};
  if (!users || !user_env) {
    refusal = OrderReason::unavailable;
  } else if (journal::Status s =
                 users->get_as(user_env->table("users"), journal::key_u64(body.user_id), user);
             !s.ok()) {
    refusal = s.code() == journal::ErrorCode::not_found ? OrderReason::unknown_user
                                                        : OrderReason::unavailable;
  } else if (user.blocked != 0) {
    refusal = OrderReason::blocked_user;
  }
  const journal::ReadTxn* products = b.peer(Domain::product);
  const journal::Env* product_env = b.peer_env(Domain::product);
  *subtotal = 0;
  for (std::uint32_t i = 0; i < body.item_count && refusal == OrderReason::none; ++i) {
    const ipc::LineItem& item = body.items[i];
    *subtotal += item.unit_price * item.quantity;
    if (!products || !product_env) continue;
    ProductRow product{};
    if (!products
             ->get_as(product_env->table("products"), journal::key_u64(item.product_id), product)
             .ok()) {
      refusal = OrderReason::unknown_product;
      break;
    }
    if (product.max_per_user == 0) continue;
    *counted |= static_cast<std::uint8_t>(1u << i);
    std::int64_t units = 0;
    for (std::uint32_t j = 0; j < body.item_count; ++j)
      if (body.items[j].product_id == item.product_id) units += body.items[j].quantity;
    std::int64_t live = 0;
    live_.get(b, Key2{body.user_id, item.product_id}, live);
    if (live + units > product.max_per_user) refusal = OrderReason::limit_exceeded;
  }
  if (refusal == OrderReason::none) return true;
  reject(b, in, body, refusal);
  return false;
}

void OrderDomain::place(Batch& b, const Message& in) {
  const auto body = ipc::body_as<ipc::PlaceOrderBody>(in);
  if (replay_duplicate(b, in, body)) return;
  std::int64_t subtotal = 0;
  std::uint8_t counted = 0;
  if (!admit(b, in, body, &subtotal, &counted)) return;

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
  row.step_coupon =
      static_cast<std::uint8_t>(row.coupon_id != 0 ? StepState::pending : StepState::skipped);
  row.step_points =
      static_cast<std::uint8_t>(row.points_to_use > 0 ? StepState::pending : StepState::skipped);
  row.step_payment = static_cast<std::uint8_t>(StepState::none);
  row.item_count = body.item_count;
  row.items = body.items;
  row.counted_items = counted;

  pending_ids_.put(b, row.id);
  ++pending_;
  change_live(b, row, +1);
  if (row.idempotency_key != 0) idem_.put(b, Key2{row.idempotency_key, 0}, row.id);
  b.record(RecordType::order_pending, row.id, row);
  deadlines_.push_back({b.mono_ns() + options_.step_timeout_ms * 1'000'000, row.id});
  placed_.push_back(Placed{row.id, row.item_count, row.items});

  ipc::OrderPlacedBody placed{};
  placed.user_id = row.user_id;
  placed.coupon_id = row.coupon_id;
  placed.points_to_use = row.points_to_use;
  placed.subtotal = row.subtotal;
  placed.item_count = row.item_count;
  placed.items = row.items;
  if (row.coupon_id != 0)
    b.send(Domain::coupon,
           order_message(MessageType::order_placed, Domain::coupon, row.id, placed));
  if (row.points_to_use > 0)
    b.send(Domain::point, order_message(MessageType::order_placed, Domain::point, row.id, placed));
  reply_place(b, in, MessageType::place_order_reply, row.id, ipc::PlaceResult::accepted,
              row.status);
  maybe_request_payment(b, row);  // saves the row
  if (row.step_payment == static_cast<std::uint8_t>(StepState::none)) save(b, row);
}

void OrderDomain::step_answer(Batch& b, const Message& in) {
  OrderRow row{};
  if (!orders_.get(b, in.header.order_id, row)) return;  // not ours: ignore
  if (!is_pending(row)) return;                          // too late
  const auto type = static_cast<MessageType>(in.header.type);
  row.updated_ns = b.now_ns();
  switch (type) {
    case MessageType::coupon_applied: {
      if (row.step_coupon != static_cast<std::uint8_t>(StepState::pending)) return;
      const auto a = ipc::body_as<ipc::CouponAppliedBody>(in);
      row.step_coupon = static_cast<std::uint8_t>(StepState::applied);
      row.discount = std::clamp<std::int64_t>(a.discount, 0, row.subtotal);
      record_step(b, row, OrderStep::coupon, StepState::applied, row.discount, OrderReason::none);
      save(b, row);
      return maybe_request_payment(b, row);
    }
    case MessageType::points_deducted: {
      if (row.step_points != static_cast<std::uint8_t>(StepState::pending)) return;
      row.step_points = static_cast<std::uint8_t>(StepState::deducted);
      row.points_used = ipc::body_as<ipc::PointsDeductedBody>(in).amount;
      record_step(b, row, OrderStep::points, StepState::deducted, row.points_used,
                  OrderReason::none);
      save(b, row);
      return maybe_request_payment(b, row);
    }
    case MessageType::payment_approved: {
      if (row.step_payment != static_cast<std::uint8_t>(StepState::pending)) return;
      row.step_payment = static_cast<std::uint8_t>(StepState::approved);
      const std::int64_t amount = ipc::body_as<ipc::PaymentApprovedBody>(in).amount;
      record_step(b, row, OrderStep::payment, StepState::approved, amount, OrderReason::none);
      return complete(b, row);
    }
    case MessageType::coupon_rejected:
    case MessageType::points_rejected:
    case MessageType::payment_declined:
      return step_refused(b, row, type, in);
    default:
      return;
  }
}

void OrderDomain::step_refused(Batch& b, OrderRow& row, MessageType type, const Message& in) {
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
  if (*field != static_cast<std::uint8_t>(StepState::pending)) return;
  *field = static_cast<std::uint8_t>(state);
  record_step(b, row, step, state, 0, reason);
  cancel(b, row, reason);
}

void OrderDomain::cancel_request(Batch& b, const Message& in) {
  const auto body = ipc::body_as<ipc::CancelOrderBody>(in);
  auto reason = static_cast<OrderReason>(body.reason);
  if (reason != OrderReason::cancelled_by_operator) reason = OrderReason::cancelled_by_customer;
  OrderRow row{};
  if (!orders_.get(b, in.header.order_id, row)) {
    return reply_place(b, in, MessageType::cancel_order_reply, in.header.order_id,
                       ipc::PlaceResult::not_found, 0);
  }
  const auto status = static_cast<OrderStatus>(row.status);
  ipc::PlaceResult result = ipc::PlaceResult::already_final;
  if (status == OrderStatus::pending || status == OrderStatus::completed) {
    cancel(b, row, reason);
    result = ipc::PlaceResult::accepted;
  }
  reply_place(b, in, MessageType::cancel_order_reply, row.id, result, row.status, row.reason);
}

void OrderDomain::maybe_request_payment(Batch& b, OrderRow& row) {
  if (row.step_payment != static_cast<std::uint8_t>(StepState::none)) return;
  if (!is_done(row.step_coupon) || !is_done(row.step_points)) return;
  const std::int64_t paid = row.subtotal - row.discount - row.points_used;
  if (paid < 0) {
    // The coupon gave more than the discount the points were capped by; the template cannot
    // change, so this only happens if a peer view was unreadable at placement. Refuse rather
    // than pay a negative amount.
    return cancel(b, row, OrderReason::coupon_invalid);
  }
  row.paid = paid;
  row.step_payment = static_cast<std::uint8_t>(StepState::pending);
  row.updated_ns = b.now_ns();
  save(b, row);
  Event ev{};
  ev.subject = row.user_id;
  ev.amount = paid;
  ev.extra = row.discount;
  ev.balance = row.points_used;
  ev.state = static_cast<std::uint8_t>(StepState::pending);
  b.record(RecordType::order_payment_requested, row.id, ev);
  b.send(Domain::payment, order_message(MessageType::payment_requested, Domain::payment, row.id,
                                        ipc::PaymentRequestedBody{row.user_id, paid}));
}

void OrderDomain::complete(Batch& b, OrderRow& row) {
  row.status = static_cast<std::uint8_t>(OrderStatus::completed);
  row.step_stock = static_cast<std::uint8_t>(StepState::sold);
  row.reward_points = row.paid * options_.reward_rate_bp / 10'000;
  row.updated_ns = b.now_ns();
  save(b, row);
  pending_ids_.del(b, row.id);
  --pending_;
  Event ev{};
  ev.subject = row.user_id;
  ev.amount = row.paid;
  ev.extra = row.reward_points;
  ev.state = row.status;
  b.record(RecordType::order_completed, row.id, ev);
  const ipc::OrderFinishedBody f = finished_body(row);
  b.send(Domain::product, order_message(MessageType::order_completed, Domain::product, row.id, f));
  if (row.coupon_id != 0)
    b.send(Domain::coupon, order_message(MessageType::order_completed, Domain::coupon, row.id, f));
  if (row.reward_points > 0)
    b.send(Domain::point, order_message(MessageType::order_completed, Domain::point, row.id, f));
}

void OrderDomain::cancel(Batch& b, OrderRow& row, OrderReason reason) {
  const bool was_completed = row.status == static_cast<std::uint8_t>(OrderStatus::completed);
  if (!was_completed) {
    pending_ids_.del(b, row.id);  // its deadline entry is skipped when it comes up
    --pending_;
  }
  row.status = static_cast<std::uint8_t>(OrderStatus::cancelled);
  row.reason = static_cast<std::uint8_t>(reason);
  row.was_completed = was_completed ? 1 : 0;
  row.step_stock = static_cast<std::uint8_t>(StepState::released);
  row.updated_ns = b.now_ns();
  save(b, row);
  change_live(b, row, -1);
  Event ev{};
  ev.subject = row.user_id;
  ev.amount = row.paid;
  ev.extra = row.was_completed;
  ev.state = row.status;
  ev.reason = row.reason;
  b.record(RecordType::order_cancelled, row.id, ev);
  ipc::OrderFinishedBody f = finished_body(row);
  f.reason = row.reason;
  f.was_completed = row.was_completed;
  // An order placed in this very batch (a cancel right behind its PlaceOrder): the product
  // domain must count its reservation before it hears of the cancel.
  if (!placed_.empty() && row.id >= placed_.front().id) send_reservations(b);
  // Every domain that may have done something for this order hears of it; each one's gate
  // decides from its own journal what, if anything, to undo.
  b.send(Domain::product, order_message(MessageType::order_cancelled, Domain::product, row.id, f));
  b.send(Domain::payment, order_message(MessageType::order_cancelled, Domain::payment, row.id, f));
  if (row.coupon_id != 0)
    b.send(Domain::coupon, order_message(MessageType::order_cancelled, Domain::coupon, row.id, f));
  if (row.points_to_use > 0 || (was_completed && row.reward_points > 0))
    b.send(Domain::point, order_message(MessageType::order_cancelled, Domain::point, row.id, f));
}

void OrderDomain::record_step(Batch& b, const OrderRow& row, OrderStep step, StepState state,
                              std::int64_t amount, OrderReason reason) {
  Event ev{};
  ev.subject = row.user_id;
  ev.other = static_cast<std::uint64_t>(step);
  ev.amount = amount;
  ev.state = static_cast<std::uint8_t>(state);
  ev.reason = static_cast<std::uint8_t>(reason);
  b.record(RecordType::order_step, row.id, ev);
}

void OrderDomain::change_live(Batch& b, const OrderRow& row, std::int64_t sign) {
  for (std::uint32_t i = 0; i < row.item_count; ++i) {
    if ((row.counted_items & (1u << i)) == 0) continue;  // no limit: nothing to count
    const Key2 key{row.user_id, row.items[i].product_id};
    std::int64_t live = 0;
    live_.get(b, key, live);
    live += sign * row.items[i].quantity;
    FS_ASSERT(live >= 0);
    if (live == 0) {
      live_.del(b, key);
    } else {
      live_.put(b, key, live);
    }
  }
}

}  // namespace flashsaga::domains
