#include "domains/point/point_domain.h"

#include <algorithm>

#include "engine/base/assert.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

constexpr std::string_view table_accounts = "accounts";
constexpr std::string_view table_history = "history";
constexpr std::string_view table_steps = "steps";
constexpr std::string_view table_reasons = "reasons";

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

std::vector<std::string> PointDomain::tables() const {
  return {std::string(table_accounts), std::string(table_history), std::string(table_steps),
          std::string(table_reasons)};
}

journal::Status PointDomain::recover(journal::Env& env, const journal::ReadTxn& txn) {
  (void)txn;  // nothing in memory: every decision reads its rows in the batch
  accounts_ = env.table(table_accounts);
  history_ = env.table(table_history);
  steps_ = env.table(table_steps);
  reasons_ = env.table(table_reasons);
  return {};
}

journal::Status PointDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::accrue_points: return accrue(batch, in);
    case MessageType::order_placed: return on_order_placed(batch, in);
    case MessageType::order_completed: return on_order_completed(batch, in);
    case MessageType::order_cancelled: return on_order_cancelled(batch, in);
    default: return {};  // not for this domain: nothing to do
  }
}

journal::Status PointDomain::load_account(const journal::ReadTxn& txn, std::uint64_t user,
                                          PointAccount& out) const {
  out = PointAccount{};
  journal::Status s = txn.get_as(accounts_, journal::key_u64(user), out);
  if (s.code() == journal::ErrorCode::not_found) {
    out = PointAccount{};
    return {};
  }
  if (!s.ok()) return s;
  check_account(out);
  return {};
}

journal::Status PointDomain::store_account(journal::WriteTxn& txn, std::uint64_t user,
                                           const PointAccount& account) const {
  check_account(account);
  return txn.put_as(accounts_, journal::key_u64(user), account);
}

journal::Status PointDomain::load_step(const journal::ReadTxn& txn, std::uint64_t order_id,
                                       PointStep& out, bool* found) const {
  out = PointStep{};
  *found = false;
  journal::Status s = txn.get_as(steps_, journal::key_u64(order_id), out);
  if (s.code() == journal::ErrorCode::not_found) {
    out = PointStep{};
    return {};
  }
  if (!s.ok()) return s;
  *found = true;
  return {};
}

journal::Status PointDomain::record(Batch& batch, RecordType type, std::uint64_t order_id,
                                    Event event, bool in_history,
                                    std::uint64_t* sequence_out) const {
  std::uint64_t sequence = 0;
  journal::WriteTxn& txn = batch.txn();
  journal::Status s =
      txn.append(static_cast<std::uint16_t>(type), order_id, journal::as_bytes(event), &sequence);
  if (!s.ok()) return s;
  if (sequence_out != nullptr) *sequence_out = sequence;
  if (!in_history) return {};
  return txn.put_as(history_, journal::key_u64_u64(event.subject, sequence), event);
}

journal::Status PointDomain::accrue(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::AccruePointsBody>(in);
  if (body.user_id == 0) {
    batch.reply_command(in, Domain::point, CommandResult::not_found, field_user_id, 0, 0);
    return {};
  }
  if (body.amount <= 0 || body.amount > money_max) {
    batch.reply_command(in, Domain::point, CommandResult::invalid_field, field_amount, body.user_id, 0);
    return {};
  }
  PointAccount account;
  if (auto s = load_account(batch.txn(), body.user_id, account); !s.ok()) return s;
  if (account.balance > point_balance_max - body.amount) {
    batch.reply_command(in, Domain::point, CommandResult::invalid_field, field_amount, body.user_id,
                  account.balance);
    return {};
  }
  account.balance += body.amount;
  account.accrued += body.amount;
  if (auto s = store_account(batch.txn(), body.user_id, account); !s.ok()) return s;
  const Event e =
      effect_event(RecordType::points_accrued, body.user_id, body.amount, account, StepState::none);
  std::uint64_t sequence = 0;
  if (auto s = record(batch, RecordType::points_accrued, 0, e, true, &sequence); !s.ok()) return s;
  if (!body.reason.view().empty()) {
    auto key = journal::key_u64_u64(body.user_id, sequence);
    if (auto s = batch.txn().put_as(reasons_, key, body.reason); !s.ok()) return s;
  }
  batch.reply_command(in, Domain::point, CommandResult::ok, 0, body.user_id, account.balance);
  return {};
}

journal::Status PointDomain::on_order_placed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderPlacedBody>(in);
  if (order_id == 0 || body.points_to_use <= 0) return {};  // no point step in this order
  PointStep step;
  bool found = false;
  if (auto s = load_step(batch.txn(), order_id, step, &found); !s.ok()) return s;
  // Already handled (a duplicate), or cancelled first: a late deduction is refused.
  if (found) return {};

  PointAccount account;
  if (auto s = load_account(batch.txn(), body.user_id, account); !s.ok()) return s;
  step.user_id = body.user_id;
  if (account.balance < body.points_to_use) {
    step.state = static_cast<std::uint8_t>(StepState::rejected);
    if (auto s = batch.txn().put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
    Event e =
        effect_event(RecordType::points_rejected, body.user_id, 0, account, StepState::rejected);
    e.extra = body.points_to_use;
    e.reason = static_cast<std::uint8_t>(ipc::OrderReason::insufficient_points);
    if (auto s = record(batch, RecordType::points_rejected, order_id, e, false); !s.ok()) return s;
    ipc::StepRejectedBody out{};
    out.reason = e.reason;
    batch.send_to(Domain::point, Domain::order, MessageType::points_rejected, order_id, out);
    return {};
  }
  account.balance -= body.points_to_use;
  account.deducted += body.points_to_use;
  step.amount = body.points_to_use;
  step.state = static_cast<std::uint8_t>(StepState::deducted);
  if (auto s = store_account(batch.txn(), body.user_id, account); !s.ok()) return s;
  if (auto s = batch.txn().put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
  const Event e = effect_event(RecordType::points_deducted, body.user_id, step.amount, account,
                               StepState::deducted);
  if (auto s = record(batch, RecordType::points_deducted, order_id, e, true); !s.ok()) return s;
  batch.send_to(Domain::point, Domain::order, MessageType::points_deducted, order_id,
                ipc::PointsDeductedBody{step.amount});
  return {};
}

journal::Status PointDomain::on_order_completed(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0 || body.reward_points <= 0 || body.reward_points > money_max) return {};
  PointStep step;
  bool found = false;
  if (auto s = load_step(batch.txn(), order_id, step, &found); !s.ok()) return s;
  if (found && step.reward_state != reward_state_none) return {};  // rewarded already
  const auto state = static_cast<StepState>(step.state);
  // Only an order whose point step went forward (or had none) completes; anything else means
  // this step was cancelled or refused, and a reward would be points out of nothing.
  if (state != StepState::none && state != StepState::deducted) return {};
  if (!found) step.user_id = body.user_id;

  PointAccount account;
  if (auto s = load_account(batch.txn(), step.user_id, account); !s.ok()) return s;
  const std::int64_t room = std::max<std::int64_t>(point_balance_max - account.balance, 0);
  const std::int64_t reward = std::min(body.reward_points, room);
  account.balance += reward;
  account.rewarded += reward;
  step.reward = reward;
  step.reward_state = reward_state_rewarded;
  if (auto s = store_account(batch.txn(), step.user_id, account); !s.ok()) return s;
  if (auto s = batch.txn().put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
  Event e = effect_event(RecordType::points_rewarded, step.user_id, reward, account, state);
  e.extra = body.paid;
  return record(batch, RecordType::points_rewarded, order_id, e, reward > 0);
}

journal::Status PointDomain::on_order_cancelled(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0) return {};
  PointStep step;
  bool found = false;
  if (auto s = load_step(batch.txn(), order_id, step, &found); !s.ok()) return s;
  if (!found) step.user_id = body.user_id;
  PointAccount account;
  if (auto s = load_account(batch.txn(), step.user_id, account); !s.ok()) return s;
  bool step_changed = false;
  bool account_changed = false;

  switch (static_cast<StepState>(step.state)) {
    case StepState::none: {
      // Nothing was deducted for this order: close the gate against a late deduction.
      step.state = static_cast<std::uint8_t>(StepState::cancelled_before_apply);
      step_changed = true;
      Event e = effect_event(RecordType::points_cancelled_before_apply, step.user_id, 0, account,
                             StepState::cancelled_before_apply);
      e.reason = body.reason;
      if (auto s = record(batch, RecordType::points_cancelled_before_apply, order_id, e, false);
          !s.ok()) {
        return s;
      }
      break;
    }
    case StepState::deducted: {
      FS_ASSERT(step.amount > 0);
      account.balance += step.amount;
      account.refunded += step.amount;
      step.state = static_cast<std::uint8_t>(StepState::refunded);
      step_changed = true;
      account_changed = true;
      Event e = effect_event(RecordType::points_refunded, step.user_id, step.amount, account,
                             StepState::refunded);
      e.reason = body.reason;
      if (auto s = record(batch, RecordType::points_refunded, order_id, e, true); !s.ok()) return s;
      break;
    }
    case StepState::rejected:
    case StepState::refunded:
    case StepState::cancelled_before_apply:
      break;  // nothing was taken, or it was given back already
    default: FS_ASSERT(false && "a point step in a state the point domain never writes");
  }

  if (body.was_completed == 1 && step.reward_state == reward_state_rewarded) {
    // Refund first, then revoke: the refunded points may cover the reward. The reward may
    // have been spent meanwhile; take back what is there rather than go negative.
    const std::int64_t revoked = std::min(step.reward, account.balance);
    FS_ASSERT(revoked >= 0);
    account.balance -= revoked;
    account.revoked += revoked;
    step.reward_revoked = revoked;
    step.reward_state = reward_state_revoked;
    step_changed = true;
    account_changed = true;
    Event e = effect_event(RecordType::points_reward_revoked, step.user_id, revoked, account,
                           static_cast<StepState>(step.state));
    e.extra = step.reward;
    e.reason = body.reason;
    if (auto s = record(batch, RecordType::points_reward_revoked, order_id, e, revoked > 0);
        !s.ok()) {
      return s;
    }
  }
  if (account_changed) {
    if (auto s = store_account(batch.txn(), step.user_id, account); !s.ok()) return s;
  }
  if (step_changed) {
    if (auto s = batch.txn().put_as(steps_, journal::key_u64(order_id), step); !s.ok()) return s;
  }
  return {};
}

}  // namespace flashsaga::domains
