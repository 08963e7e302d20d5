// The order flows of SEED.md §4 and DESIGN.md, each over real processes: a supervisor, six
// domain processes, shared-memory rings and LMDB journals, driven by the client library. Each
// test asserts every domain's journaled state and balances, not only the order's status.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/e2e/live_deployment.h"

namespace flashsaga {
namespace {

using domains::OrderRow;
using domains::OrderStatus;
using domains::StepState;
using ipc::Domain;
using ipc::OrderReason;
using testing::LiveDeployment;

constexpr std::int64_t wait_ms = 10'000;

struct Shop {
  std::uint64_t user = 0;
  std::uint64_t product = 0;
  std::uint64_t coupon = 0;
};

// A user with `wallet` money and `points`, a product, and (if coupon_value > 0) a fixed coupon.
Shop open_shop(engine::Client& c, std::int64_t wallet, std::int64_t points, std::int64_t price,
               std::int64_t stock, std::int64_t coupon_value = 0,
               const char* email = "buyer@example.com") {
  Shop s;
  auto u = c.create_user("Buyer", email);
  EXPECT_TRUE(u.ok());
  s.user = u.id;
  if (wallet > 0) {
    EXPECT_TRUE(c.deposit(s.user, wallet).ok());
  }
  if (points > 0) {
    EXPECT_TRUE(c.accrue_points(s.user, points, "welcome").ok());
  }
  auto p = c.create_product("Lamp", price, stock);
  EXPECT_TRUE(p.ok());
  s.product = p.id;
  if (coupon_value > 0) {
    auto t = c.create_coupon_template(ipc::CouponKind::fixed, coupon_value);
    EXPECT_TRUE(t.ok());
    auto k = c.issue_coupon(t.id, s.user);
    EXPECT_TRUE(k.ok());
    s.coupon = k.id;
  }
  return s;
}

// Waits (bounded) until `done()` holds: the other domains apply a completion or a cancel
// asynchronously, after the order itself has ended.
template <typename Pred>
void eventually(Pred done) {
  for (int i = 0; i < 5000 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

OrderRow finish(engine::Client& c, std::uint64_t id) {
  OrderRow row{};
  EXPECT_TRUE(c.wait_terminal(id, wait_ms, &row)) << "order " << id << " did not finish";
  return row;
}

TEST(SagaFlows, HappyPathChargesExactlyAndTurnsTheReservationIntoASale) {
  LiveDeployment dep;
  auto& c = dep.client();
  Shop s = open_shop(c, 10'000, 500, 1'000, 5, 100);
  auto o = c.place_order(s.user, {{static_cast<std::uint32_t>(s.product), 2}}, s.coupon, 300);
  ASSERT_TRUE(o.accepted());
  EXPECT_EQ(c.available(static_cast<std::uint32_t>(s.product)), 3);  // reserved at once
  OrderRow row = finish(c, o.order_id);
  EXPECT_EQ(row.status, static_cast<std::uint8_t>(OrderStatus::completed));
  EXPECT_EQ(row.subtotal, 2'000);
  EXPECT_EQ(row.discount, 100);
  EXPECT_EQ(row.points_used, 300);
  EXPECT_EQ(row.paid, 1'600);
  EXPECT_EQ(row.reward_points, 16);  // 1% of what was paid
  eventually([&] {
    return c.step(Domain::product, o.order_id) == StepState::sold &&
           c.coupon(s.coupon)->state == static_cast<std::uint8_t>(domains::CouponState::used) &&
           c.points(s.user)->balance == 500 - 300 + 16;
  });
  // Each domain's own journal says what happened.
  EXPECT_EQ(c.step(Domain::product, o.order_id), StepState::sold);
  EXPECT_EQ(c.step(Domain::coupon, o.order_id), StepState::applied);
  EXPECT_EQ(c.step(Domain::point, o.order_id), StepState::deducted);
  EXPECT_EQ(c.step(Domain::payment, o.order_id), StepState::approved);
  EXPECT_EQ(c.wallet(s.user)->balance, 10'000 - 1'600);
  EXPECT_EQ(c.wallet(s.user)->charges, 1'600);
  EXPECT_EQ(c.payment(o.order_id)->amount, 1'600);
  // Reward accrues once the order is completed (a separate message): wait for it.
  for (int i = 0; i < 2000 && c.points(s.user)->balance != 500 - 300 + 16; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c.points(s.user)->balance, 500 - 300 + 16);
  EXPECT_EQ(c.coupon(s.coupon)->state, static_cast<std::uint8_t>(domains::CouponState::used));
  auto p = c.product(s.product);
  EXPECT_EQ(p->sold, 2);
  EXPECT_EQ(p->reserved, 0);
  EXPECT_EQ(c.available(static_cast<std::uint32_t>(s.product)), 3);
}

TEST(SagaFlows, SoldOutIsAnsweredAtOnceAndNoOtherDomainHearsOfIt) {
  LiveDeployment dep;
  auto& c = dep.client();
  Shop s = open_shop(c, 10'000, 500, 1'000, 1, 100);
  auto first = c.place_order(s.user, {{static_cast<std::uint32_t>(s.product), 1}});
  ASSERT_TRUE(first.accepted());
  auto second = c.place_order(s.user, {{static_cast<std::uint32_t>(s.product), 1}}, s.coupon, 100);
  EXPECT_EQ(second.now, engine::PlaceStatus::sold_out);
  EXPECT_EQ(second.order_id, 0u);
  finish(c, first.order_id);
  for (int i = 0; i < 2000 && c.points(s.user)->balance != 510; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // Nothing of the second attempt exists anywhere: no order, no coupon or point step.
  EXPECT_FALSE(c.order(first.order_id + 1).has_value());
  EXPECT_EQ(c.coupon(s.coupon)->state, static_cast<std::uint8_t>(domains::CouponState::available));
  EXPECT_EQ(c.points(s.user)->balance, 500 + 10);  // only the first order's reward
  EXPECT_EQ(c.available(static_cast<std::uint32_t>(s.product)), 0);
}

TEST(SagaFlows, InvalidCouponCancelsAndReleasesStockAndRefundsPointsWithoutAnyCharge) {
  LiveDeployment dep;
  auto& c = dep.client();
  Shop owner = open_shop(c, 0, 0, 1'000, 5, 100, "owner@example.com");
  Shop s = open_shop(c, 10'000, 500, 1'000, 5, 0);
  const auto pid = static_cast<std::uint32_t>(s.product);
  // Someone else's coupon.
  auto o = c.place_order(s.user, {{pid, 1}}, owner.coupon, 200);
  ASSERT_TRUE(o.accepted());
  OrderRow row = finish(c, o.order_id);
  EXPECT_EQ(row.status, static_cast<std::uint8_t>(OrderStatus::cancelled));
  EXPECT_EQ(row.reason, static_cast<std::uint8_t>(OrderReason::coupon_not_owned));
  EXPECT_EQ(row.step_payment, static_cast<std::uint8_t>(StepState::none));  // payment never asked
  // Stock came back (the product domain releases after its commit).
  for (int i = 0; i < 2000 && c.available(pid) != 5; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c.available(pid), 5);
  EXPECT_EQ(c.step(Domain::product, o.order_id), StepState::released);
  EXPECT_EQ(c.step(Domain::coupon, o.order_id), StepState::rejected);
  // Points: deducted in parallel, then refunded exactly once — or never taken at all.
  for (int i = 0; i < 2000 && c.points(s.user)->balance != 500; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c.points(s.user)->balance, 500);
  const StepState points = c.step(Domain::point, o.order_id);
  EXPECT_TRUE(points == StepState::refunded || points == StepState::cancelled_before_apply);
  // The payment domain heard the cancel but had nothing to undo: no charge, no refund.
  for (int i = 0; i < 2000 && c.step(Domain::payment, o.order_id) == StepState::none; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c.step(Domain::payment, o.order_id), StepState::cancelled_before_apply);
  EXPECT_EQ(c.wallet(s.user)->balance, 10'000);
  EXPECT_EQ(c.wallet(s.user)->refunds, 0);
  EXPECT_EQ(c.coupon(owner.coupon)->state,
            static_cast<std::uint8_t>(domains::CouponState::available));
}

TEST(SagaFlows,
     InsufficientBalanceCancelsAndCompensatesEverythingButNeverRefundsAChargeThatDidNotHappen) {
  LiveDeployment dep;
  auto& c = dep.client();
  Shop s = open_shop(c, 500, 300, 1'000, 5, 100);  // pays 1000-100-300 = 600 > 500
  const auto pid = static_cast<std::uint32_t>(s.product);
  auto o = c.place_order(s.user, {{pid, 1}}, s.coupon, 300);
  ASSERT_TRUE(o.accepted());
  OrderRow row = finish(c, o.order_id);
  EXPECT_EQ(row.status, static_cast<std::uint8_t>(OrderStatus::cancelled));
  EXPECT_EQ(row.reason, static_cast<std::uint8_t>(OrderReason::insufficient_balance));
  for (int i = 0; i < 2000 && (c.available(pid) != 5 || c.points(s.user)->balance != 300 ||
                               c.step(Domain::coupon, o.order_id) != StepState::released);
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c.available(pid), 5);
  EXPECT_EQ(c.step(Domain::coupon, o.order_id), StepState::released);
  EXPECT_EQ(c.coupon(s.coupon)->state, static_cast<std::uint8_t>(domains::CouponState::available));
  EXPECT_EQ(c.step(Domain::point, o.order_id), StepState::refunded);
  EXPECT_EQ(c.points(s.user)->balance, 300);
  EXPECT_EQ(c.points(s.user)->refunded, 300);
  // SEED.md §5: the declined payment is not "refunded": the balance does not grow.
  EXPECT_EQ(c.step(Domain::payment, o.order_id), StepState::declined);
  EXPECT_EQ(c.wallet(s.user)->balance, 500);
  EXPECT_EQ(c.wallet(s.user)->refunds, 0);
}

TEST(SagaFlows, AStepThatNeverAnswersCancelsTheOrderAtItsDeadlineAndVoidsThePayment) {
  LiveDeployment dep(
      "[saga]\nstep_timeout_ms = 300\n[payment]\nadapter = \"pg\"\npg_hang_permille = 1000\n");
  auto& c = dep.client();
  Shop s = open_shop(c, 0, 0, 1'000, 5);
  const auto pid = static_cast<std::uint32_t>(s.product);
  auto o = c.place_order(s.user, {{pid, 1}});
  ASSERT_TRUE(o.accepted());
  OrderRow row = finish(c, o.order_id);
  EXPECT_EQ(row.status, static_cast<std::uint8_t>(OrderStatus::cancelled));
  EXPECT_EQ(row.reason, static_cast<std::uint8_t>(OrderReason::timeout));
  for (int i = 0; i < 2000 && (c.available(pid) != 5 ||
                               c.step(Domain::payment, o.order_id) != StepState::voided);
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c.available(pid), 5);
  EXPECT_EQ(c.step(Domain::payment, o.order_id), StepState::voided);
  EXPECT_EQ(c.step(Domain::product, o.order_id), StepState::released);
}

// Deadlines do not run while the deployment is down: an order pending when every process died
// resumes with the time it had left then (OrderDomain::stopped_at), however long the restart
// took, so the answers its peers re-send after a power loss can still complete it.
TEST(SagaFlows, AnOrderPendingWhenTheDeploymentDiesKeepsTheTimeItHadLeftAcrossTheRestart) {
  LiveDeployment dep(
      "[saga]\nstep_timeout_ms = 4000\n[payment]\nadapter = \"pg\"\npg_hang_permille = 1000\n");
  Shop s = open_shop(dep.client(), 0, 0, 1'000, 5);
  const auto pid = static_cast<std::uint32_t>(s.product);
  auto o = dep.client().place_order(s.user, {{pid, 1}});
  ASSERT_TRUE(o.accepted());
  eventually([&] { return dep.client().step(Domain::payment, o.order_id) == StepState::pending; });
  ASSERT_EQ(dep.client().step(Domain::payment, o.order_id), StepState::pending);
  dep.kill_everything();
  dep.forget_crashed();
  std::this_thread::sleep_for(std::chrono::milliseconds(4'500));  // past its wall deadline
  dep.start();
  const std::int64_t ready_ns = mono_now_ns();
  auto& c = dep.client();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(c.order(o.order_id).has_value());
  EXPECT_EQ(c.order(o.order_id)->status, static_cast<std::uint8_t>(OrderStatus::pending))
      << "the restart spent the order's time: it was cancelled at once";
  OrderRow row = finish(c, o.order_id);
  EXPECT_EQ(row.reason, static_cast<std::uint8_t>(OrderReason::timeout));
  // It had almost all of its 4 s left when the processes died.
  EXPECT_GE(mono_now_ns() - ready_ns, 2'000'000'000);
  eventually([&] { return c.step(Domain::payment, o.order_id) == StepState::voided; });
  EXPECT_EQ(c.step(Domain::payment, o.order_id), StepState::voided);
}

TEST(SagaFlows, CancellingACompletedOrderRefundsEveryStepAndTakesTheRewardBack) {
  LiveDeployment dep;
  auto& c = dep.client();
  Shop s = open_shop(c, 10'000, 500, 1'000, 5, 100);
  const auto pid = static_cast<std::uint32_t>(s.product);
  auto o = c.place_order(s.user, {{pid, 1}}, s.coupon, 200);
  ASSERT_TRUE(o.accepted());
  OrderRow done = finish(c, o.order_id);
  ASSERT_EQ(done.status, static_cast<std::uint8_t>(OrderStatus::completed));
  for (int i = 0; i < 2000 && c.points(s.user)->rewarded != done.reward_points; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto cancel = c.cancel_order(o.order_id, OrderReason::cancelled_by_customer);
  EXPECT_EQ(cancel.result, ipc::PlaceResult::accepted);
  for (int i = 0; i < 3000 && (c.step(Domain::payment, o.order_id) != StepState::refunded ||
                               c.step(Domain::point, o.order_id) != StepState::refunded ||
                               c.available(pid) != 5 ||
                               c.step(Domain::coupon, o.order_id) != StepState::released);
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  OrderRow row = *c.order(o.order_id);
  EXPECT_EQ(row.status, static_cast<std::uint8_t>(OrderStatus::cancelled));
  EXPECT_EQ(row.reason, static_cast<std::uint8_t>(OrderReason::cancelled_by_customer));
  EXPECT_EQ(row.was_completed, 1);
  EXPECT_EQ(c.wallet(s.user)->balance, 10'000);
  EXPECT_EQ(c.wallet(s.user)->refunds, done.paid);
  EXPECT_EQ(c.points(s.user)->balance, 500);  // deduction refunded, reward revoked
  EXPECT_EQ(c.points(s.user)->revoked, done.reward_points);
  EXPECT_EQ(c.available(pid), 5);
  EXPECT_EQ(c.product(s.product)->sold, 0);
  EXPECT_EQ(c.coupon(s.coupon)->state, static_cast<std::uint8_t>(domains::CouponState::available));
  // A second cancel changes nothing.
  EXPECT_EQ(c.cancel_order(o.order_id).result, ipc::PlaceResult::already_final);
}

TEST(FlashSaleRules, OrdersOutsideTheSaleWindowAreRefusedAtTheDoorWithoutAReservation) {
  LiveDeployment dep;
  auto& c = dep.client();
  auto u = c.create_user("Early", "early@example.com");
  const std::int64_t in_an_hour = wall_now_ns() + 3'600'000'000'000;
  auto p = c.create_product("Drop", 100, 10, 0, in_an_hour, 0);
  ASSERT_TRUE(p.ok());
  auto o = c.place_order(u.id, {{static_cast<std::uint32_t>(p.id), 1}});
  EXPECT_EQ(o.now, engine::PlaceStatus::not_on_sale);
  EXPECT_EQ(c.available(static_cast<std::uint32_t>(p.id)), 10);
}

TEST(FlashSaleRules, FiftyConcurrentOrdersFromOneBuyerLeaveExactlyOneLiveOrderAtMaxPerUserOne) {
  LiveDeployment dep;
  auto& c = dep.client();
  auto u = c.create_user("Eager", "eager@example.com");
  ASSERT_TRUE(c.deposit(u.id, 1'000'000).ok());
  auto p = c.create_product("Limited", 100, 1'000, 1);
  const auto pid = static_cast<std::uint32_t>(p.id);
  std::atomic<int> accepted{0}, limited{0};
  std::vector<std::thread> buyers;
  for (int i = 0; i < 50; ++i)
    buyers.emplace_back([&] {
      auto o = c.place_order(u.id, {{pid, 1}});
      if (o.accepted()) ++accepted;
      if (o.now == engine::PlaceStatus::submitted && o.result == ipc::PlaceResult::rejected &&
          o.reason == OrderReason::limit_exceeded)
        ++limited;
    });
  for (auto& t : buyers) t.join();
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(limited.load(), 49);
  // Every refused order gave its reservation back.
  EXPECT_EQ(c.available(pid), 999);
}

TEST(FlashSaleRules, AThousandRacingIssuesOfAQuantityHundredTemplateIssueExactlyHundred) {
  LiveDeployment dep;
  auto& c = dep.client();
  auto t = c.create_coupon_template(ipc::CouponKind::percent, 10, 100);
  ASSERT_TRUE(t.ok());
  std::vector<std::uint64_t> users;
  for (int i = 0; i < 1000; ++i) {
    std::string email(1, 'u');  // appended: "u" + a temporary trips GCC 12's -Wrestrict at -O3
    email += std::to_string(i) + "@example.com";
    auto u = c.create_user("U", email);
    ASSERT_TRUE(u.ok());
    users.push_back(u.id);
  }
  std::atomic<int> issued{0}, sold_out{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      for (std::size_t i = static_cast<std::size_t>(k); i < users.size(); i += 8) {
        auto r = c.issue_coupon(t.id, users[i]);
        if (r.ok()) ++issued;
        if (r.result == ipc::CommandResult::sold_out) ++sold_out;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(issued.load(), 100);
  EXPECT_EQ(sold_out.load(), 900);
}

}  // namespace
}  // namespace flashsaga
