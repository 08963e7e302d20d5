#include "domains/payment/payment_domain.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/base/clock.h"
#include "tests/domains/domain_harness.h"

namespace flashsaga::domains {
namespace {

using harness::Harness;
using harness::message;
using harness::ms_ns;
using harness::reply_of;
using harness::sent_to_order;
using harness::t0_ns;
using harness::type_of;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::uint64_t user = 7;

PaymentOptions wallet_config() {
  return PaymentOptions{};
}

PaymentOptions pg_config(std::int64_t latency_ms, std::uint32_t decline, std::uint32_t hang,
                         std::uint64_t seed = 42) {
  PaymentOptions c;
  c.adapter = PaymentAdapter::pg;
  c.pg_latency_ms = latency_ms;
  c.pg_decline_permille = decline;
  c.pg_hang_permille = hang;
  c.pg_seed = seed;
  return c;
}

// The first order id from `from` on that the PG (with these settings) answers this way.
std::uint64_t order_where(PgDecision d, const PaymentOptions& c, std::uint64_t from = 1) {
  for (std::uint64_t id = from;; ++id)
    if (pg_decision(c.pg_seed, id, c.pg_decline_permille, c.pg_hang_permille) == d) return id;
}

// A payment domain over its own journal.
struct Payments {
  explicit Payments(const PaymentOptions& c) : config(c), logic(config), h(logic) {}

  harness::Output deposit(std::int64_t amount, std::uint64_t u = user) {
    return h.apply(
        message(MessageType::deposit, Domain::port, Domain::payment, ipc::DepositBody{u, amount}));
  }
  harness::Output requested(std::uint64_t order, std::int64_t amount, std::int64_t now = t0_ns) {
    return h.apply(message(MessageType::payment_requested, Domain::order, Domain::payment,
                           ipc::PaymentRequestedBody{user, amount}, order),
                   now);
  }
  harness::Output cancelled(std::uint64_t order, std::int64_t now = t0_ns) {
    return h.apply(message(MessageType::order_cancelled, Domain::order, Domain::payment,
                           harness::order_finished(user, 0, 0, 0, OrderReason::timeout), order),
                   now);
  }
  harness::Output completed(std::uint64_t order) {
    return h.apply(message(MessageType::order_completed, Domain::order, Domain::payment,
                           harness::order_finished(user, 0, 100, 1), order));
  }
  Wallet wallet() {
    Wallet w{};
    h.get("wallets", journal::key_u64(user), w);
    return w;
  }
  PaymentRow payment(std::uint64_t order) {
    return h.row<PaymentRow>("payments", journal::key_u64(order));
  }
  StepState state(std::uint64_t order) { return static_cast<StepState>(payment(order).state); }

  PaymentOptions config;
  PaymentDomain logic;
  Harness h;
};

void expect_ledger_holds(const Wallet& w) {
  EXPECT_EQ(w.balance, w.deposits - w.charges + w.refunds);
  EXPECT_GE(w.balance, 0);
  EXPECT_LE(w.refunds, w.charges);
}

MessageType sent_type(const harness::Output& out) {
  return type_of(sent_to_order(out));
}

// --- Wallet -----------------------------------------------------------------------------------

TEST(PaymentWallet, DepositAddsToTheBalanceAndTheHistory) {
  Payments p(wallet_config());
  EXPECT_EQ(reply_of(p.deposit(1'000)).value, 1'000);
  const auto reply = reply_of(p.deposit(500));
  EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::ok));
  EXPECT_EQ(reply.entity_id, user);
  EXPECT_EQ(reply.value, 1'500);
  EXPECT_EQ(p.wallet().deposits, 1'500);
  const auto history = p.h.under<Event>("history", user);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].second.other, static_cast<std::uint64_t>(RecordType::wallet_deposited));
  EXPECT_EQ(history[1].second.balance, 1'500);
}

TEST(PaymentWallet, DepositRefusesAmountsOutOfRange) {
  Payments p(wallet_config());
  for (std::int64_t amount : {std::int64_t{0}, std::int64_t{-1}, money_max + 1}) {
    const auto reply = reply_of(p.deposit(amount));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::invalid_field)) << amount;
    EXPECT_EQ(reply.field, PaymentDomain::field_amount);
  }
  EXPECT_EQ(reply_of(p.deposit(10, 0)).result,
            static_cast<std::uint16_t>(CommandResult::not_found));
  EXPECT_TRUE(p.h.records().empty());
}

TEST(PaymentWallet, ChargesTheWalletAndApproves) {
  Payments p(wallet_config());
  p.deposit(1'000);
  const auto out = p.requested(100, 600);
  ASSERT_EQ(sent_type(out), MessageType::payment_approved);
  EXPECT_EQ(sent_to_order(out).header.order_id, 100u);
  EXPECT_EQ(ipc::body_as<ipc::PaymentApprovedBody>(sent_to_order(out)).amount, 600);
  EXPECT_EQ(p.wallet().balance, 400);
  EXPECT_EQ(p.wallet().charges, 600);
  const PaymentRow row = p.payment(100);
  EXPECT_EQ(row.state, static_cast<std::uint8_t>(StepState::approved));
  EXPECT_EQ(row.method, static_cast<std::uint8_t>(PaymentMethod::wallet));
  EXPECT_EQ(row.amount, 600);
  const auto history = p.h.under<Event>("history", user);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].second.other, static_cast<std::uint64_t>(RecordType::payment_approved));
  EXPECT_TRUE(p.completed(100).sends.empty());  // completion changes nothing here
  EXPECT_EQ(p.state(100), StepState::approved);
}

TEST(PaymentWallet, DeclinesWhenTheBalanceIsShort) {
  Payments p(wallet_config());
  p.deposit(100);
  const auto out = p.requested(100, 101);
  ASSERT_EQ(sent_type(out), MessageType::payment_declined);
  EXPECT_EQ(ipc::body_as<ipc::StepRejectedBody>(sent_to_order(out)).reason,
            static_cast<std::uint8_t>(OrderReason::insufficient_balance));
  EXPECT_EQ(p.wallet().balance, 100);
  EXPECT_EQ(p.state(100), StepState::declined);
  EXPECT_EQ(p.h.records().back().type, RecordType::payment_declined);
}

TEST(PaymentWallet, AZeroChargeIsApprovedWithoutTouchingTheWallet) {
  Payments p(wallet_config());
  EXPECT_EQ(sent_type(p.requested(100, 0)), MessageType::payment_approved);
  EXPECT_EQ(p.wallet().charges, 0);
  p.cancelled(100);
  EXPECT_EQ(p.state(100), StepState::refunded);
  EXPECT_EQ(p.wallet().balance, 0);
  EXPECT_FALSE(p.h.exists("wallets", journal::key_u64(user)));
}

// --- The gates (DESIGN.md "Compensation is gated by journaled step state") ------------------

enum class In { requested, cancelled };

struct GateScenario {
  const char* name;
  std::int64_t deposit;
  std::vector<In> inputs;  // each for order 100, amount 600
  std::int64_t balance;
  StepState state;
  std::size_t messages;
  std::vector<RecordType> records;  // after the deposit
};

// gtest prints a failing parameter by its name rather than its bytes.
void PrintTo(const GateScenario& s, std::ostream* os) {
  *os << s.name;
}

class PaymentGateTest : public ::testing::TestWithParam<GateScenario> {};

TEST_P(PaymentGateTest, EndsInTheJournaledStateWithTheExpectedBalance) {
  const GateScenario& sc = GetParam();
  Payments p(wallet_config());
  p.deposit(sc.deposit);
  const std::uint64_t first = p.h.last_sequence();
  std::size_t messages = 0;
  for (In in : sc.inputs)
    messages += (in == In::requested ? p.requested(100, 600) : p.cancelled(100)).sends.size();
  EXPECT_EQ(p.wallet().balance, sc.balance);
  expect_ledger_holds(p.wallet());
  EXPECT_EQ(p.state(100), sc.state);
  EXPECT_EQ(messages, sc.messages);
  EXPECT_EQ(p.h.record_types(first), sc.records);
}

using R = RecordType;
INSTANTIATE_TEST_SUITE_P(
    Scenarios, PaymentGateTest,
    ::testing::Values(GateScenario{"ChargeThenCancelRefunds",
                                   1'000,
                                   {In::requested, In::cancelled},
                                   1'000,
                                   StepState::refunded,
                                   1,
                                   {R::payment_approved, R::payment_refunded}},
                      GateScenario{"DuplicatedPaymentRequestedChargesOnceAndAnswersAgain",
                                   1'000,
                                   {In::requested, In::requested},
                                   400,
                                   StepState::approved,
                                   2,
                                   {R::payment_approved}},
                      GateScenario{"DuplicatedCancelRefundsOnce",
                                   1'000,
                                   {In::requested, In::cancelled, In::cancelled},
                                   1'000,
                                   StepState::refunded,
                                   1,
                                   {R::payment_approved, R::payment_refunded}},
                      GateScenario{"RefundOfADeclinedPaymentChangesNoBalance",
                                   500,
                                   {In::requested, In::cancelled},
                                   500,
                                   StepState::declined,
                                   1,
                                   {R::payment_declined}},
                      GateScenario{"ARepeatedRequestAfterADeclineIsDeclinedAgain",
                                   500,
                                   {In::requested, In::requested},
                                   500,
                                   StepState::declined,
                                   2,
                                   {R::payment_declined}},
                      GateScenario{"CancelBeforeApplyRefusesTheLateCharge",
                                   1'000,
                                   {In::cancelled, In::requested},
                                   1'000,
                                   StepState::cancelled_before_apply,
                                   0,
                                   {R::payment_cancelled_before_apply}},
                      GateScenario{"RequestAfterARefundChargesNothing",
                                   1'000,
                                   {In::requested, In::cancelled, In::requested},
                                   1'000,
                                   StepState::refunded,
                                   1,
                                   {R::payment_approved, R::payment_refunded}}),
    [](const ::testing::TestParamInfo<GateScenario>& param) {
      return std::string(param.param.name);
    });

TEST(PaymentWallet, CancelWithNoRowClosesTheGate) {
  Payments p(wallet_config());
  p.cancelled(100);
  const PaymentRow row = p.payment(100);
  EXPECT_EQ(row.state, static_cast<std::uint8_t>(StepState::cancelled_before_apply));
  EXPECT_EQ(row.user_id, user);
  EXPECT_EQ(row.amount, 0);
  EXPECT_EQ(p.h.record_types(), std::vector{RecordType::payment_cancelled_before_apply});
}

// --- The simulated payment gateway ------------------------------------------------------------

TEST(PaymentPg, DecisionsAreAPureFunctionOfSeedAndOrder) {
  std::array<int, 3> seen{};
  bool differs = false;
  for (std::uint64_t id = 1; id <= 10'000; ++id) {
    const PgDecision d = pg_decision(42, id, 100, 50);
    EXPECT_EQ(d, pg_decision(42, id, 100, 50));
    ++seen[static_cast<std::size_t>(d)];
    differs = differs || d != pg_decision(43, id, 100, 50);
  }
  EXPECT_TRUE(differs);  // the seed matters
  EXPECT_NEAR(seen[static_cast<std::size_t>(PgDecision::decline)], 1'000, 150);
  EXPECT_NEAR(seen[static_cast<std::size_t>(PgDecision::hang)], 500, 110);
  for (std::uint64_t id = 1; id <= 1'000; ++id) {
    EXPECT_EQ(pg_decision(42, id, 0, 0), PgDecision::approve);
    EXPECT_EQ(pg_decision(42, id, 1'000, 0), PgDecision::decline);
    EXPECT_EQ(pg_decision(42, id, 0, 1'000), PgDecision::hang);
  }
}

TEST(PaymentPg, TwoDomainsWithTheSameSeedDecideAlike) {
  const PaymentOptions c = pg_config(0, 300, 200, 7);
  Payments a(c);
  Payments b(c);
  for (std::uint64_t order = 1; order <= 100; ++order) {
    a.requested(order, 100);
    b.requested(order, 100);
    EXPECT_EQ(a.state(order), b.state(order)) << order;
  }
  EXPECT_EQ(a.h.record_types(), b.h.record_types());
}

TEST(PaymentPg, AnswersAfterTheLatencyWithoutTouchingTheWallet) {
  const PaymentOptions c = pg_config(10, 0, 0);
  Payments p(c);
  p.deposit(1'000);
  EXPECT_TRUE(p.requested(100, 600).sends.empty());
  EXPECT_EQ(p.state(100), StepState::pending);
  EXPECT_EQ(p.payment(100).method, static_cast<std::uint8_t>(PaymentMethod::pg));
  EXPECT_FALSE(p.logic.tick_due(t0_ns + 10 * ms_ns - 1));
  EXPECT_TRUE(p.h.tick(t0_ns + 5 * ms_ns).sends.empty());
  EXPECT_TRUE(p.logic.tick_due(t0_ns + 10 * ms_ns));
  std::size_t work = 0;
  const auto out = p.h.tick(t0_ns + 10 * ms_ns, &work);
  EXPECT_EQ(work, 1u);
  ASSERT_EQ(sent_type(out), MessageType::payment_approved);
  EXPECT_EQ(sent_to_order(out).header.order_id, 100u);
  EXPECT_EQ(p.state(100), StepState::approved);
  EXPECT_EQ(p.wallet().balance, 1'000);  // the card is external
  EXPECT_FALSE(p.logic.tick_due(t0_ns + 20 * ms_ns));
  // A refund of a PG charge leaves the wallet alone too.
  p.cancelled(100);
  EXPECT_EQ(p.state(100), StepState::refunded);
  EXPECT_EQ(p.wallet().balance, 1'000);
  EXPECT_EQ(p.h.record_types(1),
            (std::vector{RecordType::payment_pg_requested, RecordType::payment_approved,
                         RecordType::payment_refunded}));
}

TEST(PaymentPg, DeclinesWithPaymentDeclined) {
  const PaymentOptions c = pg_config(0, 1'000, 0);
  Payments p(c);
  const auto out = p.requested(100, 600);
  ASSERT_EQ(sent_type(out), MessageType::payment_declined);
  EXPECT_EQ(ipc::body_as<ipc::StepRejectedBody>(sent_to_order(out)).reason,
            static_cast<std::uint8_t>(OrderReason::payment_declined));
  EXPECT_EQ(p.state(100), StepState::declined);
  p.cancelled(100);
  EXPECT_EQ(p.state(100), StepState::declined);
}

TEST(PaymentPg, AHungChargeIsNeverDueAndIsVoidedOnCancel) {
  const PaymentOptions c = pg_config(10, 100, 300);
  Payments p(c);
  const std::uint64_t hung = order_where(PgDecision::hang, c);
  EXPECT_TRUE(p.requested(hung, 600).sends.empty());
  EXPECT_EQ(p.state(hung), StepState::pending);
  EXPECT_EQ(p.logic.pg_waiting(), 0u);
  EXPECT_FALSE(p.logic.tick_due(t0_ns + 3'600'000 * ms_ns));
  p.cancelled(hung, t0_ns + 5'000 * ms_ns);
  EXPECT_EQ(p.state(hung), StepState::voided);
  EXPECT_EQ(p.h.records().back().type, RecordType::payment_voided);
  p.cancelled(hung);  // a duplicate: nothing more
  EXPECT_EQ(p.h.records().back().type, RecordType::payment_voided);
  EXPECT_EQ(p.h.records().size(), 2u);
}

TEST(PaymentPg, AChargeCancelledBeforeTheAnswerIsVoidedAndTheAnswerIsDropped) {
  const PaymentOptions c = pg_config(10, 0, 0);
  Payments p(c);
  p.requested(100, 600);
  p.cancelled(100, t0_ns + 1 * ms_ns);
  EXPECT_EQ(p.state(100), StepState::voided);
  std::size_t work = 0;
  EXPECT_TRUE(p.h.tick(t0_ns + 10 * ms_ns, &work).sends.empty());
  EXPECT_EQ(work, 1u);
  EXPECT_EQ(p.state(100), StepState::voided);
  EXPECT_EQ(p.logic.pg_waiting(), 0u);
}

TEST(PaymentPg, RecoveryRebuildsTheAnswersStillOwed) {
  const PaymentOptions c = pg_config(60'000, 0, 400);
  Payments p(c);
  const std::uint64_t owed = order_where(PgDecision::approve, c);
  const std::uint64_t hung = order_where(PgDecision::hang, c);
  p.requested(owed, 100);
  p.requested(hung, 100);
  EXPECT_EQ(p.logic.pg_waiting(), 1u);
  // A restart: a fresh domain over the same journal owes the same answer, due at once.
  PaymentDomain restarted(c);
  p.h.recover(restarted);
  EXPECT_EQ(restarted.pg_waiting(), 1u);
  const std::int64_t later = wall_now_ns() + 1;
  EXPECT_TRUE(restarted.tick_due(later));
  const auto out = p.h.tick(later);
  ASSERT_EQ(sent_type(out), MessageType::payment_approved);
  EXPECT_EQ(sent_to_order(out).header.order_id, owed);
  EXPECT_EQ(p.state(owed), StepState::approved);
  EXPECT_EQ(p.state(hung), StepState::pending);
}

TEST(PaymentPg, TickAnswersABoundedNumberPerCall) {
  const PaymentOptions c = pg_config(1, 0, 0);
  Payments p(c);
  for (std::uint64_t order = 1; order <= pg_tick_count_max + 5; ++order) p.requested(order, 1);
  std::size_t work = 0;
  EXPECT_EQ(p.h.tick(t0_ns + ms_ns, &work).sends.size(), pg_tick_count_max);
  EXPECT_EQ(work, pg_tick_count_max);
  EXPECT_EQ(p.h.tick(t0_ns + ms_ns, &work).sends.size(), 5u);
  EXPECT_FALSE(p.logic.tick_due(t0_ns + ms_ns));
}

TEST(PaymentDeathTest, DiesWhenACancelFindsAStateThePaymentDomainNeverWrites) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Payments p(wallet_config());
  PaymentRow bogus{};
  bogus.order_id = 100;
  bogus.state = static_cast<std::uint8_t>(StepState::deducted);
  p.h.put("payments", journal::key_u64(100), bogus);
  EXPECT_DEATH(p.cancelled(100), "never writes");
}

}  // namespace
}  // namespace flashsaga::domains
