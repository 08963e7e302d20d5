// point: point balances — operator accruals, deductions for orders, refunds, order rewards.
//
// Requires: the point environment with tables() plus the runtime's tables; a Batch per input.
// Guarantees (DESIGN.md "Compensation is gated by journaled step state"):
//   - every balance change, its step row, its history row and its journal record are written
//     in the same batch;
//   - per order one PointStep row gates everything: a duplicate OrderPlaced or OrderCancelled
//     is a no-op, a cancel refunds only a journaled deduction (never an empty refund), and a
//     cancel that finds no step closes the gate (cancelled_before_apply) so a late OrderPlaced
//     deducts nothing;
//   - a refunded completed order takes its reward back, at most what the balance still holds;
//   - each account keeps balance = accrued - deducted + refunded + rewarded - revoked >= 0,
//     asserted before every write.
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
//   PointDomain logic;
//   runtime::Runtime rt(options, deployment, env, logic);  // engine/runtime/runtime.h
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domains/rows.h"
#include "domains/fields.h"
#include "domains/logic.h"
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
  PointDomain() = default;

  ipc::Domain domain() const noexcept override { return ipc::Domain::point; }
  std::vector<std::string> tables() const override;
  journal::Status recover(journal::Env& env, const journal::ReadTxn& txn) override;
  journal::Status apply(Batch& batch, const ipc::Message& in) override;

  // Field numbers in invalid_field / not_found replies to accrue_points.
  static constexpr std::uint16_t field_user_id = point_field::user_id;
  static constexpr std::uint16_t field_amount = point_field::amount;
  static constexpr std::uint16_t field_reason = point_field::reason;

 private:
  journal::Status accrue(Batch& batch, const ipc::Message& in);
  journal::Status on_order_placed(Batch& batch, const ipc::Message& in);
  journal::Status on_order_completed(Batch& batch, const ipc::Message& in);
  journal::Status on_order_cancelled(Batch& batch, const ipc::Message& in);

  journal::Status load_account(const journal::ReadTxn& txn, std::uint64_t user,
                               PointAccount& out) const;
  journal::Status store_account(journal::WriteTxn& txn, std::uint64_t user,
                                const PointAccount& account) const;
  // Looks up the order's step; *found says whether there was one.
  journal::Status load_step(const journal::ReadTxn& txn, std::uint64_t order_id, PointStep& out,
                            bool* found) const;
  // Appends the record and, for balance effects, the same Event to the user's history.
  journal::Status record(Batch& batch, RecordType type, std::uint64_t order_id, Event event,
                         bool in_history, std::uint64_t* sequence_out = nullptr) const;

  journal::TableId accounts_ = 0;
  journal::TableId history_ = 0;
  journal::TableId steps_ = 0;
  journal::TableId reasons_ = 0;
};

}  // namespace flashsaga::domains
