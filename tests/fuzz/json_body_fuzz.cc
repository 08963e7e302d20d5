// json_body_fuzz: the JSON body of every route that takes one, through the API's handler
// (routes.cc, orders.cc: parse_object, Fields, each route's own checks), and the two readings
// of POST /orders held to each other (engine/gateway/order_body.h).
//
// Input: one byte picks the route, one byte its {id} (1..255, or 0: a bad id), the rest is the
// body. Checks: every answer passes check_answer() (no 500, JSON, errors with "error");
// read_order_body() accepts only what read_order_json() accepts, and reads the same request.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/gateway/order_body.h"
#include "tests/fuzz/gateway_rig.h"

using namespace flashsaga;
using gateway::Method;

namespace {

struct BodyRoute {
  Method method;
  const char* path;  // "{id}" is replaced by the id byte
};

constexpr BodyRoute body_routes[] = {
    {Method::post, "/users"},
    {Method::patch, "/users/{id}"},
    {Method::post, "/users/{id}/points"},
    {Method::post, "/users/{id}/wallet/deposits"},
    {Method::post, "/coupon-templates"},
    {Method::post, "/coupons"},
    {Method::post, "/products"},
    {Method::patch, "/products/{id}"},
    {Method::post, "/products/{id}/restock"},
    {Method::post, "/orders"},
    {Method::post, "/orders/{id}/cancel"},
};
constexpr std::size_t body_route_count = sizeof body_routes / sizeof body_routes[0];

void same_order_reading(const std::string& body) {
  engine::PlaceRequest fast;
  engine::PlaceRequest general;
  gateway::Response error;
  const bool fast_ok = gateway::read_order_body(body, fast);
  const gateway::OrderBodyResult general_result = gateway::read_order_json(body, general, error);
  if (!fast_ok) return;  // the general path answers in its own words
  bool same = general_result == gateway::OrderBodyResult::ok && fast.user_id == general.user_id &&
              fast.coupon_id == general.coupon_id && fast.points == general.points &&
              fast.item_count == general.item_count;
  for (std::uint32_t i = 0; same && i < fast.item_count && i < fast.items.size(); ++i)
    same = fast.items[i].product_id == general.items[i].product_id &&
           fast.items[i].quantity == general.items[i].quantity;
  if (!same) {
    std::fprintf(
        stderr,
        "json_body_fuzz: read_order_body accepted what read_order_json reads otherwise: %s\n",
        body.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const BodyRoute& route = body_routes[data[0] % body_route_count];
  gateway::Request request;
  request.method = route.method;
  request.path = route.path;
  const std::size_t at = request.path.find("{id}");
  if (at != std::string::npos) request.path.replace(at, 4, std::to_string(data[1]));
  request.target = request.path;
  request.body.assign(reinterpret_cast<const char*>(data + 2), size - 2);
  if (request.path == "/orders") same_order_reading(request.body);
  fuzz::GatewayRig& rig = fuzz::rig();
  rig.next_input();
  fuzz::check_answer(rig.feed().request(request), request.path);
  return 0;
}
