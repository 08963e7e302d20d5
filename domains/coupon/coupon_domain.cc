#include "domains/coupon/coupon_domain.h"

#include <algorithm>

#include "domains/counters.h"
#include "engine/base/assert.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::CouponKind;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::string_view table_templates = "templates";
constexpr std::string_view table_coupons = "coupons";
constexpr std::string_view table_holders = "holders";
constexpr std::string_view table_by_user = "by_user";
constexpr std::string_view table_steps = "steps";
constexpr std::string_view counter_next_template_id = "next_template_id";
constexpr std::string_view counter_next_coupon_id = "next_coupon_id";
constexpr std::int64_t percent_max = 100;

bool name_valid(std::string_view name) noexcept {
  if (name.empty() || name.size() > name_size_bytes) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// The field at fault in a template, or 0 when it is valid.
std::uint16_t template_fault(const ipc::CreateCouponTemplateBody& b) noexcept {
  if (b.kind != static_cast<std::uint8_t>(CouponKind::fixed) &&
      b.kind != static_cast<std::uint8_t>(CouponKind::percent)) {
    return CouponDomain::field_kind;
  }
  const std::int64_t value_max =
      b.kind == static_cast<std::uint8_t>(CouponKind::fixed) ? money_max : percent_max;
  if (b.value < 1 || b.value > value_max) return CouponDomain::field_value;
  if (b.max_discount < 0 || b.max_discount > money_max) return CouponDomain::field_max_discount;
  if (b.min_order_amount < 0) return CouponDomain::field_min_order_amount;
  if (b.expires_at_ns < 0) return CouponDomain::field_expires_at;
  if (b.quantity < 0) return CouponDomain::field_quantity;
  if (!name_valid(b.name.view())) return CouponDomain::field_name;
  return 0;
}

Event coupon_event(const CouponRow& coupon, StepState state) {
  Event e{};
  e.subject = coupon.id;
  e.other = coupon.template_id;
  e.state = static_cast<std::uint8_t>(state);
  return e;
}

}  // namespace

std::int64_t coupon_discount(const TemplateRow& tpl, std::int64_t subtotal) noexcept {
  if (subtotal <= 0) return 0;
  std::int64_t discount = 0;
  if (tpl.kind == static_cast<std::uint8_t>(CouponKind::percent)) {
    // floor(subtotal * value / 100) without forming the product, which could overflow.
    const std::int64_t value = std::clamp<std::int64_t>(tpl.value, 0, percent_max);
    discount = (subtotal / percent_max) * value + (subtotal % percent_max) * value / percent_max;
  } else {
    discount = std::max<std::int64_t>(tpl.value, 0);
  }
  if (tpl.max_discount > 0) discount = std::min(discount, tpl.max_discount);
  return std::min(discount, subtotal);
}

std::vector<std::string> CouponDomain::tables() const {
  return {std::string(table_templates), std::string(table_coupons), std::string(table_holders),
          std::string(table_by_user), std::string(table_steps)};
}

journal::Status CouponDomain::recover(journal::Env& env, const journal::ReadTxn& txn) {
  (void)txn;  // nothing in memory: every decision reads its rows in the batch
  templates_ = env.table(table_templates);
  coupons_ = env.table(table_coupons);
  holders_ = env.table(table_holders);
  by_user_ = env.table(table_by_user);
  steps_ = env.table(table_steps);
  counters_ = env.table("counters");
  return {};
}

journal::Status CouponDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::create_coupon_template: return create_template(batch, in);
    case MessageType::issue_coupon: return issue(batch, in);
    case MessageType::order_placed: return on_order_placed(batch, in);
    case MessageType::order_completed: return on_order_completed(batch, in);
    case MessageType::order_cancelled: return on_order_cancelled(batch, in);
    default: return {};  // not for this domain: nothing to do
  }
}

journal::Status CouponDomain::next_id(Batch& batch, std::string_view counter,
                                      std::uint64_t* id) const {
  std::uint64_t next = 0;
  journal::Status s = counter_get(batch.txn(), counters_, counter, next);
  if (!s.ok() && s.code() != journal::ErrorCode::not_found) return s;
  *id = next == 0 ? 1 : next;  // absent or zero: the sequence starts at 1
  return counter_put(batch.txn(), counters_, counter, *id + 1);
}

journal::Status CouponDomain::load_step(const journal::ReadTxn& txn, std::uint64_t order_id,
                                        CouponStep& out, bool* found) const {
  out = CouponStep{};
  *found = false;
  journal::Status s = txn.get_as(steps_, journal::key_u64(order_id), out);
  if (s.code() == journal::ErrorCode::not_found) {
    out = CouponStep{};
    return {};
  }
  if (!s.ok()) return s;
  *found = true;
  return {};
}

journal::Status CouponDomain::create_template(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::CreateCouponTemplateBody>(in);
  if (const std::uint16_t field = template_fault(body); field != 0) {
    batch.reply_command(in, Domain::coupon, CommandResult::invalid_field, field, 0);
    return {};
  }
  TemplateRow row{};
  if (auto s = next_id(batch, counter_next_template_id, &row.id); !s.ok()) return s;
  row.value = body.value;
  row.max_discount = body.max_discount;
  row.min_order_amount = body.min_order_amount;
  row.expires_at_ns = body.expires_at_ns;
  row.quantity = body.quantity;
  row.issued = 0;
  row.created_ns = batch.now_ns();
  row.kind = body.kind;
  row.name = body.name;
  if (auto s = batch.txn().put_as(templates_, journal::key_u64(row.id), row); !s.ok()) return s;
  if (auto s = batch.record(RecordType::coupon_template_created, 0, row); !s.ok()) return s;
  batch.reply_command(in, Domain::coupon, CommandResult::ok, 0, row.id);
  return {};
}

journal::Status CouponDomain::issue(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::IssueCouponBody>(in);
  journal::WriteTxn& txn = batch.txn();
  TemplateRow tpl{};
  journal::Status s = body.template_id == 0
                          ? journal::Status(journal::ErrorCode::not_found, 0, "template id 0")
                          : txn.get_as(templates_, journal::key_u64(body.template_id), tpl);
  if (s.code() == journal::ErrorCode::not_found) {
    batch.reply_command(in, Domain::coupon, CommandResult::not_found, field_template_id, 0);
    return {};
  }
  if (!s.ok()) return s;
  FS_ASSERT(tpl.issued >= 0);
  FS_ASSERT(tpl.quantity == 0 || tpl.issued <= tpl.quantity);
  if (body.user_id == 0) {
    batch.reply_command(in, Domain::coupon, CommandResult::not_found, field_user_id, 0);
    return {};
  }
  if (coupon_template_expired(tpl, batch.now_ns())) {
    batch.reply_command(in, Domain::coupon, CommandResult::conflict, field_template_id, 0);
    return {};
  }
  const auto holder_key = journal::key_u64_u64(tpl.id, body.user_id);
  std::uint64_t held = 0;
  s = txn.get_as(holders_, holder_key, held);
  if (s.ok()) {
    batch.reply_command(in, Domain::coupon, CommandResult::conflict, field_user_id, held);
    return {};
  }
  if (s.code() != journal::ErrorCode::not_found) return s;
  if (tpl.quantity > 0 && tpl.issued >= tpl.quantity) {
    batch.reply_command(in, Domain::coupon, CommandResult::sold_out, field_template_id, 0);
    return {};
  }

  CouponRow coupon{};
  if (s = next_id(batch, counter_next_coupon_id, &coupon.id); !s.ok()) return s;
  coupon.template_id = tpl.id;
  coupon.user_id = body.user_id;
  coupon.issued_ns = batch.now_ns();
  coupon.state = static_cast<std::uint8_t>(CouponState::available);
  tpl.issued += 1;
  if (s = txn.put_as(coupons_, journal::key_u64(coupon.id), coupon); !s.ok()) return s;
  if (s = txn.put_as(holders_, holder_key, coupon.id); !s.ok()) return s;
  if (s = txn.put(by_user_, journal::key_u64_u64(body.user_id, coupon.id), journal::Bytes{});
      !s.ok()) {
    return s;
  }
  if (s = txn.put_as(templates_, journal::key_u64(tpl.id), tpl); !s.ok()) return s;
  if (s = batch.record(RecordType::coupon_issued, 0, coupon); !s.ok()) return s;
  batch.reply_command(in, Domain::coupon, CommandResult::ok, 0, coupon.id);
  return {};
}

journal::Status CouponDomain::reject(Batch& batch, std::uint64_t order_id, std::uint64_t coupon_id,
                                     std::uint64_t template_id, OrderReason reason) {
  CouponStep step{};
  step.coupon_id = coupon_id;
  step.state = static_cast<std::uint8_t>(StepState::rejected);
  step.reason = static_cast<std::uint8_t>(reason);
  if (auto s = batch.txn().put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
  Event e{};
  e.subject = coupon_id;
  e.other = template_id;
  e.state = step.state;
  e.reason = step.reason;
  if (auto s = batch.record(RecordType::coupon_rejected, order_id, e); !s.ok()) return s;
  ipc::StepRejectedBody out{};
  out.reason = step.reason;
  batch.send_to(Domain::coupon, Domain::order, MessageType::coupon_rejected, order_id, out);
  return {};
}

journal::Status CouponDomain::on_order_placed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderPlacedBody>(in);
  if (order_id == 0 || body.coupon_id == 0) return {};  // no coupon step in this order
  journal::WriteTxn& txn = batch.txn();
  CouponStep step;
  bool found = false;
  if (auto s = load_step(txn, order_id, step, &found); !s.ok()) return s;
  // Already handled (a duplicate), or cancelled first: a late application is refused.
  if (found) return {};

  CouponRow coupon{};
  journal::Status s = txn.get_as(coupons_, journal::key_u64(body.coupon_id), coupon);
  if (s.code() == journal::ErrorCode::not_found) {
    return reject(batch, order_id, body.coupon_id, 0, OrderReason::coupon_invalid);
  }
  if (!s.ok()) return s;
  TemplateRow tpl{};
  s = txn.get_as(templates_, journal::key_u64(coupon.template_id), tpl);
  FS_ASSERT(s.code() != journal::ErrorCode::not_found);  // a coupon's template is never deleted
  if (!s.ok()) return s;

  OrderReason reason = OrderReason::none;
  if (coupon.user_id != body.user_id) {
    reason = OrderReason::coupon_not_owned;
  } else if (coupon.state != static_cast<std::uint8_t>(CouponState::available)) {
    reason = OrderReason::coupon_used;
  } else if (coupon_template_expired(tpl, batch.now_ns())) {
    reason = OrderReason::coupon_expired;
  } else if (body.subtotal < tpl.min_order_amount) {
    reason = OrderReason::coupon_min_amount;
  }
  if (reason != OrderReason::none) return reject(batch, order_id, coupon.id, tpl.id, reason);

  step.coupon_id = coupon.id;
  step.discount = coupon_discount(tpl, body.subtotal);
  step.state = static_cast<std::uint8_t>(StepState::applied);
  FS_ASSERT(step.discount >= 0);
  FS_ASSERT(step.discount <= body.subtotal);
  coupon.state = static_cast<std::uint8_t>(CouponState::held);
  coupon.order_id = order_id;
  if (s = txn.put_as(coupons_, journal::key_u64(coupon.id), coupon); !s.ok()) return s;
  if (s = txn.put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
  Event e = coupon_event(coupon, StepState::applied);
  e.extra = step.discount;
  if (s = batch.record(RecordType::coupon_applied, order_id, e); !s.ok()) return s;
  batch.send_to(Domain::coupon, Domain::order, MessageType::coupon_applied, order_id,
                ipc::CouponAppliedBody{coupon.id, step.discount});
  return {};
}

journal::Status CouponDomain::on_order_completed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  if (order_id == 0) return {};
  journal::WriteTxn& txn = batch.txn();
  CouponStep step;
  bool found = false;
  if (auto s = load_step(txn, order_id, step, &found); !s.ok()) return s;
  if (!found || step.state != static_cast<std::uint8_t>(StepState::applied)) return {};
  if (step.used == 1) return {};  // a duplicate

  CouponRow coupon{};
  if (auto s = txn.get_as(coupons_, journal::key_u64(step.coupon_id), coupon); !s.ok()) return s;
  FS_ASSERT(coupon.state == static_cast<std::uint8_t>(CouponState::held));
  FS_ASSERT(coupon.order_id == order_id);
  coupon.state = static_cast<std::uint8_t>(CouponState::used);
  step.used = 1;
  if (auto s = txn.put_as(coupons_, journal::key_u64(coupon.id), coupon); !s.ok()) return s;
  if (auto s = txn.put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
  Event e = coupon_event(coupon, StepState::applied);
  e.extra = step.discount;
  return batch.record(RecordType::coupon_used, order_id, e);
}

journal::Status CouponDomain::on_order_cancelled(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0) return {};
  journal::WriteTxn& txn = batch.txn();
  CouponStep step;
  bool found = false;
  if (auto s = load_step(txn, order_id, step, &found); !s.ok()) return s;

  if (!found) {
    // Nothing was applied for this order: close the gate against a late application.
    step.coupon_id = body.coupon_id;
    step.state = static_cast<std::uint8_t>(StepState::cancelled_before_apply);
    if (auto s = txn.put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
    Event e{};
    e.subject = body.coupon_id;
    e.state = step.state;
    e.reason = body.reason;
    return batch.record(RecordType::coupon_cancelled_before_apply, order_id, e);
  }
  switch (static_cast<StepState>(step.state)) {
    case StepState::applied: break;
    case StepState::rejected:
    case StepState::released:
    case StepState::cancelled_before_apply: return {};  // nothing held, or given back already
    default: FS_ASSERT(false && "a coupon step in a state the coupon domain never writes");
  }

  CouponRow coupon{};
  if (auto s = txn.get_as(coupons_, journal::key_u64(step.coupon_id), coupon); !s.ok()) return s;
  FS_ASSERT(coupon.order_id == order_id);
  FS_ASSERT(coupon.state != static_cast<std::uint8_t>(CouponState::available));
  coupon.state = static_cast<std::uint8_t>(CouponState::available);
  coupon.order_id = 0;
  step.state = static_cast<std::uint8_t>(StepState::released);
  if (auto s = txn.put_as(coupons_, journal::key_u64(coupon.id), coupon); !s.ok()) return s;
  if (auto s = txn.put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
  Event e = coupon_event(coupon, StepState::released);
  e.extra = step.discount;
  e.reason = body.reason;
  return batch.record(RecordType::coupon_released, order_id, e);
}

}  // namespace flashsaga::domains
