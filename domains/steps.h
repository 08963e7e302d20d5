// steps: one transition table per saga step — which journal record moves an order's step from
// which state to which. The four step domains assert each move they make against it, and the
// checker and the tracer replay journals through the same table, so "what a domain may do" is
// written once.
//
// A step's state is a StepState. Two steps also carry a mark beside their state: the coupon's
// `used` (the order completed with it) and the point step's reward (accrued, then perhaps
// revoked). A transition says which mark it sets and which it needs.
//
// The stock step starts at `reserved` for an order the product domain has counted in bulk
// (a stock_reserved record whose last_order_id covers it: no per-order record says so), and at
// `none` before that. From there it is sold once (completion) and released once (a cancel,
// from reserved, or from sold for a refund). One stock_sold or stock_released record is
// journaled per line item; the table describes the step, so the items of one move share one
// transition.
//
//   stock    reserved --sold--> sold --released--> released
//            reserved --released--> released
//   coupon   none --applied--> applied [--used--> applied+used] --released--> released
//            none --rejected--> rejected;   none --cancelled_before_apply--> (gate closed)
//   points   none --deducted--> deducted --refunded--> refunded
//            none --rejected--> rejected;   none --cancelled_before_apply--> (gate closed)
//            reward: none|deducted --rewarded--> +rewarded --reward_revoked--> +revoked
//   payment  none --pg_requested--> pending --approved|declined|voided--> ...
//            none --approved--> approved --refunded--> refunded;  none --declined--> declined
//            none --cancelled_before_apply--> (gate closed)
//
// Requires: nothing (pure functions of stable numbers).
// Guarantees: find_step_transition returns the one row for (step, state, record), or nullptr
//   when the owning domain never journals that record from that state.
//
// Example (a domain about to refund):
//   FS_ASSERT(step_transition_allowed(OrderStep::points, state, RecordType::points_refunded));
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "domains/rows.h"

namespace flashsaga::domains {

// What a transition does to the order's saga.
enum class StepEffect : std::uint8_t {
  forward = 1,       // the step succeeded (applied, deducted, charged; stock sold)
  refusal = 2,       // the step was refused (rejected, declined): nothing to undo
  request = 3,       // a charge asked of the external PG: not moved yet
  compensation = 4,  // a success undone (released, refunded, voided)
  gate = 5,          // the cancel came first: a later forward step is refused
  mark = 6,          // only the mark changes (coupon used, reward accrued or revoked)
};

// The marks beside a step's state (coupon: used; point: reward).
enum class StepMark : std::uint8_t { none = 0, used = 1, rewarded = 2, revoked = 3 };

struct StepTransition {
  StepState from;
  RecordType record;
  StepState to;
  StepEffect effect;
  StepMark needs = StepMark::none;  // the mark the step must hold (none: no requirement)
  StepMark sets = StepMark::none;   // the mark the step holds afterwards (none: unchanged)
};

// Every transition of one step.
std::span<const StepTransition> step_transitions(OrderStep step) noexcept;

// The transition `record` makes from `from`, or nullptr if the domain never journals it there.
// Marks are not checked here (see StepTransition::needs).
const StepTransition* find_step_transition(OrderStep step, StepState from,
                                           RecordType record) noexcept;

inline bool step_transition_allowed(OrderStep step, StepState from, RecordType record) noexcept {
  return find_step_transition(step, from, record) != nullptr;
}

// The step a record type moves, if it is a step record (stock_sold -> stock, ...). A
// stock_reserved record is not: it counts many orders' units at once.
std::optional<OrderStep> step_of_record(RecordType record) noexcept;

// The effect a record type has wherever it is allowed (every row of one record type has the
// same effect), or nullopt for a record type that is not a step record.
std::optional<StepEffect> step_effect_of(RecordType record) noexcept;

// Whether a step in `state` holds something a cancel must undo (reserved or sold stock, an
// applied coupon, deducted points, an approved or pending charge).
bool step_needs_compensation(OrderStep step, StepState state) noexcept;

}  // namespace flashsaga::domains
