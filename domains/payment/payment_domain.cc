#include "domains/payment/payment_domain.h"

#include <limits>

#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "engine/base/limits.h"

namespace flashsaga::domains {
namespace {

using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::string_view table_wallets = "wallets";
constexpr std::string_view table_history = "history";
constexpr std::string_view table_payments = "payments";
constexpr std::uint64_t permille = 1000;
constexpr std::int64_t ns_per_ms = 1'000'000;

std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The ledger identity of DESIGN.md invariant 4, one condition per assert. No upper bound on
// the balance: a refund must always go through.
void check_wallet(const Wallet& w) {
  FS_ASSERT(w.balance >= 0);
  FS_ASSERT(w.deposits >= 0);
  FS_ASSERT(w.charges >= 0);
  FS_ASSERT(w.refunds >= 0);
  FS_ASSERT(w.refunds <= w.charges);
  FS_ASSERT(w.balance == w.deposits - w.charges + w.refunds);
}

StepState state_of(const PaymentRow& row) { return static_cast<StepState>(row.state); }
void set_state(PaymentRow& row, StepState s) { row.state = static_cast<std::uint8_t>(s); }

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
    : adapter_(options.adapter),
      pg_latency_ns_(options.pg_latency_ms * ns_per_ms),
      pg_decline_permille_(options.pg_decline_permille),
      pg_hang_permille_(options.pg_hang_permille),
      pg_seed_(options.pg_seed) {
  FS_ASSERT(options.pg_latency_ms >= 0);
  FS_ASSERT(options.pg_latency_ms <= std::numeric_limits<std::int64_t>::max() / ns_per_ms);
  FS_ASSERT(options.pg_decline_permille <= permille);
  FS_ASSERT(options.pg_hang_permille <= permille);
}

std::vector<std::string> PaymentDomain::tables() const {
  return {std::string(table_wallets), std::string(table_history), std::string(table_payments)};
}

PgDecision PaymentDomain::decide(std::uint64_t order_id) const noexcept {
  return pg_decision(pg_seed_, order_id, pg_decline_permille_, pg_hang_permille_);
}

journal::Status PaymentDomain::recover(journal::Env& env, const journal::ReadTxn& txn) {
  wallets_ = env.table(table_wallets);
  history_ = env.table(table_history);
  payments_ = env.table(table_payments);
  // The PG answers still owed: every pending charge that is not hung, due now (the time it
  // was asked is past; answering late is what a real gateway does after our restart).
  due_.clear();
  const std::int64_t now = wall_now_ns();
  bool corrupt = false;
  journal::Status s =
      txn.scan(payments_, {}, std::numeric_limits<std::size_t>::max(),
               [&](journal::Bytes key, journal::Bytes value) {
                 PaymentRow row{};
                 if (!journal::from_bytes(value, row)) {
                   corrupt = true;
                   return false;
                 }
                 FS_ASSERT(row.order_id == journal::u64_from_key(key));
                 if (state_of(row) != StepState::pending) return true;
                 FS_ASSERT(row.method == static_cast<std::uint8_t>(PaymentMethod::pg));
                 if (decide(row.order_id) != PgDecision::hang) {
                   due_.push_back({now, row.order_id});
                 }
                 return true;
               });
  if (!s.ok()) return s;
  if (corrupt)
    return journal::Status(journal::ErrorCode::corrupt, 0, "payments: row of another size");
  return {};
}

journal::Status PaymentDomain::apply(Batch& batch, const ipc::Message& in) {
  switch (static_cast<MessageType>(in.header.type)) {
    case MessageType::deposit: return deposit(batch, in);
    case MessageType::payment_requested: return on_payment_requested(batch, in);
    case MessageType::order_cancelled: return on_order_cancelled(batch, in);
    default: return {};  // order_completed and anything else: nothing to do
  }
}

bool PaymentDomain::tick_due(std::int64_t now_ns) const noexcept {
  return !due_.empty() && due_.front().due_ns <= now_ns;
}

journal::Status PaymentDomain::tick(Batch& batch, std::size_t* work) {
  std::size_t answered = 0;
  while (answered < pg_tick_count_max && tick_due(batch.now_ns())) {
    const PgDue due = due_.front();
    due_.pop_front();  // an aborted batch is followed by recover(), which rebuilds due_
    ++answered;
    PaymentRow row{};
    journal::Status s = batch.txn().get_as(payments_, journal::key_u64(due.order_id), row);
    FS_ASSERT(s.code() != journal::ErrorCode::not_found);  // due_ holds only written rows
    if (!s.ok()) return s;
    if (state_of(row) != StepState::pending) continue;  // voided by a cancel meanwhile
    if (s = answer_pg(batch, row, decide(row.order_id)); !s.ok()) return s;
  }
  *work += answered;
  return {};
}

journal::Status PaymentDomain::load_wallet(const journal::ReadTxn& txn, std::uint64_t user,
                                           Wallet& out) const {
  out = Wallet{};
  journal::Status s = txn.get_as(wallets_, journal::key_u64(user), out);
  if (s.code() == journal::ErrorCode::not_found) {
    out = Wallet{};
    return {};
  }
  if (!s.ok()) return s;
  check_wallet(out);
  return {};
}

journal::Status PaymentDomain::store_wallet(journal::WriteTxn& txn, std::uint64_t user,
                                            const Wallet& w) const {
  check_wallet(w);
  return txn.put_as(wallets_, journal::key_u64(user), w);
}

journal::Status PaymentDomain::record(Batch& batch, RecordType type, std::uint64_t order_id,
                                      const Event& event, bool in_history) const {
  std::uint64_t sequence = 0;
  journal::WriteTxn& txn = batch.txn();
  journal::Status s =
      txn.append(static_cast<std::uint16_t>(type), order_id, journal::as_bytes(event), &sequence);
  if (!s.ok() || !in_history) return s;
  return txn.put_as(history_, journal::key_u64_u64(event.subject, sequence), event);
}

journal::Status PaymentDomain::deposit(Batch& batch, const ipc::Message& in) {
  const auto body = ipc::body_as<ipc::DepositBody>(in);
  if (body.user_id == 0) {
    batch.reply_command(in, Domain::payment, CommandResult::not_found, field_user_id, 0, 0);
    return {};
  }
  if (body.amount <= 0 || body.amount > money_max) {
    batch.reply_command(in, Domain::payment, CommandResult::invalid_field, field_amount, body.user_id, 0);
    return {};
  }
  Wallet w;
  if (auto s = load_wallet(batch.txn(), body.user_id, w); !s.ok()) return s;
  if (w.balance > wallet_balance_max - body.amount) {
    batch.reply_command(in, Domain::payment, CommandResult::invalid_field, field_amount, body.user_id, w.balance);
    return {};
  }
  w.balance += body.amount;
  w.deposits += body.amount;
  if (auto s = store_wallet(batch.txn(), body.user_id, w); !s.ok()) return s;
  Event e{};
  e.subject = body.user_id;
  e.other = static_cast<std::uint64_t>(RecordType::wallet_deposited);
  e.amount = body.amount;
  e.balance = w.balance;
  if (auto s = record(batch, RecordType::wallet_deposited, 0, e, true); !s.ok()) return s;
  batch.reply_command(in, Domain::payment, CommandResult::ok, 0, body.user_id, w.balance);
  return {};
}

journal::Status PaymentDomain::on_payment_requested(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::PaymentRequestedBody>(in);
  if (order_id == 0) return {};
  PaymentRow row{};
  journal::Status s = batch.txn().get_as(payments_, journal::key_u64(order_id), row);
  // Charged already (a duplicate), or cancelled first: a late charge is refused.
  if (s.ok()) return {};
  if (s.code() != journal::ErrorCode::not_found) return s;

  row = PaymentRow{};
  row.order_id = order_id;
  row.user_id = body.user_id;
  row.amount = body.amount;
  row.updated_ns = batch.now_ns();
  row.method = static_cast<std::uint8_t>(
      adapter_ == PaymentAdapter::pg ? PaymentMethod::pg : PaymentMethod::wallet);
  if (body.amount < 0) {
    // The order domain never asks this; refuse it rather than pay the customer.
    set_state(row, StepState::declined);
    row.reason = static_cast<std::uint8_t>(OrderReason::payment_declined);
    return finish(batch, row, nullptr);
  }
  if (body.amount == 0) {
    set_state(row, StepState::approved);  // nothing to charge: no wallet, no PG
    return finish(batch, row, nullptr);
  }
  if (adapter_ == PaymentAdapter::pg) return request_pg(batch, row);
  return charge_wallet(batch, row);
}

journal::Status PaymentDomain::charge_wallet(Batch& batch, PaymentRow& row) {
  Wallet w;
  if (auto s = load_wallet(batch.txn(), row.user_id, w); !s.ok()) return s;
  if (w.balance < row.amount) {
    set_state(row, StepState::declined);
    row.reason = static_cast<std::uint8_t>(OrderReason::insufficient_balance);
    return finish(batch, row, &w);
  }
  w.balance -= row.amount;
  w.charges += row.amount;
  if (auto s = store_wallet(batch.txn(), row.user_id, w); !s.ok()) return s;
  set_state(row, StepState::approved);
  return finish(batch, row, &w);
}

journal::Status PaymentDomain::request_pg(Batch& batch, PaymentRow& row) {
  const PgDecision decision = decide(row.order_id);
  set_state(row, StepState::pending);
  if (auto s = batch.txn().put_as(payments_, journal::key_u64(row.order_id), row); !s.ok()) {
    return s;
  }
  Event e = payment_event(RecordType::payment_pg_requested, row, 0, 0);
  e.extra = row.amount;  // asked, not moved yet
  if (auto s = record(batch, RecordType::payment_pg_requested, row.order_id, e, false); !s.ok()) {
    return s;
  }
  if (decision == PgDecision::hang) return {};  // never answers: the order's timeout cancels it
  if (pg_latency_ns_ == 0) return answer_pg(batch, row, decision);
  due_.push_back({batch.now_ns() + pg_latency_ns_, row.order_id});
  return {};
}

journal::Status PaymentDomain::answer_pg(Batch& batch, PaymentRow& row, PgDecision decision) {
  FS_ASSERT(state_of(row) == StepState::pending);
  FS_ASSERT(decision != PgDecision::hang);
  row.updated_ns = batch.now_ns();
  if (decision == PgDecision::approve) {
    set_state(row, StepState::approved);
  } else {
    set_state(row, StepState::declined);
    row.reason = static_cast<std::uint8_t>(OrderReason::payment_declined);
  }
  return finish(batch, row, nullptr);
}

journal::Status PaymentDomain::finish(Batch& batch, const PaymentRow& row, const Wallet* wallet) {
  const bool approved = state_of(row) == StepState::approved;
  FS_ASSERT(approved || state_of(row) == StepState::declined);
  if (auto s = batch.txn().put_as(payments_, journal::key_u64(row.order_id), row); !s.ok()) {
    return s;
  }
  const RecordType type = approved ? RecordType::payment_approved : RecordType::payment_declined;
  const bool wallet_changed = approved && wallet != nullptr && row.amount > 0;
  Event e = payment_event(type, row, approved ? row.amount : 0, wallet ? wallet->balance : 0);
  if (!approved) e.extra = row.amount;  // asked, not moved
  if (auto s = record(batch, type, row.order_id, e, wallet_changed); !s.ok()) return s;
  if (approved) {
    batch.send_to(Domain::payment, Domain::order, MessageType::payment_approved, row.order_id,
                  ipc::PaymentApprovedBody{row.amount});
  } else {
    ipc::StepRejectedBody out{};
    out.reason = row.reason;
    batch.send_to(Domain::payment, Domain::order, MessageType::payment_declined, row.order_id, out);
  }
  return {};
}

journal::Status PaymentDomain::on_order_cancelled(Batch& batch, const ipc::Message& in) {
  const std::uint64_t order_id = in.header.order_id;
  const auto body = ipc::body_as<ipc::OrderFinishedBody>(in);
  if (order_id == 0) return {};
  journal::WriteTxn& txn = batch.txn();
  PaymentRow row{};
  journal::Status s = txn.get_as(payments_, journal::key_u64(order_id), row);
  if (s.code() == journal::ErrorCode::not_found) {
    // Nothing was asked for this order: close the gate against a late charge.
    row = PaymentRow{};
    row.order_id = order_id;
    row.user_id = body.user_id;
    row.updated_ns = batch.now_ns();
    set_state(row, StepState::cancelled_before_apply);
    if (s = txn.put_as(payments_, journal::key_u64(order_id), row); !s.ok()) return s;
    Event e = payment_event(RecordType::payment_cancelled_before_apply, row, 0, 0);
    e.reason = body.reason;
    return record(batch, RecordType::payment_cancelled_before_apply, order_id, e, false);
  }
  if (!s.ok()) return s;

  RecordType type = RecordType::payment_refunded;
  Wallet w{};
  bool wallet_changed = false;
  switch (state_of(row)) {
    case StepState::approved: {
      const bool by_wallet = row.method == static_cast<std::uint8_t>(PaymentMethod::wallet);
      if (by_wallet && row.amount > 0) {
        if (s = load_wallet(txn, row.user_id, w); !s.ok()) return s;
        w.balance += row.amount;
        w.refunds += row.amount;
        if (s = store_wallet(txn, row.user_id, w); !s.ok()) return s;
        wallet_changed = true;
      }
      set_state(row, StepState::refunded);
      break;
    }
    case StepState::pending:
      FS_ASSERT(row.method == static_cast<std::uint8_t>(PaymentMethod::pg));
      set_state(row, StepState::voided);  // the PG never answered: nothing was taken
      type = RecordType::payment_voided;
      break;
    case StepState::declined:
    case StepState::refunded:
    case StepState::voided:
    case StepState::cancelled_before_apply:
      return {};  // nothing was taken, or it was given back already
    default: FS_ASSERT(false && "a payment row in a state the payment domain never writes");
  }
  row.updated_ns = batch.now_ns();
  if (s = txn.put_as(payments_, journal::key_u64(order_id), row); !s.ok()) return s;
  Event e = payment_event(type, row, type == RecordType::payment_refunded ? row.amount : 0,
                          wallet_changed ? w.balance : 0);
  e.reason = body.reason;
  return record(batch, type, order_id, e, wallet_changed);
}

}  // namespace flashsaga::domains
