// routes: the route table, dispatch (idempotency, 404/405), and the routes of users, points,
// wallets, coupons, products and operations. Orders and payments are in orders.cc.
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
#include "engine/gateway/cell_route.h"
#include "engine/gateway/api.h"
#include "engine/gateway/json_io.h"
#include "engine/gateway/ops_metrics.h"
#include "engine/gateway/routes_internal.h"

namespace flashsaga::gateway {
namespace {

using domains::RecordType;
using ipc::CommandReplyBody;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

using domains::product_field_max_per_user;
using domains::product_field_name;
using domains::product_field_price;
using domains::product_field_stock;
using domains::product_field_window;
using domains::ProductField;

// --- Route table ---------------------------------------------------------------------------------

struct RouteMethod {
  Method method;
  Api::Handler handler;
  Access access = Access::open;  // operator_only: needs the operator token when one is set
};
constexpr Access op = Access::operator_only;

struct Route {
  std::string_view pattern;  // segments; "{id}" matches one path segment
  std::string_view what;     // what the {id} names, for 404 messages
  std::array<RouteMethod, 2> methods;
  std::size_t method_count;
};

const std::array<Route, 22> routes = {{
    {"/users", "", {{{Method::post, &Api::create_user}}}, 1},
    {"/users/{id}",
     "user",
     {{{Method::get, &Api::get_user}, {Method::patch, &Api::patch_user}}},
     2},
    {"/users/{id}/points",
     "user",
     {{{Method::get, &Api::get_points}, {Method::post, &Api::accrue_points, op}}},
     2},
    {"/users/{id}/wallet", "user", {{{Method::get, &Api::get_wallet}}}, 1},
    {"/users/{id}/wallet/deposits", "user", {{{Method::post, &Api::deposit, op}}}, 1},
    {"/users/{id}/coupons", "user", {{{Method::get, &Api::get_user_coupons}}}, 1},
    {"/coupon-templates", "", {{{Method::post, &Api::create_template, op}}}, 1},
    {"/coupon-templates/{id}", "coupon template", {{{Method::get, &Api::get_template}}}, 1},
    {"/coupons", "", {{{Method::post, &Api::issue_coupon}}}, 1},
    {"/coupons/{id}", "coupon", {{{Method::get, &Api::get_coupon}}}, 1},
    {"/products",
     "",
     {{{Method::get, &Api::list_products}, {Method::post, &Api::create_product, op}}},
     2},
    {"/products/{id}",
     "product",
     {{{Method::get, &Api::get_product}, {Method::patch, &Api::patch_product, op}}},
     2},
    {"/products/{id}/restock", "product", {{{Method::post, &Api::restock, op}}}, 1},
    {"/orders", "", {{{Method::post, &Api::place_order}}}, 1},
    {"/orders/{id}", "order", {{{Method::get, &Api::get_order}}}, 1},
    {"/orders/{id}/cancel", "order", {{{Method::post, &Api::cancel_order}}}, 1},
    {"/payments/{id}", "order", {{{Method::get, &Api::get_payment}}}, 1},
    {"/healthz", "", {{{Method::get, &Api::healthz}}}, 1},
    {"/metrics", "", {{{Method::get, &Api::metrics}}}, 1},
    {"/", "", {{{Method::get, &Api::sale_page}}}, 1},
    {"/stats", "", {{{Method::get, &Api::stats}}}, 1},
    {"/openapi.json", "", {{{Method::get, &Api::openapi}}}, 1},
}};

std::string_view method_name(Method m) {
  switch (m) {
    case Method::get:
      return "GET";
    case Method::post:
      return "POST";
    case Method::patch:
      return "PATCH";
    case Method::put:
      return "PUT";
    case Method::del:
      return "DELETE";
    case Method::head:
      return "HEAD";
    case Method::options:
      return "OPTIONS";
    case Method::other:
      return "OTHER";
  }
  return "OTHER";
}

// Splits "/a/b/c" into segments ("/" has none); false for anything that is not a clean
// absolute path.
bool split_path(std::string_view path, std::vector<std::string_view>& out) {
  if (path == "/") return true;
  if (path.empty() || path[0] != '/') return false;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end == start) return false;  // "//" or a trailing '/'
    out.push_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return !out.empty();
}

// Each route's pattern split into segments, once.
const std::vector<std::string_view>& pattern_of(const Route& route) {
  static const std::vector<std::vector<std::string_view>> split = [] {
    std::vector<std::vector<std::string_view>> all;
    for (const Route& r : routes) {
      all.emplace_back();
      split_path(r.pattern, all.back());
    }
    return all;
  }();
  return split[static_cast<std::size_t>(&route - routes.data())];
}

bool match(const Route& route, const std::vector<std::string_view>& segments, PathParams& params) {
  const std::vector<std::string_view>& pattern = pattern_of(route);
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == "{id}") {
      params.id_text = std::string(segments[i]);
      std::uint64_t v = 0;
      params.id_valid = parse_decimal(segments[i], json_id_max, v) && v >= 1;
      params.id = params.id_valid ? v : 0;
    } else if (pattern[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

// The answer to an Idempotency-Key request is stored before it is sent; repeats waiting for
// it are answered at the same time.
class IdempotentExchange final : public Exchange {
 public:
  IdempotentExchange(ExchangePtr inner, Idempotency& table, std::string key,
                     std::uint64_t fingerprint)
      : inner_(std::move(inner)), table_(table), key_(std::move(key)), fingerprint_(fingerprint) {
    route = inner_->route;
    port = inner_->port;
  }
  ~IdempotentExchange() override {
    // A request dropped without an answer must not leave its key "in progress" forever.
    if (!answered_.exchange(true))
      table_.finish(key_, fingerprint_,
                    unavailable_response("the request was abandoned; retry it"));
  }
  void respond(Response response) override {
    if (answered_.exchange(true)) return;
    table_.finish(key_, fingerprint_, response);
    inner_->respond(std::move(response));
  }
  void post(std::function<void()> fn) override { inner_->post(std::move(fn)); }
  void post_after(std::int64_t delay_ms, std::function<void()> fn) override {
    inner_->post_after(delay_ms, std::move(fn));
  }

 private:
  ExchangePtr inner_;
  Idempotency& table_;
  std::string key_;
  std::uint64_t fingerprint_;
  std::atomic<bool> answered_{false};
};

// --- Field numbers to JSON paths -------------------------------------------------------------------

std::string_view user_field(std::uint16_t f) {
  if (f == domains::user_field::name) return "name";
  if (f == domains::user_field::email) return "email";
  return {};
}

std::string_view point_field(std::uint16_t f) {
  if (f == domains::point_field::user_id) return "user_id";
  if (f == domains::point_field::amount) return "amount";
  if (f == domains::point_field::reason) return "reason";
  return {};
}

std::string_view payment_field(std::uint16_t f) {
  if (f == domains::payment_field::user_id) return "user_id";
  if (f == domains::payment_field::amount) return "amount";
  return {};
}

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

// --- Lists ---------------------------------------------------------------------------------------------

struct Page {
  std::size_t limit = page_limit_default;
  std::uint64_t after = 0;  // cursor: the key of the last item of the previous page
};

bool page_params(const Request& req, Page& page, Response* error) {
  if (auto limit = query_param(req.query, "limit")) {
    std::uint64_t v = 0;
    if (!parse_decimal(*limit, page_limit_max, v) || v < 1) {
      *error = error_response(422, "invalid_field", "limit must be an integer between 1 and 1000",
                              "limit");
      return false;
    }
    page.limit = static_cast<std::size_t>(v);
  }
  if (auto after = query_param(req.query, "after")) {
    std::uint64_t v = 0;
    if (!parse_cursor(*after, v)) {
      *error = error_response(422, "invalid_field", "after is not a cursor this server handed out",
                              "after");
      return false;
    }
    page.after = v;
  }
  return true;
}

// Scans keys (prefix, k) for k > page.after, in order; fills out with (k, value) and returns
// the cursor of the next page (0: last page).
template <typename Row>
std::uint64_t scan_page(const Snapshot& s, journal::TableId table,
                        std::optional<std::uint64_t> prefix, const Page& page,
                        std::vector<std::pair<std::uint64_t, Row>>& out, bool* corrupt) {
  const std::uint64_t from = page.after + 1;
  std::array<std::byte, 8> k1{};
  std::array<std::byte, 16> k2{};
  journal::Bytes start;
  if (prefix) {
    k2 = journal::key_u64_u64(*prefix, from);
    start = journal::Bytes(k2.data(), k2.size());
  } else {
    k1 = journal::key_u64(from);
    start = journal::Bytes(k1.data(), k1.size());
  }
  journal::Status st =
      s.txn().scan(table, start, page.limit + 1, [&](journal::Bytes key, journal::Bytes value) {
        std::uint64_t k = 0;
        if (prefix) {
          if (key.size() != 16 || journal::u64_from_key(key, 0) != *prefix) return false;
          k = journal::u64_from_key(key, 8);
        } else {
          if (key.size() != 8) return false;
          k = journal::u64_from_key(key, 0);
        }
        Row row{};
        if constexpr (std::is_same_v<Row, std::monostate>) {
          (void)value;
        } else if (!journal::from_bytes(value, row)) {
          *corrupt = true;
          return false;
        }
        out.emplace_back(k, row);
        return true;
      });
  if (!st.ok()) *corrupt = true;
  if (out.size() <= page.limit) return 0;
  out.resize(page.limit);
  return out.back().first;
}

// --- Command replies --------------------------------------------------------------------------

struct CommandText {
  std::string_view (*field)(std::uint16_t) = nullptr;
  std::string not_found = "not found";
  std::string conflict = "conflict";
  std::string sold_out = "sold out";
};

Response command_error(const CommandReplyBody& r, const CommandText& text) {
  const std::string_view field = text.field ? text.field(r.field) : std::string_view{};
  switch (static_cast<CommandResult>(r.result)) {
    case CommandResult::ok:
      break;
    case CommandResult::not_found:
      return not_found_response(text.not_found, field);
    case CommandResult::conflict:
      return error_response(409, "conflict", text.conflict, field);
    case CommandResult::sold_out:
      return error_response(409, "sold_out", text.sold_out, field);
    case CommandResult::invalid_field: {
      const std::string what = field.empty() ? std::string("a field") : std::string(field);
      return error_response(422, "invalid_field", what + " is out of the range the domain accepts",
                            field);
    }
    case CommandResult::unavailable:
      return unavailable_response(
          "the domain cannot take writes now (disk or map full, or a table full)");
  }
  return internal_error_response("unexpected command result " + std::to_string(r.result));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Response bad_id(std::string_view what, const PathParams& p) {
  return not_found_response("no " + std::string(what) + " with id '" + p.id_text + "'");
}

}  // namespace

// --- Helpers shared with orders.cc (routes_internal.h) --------------------------------------------

bool valid_idempotency_key(const std::string& key) {
  if (key.empty() || key.size() > idempotency_key_bytes_max) return false;
  for (const char c : key)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

Response idempotency_refusal(Idempotency::Admit admit, const std::string& key) {
  if (admit == Idempotency::Admit::busy)
    return overloaded_response("too many requests wait on this Idempotency-Key");
  return error_response(
      409, "conflict",
      "Idempotency-Key '" + key +
          "' was already used with a different request (method, path or body); use a new key",
      "Idempotency-Key");
}

bool parse_decimal(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  std::uint64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

// Cursors are the decimal key of the last item, prefixed with "c" so that nobody mistakes them
// for ids; anything else is refused.
// Appended, not "c" + to_string(): GCC 12 at -O3 sees a false memcpy overlap (-Wrestrict) in
// operator+ of a one-character literal and a temporary string.
std::string make_cursor(std::uint64_t key) {
  std::string cursor(1, 'c');
  cursor += std::to_string(key);
  return cursor;
}

bool parse_cursor(std::string_view text, std::uint64_t& out) {
  if (text.size() < 2 || text[0] != 'c') return false;
  return parse_decimal(text.substr(1), std::uint64_t{1} << 62, out);
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  std::optional<std::string> found;
  std::size_t start = 0;
  while (start <= query.size()) {
    const std::size_t amp = query.find('&', start);
    const std::string_view part =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    const std::size_t eq = part.find('=');
    const std::string_view k = part.substr(0, eq);
    if (k == key) {
      const std::string_view raw =
          eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      std::string value;
      for (std::size_t i = 0; i < raw.size(); ++i) {
        const int hi = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
        const int lo = i + 2 < raw.size() ? hex_value(raw[i + 2]) : -1;
        if (raw[i] == '+') {
          value += ' ';
        } else if (raw[i] == '%' && hi >= 0 && lo >= 0) {
          value += static_cast<char>(hi * 16 + lo);
          i += 2;
        } else {
          value += raw[i];
        }
      }
      found = std::move(value);  // the last occurrence wins
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return found;
}

// --- Api -------------------------------------------------------------------------------------------

Api::Api(const engine::Config& config, ipc::Deployment& deployment, Store& store,
         Idempotency& idempotency, Metrics& metrics, std::uint64_t gateway_ports)
    : config_(config),
      deployment_(deployment),
      store_(store),
      idempotency_(idempotency),
      metrics_(metrics),
      gateway_ports_(gateway_ports) {}

void Api::handle(const Request& request, ExchangePtr exchange) noexcept {
  try {
    dispatch(request, exchange);
  } catch (const std::exception& e) {
    exchange->respond(internal_error_response(std::string("unexpected error: ") + e.what()));
  } catch (...) {
    exchange->respond(internal_error_response("unexpected error"));
  }
}

void Api::dispatch(const Request& request, ExchangePtr exchange) {
  std::vector<std::string_view> segments;
  const Route* route = nullptr;
  PathParams params;
  if (split_path(request.path, segments)) {
    for (const Route& r : routes) {
      PathParams p;
      if (match(r, segments, p)) {
        route = &r;
        params = std::move(p);
        break;
      }
    }
  }
  if (!route) {
    exchange->respond(not_found_response("no route " + request.path));
    return;
  }
  exchange->route = route->pattern;
  if (auto r = std::string_view(route->pattern).starts_with("/users/")
                   ? wrong_cell(config_, params.id)
                   : std::nullopt)
    return exchange->respond(std::move(*r));
  Handler handler = nullptr;
  Access access = Access::open;
  std::string allow;
  // HEAD is GET without the body (the server leaves the body out).
  const Method method = request.method == Method::head ? Method::get : request.method;
  for (std::size_t i = 0; i < route->method_count; ++i) {
    if (route->methods[i].method == method) {
      handler = route->methods[i].handler;
      access = route->methods[i].access;
    }
    allow += (i ? ", " : "");
    allow += method_name(route->methods[i].method);
  }
  if (!handler) {
    Response r = error_response(405, "method_not_allowed",
                                std::string(method_name(request.method)) + " is not allowed on " +
                                    std::string(route->pattern) + "; allowed: " + allow);
    r.allow = allow;
    exchange->respond(std::move(r));
    return;
  }
  if (access == Access::operator_only) {
    if (auto refused = operator_refusal(config_, request)) {
      exchange->respond(std::move(*refused));
      return;
    }
  }
  if (!route->what.empty() && !params.id_valid) {
    exchange->respond(bad_id(route->what, params));
    return;
  }
  if (request.method == Method::post && request.has_idempotency_key) {
    if (!valid_idempotency_key(request.idempotency_key)) {
      exchange->respond(error_response(422, "invalid_field",
                                       "Idempotency-Key must be 1 to 255 visible ASCII characters",
                                       "Idempotency-Key"));
      return;
    }
    const std::uint64_t fingerprint = hash64_concat({"POST ", request.path, "\n", request.body});
    Response stored;
    const ExchangePtr waiter_exchange = exchange;
    const Idempotency::Admit admit = idempotency_.begin(
        request.idempotency_key, fingerprint,
        [waiter_exchange](const Response& r) { waiter_exchange->respond(r); }, &stored);
    switch (admit) {
      case Idempotency::Admit::fresh:
        exchange = std::make_shared<IdempotentExchange>(exchange, idempotency_,
                                                        request.idempotency_key, fingerprint);
        break;
      case Idempotency::Admit::replay:
        exchange->respond(std::move(stored));
        return;
      case Idempotency::Admit::wait:
        return;  // answered when the first request with this key is
      case Idempotency::Admit::mismatch:
      case Idempotency::Admit::busy:
        exchange->respond(idempotency_refusal(admit, request.idempotency_key));
        return;
    }
  }
  (this->*handler)(request, params, exchange);
}

void Api::command(const ExchangePtr& ex, Domain to, const ipc::Message& message,
                  MessageType reply_type, ReplyFn on_reply) {
  const std::string domain(ipc::domain_name(to));
  // A domain that cannot commit would keep the command in its ring until it can: say so now.
  const std::uint32_t degraded =
      deployment_.control().degraded_domains.load(std::memory_order_acquire);
  if ((degraded & (1u << static_cast<unsigned>(to))) != 0) {
    ex->respond(unavailable_response(
        "the " + domain +
        " domain cannot write now (disk or journal map full); retry when space returns"));
    return;
  }
  auto done = std::make_shared<ReplyFn>(std::move(on_reply));
  engine::PortCallback cb = [ex, done, reply_type, domain](const engine::PortReply& r) {
    if (r.timed_out) {
      ex->respond(unavailable_response("the " + domain +
                                       " domain did not answer in time; retry (with the same "
                                       "Idempotency-Key, if you sent one)"));
      return;
    }
    const ipc::Message reply = r.message;
    ex->post([ex, done, reply, reply_type] {
      if (reply.header.type != static_cast<std::uint16_t>(reply_type)) {
        ex->respond(
            internal_error_response("unexpected reply type " + std::to_string(reply.header.type)));
        return;
      }
      (*done)(reply);
    });
  };
  if (ex->port == nullptr || !ex->port->submit(to, message, std::move(cb)))
    ex->respond(overloaded_response("the gateway's queue to the domains is full; retry shortly"));
}

// --- Users -------------------------------------------------------------------------------------------

namespace {

// Reads a user and answers with it (status), or 404 / 503.
void respond_user(Store& store, const ExchangePtr& ex, std::uint64_t id, int status) {
  Snapshot s;
  if (!store.begin(Domain::user, s))
    return ex->respond(unavailable_response("the user journal cannot be read yet"));
  domains::UserRow row{};
  switch (s.get(s.table("users"), journal::key_u64(id), row)) {
    case Lookup::found:
      return ex->respond(json_response(status, user_json(row)));
    case Lookup::missing:
      return ex->respond(not_found_response("no user with id " + std::to_string(id)));
    case Lookup::unavailable:
      return ex->respond(unavailable_response("the user journal cannot be read"));
  }
}

}  // namespace

Lookup user_exists(Store& store, std::uint64_t id) {
  Snapshot s;
  if (!store.begin(Domain::user, s)) return Lookup::unavailable;
  domains::UserRow row{};
  return s.get(s.table("users"), journal::key_u64(id), row);
}

// 404 or 503 for a user that is not there (path parameter); true if the user exists.
static bool require_user(Store& store, const ExchangePtr& ex, std::uint64_t id) {
  switch (user_exists(store, id)) {
    case Lookup::found:
      return true;
    case Lookup::missing:
      ex->respond(not_found_response("no user with id " + std::to_string(id)));
      return false;
    case Lookup::unavailable:
      ex->respond(unavailable_response("the user journal cannot be read yet"));
      return false;
  }
  return false;
}

void Api::create_user(const Request& req, const PathParams&, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  std::string name, email;
  f.required(f.text("name", name_size_bytes, true, name), "name");
  if (f.required(f.text("email", email_size_bytes, true, email), "email") &&
      !domains::user_email_valid(email))
    f.invalid("email", "email must be an address like buyer@example.com");
  if (!f.ok()) return ex->respond(f.error());
  ipc::CreateUserBody b{};
  b.name.assign(name);
  b.email.assign(email);
  const auto m = ipc::make_message(MessageType::create_user, Domain::port, Domain::user, b);
  command(ex, Domain::user, m, MessageType::command_reply,
          [this, ex, email](const ipc::Message& reply) {
            const auto r = ipc::body_as<CommandReplyBody>(reply);
            if (r.result != static_cast<std::uint16_t>(CommandResult::ok)) {
              CommandText t;
              t.field = user_field;
              t.conflict = "the email " + email + " is already taken";
              return ex->respond(command_error(r, t));
            }
            respond_user(store_, ex, r.entity_id, 201);
          });
}

void Api::get_user(const Request&, const PathParams& p, const ExchangePtr& ex) {
  respond_user(store_, ex, p.id, 200);
}

void Api::patch_user(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  ipc::UpdateUserBody u{};
  u.user_id = p.id;
  std::string name, email;
  bool blocked = false;
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
  switch (f.text("email", email_size_bytes, true, email)) {
    case Fields::Got::value:
      if (!domains::user_email_valid(email))
        f.invalid("email", "email must be an address like buyer@example.com");
      u.set_email = 1;
      u.email.assign(email);
      break;
    case Fields::Got::null:
      f.invalid("email", "email cannot be null");
      break;
    default:
      break;
  }
  switch (f.boolean("blocked", blocked)) {
    case Fields::Got::value:
      u.set_blocked = 1;
      u.blocked = blocked ? 1 : 0;
      break;
    case Fields::Got::null:
      f.invalid("blocked", "blocked must be true or false");
      break;
    default:
      break;
  }
  if (!f.ok()) return ex->respond(f.error());
  // Blocking or unblocking a user is the operator's (name and email stay the buyer's).
  if (u.set_blocked) {
    if (auto refused = operator_refusal(config_, req)) return ex->respond(std::move(*refused));
  }
  if (!require_user(store_, ex, p.id)) return;
  if (!u.set_name && !u.set_email && !u.set_blocked) return respond_user(store_, ex, p.id, 200);
  const auto m = ipc::make_message(MessageType::update_user, Domain::port, Domain::user, u);
  const std::uint64_t id = p.id;
  command(ex, Domain::user, m, MessageType::command_reply,
          [this, ex, id, email](const ipc::Message& reply) {
            const auto r = ipc::body_as<CommandReplyBody>(reply);
            if (r.result != static_cast<std::uint16_t>(CommandResult::ok)) {
              CommandText t;
              t.field = user_field;
              t.not_found = "no user with id " + std::to_string(id);
              t.conflict = "the email " + email + " is already taken";
              return ex->respond(command_error(r, t));
            }
            respond_user(store_, ex, id, 200);
          });
}

// --- Points and wallets ---------------------------------------------------------------------------

namespace {

std::string_view point_kind(std::uint64_t type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::points_accrued:
      return "accrue";
    case RecordType::points_deducted:
      return "deduct";
    case RecordType::points_refunded:
      return "refund";
    case RecordType::points_rewarded:
      return "reward";
    case RecordType::points_reward_revoked:
      return "reward_revoke";
    default:
      return {};
  }
}

std::string_view wallet_kind(std::uint64_t type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::wallet_deposited:
      return "deposit";
    case RecordType::payment_approved:
      return "charge";
    case RecordType::payment_refunded:
      return "refund";
    default:
      return {};
  }
}

// GET /users/{id}/points and /users/{id}/wallet: the balance row and the history table.
template <typename BalanceRow>
void respond_ledger(Store& store, const Request& req, const ExchangePtr& ex, std::uint64_t user,
                    Domain domain, std::string_view balance_table,
                    std::string_view (*kind)(std::uint64_t), bool with_reasons) {
  Page page;
  Response error;
  if (!page_params(req, page, &error)) return ex->respond(std::move(error));
  if (!require_user(store, ex, user)) return;
  Snapshot s;
  const std::string journal_name(ipc::domain_name(domain));
  if (!store.begin(domain, s))
    return ex->respond(unavailable_response("the " + journal_name + " journal cannot be read yet"));
  BalanceRow balance{};
  if (s.get(s.table(balance_table), journal::key_u64(user), balance) == Lookup::unavailable)
    return ex->respond(unavailable_response("the " + journal_name + " journal cannot be read"));
  std::vector<std::pair<std::uint64_t, domains::Event>> events;
  bool corrupt = false;
  const std::uint64_t next = scan_page(s, s.table("history"), user, page, events, &corrupt);
  if (corrupt)
    return ex->respond(unavailable_response("the " + journal_name + " history cannot be read"));
  const bool reasons = with_reasons && s.has_table("reasons");
  json::array history;
  for (const auto& [seq, e] : events) {
    json::object h;
    const std::string_view k = kind(e.other);
    h["kind"] = k.empty() ? domains::record_type_name(static_cast<RecordType>(e.other)) : k;
    h["amount"] = e.amount;
    journal::RecordHeader header{};
    const bool have_header = s.record_header(seq, header);
    if (have_header && header.order_id != 0) h["order_id"] = header.order_id;
    if (reasons && static_cast<RecordType>(e.other) == RecordType::points_accrued) {
      ipc::Reason text{};
      if (s.get(s.table("reasons"), journal::key_u64_u64(user, seq), text) == Lookup::found &&
          !text.view().empty())
        h["reason"] = text.view();
    } else if (with_reasons && e.reason != 0) {
      h["reason"] = ipc::order_reason_name(static_cast<ipc::OrderReason>(e.reason));
    }
    h["balance"] = e.balance;
    h["at"] = have_header ? json::value(json::string(format_rfc3339(header.time_ns)))
                          : json::value(nullptr);
    history.push_back(std::move(h));
  }
  json::object o;
  o["balance"] = balance.balance;
  o["history"] = std::move(history);
  if (next != 0) o["next"] = make_cursor(next);
  ex->respond(json_response(200, o));
}

}  // namespace

void Api::accrue_points(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  std::int64_t amount = 0;
  std::string reason;
  f.required(f.integer("amount", 1, money_max, amount), "amount");
  f.text("reason", reason_size_bytes, false, reason);
  if (!f.ok()) return ex->respond(f.error());
  if (!require_user(store_, ex, p.id)) return;
  ipc::AccruePointsBody b{};
  b.user_id = p.id;
  b.amount = amount;
  b.reason.assign(reason);
  const auto m = ipc::make_message(MessageType::accrue_points, Domain::port, Domain::point, b);
  command(ex, Domain::point, m, MessageType::command_reply, [ex](const ipc::Message& reply) {
    const auto r = ipc::body_as<CommandReplyBody>(reply);
    if (r.result != static_cast<std::uint16_t>(CommandResult::ok)) {
      CommandText t;
      t.field = point_field;
      Response resp = command_error(r, t);
      if (r.result == static_cast<std::uint16_t>(CommandResult::invalid_field) &&
          r.field == domains::point_field::amount)
        resp = error_response(422, "invalid_field",
                              "amount would take the balance past its maximum", "amount");
      return ex->respond(std::move(resp));
    }
    json::object o;
    o["balance"] = r.value;
    ex->respond(json_response(201, o));
  });
}

void Api::get_points(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  respond_ledger<domains::PointAccount>(store_, req, ex, p.id, Domain::point, "accounts",
                                        point_kind, true);
}

void Api::deposit(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  Response error;
  auto body = parse_object(req.body, false, &error);
  if (!body) return ex->respond(std::move(error));
  Fields f(*body);
  std::int64_t amount = 0;
  f.required(f.integer("amount", 1, money_max, amount), "amount");
  if (!f.ok()) return ex->respond(f.error());
  if (!require_user(store_, ex, p.id)) return;
  ipc::DepositBody b{};
  b.user_id = p.id;
  b.amount = amount;
  const auto m = ipc::make_message(MessageType::deposit, Domain::port, Domain::payment, b);
  command(ex, Domain::payment, m, MessageType::command_reply, [ex](const ipc::Message& reply) {
    const auto r = ipc::body_as<CommandReplyBody>(reply);
    if (r.result != static_cast<std::uint16_t>(CommandResult::ok)) {
      CommandText t;
      t.field = payment_field;
      Response resp = command_error(r, t);
      if (r.result == static_cast<std::uint16_t>(CommandResult::invalid_field) &&
          r.field == domains::payment_field::amount)
        resp = error_response(422, "invalid_field",
                              "amount would take the balance past its maximum", "amount");
      return ex->respond(std::move(resp));
    }
    json::object o;
    o["balance"] = r.value;
    ex->respond(json_response(201, o));
  });
}

void Api::get_wallet(const Request& req, const PathParams& p, const ExchangePtr& ex) {
  respond_ledger<domains::Wallet>(store_, req, ex, p.id, Domain::payment, "wallets", wallet_kind,
                                  false);
}

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

// --- Operations --------------------------------------------------------------------------------------

void Api::healthz(const Request&, const PathParams&, const ExchangePtr& ex) {
  json::object domains;
  bool healthy = true;
  const std::int64_t now = mono_now_ns();
  for (std::uint8_t d = 1; d <= domain_count; ++d) {
    const auto domain = static_cast<Domain>(d);
    ipc::DomainStatus& st = deployment_.status(domain);
    const auto state = static_cast<ipc::DomainState>(st.state.load(std::memory_order_acquire));
    const std::int64_t beat = st.heartbeat_ns.load(std::memory_order_acquire);
    std::string_view shown = ipc::domain_state_name(state);
    bool ok = state == ipc::DomainState::ready;
    if (ok && (beat == 0 || now - beat > heartbeat_stale_ns)) {
      ok = false;
      shown = "unresponsive";
    }
    healthy = healthy && ok;
    domains[ipc::domain_name(domain)] = shown;
  }
  json::object o;
  o["status"] = healthy ? "ok" : "unavailable";
  o["domains"] = std::move(domains);
  Response r = json_response(healthy ? 200 : 503, o);
  if (!healthy) r.retry_after_s = 1;
  ex->respond(std::move(r));
}

void Api::metrics(const Request&, const PathParams&, const ExchangePtr& ex) {
  Response r;
  r.status = 200;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  observe_orders();
  sale_.update(store_);
  r.body = metrics_.render(deployment_, store_, gateway_ports_, idempotency_.size(),
                           idempotency_.replays());
  r.body += render_ops_metrics(deployment_, store_, config_, sale_);
  ex->respond(std::move(r));
}

}  // namespace flashsaga::gateway
