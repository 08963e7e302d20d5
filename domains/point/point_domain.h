// point: point balances — operator accruals, deductions for orders, refunds, order rewards.
//
// Requires: a Batch per input (domains/logic.h); state in memory (domains/state.h).
// Guarantees (DESIGN.md "Compensation is gated by journaled step state"):
//   - every balance change, its step row, its history row and its journal record are in the
//     same batch;
//   - per order one PointStep row gates everything: a duplicate OrderPlaced or OrderCancelled
//     is a no-op, a cancel refunds only a journaled deduction (never an empty refund), and a
//     cancel that finds no step closes the gate (cancelled_before_apply) so a late OrderPlaced
//     deducts nothing;
//   - a refunded completed order takes its reward back, at most what the balance still holds;
//   - each account keeps balance = accrued - deducted + refunded + rewarded - revoked >= 0,
//     asserted before every write and on every account loaded.
// Memory: every account (DenseTable by user id); the steps of the most recent
//   StepOptions::window order ids (WindowTable; older steps are read from the view); history
//   and reasons are written only (LogTable). No allocation per saga message in steady state.
//
// Inputs and what they answer:
//   accrue_points    -> command_reply {ok, entity_id = user, value = balance} or invalid_field
//                       (field 2: amount, 3: reason) / not_found (field 1: user id 0)
//   order_placed     -> points_deducted{amount} or points_rejected{insufficient_points} to order,
//                       only when points_to_use > 0
//   order_completed  -> reward accrued once (no message)
//   order_cancelled  -> refund and/or reward revocation (no message)
//
// History: history (user, journal sequence) -> the effect's Event with `other` set to the
// RecordType number, for the kinds accrue, deduct, refund, reward and reward_revoke. The
// accrual's free-text reason lives beside it in reasons under the same key.
//
// Example:
//   PointDomain logic(StepOptions{});
//   runtime::Runtime rt(..., logic);  // or tests/domains/domain_harness.h
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domains/fields.h"
#include "domains/logic.h"
#include "domains/options.h"
#include "domains/rows.h"
#include "domains/state.h"
#include "journal/journal.h"

namespace flashsaga::domains {

// A balance above this is refused (accrual) or not reached (rewards are capped to it), so
// every balance stays an exact JSON number (below 2^53).
inline constexpr std::int64_t point_balance_max = 1'000'000'000'000'000;
static_assert(point_balance_max < (std::int64_t{1} << 53));
static_assert(money_max <= point_balance_max);

// PointStep::reward_state values.
inline constexpr std::uint8_t reward_state_none = 0;
inline constexpr std::uint8_t reward_state_rewarded = 1;
inline constexpr std::uint8_t reward_state_revoked = 2;

class PointDomain final : public DomainLogic {
 public:
  explicit PointDomain(const StepOptions& options = StepOptions{});

  ipc::Domain domain() const noexcept override { return ipc::Domain::point; }
  std::vector<std::string> tables() const override;
  journal::Status load(const journal::Env& view, const journal::ReadTxn& txn) override;
  void apply(Batch& batch, const ipc::Message& in) override;
  void viewed(std::uint64_t batch_id) override { steps_.viewed(batch_id); }

  // An account as this domain holds it (for tests).
  PointAccount account(std::uint64_t user) const noexcept { return accounts_.get(user); }

  // Field numbers in invalid_field / not_found replies to accrue_points.
  static constexpr std::uint16_t field_user_id = point_field::user_id;
  static constexpr std::uint16_t field_amount = point_field::amount;
  static constexpr std::uint16_t field_reason = point_field::reason;

 private:
  void accrue(Batch& batch, const ipc::Message& in);
  void on_order_placed(Batch& batch, const ipc::Message& in);
  void on_order_completed(Batch& batch, const ipc::Message& in);
  void on_order_cancelled(Batch& batch, const ipc::Message& in);
  // Gives a deduction back (step deducted -> refunded); returns whether anything changed.
  bool refund(Batch& batch, std::uint64_t order_id, std::uint8_t reason, PointStep& step,
              PointAccount& account);
  // Takes a completed order's reward back, at most what the balance holds.
  void revoke(Batch& batch, std::uint64_t order_id, std::uint8_t reason, PointStep& step,
              PointAccount& account);

  void store_account(Batch& batch, std::uint64_t user, const PointAccount& account);
  // Appends the record and, for balance effects, the same Event to the user's history;
  // returns the record's sequence.
  std::uint64_t record(Batch& batch, RecordType type, std::uint64_t order_id, const Event& event,
                       bool in_history);

  DenseTable<PointAccount> accounts_;
  LogTable<Event> history_;
  WindowTable<PointStep> steps_;
  LogTable<ipc::Reason> reasons_;
};

}  // namespace flashsaga::domains
