#include "domains/point/point_domain.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "tests/domains/domain_harness.h"

namespace flashsaga::domains {
namespace {

using harness::Harness;
using harness::message;
using harness::reply_of;
using harness::sent_to_order;
using harness::type_of;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::uint64_t user = 7;

class PointDomainTest : public ::testing::Test {
 protected:
  explicit PointDomainTest(std::size_t window = order_window_default)
      : logic(StepOptions{window}), restarted(StepOptions{window}), h(logic) {}

  harness::Output accrue(std::uint64_t u, std::int64_t amount, std::string_view reason = "") {
    ipc::AccruePointsBody b{};
    b.user_id = u;
    b.amount = amount;
    EXPECT_TRUE(b.reason.assign(reason));
    return h.apply(message(MessageType::accrue_points, Domain::port, Domain::point, b));
  }
  harness::Output placed(std::uint64_t order, std::int64_t points) {
    return h.apply(message(MessageType::order_placed, Domain::order, Domain::point,
                           harness::order_placed(user, 0, points, 10'000), order));
  }
  harness::Output completed(std::uint64_t order, std::int64_t reward) {
    return h.apply(message(MessageType::order_completed, Domain::order, Domain::point,
                           harness::order_finished(user, 0, 5'000, reward), order));
  }
  harness::Output cancelled(std::uint64_t order, bool was_completed = false) {
    return h.apply(message(
        MessageType::order_cancelled, Domain::order, Domain::point,
        harness::order_finished(user, 0, 0, 0, OrderReason::timeout, was_completed), order));
  }
  PointAccount account(std::uint64_t u = user) {
    PointAccount a{};
    h.get("accounts", journal::key_u64(u), a);
    return a;
  }
  PointStep step(std::uint64_t order) { return h.row<PointStep>("steps", journal::key_u64(order)); }
  static void expect_ledger_holds(const PointAccount& a) {
    EXPECT_EQ(a.balance, a.accrued - a.deducted + a.refunded + a.rewarded - a.revoked);
    EXPECT_GE(a.balance, 0);
  }

  PointDomain logic;
  PointDomain restarted;  // the same domain after a restart (h.recover)
  Harness h;
};

// Steps of the 4 most recent order ids in memory, older ones in the view only.
class PointWindowTest : public PointDomainTest {
 protected:
  PointWindowTest() : PointDomainTest(4) {}
};

TEST_F(PointDomainTest, AccrualAddsToTheBalanceAndToTheHistoryWithItsReason) {
  auto reply = reply_of(accrue(user, 1'000, "welcome"));
  EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::ok));
  EXPECT_EQ(reply.entity_id, user);
  EXPECT_EQ(reply.value, 1'000);
  EXPECT_EQ(reply_of(accrue(user, 250)).value, 1'250);
  EXPECT_EQ(account().balance, 1'250);
  EXPECT_EQ(account().accrued, 1'250);

  const auto history = h.under<Event>("history", user);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].second.other, static_cast<std::uint64_t>(RecordType::points_accrued));
  EXPECT_EQ(history[0].second.amount, 1'000);
  EXPECT_EQ(history[1].second.balance, 1'250);
  const auto reasons = h.under<ipc::Reason>("reasons", user);
  ASSERT_EQ(reasons.size(), 1u);                  // the second accrual gave none
  EXPECT_EQ(reasons[0].first, history[0].first);  // same journal sequence as its history row
  EXPECT_EQ(reasons[0].second.view(), "welcome");
  EXPECT_EQ(h.record_types(),
            (std::vector{RecordType::points_accrued, RecordType::points_accrued}));
}

TEST_F(PointDomainTest, AccrualRefusesAmountsOutOfRange) {
  for (std::int64_t amount : {std::int64_t{0}, std::int64_t{-5}, money_max + 1}) {
    auto reply = reply_of(accrue(user, amount));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::invalid_field)) << amount;
    EXPECT_EQ(reply.field, PointDomain::field_amount);
  }
  EXPECT_EQ(reply_of(accrue(0, 10)).result, static_cast<std::uint16_t>(CommandResult::not_found));
  EXPECT_TRUE(h.records().empty());
  EXPECT_EQ(reply_of(accrue(user, money_max)).value, money_max);
}

TEST_F(PointDomainTest, DeductsPointsAndTellsTheOrder) {
  accrue(user, 1'000);
  const auto out = placed(100, 300);
  const ipc::Message& m = sent_to_order(out);
  EXPECT_EQ(type_of(m), MessageType::points_deducted);
  EXPECT_EQ(m.header.order_id, 100u);
  EXPECT_EQ(ipc::body_as<ipc::PointsDeductedBody>(m).amount, 300);
  EXPECT_EQ(account().balance, 700);
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::deducted));
  EXPECT_EQ(step(100).amount, 300);
  const auto history = h.under<Event>("history", user);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].second.other, static_cast<std::uint64_t>(RecordType::points_deducted));
}

TEST_F(PointDomainTest, RejectsADeductionBeyondTheBalance) {
  accrue(user, 100);
  const auto out = placed(100, 101);
  const ipc::Message& m = sent_to_order(out);
  EXPECT_EQ(type_of(m), MessageType::points_rejected);
  EXPECT_EQ(ipc::body_as<ipc::StepRejectedBody>(m).reason,
            static_cast<std::uint8_t>(OrderReason::insufficient_points));
  EXPECT_EQ(account().balance, 100);
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::rejected));
  const auto records = h.records();
  EXPECT_EQ(records.back().type, RecordType::points_rejected);
  EXPECT_EQ(records.back().as<Event>().reason,
            static_cast<std::uint8_t>(OrderReason::insufficient_points));
}

TEST_F(PointDomainTest, AnOrderWithoutPointsHasNoPointStep) {
  accrue(user, 100);
  EXPECT_TRUE(placed(100, 0).sends.empty());
  EXPECT_FALSE(h.exists("steps", journal::key_u64(100)));
}

// --- The saga, as tables: input events -> journaled step state and balance ------------------

enum class In { placed, completed, cancelled, refunded };  // refunded: cancel after completion

struct Scenario {
  const char* name;
  std::vector<In> inputs;
  std::int64_t balance;  // starting balance 1000, 300 points asked, reward 50
  StepState state;
  std::uint8_t reward_state;
  std::size_t messages;             // sent to order, over all inputs
  std::vector<RecordType> records;  // after the starting accrual
};

// gtest prints a failing parameter by its name rather than its bytes.
void PrintTo(const Scenario& s, std::ostream* os) {
  *os << s.name;
}

class PointSagaTest : public PointDomainTest, public ::testing::WithParamInterface<Scenario> {};

TEST_P(PointSagaTest, EndsInTheJournaledStateWithTheExpectedBalance) {
  const Scenario& sc = GetParam();
  accrue(user, 1'000);
  const std::uint64_t first = h.last_sequence();
  std::size_t messages = 0;
  for (In in : sc.inputs) {
    harness::Output out;
    switch (in) {
      case In::placed:
        out = placed(100, 300);
        break;
      case In::completed:
        out = completed(100, 50);
        break;
      case In::cancelled:
        out = cancelled(100);
        break;
      case In::refunded:
        out = cancelled(100, true);
        break;
    }
    messages += out.sends.size();
  }
  EXPECT_EQ(account().balance, sc.balance);
  expect_ledger_holds(account());
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(sc.state));
  EXPECT_EQ(step(100).reward_state, sc.reward_state);
  EXPECT_EQ(messages, sc.messages);
  EXPECT_EQ(h.record_types(first), sc.records);
}

using R = RecordType;
INSTANTIATE_TEST_SUITE_P(
    Scenarios, PointSagaTest,
    ::testing::Values(Scenario{"DeductThenCancelRefunds",
                               {In::placed, In::cancelled},
                               1'000,
                               StepState::refunded,
                               0,
                               1,
                               {R::points_deducted, R::points_refunded}},
                      Scenario{"DuplicatedCancelRefundsOnce",
                               {In::placed, In::cancelled, In::cancelled},
                               1'000,
                               StepState::refunded,
                               0,
                               1,
                               {R::points_deducted, R::points_refunded}},
                      Scenario{"DuplicatedOrderPlacedDeductsOnce",
                               {In::placed, In::placed},
                               700,
                               StepState::deducted,
                               0,
                               1,
                               {R::points_deducted}},
                      Scenario{"CancelBeforeApplyRefusesTheLateDeduction",
                               {In::cancelled, In::placed},
                               1'000,
                               StepState::cancelled_before_apply,
                               0,
                               0,
                               {R::points_cancelled_before_apply}},
                      Scenario{"CompletionRewardsOnce",
                               {In::placed, In::completed, In::completed},
                               750,
                               StepState::deducted,
                               1,
                               1,
                               {R::points_deducted, R::points_rewarded}},
                      Scenario{"RefundOfACompletedOrderRefundsThenRevokes",
                               {In::placed, In::completed, In::refunded, In::refunded},
                               1'000,
                               StepState::refunded,
                               2,
                               1,
                               {R::points_deducted, R::points_rewarded, R::points_refunded,
                                R::points_reward_revoked}},
                      Scenario{"RefundOfACompletedOrderWithoutPointsRevokesTheReward",
                               {In::completed, In::refunded},
                               1'000,
                               StepState::cancelled_before_apply,
                               2,
                               0,
                               {R::points_rewarded, R::points_cancelled_before_apply,
                                R::points_reward_revoked}},
                      Scenario{"CancelledOrderIsNeverRewarded",
                               {In::placed, In::cancelled, In::completed},
                               1'000,
                               StepState::refunded,
                               0,
                               1,
                               {R::points_deducted, R::points_refunded}}),
    [](const ::testing::TestParamInfo<Scenario>& param) { return std::string(param.param.name); });

TEST_F(PointDomainTest, CancelOfARejectedDeductionChangesNoBalance) {
  accrue(user, 100);
  placed(100, 500);
  const std::uint64_t before = h.last_sequence();
  EXPECT_TRUE(cancelled(100).sends.empty());
  EXPECT_EQ(account().balance, 100);
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::rejected));
  EXPECT_TRUE(h.records(before).empty());
}

TEST_F(PointDomainTest, CancelWithNoStepClosesTheGate) {
  cancelled(100);
  const PointStep s = step(100);
  EXPECT_EQ(s.state, static_cast<std::uint8_t>(StepState::cancelled_before_apply));
  EXPECT_EQ(s.user_id, user);
  EXPECT_EQ(h.record_types(), std::vector{RecordType::points_cancelled_before_apply});
  EXPECT_EQ(account().balance, 0);
}

TEST_F(PointDomainTest, RevocationTakesBackOnlyWhatTheBalanceStillHolds) {
  accrue(user, 300);
  placed(100, 300);      // balance 0
  completed(100, 200);   // balance 200
  placed(101, 150);      // the reward is spent: balance 50
  cancelled(100, true);  // refund 300 -> 350, revoke min(200, 350) = 200 -> 150
  EXPECT_EQ(account().balance, 150);
  // A second order spends nearly everything before the next refund.
  accrue(user, 1'000);   // 1150
  placed(102, 1'000);    // 150
  completed(102, 500);   // 650
  placed(103, 640);      // 10
  cancelled(102, true);  // refund 1000 -> 1010, revoke 500 -> 510
  EXPECT_EQ(account().balance, 510);
  expect_ledger_holds(account());

  accrue(user, 5);       // 515
  completed(101, 400);   // 915
  placed(104, 915);      // 0
  cancelled(101, true);  // refund 150 -> 150, revoke min(400, 150) = 150 -> 0
  EXPECT_EQ(account().balance, 0);
  EXPECT_EQ(step(101).reward_revoked, 150);
  const auto records = h.records();
  EXPECT_EQ(records.back().type, RecordType::points_reward_revoked);
  EXPECT_EQ(records.back().as<Event>().amount, 150);
  EXPECT_EQ(records.back().as<Event>().extra, 400);
  expect_ledger_holds(account());
}

TEST_F(PointDomainTest, ARestartKeepsBalancesAndStepGatesFromTheView) {
  accrue(user, 1'000);
  placed(100, 300);
  cancelled(101);  // closes the gate of order 101
  h.recover(restarted);
  EXPECT_EQ(restarted.account(user).balance, 700);
  EXPECT_TRUE(placed(100, 300).sends.empty());  // a duplicate
  EXPECT_TRUE(placed(101, 300).sends.empty());  // cancelled first
  cancelled(100);
  EXPECT_EQ(account().balance, 1'000);
  EXPECT_EQ(restarted.account(user).balance, 1'000);
  expect_ledger_holds(account());
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::refunded));
}

TEST_F(PointWindowTest, StepsOlderThanTheWindowAreReadFromTheView) {
  accrue(user, 1'000);
  for (std::uint64_t order = 1; order <= 12; ++order) EXPECT_EQ(placed(order, 10).sends.size(), 1u);
  EXPECT_EQ(account().balance, 880);
  // Order 1 is far behind the window: its step comes from the view, and stays gated.
  EXPECT_TRUE(placed(1, 10).sends.empty());
  cancelled(1);
  EXPECT_EQ(step(1).state, static_cast<std::uint8_t>(StepState::refunded));
  const std::uint64_t before = h.last_sequence();
  cancelled(1);
  EXPECT_TRUE(h.records(before).empty());
  EXPECT_EQ(account().balance, 890);
  // The same after a restart, which loads only the window.
  h.recover(restarted);
  EXPECT_TRUE(placed(2, 10).sends.empty());
  cancelled(2);
  cancelled(12);
  EXPECT_EQ(restarted.account(user).balance, 910);
  EXPECT_EQ(account().balance, 910);
  EXPECT_EQ(step(2).state, static_cast<std::uint8_t>(StepState::refunded));
  EXPECT_EQ(step(12).state, static_cast<std::uint8_t>(StepState::refunded));
  expect_ledger_holds(account());
}

TEST(PointDomainDeathTest, DiesWhenACancelFindsAStepStateThePointDomainNeverWrites) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  PointDomain logic;
  Harness h(logic);
  PointStep bogus{};
  bogus.user_id = user;
  bogus.state = static_cast<std::uint8_t>(StepState::approved);
  h.put("steps", journal::key_u64(100), bogus);
  const auto cancel = message(MessageType::order_cancelled, Domain::order, Domain::point,
                              harness::order_finished(user, 0, 0, 0), 100);
  EXPECT_DEATH(h.apply(cancel), "never writes");
}

}  // namespace
}  // namespace flashsaga::domains
