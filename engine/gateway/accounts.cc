// accounts: the routes of users (POST/GET/PATCH /users), their points (accrual, balance,
// history) and their wallets (deposits, balance, history).
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

using domains::RecordType;
using ipc::CommandReplyBody;
using ipc::CommandResult;
using ipc::Domain;
using ipc::MessageType;

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

}  // namespace

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

}  // namespace flashsaga::gateway
