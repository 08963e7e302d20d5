// exchange: one HTTP request and its answer, as the gateway's API layer sees them.
//
// The server (server.cc, the only file that knows Beast and Asio) parses a request into a
// Request, hands it to Api::handle with an Exchange, and writes the Response the API gives
// back. The API never sees a socket: it answers through Exchange::respond, possibly later and
// from another thread (a port callback), and defers work onto the connection's strand with
// post / post_after (replies from the domains, long-poll re-checks).
//
// Guarantees: respond() takes effect once; later calls are ignored. post() and post_after()
//   run their function on the connection's I/O thread, never inline in the caller. All three
//   may be called from any thread. An Exchange lives as long as someone holds it (shared_ptr).
//   `port` is the ingress port of the connection's I/O thread (each I/O thread owns one): use
//   it from that thread only (handle(), post(), post_after() and port callbacks run there).
//
// OrderReplies is the hot path of POST /orders (no Idempotency-Key): the server hands the API
// a token instead of an Exchange, and the API answers through one of three calls, once per
// token, on the I/O thread that owns `port`. accepted() and sold_out() are written from
// preformatted templates (no Response, no allocation). A token whose connection has closed is
// ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace flashsaga::engine {
class Port;
struct PortReply;
}  // namespace flashsaga::engine

namespace flashsaga::gateway {
class Api;
}  // namespace flashsaga::gateway

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
  bool has_authorization = false;  // the first Authorization header, as sent
  std::string authorization;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string allow;      // 405: the methods the route allows
  int retry_after_s = 0;  // 503: seconds a client should wait before retrying
  bool replayed = false;  // the stored answer to an earlier request with this Idempotency-Key
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void respond(Response response) = 0;
  virtual void post(std::function<void()> fn) = 0;
  virtual void post_after(std::int64_t delay_ms, std::function<void()> fn) = 0;
  // The route pattern (metrics label), set by the API before it answers.
  std::string_view route = "unmatched";
  engine::Port* port = nullptr;
};
using ExchangePtr = std::shared_ptr<Exchange>;

// An Idempotency-Key entry in progress (engine/gateway/idempotency.h): the key as the table
// holds it (stable until the entry is finished) and the request's fingerprint.
struct IdempotencyTicket {
  const std::string* key = nullptr;
  std::uint64_t fingerprint = 0;
};

class OrderReplies;

// What a submitted hot-path order needs when its reply comes: where to answer, and the
// idempotency entry to settle. Pooled per I/O thread; the port callback carries a pointer.
struct OrderContext {
  Api* api = nullptr;
  OrderReplies* replies = nullptr;
  IdempotencyTicket ticket;
};

class OrderReplies {
 public:
  virtual ~OrderReplies() = default;
  // 202 {"id":order_id,"status":"PENDING"}
  virtual void accepted(std::uint64_t token, std::uint64_t order_id) = 0;
  // 409 {"error":"sold_out","message":"product N is sold out","product_id":N}
  virtual void sold_out(std::uint64_t token, std::uint32_t product_id) = 0;
  // Any other answer (route /orders).
  virtual void answer(std::uint64_t token, const Response& response) = 0;
  // The same, from any thread (an idempotency waiter runs where the first request finishes).
  virtual void answer_from_any_thread(std::uint64_t token, const Response& response) = 0;
  // A context from this thread's pool (nullptr when all are in use), and its return.
  virtual OrderContext* acquire() = 0;
  virtual void release(OrderContext* context) = 0;
  engine::Port* port = nullptr;
};

}  // namespace flashsaga::gateway
