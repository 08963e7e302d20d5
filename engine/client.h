// client: the C++ client library — places orders and runs commands straight over the rings,
// and reads state from the journals (read-only). For tests, the benchmark and the demo.
//
// Requires: a running deployment (`flashsaga run`) with the same config (data dir, geometry).
// Guarantees: every call returns; blocking calls wait at most the port's request timeout.
// Thread-safe: any number of threads may call at once (they share one port).
//
// Example:
//   std::unique_ptr<Client> c;
//   if (!Client::connect(config, c, &error)) die(error);
//   auto user = c->create_user("Kim", "kim@example.com");
//   auto product = c->create_product("Lamp", 1500, 10);
//   PlaceOutcome o = c->place_order(user.id, {{product.id, 1}});
//   OrderRow row;
//   c->wait_terminal(o.order_id, 5000, &row);
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domains/rows.h"
#include "engine/config.h"
#include "engine/port.h"

namespace flashsaga::engine {

struct CommandOutcome {
  bool timed_out = false;
  ipc::CommandResult result = ipc::CommandResult::unavailable;
  std::uint16_t field = 0;
  std::uint64_t id = 0;
  std::int64_t value = 0;
  bool ok() const noexcept { return !timed_out && result == ipc::CommandResult::ok; }
};

struct PlaceOutcome {
  PlaceStatus now = PlaceStatus::submitted;  // answered at once (sold out, ...) unless submitted
  std::uint32_t failed_item = 0;
  bool timed_out = false;
  ipc::PlaceResult result = ipc::PlaceResult::rejected;  // when submitted and answered
  ipc::OrderReason reason = ipc::OrderReason::none;
  std::uint64_t order_id = 0;
  bool accepted() const noexcept {
    return now == PlaceStatus::submitted && !timed_out &&
           (result == ipc::PlaceResult::accepted || result == ipc::PlaceResult::duplicate);
  }
};

struct Item {
  std::uint32_t product_id;
  std::uint32_t quantity;
};

class Client {
 public:
  static bool connect(const Config& config, std::unique_ptr<Client>& out, std::string* error,
                      const PortOptions& port_options = {});
  ~Client();

  Port& port() noexcept { return *port_; }
  ipc::Deployment& deployment() noexcept { return *deployment_; }

  // Commands (blocking).
  CommandOutcome create_user(std::string_view name, std::string_view email);
  CommandOutcome block_user(std::uint64_t user_id, bool blocked);
  CommandOutcome accrue_points(std::uint64_t user_id, std::int64_t amount,
                               std::string_view reason = "");
  CommandOutcome deposit(std::uint64_t user_id, std::int64_t amount);
  CommandOutcome create_product(std::string_view name, std::int64_t price, std::int64_t stock,
                                std::uint32_t max_per_user = 0, std::int64_t sale_starts_ns = 0,
                                std::int64_t sale_ends_ns = 0);
  CommandOutcome restock(std::uint64_t product_id, std::int64_t quantity);
  CommandOutcome create_coupon_template(ipc::CouponKind kind, std::int64_t value,
                                        std::int64_t quantity = 0,
                                        std::int64_t min_order_amount = 0,
                                        std::int64_t max_discount = 0,
                                        std::int64_t expires_at_ns = 0,
                                        std::string_view name = "coupon");
  CommandOutcome issue_coupon(std::uint64_t template_id, std::uint64_t user_id);
  CommandOutcome run(ipc::Domain to, const ipc::Message& command);  // any command message

  // Orders (blocking).
  PlaceOutcome place_order(std::uint64_t user_id, std::initializer_list<Item> items,
                           std::uint64_t coupon_id = 0, std::int64_t points = 0,
                           std::uint64_t idempotency_key = 0);
  PlaceOutcome place_order(const PlaceRequest& request);
  PlaceOutcome cancel_order(std::uint64_t order_id,
                            ipc::OrderReason reason = ipc::OrderReason::cancelled_by_customer);

  // Reads, from the journals (a fresh read transaction each call).
  std::optional<domains::OrderRow> order(std::uint64_t order_id);
  // Polls until the order is COMPLETED or CANCELLED; false on timeout.
  bool wait_terminal(std::uint64_t order_id, std::int64_t timeout_ms,
                     domains::OrderRow* out = nullptr);
  std::optional<domains::Wallet> wallet(std::uint64_t user_id);
  std::optional<domains::PointAccount> points(std::uint64_t user_id);
  std::optional<domains::ProductRow> product(std::uint64_t product_id);
  std::optional<domains::CouponRow> coupon(std::uint64_t coupon_id);
  std::optional<domains::PaymentRow> payment(std::uint64_t order_id);
  // A domain's step row for an order (product/coupon/point "steps", payment "payments"): the
  // StepState, or StepState::none when the domain has no row.
  domains::StepState step(ipc::Domain domain, std::uint64_t order_id);
  // Live shared-memory counter.
  std::int64_t available(std::uint32_t product_id);

  // Reads one row of a domain's table; false if absent or unreadable.
  template <typename Row>
  bool read(ipc::Domain domain, std::string_view table, journal::Bytes key, Row& out) {
    return read_bytes(domain, table, key, &out, sizeof(Row));
  }

 private:
  Client() = default;
  bool read_bytes(ipc::Domain domain, std::string_view table, journal::Bytes key, void* out,
                  std::size_t size);
  journal::Env* env(ipc::Domain domain);

  Config config_;
  std::unique_ptr<ipc::Deployment> deployment_;
  std::unique_ptr<Port> port_;
  std::mutex envs_mutex_;
  std::array<std::unique_ptr<journal::Env>, domain_count + 1> envs_;
};

}  // namespace flashsaga::engine
