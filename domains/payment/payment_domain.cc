#include "domains/payment/payment_domain.h"

#include <limits>

#include "domains/steps.h"
#include "engine/base/assert.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::uint16_t tag_wallets = 0;
constexpr std::uint16_t tag_history = 1;
constexpr std::uint16_t tag_payments = 2;
constexpr std::uint64_t permille = 1000;
constexpr std::int64_t ns_per_ms = 1'000'000;

std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The ledger identity of invariant 4, one condition per assert. No upper bound on the
// balance: a refund must always go through.
void check_wallet(const Wallet& w) {
  FS_ASSERT(w.balance >= 0);
  FS_ASSERT(w.deposits >= 0);
  FS_ASSERT(w.charges >= 0);
  FS_ASSERT(w.refunds >= 0);
  FS_ASSERT(w.refunds <= w.charges);
  FS_ASSERT(w.balance == w.deposits - w.charges + w.refunds);
}

StepState state_of(const PaymentRow& row) {
  return static_cast<StepState>(row.state);
}
void set_state(PaymentRow& row, StepState s) {
  row.state = static_cast<std::uint8_t>(s);
}
// Moves the payment step along its transition table (domains/steps.h), which the checker
// replays the journal through: a move the table does not have is a bug here.
void move(PaymentRow& row, StepState to, RecordType via) {
  const StepTransition* t = find_step_transition(OrderStep::payment, state_of(row), via);
  FS_ASSERT(t != nullptr);
  FS_ASSERT(t->to == to);
  set_state(row, to);
}

Event payment_event(RecordType type, const PaymentRow& row, std::int64_t amount,
                    std::int64_t balance) {
  Event e{};
  e.subject = row.user_id;
  e.other = static_cast<std::uint64_t>(type);
  e.amount = amount;
  e.balance = balance;
  e.extra = row.method;
  e.state = row.state;
  e.reason = row.reason;
  return e;
}

}  // namespace

PgDecision pg_decision(std::uint64_t seed, std::uint64_t order_id, std::uint32_t decline_permille,
                       std::uint32_t hang_permille) noexcept {
  const std::uint64_t draw = splitmix64(seed ^ splitmix64(order_id)) % permille;
  if (draw < decline_permille) return PgDecision::decline;
  if (draw < std::uint64_t{decline_permille} + hang_permille) return PgDecision::hang;
  return PgDecision::approve;
}

PaymentDomain::PaymentDomain(const PaymentOptions& options)
    : options_(options),
      pg_latency_ns_(options.pg_latency_ms * ns_per_ms),
      payments_(options.window) {
  FS_ASSERT(options.pg_latency_ms >= 0);
  FS_ASSERT(options.pg_latency_ms <= std::numeric_limits<std::int64_t>::max() / ns_per_ms);
  FS_ASSERT(options.pg_decline_permille <= permille);
  FS_ASSERT(options.pg_hang_permille <= permille);
}

std::vector<std::string> PaymentDomain::tables() const {
  return {"wallets", "history", "payments"};
}

PgDecision PaymentDomain::decide(std::uint64_t order_id) const noexcept {
  return pg_decision(options_.pg_seed, order_id, options_.pg_decline_permille,
                     options_.pg_hang_permille);
}

journal::Status PaymentDomain::load(const journal::Env& view, const journal::ReadTxn& txn) {
  wallets_.bind(tag_wallets, view.table("wallets"));
  history_.bind(tag_history, view.table("history"));
  payments_.bind(tag_payments, view.table("payments"));
  if (journal::Status s = wallets_.load(txn); !s.ok()) return s;
  wallets_.for_each([](std::uint64_t, const Wallet& w) { check_wallet(w); });
  if (journal::Status s = payments_.load(txn); !s.ok()) return s;
  // The PG answers still owed: every pending charge of the window that is not hung, due now
  // (the time it was asked is past; answering late is what a real gateway does after our
  // restart). An older pending charge is past its order's deadline: the cancel voids it.
  due_.clear();
  payments_.for_each_recent([&](std::uint64_t, const PaymentRow& row) {
    if (state_of(row) != StepState::pending) return;
    FS_ASSERT(row.method == static_cast<std::uint8_t>(PaymentMethod::pg));
    if (decide(row.order_id) != PgDecision::hang) due_.push_back({0, row.order_id});
  });
  return {};
}

void PaymentDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::deposit:
      return deposit(batch, in);
    case MessageType::payment_requested:
      return on_payment_requested(batch, in);
    case MessageType::order_cancelled:
      return on_order_cancelled(batch, in);
    default:
      return;  // order_completed and anything else: nothing to do
  }
}

bool PaymentDomain::tick_due(std::int64_t now_ns) const noexcept {
  return !due_.empty() && due_.front().due_ns <= now_ns;
}

std::size_t PaymentDomain::tick(Batch& batch) {
  std::size_t answered = 0;
  while (answered < pg_tick_count_max && tick_due(batch.mono_ns())) {
    const PgDue due = due_.front();
    due_.pop_front();
    ++answered;
    PaymentRow row{};
    const bool found = payments_.get(batch, due.order_id, row);
    FS_ASSERT(found);                                   // due_ holds only written rows
    if (state_of(row) != StepState::pending) continue;  // voided by a cancel meanwhile
    answer_pg(batch, row, decide(row.order_id));
  }
  return answered;
}

void PaymentDomain::store_wallet(Batch& batch, std::uint64_t user, const Wallet& w) {
  check_wallet(w);
  wallets_.put(batch, user, w);
}

void PaymentDomain::record(Batch& batch, RecordType type, std::uint64_t order_id,
                           const Event& event, bool in_history) {
  const std::uint64_t sequence = batch.record(type, order_id, event);
  if (in_history) history_.put(batch, Key2{event.subject, sequence}, event);
}

void PaymentDomain::deposit(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::DepositBody>(in);
  if (body.user_id == 0 || body.user_id >= user_ids_max) {
    batch.reply_command(in, Domain::payment, CommandResult::not_found, field_user_id, 0, 0);
    return;
  }
  if (body.amount <= 0 || body.amount > money_max) {
    batch.reply_command(in, Domain::payment, CommandResult::invalid_field, field_amount,
                        body.user_id, 0);
    return;
  }
  Wallet w = wallets_.get(body.user_id);
  if (w.balance > wallet_balance_max - body.amount) {
    batch.reply_command(in, Domain::payment, CommandResult::invalid_field, field_amount,
                        body.user_id, w.balance);
    return;
  }
  w.balance += body.amount;
  w.deposits += body.amount;
  store_wallet(batch, body.user_id, w);
  Event e{};
  e.subject = body.user_id;
  e.other = static_cast<std::uint64_t>(RecordType::wallet_deposited);
  e.amount = body.amount;
  e.balance = w.balance;
  record(batch, RecordType::wallet_deposited, 0, e, true);
  batch.reply_command(in, Domain::payment, CommandResult::ok, 0, body.user_id, w.balance);
}

void PaymentDomain::on_payment_requested(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::PaymentRequestedBody>(in);
  if (order_id == 0) return;
  PaymentRow row{};
  // Asked already, or cancelled first: never charged twice, and a late charge is refused.
  if (payments_.get(batch, order_id, row)) return answer_again(batch, row);
  row = PaymentRow{};
  row.order_id = order_id;
  row.user_id = body.user_id;
  row.amount = body.amount;
  row.updated_ns = batch.now_ns();
  row.method = static_cast<std::uint8_t>(
      options_.adapter == PaymentAdapter::pg ? PaymentMethod::pg : PaymentMethod::wallet);
  if (body.amount < 0) {
    // The order domain never asks this; refuse it rather than pay the customer.
    move(row, StepState::declined, RecordType::payment_declined);
    row.reason = static_cast<std::uint8_t>(OrderReason::payment_declined);
    return finish(batch, row, nullptr);
  }
  if (body.amount == 0) {
    // Nothing to charge: no wallet, no PG.
    move(row, StepState::approved, RecordType::payment_approved);
    return finish(batch, row, nullptr);
  }
  if (options_.adapter == PaymentAdapter::pg) return request_pg(batch, row);
  charge_wallet(batch, row);
}

void PaymentDomain::charge_wallet(Batch& batch, PaymentRow& row) {
  Wallet w = wallets_.get(row.user_id);
  if (w.balance < row.amount) {
    move(row, StepState::declined, RecordType::payment_declined);
    row.reason = static_cast<std::uint8_t>(OrderReason::insufficient_balance);
    return finish(batch, row, &w);
  }
  w.balance -= row.amount;
  w.charges += row.amount;
  store_wallet(batch, row.user_id, w);
  move(row, StepState::approved, RecordType::payment_approved);
  finish(batch, row, &w);
}

void PaymentDomain::request_pg(Batch& batch, PaymentRow& row) {
  const PgDecision decision = decide(row.order_id);
  move(row, StepState::pending, RecordType::payment_pg_requested);
  payments_.put(batch, row.order_id, row);
  Event e = payment_event(RecordType::payment_pg_requested, row, 0, 0);
  e.extra = row.amount;  // asked, not moved yet
  record(batch, RecordType::payment_pg_requested, row.order_id, e, false);
  if (decision == PgDecision::hang) return;  // never answers: the order's timeout cancels it
  if (pg_latency_ns_ == 0) return answer_pg(batch, row, decision);
  due_.push_back(
      {batch.mono_ns() + pg_latency_ns_, row.order_id});  // monotonic: see Batch::mono_ns
}

void PaymentDomain::answer_pg(Batch& batch, PaymentRow& row, PgDecision decision) {
  FS_ASSERT(state_of(row) == StepState::pending);
  FS_ASSERT(decision != PgDecision::hang);
  row.updated_ns = batch.now_ns();
  if (decision == PgDecision::approve) {
    move(row, StepState::approved, RecordType::payment_approved);
  } else {
    move(row, StepState::declined, RecordType::payment_declined);
    row.reason = static_cast<std::uint8_t>(OrderReason::payment_declined);
  }
  finish(batch, row, nullptr);
}

void PaymentDomain::finish(Batch& batch, const PaymentRow& row, const Wallet* wallet) {
  const bool approved = state_of(row) == StepState::approved;
  FS_ASSERT(approved || state_of(row) == StepState::declined);
  payments_.put(batch, row.order_id, row);
  const RecordType type = approved ? RecordType::payment_approved : RecordType::payment_declined;
  const bool wallet_changed = approved && wallet != nullptr && row.amount > 0;
  Event e = payment_event(type, row, approved ? row.amount : 0, wallet ? wallet->balance : 0);
  if (!approved) e.extra = row.amount;  // asked, not moved
  record(batch, type, row.order_id, e, wallet_changed);
  if (approved) {
    batch.send_to(Domain::payment, Domain::order, MessageType::payment_approved, row.order_id,
                  ipc::PaymentApprovedBody{row.amount});
  } else {
    ipc::StepRejectedBody out{};
    out.reason = row.reason;
    batch.send_to(Domain::payment, Domain::order, MessageType::payment_declined, row.order_id, out);
  }
}

void PaymentDomain::answer_again(Batch& batch, const PaymentRow& row) {
  // A second request for an order comes only from an order journal that lost the first one
  // in a power loss (resends of the same message are dropped by sequence before this): the
  // order is waiting again, so it hears the outcome it lost. Pending: the PG answer is still
  // to come. Refunded, voided, cancelled first: the order was cancelled, nothing to answer.
  if (state_of(row) == StepState::approved) {
    batch.send_to(Domain::payment, Domain::order, MessageType::payment_approved, row.order_id,
                  ipc::PaymentApprovedBody{row.amount});
  } else if (state_of(row) == StepState::declined) {
    ipc::StepRejectedBody out{};
    out.reason = row.reason;
    batch.send_to(Domain::payment, Domain::order, MessageType::payment_declined, row.order_id, out);
  }
}

void PaymentDomain::on_order_cancelled(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0) return;
  PaymentRow row{};
  if (!payments_.get(batch, order_id, row)) {
    // Nothing was asked for this order: close the gate against a late charge.
    row = PaymentRow{};
    row.order_id = order_id;
    row.user_id = body.user_id;
    row.updated_ns = batch.now_ns();
    move(row, StepState::cancelled_before_apply, RecordType::payment_cancelled_before_apply);
    payments_.put(batch, order_id, row);
    Event e = payment_event(RecordType::payment_cancelled_before_apply, row, 0, 0);
    e.reason = body.reason;
    return record(batch, RecordType::payment_cancelled_before_apply, order_id, e, false);
  }
  RecordType type = RecordType::payment_refunded;
  Wallet w{};
  bool wallet_changed = false;
  switch (state_of(row)) {
    case StepState::approved: {
      const bool by_wallet = row.method == static_cast<std::uint8_t>(PaymentMethod::wallet);
      if (by_wallet && row.amount > 0) {
        w = wallets_.get(row.user_id);
        w.balance += row.amount;
        w.refunds += row.amount;
        store_wallet(batch, row.user_id, w);
        wallet_changed = true;
      }
      move(row, StepState::refunded, RecordType::payment_refunded);
      break;
    }
    case StepState::pending:
      FS_ASSERT(row.method == static_cast<std::uint8_t>(PaymentMethod::pg));
      // The PG never answered: nothing was taken.
      move(row, StepState::voided, RecordType::payment_voided);
      type = RecordType::payment_voided;
      break;
    case StepState::declined:
    case StepState::refunded:
    case StepState::voided:
    case StepState::cancelled_before_apply:
      return;  // nothing was taken, or it was given back already
    default:
      FS_ASSERT(false && "a payment row in a state the payment domain never writes");
  }
  row.updated_ns = batch.now_ns();
  payments_.put(batch, order_id, row);
  Event e = payment_event(type, row, type == RecordType::payment_refunded ? row.amount : 0,
                          wallet_changed ? w.balance : 0);
  e.reason = body.reason;
  record(batch, type, order_id, e, wallet_changed);
}

}  // namespace flashsaga::domains
