// routes_internal: what the route files (routes.cc, accounts.cc, catalog.cc, orders.cc) share:
// parsing helpers, list pages, command answers (no Boost here).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "engine/gateway/auth.h"  // operator token checks, used by the route files
#include "engine/gateway/exchange.h"
#include "engine/gateway/idempotency.h"
#include "engine/gateway/store.h"
#include "ipc/message.h"

namespace flashsaga::gateway {

// Decimal digits only (no sign, no spaces), value <= max.
bool parse_decimal(std::string_view text, std::uint64_t max, std::uint64_t& out);
// The value of `key` in a query string, percent-decoded; the last occurrence wins.
std::optional<std::string> query_param(std::string_view query, std::string_view key);
// List cursors (`next`, `?after=`): opaque to clients.
std::string make_cursor(std::uint64_t key);
bool parse_cursor(std::string_view text, std::uint64_t& out);
// An Idempotency-Key the API accepts: 1 to 255 visible ASCII characters.
bool valid_idempotency_key(const std::string& key);
// The answer to a POST whose key was refused (`mismatch` or `busy`).
Response idempotency_refusal(Idempotency::Admit admit, const std::string& key);
// Whether a user exists in the user journal.
Lookup user_exists(Store& store, std::uint64_t id);

// 404 or 503 for a user that is not there (path parameter); true if the user exists.
bool require_user(Store& store, const ExchangePtr& ex, std::uint64_t id);

// A list's page: ?limit= (1..page_limit_max) and ?after= (a cursor).
struct Page {
  std::size_t limit = page_limit_default;
  std::uint64_t after = 0;  // cursor: the key of the last item of the previous page
};

// Reads ?limit= and ?after=; false with *error (422) when one is bad.
bool page_params(const Request& req, Page& page, Response* error);

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

// What a command's refusal says: its field's JSON path and the texts of its results.
struct CommandText {
  std::string_view (*field)(std::uint16_t) = nullptr;
  std::string not_found = "not found";
  std::string conflict = "conflict";
  std::string sold_out = "sold out";
};

// The answer to a command the domain refused (404, 409, 422, 503).
Response command_error(const ipc::CommandReplyBody& r, const CommandText& text);

}  // namespace flashsaga::gateway
