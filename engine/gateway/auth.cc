#include "engine/gateway/auth.h"

#include <unistd.h>

#include <cstdio>

namespace flashsaga::gateway {
namespace {

enum class Credential { none, wrong, valid };

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// What the Authorization header presents: no bearer token at all, or one to compare.
Credential credential(const engine::Config& config, const Request& request) {
  if (!request.has_authorization) return Credential::none;
  std::string_view v = request.authorization;
  const std::size_t space = v.find(' ');
  if (space == std::string_view::npos || !ascii_iequals(v.substr(0, space), "Bearer"))
    return Credential::none;
  v.remove_prefix(space);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return Credential::none;
  return tokens_equal(config.operator_token, v) ? Credential::valid : Credential::wrong;
}

// The API's error shape ({error, message}); fixed texts, so no JSON escaping is needed.
Response refusal(Credential c) {
  Response r;
  if (c == Credential::none) {
    r.status = 401;
    r.body = R"({"error":"unauthorized","message":"this route is for the operator: send )"
             R"(Authorization: Bearer <operator token>"})";
  } else {
    r.status = 403;
    r.body = R"({"error":"forbidden","message":"the operator token is wrong"})";
  }
  return r;
}

}  // namespace

bool tokens_equal(std::string_view expected, std::string_view presented) noexcept {
  // Every byte of `expected` is visited whatever `presented` holds; no early exit.
  unsigned diff = expected.size() == presented.size() ? 0u : 1u;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= static_cast<unsigned>(static_cast<unsigned char>(expected[i]) ^ p);
  }
  volatile unsigned sink = diff;  // keeps the loop from being cut short
  return sink == 0 && !expected.empty();
}

std::optional<Response> operator_refusal(const engine::Config& config, const Request& request) {
  if (config.operator_token.empty()) return std::nullopt;
  const Credential c = credential(config, request);
  if (c == Credential::valid) return std::nullopt;
  return refusal(c);
}

bool authorize_cancel(const engine::Config& config, const Request& request, std::string& reason,
                      const ExchangePtr& ex) {
  if (config.operator_token.empty()) return true;
  const Credential c = credential(config, request);
  const bool asks_operator = reason == "cancelled_by_operator" || reason == "operator";
  if (c == Credential::valid) {
    reason = "cancelled_by_operator";
    return true;
  }
  if (c == Credential::wrong || asks_operator) {
    ex->respond(refusal(c));
    return false;
  }
  return true;  // a buyer's own cancel
}

void warn_if_exposed(const engine::Config& config) {
  if (!config.operator_token.empty()) return;
  const std::string& a = config.http_address;
  if (a.rfind("127.", 0) == 0 || a == "::1" || a == "localhost") return;
  std::fprintf(
      stderr,
      "flashsaga gateway[%d]: WARNING: listening on %s WITHOUT an operator token: anyone who "
      "reaches this port can create products, restock, deposit money and cancel any order. "
      "Set auth.operator_token_file (docs/api-extensions.md).\n",
      static_cast<int>(::getpid()), a.c_str());
}

}  // namespace flashsaga::gateway
