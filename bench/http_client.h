// http_client: a small HTTP/1.1 client with keep-alive, for the demo and the benchmark's HTTP
// driver. Two shapes:
//
//   HttpClient  one blocking connection per object; not thread-safe (one per thread).
//   HttpLoad    many keep-alive connections driven from one thread with epoll, each with up to
//               `pipeline` requests in flight (HTTP/1.1 pipelining: sent in one write, answered
//               in order; 1 by default): the load generator of `flashsaga bench --driver
//               http`. Closed loop (send as soon as a connection is free) or open loop (request
//               i is due at start + i / rate; latency counts from that intended time, so a stalled
//               server cannot hide its stall by slowing the client down).
//
// Responses are framed by Content-Length (what the gateway sends); chunked bodies are not
// supported. No TLS, IPv4 literal addresses only.
//
//   HttpClient http("127.0.0.1", 8080);
//   HttpResponse r = http.request("POST", "/users", R"({"name":"Kim","email":"k@x.io"})");
//   if (r.status == 201) ...
//
//   HttpLoadPlan plan{.host = "127.0.0.1", .port = 8080, .connections = 64, .requests = 100000};
//   HttpLoad::run(plan, [](std::uint64_t i, std::string& out) { out = format_request(...); },
//                 [](const HttpLoadAnswer& a) { ... a.status, a.body ... }, &error);
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flashsaga::bench {

struct HttpResponse {
  int status = 0;  // 0: the connection failed (see error)
  std::string body;
  std::string error;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// The bytes of one request (Host, Content-Type and Content-Length added for a body or a POST).
std::string format_request(const std::string& method, const std::string& target,
                           const std::string& host, const std::string& body = "",
                           const HttpHeaders& headers = {});

// Parses one response from the front of `buffer`; on `complete` fills `out` and erases the
// response from `buffer`. `bad`: not HTTP, or larger than the client accepts.
enum class ParseResult : std::uint8_t { incomplete = 0, complete = 1, bad = 2 };
ParseResult parse_response(std::string& buffer, HttpResponse& out);

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port, int timeout_ms = 35'000);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request (reconnecting once if the kept-alive connection was closed) and reads the
  // whole response. Extra headers as (name, value) pairs.
  HttpResponse request(const std::string& method, const std::string& target,
                       const std::string& body = "", const HttpHeaders& headers = {});

 private:
  bool connect_once(std::string* error);
  void close_socket();
  bool send_all(const std::string& data);
  bool read_response(HttpResponse& out);

  std::string host_;
  std::uint16_t port_;
  int timeout_ms_;
  int fd_ = -1;
  std::string buffer_;
};

// --- HttpLoad ---------------------------------------------------------------------------------

inline constexpr std::uint32_t http_load_connections_max = 4096;
inline constexpr std::uint32_t http_load_pipeline_max = 1024;

struct HttpLoadPlan {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::uint32_t connections = 64;  // 1..http_load_connections_max
  std::uint32_t pipeline = 1;      // requests in flight per connection, 1..http_load_pipeline_max
  std::uint64_t requests = 0;      // in all
  double rate = 0;                 // > 0: open loop at this many requests/s
  int timeout_ms = 35'000;         // an unanswered request fails (status 0) after this
};

// One answered (or failed) request. Times are CLOCK_MONOTONIC ns (engine/base/clock.h mono_now_ns).
struct HttpLoadAnswer {
  std::uint64_t index = 0;       // 0..requests-1
  int status = 0;                // 0: connection failed or timed out
  std::string_view body;         // valid during the callback only
  std::int64_t intended_ns = 0;  // open loop: when it was due; closed loop: = sent_ns
  std::int64_t sent_ns = 0;
  std::int64_t answered_ns = 0;
};

class HttpLoad {
 public:
  // Writes the bytes of request `index` into `out` (called once per request, in order).
  using MakeRequest = std::function<void(std::uint64_t index, std::string& out)>;
  using OnAnswer = std::function<void(const HttpLoadAnswer&)>;

  // Runs the plan on the calling thread until every request is answered or failed; every
  // request gets exactly one on_answer. A connection that breaks fails its request and is
  // reopened (at most reconnects_max times in all). Returns false (with `error`) if no
  // connection could be opened at all; then no request was sent.
  static bool run(const HttpLoadPlan& plan, const MakeRequest& make, const OnAnswer& on_answer,
                  std::string* error);

  static constexpr std::uint32_t reconnects_max = 10'000;
};

}  // namespace flashsaga::bench
