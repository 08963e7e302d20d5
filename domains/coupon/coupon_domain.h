// coupon: coupon templates, issuing coupons to users, and applying them to orders.
//
// Requires: a Batch per input (domains/logic.h); state in memory (domains/state.h). The
//   counters "next_template_id" and "next_coupon_id" hand out ids.
// Guarantees:
//   - issuing is first come, first served in input order: at most one coupon per (template,
//     user) (holders), never more than a limited template's quantity in total — exact under
//     any race, because this domain is the single writer;
//   - per order one CouponStep row gates everything (DESIGN.md "Compensation is gated by
//     journaled step state"): a duplicate OrderPlaced or OrderCancelled is a no-op, a cancel
//     releases only a journaled application, and a cancel that finds no step closes the gate
//     (cancelled_before_apply) so a late OrderPlaced applies nothing;
//   - a coupon is held by at most one live order; a released coupon is available again, even
//     one that had been used (a refund gives the coupon back);
//   - every change and its journal record are in the same batch.
// Memory: every template and coupon (DenseTable by id; a template's view row is written once
//   per batch however many coupons it issued) and holder (KeyedTable, all); the steps
//   of the most recent StepOptions::window order ids (WindowTable; older steps are read from
//   the view); by_user is written only. No allocation per saga message in steady state.
//
// Inputs and what they answer:
//   create_coupon_template -> command_reply {ok, entity_id = template id} or invalid_field
//                             (field = the body field's position, see field_*)
//   issue_coupon           -> command_reply {ok, entity_id = coupon id}; not_found (template),
//                             conflict (expired template, or the user holds one), sold_out
//   order_placed           -> coupon_applied{coupon, discount} or coupon_rejected{reason} to
//                             order, only when the order names a coupon
//   order_completed        -> the held coupon becomes used (no message)
//   order_cancelled        -> the held or used coupon becomes available (no message)
//
// Example:
//   CouponDomain logic(StepOptions{});
//   runtime::Runtime rt(..., logic);  // or tests/domains/domain_harness.h
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domains/fields.h"
#include "domains/logic.h"
#include "domains/rules.h"
#include "domains/options.h"
#include "domains/rows.h"
#include "domains/state.h"
#include "journal/journal.h"

namespace flashsaga::domains {

// The discount a template gives on an order of `subtotal`: fixed → min(value, subtotal);
// percent → floor(subtotal × value / 100). Either is capped at max_discount when that is > 0,
// and never exceeds the subtotal; 0 for a subtotal ≤ 0. Exact for every subtotal a valid order
// can have (no overflow). The order domain uses the same function to cap the points it asks.
std::int64_t coupon_discount(const TemplateRow& tpl, std::int64_t subtotal) noexcept;

class CouponDomain final : public DomainLogic {
 public:
  explicit CouponDomain(const StepOptions& options = StepOptions{});

  ipc::Domain domain() const noexcept override { return ipc::Domain::coupon; }
  std::vector<std::string> tables() const override;
  journal::Status load(const journal::Env& view, const journal::ReadTxn& txn) override;
  void apply(Batch& batch, const ipc::Message& in) override;
  void viewed(std::uint64_t batch_id) override;
  void end_batch(Batch& batch) override { templates_.flush(batch); }

  // Field numbers in replies to create_coupon_template (positions in the body).
  static constexpr std::uint16_t field_value = template_field::value;
  static constexpr std::uint16_t field_max_discount = template_field::max_discount;
  static constexpr std::uint16_t field_min_order_amount = template_field::min_order_amount;
  static constexpr std::uint16_t field_expires_at = template_field::expires_at;
  static constexpr std::uint16_t field_quantity = template_field::quantity;
  static constexpr std::uint16_t field_kind = template_field::kind;
  static constexpr std::uint16_t field_name = template_field::name;
  // Field numbers in replies to issue_coupon.
  static constexpr std::uint16_t field_template_id = issue_field::template_id;
  static constexpr std::uint16_t field_user_id = issue_field::user_id;

 private:
  void create_template(Batch& batch, const ipc::Message& in);
  void issue(Batch& batch, const ipc::Message& in);
  void on_order_placed(Batch& batch, const ipc::Message& in);
  void on_order_completed(Batch& batch, const ipc::Message& in);
  void on_order_cancelled(Batch& batch, const ipc::Message& in);

  // Why an order may not apply this coupon now (none: it may).
  ipc::OrderReason refusal(const Batch& batch, const ipc::OrderPlacedBody& order,
                           const CouponRow& coupon, const TemplateRow& tpl) const noexcept;
  // Refuses the coupon step of an order: step row, record and message in one go.
  void reject(Batch& batch, std::uint64_t order_id, std::uint64_t coupon_id,
              std::uint64_t template_id, ipc::OrderReason reason);
  // The next id of a counter (from 1), which moves on.
  static std::uint64_t next_id(Batch& batch, Counter& counter);

  DenseTable<TemplateRow> templates_;
  DenseTable<CouponRow> coupons_;
  KeyedTable<std::uint64_t> holders_{KeyedTable<std::uint64_t>::Memory::all};
  LogKeys by_user_;
  WindowTable<CouponStep> steps_;
  Counter next_template_id_{"next_template_id"};
  Counter next_coupon_id_{"next_coupon_id"};
};

}  // namespace flashsaga::domains
