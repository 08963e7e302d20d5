#include "bench/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace flashsaga::bench {
namespace {

constexpr std::size_t response_bytes_max = 16u << 20;
constexpr std::size_t recv_chunk_bytes = 16384;
constexpr int epoll_events_max = 256;
constexpr int epoll_wait_ms = 50;  // also how often timeouts are looked at
constexpr std::uint64_t timer_token = ~std::uint64_t{0};

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A connected TCP socket with TCP_NODELAY, or -1 with `error`.
int open_socket(const std::string& host, std::uint16_t port, std::string* error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    *error = "bad address " + host;
    ::close(fd);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

std::string format_request(const std::string& method, const std::string& target,
                           const std::string& host, const std::string& body,
                           const HttpHeaders& headers) {
  std::string req;
  req.reserve(128 + body.size());
  req += method;
  req += ' ';
  req += target;
  req += " HTTP/1.1\r\nHost: ";
  req += host;
  req += "\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH") {
    req += "Content-Type: application/json\r\nContent-Length: ";
    req += std::to_string(body.size());
    req += "\r\n";
  }
  for (const auto& [name, value] : headers) {
    req += name;
    req += ": ";
    req += value;
    req += "\r\n";
  }
  req += "\r\n";
  req += body;
  return req;
}

ParseResult parse_response(std::string& buffer, HttpResponse& out) {
  const std::size_t header_end = buffer.find("\r\n\r\n");
  if (header_end == std::string::npos)
    return buffer.size() > response_bytes_max ? ParseResult::bad : ParseResult::incomplete;
  const std::string_view head(buffer.data(), header_end);
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return ParseResult::bad;
  const int status = std::atoi(buffer.c_str() + 9);
  std::size_t content_length = 0;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    const std::size_t next = head.find("\r\n", pos + 2);
    const std::string_view line = head.substr(
        pos + 2, next == std::string_view::npos ? std::string_view::npos : next - pos - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), "content-length"))
      content_length = std::strtoull(std::string(line.substr(colon + 1)).c_str(), nullptr, 10);
    pos = next;
  }
  if (content_length > response_bytes_max) return ParseResult::bad;
  if (buffer.size() < header_end + 4 + content_length) return ParseResult::incomplete;
  out.status = status;
  out.body.assign(buffer, header_end + 4, content_length);
  buffer.erase(0, header_end + 4 + content_length);
  return ParseResult::complete;
}

// --- HttpClient -------------------------------------------------------------------------------

HttpClient::HttpClient(std::string host, std::uint16_t port, int timeout_ms)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

HttpClient::~HttpClient() {
  close_socket();
}

void HttpClient::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool HttpClient::connect_once(std::string* error) {
  close_socket();
  fd_ = open_socket(host_, port_, error);
  return fd_ >= 0;
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
  while (true) {
    const ParseResult p = parse_response(buffer_, out);
    if (p == ParseResult::complete) return true;
    if (p == ParseResult::bad) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms_) <= 0) return false;
    char chunk[recv_chunk_bytes];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 const std::string& body, const HttpHeaders& headers) {
  const std::string req = format_request(method, target, host_, body, headers);
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

// --- HttpLoad ---------------------------------------------------------------------------------

namespace {

struct LoadRequest {
  std::uint64_t index = 0;
  std::int64_t intended_ns = 0, sent_ns = 0;
};

struct LoadConnection {
  int fd = -1;
  bool ready = false;                 // listed in ready_: room for another request
  bool want_write = false;            // EPOLLOUT registered
  std::deque<LoadRequest> in_flight;  // sent, not yet answered, oldest first (<= pipeline)
  std::string out;
  std::size_t out_done = 0;
  std::string in;
};

class LoadRun {
 public:
  LoadRun(const HttpLoadPlan& plan, const HttpLoad::MakeRequest& make,
          const HttpLoad::OnAnswer& on_answer)
      : plan_(plan), make_(make), on_answer_(on_answer), conns_(plan.connections) {}

  ~LoadRun() {
    for (LoadConnection& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (timer_ >= 0) ::close(timer_);
    if (epoll_ >= 0) ::close(epoll_);
  }

  bool run(std::string* error) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_ < 0 || timer_ < 0) {
      *error = std::string("epoll/timerfd: ") + std::strerror(errno);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = timer_token;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &ev);
    for (std::uint32_t i = 0; i < conns_.size(); ++i)
      if (open(i, error)) make_ready(i);
    if (ready_.empty()) return false;
    start_ns_ = now_ns();
    std::int64_t next_timeout_scan = start_ns_ + epoll_wait_ms * 1'000'000;
    std::vector<epoll_event> events(epoll_events_max);
    // Bounded: each turn either answers requests, sends some, or waits at most epoll_wait_ms;
    // every request in flight fails after timeout_ms, and when every connection is gone the
    // remaining requests fail at once.
    while (answered_ < plan_.requests) {
      dispatch();
      if (next_ < plan_.requests && ready_.empty() && live_ == 0) {
        fail_unsent();
        break;
      }
      const int n = ::epoll_wait(epoll_, events.data(), epoll_events_max, epoll_wait_ms);
      for (int k = 0; k < n; ++k) {
        if (events[k].data.u64 == timer_token) {
          std::uint64_t expirations = 0;
          (void)!::read(timer_, &expirations, sizeof expirations);
          continue;
        }
        service(static_cast<std::uint32_t>(events[k].data.u64), events[k].events);
      }
      const std::int64_t now = now_ns();
      if (now > next_timeout_scan) {
        next_timeout_scan = now + epoll_wait_ms * 1'000'000;
        const std::int64_t timeout_ns = static_cast<std::int64_t>(plan_.timeout_ms) * 1'000'000;
        for (std::uint32_t i = 0; i < conns_.size(); ++i)
          if (!conns_[i].in_flight.empty() &&
              now - conns_[i].in_flight.front().sent_ns > timeout_ns)
            fail(i, "timed out");
      }
    }
    return true;
  }

 private:
  std::int64_t due(std::uint64_t i) const {
    return plan_.rate > 0
               ? start_ns_ + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / plan_.rate)
               : 0;
  }
  std::size_t depth() const { return std::max<std::uint32_t>(plan_.pipeline, 1); }

  void make_ready(std::uint32_t i) {
    if (conns_[i].ready || conns_[i].fd < 0 || conns_[i].in_flight.size() >= depth()) return;
    conns_[i].ready = true;
    ready_.push_back(i);
  }

  bool open(std::uint32_t i, std::string* error) {
    LoadConnection& c = conns_[i];
    c.fd = open_socket(plan_.host, plan_.port, error);
    if (c.fd < 0) return false;
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
      *error = std::string("epoll_ctl: ") + std::strerror(errno);
      ::close(c.fd);
      c.fd = -1;
      return false;
    }
    c.in.clear();
    c.out.clear();
    c.out_done = 0;
    c.want_write = false;
    ++live_;
    return true;
  }

  // Sends every request that is due, each connection taking up to `pipeline` at once (in one
  // write); arms the timer for the next one.
  void dispatch() {
    std::int64_t now = now_ns();
    while (next_ < plan_.requests && !ready_.empty()) {
      const std::int64_t due_ns = due(next_);
      if (due_ns > now) {
        itimerspec at{};
        at.it_value.tv_sec = due_ns / 1'000'000'000;
        at.it_value.tv_nsec = due_ns % 1'000'000'000;
        ::timerfd_settime(timer_, TFD_TIMER_ABSTIME, &at, nullptr);
        return;
      }
      const std::uint32_t i = ready_.back();
      LoadConnection& c = conns_[i];
      if (c.out_done == c.out.size()) {
        c.out.clear();
        c.out_done = 0;
      }
      for (std::size_t k = 0; k < depth() && c.in_flight.size() < depth() && next_ < plan_.requests;
           ++k) {
        const std::int64_t due_k = due(next_);
        if (due_k > now) break;
        LoadRequest r;
        r.index = next_++;
        std::string one;
        make_(r.index, one);
        c.out += one;
        r.sent_ns = now_ns();
        r.intended_ns = plan_.rate > 0 ? due_k : r.sent_ns;
        c.in_flight.push_back(r);
        now = r.sent_ns;
      }
      if (c.in_flight.size() >= depth()) {
        c.ready = false;
        ready_.pop_back();
      }
      flush(i);
    }
  }

  void flush(std::uint32_t i) {
    LoadConnection& c = conns_[i];
    while (c.out_done < c.out.size()) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.out_done, c.out.size() - c.out_done, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      fail(i, "send failed");
      return;
    }
    const bool want = c.out_done < c.out.size();
    if (want != c.want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u);
      ev.data.u64 = i;
      ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
      c.want_write = want;
    }
  }

  void service(std::uint32_t i, std::uint32_t events) {
    LoadConnection& c = conns_[i];
    if (c.fd < 0) return;
    if ((events & EPOLLOUT) != 0u) flush(i);
    if (c.fd < 0 || (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) == 0u) return;
    char chunk[recv_chunk_bytes];
    bool closed = false;
    for (int reads = 0; reads < 64; ++reads) {  // bounded: the rest comes with the next event
      const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        c.in.append(chunk, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof chunk) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      closed = true;
      break;
    }
    // Every whole answer in the buffer, in order (at most the requests in flight).
    for (std::size_t k = 0, n = c.in_flight.size() + 1; k < n; ++k) {
      HttpResponse r;
      const ParseResult p = parse_response(c.in, r);
      if (p == ParseResult::incomplete) break;
      if (p == ParseResult::bad || c.in_flight.empty()) {
        fail(i, "bad response");
        return;
      }
      const LoadRequest done = c.in_flight.front();
      c.in_flight.pop_front();
      answer(done, r.status, r.body);
      make_ready(i);
    }
    if (closed) fail(i, "connection closed");
  }

  void answer(const LoadRequest& req, int status, std::string_view body) {
    HttpLoadAnswer a;
    a.index = req.index;
    a.status = status;
    a.body = body;
    a.intended_ns = req.intended_ns;
    a.sent_ns = req.sent_ns;
    a.answered_ns = now_ns();
    ++answered_;
    on_answer_(a);
  }

  // Fails the connection's requests in flight, closes it and reopens it while reconnects last.
  void fail(std::uint32_t i, std::string_view why) {
    LoadConnection& c = conns_[i];
    while (!c.in_flight.empty()) {
      const LoadRequest r = c.in_flight.front();
      c.in_flight.pop_front();
      answer(r, 0, why);
    }
    if (c.fd >= 0) {
      ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
      --live_;
    }
    if (c.ready) {
      c.ready = false;
      ready_.erase(std::remove(ready_.begin(), ready_.end(), i), ready_.end());
    }
    std::string error;
    if (reconnects_ < HttpLoad::reconnects_max) {
      ++reconnects_;
      if (open(i, &error)) make_ready(i);
    }
  }

  void fail_unsent() {
    const std::int64_t now = now_ns();
    for (; next_ < plan_.requests; ++next_) {
      LoadRequest r;
      r.index = next_;
      r.intended_ns = plan_.rate > 0 ? due(next_) : now;
      r.sent_ns = now;
      answer(r, 0, "no connection");
    }
  }

  const HttpLoadPlan& plan_;
  const HttpLoad::MakeRequest& make_;
  const HttpLoad::OnAnswer& on_answer_;
  std::vector<LoadConnection> conns_;
  std::vector<std::uint32_t> ready_;
  int epoll_ = -1, timer_ = -1;
  std::uint32_t live_ = 0, reconnects_ = 0;
  std::uint64_t next_ = 0, answered_ = 0;
  std::int64_t start_ns_ = 0;
};

}  // namespace

bool HttpLoad::run(const HttpLoadPlan& plan, const MakeRequest& make, const OnAnswer& on_answer,
                   std::string* error) {
  if (plan.connections == 0 || plan.connections > http_load_connections_max) {
    *error = "connections must be 1.." + std::to_string(http_load_connections_max);
    return false;
  }
  if (plan.pipeline == 0 || plan.pipeline > http_load_pipeline_max) {
    *error = "pipeline must be 1.." + std::to_string(http_load_pipeline_max);
    return false;
  }
  LoadRun run(plan, make, on_answer);
  return run.run(error);
}

}  // namespace flashsaga::bench
