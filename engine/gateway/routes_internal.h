// routes_internal: small helpers shared by routes.cc and orders.cc (no Boost here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/gateway/auth.h"  // operator token checks, used by routes.cc and orders.cc
#include "engine/gateway/idempotency.h"
#include "engine/gateway/store.h"

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

}  // namespace flashsaga::gateway
