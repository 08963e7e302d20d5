// port: an ingress port — how requests enter the deployment (the gateway, the client library).
//
// Requires: an attached Deployment. One Port per process at most per port slot; any number of
//   threads may call place_order()/submit() at once.
// Guarantees:
//   - place_order() reserves stock by CAS in the caller's thread (engine/stock.h): a sold-out,
//     unknown-product or not-on-sale answer comes back at once, with nothing sent anywhere.
//   - Everything else is handed through a bounded moodycamel ConcurrentQueue to the port's pump
//     thread, the single producer of this port's rings, which publishes requests, consumes
//     replies and runs each request's callback exactly once: with the reply, or with
//     `timed_out` after request_timeout_ns (a reply that never comes: a domain crashed between
//     its commit and the publish — retry with the same idempotency key).
//   - A reservation is counted in the port's `inflight` until its PlaceOrder is in the ring, so
//     the product domain's stock reconciliation never misses it.
// Callbacks run on the pump thread: keep them short (post to your own executor).
//
// Inline mode (PortOptions::inline_pump, the gateway's I/O threads): no pump thread and no
// queue. The one thread that owns the port calls place_order()/submit() and pump_once() itself;
// a request goes straight into its ring (or waits in a bounded list while the ring is full),
// and callbacks run inside that thread's pump_once(). Nothing crosses a thread.
//
// Example:
//   std::unique_ptr<Port> port;
//   if (!Port::open(deployment, PortOptions{}, port, &error)) die(error);
//   port->start();
//   PlaceRequest req{.user_id = 7, .items = {{.product_id = 1, .quantity = 1}}, .item_count = 1};
//   auto now = port->place_order(req, [](const PortReply& r) { ... r.order_id ... });
//   if (now.status != PlaceStatus::submitted) { /* answered at once: sold out, ... */ }
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "ipc/deployment.h"
#include "engine/stock.h"
#include "ipc/message.h"

namespace flashsaga::engine {

struct PortOptions {
  int preferred_port = -1;      // claim this slot (the gateway uses 0), else any free one
  bool avoid_port_zero = true;  // client-library attachments leave port 0 to the gateway
  std::int64_t request_timeout_ns = 10'000'000'000;
  std::uint32_t queue_capacity = 1u << 16;  // submissions waiting for the pump
  bool inline_pump = false;  // one owning thread, no pump thread, no queue (see above)
};

// Stable numbers.
enum class PlaceStatus : std::uint8_t {
  submitted = 0,  // reserved and queued: the callback will run
  sold_out = 1,
  unknown_product = 2,
  not_on_sale = 3,
  unavailable = 4,  // intake paused (stock reconciliation, a domain out of disk or map
                    // space) or contended: retry later
  overloaded = 5,   // the port's queue or pending table is full: retry later
  bad_request = 6,  // item count or quantity out of range
};
std::string_view place_status_name(PlaceStatus s) noexcept;

struct PlaceRequest {
  std::uint64_t user_id = 0;
  std::uint64_t coupon_id = 0;
  std::int64_t points = 0;
  std::uint64_t idempotency_key = 0;  // 0: none
  std::uint32_t item_count = 0;
  std::array<ipc::LineItem, line_items_max> items{};  // unit_price is filled by the port
};

struct PlaceNow {
  PlaceStatus status = PlaceStatus::submitted;
  std::uint32_t failed_item = 0;  // for sold_out / unknown_product / not_on_sale
};

struct PortReply {
  bool timed_out = false;
  ipc::Message message{};  // the reply (valid when !timed_out)
};
using PortCallback = std::function<void(const PortReply&)>;

class Port {
 public:
  static bool open(ipc::Deployment& deployment, const PortOptions& options,
                   std::unique_ptr<Port>& out, std::string* error);
  ~Port();  // stops the pump and frees the slot
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  std::uint32_t index() const noexcept { return index_; }
  ipc::Deployment& deployment() noexcept { return deployment_; }

  // Starts / stops the pump thread (start() does nothing in inline mode).
  void start();
  void stop();

  // Reserves and submits an order (see the guarantees above). `request.items[i].unit_price` is
  // overwritten with the price the reservation was taken at.
  PlaceNow place_order(PlaceRequest request, PortCallback callback);

  // Submits a command (or CancelOrder) built with ipc::make_message to the owning domain.
  // False when the queue or the pending table is full (the callback will not run).
  [[nodiscard]] bool submit(ipc::Domain to, const ipc::Message& request, PortCallback callback);

  // One pump cycle (what the pump thread runs); returns work done. Public for tests that drive
  // a port without its thread.
  std::size_t pump_once();

  std::uint64_t requests_in_flight() const noexcept;
  // Nothing queued, waiting for ring space or awaiting a reply: pump_once() has nothing to do.
  bool idle() const noexcept;

 private:
  struct Impl;
  Port(ipc::Deployment& deployment, std::uint32_t index, const PortOptions& options);
  void run();

  ipc::Deployment& deployment_;
  std::uint32_t index_;
  PortOptions options_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace flashsaga::engine
