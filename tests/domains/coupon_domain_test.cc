#include "domains/coupon/coupon_domain.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/domains/domain_harness.h"

namespace flashsaga::domains {
namespace {

using harness::Harness;
using harness::message;
using harness::ms_ns;
using harness::reply_of;
using harness::result_of;
using harness::sent_to_order;
using harness::t0_ns;
using harness::type_of;
using ipc::CommandResult;
using ipc::CouponKind;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

constexpr std::uint64_t alice = 1;
constexpr std::uint64_t bob = 2;

ipc::CreateCouponTemplateBody fixed_template(std::int64_t value) {
  ipc::CreateCouponTemplateBody b{};
  b.kind = static_cast<std::uint8_t>(CouponKind::fixed);
  b.value = value;
  EXPECT_TRUE(b.name.assign("launch"));
  return b;
}

class CouponDomainTest : public ::testing::Test {
 protected:
  explicit CouponDomainTest(std::size_t window = order_window_default)
      : logic(StepOptions{window}), restarted(StepOptions{window}), h(logic) {}

  harness::Output create(const ipc::CreateCouponTemplateBody& b) {
    return h.apply(message(MessageType::create_coupon_template, Domain::port, Domain::coupon, b));
  }
  std::uint64_t create_ok(const ipc::CreateCouponTemplateBody& b) {
    const auto reply = reply_of(create(b));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::ok)) << reply.field;
    return reply.entity_id;
  }
  harness::Output issue(std::uint64_t tpl, std::uint64_t user, std::int64_t now = t0_ns) {
    return h.apply(message(MessageType::issue_coupon, Domain::port, Domain::coupon,
                           ipc::IssueCouponBody{tpl, user}),
                   now);
  }
  std::uint64_t issue_ok(std::uint64_t tpl, std::uint64_t user) {
    const auto reply = reply_of(issue(tpl, user));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::ok));
    return reply.entity_id;
  }
  harness::Output placed(std::uint64_t order, std::uint64_t user, std::uint64_t coupon,
                         std::int64_t subtotal = 10'000, std::int64_t now = t0_ns) {
    return h.apply(message(MessageType::order_placed, Domain::order, Domain::coupon,
                           harness::order_placed(user, coupon, 0, subtotal), order),
                   now);
  }
  harness::Output completed(std::uint64_t order, std::uint64_t coupon) {
    return h.apply(message(MessageType::order_completed, Domain::order, Domain::coupon,
                           harness::order_finished(alice, coupon, 9'000, 0), order));
  }
  harness::Output cancelled(std::uint64_t order, std::uint64_t coupon, bool was_completed = false) {
    return h.apply(
        message(MessageType::order_cancelled, Domain::order, Domain::coupon,
                harness::order_finished(alice, coupon, 0, 0, OrderReason::cancelled_by_customer,
                                        was_completed),
                order));
  }
  CouponRow coupon(std::uint64_t id) { return h.row<CouponRow>("coupons", journal::key_u64(id)); }
  CouponStep step(std::uint64_t order) {
    return h.row<CouponStep>("steps", journal::key_u64(order));
  }
  TemplateRow tpl(std::uint64_t id) {
    return h.row<TemplateRow>("templates", journal::key_u64(id));
  }
  static OrderReason rejection(const harness::Output& out) {
    const ipc::Message& m = sent_to_order(out);
    EXPECT_EQ(type_of(m), MessageType::coupon_rejected);
    return static_cast<OrderReason>(ipc::body_as<ipc::StepRejectedBody>(m).reason);
  }
  static std::int64_t discount_applied(const harness::Output& out) {
    const ipc::Message& m = sent_to_order(out);
    EXPECT_EQ(type_of(m), MessageType::coupon_applied);
    return ipc::body_as<ipc::CouponAppliedBody>(m).discount;
  }

  CouponDomain logic;
  CouponDomain restarted;  // the same domain after a restart (h.recover)
  Harness h;
};

// Steps of the 4 most recent order ids in memory, older ones in the view only.
class CouponWindowTest : public CouponDomainTest {
 protected:
  CouponWindowTest() : CouponDomainTest(4) {}
};

// --- Templates and issuing --------------------------------------------------------------------

TEST_F(CouponDomainTest, CreatesTemplatesWithIdsCountingFromOne) {
  EXPECT_EQ(create_ok(fixed_template(500)), 1u);
  auto percent = fixed_template(15);
  percent.kind = static_cast<std::uint8_t>(CouponKind::percent);
  percent.max_discount = 3'000;
  EXPECT_EQ(create_ok(percent), 2u);
  const TemplateRow row = tpl(2);
  EXPECT_EQ(row.kind, static_cast<std::uint8_t>(CouponKind::percent));
  EXPECT_EQ(row.value, 15);
  EXPECT_EQ(row.max_discount, 3'000);
  EXPECT_EQ(row.issued, 0);
  EXPECT_EQ(h.record_types(), (std::vector{RecordType::coupon_template_created,
                                           RecordType::coupon_template_created}));
}

struct TemplateFault {
  const char* name;
  void (*mutate)(ipc::CreateCouponTemplateBody&);
  std::uint16_t field;
};

TEST_F(CouponDomainTest, RefusesTemplateFieldsOutOfRangeNamingTheField) {
  using B = ipc::CreateCouponTemplateBody;
  const TemplateFault faults[] = {
      {"unknown kind", [](B& b) { b.kind = 3; }, CouponDomain::field_kind},
      {"no kind", [](B& b) { b.kind = 0; }, CouponDomain::field_kind},
      {"fixed zero", [](B& b) { b.value = 0; }, CouponDomain::field_value},
      {"fixed too large", [](B& b) { b.value = money_max + 1; }, CouponDomain::field_value},
      {"percent zero",
       [](B& b) {
         b.kind = 2;
         b.value = 0;
       },
       CouponDomain::field_value},
      {"percent over 100",
       [](B& b) {
         b.kind = 2;
         b.value = 101;
       },
       CouponDomain::field_value},
      {"negative cap", [](B& b) { b.max_discount = -1; }, CouponDomain::field_max_discount},
      {"negative minimum", [](B& b) { b.min_order_amount = -1; },
       CouponDomain::field_min_order_amount},
      {"negative expiry", [](B& b) { b.expires_at_ns = -1; }, CouponDomain::field_expires_at},
      {"negative quantity", [](B& b) { b.quantity = -1; }, CouponDomain::field_quantity},
      {"empty name", [](B& b) { b.name.assign(""); }, CouponDomain::field_name},
      {"control in name", [](B& b) { b.name.assign("a\nb"); }, CouponDomain::field_name},
  };
  for (const TemplateFault& f : faults) {
    auto b = fixed_template(500);
    f.mutate(b);
    const auto reply = reply_of(create(b));
    EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::invalid_field)) << f.name;
    EXPECT_EQ(reply.field, f.field) << f.name;
  }
  EXPECT_TRUE(h.records().empty());
  EXPECT_EQ(create_ok(fixed_template(money_max)), 1u);
}

TEST_F(CouponDomainTest, IssuesAtMostTheTemplateQuantityAndThenAnswersSoldOut) {
  auto b = fixed_template(500);
  b.quantity = 3;
  const std::uint64_t t = create_ok(b);
  for (std::uint64_t user = 1; user <= 3; ++user) EXPECT_EQ(issue_ok(t, user), user);
  EXPECT_EQ(result_of(issue(t, 4)), CommandResult::sold_out);
  EXPECT_EQ(result_of(issue(t, 5)), CommandResult::sold_out);
  EXPECT_EQ(tpl(t).issued, 3);
  EXPECT_EQ(h.count("coupons"), 3u);
}

TEST_F(CouponDomainTest, IssuesOneCouponPerUserPerTemplate) {
  const std::uint64_t t = create_ok(fixed_template(500));
  const std::uint64_t c = issue_ok(t, alice);
  const auto reply = reply_of(issue(t, alice));
  EXPECT_EQ(reply.result, static_cast<std::uint16_t>(CommandResult::conflict));
  EXPECT_EQ(reply.field, CouponDomain::field_user_id);
  EXPECT_EQ(tpl(t).issued, 1);
  // Another user, and the same user from another template, are fine.
  issue_ok(t, bob);
  issue_ok(create_ok(fixed_template(100)), alice);
  EXPECT_TRUE(h.exists("by_user", journal::key_u64_u64(alice, c)));
  std::uint64_t held = 0;
  ASSERT_TRUE(h.get("holders", journal::key_u64_u64(t, alice), held));
  EXPECT_EQ(held, c);
  const CouponRow row = coupon(c);
  EXPECT_EQ(row.state, static_cast<std::uint8_t>(CouponState::available));
  EXPECT_EQ(row.user_id, alice);
  EXPECT_EQ(row.template_id, t);
}

TEST_F(CouponDomainTest, RefusesIssuingFromAnUnknownOrExpiredTemplate) {
  EXPECT_EQ(result_of(issue(9, alice)), CommandResult::not_found);
  auto b = fixed_template(500);
  b.expires_at_ns = t0_ns + 10 * ms_ns;
  const std::uint64_t t = create_ok(b);
  EXPECT_EQ(result_of(issue(t, alice, t0_ns + 10 * ms_ns)), CommandResult::conflict);
  EXPECT_EQ(result_of(issue(t, alice, t0_ns + 9 * ms_ns)), CommandResult::ok);
}

// --- Discounts --------------------------------------------------------------------------------

struct DiscountCase {
  CouponKind kind;
  std::int64_t value;
  std::int64_t max_discount;
  std::int64_t subtotal;
  std::int64_t discount;
};

TEST(CouponDiscount, FollowsTheFormulaForEveryKind) {
  constexpr std::int64_t huge = money_max * line_items_max * quantity_max;  // largest subtotal
  const DiscountCase cases[] = {
      {CouponKind::fixed, 500, 0, 10'000, 500},
      {CouponKind::fixed, 500, 0, 300, 300},       // never more than the subtotal
      {CouponKind::fixed, 500, 200, 10'000, 200},  // a cap applies to fixed coupons too
      {CouponKind::fixed, 500, 0, 0, 0},
      {CouponKind::percent, 10, 0, 10'000, 1'000},
      {CouponKind::percent, 15, 0, 999, 149},  // rounds down
      {CouponKind::percent, 1, 0, 99, 0},
      {CouponKind::percent, 50, 300, 10'000, 300},  // capped
      {CouponKind::percent, 50, 300, 400, 200},     // under the cap
      {CouponKind::percent, 100, 0, 1'234, 1'234},
      {CouponKind::percent, 100, 0, huge, huge},  // no overflow
      {CouponKind::percent, 33, 0, huge, huge / 100 * 33},
      {CouponKind::percent, 33, 0, 101, 33},
  };
  for (const DiscountCase& c : cases) {
    TemplateRow t{};
    t.kind = static_cast<std::uint8_t>(c.kind);
    t.value = c.value;
    t.max_discount = c.max_discount;
    EXPECT_EQ(coupon_discount(t, c.subtotal), c.discount)
        << static_cast<int>(c.kind) << " " << c.value << " cap " << c.max_discount << " on "
        << c.subtotal;
  }
}

// --- The saga ---------------------------------------------------------------------------------

TEST_F(CouponDomainTest, AppliesAnAvailableCouponAndHoldsItForTheOrder) {
  const std::uint64_t c = issue_ok(create_ok(fixed_template(500)), alice);
  const auto out = placed(100, alice, c);
  EXPECT_EQ(discount_applied(out), 500);
  EXPECT_EQ(sent_to_order(out).header.order_id, 100u);
  EXPECT_EQ(ipc::body_as<ipc::CouponAppliedBody>(sent_to_order(out)).coupon_id, c);
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::held));
  EXPECT_EQ(coupon(c).order_id, 100u);
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::applied));
  EXPECT_EQ(step(100).discount, 500);
  const auto records = h.records();
  EXPECT_EQ(records.back().type, RecordType::coupon_applied);
  EXPECT_EQ(records.back().as<Event>().extra, 500);
}

TEST_F(CouponDomainTest, RejectsWithEveryReasonInTheOrderTheyAreChecked) {
  auto limited = fixed_template(500);
  limited.min_order_amount = 5'000;
  limited.expires_at_ns = t0_ns + 1'000 * ms_ns;
  const std::uint64_t t = create_ok(limited);
  const std::uint64_t mine = issue_ok(t, alice);
  const std::uint64_t other = issue_ok(create_ok(fixed_template(100)), alice);
  ASSERT_EQ(discount_applied(placed(1, alice, other)), 100);  // `other` is now held

  struct Case {
    std::uint64_t user, coupon;
    std::int64_t subtotal, now;
    OrderReason reason;
  };
  const Case cases[] = {
      {alice, 999, 10'000, t0_ns, OrderReason::coupon_invalid},
      {bob, mine, 10'000, t0_ns, OrderReason::coupon_not_owned},
      {alice, other, 10'000, t0_ns, OrderReason::coupon_used},
      {alice, mine, 10'000, t0_ns + 1'000 * ms_ns, OrderReason::coupon_expired},
      {alice, mine, 4'999, t0_ns, OrderReason::coupon_min_amount},
  };
  std::uint64_t order = 10;
  for (const Case& c : cases) {
    const auto out = placed(++order, c.user, c.coupon, c.subtotal, c.now);
    EXPECT_EQ(rejection(out), c.reason) << ipc::order_reason_name(c.reason);
    const CouponStep s = step(order);
    EXPECT_EQ(s.state, static_cast<std::uint8_t>(StepState::rejected));
    EXPECT_EQ(s.reason, static_cast<std::uint8_t>(c.reason));
    const auto records = h.records();
    EXPECT_EQ(records.back().type, RecordType::coupon_rejected);
    EXPECT_EQ(records.back().as<Event>().reason, static_cast<std::uint8_t>(c.reason));
  }
  // None of the rejections touched the coupons.
  EXPECT_EQ(coupon(mine).state, static_cast<std::uint8_t>(CouponState::available));
  EXPECT_EQ(coupon(other).order_id, 1u);
  EXPECT_EQ(discount_applied(placed(++order, alice, mine, 5'000)), 500);
}

TEST_F(CouponDomainTest, CompletionMarksTheCouponUsedAndARefundGivesItBack) {
  const std::uint64_t c = issue_ok(create_ok(fixed_template(500)), alice);
  placed(100, alice, c);
  completed(100, c);
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::used));
  EXPECT_EQ(step(100).used, 1);
  completed(100, c);  // a duplicate: nothing more
  cancelled(100, c, true);
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::available));
  EXPECT_EQ(coupon(c).order_id, 0u);
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::released));
  EXPECT_EQ(h.record_types(2), (std::vector{RecordType::coupon_applied, RecordType::coupon_used,
                                            RecordType::coupon_released}));
  EXPECT_EQ(discount_applied(placed(101, alice, c)), 500);  // usable again
}

TEST_F(CouponDomainTest, DuplicatedCancelReleasesOnceAndLeavesTheNextHolderAlone) {
  const std::uint64_t c = issue_ok(create_ok(fixed_template(500)), alice);
  placed(100, alice, c);
  cancelled(100, c);
  placed(101, alice, c);  // the released coupon goes to the next order
  const std::uint64_t before = h.last_sequence();
  EXPECT_TRUE(cancelled(100, c).sends.empty());
  EXPECT_TRUE(h.records(before).empty());
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::held));
  EXPECT_EQ(coupon(c).order_id, 101u);
}

TEST_F(CouponDomainTest, CancelBeforeApplyRefusesTheLateApplication) {
  const std::uint64_t c = issue_ok(create_ok(fixed_template(500)), alice);
  cancelled(100, c);
  const std::uint64_t before = h.last_sequence();
  EXPECT_TRUE(placed(100, alice, c).sends.empty());
  EXPECT_TRUE(h.records(before).empty());
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::available));
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::cancelled_before_apply));
}

TEST_F(CouponDomainTest, DuplicatedOrderPlacedAppliesOnce) {
  const std::uint64_t c = issue_ok(create_ok(fixed_template(500)), alice);
  EXPECT_EQ(placed(100, alice, c).sends.size(), 1u);
  EXPECT_TRUE(placed(100, alice, c).sends.empty());
  EXPECT_EQ(coupon(c).order_id, 100u);
}

TEST_F(CouponDomainTest, CancelWithNoStepClosesTheGate) {
  cancelled(100, 0);
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::cancelled_before_apply));
  EXPECT_EQ(h.record_types(), std::vector{RecordType::coupon_cancelled_before_apply});
}

TEST_F(CouponDomainTest, CancelOfARejectedApplicationChangesNothing) {
  const std::uint64_t c = issue_ok(create_ok(fixed_template(500)), alice);
  EXPECT_EQ(rejection(placed(100, bob, c)), OrderReason::coupon_not_owned);
  const std::uint64_t before = h.last_sequence();
  cancelled(100, c);
  EXPECT_TRUE(h.records(before).empty());
  EXPECT_EQ(step(100).state, static_cast<std::uint8_t>(StepState::rejected));
}

TEST_F(CouponDomainTest, AnOrderWithoutACouponHasNoCouponStep) {
  EXPECT_TRUE(placed(100, alice, 0).sends.empty());
  EXPECT_FALSE(h.exists("steps", journal::key_u64(100)));
}

TEST_F(CouponDomainTest, ARestartKeepsTemplatesCouponsHoldersAndStepsFromTheView) {
  auto b = fixed_template(500);
  b.quantity = 2;
  const std::uint64_t t = create_ok(b);
  const std::uint64_t c = issue_ok(t, alice);
  placed(100, alice, c);
  cancelled(101, 0);  // closes the gate of order 101
  h.recover(restarted);
  const auto again = reply_of(issue(t, alice));
  EXPECT_EQ(again.result, static_cast<std::uint16_t>(CommandResult::conflict));
  EXPECT_EQ(again.entity_id, c);
  EXPECT_EQ(issue_ok(t, bob), c + 1);
  EXPECT_EQ(result_of(issue(t, 3)), CommandResult::sold_out);
  EXPECT_EQ(create_ok(fixed_template(100)), t + 1);
  EXPECT_TRUE(placed(100, alice, c).sends.empty());  // a duplicate
  EXPECT_TRUE(placed(101, alice, c).sends.empty());  // cancelled first
  completed(100, c);
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::used));
  EXPECT_EQ(tpl(t).issued, 2);
}

TEST_F(CouponWindowTest, StepsOlderThanTheWindowAreReadFromTheView) {
  const std::uint64_t c = issue_ok(create_ok(fixed_template(500)), alice);
  EXPECT_EQ(discount_applied(placed(1, alice, c)), 500);
  for (std::uint64_t order = 2; order <= 12; ++order) cancelled(order, 0);
  // Order 1 is far behind the window: its step comes from the view.
  EXPECT_TRUE(placed(1, alice, c).sends.empty());
  completed(1, c);
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::used));
  EXPECT_EQ(step(1).used, 1);
  h.recover(restarted);
  cancelled(1, c, true);
  EXPECT_EQ(coupon(c).state, static_cast<std::uint8_t>(CouponState::available));
  EXPECT_EQ(step(1).state, static_cast<std::uint8_t>(StepState::released));
  const std::uint64_t before = h.last_sequence();
  cancelled(1, c, true);
  completed(1, c);
  EXPECT_TRUE(h.records(before).empty());
  EXPECT_EQ(discount_applied(placed(13, alice, c)), 500);
}

}  // namespace
}  // namespace flashsaga::domains
