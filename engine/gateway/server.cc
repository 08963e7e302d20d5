// server: HTTP/1.1 over Boost.Beast and Asio, and run_gateway(). The only translation unit of
// the gateway that sees Beast or Asio.
//
// Shape: one io_context run by config.http_threads threads; each connection owns a strand (its
// socket's executor) on which everything about it runs: reads, the API's handling, replies
// posted back from the port's pump thread, long-poll timers, writes. One request at a time per
// connection (pipelined requests wait in the read buffer).
//
// Timeouts, per connection, with one steady_timer:
//   - a new connection, or a request whose first byte has arrived: the whole request must
//     arrive within http_request_timeout_ms, else the connection is closed (slow clients);
//   - a kept-alive connection waiting for its next request: http_idle_timeout_ms;
//   - writing an answer: http_request_timeout_ms (a client that does not read).
// While the API works on a request no timer runs (the port answers or times out by itself).
#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/base/clock.h"
#include "engine/gateway/api.h"
#include "engine/gateway/gateway.h"
#include "engine/port.h"

namespace flashsaga::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::int64_t linger_ms = 1000;            // draining a closing connection's input
constexpr std::size_t linger_bytes_max = 1u << 20;  // ... at most this much
constexpr std::int64_t accept_retry_ms = 50;        // after an accept error (e.g. EMFILE)
constexpr std::uint32_t refusals_in_flight_max = 1024;
constexpr std::int64_t stop_grace_ms_min = 1000;
constexpr std::int64_t stop_grace_ms_max = 15000;

Method method_of(http::verb v) {
  switch (v) {
    case http::verb::get: return Method::get;
    case http::verb::post: return Method::post;
    case http::verb::patch: return Method::patch;
    case http::verb::put: return Method::put;
    case http::verb::delete_: return Method::del;
    case http::verb::head: return Method::head;
    case http::verb::options: return Method::options;
    default: return Method::other;
  }
}

std::string error_body(std::string_view code, std::string_view message) {
  // Fixed texts only (no JSON escaping needed): the JSON library lives in the API's files.
  return std::string("{\"error\":\"") + std::string(code) + "\",\"message\":\"" + std::string(message) + "\"}";
}

class Server;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, tcp::socket socket, bool refuse);
  ~Session();
  void start();
  // On the strand: write the API's answer.
  void respond(Response response, std::string_view route);
  // On the strand, at graceful stop: close if waiting for a next request.
  void close_if_idle();
  asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  void read_next();
  void on_readable(const error_code& ec);
  void read_header();
  void on_header(const error_code& ec);
  void on_body(const error_code& ec);
  void on_request();
  void read_failed(const error_code& ec);
  void send(Response response, std::string_view route, bool close_after);
  void on_write(const error_code& ec, bool close_after);
  void arm(std::int64_t ms);
  void disarm();
  void linger_close();
  void on_linger(const error_code& ec, std::size_t n);
  void close();

  Server& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::string refusal_;
  std::array<char, 4096> scratch_{};
  std::size_t lingered_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;  // the request was HEAD: answer without the body
  bool first_ = true;
  bool idle_ = false;
  bool busy_ = false;  // a request is with the API
  bool closed_ = false;
  bool refuse_ = false;
  std::uint64_t timer_generation_ = 0;
};

class SessionExchange final : public Exchange, public std::enable_shared_from_this<SessionExchange> {
 public:
  explicit SessionExchange(std::shared_ptr<Session> session) : session_(std::move(session)) {}
  void respond(Response response) override {
    if (answered_.exchange(true)) return;
    std::shared_ptr<Session> s = session_;
    const std::string_view r = route;
    asio::post(s->executor(), [s, r, response = std::move(response)]() mutable { s->respond(std::move(response), r); });
  }
  void post(std::function<void()> fn) override { asio::post(session_->executor(), guarded(std::move(fn))); }
  void post_after(std::int64_t delay_ms, std::function<void()> fn) override {
    auto timer = std::make_shared<asio::steady_timer>(session_->executor(), std::chrono::milliseconds(delay_ms));
    timer->async_wait([timer, fn = guarded(std::move(fn))](const error_code& ec) {
      if (!ec) fn();
    });
  }

 private:
  // No exception escapes into the io_context: an API failure becomes a 500.
  std::function<void()> guarded(std::function<void()> fn) {
    std::shared_ptr<SessionExchange> self = shared_from_this();
    return [self, fn = std::move(fn)] {
      try {
        fn();
      } catch (const std::exception& e) {
        Response r;
        r.status = 500;
        r.body = error_body("internal", "unexpected error while answering");
        std::fprintf(stderr, "flashsaga gateway: unexpected error: %s\n", e.what());
        self->respond(std::move(r));
      } catch (...) {
        Response r;
        r.status = 500;
        r.body = error_body("internal", "unexpected error while answering");
        self->respond(std::move(r));
      }
    };
  }
  std::shared_ptr<Session> session_;
  std::atomic<bool> answered_{false};
};

class Server {
 public:
  Server(const engine::Config& config, Api& api, Metrics& metrics)
      : config_(config),
        api_(api),
        metrics_(metrics),
        acceptor_(ioc_),
        accept_timer_(ioc_),
        signals_(ioc_, SIGINT, SIGTERM) {}

  bool listen(std::string* error) {
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(config_.http_address, ec);
    if (ec) {
      *error = "http.address '" + config_.http_address + "' is not an IP address: " + ec.message();
      return false;
    }
    const tcp::endpoint endpoint(address, config_.http_port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + config_.http_address + ":" + std::to_string(config_.http_port) + ": " + ec.message();
      return false;
    }
    std::fprintf(stderr, "flashsaga gateway[%d]: listening on http://%s:%u with %u threads\n",
                 static_cast<int>(::getpid()), config_.http_address.c_str(),
                 static_cast<unsigned>(acceptor_.local_endpoint().port()), config_.http_threads);
    return true;
  }

  // Serves until SIGTERM/SIGINT, then drains (bounded) and stops the io_context.
  void run() {
    signals_.async_wait([this](const error_code& ec, int sig) {
      if (ec) return;
      std::fprintf(stderr, "flashsaga gateway[%d]: signal %d: stopping\n", static_cast<int>(::getpid()), sig);
      begin_stop();
    });
    accept();
    std::vector<std::thread> threads;
    const std::uint32_t n = std::max<std::uint32_t>(config_.http_threads, 1);
    for (std::uint32_t i = 0; i < n; ++i) threads.emplace_back([this] { run_io(); });
    {
      std::unique_lock<std::mutex> lock(stop_mutex_);
      stop_cv_.wait(lock, [this] { return stop_requested_; });
    }
    const std::int64_t grace_ms = std::clamp<std::int64_t>(config_.http_request_timeout_ms, stop_grace_ms_min, stop_grace_ms_max);
    const std::int64_t deadline = mono_now_ns() + grace_ms * 1'000'000;
    while (metrics_.connections.load(std::memory_order_acquire) > 0 && mono_now_ns() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::int64_t left = metrics_.connections.load(std::memory_order_acquire);
    if (left > 0)
      std::fprintf(stderr, "flashsaga gateway: %lld connections still open after %lld ms; closing them\n",
                   static_cast<long long>(left), static_cast<long long>(grace_ms));
    ioc_.stop();
    for (std::thread& t : threads) t.join();
    std::fprintf(stderr, "flashsaga gateway[%d]: stopped\n", static_cast<int>(::getpid()));
  }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  const engine::Config& config() const noexcept { return config_; }
  Api& api() noexcept { return api_; }
  Metrics& metrics() noexcept { return metrics_; }

  void add(const std::shared_ptr<Session>& s) {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    sessions_[s.get()] = s;
  }
  void remove(Session* s) {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    sessions_.erase(s);
  }
  void refusal_done() { refusals_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  void run_io() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        // Handlers are written not to throw; if one does, log it and keep the thread serving.
        std::fprintf(stderr, "flashsaga gateway: unexpected exception in an I/O thread: %s\n", e.what());
      }
    }
  }

  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        // Out of descriptors or similar: back off instead of spinning on the error.
        if (!accept_error_logged_) {
          std::fprintf(stderr, "flashsaga gateway: accept failed: %s (retrying)\n", ec.message().c_str());
          accept_error_logged_ = true;
        }
        accept_timer_.expires_after(std::chrono::milliseconds(accept_retry_ms));
        accept_timer_.async_wait([this](const error_code& e) {
          if (!e) accept();
        });
        return;
      }
      accept_error_logged_ = false;
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      const bool full = metrics_.connections.load(std::memory_order_relaxed) >=
                        static_cast<std::int64_t>(config_.http_connections_max);
      if (full) {
        metrics_.connections_refused.fetch_add(1, std::memory_order_relaxed);
        if (refusals_.fetch_add(1, std::memory_order_relaxed) < refusals_in_flight_max) {
          std::make_shared<Session>(*this, std::move(socket), true)->start();
        } else {
          refusals_.fetch_sub(1, std::memory_order_relaxed);
          socket.close(ignored);
        }
      } else {
        auto s = std::make_shared<Session>(*this, std::move(socket), false);
        add(s);
        s->start();
      }
      accept();
    });
  }

  void begin_stop() {
    if (stopping_.exchange(true)) return;
    api_.begin_stop();
    error_code ignored;
    acceptor_.close(ignored);
    accept_timer_.cancel();
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard<std::mutex> lock(sessions_mutex_);
      for (auto& [ptr, weak] : sessions_)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) asio::post(s->executor(), [s] { s->close_if_idle(); });
    {
      std::lock_guard<std::mutex> lock(stop_mutex_);
      stop_requested_ = true;
    }
    stop_cv_.notify_all();
  }

  const engine::Config& config_;
  Api& api_;
  Metrics& metrics_;
  // What a Session's destructor touches comes before ioc_, so it outlives the handlers (and
  // sessions) that ioc_'s destructor destroys.
  std::atomic<std::uint32_t> refusals_{0};
  std::mutex sessions_mutex_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_timer_;
  asio::signal_set signals_;
  bool accept_error_logged_ = false;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
};

// --- Session -----------------------------------------------------------------------------------------

Session::Session(Server& server, tcp::socket socket, bool refuse)
    : server_(server),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      buffer_(static_cast<std::size_t>(server.config().http_header_bytes_max) + server.config().http_body_bytes_max +
              4096),
      refuse_(refuse) {
  if (!refuse_) server_.metrics().connections.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  if (refuse_) {
    server_.refusal_done();
  } else {
    server_.remove(this);
    server_.metrics().connections.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Session::start() {
  if (!refuse_) return read_next();
  // Over http.connections_max: say so and close, without reading the request.
  const std::string body = error_body("overloaded", "too many connections; retry shortly");
  refusal_ = "HTTP/1.1 503 Service Unavailable\r\nServer: flashsaga\r\nContent-Type: application/json\r\n"
             "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
  arm(server_.config().http_request_timeout_ms);
  auto self = shared_from_this();
  asio::async_write(socket_, asio::buffer(refusal_), [self](const error_code& ec, std::size_t) {
    if (ec) return self->close();
    self->linger_close();
  });
}

void Session::arm(std::int64_t ms) {
  const std::uint64_t generation = ++timer_generation_;
  timer_.expires_after(std::chrono::milliseconds(ms));
  timer_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
    if (ec || generation != self->timer_generation_) return;
    self->close();  // the pending read or write ends with an error, and the session with it
  });
}

void Session::disarm() {
  ++timer_generation_;
  timer_.cancel();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  disarm();
}

void Session::close_if_idle() {
  if (idle_ && !busy_) close();
}

void Session::read_next() {
  if (closed_) return;
  if (server_.stopping() && buffer_.size() == 0) return close();
  parser_.emplace();
  parser_->header_limit(server_.config().http_header_bytes_max);
  parser_->body_limit(server_.config().http_body_bytes_max);
  if (buffer_.size() > 0) {
    idle_ = false;
    arm(server_.config().http_request_timeout_ms);
    return read_header();
  }
  idle_ = true;
  arm(first_ ? server_.config().http_request_timeout_ms : server_.config().http_idle_timeout_ms);
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](const error_code& ec) { self->on_readable(ec); });
}

void Session::on_readable(const error_code& ec) {
  idle_ = false;
  if (ec || closed_) return close();
  arm(server_.config().http_request_timeout_ms);
  read_header();
}

void Session::read_header() {
  http::async_read_header(socket_, buffer_, *parser_,
                          [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_header(ec); });
}

void Session::on_header(const error_code& ec) {
  if (ec) return read_failed(ec);
  if (parser_->is_done()) return on_request();
  auto self = shared_from_this();
  const auto read_body = [self] {
    http::async_read(self->socket_, self->buffer_, *self->parser_,
                     [self](const error_code& e, std::size_t) { self->on_body(e); });
  };
  const auto& req = parser_->get();
  if (beast::iequals(req[http::field::expect], "100-continue")) {
    static const std::string continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(socket_, asio::buffer(continue_line), [self, read_body](const error_code& e, std::size_t) {
      if (e) return self->close();
      read_body();
    });
    return;
  }
  read_body();
}

void Session::on_body(const error_code& ec) {
  if (ec) return read_failed(ec);
  on_request();
}

void Session::read_failed(const error_code& ec) {
  if (closed_ || ec == asio::error::operation_aborted) return close();
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) return close();
  version_ = 11;
  keep_alive_ = false;
  head_ = false;
  Response r;
  if (ec == http::error::header_limit) {
    r.status = 431;
    r.body = error_body("too_large", "the request's header section is larger than http.header_bytes_max");
  } else if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
    r.status = 413;
    r.body = error_body("too_large", "the request body is larger than http.body_bytes_max");
  } else if (ec == http::error::partial_message) {
    return close();
  } else {
    r.status = 400;
    r.body = error_body("bad_request", "the request is not valid HTTP/1.1");
  }
  send(std::move(r), "unparsed", true);
}

void Session::on_request() {
  disarm();
  idle_ = false;
  busy_ = true;
  http::request<http::string_body> req = parser_->release();
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  head_ = req.method() == http::verb::head;
  Request request;
  request.method = method_of(req.method());
  request.target = std::string(req.target());
  const std::size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  if (q != std::string::npos) request.query = request.target.substr(q + 1);
  request.body = std::move(req.body());
  const auto key = req.find("Idempotency-Key");
  if (key != req.end()) {
    request.has_idempotency_key = true;
    request.idempotency_key = std::string(key->value());
  }
  auto exchange = std::make_shared<SessionExchange>(shared_from_this());
  server_.api().handle(request, exchange);
}

void Session::respond(Response response, std::string_view route) {
  busy_ = false;
  const bool close_after = !keep_alive_ || server_.stopping();
  send(std::move(response), route, close_after);
}

void Session::send(Response r, std::string_view route, bool close_after) {
  server_.metrics().http_request(route, r.status);
  if (closed_) return;
  response_.emplace(static_cast<http::status>(r.status), version_);
  http::response<http::string_body>& res = *response_;
  res.set(http::field::server, "flashsaga");
  res.set(http::field::content_type, r.content_type);
  if (!r.allow.empty()) res.set(http::field::allow, r.allow);
  if (r.retry_after_s > 0) res.set(http::field::retry_after, std::to_string(r.retry_after_s));
  if (r.replayed) res.set("Idempotent-Replayed", "true");
  res.keep_alive(!close_after);
  if (head_) {
    res.content_length(r.body.size());
  } else {
    res.body() = std::move(r.body);
    res.prepare_payload();
  }
  arm(server_.config().http_request_timeout_ms);
  http::async_write(socket_, res, [self = shared_from_this(), close_after](const error_code& ec, std::size_t) {
    self->on_write(ec, close_after);
  });
}

void Session::on_write(const error_code& ec, bool close_after) {
  response_.reset();
  if (ec) return close();
  if (close_after) return linger_close();
  first_ = false;
  read_next();
}

// Half-closes and reads what the client still sends (bounded), so that closing does not reset
// the connection before the client has read our answer.
void Session::linger_close() {
  if (closed_) return;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  arm(linger_ms);
  socket_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
    self->on_linger(ec, n);
  });
}

void Session::on_linger(const error_code& ec, std::size_t n) {
  lingered_ += n;
  if (ec || closed_ || lingered_ > linger_bytes_max) return close();
  socket_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](const error_code& e, std::size_t k) {
    self->on_linger(e, k);
  });
}

}  // namespace
}  // namespace flashsaga::gateway

namespace flashsaga {

int run_gateway(const engine::Config& config) {
  using namespace gateway;
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<ipc::Deployment> deployment;
  std::string error;
  if (!ipc::Deployment::attach(config.data_dir, config.geometry, deployment, &error)) {
    std::fprintf(stderr, "flashsaga gateway: cannot attach to the deployment in %s: %s\n",
                 config.data_dir.string().c_str(), error.c_str());
    return 1;
  }
  std::unique_ptr<engine::Port> port;
  engine::PortOptions options;
  options.preferred_port = 0;
  if (!engine::Port::open(*deployment, options, port, &error)) {
    std::fprintf(stderr, "flashsaga gateway: cannot claim the gateway's port: %s\n", error.c_str());
    return 1;
  }
  port->start();
  Store store(config);
  Metrics metrics;
  Idempotency idempotency(idempotency_entries_max, config.idempotency_retention_s * 1'000'000'000);
  Api api(config, *deployment, *port, store, idempotency, metrics);
  {
    Server server(config, api, metrics);
    if (!server.listen(&error)) {
      std::fprintf(stderr, "flashsaga gateway: %s\n", error.c_str());
      port.reset();
      return 1;
    }
    server.run();
    // The io_context is stopped but alive: requests still waiting on the port are answered
    // (timed out) into it, and destroyed with it.
    port.reset();
  }
  return 0;
}

}  // namespace flashsaga
