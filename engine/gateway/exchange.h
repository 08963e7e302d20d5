// exchange: one HTTP request and its answer, as the gateway's API layer sees them.
//
// The server (server.cc, the only file that knows Beast and Asio) parses a request into a
// Request, hands it to Api::handle with an Exchange, and writes the Response the API gives
// back. The API never sees a socket: it answers through Exchange::respond, possibly later and
// from another thread (a port callback), and defers work onto the connection's strand with
// post / post_after (replies from the domains, long-poll re-checks).
//
// Guarantees: respond() takes effect once; later calls are ignored. post() and post_after()
//   run their function on the connection's strand, never inline in the caller. All three may
//   be called from any thread. An Exchange lives as long as someone holds it (shared_ptr).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace flashsaga::gateway {

enum class Method : std::uint8_t { get, post, patch, put, del, head, options, other };

struct Request {
  Method method = Method::other;
  std::string target;  // as sent: path and query
  std::string path;    // before '?'
  std::string query;   // after '?', undecoded
  std::string body;
  bool has_idempotency_key = false;
  std::string idempotency_key;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string allow;          // 405: the methods the route allows
  int retry_after_s = 0;      // 503: seconds a client should wait before retrying
  bool replayed = false;      // the stored answer to an earlier request with this Idempotency-Key
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void respond(Response response) = 0;
  virtual void post(std::function<void()> fn) = 0;
  virtual void post_after(std::int64_t delay_ms, std::function<void()> fn) = 0;
  // The route pattern (metrics label), set by the API before it answers.
  std::string_view route = "unmatched";
};
using ExchangePtr = std::shared_ptr<Exchange>;

}  // namespace flashsaga::gateway
