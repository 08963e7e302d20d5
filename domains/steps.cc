#include "domains/steps.h"

#include <array>

namespace flashsaga::domains {
namespace {

using E = StepEffect;
using M = StepMark;
using R = RecordType;
using S = StepState;

constexpr std::array<StepTransition, 3> stock_table = {{
    {S::reserved, R::stock_sold, S::sold, E::forward},
    {S::reserved, R::stock_released, S::released, E::compensation},
    {S::sold, R::stock_released, S::released, E::compensation},  // a refund after completion
}};

constexpr std::array<StepTransition, 5> coupon_table = {{
    {S::none, R::coupon_applied, S::applied, E::forward},
    {S::none, R::coupon_rejected, S::rejected, E::refusal},
    {S::none, R::coupon_cancelled_before_apply, S::cancelled_before_apply, E::gate},
    {S::applied, R::coupon_used, S::applied, E::mark, M::none, M::used},
    {S::applied, R::coupon_released, S::released, E::compensation},  // used or not
}};

// The reward is accrued on completion (the point step went forward or had nothing to do) and
// revoked on a refund, after the step's own compensation or gate.
constexpr std::array<StepTransition, 10> points_table = {{
    {S::none, R::points_deducted, S::deducted, E::forward},
    {S::none, R::points_rejected, S::rejected, E::refusal},
    {S::none, R::points_cancelled_before_apply, S::cancelled_before_apply, E::gate},
    {S::deducted, R::points_refunded, S::refunded, E::compensation},
    {S::none, R::points_rewarded, S::none, E::mark, M::none, M::rewarded},
    {S::deducted, R::points_rewarded, S::deducted, E::mark, M::none, M::rewarded},
    {S::none, R::points_reward_revoked, S::none, E::mark, M::rewarded, M::revoked},
    {S::deducted, R::points_reward_revoked, S::deducted, E::mark, M::rewarded, M::revoked},
    {S::refunded, R::points_reward_revoked, S::refunded, E::mark, M::rewarded, M::revoked},
    {S::cancelled_before_apply, R::points_reward_revoked, S::cancelled_before_apply, E::mark,
     M::rewarded, M::revoked},
}};

constexpr std::array<StepTransition, 8> payment_table = {{
    {S::none, R::payment_pg_requested, S::pending, E::request},
    {S::none, R::payment_approved, S::approved, E::forward},
    {S::pending, R::payment_approved, S::approved, E::forward},
    {S::none, R::payment_declined, S::declined, E::refusal},
    {S::pending, R::payment_declined, S::declined, E::refusal},
    {S::pending, R::payment_voided, S::voided, E::compensation},
    {S::approved, R::payment_refunded, S::refunded, E::compensation},
    {S::none, R::payment_cancelled_before_apply, S::cancelled_before_apply, E::gate},
}};

}  // namespace

std::span<const StepTransition> step_transitions(OrderStep step) noexcept {
  switch (step) {
    case OrderStep::stock:
      return stock_table;
    case OrderStep::coupon:
      return coupon_table;
    case OrderStep::points:
      return points_table;
    case OrderStep::payment:
      return payment_table;
  }
  return {};
}

const StepTransition* find_step_transition(OrderStep step, StepState from,
                                           RecordType record) noexcept {
  for (const StepTransition& t : step_transitions(step))
    if (t.from == from && t.record == record) return &t;
  return nullptr;
}

std::optional<OrderStep> step_of_record(RecordType record) noexcept {
  for (OrderStep step :
       {OrderStep::stock, OrderStep::coupon, OrderStep::points, OrderStep::payment})
    for (const StepTransition& t : step_transitions(step))
      if (t.record == record) return step;
  return std::nullopt;
}

std::optional<StepEffect> step_effect_of(RecordType record) noexcept {
  const std::optional<OrderStep> step = step_of_record(record);
  if (!step) return std::nullopt;
  for (const StepTransition& t : step_transitions(*step))
    if (t.record == record) return t.effect;
  return std::nullopt;
}

bool step_needs_compensation(OrderStep step, StepState state) noexcept {
  switch (step) {
    case OrderStep::stock:
      return state == S::reserved || state == S::sold;
    case OrderStep::coupon:
      return state == S::applied;
    case OrderStep::points:
      return state == S::deducted;
    case OrderStep::payment:
      return state == S::approved || state == S::pending;
  }
  return false;
}

}  // namespace flashsaga::domains
