// Replaying one order's step through its transition table (domains/steps.h), and saying in
// words what is wrong when a record is not a move the table has.
#include <fmt/format.h>

#include <algorithm>

#include "domains/steps.h"
#include "tools/check/check.h"

namespace flashsaga::tools {

using domains::Event;
using domains::OrderStep;
using domains::RecordType;
using domains::StepEffect;
using domains::StepMark;
using domains::StepState;
using domains::StepTransition;
using ipc::Domain;

namespace {

std::string_view state_name(StepState s) {
  return domains::step_state_name(s);
}

// What the record says happened, as the start of a sentence.
std::string phrase(RecordType type, const Event& e) {
  switch (type) {
    case RecordType::stock_sold:
      return fmt::format("{} units of product {} sold", e.amount, e.subject);
    case RecordType::stock_released:
      return fmt::format("{} units of product {} released", e.amount, e.subject);
    case RecordType::coupon_applied:
      return fmt::format("coupon {} applied", e.subject);
    case RecordType::coupon_rejected:
      return fmt::format("coupon {} rejected", e.subject);
    case RecordType::coupon_used:
      return fmt::format("coupon {} used", e.subject);
    case RecordType::coupon_released:
      return fmt::format("coupon {} released", e.subject);
    case RecordType::points_deducted:
      return fmt::format("{} points deducted", e.amount);
    case RecordType::points_rejected:
      return "deduction rejected";
    case RecordType::points_refunded:
      return fmt::format("refund of {} points", e.amount);
    case RecordType::points_rewarded:
      return fmt::format("reward of {} points", e.amount);
    case RecordType::points_reward_revoked:
      return fmt::format("reward revoked ({} points)", e.amount);
    case RecordType::payment_pg_requested:
      return "PG charge requested";
    case RecordType::payment_approved:
      return fmt::format("charge of {}", e.amount);
    case RecordType::payment_declined:
      return "charge declined";
    case RecordType::payment_voided:
      return "void of the PG charge";
    case RecordType::payment_refunded:
      return fmt::format("refund of {}", e.amount);
    default:
      return "cancelled_before_apply recorded";  // the gates
  }
}

std::string_view success_of(OrderStep step) {
  switch (step) {
    case OrderStep::stock:
      return "a reservation or a sale";
    case OrderStep::coupon:
      return "the coupon applied to the order";
    case OrderStep::points:
      return "a deduction";
    case OrderStep::payment:
      return "an approved charge";
  }
  return "a success";
}

// Any row of the table for this record: where the record says the step went.
const StepTransition* usual(OrderStep step, RecordType type) {
  for (const StepTransition& t : domains::step_transitions(step))
    if (t.record == type) return &t;
  return nullptr;
}

// Why the table has no move for `type` from the step's state, in words.
std::string refusal(const StepReplay& s, OrderStep step, const StepTransition& u, RecordType type,
                    const Event& e) {
  const std::string what = phrase(type, e);
  const StepState from = s.state;
  if (u.effect == StepEffect::compensation) {
    const bool refund = type == RecordType::points_refunded || type == RecordType::payment_refunded;
    if (from == u.to)
      return refund ? fmt::format("{} paid twice (double refund)", what)
                    : fmt::format("{} twice (double compensation)", what);
    return fmt::format("{} without {} (step {}; empty compensation)", what, success_of(step),
                       state_name(from));
  }
  if (u.effect == StepEffect::mark)
    return fmt::format("{}, but the step is {}", what, state_name(from));
  if (from == StepState::cancelled_before_apply)
    return fmt::format("{} after the cancel came first (a late forward step)", what);
  if (type == RecordType::payment_approved && from == StepState::approved)
    return fmt::format("second charge of {} for the order (at most one charge per order)",
                       e.amount);
  if (step == OrderStep::stock && from == StepState::none)
    return fmt::format("{} before any stock_reserved record counted the order's units", what);
  return fmt::format("{} although the step is already {}", what, state_name(from));
}

// The marks: used once, rewarded once, revoked once and never more than the reward.
std::string mark_problem(const StepReplay& s, const StepTransition& t, RecordType type,
                         const Event& e) {
  if (t.sets == StepMark::used && s.used) return fmt::format("coupon {} used twice", e.subject);
  if (t.sets == StepMark::rewarded && s.reward_state != 0)
    return fmt::format("reward of {} points accrued twice", e.amount);
  if (t.needs == StepMark::rewarded && s.reward_state != 1)
    return fmt::format("reward revoked ({} points) but none was accrued, or it was revoked already",
                       e.amount);
  if (type == RecordType::points_reward_revoked && e.amount > s.reward)
    return fmt::format("{} points revoked, more than the reward of {}", e.amount, s.reward);
  return {};
}

// A compensation must give back what the forward step took.
std::string amount_problem(const StepReplay& s, RecordType type, const Event& e) {
  if (type == RecordType::points_refunded && e.amount != s.amount)
    return fmt::format("refund of {} points does not match the deduction of {}", e.amount,
                       s.amount);
  if (type == RecordType::payment_refunded && e.amount != s.amount)
    return fmt::format("refund of {} does not match the charge of {}", e.amount, s.amount);
  return {};
}

// Moves the step as the record says (a refused record is a fact too: the journal says it
// happened, so the replay follows it and later findings see its consequences).
void move(StepReplay& s, const StepTransition& t, RecordType type, const Event& e) {
  if (t.effect == StepEffect::forward) {
    ++s.forward;
    if (type == RecordType::coupon_applied) s.amount = e.extra;
    if (type == RecordType::points_deducted || type == RecordType::payment_approved)
      s.amount = e.amount;
  }
  if (t.effect == StepEffect::compensation) ++s.compensations;
  if (t.sets == StepMark::used) s.used = true;
  if (t.sets == StepMark::rewarded) {
    s.reward_state = 1;
    s.reward = e.amount;
  }
  if (t.sets == StepMark::revoked) s.reward_state = 2;
  if (t.effect == StepEffect::mark) return;  // the state stays; no new move of items
  s.phase_from = s.state;
  s.state = t.to;
  s.phase_records = 1;
}

}  // namespace

void replay_reserved(StepReplay& step) noexcept {
  step.phase_from = StepState::none;
  step.state = StepState::reserved;
  step.phase_records = 0;
}

std::string replay_step(StepReplay& s, RecordType type, const Event& e, std::uint64_t sequence,
                        std::uint32_t items) {
  const std::optional<OrderStep> step = domains::step_of_record(type);
  if (!step) return {};  // not a step record (stock_reserved, restocks, messages set aside, ...)
  const bool continuing =
      *step == OrderStep::stock && s.last_type == static_cast<std::uint16_t>(type) &&
      s.last_sequence + 1 == sequence && s.phase_records < std::max<std::uint32_t>(items, 1);
  if (s.first_sequence == 0) s.first_sequence = sequence;
  s.last_sequence = sequence;
  s.last_type = static_cast<std::uint16_t>(type);
  if (continuing) {  // the next line item of the same move
    ++s.phase_records;
    return {};
  }
  const StepTransition* t = domains::find_step_transition(*step, s.state, type);
  if (t == nullptr) {
    const StepTransition* u = usual(*step, type);
    std::string wrong = refusal(s, *step, *u, type, e);
    move(s, *u, type, e);
    return wrong;
  }
  std::string wrong = mark_problem(s, *t, type, e);
  if (wrong.empty() && t->effect == StepEffect::compensation) wrong = amount_problem(s, type, e);
  move(s, *t, type, e);
  return wrong;
}

std::optional<OrderStep> step_of_domain(Domain domain) noexcept {
  switch (domain) {
    case Domain::product:
      return OrderStep::stock;
    case Domain::coupon:
      return OrderStep::coupon;
    case Domain::point:
      return OrderStep::points;
    case Domain::payment:
      return OrderStep::payment;
    default:
      return std::nullopt;
  }
}

bool step_needs_compensation(Domain domain, const StepReplay& step) noexcept {
  const std::optional<OrderStep> s = step_of_domain(domain);
  return s && domains::step_needs_compensation(*s, step.state);
}

}  // namespace flashsaga::tools
