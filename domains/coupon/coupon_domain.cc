#include "domains/coupon/coupon_domain.h"

#include <algorithm>

#include "domains/steps.h"
#include "engine/base/assert.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::CouponKind;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::uint16_t tag_templates = 0;
constexpr std::uint16_t tag_coupons = 1;
constexpr std::uint16_t tag_holders = 2;
constexpr std::uint16_t tag_by_user = 3;
constexpr std::uint16_t tag_steps = 4;
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

// A template as issuing keeps it: never more issued than a limited quantity.
void check_template(const TemplateRow& tpl) {
  FS_ASSERT(tpl.issued >= 0);
  FS_ASSERT(tpl.quantity == 0 || tpl.issued <= tpl.quantity);
}

Event coupon_event(const CouponRow& coupon, StepState state) {
  Event e{};
  e.subject = coupon.id;
  e.other = coupon.template_id;
  e.state = static_cast<std::uint8_t>(state);
  return e;
}

}  // namespace

CouponDomain::CouponDomain(const StepOptions& options) : steps_(options.window) {
  templates_.set_coalescing(true);  // a coupon drop issues from one template all batch long
}

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
  return {"templates", "coupons", "holders", "by_user", "steps"};
}

journal::Status CouponDomain::load(const journal::Env& view, const journal::ReadTxn& txn) {
  templates_.bind(tag_templates, view.table("templates"));
  coupons_.bind(tag_coupons, view.table("coupons"));
  holders_.bind(tag_holders, view.table("holders"));
  by_user_.bind(tag_by_user, view.table("by_user"));
  steps_.bind(tag_steps, view.table("steps"));
  if (journal::Status s = templates_.load(txn); !s.ok()) return s;
  templates_.for_each([](std::uint64_t, const TemplateRow& t) { check_template(t); });
  if (journal::Status s = coupons_.load(txn); !s.ok()) return s;
  if (journal::Status s = holders_.load(txn); !s.ok()) return s;
  if (journal::Status s = steps_.load(txn); !s.ok()) return s;
  if (journal::Status s = next_template_id_.load(view, txn); !s.ok()) return s;
  return next_coupon_id_.load(view, txn);
}

void CouponDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::create_coupon_template:
      return create_template(batch, in);
    case MessageType::issue_coupon:
      return issue(batch, in);
    case MessageType::order_placed:
      return on_order_placed(batch, in);
    case MessageType::order_completed:
      return on_order_completed(batch, in);
    case MessageType::order_cancelled:
      return on_order_cancelled(batch, in);
    default:
      return;  // not for this domain: nothing to do
  }
}

void CouponDomain::viewed(std::uint64_t batch_id) {
  holders_.viewed(batch_id);
  steps_.viewed(batch_id);
}

std::uint64_t CouponDomain::next_id(Batch& batch, Counter& counter) {
  const std::uint64_t next = counter.value();
  const std::uint64_t id = next == 0 ? 1 : next;  // absent or zero: the sequence starts at 1
  counter.set(batch, id + 1);
  return id;
}

void CouponDomain::create_template(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::CreateCouponTemplateBody>(in);
  if (const std::uint16_t field = template_fault(body); field != 0) {
    return batch.reply_command(in, Domain::coupon, CommandResult::invalid_field, field, 0);
  }
  TemplateRow row{};
  row.id = next_id(batch, next_template_id_);
  FS_ASSERT(!templates_.contains(row.id));
  row.value = body.value;
  row.max_discount = body.max_discount;
  row.min_order_amount = body.min_order_amount;
  row.expires_at_ns = body.expires_at_ns;
  row.quantity = body.quantity;
  row.issued = 0;
  row.created_ns = batch.now_ns();
  row.kind = body.kind;
  row.name = body.name;
  templates_.put(batch, row.id, row);
  batch.record(RecordType::coupon_template_created, 0, row);
  batch.reply_command(in, Domain::coupon, CommandResult::ok, 0, row.id);
}

void CouponDomain::issue(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::IssueCouponBody>(in);
  const TemplateRow* found = body.template_id == 0 ? nullptr : templates_.find(body.template_id);
  if (found == nullptr) {
    return batch.reply_command(in, Domain::coupon, CommandResult::not_found, field_template_id, 0);
  }
  TemplateRow tpl = *found;
  check_template(tpl);
  if (body.user_id == 0) {
    return batch.reply_command(in, Domain::coupon, CommandResult::not_found, field_user_id, 0);
  }
  if (coupon_template_expired(tpl, batch.now_ns())) {
    return batch.reply_command(in, Domain::coupon, CommandResult::conflict, field_template_id, 0);
  }
  const Key2 holder{tpl.id, body.user_id};
  if (std::uint64_t held = 0; holders_.get(batch, holder, held)) {
    return batch.reply_command(in, Domain::coupon, CommandResult::conflict, field_user_id, held);
  }
  if (tpl.quantity > 0 && tpl.issued >= tpl.quantity) {
    return batch.reply_command(in, Domain::coupon, CommandResult::sold_out, field_template_id, 0);
  }

  CouponRow coupon{};
  coupon.id = next_id(batch, next_coupon_id_);
  FS_ASSERT(!coupons_.contains(coupon.id));
  coupon.template_id = tpl.id;
  coupon.user_id = body.user_id;
  coupon.issued_ns = batch.now_ns();
  coupon.state = static_cast<std::uint8_t>(CouponState::available);
  tpl.issued += 1;
  check_template(tpl);
  coupons_.put(batch, coupon.id, coupon);
  holders_.put(batch, holder, coupon.id);
  by_user_.put(batch, Key2{body.user_id, coupon.id});
  templates_.put(batch, tpl.id, tpl);
  batch.record(RecordType::coupon_issued, 0, coupon);
  batch.reply_command(in, Domain::coupon, CommandResult::ok, 0, coupon.id);
}

void CouponDomain::reject(Batch& batch, std::uint64_t order_id, std::uint64_t coupon_id,
                          std::uint64_t template_id, OrderReason reason) {
  CouponStep step{};
  step.coupon_id = coupon_id;
  step.state = static_cast<std::uint8_t>(StepState::rejected);
  step.reason = static_cast<std::uint8_t>(reason);
  steps_.put(batch, order_id, step);
  Event e{};
  e.subject = coupon_id;
  e.other = template_id;
  e.state = step.state;
  e.reason = step.reason;
  batch.record(RecordType::coupon_rejected, order_id, e);
  ipc::StepRejectedBody out{};
  out.reason = step.reason;
  batch.send_to(Domain::coupon, Domain::order, MessageType::coupon_rejected, order_id, out);
}

OrderReason CouponDomain::refusal(const Batch& batch, const ipc::OrderPlacedBody& order,
                                  const CouponRow& coupon, const TemplateRow& tpl) const noexcept {
  if (coupon.user_id != order.user_id) return OrderReason::coupon_not_owned;
  if (coupon.state != static_cast<std::uint8_t>(CouponState::available)) {
    return OrderReason::coupon_used;
  }
  if (coupon_template_expired(tpl, batch.now_ns())) return OrderReason::coupon_expired;
  if (order.subtotal < tpl.min_order_amount) return OrderReason::coupon_min_amount;
  return OrderReason::none;
}

void CouponDomain::on_order_placed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderPlacedBody>(in);
  if (order_id == 0 || body.coupon_id == 0) return;  // no coupon step in this order
  CouponStep step{};
  // Already handled (a duplicate), or cancelled first: a late application is refused.
  if (steps_.get(batch, order_id, step)) return;

  const CouponRow* found = coupons_.find(body.coupon_id);
  if (found == nullptr) {
    return reject(batch, order_id, body.coupon_id, 0, OrderReason::coupon_invalid);
  }
  CouponRow coupon = *found;
  const TemplateRow* tpl = templates_.find(coupon.template_id);
  FS_ASSERT(tpl != nullptr);  // a coupon's template is never deleted
  const OrderReason reason = refusal(batch, body, coupon, *tpl);
  if (reason != OrderReason::none) return reject(batch, order_id, coupon.id, tpl->id, reason);

  FS_ASSERT(
      step_transition_allowed(OrderStep::coupon, StepState::none, RecordType::coupon_applied));
  step.coupon_id = coupon.id;
  step.discount = coupon_discount(*tpl, body.subtotal);
  step.state = static_cast<std::uint8_t>(StepState::applied);
  FS_ASSERT(step.discount >= 0);
  FS_ASSERT(step.discount <= body.subtotal);
  coupon.state = static_cast<std::uint8_t>(CouponState::held);
  coupon.order_id = order_id;
  coupons_.put(batch, coupon.id, coupon);
  steps_.put(batch, order_id, step);
  Event e = coupon_event(coupon, StepState::applied);
  e.extra = step.discount;
  batch.record(RecordType::coupon_applied, order_id, e);
  batch.send_to(Domain::coupon, Domain::order, MessageType::coupon_applied, order_id,
                ipc::CouponAppliedBody{coupon.id, step.discount});
}

void CouponDomain::on_order_completed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  if (order_id == 0) return;
  CouponStep step{};
  if (!steps_.get(batch, order_id, step)) return;
  if (step.state != static_cast<std::uint8_t>(StepState::applied)) return;
  if (step.used == 1) return;  // a duplicate
  FS_ASSERT(
      step_transition_allowed(OrderStep::coupon, StepState::applied, RecordType::coupon_used));

  const CouponRow* found = coupons_.find(step.coupon_id);
  FS_ASSERT(found != nullptr);  // an applied step names a coupon that exists
  CouponRow coupon = *found;
  FS_ASSERT(coupon.state == static_cast<std::uint8_t>(CouponState::held));
  FS_ASSERT(coupon.order_id == order_id);
  coupon.state = static_cast<std::uint8_t>(CouponState::used);
  step.used = 1;
  coupons_.put(batch, coupon.id, coupon);
  steps_.put(batch, order_id, step);
  Event e = coupon_event(coupon, StepState::applied);
  e.extra = step.discount;
  batch.record(RecordType::coupon_used, order_id, e);
}

void CouponDomain::on_order_cancelled(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0) return;
  CouponStep step{};
  if (!steps_.get(batch, order_id, step)) {
    // Nothing was applied for this order: close the gate against a late application.
    step.coupon_id = body.coupon_id;
    step.state = static_cast<std::uint8_t>(StepState::cancelled_before_apply);
    steps_.put(batch, order_id, step);
    Event e{};
    e.subject = body.coupon_id;
    e.state = step.state;
    e.reason = body.reason;
    batch.record(RecordType::coupon_cancelled_before_apply, order_id, e);
    return;
  }
  switch (static_cast<StepState>(step.state)) {
    case StepState::applied:
      FS_ASSERT(step_transition_allowed(OrderStep::coupon, StepState::applied,
                                        RecordType::coupon_released));
      break;
    case StepState::rejected:
    case StepState::released:
    case StepState::cancelled_before_apply:
      return;  // nothing held, or given back already
    default:
      FS_ASSERT(false && "a coupon step in a state the coupon domain never writes");
  }

  const CouponRow* found = coupons_.find(step.coupon_id);
  FS_ASSERT(found != nullptr);  // an applied step names a coupon that exists
  CouponRow coupon = *found;
  FS_ASSERT(coupon.order_id == order_id);
  FS_ASSERT(coupon.state != static_cast<std::uint8_t>(CouponState::available));
  coupon.state = static_cast<std::uint8_t>(CouponState::available);
  coupon.order_id = 0;
  step.state = static_cast<std::uint8_t>(StepState::released);
  coupons_.put(batch, coupon.id, coupon);
  steps_.put(batch, order_id, step);
  Event e = coupon_event(coupon, StepState::released);
  e.extra = step.discount;
  e.reason = body.reason;
  batch.record(RecordType::coupon_released, order_id, e);
}

}  // namespace flashsaga::domains
