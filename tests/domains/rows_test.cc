#include "domains/rows.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace flashsaga::domains {
namespace {

TEST(RowNames, StepStatesAreNamedInLowerCaseAsTheApiShowsThem) {
  EXPECT_EQ(step_state_name(StepState::none), "none");
  EXPECT_EQ(step_state_name(StepState::reserved), "reserved");
  EXPECT_EQ(step_state_name(StepState::sold), "sold");
  EXPECT_EQ(step_state_name(StepState::applied), "applied");
  EXPECT_EQ(step_state_name(StepState::deducted), "deducted");
  EXPECT_EQ(step_state_name(StepState::approved), "approved");
  EXPECT_EQ(step_state_name(StepState::pending), "pending");
  EXPECT_EQ(step_state_name(StepState::rejected), "rejected");
  EXPECT_EQ(step_state_name(StepState::declined), "declined");
  EXPECT_EQ(step_state_name(StepState::released), "released");
  EXPECT_EQ(step_state_name(StepState::refunded), "refunded");
  EXPECT_EQ(step_state_name(StepState::voided), "voided");
  EXPECT_EQ(step_state_name(StepState::cancelled_before_apply), "cancelled_before_apply");
  EXPECT_EQ(step_state_name(StepState::skipped), "skipped");
  EXPECT_EQ(step_state_name(static_cast<StepState>(200)), "unknown");
}

TEST(RowNames, OrderStatusesAreNamedInUpperCase) {
  EXPECT_EQ(order_status_name(OrderStatus::pending), "PENDING");
  EXPECT_EQ(order_status_name(OrderStatus::completed), "COMPLETED");
  EXPECT_EQ(order_status_name(OrderStatus::cancelled), "CANCELLED");
  EXPECT_EQ(order_status_name(OrderStatus::rejected), "REJECTED");
}

TEST(RowNames, CouponStatesAndPaymentMethodsHaveTheirApiNames) {
  EXPECT_EQ(coupon_state_name(CouponState::available), "available");
  EXPECT_EQ(coupon_state_name(CouponState::held), "held");
  EXPECT_EQ(coupon_state_name(CouponState::used), "used");
  EXPECT_EQ(payment_method_name(PaymentMethod::wallet), "wallet");
  EXPECT_EQ(payment_method_name(PaymentMethod::pg), "pg");
}

TEST(RowNames, EveryRecordTypeHasASnakeCaseNameAndTheDomainOfItsNumberRange) {
  int named = 0;
  for (int n = 1; n < 100; ++n) {
    const auto t = static_cast<RecordType>(n);
    const std::string name(record_type_name(t));
    if (name == "unknown") {
      EXPECT_EQ(record_domain(t), ipc::Domain::none) << n;
      continue;
    }
    ++named;
    for (char c : name)
      EXPECT_TRUE(std::islower(static_cast<unsigned char>(c)) || c == '_') << name;
    ipc::Domain expected = ipc::Domain::none;
    if (n < 10)
      expected = ipc::Domain::user;
    else if (n < 20)
      expected = ipc::Domain::point;
    else if (n < 30)
      expected = ipc::Domain::product;
    else if (n < 40)
      expected = ipc::Domain::coupon;
    else if (n < 50)
      expected = ipc::Domain::order;
    else if (n < 60)
      expected = ipc::Domain::payment;
    EXPECT_EQ(record_domain(t), expected) << name;
  }
  EXPECT_EQ(named, 41);  // every enumerator of RecordType
  EXPECT_EQ(record_type_name(RecordType::points_reward_revoked), "points_reward_revoked");
  EXPECT_EQ(record_type_name(RecordType::payment_cancelled_before_apply),
            "payment_cancelled_before_apply");
}

}  // namespace
}  // namespace flashsaga::domains
