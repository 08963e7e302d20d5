// json_io: reading request bodies and writing answers with Boost.JSON.
//
// PRIVATE to the gateway's JSON translation units (json_io.cc, routes.cc, orders.cc): it
// includes Boost.JSON, so nothing else may include it (see STYLE: keep heavy headers out of
// shared headers).
//
// Fields reads one JSON object field by field and keeps the first problem it finds, with the
// JSON path of the field at fault ("items[2].quantity"), so a handler validates everything
// and answers 422 with one precise message. Integers are JSON numbers without a fraction
// (1e3 is 1000; 1.5 and "1" are refused); texts are strings (the parser guarantees UTF-8).
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domains/rows.h"
#include "ipc/deployment.h"
#include "engine/gateway/exchange.h"

namespace flashsaga::gateway {

namespace json = boost::json;

// Largest id the API hands out or accepts: JSON numbers are exact below 2^53.
inline constexpr std::uint64_t json_id_max = (std::uint64_t{1} << 53) - 1;

// --- Answers ---------------------------------------------------------------------------------

Response json_response(int status, const json::value& body);
// {"error": code, "message": message, "field": field (when not empty)} plus `extra` members.
Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field = {}, const json::object* extra = nullptr);
Response unavailable_response(std::string_view message);  // 503 unavailable, Retry-After
Response overloaded_response(std::string_view message);   // 503 overloaded, Retry-After
Response not_found_response(std::string_view message, std::string_view field = {});
Response internal_error_response(std::string_view message);

// --- Requests --------------------------------------------------------------------------------

// Parses the body as a JSON object. `allow_empty`: an empty body reads as {}.
// On failure returns nullopt and sets *error (400 bad_json, or 422 when not an object).
std::optional<json::object> parse_object(const std::string& body, bool allow_empty,
                                         Response* error);

class Fields {
 public:
  enum class Got : std::uint8_t { absent = 0, null = 1, value = 2, bad = 3 };

  explicit Fields(const json::object& object, std::string prefix = {})
      : object_(object), prefix_(std::move(prefix)) {}

  Got integer(std::string_view key, std::int64_t lo, std::int64_t hi, std::int64_t& out);
  Got id(std::string_view key, std::uint64_t& out);  // 1 .. json_id_max
  // A string of at most max_bytes bytes; `name`: also 1+ bytes and no control characters.
  Got text(std::string_view key, std::size_t max_bytes, bool name, std::string& out);
  Got boolean(std::string_view key, bool& out);
  Got time(std::string_view key, std::int64_t& out_wall_ns);  // RFC 3339, after 1970
  const json::value* find(std::string_view key) const;

  // Records "<path> is required" when g is absent or null (a required field); true if a value.
  bool required(Got g, std::string_view key);
  // Records a problem with a field (the first one wins).
  void invalid(std::string_view key, const std::string& message);
  void invalid_path(const std::string& path, const std::string& message);
  // Takes over the first problem of a nested object's reader, if this one has none yet.
  void adopt(const Fields& nested);

  std::string path(std::string_view key) const;
  bool ok() const noexcept { return !failed_; }
  const Response& error() const noexcept { return error_; }

 private:
  const json::object& object_;
  std::string prefix_;
  bool failed_ = false;
  Response error_;
};

// Integer value of a JSON number without a fraction; false for anything else.
bool json_integer(const json::value& v, std::int64_t& out);

// --- Rows as the API shows them -----------------------------------------------------------------

json::value time_or_null(std::int64_t wall_ns);  // 0: null
json::object user_json(const domains::UserRow& row);
json::object product_json(const domains::ProductRow& row, ipc::Deployment& deployment);
json::object template_json(const domains::TemplateRow& row);
// `expired`: the coupon is available and its template has expired (API state "expired").
json::object coupon_json(const domains::CouponRow& row, bool expired);

}  // namespace flashsaga::gateway
