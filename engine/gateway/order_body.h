// order_body: the body of POST /orders read straight into an engine::PlaceRequest by Boost.JSON's
// SAX parser: no DOM, no allocation (the hot path of a flash sale).
//
// Requires: nothing.
// Guarantees: true only for a body that the general path (parse_object + Fields, orders.cc)
//   accepts unchanged: one object whose members are user_id, items (1 to line_items_max objects
//   of product_id and quantity) and optionally coupon_id and points, each exactly once, every
//   value an integer in its range and every product id below 2^32. Then `out` holds what that
//   path builds (user_id, items, item_count, coupon_id, points; idempotency_key untouched).
//   false for anything else (an unknown or repeated member, a fraction, null, a string,
//   anything out of range, bad JSON): the caller takes the general path, which answers with
//   its own words. Never throws.
//
// Example:
//   engine::PlaceRequest pr;
//   if (!read_order_body(request.body, pr)) return general_path();
#pragma once

#include <string>
#include <string_view>

#include "engine/gateway/exchange.h"
#include "engine/port.h"

namespace flashsaga::gateway {

bool read_order_body(std::string_view body, engine::PlaceRequest& out) noexcept;

// The general path's reading (orders.cc: parse_object and Fields over a DOM), with its answer
// in `error` when the body is refused: 400 bad_json, 422 invalid_field naming the field, or
// 404 for a product id of 2^32 and beyond. The reference read_order_body() is held to.
enum class OrderBodyResult : std::uint8_t {
  ok = 0,
  bad_json = 1,
  invalid_field = 2,
  unknown_product = 3
};
OrderBodyResult read_order_json(const std::string& body, engine::PlaceRequest& out,
                                Response& error);

}  // namespace flashsaga::gateway
