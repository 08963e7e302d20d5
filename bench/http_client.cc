#include "bench/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flashsaga::bench {
namespace {

constexpr std::size_t response_bytes_max = 16u << 20;

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

HttpClient::HttpClient(std::string host, std::uint16_t port, int timeout_ms)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

HttpClient::~HttpClient() { close_socket(); }

void HttpClient::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool HttpClient::connect_once(std::string* error) {
  close_socket();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    *error = std::strerror(errno);
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) {
    *error = "bad address " + host_;
    close_socket();
    return false;
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = std::string("connect: ") + std::strerror(errno);
    close_socket();
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

bool HttpClient::send_all(const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool HttpClient::read_response(HttpResponse& out) {
  std::size_t header_end = std::string::npos;
  std::size_t content_length = 0;
  bool have_length = false;
  while (true) {
    if (header_end == std::string::npos) {
      header_end = buffer_.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const std::string head = buffer_.substr(0, header_end);
        if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return false;
        out.status = std::atoi(head.c_str() + 9);
        std::size_t pos = head.find("\r\n");
        while (pos != std::string::npos && pos < head.size()) {
          const std::size_t next = head.find("\r\n", pos + 2);
          const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
          const std::size_t colon = line.find(':');
          if (colon != std::string::npos && lower(line.substr(0, colon)) == "content-length") {
            content_length = std::strtoull(line.c_str() + colon + 1, nullptr, 10);
            have_length = true;
          }
          pos = next;
        }
        if (!have_length) content_length = 0;
        if (content_length > response_bytes_max) return false;
      }
    }
    if (header_end != std::string::npos && buffer_.size() >= header_end + 4 + content_length) {
      out.body = buffer_.substr(header_end + 4, content_length);
      buffer_.erase(0, header_end + 4 + content_length);
      return true;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms_) <= 0) return false;
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    if (buffer_.size() > response_bytes_max) return false;
  }
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH")
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  req += "\r\n" + body;
  HttpResponse out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0 && !connect_once(&out.error)) return out;
    buffer_.clear();
    if (send_all(req) && read_response(out)) return out;
    close_socket();  // the server closed a kept-alive connection: reconnect once
    out = HttpResponse{};
    out.error = "connection closed";
  }
  return out;
}

}  // namespace flashsaga::bench
