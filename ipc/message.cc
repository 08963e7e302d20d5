#include "ipc/message.h"

#include <cstddef>
#include <cstring>

#include "engine/base/clock.h"
#include "engine/base/crc32c.h"

namespace flashsaga::ipc {
namespace {

template <typename T>
bool all_zero(const T& bytes) noexcept {
  for (auto b : bytes)
    if (b != 0) return false;
  return true;
}

bool items_ok(std::uint8_t count, const std::array<LineItem, line_items_max>& items) noexcept {
  if (count < 1 || count > line_items_max) return false;
  for (std::uint32_t i = 0; i < line_items_max; ++i) {
    const LineItem& it = items[i];
    if (i >= count) {
      if (it.product_id != 0 || it.quantity != 0 || it.unit_price != 0) return false;
      continue;
    }
    if (it.product_id == 0 || it.quantity < 1 || it.quantity > quantity_max) return false;
    if (it.unit_price < 0 || it.unit_price > money_max) return false;
  }
  return true;
}

// Field checks that hold for every message of a type, whoever sent it. Business rules
// (does the user exist, is there enough stock) belong to the domains, not here.
bool body_fields_ok(const Message& m) noexcept {
  switch (static_cast<MessageType>(m.header.type)) {
    case MessageType::place_order: {
      auto b = body_as<PlaceOrderBody>(m);
      return all_zero(b.reserved) && b.points_requested >= 0 && items_ok(b.item_count, b.items);
    }
    case MessageType::order_placed: {
      auto b = body_as<OrderPlacedBody>(m);
      return all_zero(b.reserved) && b.points_to_use >= 0 && b.subtotal >= 0 &&
             items_ok(b.item_count, b.items);
    }
    case MessageType::order_completed:
    case MessageType::order_cancelled: {
      auto b = body_as<OrderFinishedBody>(m);
      return all_zero(b.reserved) && b.was_completed <= 1 && items_ok(b.item_count, b.items);
    }
    case MessageType::reservations: {
      auto b = body_as<ReservationsBody>(m);
      if (!all_zero(b.reserved) || b.count < 1 || b.count > reservations_per_message_max)
        return false;
      for (std::size_t i = 0; i < reservations_per_message_max; ++i) {
        const ReservedUnits& r = b.products[i];
        if (r.reserved != 0) return false;
        if (i >= b.count ? (r.product_id != 0 || r.units != 0) : (r.product_id == 0 || r.units < 1))
          return false;
      }
      return b.last_order_id >= 1;
    }
    case MessageType::place_order_reply:
      return all_zero(body_as<PlaceOrderReplyBody>(m).reserved);
    case MessageType::coupon_rejected:
    case MessageType::points_rejected:
    case MessageType::payment_declined:
      return all_zero(body_as<StepRejectedBody>(m).reserved);
    case MessageType::cancel_order:
      return all_zero(body_as<CancelOrderBody>(m).reserved);
    case MessageType::create_user: {
      auto b = body_as<CreateUserBody>(m);
      return b.name.well_formed() && b.email.well_formed();
    }
    case MessageType::update_user: {
      auto b = body_as<UpdateUserBody>(m);
      return all_zero(b.reserved) && b.name.well_formed() && b.email.well_formed() &&
             b.set_name <= 1 && b.set_email <= 1 && b.set_blocked <= 1 && b.blocked <= 1;
    }
    case MessageType::accrue_points:
      return body_as<AccruePointsBody>(m).reason.well_formed();
    case MessageType::replicate_product: {
      auto b = body_as<ReplicateProductBody>(m);
      return b.name.well_formed() && b.product_id >= 1 && b.total >= 0;
    }
    case MessageType::lease_request: {
      auto b = body_as<LeaseRequestBody>(m);
      return b.product_id >= 1 && b.want >= 1 && b.want <= stock_max && b.granted_seen >= 0;
    }
    case MessageType::lease_grant: {
      auto b = body_as<LeaseGrantBody>(m);
      return b.product_id >= 1 && b.units >= 0 && b.granted_total >= b.units &&
             b.granted_total <= stock_max;
    }
    case MessageType::lease_return: {
      auto b = body_as<LeaseReturnBody>(m);
      return b.product_id >= 1 && b.units >= 0 && b.returned_total >= b.units &&
             b.returned_total <= stock_max;
    }
    case MessageType::create_product: {
      auto b = body_as<CreateProductBody>(m);
      return b.reserved == 0 && b.name.well_formed();
    }
    case MessageType::update_product: {
      auto b = body_as<UpdateProductBody>(m);
      return all_zero(b.reserved) && b.name.well_formed();
    }
    case MessageType::create_coupon_template: {
      auto b = body_as<CreateCouponTemplateBody>(m);
      return all_zero(b.reserved) && b.name.well_formed();
    }
    case MessageType::command_reply:
      return body_as<CommandReplyBody>(m).reserved == 0;
    default:
      return true;
  }
}

}  // namespace

std::int64_t message_clock_ns() noexcept {
  return wall_now_ns();
}

std::uint16_t body_size_for(MessageType t) noexcept {
  switch (t) {
    case MessageType::place_order:
      return sizeof(PlaceOrderBody);
    case MessageType::place_order_reply:
      return sizeof(PlaceOrderReplyBody);
    case MessageType::order_placed:
      return sizeof(OrderPlacedBody);
    case MessageType::coupon_applied:
      return sizeof(CouponAppliedBody);
    case MessageType::coupon_rejected:
      return sizeof(StepRejectedBody);
    case MessageType::points_deducted:
      return sizeof(PointsDeductedBody);
    case MessageType::points_rejected:
      return sizeof(StepRejectedBody);
    case MessageType::payment_requested:
      return sizeof(PaymentRequestedBody);
    case MessageType::payment_approved:
      return sizeof(PaymentApprovedBody);
    case MessageType::payment_declined:
      return sizeof(StepRejectedBody);
    case MessageType::order_completed:
      return sizeof(OrderFinishedBody);
    case MessageType::order_cancelled:
      return sizeof(OrderFinishedBody);
    case MessageType::cancel_order:
      return sizeof(CancelOrderBody);
    case MessageType::cancel_order_reply:
      return sizeof(PlaceOrderReplyBody);
    case MessageType::reservations:
      return sizeof(ReservationsBody);
    case MessageType::create_user:
      return sizeof(CreateUserBody);
    case MessageType::update_user:
      return sizeof(UpdateUserBody);
    case MessageType::accrue_points:
      return sizeof(AccruePointsBody);
    case MessageType::deposit:
      return sizeof(DepositBody);
    case MessageType::create_product:
      return sizeof(CreateProductBody);
    case MessageType::update_product:
      return sizeof(UpdateProductBody);
    case MessageType::restock:
      return sizeof(RestockBody);
    case MessageType::create_coupon_template:
      return sizeof(CreateCouponTemplateBody);
    case MessageType::issue_coupon:
      return sizeof(IssueCouponBody);
    case MessageType::replicate_product:
      return sizeof(ReplicateProductBody);
    case MessageType::cell_ack:
      return sizeof(CellAckBody);
    case MessageType::lease_request:
      return sizeof(LeaseRequestBody);
    case MessageType::lease_grant:
      return sizeof(LeaseGrantBody);
    case MessageType::lease_return:
      return sizeof(LeaseReturnBody);
    case MessageType::command_reply:
      return sizeof(CommandReplyBody);
  }
  return 0;
}

namespace {

// CRC32C of the header with its checksum field as zero, then the body bytes in use.
std::uint32_t message_checksum(const Message& m) noexcept {
  constexpr std::size_t at = offsetof(MessageHeader, checksum);
  static constexpr std::byte zero[sizeof(std::uint32_t)] = {};
  const auto* bytes = reinterpret_cast<const std::byte*>(&m);
  std::uint32_t crc = crc32c(bytes, at);
  crc = crc32c(zero, sizeof zero, crc);
  const std::size_t body = m.header.body_size <= message_body_size_bytes ? m.header.body_size : 0;
  const std::size_t rest = message_header_size_bytes - at - sizeof zero + body;
  return crc32c(bytes + at + sizeof zero, rest, crc);
}

bool zero_from(const Message& m, std::size_t from) noexcept {
  // Eight bytes at a time: the unused part of a body is most of it for short messages.
  std::size_t i = from;
  for (; i < message_body_size_bytes && i % 8 != 0; ++i)
    if (m.body[i] != std::byte{0}) return false;
  for (; i + 8 <= message_body_size_bytes; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, m.body.data() + i, 8);
    if (word != 0) return false;
  }
  return true;
}

}  // namespace

void seal(Message& m) noexcept {
  m.header.checksum = message_checksum(m);
}

MessageError validate(const Message& m) noexcept {
  if (m.header.magic != message_magic) return MessageError::bad_magic;
  if (m.header.layout_version != message_layout_version) return MessageError::bad_version;
  const auto type = static_cast<MessageType>(m.header.type);
  const std::uint16_t expected = body_size_for(type);
  if (expected == 0) return MessageError::bad_type;
  if (message_checksum(m) != m.header.checksum) return MessageError::bad_checksum;
  if (m.header.body_size != expected) return MessageError::bad_body_size;
  if (m.header.reserved0 != 0 || m.header.reserved1 != 0) return MessageError::nonzero_reserved;
  if (!zero_from(m, expected)) return MessageError::nonzero_reserved;
  if (!body_fields_ok(m)) return MessageError::bad_field;
  return MessageError::ok;
}

std::string_view domain_name(Domain d) noexcept {
  switch (d) {
    case Domain::none:
      return "none";
    case Domain::user:
      return "user";
    case Domain::point:
      return "point";
    case Domain::product:
      return "product";
    case Domain::coupon:
      return "coupon";
    case Domain::order:
      return "order";
    case Domain::payment:
      return "payment";
    case Domain::port:
      return "port";
  }
  return "unknown";
}

std::string_view message_type_name(MessageType t) noexcept {
  switch (t) {
    case MessageType::place_order:
      return "PlaceOrder";
    case MessageType::place_order_reply:
      return "PlaceOrderReply";
    case MessageType::order_placed:
      return "OrderPlaced";
    case MessageType::coupon_applied:
      return "CouponApplied";
    case MessageType::coupon_rejected:
      return "CouponRejected";
    case MessageType::points_deducted:
      return "PointsDeducted";
    case MessageType::points_rejected:
      return "PointsRejected";
    case MessageType::payment_requested:
      return "PaymentRequested";
    case MessageType::payment_approved:
      return "PaymentApproved";
    case MessageType::payment_declined:
      return "PaymentDeclined";
    case MessageType::order_completed:
      return "OrderCompleted";
    case MessageType::order_cancelled:
      return "OrderCancelled";
    case MessageType::cancel_order:
      return "CancelOrder";
    case MessageType::cancel_order_reply:
      return "CancelOrderReply";
    case MessageType::reservations:
      return "Reservations";
    case MessageType::create_user:
      return "CreateUser";
    case MessageType::update_user:
      return "UpdateUser";
    case MessageType::accrue_points:
      return "AccruePoints";
    case MessageType::deposit:
      return "Deposit";
    case MessageType::create_product:
      return "CreateProduct";
    case MessageType::update_product:
      return "UpdateProduct";
    case MessageType::restock:
      return "Restock";
    case MessageType::create_coupon_template:
      return "CreateCouponTemplate";
    case MessageType::issue_coupon:
      return "IssueCoupon";
    case MessageType::replicate_product:
      return "ReplicateProduct";
    case MessageType::cell_ack:
      return "CellAck";
    case MessageType::lease_request:
      return "LeaseRequest";
    case MessageType::lease_grant:
      return "LeaseGrant";
    case MessageType::lease_return:
      return "LeaseReturn";
    case MessageType::command_reply:
      return "CommandReply";
  }
  return "Unknown";
}

std::string_view message_error_name(MessageError e) noexcept {
  switch (e) {
    case MessageError::ok:
      return "ok";
    case MessageError::bad_magic:
      return "bad_magic";
    case MessageError::bad_version:
      return "bad_version";
    case MessageError::bad_type:
      return "bad_type";
    case MessageError::bad_checksum:
      return "bad_checksum";
    case MessageError::bad_body_size:
      return "bad_body_size";
    case MessageError::nonzero_reserved:
      return "nonzero_reserved";
    case MessageError::bad_field:
      return "bad_field";
  }
  return "unknown";
}

std::string_view order_reason_name(OrderReason r) noexcept {
  switch (r) {
    case OrderReason::none:
      return "";
    case OrderReason::coupon_invalid:
      return "coupon_invalid";
    case OrderReason::coupon_not_owned:
      return "coupon_not_owned";
    case OrderReason::coupon_used:
      return "coupon_used";
    case OrderReason::coupon_expired:
      return "coupon_expired";
    case OrderReason::coupon_min_amount:
      return "coupon_min_amount";
    case OrderReason::insufficient_points:
      return "insufficient_points";
    case OrderReason::insufficient_balance:
      return "insufficient_balance";
    case OrderReason::payment_declined:
      return "payment_declined";
    case OrderReason::timeout:
      return "timeout";
    case OrderReason::cancelled_by_customer:
      return "cancelled_by_customer";
    case OrderReason::cancelled_by_operator:
      return "cancelled_by_operator";
    case OrderReason::sold_out:
      return "sold_out";
    case OrderReason::unknown_user:
      return "unknown_user";
    case OrderReason::blocked_user:
      return "blocked_user";
    case OrderReason::limit_exceeded:
      return "limit_exceeded";
    case OrderReason::not_on_sale:
      return "not_on_sale";
    case OrderReason::unknown_product:
      return "unknown_product";
    case OrderReason::bad_request:
      return "bad_request";
    case OrderReason::unavailable:
      return "unavailable";
  }
  return "unknown";
}

std::string_view command_result_name(CommandResult r) noexcept {
  switch (r) {
    case CommandResult::ok:
      return "ok";
    case CommandResult::not_found:
      return "not_found";
    case CommandResult::conflict:
      return "conflict";
    case CommandResult::sold_out:
      return "sold_out";
    case CommandResult::invalid_field:
      return "invalid_field";
    case CommandResult::unavailable:
      return "unavailable";
  }
  return "unknown";
}

}  // namespace flashsaga::ipc
