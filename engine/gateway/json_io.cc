#include "engine/gateway/json_io.h"

#include <algorithm>
#include <cmath>

#include "engine/base/clock.h"
#include "engine/base/limits.h"

namespace flashsaga::gateway {
namespace {

bool has_control(std::string_view s) noexcept {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// The text with every byte that is not part of well-formed UTF-8 (or is a control character)
// replaced by '?': error messages echo client input (paths, ids), and an answer must be JSON.
std::string clean_text(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    std::size_t n = 0;
    if (c >= 0x20 && c < 0x7f) {
      n = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
    }
    bool ok = n != 0 && i + n <= in.size();
    for (std::size_t k = 1; ok && k < n; ++k)
      ok = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
    if (ok && n == 3) {
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
    }
    if (ok && n == 4) {
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    out.append(in.substr(i, n));
    i += n;
  }
  return out;
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
  return "between " + std::to_string(lo) + " and " + std::to_string(hi);
}

}  // namespace

// --- Answers ---------------------------------------------------------------------------------

Response json_response(int status, const json::value& body) {
  Response r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field, const json::object* extra) {
  json::object o;
  o["error"] = code;
  o["message"] = clean_text(message);
  if (!field.empty()) o["field"] = clean_text(field);
  if (extra)
    for (const auto& kv : *extra) o[kv.key()] = kv.value();
  Response r = json_response(status, o);
  if (status == 503) r.retry_after_s = 1;
  return r;
}

Response unavailable_response(std::string_view message) {
  return error_response(503, "unavailable", message);
}

Response overloaded_response(std::string_view message) {
  return error_response(503, "overloaded", message);
}

Response not_found_response(std::string_view message, std::string_view field) {
  return error_response(404, "not_found", message, field);
}

Response internal_error_response(std::string_view message) {
  return error_response(500, "internal", message);
}

// --- Requests --------------------------------------------------------------------------------

std::optional<json::object> parse_object(const std::string& body, bool allow_empty,
                                         Response* error) {
  bool blank = true;
  for (const char c : body)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') blank = false;
  if (blank) {
    if (allow_empty) return json::object{};
    *error = error_response(400, "bad_json", "the request body must be a JSON object; it is empty");
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;
  json::value v = json::parse(body, ec, json::storage_ptr(), options);
  if (ec) {
    *error = error_response(400, "bad_json", "the request body is not valid JSON: " + ec.message());
    return std::nullopt;
  }
  if (!v.is_object()) {
    *error = error_response(422, "invalid_field", "the request body must be a JSON object");
    return std::nullopt;
  }
  return std::move(v.get_object());
}

bool json_integer(const json::value& v, std::int64_t& out) {
  if (const std::int64_t* i = v.if_int64()) {
    out = *i;
    return true;
  }
  if (const std::uint64_t* u = v.if_uint64()) {
    if (*u > static_cast<std::uint64_t>(INT64_MAX)) return false;
    out = static_cast<std::int64_t>(*u);
    return true;
  }
  if (const double* d = v.if_double()) {
    constexpr double exact_max = 9007199254740992.0;  // 2^53
    if (!std::isfinite(*d) || std::trunc(*d) != *d || std::fabs(*d) > exact_max) return false;
    out = static_cast<std::int64_t>(*d);
    return true;
  }
  return false;
}

std::string Fields::path(std::string_view key) const {
  if (prefix_.empty()) return std::string(key);
  return prefix_ + "." + std::string(key);
}

const json::value* Fields::find(std::string_view key) const {
  return object_.if_contains(key);
}

void Fields::invalid_path(const std::string& path, const std::string& message) {
  if (failed_) return;
  failed_ = true;
  error_ = error_response(422, "invalid_field", message, path);
}

void Fields::adopt(const Fields& nested) {
  if (failed_ || nested.ok()) return;
  failed_ = true;
  error_ = nested.error();
}

void Fields::invalid(std::string_view key, const std::string& message) {
  invalid_path(path(key), message);
}

bool Fields::required(Got g, std::string_view key) {
  if (g == Got::absent || g == Got::null) {
    invalid(key, path(key) + " is required");
    return false;
  }
  return g == Got::value;
}

Fields::Got Fields::integer(std::string_view key, std::int64_t lo, std::int64_t hi,
                            std::int64_t& out) {
  const json::value* v = find(key);
  if (!v) return Got::absent;
  if (v->is_null()) return Got::null;
  std::int64_t n = 0;
  if (!json_integer(*v, n)) {
    invalid(key, path(key) + " must be an integer " + range_text(lo, hi));
    return Got::bad;
  }
  if (n < lo || n > hi) {
    invalid(key, path(key) + " must be " + range_text(lo, hi) + "; it is " + std::to_string(n));
    return Got::bad;
  }
  out = n;
  return Got::value;
}

Fields::Got Fields::id(std::string_view key, std::uint64_t& out) {
  const json::value* v = find(key);
  if (!v) return Got::absent;
  if (v->is_null()) return Got::null;
  std::int64_t n = 0;
  if (!json_integer(*v, n) || n < 1 || static_cast<std::uint64_t>(n) > json_id_max) {
    invalid(key, path(key) + " must be a positive integer id");
    return Got::bad;
  }
  out = static_cast<std::uint64_t>(n);
  return Got::value;
}

Fields::Got Fields::text(std::string_view key, std::size_t max_bytes, bool name, std::string& out) {
  const json::value* v = find(key);
  if (!v) return Got::absent;
  if (v->is_null()) return Got::null;
  const json::string* s = v->if_string();
  if (!s) {
    invalid(key, path(key) + " must be a string");
    return Got::bad;
  }
  if (s->size() > max_bytes) {
    invalid(key, path(key) + " must be at most " + std::to_string(max_bytes) + " bytes long");
    return Got::bad;
  }
  if (name && s->empty()) {
    invalid(key, path(key) + " must not be empty");
    return Got::bad;
  }
  if (has_control(*s)) {
    invalid(key, path(key) + " must not contain control characters");
    return Got::bad;
  }
  out.assign(s->data(), s->size());
  return Got::value;
}

Fields::Got Fields::boolean(std::string_view key, bool& out) {
  const json::value* v = find(key);
  if (!v) return Got::absent;
  if (v->is_null()) return Got::null;
  const bool* b = v->if_bool();
  if (!b) {
    invalid(key, path(key) + " must be true or false");
    return Got::bad;
  }
  out = *b;
  return Got::value;
}

Fields::Got Fields::time(std::string_view key, std::int64_t& out_wall_ns) {
  const json::value* v = find(key);
  if (!v) return Got::absent;
  if (v->is_null()) return Got::null;
  const json::string* s = v->if_string();
  std::int64_t ns = 0;
  if (!s || !parse_rfc3339(std::string(s->data(), s->size()), ns) || ns <= 0) {
    invalid(key, path(key) + " must be an RFC 3339 time such as \"2026-11-25T10:00:00Z\", or null");
    return Got::bad;
  }
  out_wall_ns = ns;
  return Got::value;
}

// --- Rows --------------------------------------------------------------------------------------

json::value time_or_null(std::int64_t wall_ns) {
  if (wall_ns == 0) return nullptr;
  return json::string(format_rfc3339(wall_ns));
}

json::object user_json(const domains::UserRow& row) {
  json::object o;
  o["id"] = row.id;
  o["name"] = row.name.view();
  o["email"] = row.email.view();
  o["blocked"] = row.blocked != 0;
  return o;
}

json::object product_json(const domains::ProductRow& row, ipc::Deployment& deployment) {
  // Live stock: `available` is the shared-memory counter that reservations CAS; `sold` is the
  // product domain's journal; whatever is neither is held by live reservations.
  std::int64_t available = row.total - row.reserved - row.sold;
  if (row.id < deployment.geometry().products_max) {
    ipc::StockSlot& slot = deployment.stock(static_cast<std::uint32_t>(row.id));
    if (slot.exists.load(std::memory_order_acquire) != 0)
      available = slot.available.load(std::memory_order_acquire);
  }
  available =
      std::clamp<std::int64_t>(available, 0, std::max<std::int64_t>(row.total - row.sold, 0));
  const std::int64_t reserved = std::max<std::int64_t>(row.total - row.sold - available, 0);
  json::object stock;
  stock["available"] = available;
  stock["reserved"] = reserved;
  stock["sold"] = row.sold;
  json::object o;
  o["id"] = row.id;
  o["name"] = row.name.view();
  o["price"] = row.price;
  o["stock"] = std::move(stock);
  if (row.max_per_user == 0) {
    o["max_per_user"] = nullptr;
  } else {
    o["max_per_user"] = row.max_per_user;
  }
  o["sale_starts_at"] = time_or_null(row.sale_starts_ns);
  o["sale_ends_at"] = time_or_null(row.sale_ends_ns);
  return o;
}

json::object template_json(const domains::TemplateRow& row) {
  json::object o;
  o["id"] = row.id;
  o["name"] = row.name.view();
  o["kind"] = row.kind == static_cast<std::uint8_t>(ipc::CouponKind::percent) ? "percent" : "fixed";
  o["value"] = row.value;
  if (row.max_discount == 0) {
    o["max_discount"] = nullptr;
  } else {
    o["max_discount"] = row.max_discount;
  }
  o["min_order_amount"] = row.min_order_amount;
  o["expires_at"] = time_or_null(row.expires_at_ns);
  if (row.quantity == 0) {
    o["quantity"] = nullptr;
  } else {
    o["quantity"] = row.quantity;
  }
  o["issued"] = row.issued;
  return o;
}

json::object coupon_json(const domains::CouponRow& row, bool expired) {
  json::object o;
  o["id"] = row.id;
  o["template_id"] = row.template_id;
  o["user_id"] = row.user_id;
  o["state"] = expired ? std::string_view("expired")
                       : domains::coupon_state_name(static_cast<domains::CouponState>(row.state));
  if (row.order_id != 0) o["order_id"] = row.order_id;
  return o;
}

}  // namespace flashsaga::gateway
