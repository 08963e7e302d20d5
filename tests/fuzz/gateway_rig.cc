// gateway_rig: see gateway_rig.h.
#include "tests/fuzz/gateway_rig.h"

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/config.h"
#include "engine/gateway/api.h"
#include "engine/gateway/idempotency.h"
#include "engine/gateway/metrics.h"
#include "engine/gateway/store.h"
#include "engine/port.h"
#include "ipc/deployment.h"

namespace flashsaga::fuzz {
namespace {

constexpr std::uint32_t rig_products = 8;
constexpr std::int64_t rig_stock = std::int64_t{1} << 40;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "gateway_rig: %s\n", what.c_str());
  std::abort();
}

class Rig final : public GatewayRig {
 public:
  Rig() {
    char dir[] = "/tmp/flashsaga-fuzz-XXXXXX";
    if (::mkdtemp(dir) == nullptr) die("mkdtemp failed");
    config_.data_dir = dir;
    config_.geometry.saga_ring_slots = ring_capacity_slots_min;
    config_.geometry.port_ring_slots = ring_capacity_slots_min;
    config_.geometry.ports = 2;
    config_.geometry.products_max = 16;
    config_.idempotency_retention_s = 1;
    std::string error, note;
    if (!ipc::Deployment::create(config_.data_dir, config_.geometry, deployment_, &error, &note))
      die("cannot create the deployment: " + error);
    engine::PortOptions options;
    options.inline_pump = true;
    options.preferred_port = 0;
    options.request_timeout_ns = 1;
    if (!engine::Port::open(*deployment_, options, port_, &error))
      die("cannot open port 0: " + error);
    for (std::uint32_t p = 1; p <= rig_products; ++p) {
      ipc::StockSlot& s = deployment_->stock(p);
      s.price.store(100 * p);
      s.sale_starts_ns.store(0);
      s.sale_ends_ns.store(0);
      s.max_per_user.store(p % 2 == 0 ? 0 : 5);
      s.total.store(rig_stock);
      s.exists.store(1);
    }
    store_ = std::make_unique<gateway::Store>(config_);
    idempotency_ = std::make_unique<gateway::Idempotency>(64, 1'000'000);
    api_ =
        std::make_unique<gateway::Api>(config_, *deployment_, *store_, *idempotency_, metrics_, 1);
    feed_ = std::make_unique<gateway::HttpFeed>(*api_, config_, *port_);
    next_input();
  }
  ~Rig() override {
    feed_.reset();
    api_.reset();
    port_.reset();
    deployment_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(config_.data_dir, ignored);
  }

  gateway::HttpFeed& feed() override { return *feed_; }

  void next_input() override {
    for (int d = 1; d <= 6; ++d) {
      ipc::SpscRing ring =
          deployment_->ring(ipc::port_node(0), ipc::domain_node(static_cast<ipc::Domain>(d)));
      ring.store_consumer_cursor(ring.load_producer_cursor(std::memory_order_acquire));
    }
    for (std::uint32_t p = 1; p <= rig_products; ++p)
      deployment_->stock(p).available.store(p == 8 ? 0 : rig_stock);
  }

 private:
  engine::Config config_;
  std::unique_ptr<ipc::Deployment> deployment_;
  std::unique_ptr<engine::Port> port_;
  std::unique_ptr<gateway::Store> store_;
  gateway::Metrics metrics_;
  std::unique_ptr<gateway::Idempotency> idempotency_;
  std::unique_ptr<gateway::Api> api_;
  std::unique_ptr<gateway::HttpFeed> feed_;
};

}  // namespace

GatewayRig& rig() {
  static Rig* r = new Rig();  // lives until exit (libFuzzer never returns to main's end)
  return *r;
}

void check_answer(const gateway::FedAnswer& a, std::string_view what) {
  auto fail = [&](const char* why) {
    std::fprintf(stderr, "gateway_rig: %.*s: %s: status %d route %s body %s\n",
                 static_cast<int>(what.size()), what.data(), why, a.status, a.route.c_str(),
                 a.body.c_str());
    std::abort();
  };
  if (!a.answered) return;
  if (a.status < 100 || a.status > 599) fail("status out of range");
  if (a.status == 500) fail("500: an unexpected error in the API");
  if (a.content_type != "application/json") return;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(a.body, ec);
  if (ec) fail("the answer is not JSON");
  // GET /healthz answers 503 with the domains' states, not an error object (API.md).
  if (a.status >= 400 && a.route != "/healthz" &&
      !(v.is_object() && v.as_object().contains("error")))
    fail("an error without \"error\"");
}

}  // namespace flashsaga::fuzz
