// order_body and order_answers: the hot path's SAX reading of a POST /orders body
// (read_order_body) accepts the usual shapes, leaves every other body to the general path, and
// whenever it accepts a body the general path's DOM reading (read_order_json) accepts it too and
// builds the same request; the templated answers are the JSON writer's bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/gateway/json_io.h"
#include "engine/gateway/order_answers.h"
#include "engine/gateway/order_body.h"

namespace flashsaga::gateway {
namespace {

constexpr int mutation_rounds = 20'000;
constexpr int mutation_edits_max = 3;

void expect_same(const engine::PlaceRequest& fast, const engine::PlaceRequest& slow,
                 const std::string& body) {
  EXPECT_EQ(fast.user_id, slow.user_id) << body;
  EXPECT_EQ(fast.coupon_id, slow.coupon_id) << body;
  EXPECT_EQ(fast.points, slow.points) << body;
  ASSERT_EQ(fast.item_count, slow.item_count) << body;
  for (std::uint32_t i = 0; i < fast.item_count; ++i) {
    EXPECT_EQ(fast.items[i].product_id, slow.items[i].product_id) << body;
    EXPECT_EQ(fast.items[i].quantity, slow.items[i].quantity) << body;
  }
}

std::string eight_items() {
  std::string items;
  for (int i = 1; i <= 8; ++i)
    items += std::string(i > 1 ? "," : "") + R"({"product_id":)" + std::to_string(i) +
             R"(,"quantity":1})";
  return items;
}

TEST(OrderBody, ReadsTheUsualShapes) {
  const std::vector<std::string> bodies = {
      R"({"user_id":7,"items":[{"product_id":1,"quantity":2}]})",
      R"( {"items":[{"quantity":1,"product_id":3},{"product_id":4,"quantity":5}],"user_id":9,)"
      R"("coupon_id":2,"points":150} )",
      "{\n  \"user_id\": 1,\n  \"items\": [ { \"product_id\": 2, \"quantity\": 3 } ],\n  "
      "\"points\": 0\n}\n",
      R"({"user_id":9007199254740991,"items":[{"product_id":4294967295,"quantity":1000000}]})",
      R"({"user_id":5,"items":[)" + eight_items() + "]}",
  };
  for (const std::string& body : bodies) {
    engine::PlaceRequest fast, slow;
    Response error;
    ASSERT_TRUE(read_order_body(body, fast)) << body;
    ASSERT_EQ(read_order_json(body, slow, error), OrderBodyResult::ok) << body << " " << error.body;
    expect_same(fast, slow, body);
  }
}

TEST(OrderBody, LeavesEverythingElseToTheGeneralPath) {
  const std::string item = R"({"product_id":1,"quantity":1})";
  const auto order = [&](const std::string& members) { return "{" + members + "}"; };
  const std::string items = R"("items":[)" + item + "]";
  const std::vector<std::string> bodies = {
      "",
      "   ",
      "[]",
      "{}",
      "null",
      "7",
      order(R"("user_id":7)"),
      order(items),
      order(R"("user_id":7,"items":[])"),
      order(R"("user_id":7,"items":[)" + eight_items() + "," + item + "]"),
      order(R"("user_id":0,)" + items),
      order(R"("user_id":-1,)" + items),
      order(R"("user_id":1.0,)" + items),
      order(R"("user_id":1e0,)" + items),
      order(R"("user_id":"7",)" + items),
      order(R"("user_id":null,)" + items),
      order(R"("user_id":9007199254740992,)" + items),
      order(R"("user_id":true,)" + items),
      order(R"("user_id":7,"user_id":8,)" + items),
      order(R"("user_id":7,)" + items + "," + items),
      order(R"("user_id":7,"note":1,)" + items),
      order(R"("user_id":7,"coupon_id":null,)" + items),
      order(R"("user_id":7,"coupon_id":0,)" + items),
      order(R"("user_id":7,"points":-1,)" + items),
      order(R"("user_id":7,"points":1000000000001,)" + items),
      order(R"("user_id":7,"points":1.5,)" + items),
      order(R"("user_id":7,"items":[{"product_id":1}])"),
      order(R"("user_id":7,"items":[{"quantity":1}])"),
      order(R"("user_id":7,"items":[{"product_id":1,"quantity":0}])"),
      order(R"("user_id":7,"items":[{"product_id":1,"quantity":1000001}])"),
      order(R"("user_id":7,"items":[{"product_id":4294967296,"quantity":1}])"),
      order(R"("user_id":7,"items":[{"product_id":1,"quantity":1,"x":2}])"),
      order(R"("user_id":7,"items":[{"product_id":1,"product_id":2,"quantity":1}])"),
      order(R"("user_id":7,"items":[[1,1]])"),
      order(R"("user_id":7,"items":{"product_id":1})"),
      order(R"("user_id":7,"items":[)" + item + "," + "]"),
      order(R"("user_id":7,)" + items) + "x",
      order(R"("user_id":7,)" + items) + order(R"("user_id":7,)" + items),
      "/*c*/" + order(R"("user_id":7,)" + items),
      order(R"("user_id":7,)" + items).substr(1),
      order(R"("user_\u0069d":7,)" + items) + "]",
  };
  for (const std::string& body : bodies) {
    engine::PlaceRequest fast;
    EXPECT_FALSE(read_order_body(body, fast)) << body;
  }
}

// Random edits of valid bodies: some stay valid (a digit changed, a space added); every one the
// hot path accepts, the general path accepts with the same request.
TEST(OrderBody, AgreesWithTheGeneralPathOnMutatedBodies) {
  const std::vector<std::string> seeds = {
      R"({"user_id":7,"items":[{"product_id":1,"quantity":2}]})",
      R"({"user_id":12,"items":[{"product_id":3,"quantity":1},{"product_id":4,"quantity":9}],)"
      R"("coupon_id":5,"points":77})",
      R"({"items":[{"quantity":3,"product_id":8}],"points":100,"user_id":4})",
  };
  const std::string alphabet =
      "{}[]\",:0123456789-+.eE \t\nnulltruefalse_abcdefghijklmnopqrstuvwxyz\\";
  std::mt19937_64 rng(20260101);
  int accepted = 0;
  for (int round = 0; round < mutation_rounds; ++round) {
    std::string body = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % mutation_edits_max);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % (body.size() + 1);
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          body.insert(at, 1, c);
          break;
        case 1:
          if (at < body.size()) body.erase(at, 1);
          break;
        default:
          if (at < body.size()) body[at] = c;
          break;
      }
    }
    engine::PlaceRequest fast, slow;
    Response error;
    if (!read_order_body(body, fast)) continue;
    ++accepted;
    ASSERT_EQ(read_order_json(body, slow, error), OrderBodyResult::ok)
        << body << " -> " << error.body;
    expect_same(fast, slow, body);
  }
  EXPECT_GT(accepted, 100) << "too few mutations stayed valid to compare anything";
}

// The templated answers are byte for byte what the JSON writer makes of the same answer.
TEST(OrderAnswers, TemplatesMatchTheJsonWriter) {
  for (const std::uint64_t id : {std::uint64_t{1}, std::uint64_t{42}, json_id_max}) {
    char body[order_answer_bytes_max];
    json::object o;
    o["id"] = id;
    o["status"] = "PENDING";
    EXPECT_EQ(std::string(body, accepted_body(body, id)), json::serialize(o));
  }
  for (const std::uint32_t product : {1u, 77u, 4294967295u}) {
    char body[order_answer_bytes_max];
    json::object extra;
    extra["product_id"] = product;
    const std::string message = "product " + std::to_string(product) + " is sold out";
    const Response r = error_response(409, "sold_out", message, {}, &extra);
    EXPECT_EQ(std::string(body, sold_out_body(body, product)), r.body);
  }
}

}  // namespace
}  // namespace flashsaga::gateway
