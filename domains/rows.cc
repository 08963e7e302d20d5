#include "domains/rows.h"

namespace flashsaga::domains {

std::string_view step_state_name(StepState s) noexcept {
  switch (s) {
    case StepState::none:
      return "none";
    case StepState::reserved:
      return "reserved";
    case StepState::sold:
      return "sold";
    case StepState::applied:
      return "applied";
    case StepState::deducted:
      return "deducted";
    case StepState::approved:
      return "approved";
    case StepState::pending:
      return "pending";
    case StepState::rejected:
      return "rejected";
    case StepState::declined:
      return "declined";
    case StepState::released:
      return "released";
    case StepState::refunded:
      return "refunded";
    case StepState::voided:
      return "voided";
    case StepState::cancelled_before_apply:
      return "cancelled_before_apply";
    case StepState::skipped:
      return "skipped";
  }
  return "unknown";
}

std::string_view order_status_name(OrderStatus s) noexcept {
  switch (s) {
    case OrderStatus::pending:
      return "PENDING";
    case OrderStatus::completed:
      return "COMPLETED";
    case OrderStatus::cancelled:
      return "CANCELLED";
    case OrderStatus::rejected:
      return "REJECTED";
  }
  return "UNKNOWN";
}

std::string_view coupon_state_name(CouponState s) noexcept {
  switch (s) {
    case CouponState::available:
      return "available";
    case CouponState::held:
      return "held";
    case CouponState::used:
      return "used";
  }
  return "unknown";
}

std::string_view payment_method_name(PaymentMethod m) noexcept {
  switch (m) {
    case PaymentMethod::wallet:
      return "wallet";
    case PaymentMethod::pg:
      return "pg";
  }
  return "unknown";
}

std::string_view record_type_name(RecordType t) noexcept {
  switch (t) {
    case RecordType::user_created:
      return "user_created";
    case RecordType::user_updated:
      return "user_updated";
    case RecordType::points_accrued:
      return "points_accrued";
    case RecordType::points_deducted:
      return "points_deducted";
    case RecordType::points_rejected:
      return "points_rejected";
    case RecordType::points_refunded:
      return "points_refunded";
    case RecordType::points_rewarded:
      return "points_rewarded";
    case RecordType::points_reward_revoked:
      return "points_reward_revoked";
    case RecordType::points_cancelled_before_apply:
      return "points_cancelled_before_apply";
    case RecordType::product_created:
      return "product_created";
    case RecordType::product_updated:
      return "product_updated";
    case RecordType::product_restocked:
      return "product_restocked";
    case RecordType::stock_reserved:
      return "stock_reserved";
    case RecordType::stock_sold:
      return "stock_sold";
    case RecordType::stock_released:
      return "stock_released";
    case RecordType::stock_reconciled:
      return "stock_reconciled";
    case RecordType::lease_out:
      return "lease_out";
    case RecordType::lease_in:
      return "lease_in";
    case RecordType::stock_cancelled_before_apply:
      return "stock_cancelled_before_apply";
    case RecordType::coupon_template_created:
      return "coupon_template_created";
    case RecordType::coupon_issued:
      return "coupon_issued";
    case RecordType::coupon_applied:
      return "coupon_applied";
    case RecordType::coupon_rejected:
      return "coupon_rejected";
    case RecordType::coupon_released:
      return "coupon_released";
    case RecordType::coupon_used:
      return "coupon_used";
    case RecordType::coupon_cancelled_before_apply:
      return "coupon_cancelled_before_apply";
    case RecordType::order_pending:
      return "order_pending";
    case RecordType::order_rejected:
      return "order_rejected";
    case RecordType::order_step:
      return "order_step";
    case RecordType::order_payment_requested:
      return "order_payment_requested";
    case RecordType::order_completed:
      return "order_completed";
    case RecordType::order_cancelled:
      return "order_cancelled";
    case RecordType::wallet_deposited:
      return "wallet_deposited";
    case RecordType::payment_approved:
      return "payment_approved";
    case RecordType::payment_declined:
      return "payment_declined";
    case RecordType::payment_refunded:
      return "payment_refunded";
    case RecordType::payment_cancelled_before_apply:
      return "payment_cancelled_before_apply";
    case RecordType::payment_pg_requested:
      return "payment_pg_requested";
    case RecordType::payment_voided:
      return "payment_voided";
    case RecordType::message_invalid:
      return "message_invalid";
    case RecordType::batch_note:
      return "batch_note";
  }
  return "unknown";
}

ipc::Domain record_domain(RecordType t) noexcept {
  switch (t) {
    case RecordType::user_created:
    case RecordType::user_updated:
      return ipc::Domain::user;
    case RecordType::points_accrued:
    case RecordType::points_deducted:
    case RecordType::points_rejected:
    case RecordType::points_refunded:
    case RecordType::points_rewarded:
    case RecordType::points_reward_revoked:
    case RecordType::points_cancelled_before_apply:
      return ipc::Domain::point;
    case RecordType::product_created:
    case RecordType::product_updated:
    case RecordType::product_restocked:
    case RecordType::stock_reserved:
    case RecordType::stock_sold:
    case RecordType::stock_released:
    case RecordType::stock_reconciled:
    case RecordType::lease_out:
    case RecordType::lease_in:
    case RecordType::stock_cancelled_before_apply:
      return ipc::Domain::product;
    case RecordType::coupon_template_created:
    case RecordType::coupon_issued:
    case RecordType::coupon_applied:
    case RecordType::coupon_rejected:
    case RecordType::coupon_released:
    case RecordType::coupon_used:
    case RecordType::coupon_cancelled_before_apply:
      return ipc::Domain::coupon;
    case RecordType::order_pending:
    case RecordType::order_rejected:
    case RecordType::order_step:
    case RecordType::order_payment_requested:
    case RecordType::order_completed:
    case RecordType::order_cancelled:
      return ipc::Domain::order;
    case RecordType::wallet_deposited:
    case RecordType::payment_approved:
    case RecordType::payment_declined:
    case RecordType::payment_refunded:
    case RecordType::payment_cancelled_before_apply:
    case RecordType::payment_pg_requested:
    case RecordType::payment_voided:
      return ipc::Domain::payment;
    case RecordType::message_invalid:
    case RecordType::batch_note:
      return ipc::Domain::none;  // written by any domain; the journal it is in says which
  }
  return ipc::Domain::none;
}

}  // namespace flashsaga::domains
