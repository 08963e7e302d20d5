// http_client: a small blocking HTTP/1.1 client with keep-alive, for the demo and the
// benchmark's HTTP driver. One connection per object; not thread-safe (one per thread).
//
//   HttpClient http("127.0.0.1", 8080);
//   HttpResponse r = http.request("POST", "/users", R"({"name":"Kim","email":"k@x.io"})");
//   if (r.status == 201) ...
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace flashsaga::bench {

struct HttpResponse {
  int status = 0;          // 0: the connection failed (see error)
  std::string body;
  std::string error;
};

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port, int timeout_ms = 35'000);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request (reconnecting once if the kept-alive connection was closed) and reads the
  // whole response. Extra headers as (name, value) pairs.
  HttpResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                       const std::vector<std::pair<std::string, std::string>>& headers = {});

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

}  // namespace flashsaga::bench
