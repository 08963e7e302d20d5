// order_answers: the bodies of the order hot path's two common answers, written from templates
// into a caller's buffer (no allocation, no JSON library).
//
// Requires: `out` has order_answer_bytes_max bytes.
// Guarantees: the bytes are exactly what the general path's JSON writer produces for the same
//   answer (Boost.JSON's serialize of json_io.h's objects), so a stored answer replayed to an
//   Idempotency-Key repeat and a templated one cannot differ; returns the length written.
//
// Example:
//   char body[order_answer_bytes_max];
//   const std::string_view b(body, accepted_body(body, 42));  // {"id":42,"status":"PENDING"}
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace flashsaga::gateway {

inline constexpr std::size_t order_answer_bytes_max = 160;

namespace detail {
inline std::size_t join(char* out, std::initializer_list<std::string_view> parts) noexcept {
  std::size_t n = 0;
  for (const std::string_view part : parts) {
    std::copy(part.begin(), part.end(), out + n);
    n += part.size();
  }
  return n;
}
}  // namespace detail

// 202: {"id":N,"status":"PENDING"}
inline std::size_t accepted_body(char* out, std::uint64_t order_id) noexcept {
  char id[24];
  const auto end = std::to_chars(id, id + sizeof id, order_id).ptr;
  const std::string_view digits(id, static_cast<std::size_t>(end - id));
  return detail::join(out, {"{\"id\":", digits, ",\"status\":\"PENDING\"}"});
}

// 409: {"error":"sold_out","message":"product N is sold out","product_id":N}
inline std::size_t sold_out_body(char* out, std::uint32_t product_id) noexcept {
  char id[16];
  const auto end = std::to_chars(id, id + sizeof id, product_id).ptr;
  const std::string_view digits(id, static_cast<std::size_t>(end - id));
  return detail::join(out, {"{\"error\":\"sold_out\",\"message\":\"product ", digits,
                            " is sold out\",\"product_id\":", digits, "}"});
}

}  // namespace flashsaga::gateway
