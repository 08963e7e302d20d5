// auth: the operator token (config auth.operator_token_file) and who may call what.
//
// Requires: a Config loaded by engine::load_config (which read and checked the token file).
// Guarantees:
//   - with no token configured, every check answers "go on": behaviour is exactly as without
//     this file;
//   - with one, an operator-only request without `Authorization: Bearer <token>` is refused
//     401 `unauthorized`, one with another token 403 `forbidden`, in the API's error shape;
//   - the token is compared in time that depends only on the configured token's length.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/config.h"
#include "engine/gateway/exchange.h"

namespace flashsaga::gateway {

enum class Access { open, operator_only };

// Byte equality in time independent of where the strings differ.
bool tokens_equal(std::string_view expected, std::string_view presented) noexcept;
// The refusal (401/403) for an operator-only request, or nothing when it may go on.
std::optional<Response> operator_refusal(const engine::Config& config, const Request& request);
// POST /orders/{id}/cancel: with a token configured, a request carrying it cancels as the
// operator (reason becomes cancelled_by_operator); one asking for the operator's reason
// without it, or carrying a wrong token, is refused (answered here, returns false).
bool authorize_cancel(const engine::Config& config, const Request& request, std::string& reason,
                      const ExchangePtr& ex);
// A loud line on stderr when the gateway listens beyond loopback without a token.
void warn_if_exposed(const engine::Config& config);

}  // namespace flashsaga::gateway
