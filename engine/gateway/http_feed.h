// http_feed: one connection's input bytes through the server's request parser and the API,
// without a socket (for the fuzzers in tests/fuzz/ and for tests).
//
// Requires: an Api over an attached deployment, and the port its requests use: inline mode,
//   owned by the calling thread (as each I/O thread owns its port). One thread at a time.
// Guarantees:
//   - feed() reads `bytes` as the server reads a connection's input: the same parser and
//     error answers (request_parser.h), the header and body limits of config http.*, a
//     request that does not keep the connection alive ends the reading, bad input is answered
//     400/413/431 and ends it, and POST /orders without an Idempotency-Key tries
//     Api::place_order_fast() first. A request cut short by the end of the input is dropped,
//     as the server drops it at EOF;
//   - after the bytes, it runs the work the API posted and pumps the port, at most
//     settle_rounds_max rounds (post_after runs without waiting its delay), and returns one
//     Answer per request in order: answered, or not (a long poll still waiting, a reply that
//     did not come);
//   - request() is one parsed request through the same calls (the JSON-body fuzzer).
// Nothing here allocates per byte; every loop has a named bound.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.h"
#include "engine/gateway/exchange.h"

namespace flashsaga::gateway {

class Api;

inline constexpr std::uint32_t feed_requests_max = 256;   // requests read per feed()
inline constexpr std::uint32_t settle_rounds_max = 64;    // post/pump rounds after the input
inline constexpr std::size_t feed_posted_max = 1u << 12;  // posted functions held at once

struct FedAnswer {
  bool answered = false;
  int status = 0;
  std::string route;  // the route pattern (metrics label), "unparsed" for a parse error
  std::string body;
  std::string content_type;
};

class HttpFeed final : public OrderReplies {
 public:
  HttpFeed(Api& api, const engine::Config& config, engine::Port& port);
  ~HttpFeed() override;
  HttpFeed(const HttpFeed&) = delete;
  HttpFeed& operator=(const HttpFeed&) = delete;

  std::vector<FedAnswer> feed(std::string_view bytes);
  FedAnswer request(const Request& request);

  // Used by the feed's exchanges (public for them; not for callers).
  void answer_at(std::uint32_t seq, const Response& response, std::string_view route);
  bool defer(std::function<void()> fn);

  // OrderReplies
  void accepted(std::uint64_t token, std::uint64_t order_id) override;
  void sold_out(std::uint64_t token, std::uint32_t product_id) override;
  void answer(std::uint64_t token, const Response& response) override;
  void answer_from_any_thread(std::uint64_t token, const Response& response) override;
  OrderContext* acquire() override;
  void release(OrderContext* context) override;

 private:
  void dispatch(const Request& request, std::uint32_t seq);
  void settle();

  Api& api_;
  const engine::Config& config_;
  std::vector<FedAnswer> answers_;
  std::deque<std::function<void()>> posted_;
  std::deque<OrderContext> contexts_;
  std::vector<OrderContext*> free_contexts_;
};

}  // namespace flashsaga::gateway
