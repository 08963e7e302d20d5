// payment: wallet balances, charging orders, refunds; a pluggable payment adapter.
//
// Requires: a Batch per input (domains/logic.h); state in memory (domains/state.h).
// Guarantees (DESIGN.md "Compensation is gated by journaled step state", invariant 4):
//   - per order one PaymentRow gates everything: at most one charge per order (a repeated
//     PaymentRequested charges nothing and repeats the outcome: approved or declined), a refund only for an approved charge (never for a declined
//     one or none), and a cancel that finds no row closes the gate (cancelled_before_apply) so
//     a late PaymentRequested charges nothing;
//   - each wallet keeps balance = deposits - charges + refunds >= 0, asserted before every
//     write; the wallet, its history and the journal record change in one batch.
//
// Adapters (engine::Config::payment_adapter):
//   wallet  charges the built-in wallet at once: approved, or declined(insufficient_balance).
//   pg      a simulated external payment gateway. The outcome for an order is a pure function
//           of (pg_seed, order id): declined (pg_decline_permille / 1000), never answered
//           (pg_hang_permille / 1000) or approved. The row stays `pending` until the answer
//           arrives pg_latency_ms later (tick()); latency 0 answers inside apply(). A pending
//           charge that is cancelled is voided (nothing was taken). The card is external, so
//           a PG charge or refund does not touch the wallet.
//   A charge of 0 (an order paid fully by coupon and points) is approved at once without
//   touching the wallet or the PG.
//
// Inputs and what they answer:
//   deposit            -> command_reply {ok, entity_id = user, value = balance} or
//                         not_found (field 1: user id 0) / invalid_field (field 2: amount)
//   payment_requested  -> payment_approved{amount} or payment_declined{reason} to order
//   order_cancelled    -> refund or void (no message)
//   order_completed    -> nothing
//
// History: history (user, journal sequence) -> the Event of each wallet change, with `other`
// set to the RecordType number: wallet_deposited (deposit), payment_approved (charge),
// payment_refunded (refund).
//
// Memory: every wallet; the payment rows of the most recent orders (a window; older ones are
// read from the view). The answers the PG owes are kept in a FIFO ordered by due time (the
// latency is one constant and batch times do not go backwards); load() rebuilds it from the
// pending rows in the window, due at once. tick() answers at most pg_tick_count_max per call.
//
// Example:
//   PaymentDomain logic(PaymentOptions{});
//   runtime::Runtime rt(options, deployment, logic);
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "domains/fields.h"
#include "domains/logic.h"
#include "domains/options.h"
#include "domains/rows.h"
#include "domains/state.h"

namespace flashsaga::domains {

// A deposit that would take a wallet above this is refused, so every balance stays an exact
// JSON number (below 2^53).
inline constexpr std::int64_t wallet_balance_max = 1'000'000'000'000'000;
static_assert(wallet_balance_max < (std::int64_t{1} << 53));
static_assert(money_max <= wallet_balance_max);

// PG answers given per tick(), so one batch stays bounded.
inline constexpr std::uint32_t pg_tick_count_max = 1024;

// What the simulated PG will do with a charge. Stable numbers.
enum class PgDecision : std::uint8_t { approve = 0, decline = 1, hang = 2 };

// Pure: the same (seed, order id) always gives the same decision. Draws r in [0, 1000) from
// splitmix64; r < decline_permille declines, r < decline + hang never answers, else approves.
PgDecision pg_decision(std::uint64_t seed, std::uint64_t order_id, std::uint32_t decline_permille,
                       std::uint32_t hang_permille) noexcept;

class PaymentDomain final : public DomainLogic {
 public:
  explicit PaymentDomain(const PaymentOptions& options);

  ipc::Domain domain() const noexcept override { return ipc::Domain::payment; }
  std::vector<std::string> tables() const override;
  journal::Status load(const journal::Env& view, const journal::ReadTxn& txn) override;
  void apply(Batch& batch, const ipc::Message& in) override;
  std::size_t tick(Batch& batch) override;
  bool tick_due(std::int64_t now_ns) const noexcept override;
  std::int64_t next_due_ns() const noexcept override {
    return due_.empty() ? INT64_MAX : due_.front().due_ns;
  }
  void viewed(std::uint64_t batch_id) override { payments_.viewed(batch_id); }

  // PG answers still owed (hung charges excluded), for tests and metrics.
  std::size_t pg_waiting() const noexcept { return due_.size(); }
  // A wallet as this domain holds it (for tests).
  Wallet wallet(std::uint64_t user) const noexcept { return wallets_.get(user); }

  // Field numbers in replies to deposit.
  static constexpr std::uint16_t field_user_id = payment_field::user_id;
  static constexpr std::uint16_t field_amount = payment_field::amount;

 private:
  struct PgDue {
    std::int64_t due_ns;
    std::uint64_t order_id;
  };

  void deposit(Batch& batch, const ipc::Message& in);
  void on_payment_requested(Batch& batch, const ipc::Message& in);
  void on_order_cancelled(Batch& batch, const ipc::Message& in);
  void charge_wallet(Batch& batch, PaymentRow& row);
  void request_pg(Batch& batch, PaymentRow& row);
  // Turns a pending PG charge into its answer: approved or declined, record and message.
  void answer_pg(Batch& batch, PaymentRow& row, PgDecision decision);
  // Approves or declines `row` (state set by the caller): row, record and message to order.
  void finish(Batch& batch, const PaymentRow& row, const Wallet* wallet);
  // A repeated request: the order hears again the outcome its journal lost.
  void answer_again(Batch& batch, const PaymentRow& row);

  PgDecision decide(std::uint64_t order_id) const noexcept;
  void store_wallet(Batch& batch, std::uint64_t user, const Wallet& w);
  void record(Batch& batch, RecordType type, std::uint64_t order_id, const Event& event,
              bool in_history);

  PaymentOptions options_;
  std::int64_t pg_latency_ns_;
  std::deque<PgDue> due_;

  DenseTable<Wallet> wallets_;
  LogTable<Event> history_;
  WindowTable<PaymentRow> payments_;
};

}  // namespace flashsaga::domains
