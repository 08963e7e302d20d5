// catalog: the routes of coupon templates and coupons (create, issue, read, a user's coupons)
// and of products (create, list, read, patch, restock).
#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <optional>
#include <variant>
#include <vector>

#include "domains/fields.h"
#include "domains/rows.h"
#include "domains/rules.h"
#include "engine/base/clock.h"
#include "engine/gateway/api.h"
#include "engine/gateway/json_io.h"
#include "engine/gateway/routes_internal.h"

namespace flashsaga::gateway {
namespace {

using domains::product_field_max_per_user;
using domains::product_field_name;
using domains::product_field_price;
using domains::product_field_stock;
using domains::product_field_window;
using domains::ProductField;
using ipc::CommandReplyBody;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

// --- Field numbers to JSON paths -------------------------------------------------------------------

std::string_view template_field(std::uint16_t f) {
  namespace C = domains::template_field;
  switch (f) {
    case C::value:
      return "value";
    case C::max_discount:
      return "max_discount";
    case C::min_order_amount:
      return "min_order_amount";
    case C::expires_at:
      return "expires_at";
    case C::quantity:
      return "quantity";
    case C::kind:
      return "kind";
    case C::name:
      return "name";
    default:
      return {};
  }
}

std::string_view issue_field(std::uint16_t f) {
  if (f == domains::issue_field::template_id) return "template_id";
  if (f == domains::issue_field::user_id) return "user_id";
  return {};
}

std::string_view product_field(std::uint16_t f) {
  switch (f) {
    case product_field_name:
      return "name";
    case product_field_price:
      return "price";
    case product_field_stock:
      return "stock";
    case product_field_max_per_user:
      return "max_per_user";
    case product_field_window:
      return "sale_ends_at";
    default:
      return {};
  }
}

std::string_view restock_field(std::uint16_t f) {
  return f == product_field_stock ? "quantity" : product_field(f);
}

}  // namespace

// --- Coupons -------------------------------------------------------------------------------------------

namespace {

// Reads a coupon and whether it shows as expired (available, template past expires_at).
Lookup read_coupon(const Snapshot& s, std::uint64_t id, domains::CouponRow& row, bool& expired) {
  const Lookup l = s.get(s.table("coupons"), journal::key_u64(id), row);
  if (l != Lookup::found) return l;
  expired = false;
  if (row.state == static_cast<std::uint8_t>(domains::CouponState::available)) {
    domains::TemplateRow tpl{};
    if (s.get(s.table("templates"), journal::key_u64(row.template_id), tpl) == Lookup::found)
      expired = domains::coupon_template_expired(tpl, wall_now_ns());
  }
  return Lookup::found;
}

void respond_coupon(Store& store, const ExchangePtr& ex, std::uint64_t id, int status) {
  Snapshot s;
  if (!store.begin(Domain::coupon, s))
    return ex->respond(unavailable_response("the coupon journal cannot be read yet"));
  domains::CouponRow row{};
  bool expired = false;
  switch (read_coupon(s, id, row, expired)) {
    case Lookup::found:
      return ex->respond(json_response(status, coupon_json(row, expired)));
    case Lookup::missing:
      return ex->respond(not_found_response("no coupon with id " + std::to_string(id)));
    case Lookup::unavailable:
      return ex->respond(unavailable_response("the coupon journal cannot be read"));
  }
}

void respond_template(Store& store, const ExchangePtr& ex, std::uint64_t id, int status) {
  Snapshot s;
  if (!store.begin(Domain::coupon, s))
    return ex->respond(unavailable_response("the coupon journal cannot be read yet"));
  domains::TemplateRow row{};
  switch (s.get(s.table("templates"), journal::key_u64(id), row)) {
    case Lookup::found:
      return ex->respond(json_response(status, template_json(row)));
    case Lookup::missing:
      return ex->respond(not_found_response("no coupon template with id " + std::to_string(id)));
    case Lookup::unavailable:
      return ex->respond(unavailable_response("the coupon journal cannot be read"));
  }
}

}  // namespace

void Api::get_user_coupons(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  Page page;
  Response error;
  if (!page_params(req, page, &error)) return ex->respond(std::move(error));
  if (!require_user(store_, ex, p.id)) return;
  Snapshot s;
  if (!store_.begin(Domain::coupon, s))
    return ex->respond(unavailable_response("the coupon journal cannot be read yet"));
  std::vector<std::pair<std::uint64_t, std::monostate>> ids;
  bool corrupt = false;
  const std::uint64_t next = scan_page(s, s.table("by_user"), p.id, page, ids, &corrupt);
  if (corrupt) return ex->respond(unavailable_response("the coupon journal cannot be read"));
  json::array coupons;
  for (const auto& [coupon_id, unused] : ids) {
    (void)unused;
    domains::CouponRow row{};
    bool expired = false;
    if (read_coupon(s, coupon_id, row, expired) == Lookup::found)
      coupons.push_back(coupon_json(row, expired));
  }
  json::object o;
  o["coupons"] = std::move(coupons);
  if (next != 0) o["next"] = make_cursor(next);
  ex->respond(json_response(200, o));
}

void Api::create_template(const Request& req, const PathParams&, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  ipc::CreateCouponTemplateBody b{};
  std::string name, kind;
  f.required(f.text("name", name_size_bytes, true, name), "name");
  if (f.required(f.text("kind", 16, true, kind), "kind")) {
    if (kind == "fixed") {
      b.kind = static_cast<std::uint8_t>(ipc::CouponKind::fixed);
    } else if (kind == "percent") {
      b.kind = static_cast<std::uint8_t>(ipc::CouponKind::percent);
    } else {
      f.invalid("kind", "kind must be \"fixed\" or \"percent\"");
    }
  }
  const std::int64_t value_max =
      b.kind == static_cast<std::uint8_t>(ipc::CouponKind::percent) ? 100 : money_max;
  f.required(f.integer("value", 1, value_max, b.value), "value");
  f.integer("max_discount", 0, money_max, b.max_discount);
  f.integer("min_order_amount", 0, money_max, b.min_order_amount);
  f.time("expires_at", b.expires_at_ns);
  f.integer("quantity", 1, money_max, b.quantity);
  if (!f.ok()) return ex->respond(f.error());
  b.name.assign(name);
  const auto m =
      ipc::make_message(MessageType::create_coupon_template, Domain::port, Domain::coupon, b);
  command(ex, Domain::coupon, m, MessageType::command_reply, [this, ex](const ipc::Message& reply) {
    const auto r = ipc::body_as<CommandReplyBody>(reply);
    if (r.result != static_cast<std::uint16_t>(CommandResult::ok)) {
      CommandText t;
      t.field = template_field;
      return ex->respond(command_error(r, t));
    }
    respond_template(store_, ex, r.entity_id, 201);
  });
}

void Api::get_template(const Request&, const PathParams& p, const ExchangePtr& ex) {
  respond_template(store_, ex, p.id, 200);
}

void Api::issue_coupon(const Request& req, const PathParams&, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  ipc::IssueCouponBody b{};
  f.required(f.id("template_id", b.template_id), "template_id");
  f.required(f.id("user_id", b.user_id), "user_id");
  if (!f.ok()) return ex->respond(f.error());
  {
    Snapshot s;
    if (!store_.begin(Domain::coupon, s))
      return ex->respond(unavailable_response("the coupon journal cannot be read yet"));
    domains::TemplateRow tpl{};
    switch (s.get(s.table("templates"), journal::key_u64(b.template_id), tpl)) {
      case Lookup::found:
        break;
      case Lookup::missing:
        return ex->respond(not_found_response(
            "no coupon template with id " + std::to_string(b.template_id), "template_id"));
      case Lookup::unavailable:
        return ex->respond(unavailable_response("the coupon journal cannot be read"));
    }
  }
  switch (user_exists(store_, b.user_id)) {
    case Lookup::found:
      break;
    case Lookup::missing:
      return ex->respond(
          not_found_response("no user with id " + std::to_string(b.user_id), "user_id"));
    case Lookup::unavailable:
      return ex->respond(unavailable_response("the user journal cannot be read yet"));
  }
  const auto m = ipc::make_message(MessageType::issue_coupon, Domain::port, Domain::coupon, b);
  command(
      ex, Domain::coupon, m, MessageType::command_reply, [this, ex, b](const ipc::Message& reply) {
        const auto r = ipc::body_as<CommandReplyBody>(reply);
        if (r.result != static_cast<std::uint16_t>(CommandResult::ok)) {
          CommandText t;
          t.field = issue_field;
          t.not_found = r.field == domains::issue_field::user_id
                            ? "no user with id " + std::to_string(b.user_id)
                            : "no coupon template with id " + std::to_string(b.template_id);
          t.conflict = r.field == domains::issue_field::user_id
                           ? "user " + std::to_string(b.user_id) +
                                 " already holds a coupon of template " +
                                 std::to_string(b.template_id)
                           : "coupon template " + std::to_string(b.template_id) + " has expired";
          t.sold_out =
              "coupon template " + std::to_string(b.template_id) + " has no coupons left to issue";
          return ex->respond(command_error(r, t));
        }
        respond_coupon(store_, ex, r.entity_id, 201);
      });
}

void Api::get_coupon(const Request&, const PathParams& p, const ExchangePtr& ex) {
  respond_coupon(store_, ex, p.id, 200);
}

// --- Products -----------------------------------------------------------------------------------------

namespace {

void respond_product(Store& store, ipc::Deployment& deployment, const ExchangePtr& ex,
                     std::uint64_t id, int status) {
  Snapshot s;
  if (!store.begin(Domain::product, s))
    return ex->respond(unavailable_response("the product journal cannot be read yet"));
  domains::ProductRow row{};
  switch (s.get(s.table("products"), journal::key_u64(id), row)) {
    case Lookup::found:
      return ex->respond(json_response(status, product_json(row, deployment)));
    case Lookup::missing:
      return ex->respond(not_found_response("no product with id " + std::to_string(id)));
    case Lookup::unavailable:
      return ex->respond(unavailable_response("the product journal cannot be read"));
  }
}

// Reads the product; answers 404/503 itself when it is not there.
bool require_product(Store& store, const ExchangePtr& ex, std::uint64_t id,
                     domains::ProductRow& row) {
  Snapshot s;
  if (!store.begin(Domain::product, s)) {
    ex->respond(unavailable_response("the product journal cannot be read yet"));
    return false;
  }
  switch (s.get(s.table("products"), journal::key_u64(id), row)) {
    case Lookup::found:
      return true;
    case Lookup::missing:
      ex->respond(not_found_response("no product with id " + std::to_string(id)));
      return false;
    case Lookup::unavailable:
      ex->respond(unavailable_response("the product journal cannot be read"));
      return false;
  }
  return false;
}

CommandText product_text(std::uint64_t id) {
  CommandText t;
  t.field = product_field;
  t.not_found = "no product with id " + std::to_string(id);
  return t;
}

}  // namespace

void Api::create_product(const Request& req, const PathParams&, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  ipc::CreateProductBody b{};
  std::string name;
  std::int64_t max_per_user = 0;
  f.required(f.text("name", name_size_bytes, true, name), "name");
  f.required(f.integer("price", 0, money_max, b.price), "price");
  f.required(f.integer("stock", 0, stock_max, b.stock), "stock");
  f.integer("max_per_user", 0, quantity_max, max_per_user);
  f.time("sale_starts_at", b.sale_starts_ns);
  f.time("sale_ends_at", b.sale_ends_ns);
  if (f.ok() && b.sale_starts_ns != 0 && b.sale_ends_ns != 0 && b.sale_starts_ns >= b.sale_ends_ns)
    f.invalid("sale_ends_at", "sale_ends_at must be after sale_starts_at");
  if (!f.ok()) return ex->respond(f.error());
  b.name.assign(name);
  b.max_per_user = static_cast<std::uint32_t>(max_per_user);
  const auto m = ipc::make_message(MessageType::create_product, Domain::port, Domain::product, b);
  command(ex, Domain::product, m, MessageType::command_reply, [this, ex](const ipc::Message& reply) {
    const auto r = ipc::body_as<CommandReplyBody>(reply);
    if (r.result == static_cast<std::uint16_t>(CommandResult::unavailable))
      return ex->respond(unavailable_response(
          "the product domain cannot take this product now (stock table full at stock.products_max, or disk full)"));
    if (r.result != static_cast<std::uint16_t>(CommandResult::ok))
      return ex->respond(command_error(r, product_text(0)));
    respond_product(store_, deployment_, ex, r.entity_id, 201);
  });
}

void Api::list_products(const Request& req, const PathParams&, const ExchangePtr& ex) {
  Page page;
  Response error;
  if (!page_params(req, page, &error)) return ex->respond(std::move(error));
  Snapshot s;
  if (!store_.begin(Domain::product, s))
    return ex->respond(unavailable_response("the product journal cannot be read yet"));
  std::vector<std::pair<std::uint64_t, domains::ProductRow>> rows;
  bool corrupt = false;
  const std::uint64_t next = scan_page(s, s.table("products"), std::nullopt, page, rows, &corrupt);
  if (corrupt) return ex->respond(unavailable_response("the product journal cannot be read"));
  json::array products;
  for (const auto& [id, row] : rows) products.push_back(product_json(row, deployment_));
  json::object o;
  o["products"] = std::move(products);
  if (next != 0) o["next"] = make_cursor(next);
  ex->respond(json_response(200, o));
}

void Api::get_product(const Request&, const PathParams& p, const ExchangePtr& ex) {
  respond_product(store_, deployment_, ex, p.id, 200);
}

void Api::patch_product(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  ipc::UpdateProductBody u{};
  u.product_id = p.id;
  std::string name;
  std::int64_t max_per_user = 0;
  switch (f.text("name", name_size_bytes, true, name)) {
    case Fields::Got::value:
      u.set_name = 1;
      u.name.assign(name);
      break;
    case Fields::Got::null:
      f.invalid("name", "name cannot be null");
      break;
    default:
      break;
  }
  switch (f.integer("price", 0, money_max, u.price)) {
    case Fields::Got::value:
      u.set_price = 1;
      break;
    case Fields::Got::null:
      f.invalid("price", "price cannot be null");
      break;
    default:
      break;
  }
  switch (f.integer("max_per_user", 0, quantity_max, max_per_user)) {
    case Fields::Got::value:
    case Fields::Got::null:  // null: no limit
      u.set_max_per_user = 1;
      u.max_per_user = static_cast<std::uint32_t>(max_per_user);
      break;
    default:
      break;
  }
  const auto starts = f.time("sale_starts_at", u.sale_starts_ns);
  const auto ends = f.time("sale_ends_at", u.sale_ends_ns);
  u.set_sale_starts = starts == Fields::Got::value || starts == Fields::Got::null;
  u.set_sale_ends = ends == Fields::Got::value || ends == Fields::Got::null;
  if (!f.ok()) return ex->respond(f.error());
  domains::ProductRow row{};
  if (!require_product(store_, ex, p.id, row)) return;
  const std::int64_t s_ns = u.set_sale_starts ? u.sale_starts_ns : row.sale_starts_ns;
  const std::int64_t e_ns = u.set_sale_ends ? u.sale_ends_ns : row.sale_ends_ns;
  if (s_ns != 0 && e_ns != 0 && s_ns >= e_ns) {
    const char* field = u.set_sale_ends ? "sale_ends_at" : "sale_starts_at";
    return ex->respond(
        error_response(422, "invalid_field", "sale_ends_at must be after sale_starts_at", field));
  }
  const auto m = ipc::make_message(MessageType::update_product, Domain::port, Domain::product, u);
  const std::uint64_t id = p.id;
  command(ex, Domain::product, m, MessageType::command_reply,
          [this, ex, id](const ipc::Message& reply) {
            const auto r = ipc::body_as<CommandReplyBody>(reply);
            if (r.result != static_cast<std::uint16_t>(CommandResult::ok))
              return ex->respond(command_error(r, product_text(id)));
            respond_product(store_, deployment_, ex, id, 200);
          });
}

void Api::restock(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  ipc::RestockBody b{};
  b.product_id = p.id;
  f.required(f.integer("quantity", 1, stock_max, b.quantity), "quantity");
  if (!f.ok()) return ex->respond(f.error());
  domains::ProductRow row{};
  if (!require_product(store_, ex, p.id, row)) return;
  if (row.total + b.quantity > stock_max)
    return ex->respond(error_response(
        422, "invalid_field",
        "quantity would take the product's stock past " + std::to_string(stock_max), "quantity"));
  const auto m = ipc::make_message(MessageType::restock, Domain::port, Domain::product, b);
  const std::uint64_t id = p.id;
  command(ex, Domain::product, m, MessageType::command_reply,
          [this, ex, id](const ipc::Message& reply) {
            const auto r = ipc::body_as<CommandReplyBody>(reply);
            if (r.result != static_cast<std::uint16_t>(CommandResult::ok)) {
              CommandText t = product_text(id);
              t.field = restock_field;
              return ex->respond(command_error(r, t));
            }
            respond_product(store_, deployment_, ex, id, 200);
          });
}

}  // namespace flashsaga::gateway
