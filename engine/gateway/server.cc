// server: HTTP/1.1 over Boost.Beast and Asio, and run_gateway(). The only translation unit of
// the gateway that sees Beast or Asio.
//
// Shape: one event loop per I/O thread (config http.threads). Each I/O thread (a Worker) owns
// an io_context, its connections, and its own ingress port on the shared memory (its own rings
// to the domains and reply rings back; engine/port.h inline mode): it polls its sockets and
// its reply rings in one loop, so an order crosses no thread inside the gateway. Worker 0
// also accepts, and hands each new connection to the worker with the fewest connections.
//
// A connection (Session) reads into one buffer and parses with a Beast basic_parser whose
// callbacks fill a reused Request (no allocation per field). HTTP/1.1 pipelining: up to
// pipeline_depth_max requests are in flight at once, answered in order; every answer ready
// after a read (or after a batch of port replies) goes out in one write. POST /orders without
// an Idempotency-Key takes the API's hot path (Api::place_order_fast): 202 and 409 sold_out
// are written from templates.
//
// Timeouts: one deadline per connection (a number), checked by one sweep timer per worker:
//   - a new connection, or a request whose first byte has arrived: the whole request must
//     arrive within http_request_timeout_ms, else the connection is closed (slow clients);
//   - a kept-alive connection with nothing in flight: http_idle_timeout_ms;
//   - writing answers: http_request_timeout_ms (a client that does not read).
// While the API works on a request (and no partial request waits) no deadline runs.
#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/base/clock.h"
#include "engine/gateway/api.h"
#include "engine/gateway/auth.h"
#include "engine/gateway/gateway.h"
#include "engine/gateway/order_answers.h"
#include "engine/gateway/request_parser.h"
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
constexpr std::uint32_t pipeline_depth_max = 64;            // requests in flight per connection
constexpr std::size_t read_chunk_bytes = 16384;             // asked of the socket per read
constexpr std::size_t pending_output_bytes_max = 1u << 18;  // stop parsing beyond this
constexpr std::int64_t sweep_interval_ms_min = 5;           // deadline checks
constexpr std::int64_t sweep_interval_ms_max = 100;
constexpr std::uint32_t busy_spin_count_max = 4;       // empty passes before waiting in epoll
constexpr std::int64_t idle_park_ms = 100;             // nothing in flight
constexpr std::int64_t bell_park_ns = 10'000'000;      // the bell thread re-checks this often
constexpr std::uint32_t session_slots_max = 1u << 20;  // token space for connections per worker
constexpr std::uint32_t token_seq_mask = (1u << 24) - 1;
constexpr std::size_t order_contexts_max = 1u << 17;  // hot-path orders in flight per worker

void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, r.ptr);
}

// What the answer's header says, besides its status and body.
struct AnswerHead {
  unsigned version = 11;
  bool close_after = false;
  bool head = false;  // a HEAD request: the body's length, not the body
  std::string_view content_type = "application/json";
  std::string_view allow;
  int retry_after_s = 0;
  bool replayed = false;
};

// The header fields, in the order Beast's serializer wrote them before.
void append_answer(std::string& out, int status, const AnswerHead& h, std::string_view body) {
  out += h.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  append_number(out, static_cast<std::uint64_t>(status));
  out += ' ';
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out.append(reason.data(), reason.size());
  out += "\r\nServer: flashsaga\r\nContent-Type: ";
  out += h.content_type;
  if (!h.allow.empty()) {
    out += "\r\nAllow: ";
    out += h.allow;
  }
  if (h.retry_after_s > 0) {
    out += "\r\nRetry-After: ";
    append_number(out, static_cast<std::uint64_t>(h.retry_after_s));
  }
  if (h.replayed) out += "\r\nIdempotent-Replayed: true";
  if (h.version == 10 && !h.close_after) out += "\r\nConnection: keep-alive";
  if (h.version != 10 && h.close_after) out += "\r\nConnection: close";
  out += "\r\nContent-Length: ";
  append_number(out, body.size());
  out += "\r\n\r\n";
  if (!h.head) out += body;
}

class Server;
class Worker;

// One connection. Everything about it runs on its worker's thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, tcp::socket socket, bool refuse);
  ~Session();
  void start();
  // Answers to request `seq` (once each; a stale or repeated one is ignored).
  void answer(std::uint32_t seq, const Response& response, std::string_view route);
  void accepted(std::uint32_t seq, std::uint64_t order_id);
  void sold_out(std::uint32_t seq, std::uint32_t product_id);
  // Writes what is ready (after a batch of port replies).
  void flush();
  // Graceful stop: close if nothing is in flight and no request is half read.
  void close_if_idle();
  void check_deadline(std::int64_t now_ns);
  std::uint32_t table_index() const noexcept { return table_index_; }
  // The request sequence number whose low 24 bits (a token's) are `low`.
  std::uint32_t full_seq(std::uint32_t low) const noexcept;

 private:
  struct Slot {
    std::uint32_t seq = 0;
    bool done = false;
    bool close_after = false;
    bool keep_alive = true;
    bool head = false;
    unsigned version = 11;
    std::string bytes;  // the answer, while an earlier one is still awaited
  };
  std::uint32_t in_flight() const noexcept { return next_seq_ - head_seq_; }
  Slot* open_slot(std::uint32_t seq);
  void finish_slot(Slot& slot);
  AnswerHead head_for(Slot& slot) const;
  void read_more();
  void on_readable(const error_code& ec);
  void on_read(const error_code& ec, std::size_t n);
  void process();
  bool parse_one(error_code& ec);
  void dispatch();
  void read_failed(const error_code& ec);
  void after_output();
  void on_write(const error_code& ec);
  void update_deadline();
  void linger_close();
  void on_linger(const error_code& ec, std::size_t n);
  void close();
  bool paused() const noexcept;

  Worker& worker_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  Request request_;
  RequestParser::Extra extra_;
  std::optional<RequestParser> parser_;
  std::array<Slot, pipeline_depth_max> slots_;
  std::uint32_t head_seq_ = 0;  // oldest request not yet in out_
  std::uint32_t next_seq_ = 0;
  std::string out_;                // answers ready to write
  std::string wbuf_;               // answers being written
  std::shared_ptr<Session> self_;  // held while requests are in flight (tokens do not own us)
  std::array<char, 4096> scratch_{};
  std::size_t lingered_ = 0;
  std::uint32_t table_index_ = 0;
  std::int64_t deadline_ns_ = 0;       // 0: none
  std::int64_t partial_since_ns_ = 0;  // first byte of the request being read; 0: none
  std::int64_t idle_since_ns_ = 0;
  std::int64_t write_since_ns_ = 0;
  bool reading_ = false;
  bool drained_ = false;   // inside the handler of a read that emptied the socket
  std::size_t asked_ = 0;  // bytes the last read asked for
  bool writing_ = false;
  bool in_process_ = false;
  bool parse_blocked_ = false;  // requests wait in the buffer for room in the pipeline
  bool continue_sent_ = false;
  bool stop_parsing_ = false;  // a request asked to close, or the input is bad
  bool closing_ = false;       // the last answer is queued: linger after writing it
  bool eof_ = false;           // the client sent all it will send
  bool first_ = true;
  bool closed_ = false;
  bool lingering_ = false;
  bool dirty_ = false;
  bool refuse_ = false;
  friend class Worker;
};

// One I/O thread: its io_context, connections and port (see the top of the file).
class Worker final : public OrderReplies {
 public:
  Worker(Server& server, std::uint32_t index, std::unique_ptr<engine::Port> owned_port);
  ~Worker() override;
  asio::io_context& context() noexcept { return ioc_; }
  std::uint32_t index() const noexcept { return index_; }
  Server& server() noexcept { return server_; }
  const engine::Config& config() const noexcept;
  Api& api() noexcept;
  Metrics& metrics() noexcept;
  bool stopping() const noexcept;
  bool in_thread() const noexcept;
  std::int64_t connection_count() const noexcept {
    return connections_.load(std::memory_order_relaxed);
  }
  void count_connection(int delta) noexcept {
    connections_.fetch_add(delta, std::memory_order_relaxed);
  }

  void run();   // the thread's body, until stop()
  void stop();  // from any thread
  // After stop(): destroys the port, which answers what is still pending (timed out).
  void drop_port();
  // A new connection accepted for this worker (runs on this worker's thread).
  void adopt(tcp::socket socket, bool refuse);
  void close_idle_sessions();

  std::uint32_t attach(Session* s);
  void detach(std::uint32_t table_index);
  std::uint64_t token(const Session& s, std::uint32_t seq) const noexcept;
  // Answers written during a batch of port replies are flushed once, after it.
  void answered(Session& s);

  // OrderReplies
  void accepted(std::uint64_t token, std::uint64_t order_id) override;
  void sold_out(std::uint64_t token, std::uint32_t product_id) override;
  void answer(std::uint64_t token, const Response& response) override;
  void answer_from_any_thread(std::uint64_t token, const Response& response) override;
  OrderContext* acquire() override;
  void release(OrderContext* context) override;

 private:
  Session* resolve(std::uint64_t token, std::uint32_t& seq) const noexcept;
  void sweep();
  void flush_batch();
  // Waiting for replies, the thread sleeps in epoll; its bell thread sleeps on the port's
  // doorbell and wakes it (a post) when a reply lands. Neither is involved while busy.
  bool replies_waiting() const noexcept;
  void park();
  void run_bell();
  void stop_bell();

  Server& server_;
  const std::uint32_t index_;
  std::atomic<std::int64_t> connections_{0};
  std::vector<Session*> table_;
  std::vector<std::uint32_t> generations_;
  std::vector<std::uint32_t> free_;
  std::vector<std::shared_ptr<Session>> batch_;  // answered during the current port pump
  std::deque<OrderContext> contexts_;            // grows to the most orders ever in flight
  std::vector<OrderContext*> free_contexts_;
  bool batching_ = false;
  // What a Session's destructor touches comes before ioc_, so it outlives the handlers (and
  // sessions) that ioc_'s destructor destroys; the port goes first (its destructor answers
  // what is still pending, into sessions that may still be alive).
  asio::io_context ioc_{1};
  asio::steady_timer sweep_timer_;
  std::unique_ptr<engine::Port> port_;
  std::vector<ipc::SpscRing> reply_rings_;  // domain -> this port (depth only)
  std::atomic<bool> parked_{false};
  std::atomic<bool> bell_stop_{false};
  std::thread bell_;
};

// The slow path's Exchange: answers request `seq` of a session, from any thread.
class SlotExchange final : public Exchange, public std::enable_shared_from_this<SlotExchange> {
 public:
  SlotExchange(std::shared_ptr<Session> session, Worker& worker, std::uint32_t seq)
      : session_(std::move(session)), worker_(worker), seq_(seq) {}
  void respond(Response response) override {
    if (answered_.exchange(true)) return;
    if (worker_.in_thread()) return session_->answer(seq_, response, route);
    std::shared_ptr<Session> s = session_;
    const std::string_view r = route;
    const std::uint32_t seq = seq_;
    asio::post(worker_.context(),
               [s, r, seq, response = std::move(response)] { s->answer(seq, response, r); });
  }
  void post(std::function<void()> fn) override {
    asio::post(worker_.context(), guarded(std::move(fn)));
  }
  void post_after(std::int64_t delay_ms, std::function<void()> fn) override {
    auto timer = std::make_shared<asio::steady_timer>(worker_.context(),
                                                      std::chrono::milliseconds(delay_ms));
    timer->async_wait([timer, fn = guarded(std::move(fn))](const error_code& ec) {
      if (!ec) fn();
    });
  }

 private:
  // No exception escapes into the io_context: an API failure becomes a 500.
  std::function<void()> guarded(std::function<void()> fn) {
    std::shared_ptr<SlotExchange> self = shared_from_this();
    return [self, fn = std::move(fn)] {
      try {
        fn();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "flashsaga gateway: unexpected error: %s\n", e.what());
        self->fail();
      } catch (...) {
        self->fail();
      }
    };
  }
  void fail() {
    Response r;
    r.status = 500;
    r.body = error_body("internal", "unexpected error while answering");
    respond(std::move(r));
  }
  std::shared_ptr<Session> session_;
  Worker& worker_;
  std::uint32_t seq_;
  std::atomic<bool> answered_{false};
};

class Server {
 public:
  Server(const engine::Config& config, Api& api, Metrics& metrics)
      : config_(config), api_(api), metrics_(metrics) {}
  // Every port goes before any worker: a port's last answers (timed out) may wake an
  // idempotency waiter that belongs to another worker, which must still be there.
  ~Server() {
    for (auto& w : workers_) w->drop_port();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Before listen(): one worker per port the gateway could claim.
  void add_worker(std::unique_ptr<engine::Port> port) {
    const auto index = static_cast<std::uint32_t>(workers_.size());
    workers_.push_back(std::make_unique<Worker>(*this, index, std::move(port)));
  }

  bool listen(std::string* error) {
    asio::io_context& ioc = workers_.front()->context();
    acceptor_.emplace(ioc);
    accept_timer_.emplace(ioc);
    signals_.emplace(ioc, SIGINT, SIGTERM);
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(config_.http_address, ec);
    if (ec) {
      *error = "http.address '" + config_.http_address + "' is not an IP address: " + ec.message();
      return false;
    }
    const tcp::endpoint endpoint(address, config_.http_port);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      *error = "cannot listen on " + config_.http_address + ":" +
               std::to_string(config_.http_port) + ": " + ec.message();
      return false;
    }
    std::fprintf(stderr, "flashsaga gateway[%d]: listening on http://%s:%u with %zu threads\n",
                 static_cast<int>(::getpid()), config_.http_address.c_str(),
                 static_cast<unsigned>(acceptor_->local_endpoint().port()), workers_.size());
    warn_if_exposed(config_);
    return true;
  }

  // Serves until SIGTERM/SIGINT, then drains (bounded) and stops every worker.
  void run() {
    signals_->async_wait([this](const error_code& ec, int sig) {
      if (ec) return;
      std::fprintf(stderr, "flashsaga gateway[%d]: signal %d: stopping\n",
                   static_cast<int>(::getpid()), sig);
      begin_stop();
    });
    accept();
    std::vector<std::thread> threads;
    for (auto& w : workers_) threads.emplace_back([w = w.get()] { w->run(); });
    {
      std::unique_lock<std::mutex> lock(stop_mutex_);
      stop_cv_.wait(lock, [this] { return stop_requested_; });
    }
    const std::int64_t grace_ms = std::clamp<std::int64_t>(config_.http_request_timeout_ms,
                                                           stop_grace_ms_min, stop_grace_ms_max);
    const std::int64_t deadline = mono_now_ns() + grace_ms * 1'000'000;
    while (metrics_.connections.load(std::memory_order_acquire) > 0 && mono_now_ns() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::int64_t left = metrics_.connections.load(std::memory_order_acquire);
    if (left > 0)
      std::fprintf(stderr,
                   "flashsaga gateway: %lld connections still open after %lld ms; closing them\n",
                   static_cast<long long>(left), static_cast<long long>(grace_ms));
    for (auto& w : workers_) w->stop();
    for (std::thread& t : threads) t.join();
    std::fprintf(stderr, "flashsaga gateway[%d]: stopped\n", static_cast<int>(::getpid()));
  }

  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  const engine::Config& config() const noexcept { return config_; }
  Api& api() noexcept { return api_; }
  Metrics& metrics() noexcept { return metrics_; }
  void refusal_done() { refusals_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  // The worker with the fewest connections takes the next one.
  Worker& pick() {
    Worker* best = workers_.front().get();
    for (auto& w : workers_)
      if (w->connection_count() < best->connection_count()) best = w.get();
    return *best;
  }

  void accept() {
    Worker& target = pick();
    acceptor_->async_accept(
        target.context(), [this, &target](const error_code& ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
          if (ec) {
            // Out of descriptors or similar: back off instead of spinning on the error.
            if (!accept_error_logged_) {
              std::fprintf(stderr, "flashsaga gateway: accept failed: %s (retrying)\n",
                           ec.message().c_str());
              accept_error_logged_ = true;
            }
            accept_timer_->expires_after(std::chrono::milliseconds(accept_retry_ms));
            accept_timer_->async_wait([this](const error_code& e) {
              if (!e) accept();
            });
            return;
          }
          accept_error_logged_ = false;
          error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          bool refuse = false;
          if (metrics_.connections.load(std::memory_order_relaxed) >=
              static_cast<std::int64_t>(config_.http_connections_max)) {
            metrics_.connections_refused.fetch_add(1, std::memory_order_relaxed);
            if (refusals_.fetch_add(1, std::memory_order_relaxed) >= refusals_in_flight_max) {
              refusals_.fetch_sub(1, std::memory_order_relaxed);
              socket.close(ignored);
              return accept();
            }
            refuse = true;
          } else {
            // Counted here, on the accepting thread, so that the limit holds under a burst.
            metrics_.connections.fetch_add(1, std::memory_order_relaxed);
            target.count_connection(+1);
          }
          asio::post(target.context(), [&target, s = std::move(socket), refuse]() mutable {
            target.adopt(std::move(s), refuse);
          });
          accept();
        });
  }

  void begin_stop() {
    if (stopping_.exchange(true)) return;
    api_.begin_stop();
    error_code ignored;
    acceptor_->close(ignored);
    accept_timer_->cancel();
    for (auto& w : workers_) asio::post(w->context(), [w = w.get()] { w->close_idle_sessions(); });
    {
      std::lock_guard<std::mutex> lock(stop_mutex_);
      stop_requested_ = true;
    }
    stop_cv_.notify_all();
  }

  const engine::Config& config_;
  Api& api_;
  Metrics& metrics_;
  std::atomic<std::uint32_t> refusals_{0};
  std::vector<std::unique_ptr<Worker>> workers_;
  // On worker 0's io_context; destroyed before the workers.
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_timer_;
  std::optional<asio::signal_set> signals_;
  bool accept_error_logged_ = false;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
};

// --- Worker
// ------------------------------------------------------------------------------------------

thread_local Worker* current_worker = nullptr;

Worker::Worker(Server& server, std::uint32_t index, std::unique_ptr<engine::Port> owned_port)
    : server_(server), index_(index), sweep_timer_(ioc_), port_(std::move(owned_port)) {
  port = port_.get();
  const ipc::Node self = ipc::port_node(port_->index());
  for (int d = 1; d <= domain_count; ++d)
    reply_rings_.push_back(
        port_->deployment().ring(ipc::domain_node(static_cast<ipc::Domain>(d)), self));
}

void Worker::drop_port() {
  stop_bell();
  Worker* const previous = current_worker;
  current_worker = this;  // the answers are this worker's, on the thread destroying it
  port_.reset();          // answers what is still pending (timed out) into sessions still alive
  port = nullptr;
  current_worker = previous;
}

Worker::~Worker() {
  drop_port();
  std::vector<std::shared_ptr<Session>> live;
  for (Session* s : table_)
    if (s) live.push_back(s->shared_from_this());
  for (auto& s : live) s->close();
  // The sessions go with ioc_'s handlers.
}

bool Worker::in_thread() const noexcept {
  return current_worker == this;
}
const engine::Config& Worker::config() const noexcept {
  return server_.config();
}
Api& Worker::api() noexcept {
  return server_.api();
}
Metrics& Worker::metrics() noexcept {
  return server_.metrics();
}
bool Worker::stopping() const noexcept {
  return server_.stopping();
}

void Worker::run() {
  current_worker = this;
  Metrics::bind_thread(index_);
  auto guard = asio::make_work_guard(ioc_);
  bell_ = std::thread([this] { run_bell(); });
  sweep();
  std::uint32_t spins = 0;
  while (!ioc_.stopped()) {
    std::size_t work = 0;
    try {
      work += ioc_.poll();
      batching_ = true;
      work += port_->pump_once();
      batching_ = false;
      flush_batch();
    } catch (const std::exception& e) {
      // Handlers are written not to throw; if one does, log it and keep the thread serving.
      batching_ = false;
      flush_batch();
      std::fprintf(stderr, "flashsaga gateway: unexpected exception in an I/O thread: %s\n",
                   e.what());
    }
    if (work > 0) {
      spins = 0;
    } else if (port_->idle()) {
      spins = 0;
      ioc_.run_one_for(std::chrono::milliseconds(idle_park_ms));  // sockets only: wait in epoll
    } else if (++spins < busy_spin_count_max) {
      continue;  // a reply is usually a few microseconds away
    } else {
      park();  // replies due: sleep until one lands or a socket wakes us
    }
  }
  current_worker = nullptr;
}

void Worker::stop() {
  ioc_.stop();
}

bool Worker::replies_waiting() const noexcept {
  for (const ipc::SpscRing& r : reply_rings_)
    if (r.depth() > 0) return true;
  return false;
}

void Worker::park() {
  parked_.store(true, std::memory_order_seq_cst);
  parked_.notify_one();
  // Announced first, checked second: a reply published meanwhile is seen here or by the bell.
  if (!replies_waiting()) ioc_.run_one_for(std::chrono::milliseconds(idle_park_ms));
  parked_.store(false, std::memory_order_seq_cst);
}

void Worker::run_bell() {
  ipc::Doorbell& bell = port_->deployment().doorbell(ipc::port_node(port_->index()));
  const std::function<bool()> due = [this] {
    return bell_stop_.load() || !parked_.load() || replies_waiting();
  };
  while (!bell_stop_.load()) {
    parked_.wait(false);  // until the worker parks
    if (bell_stop_.load()) return;
    ipc::doorbell_wait(bell, bell_park_ns, due);
    if (!bell_stop_.load() && parked_.load() && replies_waiting()) {
      parked_.store(false);  // one wake per park
      asio::post(ioc_, [] {});
    }
  }
}

void Worker::stop_bell() {
  if (!bell_.joinable()) return;
  bell_stop_.store(true);
  parked_.store(true);
  parked_.notify_all();
  ipc::doorbell_ring(port_->deployment().doorbell(ipc::port_node(port_->index())));
  bell_.join();
}

void Worker::adopt(tcp::socket socket, bool refuse) {
  std::make_shared<Session>(*this, std::move(socket), refuse)->start();
}

void Worker::close_idle_sessions() {
  for (std::size_t i = 0; i < table_.size(); ++i)
    if (table_[i]) table_[i]->close_if_idle();
}

std::uint32_t Worker::attach(Session* s) {
  if (free_.empty()) {
    FS_ASSERT(table_.size() < session_slots_max);
    table_.push_back(s);
    generations_.push_back(1);
    return static_cast<std::uint32_t>(table_.size() - 1);
  }
  const std::uint32_t i = free_.back();
  free_.pop_back();
  table_[i] = s;
  ++generations_[i];
  return i;
}

void Worker::detach(std::uint32_t i) {
  table_[i] = nullptr;
  ++generations_[i];
  free_.push_back(i);
}

// token: table index (bits 40..59), generation (24..39), request sequence (0..23)
std::uint64_t Worker::token(const Session& s, std::uint32_t seq) const noexcept {
  const std::uint32_t i = s.table_index();
  return (static_cast<std::uint64_t>(i) << 40) |
         (static_cast<std::uint64_t>(generations_[i] & 0xffff) << 24) | (seq & token_seq_mask);
}

Session* Worker::resolve(std::uint64_t token, std::uint32_t& seq) const noexcept {
  const auto i = static_cast<std::size_t>(token >> 40);
  if (i >= table_.size() || table_[i] == nullptr) return nullptr;
  if ((generations_[i] & 0xffff) != ((token >> 24) & 0xffff)) return nullptr;
  seq = static_cast<std::uint32_t>(token) & token_seq_mask;
  return table_[i];
}

void Worker::answered(Session& s) {
  if (!batching_) return s.after_output();
  if (s.dirty_) return;
  s.dirty_ = true;
  batch_.push_back(s.shared_from_this());
}

void Worker::flush_batch() {
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    batch_[i]->dirty_ = false;
    batch_[i]->after_output();
  }
  batch_.clear();
}

void Worker::sweep() {
  const engine::Config& c = config();
  const std::int64_t shortest = std::min(c.http_request_timeout_ms, c.http_idle_timeout_ms);
  const std::int64_t ms =
      std::clamp<std::int64_t>(shortest / 4, sweep_interval_ms_min, sweep_interval_ms_max);
  sweep_timer_.expires_after(std::chrono::milliseconds(ms));
  sweep_timer_.async_wait([this](const error_code& ec) {
    if (ec) return;
    const std::int64_t now = mono_now_ns();
    for (std::size_t i = 0; i < table_.size(); ++i)
      if (table_[i]) table_[i]->check_deadline(now);
    sweep();
  });
}

void Worker::accepted(std::uint64_t token, std::uint64_t order_id) {
  std::uint32_t seq = 0;
  if (Session* s = resolve(token, seq)) s->accepted(s->full_seq(seq), order_id);
}

void Worker::sold_out(std::uint64_t token, std::uint32_t product_id) {
  std::uint32_t seq = 0;
  if (Session* s = resolve(token, seq)) s->sold_out(s->full_seq(seq), product_id);
}

void Worker::answer(std::uint64_t token, const Response& response) {
  std::uint32_t seq = 0;
  if (Session* s = resolve(token, seq)) s->answer(s->full_seq(seq), response, "/orders");
}

void Worker::answer_from_any_thread(std::uint64_t token, const Response& response) {
  if (in_thread()) return answer(token, response);
  asio::post(ioc_, [this, token, response] { answer(token, response); });
}

OrderContext* Worker::acquire() {
  if (!free_contexts_.empty()) {
    OrderContext* c = free_contexts_.back();
    free_contexts_.pop_back();
    return c;
  }
  if (contexts_.size() >= order_contexts_max) return nullptr;
  return &contexts_.emplace_back();
}

void Worker::release(OrderContext* context) {
  free_contexts_.push_back(context);
}

// --- Session
// -----------------------------------------------------------------------------------------

Session::Session(Worker& worker, tcp::socket socket, bool refuse)
    : worker_(worker),
      socket_(std::move(socket)),
      buffer_(static_cast<std::size_t>(worker.config().http_header_bytes_max) +
              worker.config().http_body_bytes_max + 4096),
      refuse_(refuse) {
  table_index_ = worker_.attach(this);
}

Session::~Session() {
  worker_.detach(table_index_);
  if (refuse_) {
    worker_.server().refusal_done();
  } else {
    worker_.metrics().connections.fetch_sub(1, std::memory_order_relaxed);
    worker_.count_connection(-1);
  }
}

void Session::start() {
  self_ = shared_from_this();
  error_code ignored;
  socket_.non_blocking(true, ignored);  // on_readable()'s read never blocks
  idle_since_ns_ = mono_now_ns();
  if (!refuse_) {
    update_deadline();
    return read_more();
  }
  // Over http.connections_max: say so and close, without reading the request.
  const std::string body = error_body("overloaded", "too many connections; retry shortly");
  wbuf_ =
      "HTTP/1.1 503 Service Unavailable\r\nServer: flashsaga\r\nContent-Type: application/json\r\n"
      "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  writing_ = true;
  write_since_ns_ = idle_since_ns_;
  update_deadline();
  asio::async_write(socket_, asio::buffer(wbuf_),
                    [self = shared_from_this()](const error_code& ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) return self->close();
                      self->linger_close();
                    });
}

std::uint32_t Session::full_seq(std::uint32_t low) const noexcept {
  return head_seq_ + ((low - head_seq_) & token_seq_mask);
}

bool Session::paused() const noexcept {
  return in_flight() >= pipeline_depth_max || out_.size() + wbuf_.size() > pending_output_bytes_max;
}

// Reads, without a wasted recv(): a read that came back short emptied the socket, so the next
// one waits for readiness first instead of trying (and failing with EAGAIN) at once. That is
// only safe in the same handler: the reactor has not looked at the socket since the short read,
// so readiness that arrived meanwhile is still ahead (edge-triggered epoll). Anywhere else the
// read tries at once.
void Session::read_more() {
  if (reading_ || closed_ || lingering_ || stop_parsing_ || eof_ || paused()) return;
  const std::size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0) return;
  reading_ = true;
  asked_ = std::min(room, read_chunk_bytes);
  if (drained_) {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
      self->on_readable(ec);
    });
    return;
  }
  socket_.async_read_some(
      buffer_.prepare(asked_),
      [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void Session::on_readable(const error_code& ec) {
  if (ec || lingering_ || closed_) return on_read(ec, 0);
  error_code read_ec;
  const std::size_t n = socket_.read_some(buffer_.prepare(asked_), read_ec);  // non-blocking socket
  if (read_ec == asio::error::would_block || read_ec == asio::error::try_again) {
    reading_ = false;
    return read_more();  // not drained_ here: this read tries at once
  }
  on_read(read_ec, n);
}

void Session::on_read(const error_code& ec, std::size_t n) {
  reading_ = false;
  if (lingering_) return on_linger(ec, 0);  // what was read goes unread, like lingered bytes
  if (closed_) return;
  if (ec == asio::error::eof) {
    // The client sends no more: answer what it asked for, then close. A request cut short
    // is dropped (as before: nobody reads its answer).
    eof_ = true;
    stop_parsing_ = true;
    if (parser_ || buffer_.size() > 0) return close();
    return after_output();
  }
  if (ec) return close();
  buffer_.commit(n);
  drained_ = n < asked_;
  process();
  drained_ = false;
}

void Session::process() {
  if (closed_ || in_process_) return;
  in_process_ = true;
  parse_blocked_ = false;
  for (std::uint32_t n = 0; n < pipeline_depth_max && !stop_parsing_ && buffer_.size() > 0; ++n) {
    if (paused()) {
      parse_blocked_ = true;
      break;
    }
    error_code ec;
    if (!parse_one(ec)) {
      if (ec) read_failed(ec);
      break;
    }
    dispatch();
    if (n + 1 == pipeline_depth_max) parse_blocked_ = true;  // more may wait in the buffer
  }
  // 100-continue: the header is in, its body is not, and nothing before it awaits an answer.
  if (parser_ && parser_->is_header_done() && extra_.expect_continue && !continue_sent_ &&
      in_flight() == 0 && !closed_) {
    out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    continue_sent_ = true;
  }
  if ((parser_ || buffer_.size() > 0) && partial_since_ns_ == 0) partial_since_ns_ = mono_now_ns();
  in_process_ = false;
  after_output();
}

// True when a whole request has been parsed into request_; false when more input is needed,
// or with `ec` set when the input is not an acceptable request.
bool Session::parse_one(error_code& ec) {
  if (!parser_) {
    parser_.emplace(request_, extra_);
    parser_->header_limit(worker_.config().http_header_bytes_max);
    parser_->body_limit(worker_.config().http_body_bytes_max);
    continue_sent_ = false;
  }
  return put_request(*parser_, buffer_, 2 * pipeline_depth_max, ec);
}

void Session::dispatch() {
  const bool keep_alive = parser_->keep_alive();
  parser_.reset();
  partial_since_ns_ = 0;
  const std::uint32_t seq = next_seq_++;
  Slot& slot = slots_[seq % pipeline_depth_max];
  slot.seq = seq;
  slot.done = false;
  slot.close_after = false;
  slot.keep_alive = keep_alive;
  slot.head = request_.method == Method::head;
  slot.version = extra_.version;
  slot.bytes.clear();
  if (!keep_alive) stop_parsing_ = true;  // nothing after a request that closes is read
  Api& api = worker_.api();
  if (request_.method == Method::post && !request_.has_idempotency_key &&
      request_.path == "/orders" &&
      api.place_order_fast(request_, worker_, worker_.token(*this, seq)))
    return;
  auto exchange = std::make_shared<SlotExchange>(shared_from_this(), worker_, seq);
  exchange->port = worker_.port;
  api.handle(request_, exchange);
}

void Session::read_failed(const error_code& ec) {
  parser_.reset();
  stop_parsing_ = true;
  Response r;
  if (!refusal_for(ec, r)) return close();
  const std::uint32_t seq = next_seq_++;
  Slot& slot = slots_[seq % pipeline_depth_max];
  slot = Slot{};
  slot.seq = seq;
  slot.keep_alive = false;
  answer(seq, r, "unparsed");
}

Session::Slot* Session::open_slot(std::uint32_t seq) {
  if (closed_ || seq - head_seq_ >= in_flight()) return nullptr;
  Slot& s = slots_[seq % pipeline_depth_max];
  if (s.seq != seq || s.done) return nullptr;
  return &s;
}

AnswerHead Session::head_for(Slot& slot) const {
  AnswerHead h;
  h.version = slot.version;
  h.head = slot.head;
  h.close_after = !slot.keep_alive || worker_.stopping();
  slot.close_after = h.close_after;
  return h;
}

void Session::answer(std::uint32_t seq, const Response& response, std::string_view route) {
  worker_.metrics().http_request(route, response.status);
  Slot* slot = open_slot(seq);
  if (!slot) return;
  AnswerHead h = head_for(*slot);
  h.content_type = response.content_type;
  h.allow = response.allow;
  h.retry_after_s = response.retry_after_s;
  h.replayed = response.replayed;
  append_answer(slot->seq == head_seq_ ? out_ : slot->bytes, response.status, h, response.body);
  finish_slot(*slot);
}

void Session::accepted(std::uint32_t seq, std::uint64_t order_id) {
  worker_.metrics().http_request("/orders", 202);
  Slot* slot = open_slot(seq);
  if (!slot) return;
  char body[order_answer_bytes_max];
  const std::size_t n = accepted_body(body, order_id);
  append_answer(slot->seq == head_seq_ ? out_ : slot->bytes, 202, head_for(*slot),
                std::string_view(body, n));
  finish_slot(*slot);
}

void Session::sold_out(std::uint32_t seq, std::uint32_t product_id) {
  worker_.metrics().http_request("/orders", 409);
  Slot* slot = open_slot(seq);
  if (!slot) return;
  char body[order_answer_bytes_max];
  const std::size_t n = sold_out_body(body, product_id);
  append_answer(slot->seq == head_seq_ ? out_ : slot->bytes, 409, head_for(*slot),
                std::string_view(body, n));
  finish_slot(*slot);
}

// Moves every answer that is now in order into out_.
void Session::finish_slot(Slot& slot) {
  slot.done = true;
  for (std::uint32_t n = 0; n < pipeline_depth_max && head_seq_ != next_seq_; ++n) {
    Slot& s = slots_[head_seq_ % pipeline_depth_max];
    if (!s.done) break;
    if (!s.bytes.empty()) {
      out_ += s.bytes;
      s.bytes.clear();
    }
    ++head_seq_;
    if (s.close_after) {
      // The last answer on this connection: later requests are not answered.
      closing_ = true;
      stop_parsing_ = true;
      head_seq_ = next_seq_;
      break;
    }
  }
  if (!in_process_) worker_.answered(*this);
}

// After anything that may have produced output or freed room: write, resume, close, re-arm.
void Session::after_output() {
  if (closed_) return;
  flush();
  if (!writing_ && out_.empty() && in_flight() == 0) {
    if (closing_) return linger_close();
    if (eof_) return close();  // the client is done and has every answer
    if (worker_.stopping() && !parser_ && buffer_.size() == 0) return close();
  }
  if (parse_blocked_ && !paused() && !in_process_) return process();
  read_more();
  update_deadline();
}

void Session::flush() {
  if (closed_ || writing_ || out_.empty()) return;
  std::swap(out_, wbuf_);
  out_.clear();
  writing_ = true;
  write_since_ns_ = mono_now_ns();
  asio::async_write(
      socket_, asio::buffer(wbuf_),
      [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_write(ec); });
}

void Session::on_write(const error_code& ec) {
  writing_ = false;
  wbuf_.clear();
  if (ec) return close();
  first_ = false;
  if (in_flight() == 0 && partial_since_ns_ == 0) idle_since_ns_ = mono_now_ns();
  after_output();
}

void Session::update_deadline() {
  if (closed_ || lingering_) return;
  const engine::Config& c = worker_.config();
  const std::int64_t request_ns = c.http_request_timeout_ms * 1'000'000;
  if (writing_) {
    deadline_ns_ = write_since_ns_ + request_ns;
  } else if (partial_since_ns_ != 0) {
    deadline_ns_ = partial_since_ns_ + request_ns;
  } else if (in_flight() > 0) {
    deadline_ns_ = 0;  // the API is working on it
  } else {
    deadline_ns_ = idle_since_ns_ + (first_ ? request_ns : c.http_idle_timeout_ms * 1'000'000);
  }
}

void Session::check_deadline(std::int64_t now_ns) {
  if (deadline_ns_ != 0 && now_ns > deadline_ns_) close();
}

void Session::close_if_idle() {
  if (in_flight() == 0 && !parser_ && buffer_.size() == 0 && !writing_ && out_.empty() &&
      !lingering_)
    close();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  deadline_ns_ = 0;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  // Released later, never under a caller's feet.
  if (self_) asio::post(worker_.context(), [keep = std::move(self_)] {});
}

// Half-closes and reads what the client still sends (bounded), so that closing does not reset
// the connection before the client has read our answer.
void Session::linger_close() {
  if (closed_ || lingering_) return;
  lingering_ = true;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  deadline_ns_ = mono_now_ns() + linger_ms * 1'000'000;
  if (reading_) return;  // that read continues the linger (on_read)
  socket_.async_read_some(
      asio::buffer(scratch_),
      [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_linger(ec, n); });
}

void Session::on_linger(const error_code& ec, std::size_t n) {
  lingered_ += n;
  if (ec || closed_ || lingered_ > linger_bytes_max) return close();
  socket_.async_read_some(
      asio::buffer(scratch_),
      [self = shared_from_this()](const error_code& e, std::size_t k) { self->on_linger(e, k); });
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
  // One port per I/O thread: port 0 for the first, any free one for the others.
  std::vector<std::unique_ptr<engine::Port>> ports;
  std::uint64_t gateway_ports = 0;
  const std::uint32_t wanted = std::max<std::uint32_t>(config.http_threads, 1);
  for (std::uint32_t i = 0; i < wanted; ++i) {
    engine::PortOptions options;
    options.inline_pump = true;
    options.preferred_port = i == 0 ? 0 : -1;
    std::unique_ptr<engine::Port> port;
    if (!engine::Port::open(*deployment, options, port, &error)) {
      if (i == 0) {
        std::fprintf(stderr, "flashsaga gateway: cannot claim the gateway's port: %s\n",
                     error.c_str());
        return 1;
      }
      std::fprintf(stderr,
                   "flashsaga gateway: runs %u of %u I/O threads: no free port for more (%s); "
                   "raise rings.ports\n",
                   i, wanted, error.c_str());
      break;
    }
    gateway_ports |= std::uint64_t{1} << port->index();
    ports.push_back(std::move(port));
  }
  Store store(config);
  Metrics metrics;
  Idempotency idempotency(idempotency_entries_max, config.idempotency_retention_s * 1'000'000'000);
  Api api(config, *deployment, store, idempotency, metrics, gateway_ports);
  {
    Server server(config, api, metrics);
    for (auto& p : ports) server.add_worker(std::move(p));
    if (!server.listen(&error)) {
      std::fprintf(stderr, "flashsaga gateway: %s\n", error.c_str());
      return 1;
    }
    server.run();
    // The workers' io_contexts are stopped but alive: requests still waiting on a port are
    // answered (timed out) into them when the workers go, with the server.
  }
  return 0;
}

}  // namespace flashsaga
