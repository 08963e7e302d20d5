#include "ipc/message.h"

#include <gtest/gtest.h>

#include <vector>

namespace flashsaga::ipc {
namespace {

std::array<LineItem, line_items_max> two_items() {
  std::array<LineItem, line_items_max> items{};
  items[0] = LineItem{7, 2, 1500};
  items[1] = LineItem{9, 1, 250};
  return items;
}

// One valid sealed message of every type, built the way a sender would.
std::vector<Message> one_of_each_type() {
  std::vector<Message> out;
  auto add = [&](MessageType t, Domain from, Domain to, const auto& body) {
    Message m = make_message(t, from, to, body);
    m.header.sequence = out.size() + 1;
    m.header.order_id = 42;
    m.header.correlation = 77;
    seal(m);
    out.push_back(m);
  };
  PlaceOrderBody place{};
  place.user_id = 3;
  place.item_count = 2;
  place.items = two_items();
  add(MessageType::place_order, Domain::port, Domain::order, place);
  add(MessageType::place_order_reply, Domain::order, Domain::port, PlaceOrderReplyBody{});
  OrderPlacedBody placed{};
  placed.item_count = 2;
  placed.items = two_items();
  add(MessageType::order_placed, Domain::order, Domain::coupon, placed);
  add(MessageType::coupon_applied, Domain::coupon, Domain::order, CouponAppliedBody{5, 100});
  add(MessageType::coupon_rejected, Domain::coupon, Domain::order, StepRejectedBody{1, {}});
  add(MessageType::points_deducted, Domain::point, Domain::order, PointsDeductedBody{10});
  add(MessageType::points_rejected, Domain::point, Domain::order, StepRejectedBody{6, {}});
  add(MessageType::payment_requested, Domain::order, Domain::payment, PaymentRequestedBody{3, 900});
  add(MessageType::payment_approved, Domain::payment, Domain::order, PaymentApprovedBody{900});
  add(MessageType::payment_declined, Domain::payment, Domain::order, StepRejectedBody{7, {}});
  OrderFinishedBody fin{};
  fin.item_count = 1;
  fin.items[0] = LineItem{7, 1, 10};
  add(MessageType::order_completed, Domain::order, Domain::product, fin);
  add(MessageType::order_cancelled, Domain::order, Domain::product, fin);
  add(MessageType::cancel_order, Domain::port, Domain::order, CancelOrderBody{10, {}});
  add(MessageType::cancel_order_reply, Domain::order, Domain::port, PlaceOrderReplyBody{});
  CreateUserBody cu{};
  EXPECT_TRUE(cu.name.assign("Kim"));
  EXPECT_TRUE(cu.email.assign("kim@example.com"));
  add(MessageType::create_user, Domain::port, Domain::user, cu);
  add(MessageType::update_user, Domain::port, Domain::user, UpdateUserBody{});
  add(MessageType::accrue_points, Domain::port, Domain::point, AccruePointsBody{});
  add(MessageType::deposit, Domain::port, Domain::payment, DepositBody{1, 5});
  add(MessageType::create_product, Domain::port, Domain::product, CreateProductBody{});
  add(MessageType::update_product, Domain::port, Domain::product, UpdateProductBody{});
  add(MessageType::restock, Domain::port, Domain::product, RestockBody{1, 5});
  add(MessageType::create_coupon_template, Domain::port, Domain::coupon,
      CreateCouponTemplateBody{});
  add(MessageType::issue_coupon, Domain::port, Domain::coupon, IssueCouponBody{1, 2});
  add(MessageType::command_reply, Domain::user, Domain::port, CommandReplyBody{});
  return out;
}

TEST(Message, EveryTypeRoundTripsThroughBytes) {
  const auto all = one_of_each_type();
  ASSERT_EQ(all.size(), 24u);
  for (const Message& m : all) {
    std::array<std::byte, sizeof(Message)> wire;
    std::memcpy(wire.data(), &m, sizeof m);
    Message back;
    std::memcpy(&back, wire.data(), sizeof back);
    EXPECT_EQ(validate(back), MessageError::ok) << message_type_name(MessageType(m.header.type));
    EXPECT_EQ(std::memcmp(&back, &m, sizeof m), 0);
  }
  auto place = body_as<PlaceOrderBody>(all[0]);
  EXPECT_EQ(place.user_id, 3u);
  EXPECT_EQ(place.items[1].product_id, 9u);
  EXPECT_EQ(body_as<CreateUserBody>(all[14]).email.view(), "kim@example.com");
}

TEST(Message, DetectsAFlippedBitAnywhere) {
  for (const Message& original : one_of_each_type()) {
    for (std::size_t bit = 0; bit < sizeof(Message) * 8; ++bit) {
      Message m = original;
      auto* bytes = reinterpret_cast<unsigned char*>(&m);
      bytes[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
      ASSERT_NE(validate(m), MessageError::ok)
          << "bit " << bit << " of type " << original.header.type;
    }
  }
}

TEST(Message, RejectsAnotherLayoutVersionEvenWhenSealed) {
  Message m = one_of_each_type()[0];
  m.header.layout_version = message_layout_version + 1;
  seal(m);
  EXPECT_EQ(validate(m), MessageError::bad_version);
}

TEST(Message, RejectsUnknownTypeAndWrongBodySize) {
  Message m = one_of_each_type()[0];
  m.header.type = 999;
  seal(m);
  EXPECT_EQ(validate(m), MessageError::bad_type);
  m = one_of_each_type()[0];
  m.header.body_size = 8;
  seal(m);
  EXPECT_EQ(validate(m), MessageError::bad_body_size);
}

TEST(Message, RejectsNonZeroReservedFieldsAndPadding) {
  Message m = one_of_each_type()[0];
  m.header.reserved1 = 1;
  seal(m);
  EXPECT_EQ(validate(m), MessageError::nonzero_reserved);
  m = one_of_each_type()[0];
  m.body[message_body_size_bytes - 1] = std::byte{1};
  seal(m);
  EXPECT_EQ(validate(m), MessageError::nonzero_reserved);
}

TEST(Message, RejectsOutOfRangeLineItems) {
  PlaceOrderBody place{};
  place.user_id = 1;
  place.item_count = line_items_max + 1;
  Message m = make_message(MessageType::place_order, Domain::port, Domain::order, place);
  seal(m);
  EXPECT_EQ(validate(m), MessageError::bad_field);
  place.item_count = 1;
  place.items[0] = LineItem{1, 0, 10};  // zero quantity
  m = make_message(MessageType::place_order, Domain::port, Domain::order, place);
  seal(m);
  EXPECT_EQ(validate(m), MessageError::bad_field);
}

TEST(Message, RejectsTextWithGarbageAfterTheTerminator) {
  CreateUserBody cu{};
  ASSERT_TRUE(cu.name.assign("Lee"));
  cu.name.bytes[10] = 'x';
  Message m = make_message(MessageType::create_user, Domain::port, Domain::user, cu);
  seal(m);
  EXPECT_EQ(validate(m), MessageError::bad_field);
}

}  // namespace
}  // namespace flashsaga::ipc
