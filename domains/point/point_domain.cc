#include "domains/point/point_domain.h"

#include <algorithm>

#include "domains/steps.h"
#include "engine/base/assert.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

constexpr std::uint16_t tag_accounts = 0;
constexpr std::uint16_t tag_history = 1;
constexpr std::uint16_t tag_steps = 2;
constexpr std::uint16_t tag_reasons = 3;

// The ledger identity of DESIGN.md invariant 3, one condition per assert.
void check_account(const PointAccount& a) {
  // No upper bound here: a refund must always go through, even past point_balance_max.
  FS_ASSERT(a.balance >= 0);
  FS_ASSERT(a.accrued >= 0);
  FS_ASSERT(a.deducted >= 0);
  FS_ASSERT(a.refunded >= 0);
  FS_ASSERT(a.rewarded >= 0);
  FS_ASSERT(a.revoked >= 0);
  FS_ASSERT(a.refunded <= a.deducted);
  FS_ASSERT(a.revoked <= a.rewarded);
  FS_ASSERT(a.balance == a.accrued - a.deducted + a.refunded + a.rewarded - a.revoked);
}

Event effect_event(RecordType type, std::uint64_t user, std::int64_t amount,
                   const PointAccount& account, StepState state) {
  Event e{};
  e.subject = user;
  e.other = static_cast<std::uint64_t>(type);
  e.amount = amount;
  e.balance = account.balance;
  e.state = static_cast<std::uint8_t>(state);
  return e;
}

}  // namespace

PointDomain::PointDomain(const StepOptions& options) : steps_(options.window) {}

std::vector<std::string> PointDomain::tables() const {
  return {"accounts", "history", "steps", "reasons"};
}

journal::Status PointDomain::load(const journal::Env& view, const journal::ReadTxn& txn) {
  accounts_.bind(tag_accounts, view.table("accounts"));
  history_.bind(tag_history, view.table("history"));
  steps_.bind(tag_steps, view.table("steps"));
  reasons_.bind(tag_reasons, view.table("reasons"));
  if (journal::Status s = accounts_.load(txn); !s.ok()) return s;
  accounts_.for_each([](std::uint64_t, const PointAccount& a) { check_account(a); });
  return steps_.load(txn);
}

void PointDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::accrue_points:
      return accrue(batch, in);
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

void PointDomain::store_account(Batch& batch, std::uint64_t user, const PointAccount& account) {
  check_account(account);
  accounts_.put(batch, user, account);
}

std::uint64_t PointDomain::record(Batch& batch, RecordType type, std::uint64_t order_id,
                                  const Event& event, bool in_history) {
  const std::uint64_t sequence = batch.record(type, order_id, event);
  if (in_history) history_.put(batch, Key2{event.subject, sequence}, event);
  return sequence;
}

void PointDomain::accrue(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::AccruePointsBody>(in);
  if (body.user_id == 0 || body.user_id >= user_ids_max) {
    return batch.reply_command(in, Domain::point, CommandResult::not_found, field_user_id, 0, 0);
  }
  if (body.amount <= 0 || body.amount > money_max) {
    return batch.reply_command(in, Domain::point, CommandResult::invalid_field, field_amount,
                               body.user_id, 0);
  }
  PointAccount account = accounts_.get(body.user_id);
  if (account.balance > point_balance_max - body.amount) {
    return batch.reply_command(in, Domain::point, CommandResult::invalid_field, field_amount,
                               body.user_id, account.balance);
  }
  account.balance += body.amount;
  account.accrued += body.amount;
  store_account(batch, body.user_id, account);
  const Event e =
      effect_event(RecordType::points_accrued, body.user_id, body.amount, account, StepState::none);
  const std::uint64_t sequence = record(batch, RecordType::points_accrued, 0, e, true);
  if (!body.reason.view().empty()) reasons_.put(batch, Key2{body.user_id, sequence}, body.reason);
  batch.reply_command(in, Domain::point, CommandResult::ok, 0, body.user_id, account.balance);
}

void PointDomain::on_order_placed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderPlacedBody>(in);
  if (order_id == 0 || body.points_to_use <= 0) return;  // no point step in this order
  PointStep step{};
  // Already handled (a duplicate), or cancelled first: a late deduction is refused.
  if (steps_.get(batch, order_id, step)) return;

  PointAccount account = accounts_.get(body.user_id);
  step.user_id = body.user_id;
  // The moves below follow the point step's table (domains/steps.h), as the checker replays it.
  FS_ASSERT(
      step_transition_allowed(OrderStep::points, StepState::none, RecordType::points_deducted));
  if (account.balance < body.points_to_use) {
    step.state = static_cast<std::uint8_t>(StepState::rejected);
    steps_.put(batch, order_id, step);
    Event e =
        effect_event(RecordType::points_rejected, body.user_id, 0, account, StepState::rejected);
    e.extra = body.points_to_use;
    e.reason = static_cast<std::uint8_t>(ipc::OrderReason::insufficient_points);
    record(batch, RecordType::points_rejected, order_id, e, false);
    ipc::StepRejectedBody out{};
    out.reason = e.reason;
    return batch.send_to(Domain::point, Domain::order, MessageType::points_rejected, order_id, out);
  }
  account.balance -= body.points_to_use;
  account.deducted += body.points_to_use;
  step.amount = body.points_to_use;
  step.state = static_cast<std::uint8_t>(StepState::deducted);
  store_account(batch, body.user_id, account);
  steps_.put(batch, order_id, step);
  const Event e = effect_event(RecordType::points_deducted, body.user_id, step.amount, account,
                               StepState::deducted);
  record(batch, RecordType::points_deducted, order_id, e, true);
  batch.send_to(Domain::point, Domain::order, MessageType::points_deducted, order_id,
                ipc::PointsDeductedBody{step.amount});
}

void PointDomain::on_order_completed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0 || body.reward_points <= 0 || body.reward_points > money_max) return;
  PointStep step{};
  const bool found = steps_.get(batch, order_id, step);
  if (found && step.reward_state != reward_state_none) return;  // rewarded already
  const auto state = static_cast<StepState>(step.state);
  // Only an order whose point step went forward (or had none) completes; anything else means
  // this step was cancelled or refused, and a reward would be points out of nothing.
  if (state != StepState::none && state != StepState::deducted) return;
  FS_ASSERT(step_transition_allowed(OrderStep::points, state, RecordType::points_rewarded));
  if (!found) step.user_id = body.user_id;

  PointAccount account = accounts_.get(step.user_id);
  const std::int64_t room = std::max<std::int64_t>(point_balance_max - account.balance, 0);
  const std::int64_t reward = std::min(body.reward_points, room);
  account.balance += reward;
  account.rewarded += reward;
  step.reward = reward;
  step.reward_state = reward_state_rewarded;
  store_account(batch, step.user_id, account);
  steps_.put(batch, order_id, step);
  Event e = effect_event(RecordType::points_rewarded, step.user_id, reward, account, state);
  e.extra = body.paid;
  record(batch, RecordType::points_rewarded, order_id, e, reward > 0);
}

bool PointDomain::refund(Batch& batch, std::uint64_t order_id, std::uint8_t reason, PointStep& step,
                         PointAccount& account) {
  const auto state = static_cast<StepState>(step.state);
  FS_ASSERT(!step_needs_compensation(OrderStep::points, state) ||
            step_transition_allowed(OrderStep::points, state, RecordType::points_refunded));
  switch (state) {
    case StepState::none: {
      // Nothing was deducted for this order: close the gate against a late deduction.
      step.state = static_cast<std::uint8_t>(StepState::cancelled_before_apply);
      Event e = effect_event(RecordType::points_cancelled_before_apply, step.user_id, 0, account,
                             StepState::cancelled_before_apply);
      e.reason = reason;
      record(batch, RecordType::points_cancelled_before_apply, order_id, e, false);
      return true;
    }
    case StepState::deducted: {
      FS_ASSERT(step.amount > 0);
      account.balance += step.amount;
      account.refunded += step.amount;
      step.state = static_cast<std::uint8_t>(StepState::refunded);
      Event e = effect_event(RecordType::points_refunded, step.user_id, step.amount, account,
                             StepState::refunded);
      e.reason = reason;
      record(batch, RecordType::points_refunded, order_id, e, true);
      return true;
    }
    case StepState::rejected:
    case StepState::refunded:
    case StepState::cancelled_before_apply:
      return false;  // nothing was taken, or it was given back already
    default:
      FS_ASSERT(false && "a point step in a state the point domain never writes");
  }
  return false;
}

void PointDomain::revoke(Batch& batch, std::uint64_t order_id, std::uint8_t reason, PointStep& step,
                         PointAccount& account) {
  FS_ASSERT(step_transition_allowed(OrderStep::points, static_cast<StepState>(step.state),
                                    RecordType::points_reward_revoked));
  // The reward may have been spent meanwhile; take back what is there rather than go negative.
  const std::int64_t revoked = std::min(step.reward, account.balance);
  FS_ASSERT(revoked >= 0);
  account.balance -= revoked;
  account.revoked += revoked;
  step.reward_revoked = revoked;
  step.reward_state = reward_state_revoked;
  Event e = effect_event(RecordType::points_reward_revoked, step.user_id, revoked, account,
                         static_cast<StepState>(step.state));
  e.extra = step.reward;
  e.reason = reason;
  record(batch, RecordType::points_reward_revoked, order_id, e, revoked > 0);
}

void PointDomain::on_order_cancelled(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0) return;
  PointStep step{};
  if (!steps_.get(batch, order_id, step)) step.user_id = body.user_id;
  PointAccount account = accounts_.get(step.user_id);
  const auto before = static_cast<StepState>(step.state);
  bool step_changed = refund(batch, order_id, body.reason, step, account);
  bool account_changed = step_changed && before == StepState::deducted;
  // Refund first, then revoke: the refunded points may cover the reward.
  if (body.was_completed == 1 && step.reward_state == reward_state_rewarded) {
    revoke(batch, order_id, body.reason, step, account);
    step_changed = true;
    account_changed = true;
  }
  if (account_changed) store_account(batch, step.user_id, account);
  if (step_changed) steps_.put(batch, order_id, step);
}

}  // namespace flashsaga::domains
