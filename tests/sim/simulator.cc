#include "tests/sim/simulator.h"

#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "domains/coupon/coupon_domain.h"
#include "domains/order/order_domain.h"
#include "domains/payment/payment_domain.h"
#include "domains/point/point_domain.h"
#include "domains/product/product_domain.h"
#include "domains/counters.h"
#include "domains/rows.h"
#include "domains/user/user_domain.h"
#include "engine/base/assert.h"
#include "engine/config.h"
#include "engine/domain_process.h"
#include "tests/sim/sim_node.h"
#include "tools/check/check.h"

namespace flashsaga::sim {
namespace {

using domains::OrderRow;
using domains::OrderStatus;
using domains::ProductRow;
using ipc::Domain;
using ipc::Message;
using ipc::MessageType;
using ipc::Node;

// The virtual clock starts far beyond any real wall clock, so the few places that read the
// wall clock (journal record times, PaymentDomain::recover's "due now") are always in the
// virtual past and cannot change what the run does.
constexpr std::int64_t t0_ns = 4'000'000'000'000'000'000;
constexpr std::int64_t ms_ns = 1'000'000;

// Bounds on one run.
constexpr std::uint32_t users_max = 12;
constexpr std::uint32_t settle_rounds_max = 20'000;        // drain / setup batches, at most
constexpr std::uint32_t client_retries_max = 2;            // retries of one PlaceOrder
constexpr std::int64_t client_timeout_ns = 3'000 * ms_ns;  // a reply not back by then: retry
constexpr std::size_t client_requests_max = 256;           // outstanding requests per client
constexpr std::size_t failures_max = 20;

constexpr std::array<Domain, domain_count> all_domains = {Domain::user,  Domain::point, Domain::product,
                                                          Domain::coupon, Domain::order, Domain::payment};

std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

struct Product {
  std::uint64_t id = 0;
  std::int64_t price = 0, stock = 0;
  std::uint32_t max_per_user = 0;
  std::int64_t starts_ns = 0, ends_ns = 0;
};

struct Coupon {
  std::uint64_t id = 0, user = 0;
};

enum class RequestKind : std::uint8_t { place, cancel, command };

struct Request {
  RequestKind kind = RequestKind::command;
  Domain to = Domain::none;
  Message message{};  // as sent (for a retry)
  std::int64_t sent_ns = 0;
  std::uint32_t retries = 0;
};

struct Client {
  std::uint32_t port = 0;
  std::array<std::uint64_t, domain_count + 1> sequence{};  // per port->domain edge
  std::map<std::uint64_t, Request> outstanding;             // correlation -> request
  std::deque<Message> replies;                              // arrived, not yet read
};

// The rates of one seed's faults, in permille of steps.
struct FaultProfile {
  std::uint32_t client = 300, time_small = 80, time_big = 10;
  std::uint32_t crash = 0, fail_commit = 0, duplicate = 0, delay = 0, pg_change = 0;
};

class Simulator {
 public:
  explicit Simulator(const SimOptions& options);
  ~Simulator();
  SimResult run();

 private:
  // Randomness: portable (no std:: distributions, whose results differ between libraries).
  std::uint64_t draw(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(std::uint32_t permille) { return draw(1000) < permille; }

  void trace(const char* format, ...) __attribute__((format(printf, 2, 3)));
  void fail(const std::string& what);
  bool start_nodes();
  std::unique_ptr<domains::DomainLogic> make_logic(Domain d);
  SimNode& node(Domain d) { return *nodes_[static_cast<std::size_t>(d)]; }
  void restart(Domain d, const char* why);

  // Scheduler actions.
  void step();
  void deliver(Domain d, CrashPoint crash, bool fail_commit);
  void run_planned(Domain d, BatchPlan plan);
  void after_batch(Domain d, const BatchOutcome& out);
  void crash_some_domain();
  void duplicate_some_message();
  void delay_some_edge();
  void change_pg(bool heal);
  void advance(std::int64_t ns);

  // Clients.
  void client_action();
  void place_order(Client& c);
  void cancel_order(Client& c);
  void command(Client& c);
  void retry_stale(Client& c);
  bool send(Client& c, Domain to, Message m, RequestKind kind);
  void read_replies();
  bool reserve(ipc::PlaceOrderBody& body);  // the port's CAS: all lines or none
  void reconcile_stock(const char* why);

  // Phases.
  bool setup();
  bool settle(bool advance_time, const char* phase);
  void finish();
  void check_facts();
  void run_checker();

  SimOptions options_;
  std::mt19937_64 rng_;
  std::int64_t now_ns_ = t0_ns;
  FaultProfile faults_;
  engine::Config config_;      // what order and product are built with (their options)
  engine::Config pg_config_;   // what payment is built with (copied at construction)
  std::filesystem::path dir_;
  Network net_;
  std::array<std::unique_ptr<SimNode>, domain_count + 1> nodes_{};
  std::array<SimNode*, domain_count + 1> node_ptrs_{};
  std::vector<Client> clients_;
  std::uint64_t correlation_ = 0;
  std::uint64_t next_idem_ = 1;
  std::vector<std::uint64_t> idem_used_;
  // Catalog as set up (ids are dense from 1).
  std::vector<Product> products_;  // index = id (0 unused)
  std::uint32_t users_ = 0;
  std::uint64_t blocked_user_ = 0;
  std::vector<Coupon> coupons_;
  std::uint64_t hot_product_ = 1;
  std::vector<std::int64_t> available_;  // the simulated shared-memory stock counters
  std::set<std::uint64_t> accepted_;      // orders some client saw accepted
  std::map<std::uint64_t, std::uint64_t> known_commands_;  // correlation -> expected entity (setup)
  // Bug modes.
  bool dropped_cancel_ = false;
  std::uint64_t dropped_seq_ = 0;

  SimResult result_;
  std::deque<std::string> tail_;
  std::uint64_t hash_ = 0xCBF29CE484222325ull;
};

Simulator::Simulator(const SimOptions& options) : options_(options), rng_(options.seed) {
  result_.seed = options.seed;
  // Per-seed configuration and fault rates, drawn first so they are part of the replay.
  config_.step_timeout_ms = 500 + static_cast<std::int64_t>(draw(10)) * 500;
  config_.reward_rate_bp = draw(2) == 0 ? 0 : 100;
  pg_config_ = config_;
  pg_config_.payment_adapter = draw(10) < 6 ? engine::PaymentAdapter::pg : engine::PaymentAdapter::wallet;
  pg_config_.pg_latency_ms = static_cast<std::int64_t>(draw(4)) * 100;
  pg_config_.pg_decline_permille = static_cast<std::uint32_t>(draw(3)) * 100;
  pg_config_.pg_hang_permille = draw(4) == 0 ? 150 : 0;
  pg_config_.pg_seed = options.seed;
  constexpr std::array<std::uint32_t, 4> crash_rates = {0, 5, 20, 50};
  constexpr std::array<std::uint32_t, 3> dup_rates = {0, 20, 60};
  faults_.crash = crash_rates[draw(4)];
  faults_.fail_commit = draw(3) == 0 ? 10 : 0;
  faults_.duplicate = dup_rates[draw(3)];
  faults_.delay = dup_rates[draw(3)];
  faults_.pg_change = pg_config_.payment_adapter == engine::PaymentAdapter::pg ? 8 : 0;
  faults_.client = 250 + static_cast<std::uint32_t>(draw(4)) * 50;

  std::filesystem::path root = options.tmp_root;
  if (root.empty()) root = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  std::string pattern = (root / "flashsaga-sim-XXXXXX").string();
  if (::mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
}

Simulator::~Simulator() {
  for (auto& n : nodes_)
    if (n) n->close();
  if (!dir_.empty() && !options_.keep_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void Simulator::trace(const char* format, ...) {
  char line[512];
  const int head = std::snprintf(line, sizeof line, "%llu +%lldms ", static_cast<unsigned long long>(result_.stats.steps),
                                 static_cast<long long>((now_ns_ - t0_ns) / ms_ns));
  va_list args;
  va_start(args, format);
  std::vsnprintf(line + head, sizeof line - static_cast<std::size_t>(head), format, args);
  va_end(args);
  hash_ = fnv1a(hash_, line);
  hash_ = fnv1a(hash_, "\n");
  if (options_.full_trace) {
    result_.trace.emplace_back(line);
  } else {
    tail_.emplace_back(line);
    if (tail_.size() > trace_tail_lines) tail_.pop_front();
  }
}

void Simulator::fail(const std::string& what) {
  if (result_.failures.size() < failures_max) result_.failures.push_back(what);
  trace("FAIL %s", what.c_str());
}

std::unique_ptr<domains::DomainLogic> Simulator::make_logic(Domain d) {
  switch (d) {
    case Domain::user: return std::make_unique<domains::UserDomain>();
    case Domain::point: return std::make_unique<domains::PointDomain>();
    case Domain::product: return std::make_unique<domains::ProductDomain>(engine::product_options(config_), nullptr);
    case Domain::coupon: return std::make_unique<domains::CouponDomain>();
    case Domain::order: return std::make_unique<domains::OrderDomain>(engine::order_options(config_));
    case Domain::payment: return std::make_unique<domains::PaymentDomain>(engine::payment_options(pg_config_));
    default: return nullptr;
  }
}

bool Simulator::start_nodes() {
  if (dir_.empty()) {
    fail("cannot create a temporary directory");
    return false;
  }
  for (Domain d : all_domains) {
    nodes_[static_cast<std::size_t>(d)] =
        std::make_unique<SimNode>(d, dir_, [this, d] { return make_logic(d); }, net_);
    node_ptrs_[static_cast<std::size_t>(d)] = nodes_[static_cast<std::size_t>(d)].get();
  }
  for (Domain d : all_domains) {
    const std::string e = node(d).restart(node_ptrs_);
    if (!e.empty()) {
      fail(std::string(ipc::domain_name(d)) + ": " + e);
      return false;
    }
  }
  return true;
}

void Simulator::restart(Domain d, const char* why) {
  const std::string e = node(d).restart(node_ptrs_);
  trace("restart %s (%s)%s%s", std::string(ipc::domain_name(d)).c_str(), why, e.empty() ? "" : ": ", e.c_str());
  if (!e.empty()) fail("restart of " + std::string(ipc::domain_name(d)) + " failed: " + e);
  // A crash of the stock owner or of the order domain may have lost a give-back (a delta
  // committed but not applied): the product domain recomputes the counters (DESIGN.md "Stock").
  if (d == Domain::product || d == Domain::order) reconcile_stock(why);
}

// --- Stock ---------------------------------------------------------------------------------

bool Simulator::reserve(ipc::PlaceOrderBody& body) {
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    ipc::LineItem& it = body.items[i];
    const Product& p = products_[it.product_id];
    it.unit_price = p.price;
    if (available_[it.product_id] < it.quantity) {
      for (std::uint32_t j = 0; j < i; ++j) available_[body.items[j].product_id] += body.items[j].quantity;
      return false;
    }
    available_[it.product_id] -= it.quantity;
  }
  return true;
}

void Simulator::reconcile_stock(const char* why) {
  ++result_.stats.reconciliations;
  journal::Env* product_env = node(Domain::product).env();
  journal::Env* order_env = node(Domain::order).env();
  journal::ReadTxn pt, ot;
  if (!product_env || !order_env || !product_env->begin_read(pt).ok() || !order_env->begin_read(ot).ok()) {
    fail("reconcile: journals unreadable");
    return;
  }
  std::uint64_t last_seen = 0;
  if (!domains::counter_get(pt, product_env->table("counters"), "last_order_seen", last_seen).ok())
    fail("reconcile: counters unreadable");
  std::vector<std::int64_t> held(products_.size(), 0);
  // Units of orders the order journal holds that the product domain has not seen yet.
  (void)ot.scan(order_env->table("orders"), journal::key_u64(last_seen + 1), SIZE_MAX,
                [&](journal::Bytes, journal::Bytes value) {
                  OrderRow row{};
                  if (!journal::from_bytes(value, row)) return false;
                  for (std::uint32_t i = 0; i < row.item_count; ++i)
                    if (row.items[i].product_id < held.size()) held[row.items[i].product_id] += row.items[i].quantity;
                  return true;
                });
  // Reservations handed over in a PlaceOrder the order domain has not applied yet (the real
  // reconciliation waits for those rings to drain; here the picture is still by construction).
  for (const Client& c : clients_) {
    const Edge& e = net_.edge(Node{Domain::port, static_cast<std::uint8_t>(c.port)}, Node{Domain::order, 0});
    std::uint64_t applied = node(Domain::order).input_position(e.index);
    for (const Message& m : e.ring) {
      if (m.header.sequence <= applied || m.header.type != static_cast<std::uint16_t>(MessageType::place_order))
        continue;
      applied = m.header.sequence;
      const auto b = ipc::body_as<ipc::PlaceOrderBody>(m);
      for (std::uint32_t i = 0; i < b.item_count; ++i) held[b.items[i].product_id] += b.items[i].quantity;
    }
  }
  std::string changed;
  (void)pt.scan(product_env->table("products"), {}, SIZE_MAX, [&](journal::Bytes, journal::Bytes value) {
    ProductRow row{};
    if (!journal::from_bytes(value, row) || row.id >= available_.size()) return false;
    const std::int64_t a = row.total - row.reserved - row.sold - held[row.id];
    if (a < 0) fail("reconcile: product " + std::to_string(row.id) + " oversold by " + std::to_string(-a));
    if (a != available_[row.id])
      changed += " p" + std::to_string(row.id) + ":" + std::to_string(available_[row.id]) + "->" + std::to_string(a);
    available_[row.id] = std::max<std::int64_t>(a, 0);
    return true;
  });
  trace("reconcile stock (%s)%s", why, changed.c_str());
}

// --- Delivery ------------------------------------------------------------------------------

void Simulator::after_batch(Domain d, const BatchOutcome& out) {
  if (!out.ran) return;
  ++result_.stats.batches;
  result_.stats.applied += out.applied;
  result_.stats.duplicates_dropped += out.duplicates;
  for (const domains::StockDelta& delta : out.deltas) {
    FS_ASSERT(delta.product_id < available_.size());
    available_[delta.product_id] += delta.available_delta;
    if (options_.bug == BugMode::double_release && d == Domain::product && delta.available_delta > 0) {
      available_[delta.product_id] += delta.available_delta;  // the deliberate bug
      result_.bug_fired = true;
    }
  }
  for (const Message& r : out.replies) {
    const std::uint32_t port = r.header.port;
    for (Client& c : clients_)
      if (c.port == port) c.replies.push_back(r);
  }
  trace("batch %s applied=%zu dup=%zu consumed=%zu sent=%zu deltas=%zu replies=%zu%s%s%s",
        std::string(ipc::domain_name(d)).c_str(), out.applied, out.duplicates, out.consumed, out.sent,
        out.deltas.size(), out.replies.size(), out.committed ? "" : " uncommitted", out.crashed ? " CRASHED" : "",
        out.error.empty() ? "" : (" error=" + out.error).c_str());
}

void Simulator::run_planned(Domain d, BatchPlan plan) {
  SimNode& n = node(d);
  n.publish_pending();  // what Runtime::do_work does first
  if (options_.bug == BugMode::skip_dedup) {
    // Fired when a message the runtime would have dropped reaches the logic.
    plan.skip_dedup = true;
    for (int e : n.inputs()) {
      std::uint64_t last = n.input_position(e);
      const Edge& edge = net_.edges[static_cast<std::size_t>(e)];
      for (std::size_t k = 0; k < plan.take[static_cast<std::size_t>(e)] && k < edge.ring.size(); ++k) {
        if (edge.ring[k].header.sequence <= last) result_.bug_fired = true;
        last = std::max(last, edge.ring[k].header.sequence);
      }
    }
  }
  if (options_.bug == BugMode::drop_cancel && d == Domain::product) {
    // The first OrderCancelled to product, and every copy of it (a re-send, a duplicate),
    // vanishes from the ring before the consumer sees it.
    Edge& e = net_.edge(Node{Domain::order, 0}, Node{Domain::product, 0});
    const auto cancelled = static_cast<std::uint16_t>(MessageType::order_cancelled);
    for (std::size_t k = 0; k < e.ring.size() && !dropped_cancel_; ++k)
      if (e.ring[k].header.type == cancelled) {
        dropped_cancel_ = true;
        dropped_seq_ = e.ring[k].header.sequence;
      }
    for (std::size_t k = 0; dropped_cancel_ && k < e.ring.size();) {
      const Message& m = e.ring[k];
      if (m.header.type != cancelled || m.header.sequence != dropped_seq_) {
        ++k;
        continue;
      }
      trace("BUG drop OrderCancelled order=%llu seq=%llu", static_cast<unsigned long long>(m.header.order_id),
            static_cast<unsigned long long>(m.header.sequence));
      e.ring.erase(e.ring.begin() + static_cast<std::ptrdiff_t>(k));
      result_.bug_fired = true;
    }
  }
  const BatchOutcome out = n.run_batch(now_ns_, plan, node_ptrs_);
  if (out.crashed) {
    ++result_.stats.crashes;
    trace("crash %s at %s", std::string(ipc::domain_name(d)).c_str(),
          std::string(crash_point_name(plan.crash)).c_str());
  }
  if (plan.fail_commit && out.ran) ++result_.stats.failed_commits;
  after_batch(d, out);
  if (out.crashed) restart(d, "crash");
  now_ns_ += 20'000;  // a batch takes a little time
}

void Simulator::deliver(Domain d, CrashPoint crash, bool fail_commit) {
  SimNode& n = node(d);
  BatchPlan plan;
  plan.crash = crash;
  plan.fail_commit = fail_commit;
  std::string takes;
  for (int e : n.inputs()) {
    const Edge& edge = net_.edges[static_cast<std::size_t>(e)];
    if (edge.ring.empty() || edge.delayed_until_ns > now_ns_) continue;
    const std::uint64_t r = draw(10);
    std::uint32_t take = 0;
    if (r < 2) take = 0;  // leave this edge for a later batch: reorders across edges
    else if (r < 6) take = 1;
    else if (r < 8) take = static_cast<std::uint32_t>(edge.ring.size());
    else take = 1 + static_cast<std::uint32_t>(draw(edge.ring.size()));
    plan.take[static_cast<std::size_t>(e)] = take;
    if (take > 0) takes += " e" + std::to_string(e) + ":" + std::to_string(take);
  }
  if (crash == CrashPoint::mid_publish) plan.publish_count = static_cast<std::uint32_t>(draw(4));
  trace("deliver %s%s%s%s", std::string(ipc::domain_name(d)).c_str(), takes.c_str(),
        crash == CrashPoint::none ? "" : " crash=", crash == CrashPoint::none ? "" : std::string(crash_point_name(crash)).c_str());
  run_planned(d, plan);
}

void Simulator::crash_some_domain() {
  // Mostly a domain in the middle of a batch (one with work), sometimes any domain at rest.
  std::vector<Domain> busy;
  for (Domain b : all_domains)
    if (node(b).has_work(now_ns_)) busy.push_back(b);
  const bool idle = busy.empty() || draw(4) == 0;
  const Domain d = idle ? all_domains[draw(domain_count)] : busy[draw(busy.size())];
  if (idle) {
    ++result_.stats.crashes;
    trace("crash %s idle", std::string(ipc::domain_name(d)).c_str());
    node(d).crash();
    restart(d, "crash");
    return;
  }
  const auto point = static_cast<CrashPoint>(1 + draw(crash_point_count - 1));
  deliver(d, point, false);
}

void Simulator::duplicate_some_message() {
  // A copy of a message goes somewhere after the original in the same ring: what a producer
  // restart re-sending its unacknowledged outbox does. Never ahead of it (rings are FIFO).
  std::vector<int> busy;
  for (const Edge& e : net_.edges)
    if (!e.ring.empty() && e.to.domain != Domain::port && !e.full()) busy.push_back(e.index);
  if (busy.empty()) return;
  Edge& e = net_.edges[static_cast<std::size_t>(busy[draw(busy.size())])];
  const std::size_t from = draw(e.ring.size());
  const std::size_t to = from + 1 + draw(e.ring.size() - from);
  const Message copy = e.ring[from];
  e.ring.insert(e.ring.begin() + static_cast<std::ptrdiff_t>(to), copy);
  ++result_.stats.dup_injected;
  trace("duplicate e%d seq=%llu at %zu", e.index, static_cast<unsigned long long>(copy.header.sequence), to);
}

void Simulator::delay_some_edge() {
  const int e = static_cast<int>(draw(edge_count));
  if (net_.edges[static_cast<std::size_t>(e)].to.domain == Domain::port) return;
  const std::int64_t by = (1 + static_cast<std::int64_t>(draw(30))) * 100 * ms_ns;
  net_.edges[static_cast<std::size_t>(e)].delayed_until_ns = now_ns_ + by;
  ++result_.stats.delays;
  trace("delay e%d by %lldms", e, static_cast<long long>(by / ms_ns));
}

void Simulator::change_pg(bool heal) {
  // The gateway's behaviour changes while the payment domain restarts with the new settings
  // (its pending charges are asked again, answered unless they hang).
  if (heal) {
    pg_config_.pg_hang_permille = 0;
    pg_config_.pg_latency_ms = 0;
  } else {
    constexpr std::array<std::int64_t, 4> latencies = {0, 50, 800, 6000};
    pg_config_.pg_latency_ms = latencies[draw(latencies.size())];
    pg_config_.pg_hang_permille = static_cast<std::uint32_t>(draw(3)) * 200;
    pg_config_.pg_decline_permille = static_cast<std::uint32_t>(draw(3)) * 100;
  }
  ++result_.stats.pg_changes;
  trace("pg %s latency=%lldms hang=%u decline=%u", heal ? "heals" : "changes",
        static_cast<long long>(pg_config_.pg_latency_ms), pg_config_.pg_hang_permille, pg_config_.pg_decline_permille);
  node(Domain::payment).crash();
  restart(Domain::payment, "pg change");
}

void Simulator::advance(std::int64_t ns) {
  now_ns_ += ns;
  trace("time +%lldms", static_cast<long long>(ns / ms_ns));
}

void Simulator::step() {
  ++result_.stats.steps;
  read_replies();
  std::uint32_t r = static_cast<std::uint32_t>(draw(1000));
  auto take = [&r](std::uint32_t rate) {
    if (r < rate) return true;
    r -= rate;
    return false;
  };
  if (take(faults_.client)) return client_action();
  if (take(faults_.time_small)) return advance((1 + static_cast<std::int64_t>(draw(200))) * ms_ns);
  if (take(faults_.time_big)) return advance((500 + static_cast<std::int64_t>(draw(8000))) * ms_ns);
  if (take(faults_.crash)) return crash_some_domain();
  if (take(faults_.fail_commit)) return deliver(all_domains[draw(domain_count)], CrashPoint::none, true);
  if (take(faults_.duplicate)) return duplicate_some_message();
  if (take(faults_.delay)) return delay_some_edge();
  if (take(faults_.pg_change)) return change_pg(draw(3) == 0);
  std::vector<Domain> ready;
  for (Domain d : all_domains)
    if (node(d).has_work(now_ns_)) ready.push_back(d);
  if (ready.empty()) return advance((1 + static_cast<std::int64_t>(draw(50))) * ms_ns);
  deliver(ready[draw(ready.size())], CrashPoint::none, false);
}

// --- Clients -------------------------------------------------------------------------------

bool Simulator::send(Client& c, Domain to, Message m, RequestKind kind) {
  Edge& e = net_.edge(Node{Domain::port, static_cast<std::uint8_t>(c.port)}, Node{to, 0});
  if (e.full() || c.outstanding.size() >= client_requests_max) return false;
  m.header.port = c.port;
  m.header.correlation = ++correlation_;
  m.header.sequence = ++c.sequence[static_cast<std::size_t>(to)];
  ipc::seal(m);
  e.ring.push_back(m);
  Request req;
  req.kind = kind;
  req.to = to;
  req.message = m;
  req.sent_ns = now_ns_;
  c.outstanding[m.header.correlation] = req;
  return true;
}

void Simulator::read_replies() {
  for (Client& c : clients_) {
    while (!c.replies.empty()) {
      const Message r = c.replies.front();
      c.replies.pop_front();
      auto it = c.outstanding.find(r.header.correlation);
      if (it == c.outstanding.end()) continue;
      const auto type = static_cast<MessageType>(r.header.type);
      if (type == MessageType::place_order_reply) {
        const auto body = ipc::body_as<ipc::PlaceOrderReplyBody>(r);
        const auto result = static_cast<ipc::PlaceResult>(body.result);
        if (result == ipc::PlaceResult::accepted || result == ipc::PlaceResult::duplicate) {
          if (result == ipc::PlaceResult::accepted) ++result_.stats.accepted;
          accepted_.insert(r.header.order_id);
          trace("client%u order %llu %s", c.port, static_cast<unsigned long long>(r.header.order_id),
                result == ipc::PlaceResult::accepted ? "accepted" : "duplicate");
        } else {
          ++result_.stats.rejected;
          trace("client%u order rejected (%s)", c.port,
                std::string(ipc::order_reason_name(static_cast<ipc::OrderReason>(body.reason))).c_str());
        }
      } else if (type == MessageType::command_reply) {
        const auto body = ipc::body_as<ipc::CommandReplyBody>(r);
        auto known = known_commands_.find(r.header.correlation);
        if (known != known_commands_.end()) known->second = body.result == 0 ? body.entity_id : 0;
      }
      c.outstanding.erase(it);
    }
  }
}

void Simulator::retry_stale(Client& c) {
  // A PlaceOrder whose reply never came (the order domain died between commit and reply, or
  // the request still waits in a delayed ring): retried with the same idempotency key.
  for (auto it = c.outstanding.begin(); it != c.outstanding.end();) {
    Request& req = it->second;
    if (now_ns_ - req.sent_ns < client_timeout_ns) {
      ++it;
      continue;
    }
    if (req.kind != RequestKind::place) {  // a command whose answer was lost: given up
      it = c.outstanding.erase(it);
      continue;
    }
    auto body = ipc::body_as<ipc::PlaceOrderBody>(req.message);
    const Request old = req;
    c.outstanding.erase(it);
    if (old.retries >= client_retries_max || body.idempotency_key == 0) return;
    if (!reserve(body)) {
      trace("client%u retry: sold out", c.port);
      return;
    }
    Message m = ipc::make_message(MessageType::place_order, Domain::port, Domain::order, body);
    if (!send(c, Domain::order, m, RequestKind::place)) {
      for (std::uint32_t i = 0; i < body.item_count; ++i) available_[body.items[i].product_id] += body.items[i].quantity;
      return;
    }
    c.outstanding[correlation_].retries = old.retries + 1;
    ++result_.stats.retries;
    trace("client%u retry idem=%llu", c.port, static_cast<unsigned long long>(body.idempotency_key));
    return;
  }
}

void Simulator::place_order(Client& c) {
  ++result_.stats.place_requests;
  ipc::PlaceOrderBody body{};
  body.user_id = 1 + draw(users_ + 1);  // users_ + 1: an unknown user now and then
  body.item_count = draw(4) == 0 ? 2 : 1;
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    const std::uint64_t p = draw(10) < 6 ? hot_product_ : 1 + draw(products_.size() - 1);
    body.items[i].product_id = static_cast<std::uint32_t>(p);
    body.items[i].quantity = draw(6) == 0 ? 2 : 1;
  }
  if (draw(10) < 3 && !coupons_.empty()) {
    const Coupon& cp = coupons_[draw(coupons_.size())];
    // Mostly the user's own coupon; sometimes someone else's (not owned).
    body.user_id = draw(4) == 0 ? body.user_id : cp.user;
    body.coupon_id = cp.id;
  } else if (draw(50) == 0) {
    body.coupon_id = 999;  // no such coupon
  }
  if (draw(10) < 4) body.points_requested = 100 + static_cast<std::int64_t>(draw(50)) * 100;
  const std::uint64_t k = draw(20);
  if (k < 12) {
    body.idempotency_key = (options_.seed << 20) ^ next_idem_++;
    idem_used_.push_back(body.idempotency_key);
  } else if (k < 13 && !idem_used_.empty()) {
    body.idempotency_key = idem_used_[draw(idem_used_.size())];  // a reused key: one order
  }
  // The door: sale window, then the CAS on every line (all or none).
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    const Product& p = products_[body.items[i].product_id];
    if ((p.starts_ns != 0 && now_ns_ < p.starts_ns) || (p.ends_ns != 0 && now_ns_ >= p.ends_ns)) {
      ++result_.stats.not_on_sale;
      trace("client%u not on sale p%llu", c.port, static_cast<unsigned long long>(p.id));
      return;
    }
  }
  if (!reserve(body)) {
    ++result_.stats.sold_out;
    trace("client%u sold out", c.port);
    return;
  }
  Message m = ipc::make_message(MessageType::place_order, Domain::port, Domain::order, body);
  if (!send(c, Domain::order, m, RequestKind::place)) {
    for (std::uint32_t i = 0; i < body.item_count; ++i) available_[body.items[i].product_id] += body.items[i].quantity;
    trace("client%u overloaded", c.port);
    return;
  }
  trace("client%u place user=%llu p%u x%u%s coupon=%llu points=%lld idem=%llu", c.port,
        static_cast<unsigned long long>(body.user_id), body.items[0].product_id, body.items[0].quantity,
        body.item_count > 1 ? " +1 line" : "", static_cast<unsigned long long>(body.coupon_id),
        static_cast<long long>(body.points_requested), static_cast<unsigned long long>(body.idempotency_key));
}

void Simulator::cancel_order(Client& c) {
  ++result_.stats.cancels_requested;
  std::uint64_t id = 1 + draw(accepted_.size() + 2);  // sometimes one that does not exist
  if (!accepted_.empty() && draw(4) != 0) {
    auto it = accepted_.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(draw(accepted_.size())));
    id = *it;
  }
  ipc::CancelOrderBody body{};
  body.reason = static_cast<std::uint8_t>(draw(2) == 0 ? ipc::OrderReason::cancelled_by_customer
                                                       : ipc::OrderReason::cancelled_by_operator);
  Message m = ipc::make_message(MessageType::cancel_order, Domain::port, Domain::order, body);
  m.header.order_id = id;
  if (send(c, Domain::order, m, RequestKind::cancel))
    trace("client%u cancel order %llu", c.port, static_cast<unsigned long long>(id));
}

void Simulator::command(Client& c) {
  ++result_.stats.commands;
  const std::uint64_t user = 1 + draw(users_);
  const std::uint64_t r = draw(4);
  bool sent = false;
  if (r == 0) {
    ipc::DepositBody b{user, 1000 + static_cast<std::int64_t>(draw(100)) * 1000};
    sent = send(c, Domain::payment, ipc::make_message(MessageType::deposit, Domain::port, Domain::payment, b),
                RequestKind::command);
  } else if (r == 1) {
    ipc::AccruePointsBody b{};
    b.user_id = user;
    b.amount = 100 + static_cast<std::int64_t>(draw(30)) * 100;
    (void)b.reason.assign("sim");
    sent = send(c, Domain::point, ipc::make_message(MessageType::accrue_points, Domain::port, Domain::point, b),
                RequestKind::command);
  } else if (r == 2) {
    ipc::RestockBody b{1 + draw(products_.size() - 1), 1 + static_cast<std::int64_t>(draw(3))};
    sent = send(c, Domain::product, ipc::make_message(MessageType::restock, Domain::port, Domain::product, b),
                RequestKind::command);
  } else {
    ipc::IssueCouponBody b{1 + draw(3), user};
    sent = send(c, Domain::coupon, ipc::make_message(MessageType::issue_coupon, Domain::port, Domain::coupon, b),
                RequestKind::command);
  }
  trace("client%u command %llu user=%llu%s", c.port, static_cast<unsigned long long>(r),
        static_cast<unsigned long long>(user), sent ? "" : " (ring full)");
}

void Simulator::client_action() {
  Client& c = clients_[draw(clients_.size())];
  retry_stale(c);
  const std::uint64_t r = draw(100);
  if (r < 75) place_order(c);
  else if (r < 88) cancel_order(c);
  else command(c);
}

// --- Phases --------------------------------------------------------------------------------

bool Simulator::settle(bool advance_time, const char* phase) {
  for (std::uint32_t round = 0; round < settle_rounds_max; ++round) {
    read_replies();
    bool worked = false;
    for (Domain d : all_domains) {
      SimNode& n = node(d);
      if (!n.has_work(now_ns_)) continue;
      BatchPlan plan;
      for (int e : n.inputs()) plan.take[static_cast<std::size_t>(e)] = drain_count_max;
      if (n.pending_out() > 0) n.publish_pending();
      run_planned(d, plan);
      worked = true;
    }
    if (worked) continue;
    std::int64_t due = INT64_MAX;
    for (Domain d : all_domains) due = std::min(due, node(d).next_due_ns());
    bool rings_busy = false;
    for (const Edge& e : net_.edges) rings_busy = rings_busy || (!e.ring.empty() && e.to.domain != Domain::port);
    if (!rings_busy && due == INT64_MAX) {
      result_.stats.drain_rounds += round;
      return true;
    }
    if (!advance_time) continue;
    ++result_.stats.drain_rounds;
    advance(std::max<std::int64_t>(due == INT64_MAX ? 0 : due - now_ns_, 0) + ms_ns);
  }
  fail(std::string(phase) + ": did not settle within " + std::to_string(settle_rounds_max) + " rounds");
  return false;
}

bool Simulator::setup() {
  const std::uint32_t ports = 1 + static_cast<std::uint32_t>(draw(sim_ports_max));
  for (std::uint32_t p = 0; p < ports; ++p) {
    Client c;
    c.port = p;
    clients_.push_back(c);
  }
  Client& admin = clients_[0];
  auto command_for = [&](Domain to, MessageType type, const auto& body) {
    const bool ok = send(admin, to, ipc::make_message(type, Domain::port, to, body), RequestKind::command);
    FS_ASSERT(ok);
    known_commands_[correlation_] = UINT64_MAX;
    return correlation_;
  };
  users_ = 3 + static_cast<std::uint32_t>(draw(users_max - 2));
  for (std::uint32_t u = 1; u <= users_; ++u) {
    ipc::CreateUserBody b{};
    (void)b.name.assign("user" + std::to_string(u));
    std::string email(1, 'u');  // appended: "u" + a temporary trips GCC 12's -Wrestrict at -O3
    email += std::to_string(u) + "@sim.test";
    (void)b.email.assign(email);
    command_for(Domain::user, MessageType::create_user, b);
  }
  // The catalog: a hot SKU with a few units and a per-customer limit, normal SKUs, and one
  // whose sale opens later and closes.
  products_.resize(1);
  const std::uint32_t product_count = 3 + static_cast<std::uint32_t>(draw(3));
  for (std::uint32_t i = 1; i <= product_count; ++i) {
    Product p;
    p.id = i;
    p.price = 1000 * (5 + static_cast<std::int64_t>(draw(40)));
    p.stock = i == hot_product_ ? 2 + static_cast<std::int64_t>(draw(6)) : 10 + static_cast<std::int64_t>(draw(40));
    p.max_per_user = i == hot_product_ ? 1 + static_cast<std::uint32_t>(draw(2)) : 0;
    if (i == product_count && draw(2) == 0) {
      p.starts_ns = t0_ns + 1'000 * ms_ns;
      p.ends_ns = t0_ns + 20'000 * ms_ns;
    }
    products_.push_back(p);
    ipc::CreateProductBody b{};
    b.price = p.price;
    b.stock = p.stock;
    b.max_per_user = p.max_per_user;
    b.sale_starts_ns = p.starts_ns;
    b.sale_ends_ns = p.ends_ns;
    (void)b.name.assign("product" + std::to_string(i));
    command_for(Domain::product, MessageType::create_product, b);
  }
  // Templates: 1 fixed and limited, 2 percent with a cap, 3 expiring soon with a minimum.
  {
    ipc::CreateCouponTemplateBody b{};
    b.kind = static_cast<std::uint8_t>(ipc::CouponKind::fixed);
    b.value = 3000;
    b.quantity = 3;
    (void)b.name.assign("3000 off");
    command_for(Domain::coupon, MessageType::create_coupon_template, b);
    b.kind = static_cast<std::uint8_t>(ipc::CouponKind::percent);
    b.value = 10;
    b.max_discount = 5000;
    b.quantity = 0;
    (void)b.name.assign("10% off");
    command_for(Domain::coupon, MessageType::create_coupon_template, b);
    b.value = 50;
    b.max_discount = 0;
    b.min_order_amount = 20000;
    b.expires_at_ns = t0_ns + 4'000 * ms_ns;
    (void)b.name.assign("half price, soon gone");
    command_for(Domain::coupon, MessageType::create_coupon_template, b);
  }
  if (!settle(false, "setup")) return false;
  for (const auto& [corr, entity] : known_commands_)
    if (entity == 0 || entity == UINT64_MAX) {
      fail("setup command " + std::to_string(corr) + " failed");
      return false;
    }
  known_commands_.clear();
  // Money, points, coupons, and one blocked user.
  for (std::uint32_t u = 1; u <= users_; ++u) {
    if (draw(5) != 0)
      command_for(Domain::payment, MessageType::deposit,
                  ipc::DepositBody{u, 1000 * (1 + static_cast<std::int64_t>(draw(150)))});
    if (draw(3) != 0) {
      ipc::AccruePointsBody b{};
      b.user_id = u;
      b.amount = 100 * (1 + static_cast<std::int64_t>(draw(60)));
      (void)b.reason.assign("welcome");
      command_for(Domain::point, MessageType::accrue_points, b);
    }
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> issues;  // correlation, user
  for (std::uint32_t u = 1; u <= users_; ++u)
    for (std::uint64_t t = 1; t <= 3; ++t)
      if (draw(2) == 0) issues.push_back({command_for(Domain::coupon, MessageType::issue_coupon, ipc::IssueCouponBody{t, u}), u});
  if (draw(2) == 0) {
    blocked_user_ = users_;
    ipc::UpdateUserBody b{};
    b.user_id = blocked_user_;
    b.set_blocked = 1;
    b.blocked = 1;
    command_for(Domain::user, MessageType::update_user, b);
  }
  if (!settle(false, "setup")) return false;
  for (const auto& [corr, user] : issues) {
    const std::uint64_t id = known_commands_[corr];
    if (id != 0 && id != UINT64_MAX) coupons_.push_back(Coupon{id, user});
  }
  known_commands_.clear();
  available_.assign(products_.size(), 0);
  reconcile_stock("setup");
  trace("setup users=%u products=%zu coupons=%zu ports=%zu adapter=%s timeout=%lldms", users_, products_.size() - 1,
        coupons_.size(), clients_.size(), pg_config_.payment_adapter == engine::PaymentAdapter::pg ? "pg" : "wallet",
        static_cast<long long>(config_.step_timeout_ms));
  return true;
}

void Simulator::check_facts() {
  journal::Env* order_env = node(Domain::order).env();
  journal::Env* product_env = node(Domain::product).env();
  journal::ReadTxn ot, pt;
  if (!order_env->begin_read(ot).ok() || !product_env->begin_read(pt).ok()) {
    fail("journals unreadable at the end");
    return;
  }
  for (const Edge& e : net_.edges)
    if (!e.ring.empty() && e.to.domain != Domain::port)
      fail("ring e" + std::to_string(e.index) + " still holds " + std::to_string(e.ring.size()) + " messages");
  for (Domain d : all_domains)
    if (node(d).pending_out() != 0) fail(std::string(ipc::domain_name(d)) + " still has unpublished messages");
  // Every order a client saw accepted exists and is terminal.
  for (std::uint64_t id : accepted_) {
    OrderRow row{};
    if (!ot.get_as(order_env->table("orders"), journal::key_u64(id), row).ok()) {
      fail("accepted order " + std::to_string(id) + " is missing from the order journal");
      continue;
    }
    const auto st = static_cast<OrderStatus>(row.status);
    if (st != OrderStatus::completed && st != OrderStatus::cancelled)
      fail("accepted order " + std::to_string(id) + " is " + std::string(domains::order_status_name(st)));
  }
  // Units per (user, product) of completed orders: the per-customer limit held.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> bought;
  (void)ot.scan(order_env->table("orders"), {}, SIZE_MAX, [&](journal::Bytes, journal::Bytes value) {
    OrderRow row{};
    if (!journal::from_bytes(value, row)) return false;
    if (row.status == static_cast<std::uint8_t>(OrderStatus::completed)) {
      ++result_.stats.completed;
      for (std::uint32_t i = 0; i < row.item_count; ++i)
        bought[{row.user_id, row.items[i].product_id}] += row.items[i].quantity;
    } else if (row.status == static_cast<std::uint8_t>(OrderStatus::cancelled)) {
      ++result_.stats.cancelled;
    } else {
      fail("order " + std::to_string(row.id) + " is not terminal after the drain");
    }
    return true;
  });
  for (const auto& [key, units] : bought) {
    const Product& p = products_[key.second];
    if (p.max_per_user != 0 && units > p.max_per_user)
      fail("user " + std::to_string(key.first) + " holds " + std::to_string(units) + " units of product " +
           std::to_string(p.id) + " (max_per_user " + std::to_string(p.max_per_user) + ")");
  }
  // Stock: the counters the ports reserve from agree with the owner's journal, nothing held.
  (void)pt.scan(product_env->table("products"), {}, SIZE_MAX, [&](journal::Bytes, journal::Bytes value) {
    ProductRow row{};
    if (!journal::from_bytes(value, row) || row.id >= available_.size()) return false;
    const std::string p = "product " + std::to_string(row.id) + ": ";
    if (row.reserved != 0) fail(p + std::to_string(row.reserved) + " units still reserved after the drain");
    if (row.sold > row.total) fail(p + "oversold: " + std::to_string(row.sold) + " of " + std::to_string(row.total));
    if (available_[row.id] != row.total - row.reserved - row.sold)
      fail(p + "counter says " + std::to_string(available_[row.id]) + " available, the journal " +
           std::to_string(row.total - row.reserved - row.sold));
    return true;
  });
}

void Simulator::run_checker() {
  // LMDB forbids opening one environment twice in a process: the checker opens them alone.
  for (Domain d : all_domains) node(d).close();
  tools::CheckOptions o;
  o.data_dir = dir_;
  o.require_terminal = true;
  o.now_ns = now_ns_;
  o.recheck_count_max = 1;
  const tools::CheckReport r = tools::run_check(o);
  if (!r.error.empty()) fail("check: " + r.error);
  for (const tools::Violation& v : r.violations)
    fail("check: invariant " + std::to_string(v.invariant) + " order " + std::to_string(v.order_id) + " [" + v.domain +
         " #" + std::to_string(v.journal_sequence) + "] " + v.what);
  trace("check orders=%llu completed=%llu cancelled=%llu violations=%zu",
        static_cast<unsigned long long>(r.orders), static_cast<unsigned long long>(r.completed),
        static_cast<unsigned long long>(r.cancelled), r.violations.size());
}

void Simulator::finish() {
  // Drain: heal the gateway, lift every delay, stop the clients, deliver everything and let
  // time run past every deadline.
  for (Edge& e : net_.edges) e.delayed_until_ns = 0;
  if (pg_config_.payment_adapter == engine::PaymentAdapter::pg) change_pg(true);
  for (Domain d : all_domains)
    if (!node(d).up()) return fail(std::string(ipc::domain_name(d)) + " is down at the drain");
  if (!settle(true, "drain")) return;
  read_replies();
  // Journal positions close the trace: two runs of a seed must have written the same.
  for (Domain d : all_domains) {
    journal::ReadTxn t;
    if (node(d).env()->begin_read(t).ok())
      trace("end %s records=%llu", std::string(ipc::domain_name(d)).c_str(),
            static_cast<unsigned long long>(t.last_sequence()));
  }
  check_facts();
  if (options_.run_checker) run_checker();
}

SimResult Simulator::run() {
  trace("seed %llu steps %u bug %s crash=%u dup=%u delay=%u fail_commit=%u", static_cast<unsigned long long>(options_.seed),
        options_.steps, std::string(bug_mode_name(options_.bug)).c_str(), faults_.crash, faults_.duplicate,
        faults_.delay, faults_.fail_commit);
  if (start_nodes() && setup()) {
    for (std::uint32_t s = 0; s < options_.steps; ++s) step();
    finish();
  }
  result_.passed = result_.failures.empty();
  result_.trace_hash = hash_;
  result_.stats.virtual_ms = (now_ns_ - t0_ns) / ms_ns;
  if (!options_.full_trace) result_.trace.assign(tail_.begin(), tail_.end());
  if (options_.keep_dir) result_.data_dir = dir_.string();
  return result_;
}

}  // namespace

std::string_view bug_mode_name(BugMode b) noexcept {
  switch (b) {
    case BugMode::none: return "none";
    case BugMode::drop_cancel: return "drop_cancel";
    case BugMode::double_release: return "double_release";
    case BugMode::skip_dedup: return "skip_dedup";
  }
  return "unknown";
}

bool parse_bug_mode(std::string_view name, BugMode& out) noexcept {
  for (BugMode b : {BugMode::none, BugMode::drop_cancel, BugMode::double_release, BugMode::skip_dedup})
    if (bug_mode_name(b) == name) {
      out = b;
      return true;
    }
  return false;
}

SimResult run_seed(const SimOptions& options) {
  Simulator sim(options);
  return sim.run();
}

void print_result(const SimResult& r, const SimOptions& options, std::ostream& out) {
  out << "seed " << r.seed << (r.passed ? " passed" : " FAILED") << " (trace hash " << std::hex << r.trace_hash
      << std::dec << ", " << r.stats.steps << " steps, " << r.stats.virtual_ms << " virtual ms)\n";
  for (const std::string& f : r.failures) out << "  failure: " << f << "\n";
  if (!r.trace.empty()) {
    out << "  trace" << (options.full_trace ? "" : " (last lines)") << ":\n";
    for (const std::string& line : r.trace) out << "    " << line << "\n";
  }
  out << "  replay: tests/sim/sim_run --seed " << r.seed << " --steps " << options.steps;
  if (options.bug != BugMode::none) out << " --bug " << bug_mode_name(options.bug);
  out << " --trace\n";
  if (!r.data_dir.empty()) out << "  journals kept in " << r.data_dir << " (flashsaga check --data ...)\n";
}

}  // namespace flashsaga::sim
