// `flashsaga check` on hand-built journals: a consistent sale passes, and each kind of broken
// deployment is caught with the right invariant number, order and journal position.
#include "tools/check/check.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <lmdb.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "domains/coupon/coupon_domain.h"
#include "domains/journal_open.h"
#include "domains/order/order_domain.h"
#include "domains/payment/payment_domain.h"
#include "domains/point/point_domain.h"
#include "domains/product/product_domain.h"
#include "domains/rows.h"
#include "domains/user/user_domain.h"
#include "ipc/deployment.h"
#include "tests/tools/fixture.h"

namespace flashsaga::tools {
namespace {

using domains::OrderStep;
using domains::RecordType;
using domains::StepState;
using ipc::Domain;
using ipc::OrderReason;
using testing::Fixture;
using testing::TempDir;

class CheckTest : public ::testing::Test {
 protected:
  CheckReport check(std::int64_t after_ns = 60'000'000'000, bool require_terminal = false) {
    CheckOptions o;
    o.data_dir = dir.path();
    o.now_ns = last_ns + after_ns;
    o.require_terminal = require_terminal;
    CheckReport r = run_check(o);
    std::ostringstream text;
    print_check(r, text);
    printed = text.str();
    if (std::getenv("FLASHSAGA_SHOW_CHECK") != nullptr) std::cout << printed;
    return r;
  }
  // The consistent sale, committed and closed; returns with the fixture gone.
  void sale() {
    Fixture f(dir.path());
    testing::build_sale(f);
    last_ns = f.now_ns;
  }
  // One order journaled PENDING that no stock_reserved counts; with its Reservations message in
  // the outbox of its batch (not applied by the product domain yet), or without.
  void place_uncounted(bool count_on_its_way) {
    Fixture f(dir.path());
    f.user(1, "Ada");
    f.product(1, 500, 10);
    f.place(1, 1, {{1, 1, 500}});
    if (count_on_its_way) {
      ipc::ReservationsBody body{};
      body.last_order_id = 1;
      body.count = 1;
      body.products[0] = ipc::ReservedUnits{1, 0, 1};
      ipc::Message m =
          ipc::make_message(ipc::MessageType::reservations, Domain::order, Domain::product, body);
      m.header.sequence = 1;
      f.send(Domain::order, 3, m);
    }
    last_ns = f.now_ns;
  }
  static bool has(const CheckReport& r, int invariant, std::uint64_t order,
                  std::string_view words) {
    return std::any_of(r.violations.begin(), r.violations.end(), [&](const Violation& v) {
      return v.invariant == invariant && (order == 0 || v.order_id == order) &&
             v.what.find(words) != std::string::npos;
    });
  }
  static std::string list(const CheckReport& r) {
    std::string s = r.error;
    for (const Violation& v : r.violations)
      s += "\n  inv " + std::to_string(v.invariant) + " order " + std::to_string(v.order_id) + " " +
           v.domain + " seq " + std::to_string(v.journal_sequence) + ": " + v.what;
    return s;
  }

  TempDir dir;
  std::int64_t last_ns = testing::fixture_epoch_ns;
  std::string printed;
};

TEST_F(CheckTest, AConsistentSalePassesWithItsCounts) {
  sale();
  const CheckReport r = check();
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.violations.empty()) << list(r);
  EXPECT_EQ(r.orders, 6u);
  EXPECT_EQ(r.completed, 2u);
  EXPECT_EQ(r.cancelled, 3u);
  EXPECT_EQ(r.refunded_orders, 1u);
  EXPECT_EQ(r.pending, 1u);
  EXPECT_EQ(r.rejected, 1u);
  EXPECT_EQ(r.users, 4u);
  EXPECT_EQ(r.products, 2u);
  EXPECT_EQ(r.coupons, 3u);
  EXPECT_EQ(r.units_total, 20);
  EXPECT_EQ(r.units_sold, 3);      // order 1: 2 tees, order 4: 1 hoodie (order 5 was refunded)
  EXPECT_EQ(r.units_reserved, 1);  // order 6, pending
  EXPECT_EQ(r.inflight, 0u);
  EXPECT_EQ(r.reservations_through, 6u);  // the bulk counts cover every order placed
  EXPECT_EQ(r.views_behind, 0u);
  EXPECT_NE(printed.find("OK: 0 violations"), std::string::npos) << printed;
  EXPECT_NE(printed.find("invariant 1 stock     ok"), std::string::npos) << printed;
  EXPECT_NE(printed.find("invariant 7 view      ok"), std::string::npos) << printed;
}

TEST_F(CheckTest, RequireTerminalFlagsThePendingOrder) {
  sale();
  const CheckReport r = check(60'000'000'000, true);
  ASSERT_EQ(r.violations.size(), 1u) << list(r);
  EXPECT_EQ(r.violations[0].invariant, 5);
  EXPECT_EQ(r.violations[0].order_id, 6u);
  EXPECT_NE(printed.find("see: flashsaga trace 6"), std::string::npos) << printed;
}

TEST_F(CheckTest, OversoldSkuIsInvariantOne) {
  {
    Fixture f(dir.path());
    f.user(1, "Ada");
    f.user(2, "Bo");
    f.product(1, 500, 2, "Last Two");
    f.deposit(1, 5000);
    f.deposit(2, 5000);
    f.happy(1, 1, {{1, 2, 500}});
    f.happy(2, 2, {{1, 1, 500}});  // a third unit of a product that has two
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  // The bulk count that went below zero (order 0: it counts orders in bulk), the sale of order
  // 2 that stays below, and the product row.
  EXPECT_TRUE(has(r, 1, 0, "product 1 oversold: 3 units reserved or sold of a total of 2"))
      << list(r);
  EXPECT_TRUE(has(r, 1, 2, "oversold")) << list(r);
  EXPECT_TRUE(has(r, 1, 0, "oversold by 1 units")) << list(r);
  EXPECT_NE(printed.find("VIOLATION invariant 1 (stock) order 2 product journal seq"),
            std::string::npos)
      << printed;
}

TEST_F(CheckTest, DoubleRefundIsInvariantFour) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.refund(5, OrderReason::cancelled_by_customer);  // the customer's refund, paid a second time
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 4, 5, "double refund")) << list(r);
  const auto v = std::find_if(r.violations.begin(), r.violations.end(),
                              [](const Violation& x) { return x.order_id == 5; });
  ASSERT_NE(v, r.violations.end());
  EXPECT_EQ(v->domain, "payment");
  EXPECT_GT(v->journal_sequence, 0u);
}

TEST_F(CheckTest, ChargeWithoutAnOrderIsInvariantFour) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    domains::OrderRow& ghost =
        f.order_row(99);  // never placed: no row, no record in the order journal
    ghost.user_id = 1;
    ghost.paid = 700;
    f.charge(99);
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 4, 99, "which the order journal does not have")) << list(r);
  EXPECT_NE(printed.find("see: flashsaga trace 99"), std::string::npos) << printed;
}

// Writes one entry of the order journal's cursors table, as the supervisor does after a power
// loss (a LostOrders or EdgeSkip mark), into a fixture that is closed.
template <typename T>
void put_order_cursor(const std::filesystem::path& data, std::uint64_t kind, std::uint64_t key,
                      const T& value) {
  journal::Options o;
  o.domain = "order";
  o.dir = data / "order" / "journal";
  o.tables = domains::journal_tables();
  o.map_size_bytes = std::size_t{64} << 20;
  std::unique_ptr<journal::Env> env;
  ASSERT_TRUE(journal::Env::open(o, env).ok());
  journal::WriteTxn txn;
  ASSERT_TRUE(env->begin_write(txn).ok());
  ASSERT_TRUE(
      txn.put_as(env->table(domains::cursors_table_name), journal::key_u64_u64(kind, key), value)
          .ok());
  ASSERT_TRUE(txn.commit().ok());
}

// After a power loss under interval the supervisor marks the orders the order journal lost
// while a peer kept their steps (domains::LostOrders): such a charge is a LOST finding for an
// operator (exit 3), not a violation. The same charge without the mark stays invariant 4.
TEST_F(CheckTest, AChargeForAnOrderThePowerLossTookFromTheOrderJournalIsLostNotAViolation) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    domains::OrderRow& ghost = f.order_row(99);  // placed, charged, then lost by the order journal
    ghost.user_id = 1;
    ghost.paid = 700;
    f.charge(99);
    last_ns = f.now_ns;
  }
  put_order_cursor(dir.path(), domains::cursor_kind_lost_orders, 1,
                   domains::LostOrders{90, 99, 1, 0});
  const CheckReport r = check();
  EXPECT_FALSE(has(r, 4, 99, "which the order journal does not have")) << list(r);
  ASSERT_EQ(r.lost_ranges.size(), 1u);
  EXPECT_EQ(r.lost_ranges[0].first, 90u);
  EXPECT_EQ(r.lost_ranges[0].last, 99u);
  const auto lost = std::find_if(r.lost.begin(), r.lost.end(), [](const Violation& v) {
    return v.order_id == 99 && v.domain == "payment" &&
           v.what.find("a charge of 700") != std::string::npos;
  });
  EXPECT_NE(lost, r.lost.end()) << list(r);
  std::ostringstream text;
  print_check(r, text);
  EXPECT_NE(text.str().find("LOST order 99 payment"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("LOST ORDERS: 0 violations"), std::string::npos) << text.str();
}

// Writes what the supervisor journals after a power loss in which the order journal lost
// messages the payment domain had applied: an order->payment EdgeSkip whose consumer_last is
// the payment journal's end at the repair.
void mark_payment_edge_skip(const std::filesystem::path& data, std::uint64_t consumer_last) {
  const int edge =
      ipc::edge_index(ipc::domain_node(Domain::order), ipc::domain_node(Domain::payment), 0);
  put_order_cursor(data, domains::cursor_kind_edge_skip, consumer_last,
                   domains::EdgeSkip{static_cast<std::uint64_t>(edge), 10, 12, consumer_last,
                                     static_cast<std::int64_t>(consumer_last), 0});
}

// Order 7 is kept by the order journal, which lost its payment request in a power loss while
// the payment domain kept the charge; the order then timed out. Its cancel refunds the charge
// when `refunded`.
void charge_the_order_journal_forgot(Fixture& f, bool refunded) {
  testing::build_sale(f);
  f.advance_ms(100);
  f.place(7, 4, {{1, 1, 500}});
  f.advance_us(400);
  f.stock_reserve(7);
  f.order_row(7).paid = 500;  // what the lost request asked
  f.charge(7);
  f.order_row(7).paid = 0;
  f.advance_ms(5'000);
  f.cancel(7, OrderReason::timeout);
  f.advance_us(400);
  f.stock_release(7);
  if (refunded) f.refund(7, OrderReason::timeout);
  f.commit();
}

// The charge is allowed only after a mark from after it, and only once the cancel gave it back.
TEST_F(CheckTest, AChargeWhoseRequestAPowerLossTookIsAllowedOnlyWhenMarkedAndRefunded) {
  {
    Fixture f(dir.path());
    charge_the_order_journal_forgot(f, true);
    last_ns = f.now_ns;
  }
  CheckReport r = check();
  EXPECT_TRUE(has(r, 4, 7, "that the order never requested")) << list(r);
  mark_payment_edge_skip(dir.path(), 1);  // a repair before the charge: does not cover it
  r = check();
  EXPECT_TRUE(has(r, 4, 7, "that the order never requested")) << list(r);
  mark_payment_edge_skip(dir.path(), 1'000'000);
  r = check();
  EXPECT_FALSE(has(r, 4, 7, "that the order never requested")) << list(r);
  EXPECT_TRUE(r.violations.empty()) << list(r);
  EXPECT_EQ(r.undone_after_power_loss, 1u);
  std::ostringstream text;
  print_check(r, text);
  EXPECT_NE(text.str().find("1 charge whose request the order journal lost"), std::string::npos)
      << text.str();
}

TEST_F(CheckTest, AChargeWhoseRequestAPowerLossTookThatWasNeverRefundedIsAViolation) {
  {
    Fixture f(dir.path());
    charge_the_order_journal_forgot(f, false);
    last_ns = f.now_ns;
  }
  mark_payment_edge_skip(dir.path(), 1'000'000);
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 4, 7, "that the order never requested")) << list(r);
  EXPECT_EQ(r.undone_after_power_loss, 0u);
}

TEST_F(CheckTest, PointsBalanceThatDoesNotAddUpIsInvariantThree) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.account(3).balance += 500;  // points out of nothing: the row only, no record
    f.save_account(3);
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 3, 0, "user 3: balance 600 but accrued")) << list(r);
  EXPECT_TRUE(has(r, 3, 0, "differs from the journal")) << list(r);
  for (const Violation& v : r.violations) EXPECT_EQ(v.invariant, 3) << list(r);
}

TEST_F(CheckTest, CouponHeldByTwoLiveOrdersIsInvariantTwo) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.place(10, 2, {{1, 1, 500}}, 2);
    f.stock_reserve(10);
    f.coupon_apply(10);
    f.place(11, 2, {{1, 1, 500}}, 2);
    f.stock_reserve(11);
    f.coupon_apply(11);  // the gate should have refused: coupon 2 is held by order 10
    last_ns = f.now_ns;
  }
  const CheckReport r = check(1'000'000'000);
  EXPECT_TRUE(has(r, 2, 11, "coupon 2 applied to order 11 while order 10 holds it")) << list(r);
  EXPECT_TRUE(has(r, 2, 0, "held by 2 live orders at once (10, 11)")) << list(r);
}

TEST_F(CheckTest, RefundOfPointsNeverDeductedIsAnEmptyCompensation) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    // Order 2 never used points; a refund for it gives points out of nothing.
    f.points_reject(2);
    f.points_refund(2, OrderReason::coupon_used);
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 3, 2, "empty compensation")) << list(r);
}

TEST_F(CheckTest, RefundOfADeclinedPaymentIsAnEmptyCompensation) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.refund(
        3,
        OrderReason::insufficient_balance);  // SEED.md section 5: the balance grows out of nothing
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 4, 3, "without an approved charge")) << list(r);
}

TEST_F(CheckTest, MissingCompensationIsInvariantFiveOnceTheGraceIsOver) {
  {
    Fixture f(dir.path());
    f.user(1, "Ada");
    f.product(1, 500, 10);
    f.accrue(1, 100);
    f.place(1, 1, {{1, 1, 500}}, 0, 100);
    f.stock_reserve(1);
    f.points_deduct(1);
    f.cancel(1, OrderReason::timeout);
    f.stock_release(1);  // the point domain never refunds
    last_ns = f.now_ns;
  }
  const CheckReport late = check(60'000'000'000);
  EXPECT_TRUE(has(late, 5, 1, "points step is still deducted: compensation missing")) << list(late);
  const CheckReport soon = check(1'000'000'000);  // cancelled a second ago: still in flight
  EXPECT_TRUE(soon.violations.empty()) << list(soon);
  EXPECT_EQ(soon.inflight, 1u);
  const CheckReport strict = check(1'000'000'000, true);
  EXPECT_TRUE(has(strict, 5, 1, "compensation missing")) << list(strict);
}

TEST_F(CheckTest, ACancelStillInTheOutboxIsInFlightHoweverOld) {
  {
    Fixture f(dir.path());
    f.user(1, "Ada");
    f.product(1, 500, 10);
    f.place(1, 1, {{1, 1, 500}});
    f.stock_reserve(1);
    f.cancel(1, OrderReason::timeout);
    // The cancel to product is in the outbox of the batch that cancelled, on edge 3 with
    // sequence 5; the product domain has applied up to 4 on that edge (say it was down since).
    ipc::OrderFinishedBody body{};
    ipc::Message m =
        ipc::make_message(ipc::MessageType::order_cancelled, Domain::order, Domain::product, body);
    m.header.order_id = 1;
    m.header.sequence = 5;
    f.send(Domain::order, 3, m);
    f.inbox(Domain::product, 3, 4);
    last_ns = f.now_ns;
  }
  const CheckReport r = check(3'600'000'000'000);
  EXPECT_TRUE(r.violations.empty()) << list(r);
  EXPECT_EQ(r.inflight, 1u);
  // Once the product domain's inbox is past it, the cancel was applied: the missing release
  // is a violation.
  {
    Fixture f(dir.path());
    f.inbox(Domain::product, 3, 5);
  }
  const CheckReport applied = check(3'600'000'000'000);
  EXPECT_TRUE(has(applied, 5, 1, "stock step is still reserved: compensation missing"))
      << list(applied);
}

TEST_F(CheckTest, PaidThatIsNotSubtotalLessDiscountAndPointsIsInvariantSix) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.order_row(1).discount = 0;  // the row forgets the coupon; paid stays 850
    f.save_order(1);
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 6, 1, "paid 850 but subtotal 1000 - discount 0 - points 50 = 950")) << list(r);
  EXPECT_TRUE(has(r, 6, 1, "coupon step gave a discount of 100, the order counted 0")) << list(r);
}

TEST_F(CheckTest, StockRowThatDisagreesWithItsStepsIsInvariantOne) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.product_row(2).reserved += 1;  // a reservation that no step and no record holds
    f.save_product(2);
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 1, 0, "product 2: row reserved 1, the journal adds up to 0")) << list(r);
}

TEST_F(CheckTest, AWrongPathIsAnErrorNotAViolation) {
  CheckOptions o;
  o.data_dir = dir.path() / "nope";
  const CheckReport r = run_check(o);
  EXPECT_NE(r.error.find("does not exist"), std::string::npos) << r.error;
  EXPECT_TRUE(r.violations.empty());
}

TEST_F(CheckTest, AJournalOfAnotherLayoutVersionIsAnErrorNamingBothVersions) {
  sale();
  {
    journal::Options o;
    o.domain = "payment";
    o.dir = dir.path() / "payment" / "journal";
    o.tables = domains::journal_tables();
    std::unique_ptr<journal::Env> env;
    ASSERT_TRUE(journal::Env::open(o, env).ok());
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env->raw(), nullptr, 0, &txn), MDB_SUCCESS);
    MDB_dbi meta = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), MDB_SUCCESS);
    const std::uint16_t newer = journal::journal_layout_version + 1;
    MDB_val k{14, const_cast<char*>("layout_version")};
    MDB_val v{sizeof newer, const_cast<std::uint16_t*>(&newer)};
    ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), MDB_SUCCESS);
    ASSERT_EQ(mdb_txn_commit(txn), MDB_SUCCESS);
  }
  const CheckReport r = check();
  EXPECT_NE(r.error.find(fmt::format("layout version mismatch: expected {}, found {}",
                                     journal::journal_layout_version,
                                     journal::journal_layout_version + 1)),
            std::string::npos)
      << r.error;
  EXPECT_NE(r.error.find("use the flashsaga that wrote it"), std::string::npos) << r.error;
}

TEST_F(CheckTest, ARecordTypeFromANewerWriterIsAnError) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    domains::Event e{};
    f.record(Domain::coupon, static_cast<RecordType>(77), 0, e);
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_NE(r.error.find("type 77, which this flashsaga does not know"), std::string::npos)
      << r.error;
}

// --- The bulk reservations, the live table, the views ----------------------------------------

TEST_F(CheckTest, BulkReservationsThatDoNotAddUpAreInvariantOne) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    // A count of one hoodie that no order holds: the row follows it, the orders do not.
    domains::ProductRow& p = f.product_row(2);
    p.reserved += 1;
    f.save_product(2);
    domains::Event e{};
    e.subject = 2;
    e.other = 6;
    e.amount = 1;
    e.balance = p.total - p.reserved - p.sold;
    f.record(Domain::product, RecordType::stock_reserved, 0, e);
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 1, 0,
                  "product 2: stock_reserved records count 4 units for the orders up to 6, whose "
                  "order_pending records hold 3"))
      << list(r);
  for (const Violation& v : r.violations) EXPECT_EQ(v.invariant, 1) << list(r);
}

TEST_F(CheckTest, AnOrderSoldTwiceAtProductIsInvariantOne) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.stock_sell(4);  // order 4's hoodie, sold a second time
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 1, 4, "1 units of product 2 sold although the step is already sold"))
      << list(r);
  EXPECT_TRUE(has(r, 1, 0, "product 2: row sold 2, sold steps hold 1, the journal adds up to 2"))
      << list(r);
}

TEST_F(CheckTest, AnOrderReleasedTwiceAtProductIsADoubleCompensation) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.stock_release(2);  // order 2 was released when its coupon was refused
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(has(r, 1, 2, "released twice (double compensation)")) << list(r);
}

TEST_F(CheckTest, AnUncountedOrderIsInFlightWhileItsBulkCountIsOnItsWay) {
  place_uncounted(true);
  const CheckReport on_its_way = check(3'600'000'000'000);
  EXPECT_TRUE(on_its_way.violations.empty()) << list(on_its_way);
  EXPECT_GE(on_its_way.inflight, 1u);
  const CheckReport strict = check(3'600'000'000'000, true);
  EXPECT_TRUE(has(strict, 1, 1, "not counted by the product domain yet")) << list(strict);
}

TEST_F(CheckTest, AnUncountedOrderWithNoCountOnItsWayIsInvariantOne) {
  place_uncounted(false);
  const CheckReport lost = check(3'600'000'000'000);
  EXPECT_TRUE(has(lost, 1, 1, "never counted by the product domain")) << list(lost);
}

TEST_F(CheckTest, TheLiveTableCountsUnitsOfLimitedProductsInLiveOrders) {
  {
    Fixture f(dir.path());
    f.user(1, "Ada");
    f.product(1, 500, 10, "Limited");
    f.product(2, 100, 10, "Free");
    f.deposit(1, 5000);
    f.product_limit(1, 2);
    f.happy(1, 1,
            {{1, 2, 500}, {2, 3, 100}});  // live: 2 units of product 1; product 2 has no limit
    f.place(2, 1, {{2, 1, 100}});
    f.stock_reserve(2);
    last_ns = f.now_ns;
  }
  CheckReport r = check(1'000'000'000);
  EXPECT_TRUE(r.violations.empty()) << list(r);
  {
    Fixture f(dir.path());
    f.put2(Domain::order, "live", 1, 1, std::int64_t{1});  // forgets a unit
    f.put2(Domain::order, "live", 1, 2, std::int64_t{4});  // counts a product without a limit
  }
  r = check(1'000'000'000);
  EXPECT_TRUE(has(
      r, 1, 0, "user 1 holds 2 counted units of product 1 in live orders, the live table says 1"))
      << list(r);
  EXPECT_TRUE(
      has(r, 1, 0,
          "the live table says user 1 holds 4 units of product 2, but no live order counts any"))
      << list(r);
}

TEST_F(CheckTest, AViewAheadOfItsJournalIsInvariantSeven) {
  sale();
  {
    Fixture f(dir.path());
    f.view_position(Domain::payment, 999);
  }
  const CheckReport r = check();
  EXPECT_TRUE(
      has(r, 7, 0,
          "the payment view says it holds the journal up to sequence 999, but the journal ends at"))
      << list(r);
  EXPECT_NE(printed.find("invariant 7 view      1 violation"), std::string::npos) << printed;
}

TEST_F(CheckTest, AViewBehindItsJournalIsReadAsOfTheJournalsEnd) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    last_ns = f.now_ns;
  }
  {
    Fixture f(dir.path());
    f.view_position(Domain::coupon, 5);  // the coupon view applied 5 of its records
  }
  const CheckReport live = check();
  EXPECT_TRUE(live.violations.empty()) << list(live);
  EXPECT_EQ(live.views_behind, 1u);
  EXPECT_EQ(live.view_positions[static_cast<std::size_t>(Domain::coupon)], 5u);
  EXPECT_NE(printed.find("1 view still applying its journal"), std::string::npos) << printed;
  const CheckReport rest = check(60'000'000'000, true);  // a deployment at rest has caught up
  EXPECT_TRUE(has(rest, 7, 0, "the coupon view holds its journal up to sequence 5")) << list(rest);
}

TEST_F(CheckTest, RowsTheViewHasNotAppliedYetAreReadFromTheJournalsStateEntries) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.lag_view(
        Domain::order);  // order 7 is journaled, its rows only in the batches' state sections
    f.place(7, 1, {{2, 1, 1200}});
    f.stock_reserve(7);
    last_ns = f.now_ns;
  }
  std::unique_ptr<journal::Env> view;
  ASSERT_TRUE(domains::open_view_read_only(dir.path(), Domain::order, view).ok());
  journal::ReadTxn txn;
  ASSERT_TRUE(view->begin_read(txn).ok());
  domains::OrderRow row{};
  EXPECT_EQ(txn.get_as(view->table("orders"), journal::key_u64(7), row).code(),
            journal::ErrorCode::not_found);  // the view itself does not have it
  txn = journal::ReadTxn();
  const CheckReport r = check(1'000'000'000);
  EXPECT_TRUE(r.violations.empty()) << list(r);
  EXPECT_EQ(r.orders, 7u);
  EXPECT_EQ(r.pending, 2u);
  EXPECT_EQ(r.views_behind, 1u);
}

TEST_F(CheckTest, ABatchNoteIsAcceptedAndSkipped) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    f.append(Domain::coupon, RecordType::batch_note, 0, {});
    last_ns = f.now_ns;
  }
  const CheckReport r = check();
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.violations.empty()) << list(r);
}

TEST_F(CheckTest, AnEnvironmentTornByAPowerLossIsReportedNotACrash) {
  {
    Fixture f(dir.path());
    testing::build_sale(f);
    for (int k = 0; k < 400; ++k) f.deposit(1, 1);  // the payment view's history spans leaves
    last_ns = f.now_ns;
  }
  const std::filesystem::path view = dir.path() / "payment" / "view";
  ASSERT_NE(testing::tear_leaf_page(view, "history"), 0u);
  const CheckReport r = check();
  EXPECT_NE(r.error.find("the payment view (" + view.string() + ") is corrupt"), std::string::npos)
      << r.error;
  if (std::getenv("FLASHSAGA_SHOW_CHECK") != nullptr) std::cout << r.error << '\n';
  EXPECT_TRUE(r.violations.empty());
}

// The step domains' tables are named in all_tables() order: a state entry's tag is its table.
TEST(StateTags, EveryDomainsTablesAreItsViewTablesInOrder) {
  domains::UserDomain user;
  domains::PointDomain point(domains::StepOptions{.window = 16});
  domains::ProductDomain product(domains::ProductOptions{.window = 16}, nullptr);
  domains::CouponDomain coupon(domains::StepOptions{.window = 16});
  domains::OrderDomain order(domains::OrderOptions{.window = 16});
  domains::PaymentDomain payment(domains::PaymentOptions{.window = 16});
  for (const domains::DomainLogic* logic : std::initializer_list<const domains::DomainLogic*>{
           &user, &point, &product, &coupon, &order, &payment}) {
    std::vector<std::string> view = domains::all_tables(logic->domain());
    view.pop_back();  // counters: the runtime's
    EXPECT_EQ(logic->tables(), view) << ipc::domain_name(logic->domain());
  }
}

TEST(ReplayStep, StockMovesAcceptOneRecordPerItemAndNoMore) {
  StepReplay s;
  domains::Event e{};
  e.amount = 1;
  replay_reserved(s);  // counted in bulk
  EXPECT_EQ(replay_step(s, RecordType::stock_released, e, 3, 2), "");
  EXPECT_EQ(replay_step(s, RecordType::stock_released, e, 4, 2), "");
  EXPECT_NE(replay_step(s, RecordType::stock_released, e, 5, 2).find("released twice"),
            std::string::npos);
  EXPECT_EQ(s.compensations,
            2u);  // the second release is a compensation too: counted, and reported
}

TEST(ReplayStep, AStockSaleBeforeAnyBulkCountIsRefused) {
  StepReplay s;
  domains::Event e{};
  e.amount = 2;
  e.subject = 7;
  EXPECT_NE(replay_step(s, RecordType::stock_sold, e, 1, 1)
                .find("before any stock_reserved record counted"),
            std::string::npos);
}

TEST(ReplayStep, AForwardStepAfterTheCancelCameFirstIsRefused) {
  StepReplay s;
  domains::Event e{};
  e.amount = 10;
  EXPECT_EQ(replay_step(s, RecordType::payment_cancelled_before_apply, e, 1, 1), "");
  EXPECT_NE(
      replay_step(s, RecordType::payment_approved, e, 2, 1).find("after the cancel came first"),
      std::string::npos);
}

TEST(ReplayStep, ARefundMustMatchItsDeduction) {
  StepReplay s;
  domains::Event e{};
  e.amount = 30;
  EXPECT_EQ(replay_step(s, RecordType::points_deducted, e, 1, 1), "");
  e.amount = 40;
  EXPECT_NE(replay_step(s, RecordType::points_refunded, e, 2, 1)
                .find("does not match the deduction of 30"),
            std::string::npos);
  EXPECT_FALSE(step_needs_compensation(Domain::point, s));
}

}  // namespace
}  // namespace flashsaga::tools
