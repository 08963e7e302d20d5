// deployment: how one deployment lays out its shared-memory segment, and a typed view of it.
//
// Requires: ipc::Segment (created by the supervisor, attached by everyone else) and a
//   Geometry that every process derives from the same config file.
// Guarantees: every process that attaches with the same Geometry sees the same rings, doorbells,
//   stock table, port table and control block at the same offsets. Everything in it is a
//   lock-free atomic or a ring; nothing here allocates after attach.
//
// Payload layout (after the segment header; each region 4096-aligned):
//
//   +----------------------+  0
//   | ControlBlock         |  intake gate, reconcile requests, per-domain status and metrics
//   +----------------------+
//   | PortSlot[ports]      |  one per ingress port (gateway, client-library attachments)
//   +----------------------+
//   | Doorbell[6 + ports]  |  one per consumer: domains user..payment, then ports
//   +----------------------+
//   | StockSlot[products]  |  per-SKU counters reserved by CAS, indexed by product id
//   +----------------------+
//   | rings                |  saga edges, then for each port: port->domain and domain->port
//   +----------------------+
//
// Edges (directed, single producer, single consumer):
//   saga:  order->product, order->coupon, coupon->order, order->point, point->order,
//          order->payment, payment->order
//   ports: for p in [0, ports): p->user, p->point, p->product, p->coupon, p->order, p->payment,
//          then user->p, point->p, product->p, coupon->p, order->p, payment->p
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/base/limits.h"
#include "ipc/doorbell.h"
#include "ipc/message.h"
#include "ipc/segment.h"
#include "ipc/spsc_ring.h"

namespace flashsaga::ipc {

struct Geometry {
  std::uint32_t saga_ring_slots = saga_ring_capacity_slots_default;
  std::uint32_t port_ring_slots = port_ring_capacity_slots_default;
  std::uint32_t ports = 4;  // 1..ports_max; port 0 is the gateway's
  std::uint32_t products_max = products_max_default;
  std::uint64_t hash() const noexcept;
};

// Domain process lifecycle as the supervisor and /healthz see it. Stable numbers.
enum class DomainState : std::uint32_t {
  down = 0,
  starting = 1,
  recovering = 2,  // replaying journal, re-sending outbox, reconciling stock
  ready = 3,
  degraded = 4,  // up, but cannot commit (disk or map full); intake refused
};
std::string_view domain_state_name(DomainState s) noexcept;

// Per-domain status and counters (single writer: the domain; readers: supervisor, gateway).
struct alignas(cache_line_size_bytes) DomainStatus {
  std::atomic<std::uint32_t> pid;
  std::atomic<std::uint32_t> state;        // DomainState
  std::atomic<std::int64_t> heartbeat_ns;  // monotonic, bumped every duty cycle
  std::atomic<std::uint32_t> restarts;     // written by the supervisor
  std::atomic<std::uint32_t> reserved;
  std::atomic<std::uint64_t> messages_in;
  std::atomic<std::uint64_t> messages_out;
  std::atomic<std::uint64_t> messages_invalid;
  std::atomic<std::uint64_t> messages_duplicate;
  std::atomic<std::uint64_t> commits;
  std::atomic<std::uint64_t> commit_ns_total;  // time in commit (fsync included)
  std::atomic<std::uint64_t> commit_errors;
  std::atomic<std::uint64_t> journal_records;
  std::atomic<std::uint64_t> outbox_backlog;    // committed, not yet in a ring
  std::atomic<std::uint64_t> ring_full_events;  // outputs that found a ring full
};
static_assert(sizeof(DomainStatus) % cache_line_size_bytes == 0);

struct alignas(cache_line_size_bytes) ControlBlock {
  std::atomic<std::uint32_t> intake_open;  // 1: ports may reserve stock; 0: paused
  std::atomic<std::uint32_t> stopping;     // 1: graceful stop under way
  std::atomic<std::uint32_t> supervisor_pid;
  // Bit (1 << Domain value) set while that domain cannot commit (disk or map full): ports
  // refuse new orders (503) while any bit is set. Written by the domain itself.
  std::atomic<std::uint32_t> degraded_domains;
  // A process that may have leaked a CAS (a port or the order domain died) bumps `requested`;
  // the product domain reconciles stock and stores the value it served into `done`.
  std::atomic<std::uint64_t> reconcile_requested;
  std::atomic<std::uint64_t> reconcile_done;
  std::atomic<std::uint64_t> reconcile_count;
  std::atomic<std::int64_t> segment_id;  // created_wall_ns of this segment: epoch of port edges
  alignas(cache_line_size_bytes) DomainStatus domains[domain_count + 1];  // index = Domain value
};

struct alignas(cache_line_size_bytes) PortSlot {
  std::atomic<std::uint32_t> owner_pid;   // 0: free
  std::atomic<std::uint32_t> generation;  // bumped on every claim
  std::atomic<std::uint64_t> owner_start_ticks;
  // Reservations taken by this port and not yet handed to a ring (or given back). The product
  // domain's reconciliation waits for this to be 0 on every live port.
  std::atomic<std::int64_t> inflight;
  std::atomic<std::uint64_t> sold_out;  // sold-out answers given by this port
  std::atomic<std::uint64_t> reserved_ok;
  std::atomic<std::uint64_t> reserved1[3];
};
static_assert(sizeof(PortSlot) == cache_line_size_bytes);

// One SKU. `available` is the CAS target; the rest is written by the product domain only.
struct alignas(cache_line_size_bytes) StockSlot {
  std::atomic<std::int64_t> available;
  std::atomic<std::int64_t> price;
  std::atomic<std::int64_t> sale_starts_ns;  // 0: open
  std::atomic<std::int64_t> sale_ends_ns;    // 0: open
  std::atomic<std::uint32_t> max_per_user;   // 0: unlimited
  std::atomic<std::uint32_t> exists;         // 1 once the product is registered
  std::atomic<std::int64_t> total;           // initial + restocks (for metrics and checks)
  std::atomic<std::int64_t> reserved0[2];
};
static_assert(sizeof(StockSlot) == cache_line_size_bytes,
              "one SKU per cache line: a hot SKU's CAS must not bounce its neighbours' lines");

// A typed view over the segment. Move-only; unmaps on destruction.
class Deployment {
 public:
  // Creates the segment for data_dir (removing a stale one, see ipc::Segment::create) and
  // formats every region. `note` receives what was cleaned up, if anything.
  static bool create(const std::filesystem::path& data_dir, const Geometry& geometry,
                     std::unique_ptr<Deployment>& out, std::string* error, std::string* note);
  static bool attach(const std::filesystem::path& data_dir, const Geometry& geometry,
                     std::unique_ptr<Deployment>& out, std::string* error);

  const Geometry& geometry() const noexcept { return geometry_; }
  ControlBlock& control() noexcept { return *control_; }
  DomainStatus& status(ipc::Domain d) noexcept { return control_->domains[static_cast<int>(d)]; }
  PortSlot& port(std::uint32_t p) noexcept { return ports_[p]; }
  ipc::Doorbell& doorbell(ipc::Node consumer) noexcept;
  // product_id in [1, products_max); asserts the range.
  StockSlot& stock(std::uint32_t product_id) noexcept;
  // The ring of a directed edge; asserts the edge exists.
  ipc::SpscRing ring(ipc::Node from, ipc::Node to) noexcept;
  bool has_edge(ipc::Node from, ipc::Node to) const noexcept;
  std::int64_t segment_id() const noexcept;
  ipc::Segment& segment() noexcept { return *segment_; }

  // Stable index of an edge (for outbox keys and metrics), or -1.
  int edge_index(ipc::Node from, ipc::Node to) const noexcept;
  int edge_count() const noexcept;
  ipc::Node edge_from(int index) const noexcept;
  ipc::Node edge_to(int index) const noexcept;

 private:
  Deployment() = default;
  bool map(std::string* error);
  void format();
  std::size_t ring_offset(int edge) const noexcept;
  std::uint32_t ring_slots(int edge) const noexcept;

  Geometry geometry_;
  std::unique_ptr<ipc::Segment> segment_;
  ControlBlock* control_ = nullptr;
  PortSlot* ports_ = nullptr;
  ipc::Doorbell* doorbells_ = nullptr;
  StockSlot* stock_ = nullptr;
  std::byte* rings_ = nullptr;
};

inline ipc::Node domain_node(ipc::Domain d) noexcept {
  return ipc::Node{d, 0};
}
inline ipc::Node port_node(std::uint32_t p) noexcept {
  return ipc::Node{ipc::Domain::port, static_cast<std::uint8_t>(p)};
}

// The numbering of a deployment's directed edges with `ports` ingress ports: the seven saga
// edges first (order->product, order->coupon, coupon->order, order->point, point->order,
// order->payment, payment->order), then per port its six inbound edges (port->user ..
// port->payment) and its six reply edges. Stable: an edge's index is in every outbox key and
// inbox row. Deployment's members of the same names use its geometry's port count.
int edge_count(std::uint32_t ports) noexcept;
int edge_index(ipc::Node from, ipc::Node to, std::uint32_t ports) noexcept;  // -1: no such edge
ipc::Node edge_from(int index, std::uint32_t ports) noexcept;
ipc::Node edge_to(int index, std::uint32_t ports) noexcept;

// Total payload bytes for a geometry (what the supervisor asks the segment for).
std::size_t deployment_bytes(const Geometry& geometry) noexcept;

}  // namespace flashsaga::ipc
