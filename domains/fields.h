// fields: the field numbers domains name in their invalid_field / not_found / conflict replies
// (CommandReplyBody::field), so the gateway can map them to JSON paths without seeing any
// domain's logic. Stable numbers: a number names the field's position in the command's body.
#pragma once

#include <cstdint>

namespace flashsaga::domains {

// create_user / update_user.
namespace user_field {
inline constexpr std::uint16_t name = 1;
inline constexpr std::uint16_t email = 2;
}  // namespace user_field

// accrue_points.
namespace point_field {
inline constexpr std::uint16_t user_id = 1;
inline constexpr std::uint16_t amount = 2;
inline constexpr std::uint16_t reason = 3;
}  // namespace point_field

// deposit.
namespace payment_field {
inline constexpr std::uint16_t user_id = 1;
inline constexpr std::uint16_t amount = 2;
}  // namespace payment_field

// create_coupon_template.
namespace template_field {
inline constexpr std::uint16_t value = 1;
inline constexpr std::uint16_t max_discount = 2;
inline constexpr std::uint16_t min_order_amount = 3;
inline constexpr std::uint16_t expires_at = 4;
inline constexpr std::uint16_t quantity = 5;
inline constexpr std::uint16_t kind = 6;
inline constexpr std::uint16_t name = 7;
}  // namespace template_field

// issue_coupon.
namespace issue_field {
inline constexpr std::uint16_t template_id = 1;
inline constexpr std::uint16_t user_id = 2;
}  // namespace issue_field

// create_product / update_product.
enum ProductField : std::uint16_t {
  product_field_name = 1,
  product_field_price = 2,
  product_field_stock = 3,
  product_field_max_per_user = 4,
  product_field_window = 5,
};

}  // namespace flashsaga::domains
