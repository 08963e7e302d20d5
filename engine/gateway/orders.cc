// orders: POST /orders (the hot path: CAS reservation in this I/O thread), GET /orders/{id}
// with its long poll, POST /orders/{id}/cancel, GET /payments/{order_id}.
#include <algorithm>
#include <string>

#include "domains/rows.h"
#include "engine/base/clock.h"
#include "engine/gateway/cell_route.h"
#include "engine/gateway/api.h"
#include "engine/gateway/json_io.h"
#include "engine/gateway/order_answers.h"
#include "engine/gateway/order_body.h"
#include "engine/gateway/routes_internal.h"

namespace flashsaga::gateway {
namespace {

using domains::OrderStatus;
using domains::StepState;
using ipc::Domain;
using ipc::MessageType;
using ipc::OrderReason;

json::object product_error(std::uint32_t product_id) {
  json::object extra;
  extra["product_id"] = product_id;
  return extra;
}

// A step's state as the API shows it: the owning domain's journaled state, else the order's own
// view of the step; "none" for a step that is not part of the order.
std::string_view step_name(std::uint8_t state) {
  const auto s = static_cast<StepState>(state);
  if (s == StepState::skipped) return "none";
  return domains::step_state_name(s);
}

template <typename StepRow>
std::string_view domain_step(Store& store, Domain domain, std::string_view table,
                             std::uint64_t order_id, std::uint8_t order_view) {
  Snapshot s;
  if (store.begin(domain, s)) {
    StepRow row{};
    if (s.get(s.table(table), journal::key_u64(order_id), row) == Lookup::found)
      return step_name(row.state);
  }
  return step_name(order_view);
}

bool terminal(const domains::OrderRow& row) {
  return row.status == static_cast<std::uint8_t>(OrderStatus::completed) ||
         row.status == static_cast<std::uint8_t>(OrderStatus::cancelled) ||
         row.status == static_cast<std::uint8_t>(OrderStatus::rejected);
}

json::object order_json(Store& store, const domains::OrderRow& row) {
  json::object o;
  o["id"] = row.id;
  o["user_id"] = row.user_id;
  o["status"] = domains::order_status_name(static_cast<OrderStatus>(row.status));
  if (row.reason != static_cast<std::uint8_t>(OrderReason::none))
    o["reason"] = ipc::order_reason_name(static_cast<OrderReason>(row.reason));
  if (row.coupon_id != 0) o["coupon_id"] = row.coupon_id;
  json::array items;
  for (std::uint32_t i = 0; i < row.item_count && i < line_items_max; ++i) {
    json::object item;
    item["product_id"] = row.items[i].product_id;
    item["quantity"] = row.items[i].quantity;
    item["price"] = row.items[i].unit_price;
    items.push_back(std::move(item));
  }
  o["items"] = std::move(items);
  // `paid` is what was charged: the order's payment step went through (approved), whatever
  // happened after (a refund keeps the amount that was paid and refunded).
  const bool charged = row.step_payment == static_cast<std::uint8_t>(StepState::approved) ||
                       row.status == static_cast<std::uint8_t>(OrderStatus::completed) ||
                       row.was_completed != 0;
  json::object amounts;
  amounts["subtotal"] = row.subtotal;
  amounts["discount"] = row.discount;
  amounts["points"] = row.points_used;
  amounts["paid"] = charged ? row.paid : 0;
  o["amounts"] = std::move(amounts);
  json::object steps;
  steps["stock"] =
      domain_step<domains::ProductStep>(store, Domain::product, "steps", row.id, row.step_stock);
  steps["coupon"] =
      domain_step<domains::CouponStep>(store, Domain::coupon, "steps", row.id, row.step_coupon);
  steps["points"] =
      domain_step<domains::PointStep>(store, Domain::point, "steps", row.id, row.step_points);
  steps["payment"] = domain_step<domains::PaymentRow>(store, Domain::payment, "payments", row.id,
                                                      row.step_payment);
  o["steps"] = std::move(steps);
  o["created_at"] = format_rfc3339(row.created_ns);
  o["updated_at"] = format_rfc3339(row.updated_ns);
  return o;
}

}  // namespace

// --- POST /orders ------------------------------------------------------------------------------

namespace {

Response rejected_order(OrderReason reason) {
  switch (reason) {
    case OrderReason::unknown_user:
      return not_found_response("no such user", "user_id");
    case OrderReason::blocked_user:
      return error_response(422, "invalid_field", "the user is blocked", "user_id");
    case OrderReason::limit_exceeded:
      return error_response(409, "limit_exceeded",
                            "the user's live orders would exceed the product's max_per_user");
    case OrderReason::unknown_product:
      return not_found_response("no such product", "items");
    case OrderReason::sold_out:
      return error_response(409, "sold_out", "sold out");
    case OrderReason::not_on_sale:
      return error_response(409, "not_on_sale", "a product is not on sale now");
    case OrderReason::unavailable:
      return unavailable_response("the order domain cannot check the order now; retry");
    default:
      return error_response(
          422, "invalid_field",
          "the order was refused: " + std::string(ipc::order_reason_name(reason)));
  }
}

// The answer to the order domain's reply (or its absence). A fresh acceptance sets
// `accepted_id` and returns no answer (status 0): the caller writes the 202.
Response order_reply(const engine::PortReply& r, Metrics& metrics, std::uint64_t& accepted_id) {
  accepted_id = 0;
  if (r.timed_out) {
    metrics.order_outcome("timed_out", "");
    return unavailable_response(
        "the order domain did not answer in time; retry with the same Idempotency-Key to learn the "
        "outcome");
  }
  const ipc::Message& reply = r.message;
  if (reply.header.type != static_cast<std::uint16_t>(MessageType::place_order_reply))
    return internal_error_response("unexpected reply type " + std::to_string(reply.header.type));
  const auto placed = ipc::body_as<ipc::PlaceOrderReplyBody>(reply);
  const auto reason = static_cast<OrderReason>(placed.reason);
  switch (static_cast<ipc::PlaceResult>(placed.result)) {
    case ipc::PlaceResult::accepted:
      metrics.order_outcome("accepted", "");
      accepted_id = reply.header.order_id;
      return Response{};
    case ipc::PlaceResult::duplicate: {
      metrics.order_outcome("duplicate", "");
      json::object o;
      o["id"] = reply.header.order_id;
      o["status"] = domains::order_status_name(static_cast<OrderStatus>(placed.status));
      return json_response(202, o);
    }
    case ipc::PlaceResult::rejected:
      break;
    default:
      return internal_error_response("unexpected place result " + std::to_string(placed.result));
  }
  metrics.order_outcome("rejected", ipc::order_reason_name(reason));
  return rejected_order(reason);
}

Response accepted_json(std::uint64_t id) {
  char body[order_answer_bytes_max];
  Response r;
  r.status = 202;
  r.body.assign(body, accepted_body(body, id));
  return r;
}

Response sold_out_json(std::uint32_t product_id) {
  char body[order_answer_bytes_max];
  Response r;
  r.status = 409;
  r.body.assign(body, sold_out_body(body, product_id));
  return r;
}

// The answer given at once (nothing was sent anywhere), for every outcome but `submitted`.
Response placed_now(const engine::PlaceNow& now, const engine::PlaceRequest& pr, Metrics& metrics) {
  const std::uint32_t at = std::min(now.failed_item, pr.item_count ? pr.item_count - 1 : 0);
  const std::uint32_t product = pr.items[at].product_id;
  switch (now.status) {
    case engine::PlaceStatus::submitted:
      break;
    case engine::PlaceStatus::sold_out:
      metrics.sold_out_answer();
      metrics.order_outcome("sold_out", "");
      return sold_out_json(product);
    case engine::PlaceStatus::not_on_sale: {
      metrics.order_outcome("not_on_sale", "");
      const json::object extra = product_error(product);
      return error_response(
          409, "not_on_sale",
          "product " + std::to_string(product) + " is not on sale now (outside its sale window)",
          {}, &extra);
    }
    case engine::PlaceStatus::unknown_product:
      metrics.order_outcome("unknown_product", "");
      return not_found_response("no product with id " + std::to_string(product),
                                "items[" + std::to_string(at) + "].product_id");
    case engine::PlaceStatus::unavailable:
      metrics.order_outcome("unavailable", "");
      return unavailable_response(
          "order intake is paused (stock reconciliation, or a domain cannot write: disk or journal "
          "map full) or "
          "contended; retry");
    case engine::PlaceStatus::overloaded:
      metrics.order_outcome("overloaded", "");
      return overloaded_response("the gateway's order queue is full; retry shortly");
    case engine::PlaceStatus::bad_request:
      metrics.order_outcome("invalid", "invalid_field");
      return error_response(422, "invalid_field", "an item is out of range",
                            "items[" + std::to_string(at) + "]");
  }
  return internal_error_response("unexpected place status");
}

}  // namespace

bool Api::place_order_fast(const Request& req, OrderReplies& replies, std::uint64_t token) {
  engine::PlaceRequest pr;
  if (req.has_idempotency_key && !valid_idempotency_key(req.idempotency_key)) return false;
  if (!read_order_body(req.body, pr)) return false;  // the general path says what is wrong
  if (auto r = wrong_cell(config_, pr.user_id)) {    // a cluster cell: another cell's user (421)
    replies.answer(token, *r);
    return true;
  }
  OrderContext* ctx = replies.acquire();
  if (ctx == nullptr) return false;
  *ctx = OrderContext{this, &replies, {}};
  if (req.has_idempotency_key) {
    // As dispatch() does for every POST with a key: same fingerprint, same table.
    const std::uint64_t fingerprint = hash64_concat({"POST ", req.path, "\n", req.body});
    Response stored;
    OrderReplies* out = &replies;
    const Idempotency::Admit admit = idempotency_.begin(
        req.idempotency_key, fingerprint,
        [out, token](const Response& r) { out->answer_from_any_thread(token, r); }, &stored,
        &ctx->ticket);
    if (admit != Idempotency::Admit::fresh) {
      replies.release(ctx);
      if (admit == Idempotency::Admit::replay) replies.answer(token, stored);
      if (admit == Idempotency::Admit::mismatch || admit == Idempotency::Admit::busy)
        replies.answer(token, idempotency_refusal(admit, req.idempotency_key));
      return true;  // `wait`: answered when the first request with this key is
    }
    pr.idempotency_key = hash64(req.idempotency_key, pr.user_id);
  }
  // Two words: std::function keeps them inline (no allocation).
  engine::PortCallback cb = [ctx, token](const engine::PortReply& r) {
    ctx->api->finish_order(*ctx, token, r);
  };
  const engine::PlaceNow now = replies.port->place_order(pr, std::move(cb));
  if (now.status == engine::PlaceStatus::submitted) return true;  // finish_order answers
  if (now.status == engine::PlaceStatus::sold_out && ctx->ticket.key == nullptr) {
    replies.release(ctx);
    metrics_.sold_out_answer();
    metrics_.order_outcome("sold_out", "");
    replies.sold_out(token, pr.items[std::min(now.failed_item, pr.item_count - 1)].product_id);
    return true;
  }
  const Response r = placed_now(now, pr, metrics_);
  if (ctx->ticket.key != nullptr) idempotency_.finish(ctx->ticket, r);
  replies.release(ctx);
  replies.answer(token, r);
  return true;
}

void Api::finish_order(OrderContext& ctx, std::uint64_t token,
                       const engine::PortReply& reply) noexcept {
  OrderReplies& out = *ctx.replies;
  const IdempotencyTicket ticket = ctx.ticket;
  out.release(&ctx);
  try {
    std::uint64_t id = 0;
    Response r = order_reply(reply, metrics_, id);
    if (ticket.key != nullptr) idempotency_.finish(ticket, id != 0 ? accepted_json(id) : r);
    if (id != 0) return out.accepted(token, id);
    out.answer(token, r);
  } catch (const std::exception& e) {
    const Response r = internal_error_response(std::string("unexpected error: ") + e.what());
    if (ticket.key != nullptr) idempotency_.finish(ticket, r);
    out.answer(token, r);
  }
}

OrderBodyResult read_order_json(const std::string& text, engine::PlaceRequest& pr,
                                Response& error) {
  auto body = parse_object(text, false, &error);
  if (!body) return OrderBodyResult::bad_json;
  Fields f(*body);
  f.required(f.id("user_id", pr.user_id), "user_id");
  bool unknown_product = false;
  std::string unknown_path;
  const json::value* items = f.find("items");
  if (!items || items->is_null()) {
    f.invalid("items",
              "items is required: an array of 1 to " + std::to_string(line_items_max) + " items");
  } else if (!items->is_array()) {
    f.invalid("items",
              "items must be an array of 1 to " + std::to_string(line_items_max) + " items");
  } else if (items->get_array().empty() || items->get_array().size() > line_items_max) {
    f.invalid("items", "items must hold 1 to " + std::to_string(line_items_max) +
                           " items; it holds " + std::to_string(items->get_array().size()));
  } else {
    const json::array& arr = items->get_array();
    pr.item_count = static_cast<std::uint32_t>(arr.size());
    for (std::size_t i = 0; i < arr.size() && f.ok(); ++i) {
      const std::string prefix = "items[" + std::to_string(i) + "]";
      const json::object* item = arr[i].if_object();
      if (!item) {
        f.invalid_path(prefix, prefix + " must be an object {product_id, quantity}");
        break;
      }
      Fields fi(*item, prefix);
      std::uint64_t product_id = 0;
      std::int64_t quantity = 0;
      fi.required(fi.id("product_id", product_id), "product_id");
      fi.required(fi.integer("quantity", 1, quantity_max, quantity), "quantity");
      if (!fi.ok()) {
        f.adopt(fi);
        break;
      }
      if (product_id > UINT32_MAX && !unknown_product) {
        unknown_product = true;
        unknown_path = prefix + ".product_id";
      }
      pr.items[i].product_id =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(product_id, UINT32_MAX));
      pr.items[i].quantity = static_cast<std::uint32_t>(quantity);
    }
  }
  if (f.ok()) f.id("coupon_id", pr.coupon_id);
  if (f.ok()) f.integer("points", 0, money_max, pr.points);
  if (!f.ok()) {
    error = f.error();
    return OrderBodyResult::invalid_field;
  }
  if (unknown_product) {
    error = not_found_response("no such product", unknown_path);
    return OrderBodyResult::unknown_product;
  }
  return OrderBodyResult::ok;
}

void Api::place_order(const Request& req, const PathParams&, const ExchangePtr& ex) {
  Response error;
  engine::PlaceRequest pr;
  switch (read_order_json(req.body, pr, error)) {
    case OrderBodyResult::ok:
      break;
    case OrderBodyResult::bad_json:
      metrics_.order_outcome("invalid", "bad_json");
      return ex->respond(std::move(error));
    case OrderBodyResult::invalid_field:
      metrics_.order_outcome("invalid", "invalid_field");
      return ex->respond(std::move(error));
    case OrderBodyResult::unknown_product:
      metrics_.order_outcome("unknown_product", "");
      return ex->respond(std::move(error));
  }
  if (auto r = wrong_cell(config_, pr.user_id)) return ex->respond(std::move(*r));
  if (req.has_idempotency_key) pr.idempotency_key = hash64(req.idempotency_key, pr.user_id);

  engine::PortCallback cb = [this, ex](const engine::PortReply& r) {
    std::uint64_t id = 0;
    Response answer = order_reply(r, metrics_, id);
    ex->respond(id != 0 ? accepted_json(id) : std::move(answer));
  };
  const engine::PlaceNow now = ex->port->place_order(pr, std::move(cb));
  if (now.status == engine::PlaceStatus::submitted) return;  // the callback answers
  ex->respond(placed_now(now, pr, metrics_));
}

// --- GET /orders/{id} -----------------------------------------------------------------------------

void Api::get_order(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  std::int64_t deadline = 0;
  if (auto wait = query_param(req.query, "wait")) {
    std::uint64_t ms = 0;
    if (!parse_decimal(*wait, static_cast<std::uint64_t>(order_wait_ms_max), ms))
      return ex->respond(error_response(422, "invalid_field",
                                        "wait must be a number of milliseconds between 0 and " +
                                            std::to_string(order_wait_ms_max),
                                        "wait"));
    if (ms > 0) {
      metrics_.long_polls.fetch_add(1, std::memory_order_relaxed);
      deadline = mono_now_ns() + static_cast<std::int64_t>(ms) * 1'000'000;
    }
  }
  answer_order(ex, p.id, deadline, poll_interval_ms_min);
}

void Api::answer_order(const ExchangePtr& ex, std::uint64_t id, std::int64_t deadline_ns,
                       std::int64_t interval_ms) {
  domains::OrderRow row{};
  {
    Snapshot s;
    if (!store_.begin(Domain::order, s))
      return ex->respond(unavailable_response("the order journal cannot be read yet"));
    switch (s.get(s.table("orders"), journal::key_u64(id), row)) {
      case Lookup::found:
        break;
      case Lookup::missing:
        return ex->respond(not_found_response("no order with id " + std::to_string(id)));
      case Lookup::unavailable:
        return ex->respond(unavailable_response("the order journal cannot be read"));
    }
  }
  if (terminal(row)) {
    metrics_.order_terminal(row.id, row.created_ns, row.updated_ns);
  } else if (deadline_ns != 0 && !stopping()) {
    const std::int64_t left_ms = (deadline_ns - mono_now_ns()) / 1'000'000;
    if (left_ms > 0) {
      const std::int64_t next = std::min(interval_ms * 2, poll_interval_ms_max);
      ex->post_after(std::min(interval_ms, left_ms), [this, ex, id, deadline_ns, next] {
        answer_order(ex, id, deadline_ns, next);
      });
      return;
    }
  }
  ex->respond(json_response(200, order_json(store_, row)));
}

void Api::observe_orders() {
  std::lock_guard<std::mutex> lock(observe_mutex_);
  Snapshot s;
  if (!store_.begin(Domain::order, s)) return;
  const journal::TableId orders = s.table("orders");
  for (auto it = observe_pending_.begin(); it != observe_pending_.end();) {
    domains::OrderRow row{};
    const Lookup l = s.get(orders, journal::key_u64(*it), row);
    if (l == Lookup::found && !terminal(row)) {
      ++it;
      continue;
    }
    if (l == Lookup::found) metrics_.order_terminal(row.id, row.created_ns, row.updated_ns);
    it = observe_pending_.erase(it);
  }
  std::uint64_t last = observe_next_id_ - 1;
  (void)s.txn().scan(orders, journal::key_u64(observe_next_id_), metrics_order_scan_max,
                     [&](journal::Bytes key, journal::Bytes value) {
                       domains::OrderRow row{};
                       if (!journal::from_bytes(value, row)) return false;
                       last = journal::u64_from_key(key);
                       if (terminal(row)) {
                         metrics_.order_terminal(row.id, row.created_ns, row.updated_ns);
                       } else if (observe_pending_.size() < metrics_pending_orders_max) {
                         observe_pending_.insert(row.id);
                       }
                       return true;
                     });
  observe_next_id_ = last + 1;
}

// --- POST /orders/{id}/cancel ---------------------------------------------------------------------

void Api::cancel_order(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, true, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  std::string reason_text;
  f.text("reason", reason_size_bytes, false, reason_text);
  if (!f.ok()) return ex->respond(f.error());
  if (!authorize_cancel(config_, req, reason_text, ex)) return;  // operator token (auth.h)
  ipc::CancelOrderBody b{};
  b.reason =
      static_cast<std::uint8_t>(reason_text == "cancelled_by_operator" || reason_text == "operator"
                                    ? OrderReason::cancelled_by_operator
                                    : OrderReason::cancelled_by_customer);
  {
    Snapshot s;
    if (!store_.begin(Domain::order, s))
      return ex->respond(unavailable_response("the order journal cannot be read yet"));
    domains::OrderRow row{};
    switch (s.get(s.table("orders"), journal::key_u64(p.id), row)) {
      case Lookup::found:
        break;
      case Lookup::missing:
        return ex->respond(not_found_response("no order with id " + std::to_string(p.id)));
      case Lookup::unavailable:
        return ex->respond(unavailable_response("the order journal cannot be read"));
    }
  }
  ipc::Message m = ipc::make_message(MessageType::cancel_order, Domain::port, Domain::order, b);
  m.header.order_id = p.id;
  const std::uint64_t id = p.id;
  command(
      ex, Domain::order, m, MessageType::cancel_order_reply, [ex, id](const ipc::Message& reply) {
        const auto r = ipc::body_as<ipc::PlaceOrderReplyBody>(reply);
        switch (static_cast<ipc::PlaceResult>(r.result)) {
          case ipc::PlaceResult::accepted: {
            json::object o;
            o["id"] = id;
            o["status"] = domains::order_status_name(static_cast<OrderStatus>(r.status));
            return ex->respond(json_response(202, o));
          }
          case ipc::PlaceResult::not_found:
            return ex->respond(not_found_response("no order with id " + std::to_string(id)));
          case ipc::PlaceResult::already_final: {
            std::string what =
                "order " + std::to_string(id) + " is already " +
                std::string(domains::order_status_name(static_cast<OrderStatus>(r.status)));
            if (r.reason != 0)
              what += " (" +
                      std::string(ipc::order_reason_name(static_cast<OrderReason>(r.reason))) + ")";
            return ex->respond(error_response(409, "conflict", what));
          }
          default:
            return ex->respond(
                internal_error_response("unexpected cancel result " + std::to_string(r.result)));
        }
      });
}

// --- GET /payments/{order_id} ----------------------------------------------------------------------

void Api::get_payment(const Request&, const PathParams& p, const ExchangePtr& ex) {
  Snapshot s;
  if (!store_.begin(Domain::payment, s))
    return ex->respond(unavailable_response("the payment journal cannot be read yet"));
  domains::PaymentRow row{};
  const Lookup l = s.get(s.table("payments"), journal::key_u64(p.id), row);
  if (l == Lookup::unavailable)
    return ex->respond(unavailable_response("the payment journal cannot be read"));
  // A row in cancelled_before_apply only closes the gate against a late charge: no payment.
  if (l == Lookup::missing ||
      row.state == static_cast<std::uint8_t>(StepState::cancelled_before_apply))
    return ex->respond(not_found_response("no payment for order " + std::to_string(p.id)));
  json::object o;
  o["order_id"] = row.order_id;
  o["state"] = domains::step_state_name(static_cast<StepState>(row.state));
  o["amount"] = row.amount;
  o["method"] = domains::payment_method_name(static_cast<domains::PaymentMethod>(row.method));
  if (row.reason != 0) o["reason"] = ipc::order_reason_name(static_cast<OrderReason>(row.reason));
  o["updated_at"] = format_rfc3339(row.updated_ns);
  ex->respond(json_response(200, o));
}

}  // namespace flashsaga::gateway
