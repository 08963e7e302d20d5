#include "engine/port.h"

#include <unistd.h>

#include <concurrentqueue/concurrentqueue.h>

#include <deque>
#include <vector>

#include "engine/base/assert.h"
#include "engine/base/clock.h"
#include "ipc/idle_strategy.h"
#include "ipc/segment.h"

namespace flashsaga::engine {
namespace {

using ipc::Domain;
using ipc::Message;

constexpr std::size_t pending_capacity = 1u << 16;  // requests awaiting a reply, per port
constexpr std::size_t dequeue_count_max = 1024;     // submissions taken per pump cycle
// Timeouts: a slice of the pending table at most every expire_slice_interval_ns while busy
// (the whole table every ~64 ms), the whole table at most every expire_full_interval_ns when a
// cycle found nothing else to do, and nothing while no request is in flight. The pump runs
// pump_once() back to back while it spins before parking: scanning per call cost a busy
// gateway two thirds of its CPU.
constexpr std::size_t expire_scan_count_max = 1024;
constexpr std::int64_t expire_slice_interval_ns = 1'000'000;
constexpr std::int64_t expire_full_interval_ns = 100'000'000;
constexpr std::size_t deferred_count_max = 4096;  // submissions waiting for ring space
static_assert((pending_capacity & (pending_capacity - 1)) == 0);

int domain_slot(Domain d) noexcept {
  return static_cast<int>(d) - 1;
}

}  // namespace

std::string_view place_status_name(PlaceStatus s) noexcept {
  switch (s) {
    case PlaceStatus::submitted:
      return "submitted";
    case PlaceStatus::sold_out:
      return "sold_out";
    case PlaceStatus::unknown_product:
      return "unknown_product";
    case PlaceStatus::not_on_sale:
      return "not_on_sale";
    case PlaceStatus::unavailable:
      return "unavailable";
    case PlaceStatus::overloaded:
      return "overloaded";
    case PlaceStatus::bad_request:
      return "bad_request";
  }
  return "unknown";
}

struct Port::Impl {
  struct Submission {
    Domain to = Domain::none;
    Message message{};
    PortCallback callback;
    bool holds_reservation = false;  // a PlaceOrder whose stock this port reserved
  };
  struct Pending {
    std::uint64_t correlation = 0;  // 0: free
    std::int64_t deadline_ns = 0;
    PortCallback callback;
  };

  explicit Impl(std::size_t capacity) : queue(capacity) {}

  moodycamel::ConcurrentQueue<Submission> queue;
  std::atomic<std::int64_t> queued{0};
  std::array<ipc::RingProducer, domain_count> producers;
  std::array<ipc::RingConsumer, domain_count> consumers;
  std::array<std::uint64_t, domain_count> edge_sequence{};
  std::deque<Submission> deferred;
  std::vector<Pending> pending = std::vector<Pending>(pending_capacity);
  std::atomic<std::uint64_t> in_flight{0};
  std::uint64_t next_request = 0;
  std::uint64_t generation = 0;
  std::size_t expire_cursor = 0;
  std::int64_t expire_slice_ns = 0;  // when a slice / the whole table was last scanned
  std::int64_t expire_full_ns = 0;
  ipc::IdleStrategy idle;

  // Puts one submission in its ring: false when the ring or the pending table is full.
  bool publish(Submission& sub, ipc::Deployment& deployment, std::uint32_t index,
               std::int64_t timeout_ns, std::int64_t now);
  // Inline mode: publishes now, or keeps it (in order) behind others waiting for ring space.
  // False when that list is full too (the caller answers overloaded).
  bool hand_over(Submission& sub, ipc::Deployment& deployment, std::uint32_t index,
                 std::int64_t timeout_ns);
};

bool Port::Impl::publish(Submission& sub, ipc::Deployment& deployment, std::uint32_t index,
                         std::int64_t timeout_ns, std::int64_t now) {
  const std::uint64_t request = next_request + 1;
  Pending& slot = pending[request & (pending_capacity - 1)];
  if (slot.correlation != 0) return false;  // the pending table is full
  const int d = domain_slot(sub.to);
  Message& m = sub.message;
  m.header.correlation = (generation << 40) | request;
  m.header.port = index;
  m.header.sequence = (generation << 40) | (edge_sequence[d] + 1);
  ipc::seal(m);
  if (!producers[d].try_publish(m)) return false;
  next_request = request;
  ++edge_sequence[d];
  slot.correlation = m.header.correlation;
  slot.deadline_ns = now + timeout_ns;
  slot.callback = std::move(sub.callback);
  in_flight.fetch_add(1, std::memory_order_relaxed);
  if (sub.holds_reservation)
    deployment.port(index).inflight.fetch_sub(1, std::memory_order_seq_cst);
  return true;
}

bool Port::Impl::hand_over(Submission& sub, ipc::Deployment& deployment, std::uint32_t index,
                           std::int64_t timeout_ns) {
  if (deferred.empty() && publish(sub, deployment, index, timeout_ns, mono_now_ns())) return true;
  if (deferred.size() >= deferred_count_max) return false;
  deferred.push_back(std::move(sub));
  return true;
}

Port::Port(ipc::Deployment& deployment, std::uint32_t index, const PortOptions& options)
    : deployment_(deployment),
      index_(index),
      options_(options),
      impl_(std::make_unique<Impl>(options.queue_capacity)) {}

bool Port::open(ipc::Deployment& deployment, const PortOptions& options, std::unique_ptr<Port>& out,
                std::string* error) {
  const std::uint32_t self = static_cast<std::uint32_t>(::getpid());
  const std::uint64_t ticks = ipc::process_start_ticks(self);
  const std::uint32_t ports = deployment.geometry().ports;
  for (std::uint32_t attempt = 0; attempt < ports; ++attempt) {
    std::uint32_t p = attempt;
    if (options.preferred_port >= 0) {
      if (attempt > 0) break;
      p = static_cast<std::uint32_t>(options.preferred_port);
      if (p >= ports) break;
    } else if (options.avoid_port_zero && ports > 1 && p == 0) {
      continue;
    }
    ipc::PortSlot& slot = deployment.port(p);
    std::uint32_t owner = slot.owner_pid.load(std::memory_order_acquire);
    const bool dead =
        owner != 0 &&
        !ipc::process_alive(owner, slot.owner_start_ticks.load(std::memory_order_acquire));
    if (owner != 0 && !dead) continue;
    if (!slot.owner_pid.compare_exchange_strong(owner, self, std::memory_order_acq_rel)) continue;
    slot.owner_start_ticks.store(ticks, std::memory_order_release);
    const std::uint32_t generation = slot.generation.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (dead && slot.inflight.load(std::memory_order_acquire) != 0) {
      // The previous owner died holding reservations it never handed over: have the product
      // domain recompute stock from the journals.
      deployment.control().reconcile_requested.fetch_add(1, std::memory_order_acq_rel);
    }
    slot.inflight.store(0, std::memory_order_seq_cst);
    std::unique_ptr<Port> port(new Port(deployment, p, options));
    Impl& impl = *port->impl_;
    impl.generation = generation;
    const ipc::Node self_node = ipc::port_node(p);
    for (int d = 0; d < domain_count; ++d) {
      const ipc::Node domain = ipc::domain_node(static_cast<Domain>(d + 1));
      impl.producers[d] =
          ipc::RingProducer(deployment.ring(self_node, domain), &deployment.doorbell(domain));
      impl.consumers[d] = ipc::RingConsumer(deployment.ring(domain, self_node));
      // Replies addressed to a previous owner of this port are of no use to anyone.
      const std::size_t stale = impl.consumers[d].readable();
      impl.consumers[d].release(stale);
    }
    out = std::move(port);
    return true;
  }
  *error = options.preferred_port >= 0
               ? "port " + std::to_string(options.preferred_port) + " is in use by another process"
               : "all " + std::to_string(ports) + " ports are in use";
  return false;
}

Port::~Port() {
  stop();
  // Submissions that never reached a ring: give their stock back and answer them.
  Impl::Submission sub;
  for (std::size_t n = 0; n < options_.queue_capacity && impl_->queue.try_dequeue(sub); ++n)
    impl_->deferred.push_back(std::move(sub));
  for (Impl::Submission& s : impl_->deferred) {
    if (s.holds_reservation) {
      const auto body = ipc::body_as<ipc::PlaceOrderBody>(s.message);
      give_back_items(deployment_, body.items.data(), body.item_count);
      deployment_.port(index_).inflight.fetch_sub(1, std::memory_order_seq_cst);
    }
    if (s.callback) s.callback(PortReply{true, {}});
  }
  for (Impl::Pending& p : impl_->pending)
    if (p.correlation != 0 && p.callback) p.callback(PortReply{true, {}});
  ipc::PortSlot& slot = deployment_.port(index_);
  std::uint32_t self = static_cast<std::uint32_t>(::getpid());
  slot.owner_pid.compare_exchange_strong(self, 0, std::memory_order_acq_rel);
}

void Port::start() {
  if (options_.inline_pump || thread_.joinable()) return;
  stop_.store(false, std::memory_order_release);
  thread_ = std::thread([this] { run(); });
}

void Port::stop() {
  stop_.store(true, std::memory_order_release);
  ipc::doorbell_ring(deployment_.doorbell(ipc::port_node(index_)));
  if (thread_.joinable()) thread_.join();
}

std::uint64_t Port::requests_in_flight() const noexcept {
  return impl_->in_flight.load(std::memory_order_relaxed);
}

bool Port::idle() const noexcept {
  return impl_->in_flight.load(std::memory_order_relaxed) == 0 && impl_->deferred.empty() &&
         impl_->queued.load(std::memory_order_relaxed) == 0;
}

PlaceNow Port::place_order(PlaceRequest request, PortCallback callback) {
  if (request.item_count < 1 || request.item_count > line_items_max)
    return {PlaceStatus::bad_request, 0};
  for (std::uint32_t i = 0; i < request.item_count; ++i)
    if (request.items[i].quantity < 1 || request.items[i].quantity > quantity_max)
      return {PlaceStatus::bad_request, i};
  if (!options_.inline_pump && impl_->queued.load(std::memory_order_relaxed) >=
                                   static_cast<std::int64_t>(options_.queue_capacity))
    return {PlaceStatus::overloaded, 0};

  // Sold out is answered before anything is written: no reservation, so no gate and no
  // in-flight count — in a flash sale this is nearly every request.
  const std::uint32_t products_max = deployment_.geometry().products_max;
  for (std::uint32_t i = 0; i < request.item_count; ++i) {
    const std::uint32_t id = request.items[i].product_id;
    if (id == 0 || id >= products_max) return {PlaceStatus::unknown_product, i};
    const ipc::StockSlot& s = deployment_.stock(id);
    if (s.exists.load(std::memory_order_acquire) == 0) return {PlaceStatus::unknown_product, i};
    const std::int64_t starts = s.sale_starts_ns.load(std::memory_order_relaxed);
    const std::int64_t ends = s.sale_ends_ns.load(std::memory_order_relaxed);
    if (starts != 0 || ends != 0) {
      const std::int64_t now = wall_now_ns();
      if ((starts != 0 && now < starts) || (ends != 0 && now >= ends))
        return {PlaceStatus::not_on_sale, i};
    }
    if (s.available.load(std::memory_order_relaxed) <
        static_cast<std::int64_t>(request.items[i].quantity))
      return {PlaceStatus::sold_out, i};
  }

  // A domain that cannot commit (disk or journal map full): take no new orders until it can.
  if (deployment_.control().degraded_domains.load(std::memory_order_acquire) != 0)
    return {PlaceStatus::unavailable, 0};
  ipc::PortSlot& slot = deployment_.port(index_);
  ReservationGuard guard(deployment_, slot);
  if (!guard.admitted()) return {PlaceStatus::unavailable, 0};
  std::uint32_t failed = 0;
  const ReserveResult r =
      reserve_items(deployment_, request.items.data(), request.item_count, wall_now_ns(), &failed);
  switch (r) {
    case ReserveResult::ok:
      break;
    case ReserveResult::sold_out:
      return {PlaceStatus::sold_out, failed};
    case ReserveResult::unknown_product:
      return {PlaceStatus::unknown_product, failed};
    case ReserveResult::not_on_sale:
      return {PlaceStatus::not_on_sale, failed};
    case ReserveResult::contended:
    case ReserveResult::paused:
      return {PlaceStatus::unavailable, failed};
  }
  ipc::PlaceOrderBody body{};
  body.user_id = request.user_id;
  body.coupon_id = request.coupon_id;
  body.points_requested = request.points;
  body.idempotency_key = request.idempotency_key;
  body.item_count = static_cast<std::uint8_t>(request.item_count);
  body.items = request.items;
  Impl::Submission sub;
  sub.to = Domain::order;
  sub.message = ipc::make_message(ipc::MessageType::place_order, Domain::port, Domain::order, body);
  sub.callback = std::move(callback);
  sub.holds_reservation = true;
  // The reservation stays counted in flight (a second count, owned by the submission) until
  // the pump has put it in the ring; the guard's own count ends when we return.
  slot.inflight.fetch_add(1, std::memory_order_seq_cst);
  if (options_.inline_pump) {
    if (impl_->hand_over(sub, deployment_, index_, options_.request_timeout_ns))
      return {PlaceStatus::submitted, 0};
    give_back_items(deployment_, request.items.data(), request.item_count);
    slot.inflight.fetch_sub(1, std::memory_order_seq_cst);
    return {PlaceStatus::overloaded, 0};
  }
  // The bound is our own counter (checked above): moodycamel's try_enqueue can refuse far below
  // its nominal capacity once its blocks are spread over producer threads, so enqueue() is
  // used, which allocates only while the queue grows to its high-water mark.
  impl_->queued.fetch_add(1, std::memory_order_relaxed);
  if (!impl_->queue.enqueue(std::move(sub))) {
    impl_->queued.fetch_sub(1, std::memory_order_relaxed);
    give_back_items(deployment_, request.items.data(), request.item_count);
    slot.inflight.fetch_sub(1, std::memory_order_seq_cst);
    return {PlaceStatus::overloaded, 0};
  }
  ipc::doorbell_ring(deployment_.doorbell(ipc::port_node(index_)));
  return {PlaceStatus::submitted, 0};
}

bool Port::submit(Domain to, const Message& request, PortCallback callback) {
  FS_ASSERT(to != Domain::none && to != Domain::port);
  if (options_.inline_pump) {
    Impl::Submission sub;
    sub.to = to;
    sub.message = request;
    sub.callback = std::move(callback);
    return impl_->hand_over(sub, deployment_, index_, options_.request_timeout_ns);
  }
  if (impl_->queued.load(std::memory_order_relaxed) >=
      static_cast<std::int64_t>(options_.queue_capacity))
    return false;
  Impl::Submission sub;
  sub.to = to;
  sub.message = request;
  sub.callback = std::move(callback);
  impl_->queued.fetch_add(1, std::memory_order_relaxed);
  if (!impl_->queue.enqueue(std::move(sub))) {
    impl_->queued.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  ipc::doorbell_ring(deployment_.doorbell(ipc::port_node(index_)));
  return true;
}

std::size_t Port::pump_once() {
  Impl& impl = *impl_;
  std::size_t work = 0;
  const std::int64_t now = mono_now_ns();

  // Publish: what waited for ring space first, then new submissions, in order.
  auto publish = [&](Impl::Submission& sub) -> bool {
    return impl.publish(sub, deployment_, index_, options_.request_timeout_ns, now);
  };

  while (!impl.deferred.empty() && publish(impl.deferred.front())) {
    impl.deferred.pop_front();
    ++work;
  }
  Impl::Submission sub;
  for (std::size_t n = 0; n < dequeue_count_max && impl.deferred.size() < deferred_count_max; ++n) {
    if (!impl.queue.try_dequeue(sub)) break;
    impl.queued.fetch_sub(1, std::memory_order_relaxed);
    ++work;
    if (!impl.deferred.empty() || !publish(sub)) impl.deferred.push_back(std::move(sub));
  }

  // Replies.
  for (int d = 0; d < domain_count; ++d) {
    ipc::RingConsumer& c = impl.consumers[d];
    const std::size_t n = std::min<std::size_t>(c.readable(), drain_count_max);
    for (std::size_t k = 0; k < n; ++k) {
      const Message& m = c.peek(k);
      if (ipc::validate(m) != ipc::MessageError::ok) continue;
      Impl::Pending& slot = impl.pending[m.header.correlation & (pending_capacity - 1)];
      if (slot.correlation != m.header.correlation) continue;  // late or duplicate: nobody waits
      PortCallback cb = std::move(slot.callback);
      slot.correlation = 0;
      slot.callback = nullptr;
      impl.in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (cb) cb(PortReply{false, m});
    }
    c.release(n);
    work += n;
  }

  // Timeouts (see expire_scan_count_max).
  std::size_t scan = 0;
  if (impl.in_flight.load(std::memory_order_relaxed) != 0) {
    if (work == 0 && now - impl.expire_full_ns >= expire_full_interval_ns) {
      scan = pending_capacity;
      impl.expire_full_ns = now;
    } else if (now - impl.expire_slice_ns >= expire_slice_interval_ns) {
      scan = expire_scan_count_max;
      impl.expire_slice_ns = now;
    }
  }
  for (std::size_t n = 0; n < scan; ++n) {
    Impl::Pending& slot = impl.pending[impl.expire_cursor];
    impl.expire_cursor = (impl.expire_cursor + 1) & (pending_capacity - 1);
    if (slot.correlation == 0 || now <= slot.deadline_ns) continue;
    PortCallback cb = std::move(slot.callback);
    slot.correlation = 0;
    slot.callback = nullptr;
    impl.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (cb) cb(PortReply{true, {}});
    ++work;
  }
  return work;
}

void Port::run() {
  Impl& impl = *impl_;
  ipc::Doorbell& bell = deployment_.doorbell(ipc::port_node(index_));
  const std::function<bool()> has_work = [this, &impl] {
    if (impl.queued.load(std::memory_order_relaxed) > 0 || !impl.deferred.empty()) return true;
    for (auto& c : impl.consumers)
      if (c.readable() > 0) return true;
    return stop_.load(std::memory_order_relaxed);
  };
  while (!stop_.load(std::memory_order_acquire)) {
    const std::size_t work = pump_once();
    impl.idle.idle(work, bell, has_work);
  }
  for (std::uint32_t round = 0; round < 16 && pump_once() > 0; ++round) {
  }
}

}  // namespace flashsaga::engine
