#include "tests/sim/simulator.h"

#include <stdlib.h>

#include <algorithm>
#include <array>
#include <bit>
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

// The virtual clock starts far beyond any real wall clock, so a place that reads the wall
// clock (a journal's creation time) is always in the virtual past and changes nothing.
constexpr std::int64_t t0_ns = 4'000'000'000'000'000'000;
constexpr std::int64_t ms_ns = 1'000'000;

// Bounds on one run.
constexpr std::uint32_t users_max = 12;
constexpr std::uint32_t settle_rounds_max = 20'000;        // drain / setup rounds, at most
constexpr std::uint32_t client_retries_max = 2;            // retries of one PlaceOrder
constexpr std::int64_t client_timeout_ns = 3'000 * ms_ns;  // a reply not back by then: retry
constexpr std::size_t client_requests_max = 256;           // outstanding requests per client
constexpr std::size_t failures_max = 20;
constexpr std::uint32_t sim_products_max = 16;  // product ids 1..15
constexpr std::uint32_t send_attempts_max = 2;  // setup: a full ring is drained once
// Orders kept in memory per order-keyed table (WindowTable). A table reusing the slot of a row
// the view has not applied yet waits for the view (Batch::wait_for_view), which only another
// thread could end, so the window must exceed the ids of every batch not yet viewed: at most
// batch_buffers_max batches of drain_count_max PlaceOrders per client port. Short runs keep every
// order in memory (at most two new ids per step); long ones also read old rows from the view.
constexpr std::size_t orders_in_memory_min = 1024;
constexpr std::size_t orders_in_memory_max = 16384;
static_assert(orders_in_memory_max > runtime::batch_buffers_max * drain_count_max * sim_ports_max);

constexpr std::array<Domain, domain_count> all_domains = {
    Domain::user, Domain::point, Domain::product, Domain::coupon, Domain::order, Domain::payment};

std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

std::string name(Domain d) {
  return std::string(ipc::domain_name(d));
}

struct Product {
  std::uint64_t id = 0;
  std::int64_t price = 0, stock = 0;
  std::uint32_t max_per_user = 0;
  std::int64_t starts_ns = 0, ends_ns = 0;
};

// The simulated shared-memory StockSlot: what ports read and CAS, what effects write.
struct StockSlot {
  bool exists = false;
  std::int64_t available = 0, price = 0, total = 0, starts_ns = 0, ends_ns = 0;
  std::uint32_t max_per_user = 0;
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
  std::map<std::uint64_t, Request> outstanding;            // correlation -> request
  std::deque<Message> replies;                             // arrived, not yet read
};

// The rates of one seed's faults, in permille of steps (reply_loss: of replies).
struct FaultProfile {
  std::uint32_t client = 300, time_small = 80, time_big = 10;
  std::uint32_t crash = 0, fail_commit = 0, duplicate = 0, delay = 0, pg_change = 0;
  std::uint32_t reply_loss = 0;
};

class Simulator final : public SimWorld, public runtime::PeerViews {
 public:
  explicit Simulator(const SimOptions& options);
  ~Simulator() override;
  SimResult run();

  // SimWorld: the ports' reply rings and the shared-memory stock.
  bool reply(const Message& m) override;
  void apply(Domain from, const domains::Effect& e) override;
  // PeerViews: a peer's view is the one its node writes (one Env per directory per process).
  const journal::Env* open(Domain d) override;

 private:
  // Randomness: portable (no std:: distributions, whose results differ between libraries).
  std::uint64_t draw(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(std::uint32_t permille) { return draw(1000) < permille; }

  void trace(const char* format, ...) __attribute__((format(printf, 2, 3)));
  void fail(const std::string& what);
  void halt(const std::string& what);
  bool start_nodes();
  std::unique_ptr<domains::DomainLogic> make_logic(Domain d);
  SimNode& node(Domain d) { return *nodes_[static_cast<std::size_t>(d)]; }
  Edge& edge(int index) { return net_.edges[static_cast<std::size_t>(index)]; }
  void restart(Domain d, const char* why);

  // Scheduler actions.
  void step();
  void work_some_domain();
  void deliver(Domain d);
  void run_business(Domain d, const std::string& takes);
  void commit_some(Domain d, CommitFault fault);
  void trace_commit(Domain d, const CommitOutcome& o, const char* why);
  void check_view_position(Domain d, const char* when);
  void fail_some_commit();
  void crash_some_domain();
  void crash_at(Domain d, CrashPoint point);
  bool reach(Domain d, CommitStage stage);
  void duplicate_some_message();
  void delay_some_edge();
  void change_pg(bool heal);
  void advance(std::int64_t ns);
  // Product's inputs: the drop_cancel bug, and the oversell the next batch would commit.
  void drop_cancels();
  bool product_contract_broken(std::uint64_t* seen);
  void load_product_seen();

  // Clients.
  void client_action();
  void place_order(Client& c);
  void cancel_order(Client& c);
  void command(Client& c);
  void retry_stale(Client& c);
  bool send(Client& c, Domain to, Message m, RequestKind kind);
  void read_replies();
  void check_readable(std::uint64_t order_id);
  const char* door(const ipc::PlaceOrderBody& body);
  bool reserve(ipc::PlaceOrderBody& body);  // the port's CAS: all lines or none
  void give_back(const ipc::PlaceOrderBody& body);
  void reconcile_stock(const char* why);
  std::vector<std::int64_t> units_not_counted(journal::Env& order_view, std::uint64_t last_seen);

  // Phases.
  bool setup();
  void setup_catalog();
  // (correlation, user) of each coupon issued
  std::vector<std::pair<std::uint64_t, std::uint64_t>> setup_accounts();
  std::uint64_t setup_command(Domain to, const Message& m);
  template <typename Body>
  std::uint64_t admin(Domain to, MessageType type, const Body& body) {
    return setup_command(to, ipc::make_message(type, Domain::port, to, body));
  }
  bool settle(bool advance_time, const char* phase);
  bool settle_round();
  void finish();
  void check_facts();
  void check_stock_step(const journal::ReadTxn& product_view, const OrderRow& row);
  void run_checker();

  SimOptions options_;
  std::mt19937_64 rng_;
  std::int64_t now_ns_ = t0_ns;
  FaultProfile faults_;
  engine::Config config_;     // what order, product, point and coupon are built with
  engine::Config pg_config_;  // what payment is built with (copied at construction)
  std::filesystem::path dir_;
  Network net_;
  std::array<std::unique_ptr<SimNode>, domain_count + 1> nodes_{};
  std::array<std::uint64_t, domain_count + 1> dups_seen_{};  // skip_dedup: per node's transport
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
  std::vector<StockSlot> stock_;      // the simulated shared-memory stock, index = product id
  std::set<std::uint64_t> accepted_;  // orders some client saw accepted
  std::map<std::uint64_t, std::uint64_t> known_commands_;  // correlation -> expected entity (setup)
  std::uint64_t product_seen_ = 0;  // product's last_order_seen in memory (from its inputs)
  bool lossless_ = true;            // no reply is lost in the setup and the drain
  bool halted_ = false;             // a fact failed that the run cannot go on from
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
  config_.orders_in_memory = std::bit_ceil(std::clamp<std::size_t>(
      2 * std::size_t{options.steps}, orders_in_memory_min, orders_in_memory_max));
  config_.geometry.products_max = sim_products_max;
  pg_config_ = config_;
  pg_config_.payment_adapter =
      draw(10) < 6 ? engine::PaymentAdapter::pg : engine::PaymentAdapter::wallet;
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
  faults_.reply_loss = draw(3) == 0 ? 50 : 0;
  // Ring capacity: mostly roomy; in some seeds small enough that rings fill (back-pressure).
  const std::uint64_t capacity = draw(10);
  const std::size_t slots = capacity < 6 ? edge_capacity_slots : capacity < 9 ? 64 : 6;
  for (Edge& e : net_.edges) e.capacity = slots;
  stock_.assign(sim_products_max, StockSlot{});

  std::filesystem::path root = options.tmp_root;
  if (root.empty())
    root =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
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
  const int head = std::snprintf(line, sizeof line, "%llu +%lldms ",
                                 static_cast<unsigned long long>(result_.stats.steps),
                                 static_cast<long long>((now_ns_ - t0_ns) / ms_ns));
  va_list args;
  va_start(args, format);
  std::vsnprintf(line + head, sizeof line - static_cast<std::size_t>(head), format, args);
  va_end(args);
  hash_ = fnv1a(hash_, line);
  hash_ = fnv1a(hash_, "\n");
  if (options_.echo) std::fprintf(stderr, "%s\n", line);
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

void Simulator::halt(const std::string& what) {
  fail(what);
  halted_ = true;
  trace("HALT: the run cannot go on from here");
}

std::unique_ptr<domains::DomainLogic> Simulator::make_logic(Domain d) {
  switch (d) {
    case Domain::user:
      return std::make_unique<domains::UserDomain>();
    case Domain::point:
      return std::make_unique<domains::PointDomain>(engine::step_options(config_));
    case Domain::product:
      return std::make_unique<domains::ProductDomain>(engine::product_options(config_), nullptr);
    case Domain::coupon:
      return std::make_unique<domains::CouponDomain>(engine::step_options(config_));
    case Domain::order:
      return std::make_unique<domains::OrderDomain>(engine::order_options(config_));
    case Domain::payment:
      return std::make_unique<domains::PaymentDomain>(engine::payment_options(pg_config_));
    default:
      return nullptr;
  }
}

const journal::Env* Simulator::open(Domain d) {
  const auto i = static_cast<std::size_t>(d);
  if (i >= nodes_.size() || !nodes_[i] || !nodes_[i]->up()) return nullptr;
  return nodes_[i]->view_env();
}

bool Simulator::start_nodes() {
  if (dir_.empty()) {
    fail("cannot create a temporary directory");
    return false;
  }
  for (Domain d : all_domains)
    nodes_[static_cast<std::size_t>(d)] = std::make_unique<SimNode>(
        d, dir_, [this, d] { return make_logic(d); }, net_, *this, *this);
  for (Domain d : all_domains) {
    const std::string e = node(d).restart(false);
    if (!e.empty()) {
      fail(name(d) + ": " + e);
      return false;
    }
  }
  return true;
}

void Simulator::restart(Domain d, const char* why) {
  const std::string e = node(d).restart(options_.bug == BugMode::skip_dedup);
  dups_seen_[static_cast<std::size_t>(d)] = 0;
  trace("restart %s (%s) view_replayed=%llu backlog=%zu%s%s", name(d).c_str(), why,
        static_cast<unsigned long long>(node(d).view_batches_replayed()), node(d).backlog(),
        e.empty() ? "" : ": ", e.c_str());
  if (!e.empty()) return halt("restart of " + name(d) + " failed: " + e);
  if (d == Domain::product) load_product_seen();
  check_view_position(d, "after recovery");
  // A crash of the stock owner or of the order domain may have lost a give-back (an effect
  // journaled but never applied): the counters are recomputed (the product domain's rule).
  if (d == Domain::product || d == Domain::order) reconcile_stock(why);
}

void Simulator::load_product_seen() {
  // The product domain's memory starts from its view (runtime::recover), and so does its
  // last_order_seen.
  journal::Env* view = node(Domain::product).view_env();
  journal::ReadTxn txn;
  product_seen_ = 0;
  journal::Status s = view->begin_read(txn);
  if (s.ok())
    s = txn.get_as(view->table(domains::view_counters_table_name),
                   journal::as_bytes(std::string_view("last_order_seen")), product_seen_);
  if (!s.ok() && s.code() != journal::ErrorCode::not_found)
    fail("product domain: counters unreadable: " + s.message());
}

// --- Shared memory: replies and stock --------------------------------------------------------

bool Simulator::reply(const Message& m) {
  if (!lossless_ && faults_.reply_loss != 0 && chance(faults_.reply_loss)) {
    ++result_.stats.lost_replies;
    trace("reply to port %u lost (correlation %llu)", m.header.port,
          static_cast<unsigned long long>(m.header.correlation));
    return false;
  }
  for (Client& c : clients_)
    if (c.port == m.header.port) {
      c.replies.push_back(m);
      return true;
    }
  return false;
}

void Simulator::apply(Domain from, const domains::Effect& e) {
  using Kind = domains::Effect::Kind;
  if (e.kind == Kind::intake_open || e.product_id == 0 || e.product_id >= stock_.size()) return;
  StockSlot& slot = stock_[e.product_id];
  switch (e.kind) {
    case Kind::stock_add:
      slot.available += e.value;
      if (options_.bug == BugMode::double_release && from == Domain::product && e.value > 0) {
        slot.available += e.value;  // the deliberate bug
        result_.bug_fired = true;
        trace("BUG stock_add p%u +%lld applied twice", e.product_id,
              static_cast<long long>(e.value));
      }
      return;
    case Kind::stock_set:
      slot.available = e.value;
      return;
    case Kind::product_publish:
      slot.exists = true;
      slot.price = e.product.price;
      slot.starts_ns = e.product.sale_starts_ns;
      slot.ends_ns = e.product.sale_ends_ns;
      slot.max_per_user = e.product.max_per_user;
      slot.total = e.product.total;
      return;
    case Kind::intake_open:
      return;
  }
}

const char* Simulator::door(const ipc::PlaceOrderBody& body) {
  // The port refuses while a domain cannot commit (engine/port.cc), then checks each line.
  for (Domain d : all_domains)
    if (node(d).up() && node(d).degraded()) return "unavailable";
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    const std::uint32_t id = body.items[i].product_id;
    if (id >= stock_.size() || !stock_[id].exists) return "unknown product";
    const StockSlot& p = stock_[id];
    if ((p.starts_ns != 0 && now_ns_ < p.starts_ns) || (p.ends_ns != 0 && now_ns_ >= p.ends_ns))
      return "not on sale";
  }
  return nullptr;
}

bool Simulator::reserve(ipc::PlaceOrderBody& body) {
  for (std::uint32_t i = 0; i < body.item_count; ++i) {
    ipc::LineItem& it = body.items[i];
    StockSlot& slot = stock_[it.product_id];
    it.unit_price = slot.price;
    if (slot.available < it.quantity) {
      for (std::uint32_t j = 0; j < i; ++j)
        stock_[body.items[j].product_id].available += body.items[j].quantity;
      return false;
    }
    slot.available -= it.quantity;
  }
  return true;
}

void Simulator::give_back(const ipc::PlaceOrderBody& body) {
  for (std::uint32_t i = 0; i < body.item_count; ++i)
    stock_[body.items[i].product_id].available += body.items[i].quantity;
}

// Units taken at the door that the product domain has not counted: orders in the order view
// above its last_order_seen, and PlaceOrders still in the port rings that the order domain
// has not applied (the real reconciliation waits for those rings to drain; here the picture
// is still by construction).
std::vector<std::int64_t> Simulator::units_not_counted(journal::Env& order_view,
                                                       std::uint64_t last_seen) {
  std::vector<std::int64_t> held(stock_.size(), 0);
  journal::ReadTxn ot;
  if (!order_view.begin_read(ot).ok()) {
    fail("reconcile: the order view is unreadable");
    return held;
  }
  const journal::Status s = ot.scan(order_view.table("orders"), journal::key_u64(last_seen + 1),
                                    SIZE_MAX, [&](journal::Bytes, journal::Bytes value) {
                                      OrderRow row{};
                                      if (!journal::from_bytes(value, row)) return false;
                                      for (std::uint32_t i = 0; i < row.item_count; ++i)
                                        if (row.items[i].product_id < held.size())
                                          held[row.items[i].product_id] += row.items[i].quantity;
                                      return true;
                                    });
  if (!s.ok()) fail("reconcile: cannot scan the order view: " + s.message());
  SimTransport& t = node(Domain::order).transport();
  for (const Client& c : clients_) {
    const Edge& e =
        net_.edge(Node{Domain::port, static_cast<std::uint8_t>(c.port)}, Node{Domain::order, 0});
    std::uint64_t applied = t.truth(t.input_of_edge(e.index));
    for (const Message& m : e.ring) {
      if (m.header.sequence <= applied) continue;  // applied already, or a duplicate
      applied = m.header.sequence;
      if (m.header.type != static_cast<std::uint16_t>(MessageType::place_order)) continue;
      const auto b = ipc::body_as<ipc::PlaceOrderBody>(m);
      for (std::uint32_t i = 0; i < b.item_count; ++i)
        if (b.items[i].product_id < held.size()) held[b.items[i].product_id] += b.items[i].quantity;
    }
  }
  return held;
}

void Simulator::reconcile_stock(const char* why) {
  ++result_.stats.reconciliations;
  SimNode& product = node(Domain::product);
  SimNode& order = node(Domain::order);
  if (!product.up() || !order.up()) return;  // the other one's restart reconciles
  // Like the product domain, which reconciles in a batch of its own once the order domain has
  // drained the port rings: every effect already decided by either domain is applied first.
  product.drain_commits();
  order.drain_commits();
  journal::ReadTxn pt;
  if (!product.view_env()->begin_read(pt).ok())
    return fail("reconcile: the product view is unreadable");
  std::uint64_t last_seen = 0;
  const journal::Status cs =
      pt.get_as(product.view_env()->table(domains::view_counters_table_name),
                journal::as_bytes(std::string_view("last_order_seen")), last_seen);
  if (!cs.ok() && cs.code() != journal::ErrorCode::not_found)
    fail("reconcile: counters unreadable: " + cs.message());
  const std::vector<std::int64_t> held = units_not_counted(*order.view_env(), last_seen);
  std::string changed;
  (void)pt.scan(
      product.view_env()->table("products"), {}, SIZE_MAX,
      [&](journal::Bytes, journal::Bytes value) {
        ProductRow row{};
        if (!journal::from_bytes(value, row) || row.id >= stock_.size()) return false;
        const std::int64_t a = row.total - row.reserved - row.sold - held[row.id];
        StockSlot& slot = stock_[row.id];
        const std::string p = "product " + std::to_string(row.id) + ": ";
        if (a < 0) fail(p + "oversold by " + std::to_string(-a) + " (reconciliation)");
        if (slot.available > a)  // only a lost give-back makes a counter differ, and it is low then
          fail(p + "the stock counter says " + std::to_string(slot.available) +
               " available, the journals only " + std::to_string(a) + " (reconciliation)");
        if (a != slot.available)
          changed += " p" + std::to_string(row.id) + ":" + std::to_string(slot.available) + "->" +
                     std::to_string(a);
        // What the real reconciliation publishes: the catalog, then every counter.
        domains::Effect publish{domains::Effect::Kind::product_publish,
                                static_cast<std::uint32_t>(row.id), 0, row};
        apply(Domain::product, publish);
        slot.available = std::max<std::int64_t>(a, 0);
        return true;
      });
  trace("reconcile stock (%s) last_order_seen=%llu%s", why,
        static_cast<unsigned long long>(last_seen), changed.c_str());
}

// --- Scheduler ---------------------------------------------------------------------------------

void Simulator::drop_cancels() {
  // The first OrderCancelled to product, and every copy of it (a re-send, a duplicate),
  // vanishes from the ring before the consumer reads it.
  Edge& e = net_.edge(Node{Domain::order, 0}, Node{Domain::product, 0});
  const auto cancelled = static_cast<std::uint16_t>(MessageType::order_cancelled);
  for (std::size_t k = e.read_offset(); k < e.ring.size() && !dropped_cancel_; ++k)
    if (e.ring[k].header.type == cancelled) {
      dropped_cancel_ = true;
      dropped_seq_ = e.ring[k].header.sequence;
    }
  for (std::size_t k = e.read_offset(); dropped_cancel_ && k < e.ring.size();) {
    const Message& m = e.ring[k];
    if (m.header.type != cancelled || m.header.sequence != dropped_seq_) {
      ++k;
      continue;
    }
    trace("BUG drop OrderCancelled order=%llu seq=%llu",
          static_cast<unsigned long long>(m.header.order_id),
          static_cast<unsigned long long>(m.header.sequence));
    e.ring.erase(e.ring.begin() + static_cast<std::ptrdiff_t>(k));
    result_.bug_fired = true;
  }
}

// What the product domain's next batch would break of what it is promised (and asserts):
//   - the door never hands out more than there is: Reservations never count more units
//     reserved and sold than the product's total. Only Reservations raise the count; nothing
//     else in the batch can have freed the units the door reserved, since a give-back reaches
//     the counters only after its batch is durable;
//   - the order domain's Reservations count an order before its completion or cancellation
//     arrives (order_domain.h), so every order a completion or cancellation names is counted.
// Halts the run with the broken promise named (going on would abort the process). Else
// returns false with *seen: product's last_order_seen once the batch is applied.
bool Simulator::product_contract_broken(std::uint64_t* seen) {
  SimNode& n = node(Domain::product);
  const auto* logic = static_cast<const domains::ProductDomain*>(n.logic());
  SimTransport& t = n.transport();
  std::vector<std::int64_t> extra(stock_.size(), 0);
  *seen = product_seen_;
  const auto inputs = t.inputs();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].from != Domain::order) continue;
    std::uint64_t applied = t.applied(i);
    for (std::size_t k = 0; k < std::min<std::size_t>(t.readable(i), drain_count_max); ++k) {
      const Message& m = t.peek(i, k);
      if (m.header.sequence <= applied) continue;  // the Agent drops it
      applied = m.header.sequence;
      const auto type = static_cast<MessageType>(m.header.type);
      if ((type == MessageType::order_cancelled || type == MessageType::order_completed) &&
          m.header.order_id > *seen) {
        halt("product domain: " + std::string(ipc::message_type_name(type)) + " of order " +
             std::to_string(m.header.order_id) + " (seq " + std::to_string(m.header.sequence) +
             ") arrives before the Reservations that count it (" +
             "product has seen orders up to " + std::to_string(*seen) + ")");
        return true;
      }
      if (type != MessageType::reservations) continue;
      const auto b = ipc::body_as<ipc::ReservationsBody>(m);
      *seen = std::max(*seen, b.last_order_id);
      for (std::uint32_t u = 0; u < b.count && u < b.products.size(); ++u)
        if (b.products[u].product_id < extra.size())
          extra[b.products[u].product_id] += b.products[u].units;
    }
  }
  for (std::uint32_t p = 1; p < extra.size(); ++p) {
    const ProductRow* row = logic->product(p);
    if (extra[p] == 0 || row == nullptr || row->reserved + row->sold + extra[p] <= row->total)
      continue;
    halt("product " + std::to_string(p) + ": oversold: the next batch counts " +
         std::to_string(extra[p]) + " more units reserved on top of " +
         std::to_string(row->reserved) + " reserved and " + std::to_string(row->sold) +
         " sold of " + std::to_string(row->total));
    return true;
  }
  return false;
}

void Simulator::run_business(Domain d, const std::string& takes) {
  SimNode& n = node(d);
  std::uint64_t product_seen = 0;
  if (d == Domain::product && product_contract_broken(&product_seen)) return;
  const BusinessOutcome out = n.run_business(now_ns_);
  now_ns_ += 20'000;  // a batch takes a little time
  if (!out.ran) return;
  if (d == Domain::product && out.took_input) product_seen_ = product_seen;
  result_.stats.ahead_max = std::max<std::uint64_t>(result_.stats.ahead_max, n.applied_batches());
  if (options_.bug == BugMode::skip_dedup) {
    std::uint64_t& seen = dups_seen_[static_cast<std::size_t>(d)];
    if (n.transport().duplicates_applied() > seen) {
      seen = n.transport().duplicates_applied();
      result_.bug_fired = true;
      trace("BUG %s handed a duplicate to its logic", name(d).c_str());
    }
  }
  if (!out.filled) {
    trace("apply %s%s: nothing%s", name(d).c_str(), takes.c_str(),
          out.took_input ? "" : " (input paused)");
    return;
  }
  ++result_.stats.batches;
  result_.stats.applied += out.messages_in - out.duplicates;
  result_.stats.duplicates_dropped += out.duplicates;
  trace("apply %s%s -> batch %llu in=%zu dup=%zu rec=%zu send=%zu reply=%zu eff=%zu ahead=%zu%s",
        name(d).c_str(), takes.c_str(), static_cast<unsigned long long>(out.batch), out.messages_in,
        out.duplicates, out.records, out.sends, out.replies, out.effects, n.applied_batches(),
        out.took_input ? "" : " (input paused)");
}

void Simulator::deliver(Domain d) {
  if (d == Domain::product && options_.bug == BugMode::drop_cancel) drop_cancels();
  SimNode& n = node(d);
  SimTransport& t = n.transport();
  std::string takes;
  const auto inputs = t.inputs();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Edge& e = edge(inputs[i].edge);
    if (e.unread() == 0 || e.delayed_until_ns > now_ns_) continue;
    const std::uint64_t r = draw(10);
    std::size_t take = 0;
    if (r < 2)
      take = 0;  // leave this edge for a later batch: reorders across edges
    else if (r < 6)
      take = 1;
    else if (r < 8)
      take = e.unread();
    else
      take = 1 + draw(e.unread());
    t.show(i, take, now_ns_);
    if (take > 0) takes += " e" + std::to_string(e.index) + ":" + std::to_string(take);
  }
  run_business(d, takes);
}

// Once a group is in the view (and after recovery), the view reflects the whole journal: its
// position names the journal's last record (recovery.h: the view is the journal's prefix, and
// a restart replays only what the view lacks).
void Simulator::check_view_position(Domain d, const char* when) {
  SimNode& n = node(d);
  journal::ReadTxn v;
  domains::ViewPosition position{};
  if (!n.view_env()->begin_read(v).ok()) return fail(name(d) + ": the view is unreadable");
  const journal::Status s = v.get_as(n.view_env()->table(domains::view_counters_table_name),
                                     journal::as_bytes(domains::view_position_key), position);
  if (!s.ok() && s.code() != journal::ErrorCode::not_found)
    return fail(name(d) + ": the view position is unreadable: " + s.message());
  const std::uint64_t last = n.journal_env()->stats().last_sequence;
  if (position.last_sequence != last)
    fail(name(d) + " view " + when + ": its position says journal record " +
         std::to_string(position.last_sequence) + ", the journal ends at " + std::to_string(last));
}

void Simulator::trace_commit(Domain d, const CommitOutcome& o, const char* why) {
  result_.stats.groups += o.published > 0 ? 1 : 0;
  result_.stats.held_back += o.published > 0 && node(d).backlog() > 0 ? 1 : 0;
  const CommitStage stage = node(d).stage();
  if (o.viewed && (stage == CommitStage::viewed || stage == CommitStage::idle))
    check_view_position(d, "after a commit");
  if (!o.did_something()) return;
  result_.stats.maps_grown += o.grown;
  trace("commit %s%s group=%zu%s%s published=%zu flushed=%zu stage=%s%s%s%s", name(d).c_str(), why,
        o.grouped, o.journaled ? " journal" : "", o.viewed ? " view" : "", o.published, o.flushed,
        std::string(commit_stage_name(node(d).stage())).c_str(), o.grown != 0 ? " (map grown)" : "",
        o.failed ? " FAILED " : "", o.error.c_str());
}

void Simulator::commit_some(Domain d, CommitFault fault) {
  // Mostly a whole commit; sometimes the committing thread is caught between its stages.
  const std::uint64_t r = fault == CommitFault::none ? draw(10) : 0;
  const CommitUntil until = r < 6   ? CommitUntil::published
                            : r < 8 ? CommitUntil::journaled
                                    : CommitUntil::viewed;
  const std::size_t group_max = 1 + draw(runtime::batch_buffers_max);
  const CommitOutcome o = node(d).commit(until, group_max, fault);
  result_.stats.failed_commits += o.failed ? 1 : 0;
  trace_commit(d, o,
               fault == CommitFault::none      ? ""
               : fault == CommitFault::journal ? " (fail journal)"
                                               : " (fail view)");
}

void Simulator::work_some_domain() {
  std::vector<Domain> ready;
  for (Domain d : all_domains)
    if (node(d).business_due(now_ns_) || node(d).commit_due()) ready.push_back(d);
  if (ready.empty()) return advance((1 + static_cast<std::int64_t>(draw(50))) * ms_ns);
  const Domain d = ready[draw(ready.size())];
  const bool business = node(d).business_due(now_ns_);
  const bool commit = node(d).commit_due();
  if (business && (!commit || draw(2) == 0)) return deliver(d);
  commit_some(d, CommitFault::none);
}

void Simulator::fail_some_commit() {
  std::vector<Domain> candidates;
  for (Domain d : all_domains)
    if (node(d).applied_batches() > 0 || node(d).business_due(now_ns_)) candidates.push_back(d);
  if (candidates.empty()) return;
  const Domain d = candidates[draw(candidates.size())];
  if (node(d).applied_batches() == 0) deliver(d);
  if (halted_) return;
  commit_some(d, draw(2) == 0 ? CommitFault::journal : CommitFault::view);
}

// Drives d's committing stage to `stage`, applying a batch first if there is none to commit.
bool Simulator::reach(Domain d, CommitStage stage) {
  SimNode& n = node(d);
  if (n.advance_to(stage)) return true;
  if (!n.business_due(now_ns_)) return false;
  deliver(d);
  return !halted_ && n.advance_to(stage);
}

void Simulator::crash_at(Domain d, CrashPoint point) {
  SimNode& n = node(d);
  bool reached = true;
  switch (point) {
    case CrashPoint::at_rest:
      break;
    case CrashPoint::before_journal:
      if ((n.applied_batches() == 0 || draw(2) == 0) && n.business_due(now_ns_)) deliver(d);
      reached = n.applied_batches() > n.group_size() || n.stage() == CommitStage::grouped;
      break;
    case CrashPoint::after_journal:
      reached = reach(d, CommitStage::journaled);
      break;
    case CrashPoint::after_view:
      reached = reach(d, CommitStage::viewed);
      break;
    case CrashPoint::mid_publish:
    case CrashPoint::after_publish: {
      reached = reach(d, CommitStage::viewed);
      if (!reached || halted_) break;
      const std::size_t calls = n.publish_calls();
      if (point == CrashPoint::mid_publish)
        n.transport().die_after(draw(std::max<std::size_t>(calls, 1)));
      const CommitOutcome o =
          n.commit(CommitUntil::published, runtime::batch_buffers_max, CommitFault::none);
      trace_commit(d, o, point == CrashPoint::mid_publish ? " (dies publishing)" : "");
      break;
    }
  }
  if (halted_) return;
  const CrashPoint at = reached ? point : CrashPoint::at_rest;
  ++result_.stats.crashes;
  ++result_.stats.crash_points[static_cast<std::size_t>(at)];
  trace("crash %s at %s (stage=%s batches=%zu backlog=%zu)", name(d).c_str(),
        std::string(crash_point_name(at)).c_str(),
        std::string(commit_stage_name(n.stage())).c_str(), n.applied_batches(), n.backlog());
  n.crash();
  restart(d, "crash");
}

void Simulator::crash_some_domain() {
  // Mostly a domain with work in its pipeline, at a chosen point; sometimes any domain at rest.
  std::vector<Domain> busy;
  for (Domain b : all_domains)
    if (node(b).business_due(now_ns_) || node(b).applied_batches() > 0) busy.push_back(b);
  const bool idle = busy.empty() || draw(4) == 0;
  const Domain d = idle ? all_domains[draw(domain_count)] : busy[draw(busy.size())];
  crash_at(d,
           idle ? CrashPoint::at_rest : static_cast<CrashPoint>(1 + draw(crash_point_count - 1)));
}

void Simulator::duplicate_some_message() {
  // A copy of a message goes somewhere after the original in the same ring, among what the
  // consumer has not read: what a producer restart re-sending its outbox does. Never ahead of
  // it (rings are FIFO).
  std::vector<int> busy;
  for (const Edge& e : net_.edges)
    if (!e.ring.empty() && e.to_domain() && !e.full()) busy.push_back(e.index);
  if (busy.empty()) return;
  Edge& e = edge(busy[draw(busy.size())]);
  const std::size_t from = draw(e.ring.size());
  const std::size_t lowest = std::max(from + 1, e.read_offset());
  const std::size_t to = lowest + draw(e.ring.size() - lowest + 1);
  const Message copy = e.ring[from];
  e.ring.insert(e.ring.begin() + static_cast<std::ptrdiff_t>(to), copy);
  ++result_.stats.dup_injected;
  trace("duplicate e%d seq=%llu at %zu", e.index,
        static_cast<unsigned long long>(copy.header.sequence), to);
}

void Simulator::delay_some_edge() {
  Edge& e = edge(static_cast<int>(draw(edge_count)));
  if (!e.to_domain()) return;
  const std::int64_t by = (1 + static_cast<std::int64_t>(draw(30))) * 100 * ms_ns;
  e.delayed_until_ns = now_ns_ + by;
  ++result_.stats.delays;
  trace("delay e%d by %lldms", e.index, static_cast<long long>(by / ms_ns));
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
        static_cast<long long>(pg_config_.pg_latency_ms), pg_config_.pg_hang_permille,
        pg_config_.pg_decline_permille);
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
  if (take(faults_.fail_commit)) return fail_some_commit();
  if (take(faults_.duplicate)) return duplicate_some_message();
  if (take(faults_.delay)) return delay_some_edge();
  if (take(faults_.pg_change)) return change_pg(draw(3) == 0);
  work_some_domain();
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

// Read-your-writes: a client that got its 202 finds the order in the order view (replies
// leave only after the view commit).
void Simulator::check_readable(std::uint64_t order_id) {
  journal::Env* view = node(Domain::order).view_env();
  journal::ReadTxn txn;
  OrderRow row{};
  if (view == nullptr || !view->begin_read(txn).ok()) return fail("the order view is unreadable");
  if (!txn.get_as(view->table("orders"), journal::key_u64(order_id), row).ok())
    fail("order " + std::to_string(order_id) + " was accepted, yet the order view lacks it");
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
          check_readable(r.header.order_id);
          trace("client%u order %llu %s", c.port,
                static_cast<unsigned long long>(r.header.order_id),
                result == ipc::PlaceResult::accepted ? "accepted" : "duplicate");
        } else {
          ++result_.stats.rejected;
          trace("client%u order rejected (%s)", c.port,
                std::string(ipc::order_reason_name(static_cast<ipc::OrderReason>(body.reason)))
                    .c_str());
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
    if (const char* refused = door(body); refused != nullptr) {
      trace("client%u retry: %s", c.port, refused);
      return;
    }
    if (!reserve(body)) {
      trace("client%u retry: sold out", c.port);
      return;
    }
    Message m = ipc::make_message(MessageType::place_order, Domain::port, Domain::order, body);
    if (!send(c, Domain::order, m, RequestKind::place)) {
      give_back(body);
      ++result_.stats.ring_full;
      trace("client%u retry: overloaded", c.port);
      return;
    }
    c.outstanding[correlation_].retries = old.retries + 1;
    ++result_.stats.retries;
    trace("client%u retry idem=%llu", c.port,
          static_cast<unsigned long long>(body.idempotency_key));
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
  // The door: intake, catalog and sale window, then the CAS on every line (all or none).
  if (const char* refused = door(body); refused != nullptr) {
    ++(std::string_view(refused) == "not on sale" ? result_.stats.not_on_sale
                                                  : result_.stats.unavailable);
    trace("client%u %s p%u", c.port, refused, body.items[0].product_id);
    return;
  }
  if (!reserve(body)) {
    ++result_.stats.sold_out;
    trace("client%u sold out", c.port);
    return;
  }
  Message m = ipc::make_message(MessageType::place_order, Domain::port, Domain::order, body);
  if (!send(c, Domain::order, m, RequestKind::place)) {
    give_back(body);
    ++result_.stats.ring_full;
    trace("client%u overloaded", c.port);
    return;
  }
  trace("client%u place user=%llu p%u x%u%s coupon=%llu points=%lld idem=%llu", c.port,
        static_cast<unsigned long long>(body.user_id), body.items[0].product_id,
        body.items[0].quantity, body.item_count > 1 ? " +1 line" : "",
        static_cast<unsigned long long>(body.coupon_id),
        static_cast<long long>(body.points_requested),
        static_cast<unsigned long long>(body.idempotency_key));
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
    sent = send(c, Domain::payment,
                ipc::make_message(MessageType::deposit, Domain::port, Domain::payment, b),
                RequestKind::command);
  } else if (r == 1) {
    ipc::AccruePointsBody b{};
    b.user_id = user;
    b.amount = 100 + static_cast<std::int64_t>(draw(30)) * 100;
    (void)b.reason.assign("sim");
    sent = send(c, Domain::point,
                ipc::make_message(MessageType::accrue_points, Domain::port, Domain::point, b),
                RequestKind::command);
  } else if (r == 2) {
    ipc::RestockBody b{1 + draw(products_.size() - 1), 1 + static_cast<std::int64_t>(draw(3))};
    sent = send(c, Domain::product,
                ipc::make_message(MessageType::restock, Domain::port, Domain::product, b),
                RequestKind::command);
  } else {
    ipc::IssueCouponBody b{1 + draw(3), user};
    sent = send(c, Domain::coupon,
                ipc::make_message(MessageType::issue_coupon, Domain::port, Domain::coupon, b),
                RequestKind::command);
  }
  trace("client%u command %llu user=%llu%s", c.port, static_cast<unsigned long long>(r),
        static_cast<unsigned long long>(user), sent ? "" : " (ring full)");
}

void Simulator::client_action() {
  Client& c = clients_[draw(clients_.size())];
  retry_stale(c);
  const std::uint64_t r = draw(100);
  if (r < 75)
    place_order(c);
  else if (r < 88)
    cancel_order(c);
  else
    command(c);
}

// --- Phases --------------------------------------------------------------------------------

// One round of the drain: every domain applies what it can see and commits it whole.
bool Simulator::settle_round() {
  bool worked = false;
  for (Domain d : all_domains) {
    SimNode& n = node(d);
    if (halted_ || !n.up()) continue;
    if (n.business_due(now_ns_)) {
      if (d == Domain::product && options_.bug == BugMode::drop_cancel) drop_cancels();
      SimTransport& t = n.transport();
      for (std::size_t i = 0; i < t.inputs().size(); ++i) t.show(i, drain_count_max, now_ns_);
      run_business(d, "");
      worked = true;
    }
    if (halted_ || !n.commit_due()) continue;
    const CommitOutcome o =
        n.commit(CommitUntil::published, runtime::batch_buffers_max, CommitFault::none);
    trace_commit(d, o, "");
    worked = worked || o.grouped > 0 || o.published > 0 || o.flushed > 0;
  }
  return worked;
}

bool Simulator::settle(bool advance_time, const char* phase) {
  for (std::uint32_t round = 0; round < settle_rounds_max && !halted_; ++round) {
    read_replies();
    if (settle_round()) continue;
    std::int64_t due = INT64_MAX;
    for (Domain d : all_domains)
      if (node(d).up()) due = std::min(due, node(d).logic()->next_due_ns());
    bool busy = false;
    for (const Edge& e : net_.edges) busy = busy || (e.to_domain() && !e.ring.empty());
    for (Domain d : all_domains) busy = busy || node(d).commit_due();
    if (!busy && due == INT64_MAX) {
      result_.stats.drain_rounds += round;
      return true;
    }
    if (!advance_time) continue;
    ++result_.stats.drain_rounds;
    advance(std::max<std::int64_t>(due == INT64_MAX ? 0 : due - now_ns_, 0) + ms_ns);
  }
  if (!halted_)
    fail(std::string(phase) + ": did not settle within " + std::to_string(settle_rounds_max) +
         " rounds");
  return false;
}

// Sends one setup command from the admin port, draining the rings first if it is full.
std::uint64_t Simulator::setup_command(Domain to, const Message& m) {
  for (std::uint32_t attempt = 0; attempt < send_attempts_max; ++attempt) {
    if (send(clients_[0], to, m, RequestKind::command)) {
      known_commands_[correlation_] = UINT64_MAX;
      return correlation_;
    }
    (void)settle(false, "setup");
  }
  fail("setup: the admin port's ring stays full");
  return 0;
}

void Simulator::setup_catalog() {
  users_ = 3 + static_cast<std::uint32_t>(draw(users_max - 2));
  for (std::uint32_t u = 1; u <= users_; ++u) {
    ipc::CreateUserBody b{};
    (void)b.name.assign("user" + std::to_string(u));
    std::string email(1, 'u');  // appended: "u" + a temporary trips GCC 12's -Wrestrict at -O3
    email += std::to_string(u) + "@sim.test";
    (void)b.email.assign(email);
    admin(Domain::user, MessageType::create_user, b);
  }
  // The catalog: a hot SKU with a few units and a per-customer limit, normal SKUs, and one
  // whose sale opens later and closes.
  products_.resize(1);
  const std::uint32_t product_count = 3 + static_cast<std::uint32_t>(draw(3));
  for (std::uint32_t i = 1; i <= product_count; ++i) {
    Product p;
    p.id = i;
    p.price = 1000 * (5 + static_cast<std::int64_t>(draw(40)));
    p.stock = i == hot_product_ ? 2 + static_cast<std::int64_t>(draw(6))
                                : 10 + static_cast<std::int64_t>(draw(40));
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
    admin(Domain::product, MessageType::create_product, b);
  }
  // Templates: 1 fixed and limited, 2 percent with a cap, 3 expiring soon with a minimum.
  ipc::CreateCouponTemplateBody b{};
  b.kind = static_cast<std::uint8_t>(ipc::CouponKind::fixed);
  b.value = 3000;
  b.quantity = 3;
  (void)b.name.assign("3000 off");
  admin(Domain::coupon, MessageType::create_coupon_template, b);
  b.kind = static_cast<std::uint8_t>(ipc::CouponKind::percent);
  b.value = 10;
  b.max_discount = 5000;
  b.quantity = 0;
  (void)b.name.assign("10% off");
  admin(Domain::coupon, MessageType::create_coupon_template, b);
  b.value = 50;
  b.max_discount = 0;
  b.min_order_amount = 20000;
  b.expires_at_ns = t0_ns + 4'000 * ms_ns;
  (void)b.name.assign("half price, soon gone");
  admin(Domain::coupon, MessageType::create_coupon_template, b);
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> Simulator::setup_accounts() {
  // Money, points, coupons, and one blocked user.
  for (std::uint32_t u = 1; u <= users_; ++u) {
    if (draw(5) != 0)
      admin(Domain::payment, MessageType::deposit,
            ipc::DepositBody{u, 1000 * (1 + static_cast<std::int64_t>(draw(150)))});
    if (draw(3) != 0) {
      ipc::AccruePointsBody b{};
      b.user_id = u;
      b.amount = 100 * (1 + static_cast<std::int64_t>(draw(60)));
      (void)b.reason.assign("welcome");
      admin(Domain::point, MessageType::accrue_points, b);
    }
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> issues;
  for (std::uint32_t u = 1; u <= users_; ++u)
    for (std::uint64_t t = 1; t <= 3; ++t)
      if (draw(2) == 0)
        issues.push_back(
            {admin(Domain::coupon, MessageType::issue_coupon, ipc::IssueCouponBody{t, u}), u});
  if (draw(2) == 0) {
    blocked_user_ = users_;
    ipc::UpdateUserBody b{};
    b.user_id = blocked_user_;
    b.set_blocked = 1;
    b.blocked = 1;
    admin(Domain::user, MessageType::update_user, b);
  }
  return issues;
}

bool Simulator::setup() {
  const std::uint32_t ports = 1 + static_cast<std::uint32_t>(draw(sim_ports_max));
  for (std::uint32_t p = 0; p < ports; ++p) {
    Client c;
    c.port = p;
    clients_.push_back(c);
  }
  setup_catalog();
  if (!settle(false, "setup")) return false;
  read_replies();
  for (const auto& [corr, entity] : known_commands_)
    if (entity == 0 || entity == UINT64_MAX) {
      fail("setup command " + std::to_string(corr) + " failed");
      return false;
    }
  known_commands_.clear();
  const auto issues = setup_accounts();
  if (!settle(false, "setup")) return false;
  read_replies();
  for (const auto& [corr, user] : issues) {
    const std::uint64_t id = known_commands_[corr];
    if (id != 0 && id != UINT64_MAX) coupons_.push_back(Coupon{id, user});
  }
  known_commands_.clear();
  reconcile_stock("setup");
  trace("setup users=%u products=%zu coupons=%zu ports=%zu adapter=%s timeout=%lldms slots=%zu",
        users_, products_.size() - 1, coupons_.size(), clients_.size(),
        pg_config_.payment_adapter == engine::PaymentAdapter::pg ? "pg" : "wallet",
        static_cast<long long>(config_.step_timeout_ms), net_.edges[0].capacity);
  return !halted_ && result_.failures.empty();
}

void Simulator::check_facts() {
  journal::Env* order_view = node(Domain::order).view_env();
  journal::Env* product_view = node(Domain::product).view_env();
  journal::ReadTxn ot, pt;
  if (!order_view->begin_read(ot).ok() || !product_view->begin_read(pt).ok())
    return fail("views unreadable at the end");
  for (const Edge& e : net_.edges)
    if (!e.ring.empty() && e.to_domain())
      fail("ring e" + std::to_string(e.index) + " still holds " + std::to_string(e.ring.size()) +
           " messages");
  for (Domain d : all_domains)
    if (node(d).commit_due()) fail(name(d) + " still has batches or messages on their way out");
  // Every order a client saw accepted exists and is terminal.
  for (std::uint64_t id : accepted_) {
    OrderRow row{};
    if (!ot.get_as(order_view->table("orders"), journal::key_u64(id), row).ok()) {
      fail("accepted order " + std::to_string(id) + " is missing from the order view");
      continue;
    }
    const auto st = static_cast<OrderStatus>(row.status);
    if (st != OrderStatus::completed && st != OrderStatus::cancelled)
      fail("accepted order " + std::to_string(id) + " is " +
           std::string(domains::order_status_name(st)));
  }
  // Units per (user, product) of completed orders: the per-customer limit held. The stock step
  // of every order ended where the order did (sold, or given back).
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> bought;
  (void)ot.scan(order_view->table("orders"), {}, SIZE_MAX,
                [&](journal::Bytes, journal::Bytes value) {
                  OrderRow row{};
                  if (!journal::from_bytes(value, row)) return false;
                  check_stock_step(pt, row);
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
      fail("user " + std::to_string(key.first) + " holds " + std::to_string(units) +
           " units of product " + std::to_string(p.id) + " (max_per_user " +
           std::to_string(p.max_per_user) + ")");
  }
  // Stock: the counters the ports reserve from agree with the owner's view, nothing held.
  (void)pt.scan(
      product_view->table("products"), {}, SIZE_MAX, [&](journal::Bytes, journal::Bytes value) {
        ProductRow row{};
        if (!journal::from_bytes(value, row) || row.id >= stock_.size()) return false;
        const std::string p = "product " + std::to_string(row.id) + ": ";
        if (row.reserved != 0)
          fail(p + std::to_string(row.reserved) + " units still reserved after the drain");
        if (row.sold > row.total)
          fail(p + "oversold: " + std::to_string(row.sold) + " of " + std::to_string(row.total));
        if (stock_[row.id].available != row.total - row.reserved - row.sold)
          fail(p + "counter says " + std::to_string(stock_[row.id].available) +
               " available, the view " + std::to_string(row.total - row.reserved - row.sold));
        return true;
      });
}

void Simulator::check_stock_step(const journal::ReadTxn& product_view, const OrderRow& row) {
  const auto status = static_cast<OrderStatus>(row.status);
  const auto want = status == OrderStatus::completed   ? domains::StepState::sold
                    : status == OrderStatus::cancelled ? domains::StepState::released
                                                       : domains::StepState::none;
  if (want == domains::StepState::none) return;  // not terminal: reported on its own
  domains::ProductStep step{};
  const journal::Status s = product_view.get_as(node(Domain::product).view_env()->table("steps"),
                                                journal::key_u64(row.id), step);
  // No step row: the product domain still holds the order's units reserved (ProductDomain).
  const auto state =
      s.ok() ? static_cast<domains::StepState>(step.state) : domains::StepState::reserved;
  if (state == want) return;
  fail("product stock step of order " + std::to_string(row.id) + " is " +
       std::string(domains::step_state_name(state)) + ", yet the order is " +
       std::string(domains::order_status_name(status)) + " (after the drain)");
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
    fail("check: invariant " + std::to_string(v.invariant) + " order " +
         std::to_string(v.order_id) + " [" + v.domain + " #" + std::to_string(v.journal_sequence) +
         "] " + v.what);
  trace("check orders=%llu completed=%llu cancelled=%llu violations=%zu",
        static_cast<unsigned long long>(r.orders), static_cast<unsigned long long>(r.completed),
        static_cast<unsigned long long>(r.cancelled), r.violations.size());
}

void Simulator::finish() {
  // Drain: heal the gateway, lift every delay, stop the clients, deliver everything and let
  // time run past every deadline.
  lossless_ = true;
  for (Edge& e : net_.edges) e.delayed_until_ns = 0;
  if (pg_config_.payment_adapter == engine::PaymentAdapter::pg) change_pg(true);
  for (Domain d : all_domains)
    if (!node(d).up()) return fail(name(d) + " is down at the drain");
  if (!settle(true, "drain")) return;
  read_replies();
  // Journal and view positions close the trace: two runs of a seed must have written the same.
  for (Domain d : all_domains) {
    journal::ReadTxn t;
    if (node(d).journal_env()->begin_read(t).ok())
      trace("end %s records=%llu restarts=%llu", name(d).c_str(),
            static_cast<unsigned long long>(t.last_sequence()),
            static_cast<unsigned long long>(node(d).restarts()));
  }
  check_facts();
  if (options_.run_checker) run_checker();
}

SimResult Simulator::run() {
  trace("seed %llu steps %u bug %s crash=%u dup=%u delay=%u fail_commit=%u reply_loss=%u",
        static_cast<unsigned long long>(options_.seed), options_.steps,
        std::string(bug_mode_name(options_.bug)).c_str(), faults_.crash, faults_.duplicate,
        faults_.delay, faults_.fail_commit, faults_.reply_loss);
  if (start_nodes() && setup()) {
    lossless_ = false;
    for (std::uint32_t s = 0; s < options_.steps && !halted_; ++s) step();
    if (!halted_) finish();
  }
  result_.passed = result_.failures.empty();
  result_.trace_hash = hash_;
  result_.stats.virtual_ms = (now_ns_ - t0_ns) / ms_ns;
  if (!options_.full_trace) result_.trace.assign(tail_.begin(), tail_.end());
  if (options_.keep_dir) result_.data_dir = dir_.string();
  return result_;
}

}  // namespace

std::string_view crash_point_name(CrashPoint p) noexcept {
  switch (p) {
    case CrashPoint::at_rest:
      return "at_rest";
    case CrashPoint::before_journal:
      return "before_journal";
    case CrashPoint::after_journal:
      return "after_journal";
    case CrashPoint::after_view:
      return "after_view";
    case CrashPoint::mid_publish:
      return "mid_publish";
    case CrashPoint::after_publish:
      return "after_publish";
  }
  return "unknown";
}
std::string_view bug_mode_name(BugMode b) noexcept {
  switch (b) {
    case BugMode::none:
      return "none";
    case BugMode::drop_cancel:
      return "drop_cancel";
    case BugMode::double_release:
      return "double_release";
    case BugMode::skip_dedup:
      return "skip_dedup";
  }
  return "unknown";
}

bool parse_bug_mode(std::string_view name, BugMode& out) noexcept {
  for (BugMode b :
       {BugMode::none, BugMode::drop_cancel, BugMode::double_release, BugMode::skip_dedup})
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
  out << "seed " << r.seed << (r.passed ? " passed" : " FAILED") << " (trace hash " << std::hex
      << r.trace_hash << std::dec << ", " << r.stats.steps << " steps, " << r.stats.virtual_ms
      << " virtual ms)\n";
  for (const std::string& f : r.failures) out << "  failure: " << f << "\n";
  if (!r.trace.empty()) {
    out << "  trace" << (options.full_trace ? "" : " (last lines)") << ":\n";
    for (const std::string& line : r.trace) out << "    " << line << "\n";
  }
  out << "  replay: tests/sim/sim_run --seed " << r.seed << " --steps " << options.steps;
  if (options.bug != BugMode::none) out << " --bug " << bug_mode_name(options.bug);
  out << " --trace\n";
  if (!r.data_dir.empty())
    out << "  journals kept in " << r.data_dir << " (flashsaga check --data ...)\n";
}

}  // namespace flashsaga::sim
