// http_feed: see http_feed.h. With server.cc, the only translation unit that sees Beast (its
// HTTP parser only, through request_parser.h; no Asio).
#include "engine/gateway/http_feed.h"

#include <algorithm>
#include <optional>

#include "engine/gateway/api.h"
#include "engine/gateway/order_answers.h"
#include "engine/gateway/request_parser.h"
#include "engine/port.h"

namespace flashsaga::gateway {
namespace {

constexpr std::size_t contexts_max = 1024;  // hot-path orders in flight in one feed

// The feed's Exchange: answers request `seq`, defers posted work to the feed's queue.
class FeedExchange final : public Exchange {
 public:
  FeedExchange(HttpFeed& feed, std::uint32_t seq) : feed_(feed), seq_(seq) {}
  void respond(Response response) override {
    if (answered_) return;
    answered_ = true;
    feed_.answer_at(seq_, response, route);
  }
  void post(std::function<void()> fn) override { feed_.defer(std::move(fn)); }
  void post_after(std::int64_t, std::function<void()> fn) override { feed_.defer(std::move(fn)); }

 private:
  HttpFeed& feed_;
  std::uint32_t seq_;
  bool answered_ = false;
};

}  // namespace

HttpFeed::HttpFeed(Api& api, const engine::Config& config, engine::Port& feed_port)
    : api_(api), config_(config) {
  port = &feed_port;
}

HttpFeed::~HttpFeed() = default;

void HttpFeed::answer_at(std::uint32_t seq, const Response& response, std::string_view route) {
  if (seq >= answers_.size() || answers_[seq].answered) return;
  FedAnswer& a = answers_[seq];
  a.answered = true;
  a.status = response.status;
  a.route = std::string(route);
  a.body = response.body;
  a.content_type = response.content_type;
}

bool HttpFeed::defer(std::function<void()> fn) {
  if (posted_.size() >= feed_posted_max) return false;  // dropped: its request stays unanswered
  posted_.push_back(std::move(fn));
  return true;
}

void HttpFeed::accepted(std::uint64_t token, std::uint64_t order_id) {
  char body[order_answer_bytes_max];
  Response r;
  r.status = 202;
  r.body.assign(body, accepted_body(body, order_id));
  answer_at(static_cast<std::uint32_t>(token), r, "/orders");
}

void HttpFeed::sold_out(std::uint64_t token, std::uint32_t product_id) {
  char body[order_answer_bytes_max];
  Response r;
  r.status = 409;
  r.body.assign(body, sold_out_body(body, product_id));
  answer_at(static_cast<std::uint32_t>(token), r, "/orders");
}

void HttpFeed::answer(std::uint64_t token, const Response& response) {
  answer_at(static_cast<std::uint32_t>(token), response, "/orders");
}

void HttpFeed::answer_from_any_thread(std::uint64_t token, const Response& response) {
  answer(token, response);
}

OrderContext* HttpFeed::acquire() {
  if (!free_contexts_.empty()) {
    OrderContext* c = free_contexts_.back();
    free_contexts_.pop_back();
    return c;
  }
  if (contexts_.size() >= contexts_max) return nullptr;
  return &contexts_.emplace_back();
}

void HttpFeed::release(OrderContext* context) {
  free_contexts_.push_back(context);
}

// As Session::dispatch does.
void HttpFeed::dispatch(const Request& request, std::uint32_t seq) {
  if (request.method == Method::post && !request.has_idempotency_key && request.path == "/orders" &&
      api_.place_order_fast(request, *this, seq))
    return;
  auto exchange = std::make_shared<FeedExchange>(*this, seq);
  exchange->port = port;
  api_.handle(request, exchange);
}

void HttpFeed::settle() {
  for (std::uint32_t round = 0; round < settle_rounds_max; ++round) {
    std::deque<std::function<void()>> now;
    now.swap(posted_);
    for (auto& fn : now) fn();
    const std::size_t pumped = port->pump_once();
    if (posted_.empty() && pumped == 0 && port->idle()) break;
  }
}

std::vector<FedAnswer> HttpFeed::feed(std::string_view bytes) {
  answers_.clear();
  answers_.reserve(feed_requests_max + 1);
  boost::beast::flat_buffer buffer(static_cast<std::size_t>(config_.http_header_bytes_max) +
                                   config_.http_body_bytes_max + 4096);
  Request request;
  RequestParser::Extra extra;
  std::size_t offset = 0;
  std::optional<RequestParser> parser;
  std::uint32_t n = 0;
  // Each step reads input, answers a request or ends: 2 * feed_requests_max + 2 steps suffice
  // for the input a buffer holds; more input takes more.
  const std::size_t steps_max = 2 * feed_requests_max + 2 + bytes.size();
  for (std::size_t step = 0; step < steps_max && n < feed_requests_max; ++step) {
    // Tops the buffer up as a socket read would (the rest stays for the next read).
    const std::size_t room = buffer.max_size() - buffer.size();
    const std::size_t take = std::min(room, bytes.size() - offset);
    if (take > 0) {
      auto dst = buffer.prepare(take);
      std::copy_n(bytes.data() + offset, take, static_cast<char*>(dst.data()));
      buffer.commit(take);
      offset += take;
    }
    if (buffer.size() == 0) break;
    if (!parser) {
      parser.emplace(request, extra);
      parser->header_limit(config_.http_header_bytes_max);
      parser->body_limit(config_.http_body_bytes_max);
    }
    boost::system::error_code ec;
    if (!put_request(*parser, buffer, 2 * feed_requests_max, ec)) {
      Response r;
      if (ec && refusal_for(ec, r)) {
        answers_.emplace_back();
        answer_at(static_cast<std::uint32_t>(answers_.size() - 1), r, "unparsed");
      }
      // Bad input, cut short by the end, or a full buffer (the server would wait, then time out).
      if (ec || take == 0 || offset == bytes.size()) break;
      continue;
    }
    const bool keep_alive = parser->keep_alive();
    parser.reset();
    answers_.emplace_back();
    dispatch(request, n++);
    if (!keep_alive) break;
  }
  settle();
  return std::move(answers_);
}

FedAnswer HttpFeed::request(const Request& request) {
  answers_.clear();
  answers_.emplace_back();
  dispatch(request, 0);
  settle();
  FedAnswer a = std::move(answers_.front());
  answers_.clear();
  return a;
}

}  // namespace flashsaga::gateway
