// routes: the route table, dispatch (idempotency, 404/405), the helpers every resource shares
// (routes_internal.h) and the operations routes. The resources: accounts.cc (users, points,
// wallets), catalog.cc (coupons, products), orders.cc (orders, payments).
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

using ipc::CommandReplyBody;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

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

// --- Lists and command replies (routes_internal.h) -------------------------------------------

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

Lookup user_exists(Store& store, std::uint64_t id) {
  Snapshot s;
  if (!store.begin(Domain::user, s)) return Lookup::unavailable;
  domains::UserRow row{};
  return s.get(s.table("users"), journal::key_u64(id), row);
}

// 404 or 503 for a user that is not there (path parameter); true if the user exists.
bool require_user(Store& store, const ExchangePtr& ex, std::uint64_t id) {
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
