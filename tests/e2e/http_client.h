// A tiny blocking HTTP/1.1 client for the gateway's end-to-end tests: raw POSIX sockets, so a
// test can also send malformed bytes, dribble a request, or hold a connection idle.
//
// Guarantees: every call is bounded by the connection's timeout (SO_RCVTIMEO/SO_SNDTIMEO);
//   a response is read by its Content-Length (the gateway always sends one); a connection the
//   server closed reads as status 0.
//
// Recording: when FLASHSAGA_HTTP_RECORD names a file, every response read is appended to it as
//   one JSON line {"method","target","status","headers","body"} (the file is truncated at the
//   process's first record), for the OpenAPI validation step (tools/openapi/validate.mjs).
//   The method and target are those of the request line sent for that response; "" when the
//   bytes sent did not start one (malformed or dribbled requests).
//
// Example:
//   HttpResponse r = http_request(port, "POST", "/users", R"({"name":"A","email":"a@b.c"})");
//   EXPECT_EQ(r.status, 201);
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace flashsaga::testing {

struct HttpResponse {
  int status = 0;                              // 0: no response (closed, timed out, garbage)
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port, int timeout_ms = 20000);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const noexcept { return fd_ >= 0; }
  // Sends one request (Host and Content-Length added) and reads its response.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       const HttpHeaders& headers = {});
  // Writes bytes as they are; false if the socket refused them.
  bool send_raw(std::string_view bytes);
  // Reads one response; status 0 if the connection closed or timed out first. An interim
  // 100 Continue is skipped.
  HttpResponse read_response();
  // Waits (up to the timeout) for an interim "100 Continue" and consumes it; false if
  // another answer, a close or the timeout came first.
  bool await_continue();
  // True if the server closes the connection within timeout_ms (reads and drops any bytes).
  bool wait_closed(int timeout_ms);
  void close();

 private:
  bool fill();  // reads more bytes into buffer_; false on close, error or timeout
  void note_requests(std::string_view bytes);  // request lines sent, for recording
  int fd_ = -1;
  std::string buffer_;
  std::deque<std::pair<std::string, std::string>> sent_;  // (method, target) not yet answered
};

// Appends one exchange to the FLASHSAGA_HTTP_RECORD file (no-op when it is not set).
void record_exchange(std::string_view method, std::string_view target,
                     const HttpResponse& response);

// One request on a fresh connection.
HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body = {}, const HttpHeaders& headers = {});

// A TCP port nobody listens on right now (bound to port 0 and released).
std::uint16_t free_tcp_port();

}  // namespace flashsaga::testing
