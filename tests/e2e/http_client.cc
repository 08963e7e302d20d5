#include "tests/e2e/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace flashsaga::testing {
namespace {

constexpr std::size_t response_bytes_max = 64u << 20;
constexpr std::size_t pending_requests_max = 1024;  // request lines remembered per connection
constexpr std::size_t request_line_bytes_max = 8192;

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

// "METHOD SP TARGET SP HTTP/1.x" at the start of `text`: (method, target), or empty strings.
std::pair<std::string, std::string> request_line(std::string_view text) {
  const std::size_t eol = text.find("\r\n");
  const std::string_view line = text.substr(0, std::min(eol, request_line_bytes_max));
  const std::size_t sp1 = line.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos) return {};
  for (std::size_t i = 0; i < sp1; ++i)
    if (line[i] < 'A' || line[i] > 'Z') return {};
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return {};
  if (line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) return {};
  return {std::string(line.substr(0, sp1)), std::string(line.substr(sp1 + 1, sp2 - sp1 - 1))};
}

void json_escape(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

void record_exchange(std::string_view method, std::string_view target,
                     const HttpResponse& response) {
  static std::mutex mutex;
  static int fd = -2;  // -2: not opened yet; -1: not recording
  std::lock_guard<std::mutex> lock(mutex);
  if (fd == -2) {
    const char* path = std::getenv("FLASHSAGA_HTTP_RECORD");
    constexpr int flags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC;
    fd = path && *path ? ::open(path, flags, 0644) : -1;
  }
  if (fd < 0 || response.status == 0) return;
  std::string line = "{\"method\":";
  json_escape(line, method);
  line += ",\"target\":";
  json_escape(line, target);
  line += ",\"status\":" + std::to_string(response.status) + ",\"headers\":{";
  bool first = true;
  for (const auto& [name, value] : response.headers) {
    if (!first) line += ',';
    first = false;
    json_escape(line, name);
    line += ':';
    json_escape(line, value);
  }
  line += "},\"body\":";
  json_escape(line, response.body);
  line += "}\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

HttpConnection::HttpConnection(std::uint16_t port, int timeout_ms) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  timeval tv{};
  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) close();
}

HttpConnection::~HttpConnection() {
  close();
}

void HttpConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// Every request line at a message boundary of what is sent (pipelined requests included).
void HttpConnection::note_requests(std::string_view bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    auto line = request_line(bytes.substr(at));
    if (!line.first.empty() && sent_.size() < pending_requests_max)
      sent_.push_back(std::move(line));
    const std::size_t end = bytes.find("\r\n\r\n", at);
    if (end == std::string_view::npos) break;
    at = end + 4;
  }
}

bool HttpConnection::send_raw(std::string_view bytes) {
  note_requests(bytes);
  while (fd_ >= 0 && !bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return fd_ >= 0;
}

bool HttpConnection::fill() {
  if (fd_ < 0) return false;
  char chunk[16384];
  for (;;) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return buffer_.size() <= response_bytes_max;
  }
}

bool HttpConnection::await_continue() {
  constexpr int fills_max = 1024;
  for (int i = 0; i < fills_max; ++i) {
    const std::size_t end = buffer_.find("\r\n\r\n");
    if (end != std::string::npos) {
      if (buffer_.rfind("HTTP/1.1 100", 0) != 0) return false;
      buffer_.erase(0, end + 4);
      return true;
    }
    if (!fill()) return false;
  }
  return false;
}

HttpResponse HttpConnection::read_response() {
  for (;;) {
    std::size_t end = buffer_.find("\r\n\r\n");
    while (end == std::string::npos) {
      if (!fill()) return {};
      end = buffer_.find("\r\n\r\n");
    }
    HttpResponse r;
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return {};
    r.status = std::atoi(status_line.c_str() + 9);
    while (line_end != std::string::npos) {
      const std::size_t next = head.find("\r\n", line_end + 2);
      const std::string line = head.substr(
          line_end + 2, next == std::string::npos ? std::string::npos : next - line_end - 2);
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos)
        r.headers[lower(line.substr(0, colon))] = trim(std::string_view(line).substr(colon + 1));
      line_end = next;
    }
    if (r.status == 100) continue;  // interim answer to Expect: 100-continue
    const std::size_t length =
        static_cast<std::size_t>(std::strtoull(r.header("content-length").c_str(), nullptr, 10));
    while (buffer_.size() < length)
      if (!fill()) return {};
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    std::pair<std::string, std::string> sent;
    if (!sent_.empty()) {
      sent = std::move(sent_.front());
      sent_.pop_front();
    }
    record_exchange(sent.first, sent.second, r);
    return r;
  }
}

HttpResponse HttpConnection::request(std::string_view method, std::string_view target,
                                     std::string_view body, const HttpHeaders& headers) {
  std::string req;
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.append(k).append(": ").append(v).append("\r\n");
    has_type = has_type || lower(k) == "content-type";
  }
  if (!body.empty() && !has_type) req.append("Content-Type: application/json\r\n");
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT")
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  req.append("\r\n").append(body);
  if (!send_raw(req)) return {};
  return read_response();
}

bool HttpConnection::wait_closed(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (fd_ >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
  return true;
}

HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body, const HttpHeaders& headers) {
  HttpConnection c(port);
  return c.request(method, target, body, headers);
}

std::uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace flashsaga::testing
